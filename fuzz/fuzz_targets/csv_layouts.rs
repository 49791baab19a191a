//! The FER CSV reader in each of its three layouts: the first byte picks the header (Kaggle
//! train.csv `label,feature`, Kaggle test.csv `id,feature`, fer2013.csv `emotion,pixels,Usage`),
//! the rest is the body, so the fuzzer spends its time on rows rather than on headers. Any body
//! gives a dataset or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pupil::data::{csv::read_csv_from, Split};
use std::path::Path;

const HEADERS: [&[u8]; 3] = [b"label,feature\n", b"id,feature\n", b"emotion,pixels,Usage\n"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let mut text = HEADERS[pick as usize % 3].to_vec();
    text.extend_from_slice(body);
    let split = [Split::Training, Split::PublicTest, Split::PrivateTest, Split::Test, Split::All][(pick as usize / 3) % 5];
    let _ = read_csv_from(&text[..], Path::new("fuzz.csv"), split);
});
