//! Any text given to the model spec parser gives a spec or an error; everything computed from a
//! parsed spec before a model is built (shapes, parameter count, step memory and its check,
//! the tensors a model file must hold, layer names) never panics either. A spec small enough
//! to build cheaply is built, and what the arithmetic predicted is checked against the real
//! model: the tensors it saves, its parameter count and the shapes its layers really produce.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pupil::autograd::Graph;
use pupil::nn::{check_memory, ModelSpec, Sequential};
use pupil::Tensor;
use std::path::Path;

/// Largest model (parameters plus per-image activations) the target builds.
const BUILD_LIMIT: u128 = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(spec) = ModelSpec::parse_named(text, Path::new("fuzz.txt")) else { return };
    let names = spec.layer_names();
    assert_eq!(names.len(), spec.layers.len());
    for l in &spec.layers {
        let _ = l.describe();
    }
    for given in [None, Some(&[1usize, 28, 28][..]), Some(&[3, 5, 7][..]), Some(&[10][..])] {
        let Ok(input) = spec.resolve_input(given, &[1, 48, 48]) else { continue };
        let shapes = spec.shapes(&input);
        let params = spec.param_count(&input);
        let tensors = spec.expected_tensors(&input);
        let memory = spec.step_memory(&input, 64, 2);
        // all four agree on whether the spec fits the input
        assert_eq!(shapes.is_ok(), params.is_ok());
        assert_eq!(shapes.is_ok(), tensors.is_ok());
        assert_eq!(shapes.is_ok(), memory.is_ok());
        let (Ok(shapes), Ok(params), Ok(tensors), Ok(memory)) = (shapes, params, tensors, memory) else { continue };
        assert_eq!(shapes.len(), spec.layers.len() + 1);
        let _ = check_memory(&memory, Some(1 << 30));
        let _ = check_memory(&memory, Some(0));
        spec.check_tensors(&input, &tensors).expect("a spec's own tensors pass its check");
        let values: u128 = shapes.iter().map(|s| s.iter().map(|&d| d as u128).product::<u128>()).sum();
        if params as u128 + values > BUILD_LIMIT {
            continue;
        }
        let Ok(model) = Sequential::build(&spec, &input, 0) else { continue };
        assert_eq!(model.num_params(), params, "param_count of {text:?}");
        assert_eq!(model.shapes(), &shapes[..], "shapes of {text:?}");
        let mut saved: Vec<(String, Vec<usize>)> = model.named_tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect();
        let mut want = tensors;
        saved.sort();
        want.sort();
        assert_eq!(saved, want, "expected_tensors of {text:?}");
        // the layers really produce the shapes the arithmetic predicted (batch of 2)
        let x = Graph::no_grad().constant(Tensor::zeros(&[&[2usize][..], &input].concat()));
        let outs = model.forward_all(&x).expect("a built model runs on its own input shape");
        for (o, s) in outs.iter().zip(&shapes[1..]) {
            assert_eq!(&o.shape()[1..], &s[..], "forward shape of {text:?}");
        }
    }
});
