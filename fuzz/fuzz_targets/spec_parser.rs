//! Any text given to the model spec parser gives a spec or an error; a parsed spec's shape
//! arithmetic never panics either.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pupil::nn::ModelSpec;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(spec) = ModelSpec::parse_named(text, Path::new("fuzz.txt")) {
            let _ = spec.shapes(&[1, 48, 48]);
            let _ = spec.param_count(&[1, 28, 28]);
        }
    }
});
