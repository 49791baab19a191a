//! Any bytes given to the safetensors loader give tensors or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = pupil::train::safetensors::from_bytes(data, Path::new("fuzz.safetensors"));
});
