//! Any bytes given to the FER CSV reader give a dataset or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pupil::data::{csv::read_csv_from, Split};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    for split in [Split::Training, Split::PublicTest, Split::All] {
        let _ = read_csv_from(data, Path::new("fuzz.csv"), split);
    }
});
