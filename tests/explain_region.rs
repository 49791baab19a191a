//! Saliency of hand-set models whose class score depends only on a known pixel region: the
//! attributions (vanilla, SmoothGrad, integrated gradients) and Grad-CAM's map fall in it.
//!
//! The model (12x12 input, raw values, no normalisation): `conv 2 3x3 same relu` -> flatten ->
//! `dense 2`. Channel 0 of the conv is the identity (`relu(x)`), channel 1 its negative
//! (`relu(-x)`). Logit 0 reads channel 0 only at the map positions of `REGION` (rows 3..7,
//! cols 2..6) with weight 1, logit 1 at other positions with weight 0.5; so logit 0 depends on
//! the input pixels of `REGION` and on nothing else (the identity kernel has no reach).

use pupil::data::Normalization;
use pupil::explain::{Explainer, Method};
use pupil::nn::{ModelSpec, Sequential};
use pupil::tensor::Tensor;
use std::collections::HashMap;
use std::path::Path;

const S: usize = 12;
const REGION: (std::ops::Range<usize>, std::ops::Range<usize>) = (3..7, 2..6);

fn in_region(p: usize) -> bool {
    REGION.0.contains(&(p / S)) && REGION.1.contains(&(p % S))
}

fn model() -> Sequential {
    let spec = ModelSpec::parse_named("conv 2 3x3 same relu\nflatten\ndense 2\n", Path::new("region.txt")).unwrap();
    let mut m = Sequential::build(&spec, &[1, S, S], 0).unwrap();
    let mut w = vec![0f32; 2 * 9];
    w[4] = 1.0; // channel 0: centre tap +1
    w[9 + 4] = -1.0; // channel 1: centre tap -1
                     // dense weight [out, in] (PyTorch's layout), in = channel-major flatten of [2, 12, 12]
    let n_in = 2 * S * S;
    let mut d = vec![0f32; 2 * n_in];
    for p in 0..S * S {
        if in_region(p) {
            d[p] = 1.0;
        } else {
            d[n_in + p] = 0.5;
        }
    }
    let t: HashMap<String, Tensor> = [
        ("conv1.weight".to_string(), Tensor::from_vec(w, &[2, 1, 3, 3]).unwrap()),
        ("conv1.bias".to_string(), Tensor::zeros(&[2])),
        ("dense1.weight".to_string(), Tensor::from_vec(d, &[2, n_in]).unwrap()),
        ("dense1.bias".to_string(), Tensor::zeros(&[2])),
    ]
    .into_iter()
    .collect();
    m.load_named(&t).unwrap();
    m
}

/// Images with bright (positive) pixels inside the region and dark (negative) ones outside,
/// plus noise everywhere.
fn images(n: usize) -> Tensor {
    let noise = Tensor::rand_uniform(&[n, 1, S, S], -0.3, 0.3, 3);
    let v: Vec<f32> = noise.data().iter().enumerate().map(|(i, e)| if in_region(i % (S * S)) { 1.0 + e } else { -1.0 + e }).collect();
    Tensor::from_vec(v, &[n, 1, S, S]).unwrap()
}

fn mass_in_region(attr: &Tensor, n: usize) -> Vec<f32> {
    let per = S * S;
    (0..n)
        .map(|i| {
            let a = &attr.data()[i * per..(i + 1) * per];
            let inside: f32 = a.iter().enumerate().filter(|(p, _)| in_region(*p)).map(|(_, v)| v.abs()).sum();
            inside / a.iter().map(|v| v.abs()).sum::<f32>().max(1e-30)
        })
        .collect()
}

#[test]
fn attributions_fall_in_the_region() {
    let n = 4;
    let mut ex = Explainer::new(&model(), &Normalization::None).unwrap();
    let x = images(n);
    let classes = vec![0; n];
    // the hand-set model does what the test says: logit 0 = sum of the region's positive pixels
    let s = ex.scores(&x, &classes).unwrap();
    for (i, si) in s.iter().enumerate() {
        let want: f32 = x.data()[i * S * S..(i + 1) * S * S].iter().enumerate().filter(|(p, _)| in_region(*p)).map(|(_, v)| v.max(0.0)).sum();
        assert!((si - want).abs() < 1e-4, "{si} vs {want}");
    }
    let methods = [
        Method::Vanilla,
        Method::SmoothGrad { samples: 16, noise: 0.2, seed: 1 },
        Method::Integrated { baseline: pupil::explain::Baseline::Black, steps: 32, rule: pupil::explain::Quadrature::GaussLegendre },
    ];
    for m in methods {
        let attr = ex.saliency(&x, &classes, &m, &mut |_, _| {}).unwrap();
        assert_eq!(attr.shape(), &[n, 1, S, S]);
        for (i, f) in mass_in_region(&attr, n).into_iter().enumerate() {
            assert!(f > 0.999, "{}: image {i} has {f:.4} of its saliency in the region", m.name());
        }
    }
    // and the other class looks outside it
    let attr = ex.saliency(&x, &[1; 4], &Method::Vanilla, &mut |_, _| {}).unwrap();
    assert!(mass_in_region(&attr, n).iter().all(|&f| f < 0.05));
}

#[test]
fn gradcam_falls_in_the_region() {
    // Grad-CAM weighs whole channels (α_k = mean gradient over the map): it localises through
    // what a channel detects, not where the dense layer reads. Here channel 0 (bright pixels,
    // the region) carries logit 0 and channel 1 (dark pixels, outside) does not.
    let n = 4;
    let mut ex = Explainer::new(&model(), &Normalization::None).unwrap();
    let x = images(n);
    let cam = ex.gradcam(&x, &[0; 4], None, &mut |_, _| {}).unwrap();
    assert_eq!(cam.shape(), &[n, 1, S, S]);
    for (i, f) in mass_in_region(&cam, n).into_iter().enumerate() {
        assert!(f > 0.95, "Grad-CAM: image {i} has {f:.4} of its map in the region");
    }
    // the layer given by name is the same layer
    let by_name = ex.gradcam(&x, &[0; 4], Some(ex.layer("conv1").unwrap().index), &mut |_, _| {}).unwrap();
    assert_eq!(by_name.data(), cam.data());
}

#[test]
fn bad_layers_and_classes_are_one_line_errors() {
    let mut ex = Explainer::new(&model(), &Normalization::None).unwrap();
    let x = images(1);
    let e = ex.layer("conv7").unwrap_err().to_string();
    assert!(e.contains("unknown layer \"conv7\"") && e.contains("1 conv1") && !e.contains('\n'), "{e}");
    let e = ex.layer("9").unwrap_err().to_string();
    assert!(e.contains("no layer 9") && e.contains("1 to 3"), "{e}");
    let e = ex.gradcam(&x, &[0], Some(3), &mut |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("Grad-CAM needs a convolutional layer") && e.contains("dense1"), "{e}");
    let dense = ex.layer("dense1").unwrap();
    let e = ex.visualize_filters(&dense, &[0], &Default::default(), &mut |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("filters needs a convolutional layer"), "{e}");
    let conv = ex.layer("1").unwrap();
    let e = ex.visualize_filters(&conv, &[0, 2], &Default::default(), &mut |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("filter 2 is out of range") && e.contains("0 to 1"), "{e}");
    let e = ex.saliency(&x, &[5], &Method::Vanilla, &mut |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("class 5 is out of range"), "{e}");
}
