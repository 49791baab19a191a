//! Any bytes given to the IDX readers (images and labels) give data or an error, never a panic
//! and never an allocation larger than the input can fill.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pupil::data::idx::{read_images_from, read_labels_from};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = read_images_from(data, Path::new("fuzz-images-idx3-ubyte"));
    let _ = read_labels_from(data, Path::new("fuzz-labels-idx1-ubyte"));
});
