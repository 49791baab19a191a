//! A zero padding folded into the next layer (convolution or pool) gives what the padded copy
//! gives (logits bit for bit, gradients to f32 rounding: see the test): the model's folded
//! forwards (`forward_logits`, `forward_logits_mut`) against `forward_all` / `forward_all_mut`,
//! which run every layer on its own, on values and on every parameter's gradient, recording
//! and not, on 1 and 2 threads.

use pupil::autograd::Graph;
use pupil::nn::{preset, Ctx, LayerSpec, ModelSpec, Module, Padding, Sequential};
use pupil::{Rng, Tensor};

fn bits(t: &Tensor) -> Vec<u32> {
    t.data().iter().map(|v| v.to_bits()).collect()
}

/// Logits and every parameter's gradient (seed `<s, logits>`), folded or not, training or not;
/// and the number of ops recorded.
fn run(m: &mut Sequential, x: &Tensor, folded: bool, train: bool) -> (Vec<Vec<u32>>, usize) {
    let g = Graph::new();
    let xv = g.constant(x.clone());
    let mut rng = Rng::new(9);
    let y = match (folded, train) {
        (true, false) => m.forward_logits(&xv).unwrap(),
        (false, false) => m.forward_all(&xv).unwrap().pop().unwrap(),
        (true, true) => m.forward_logits_mut(&xv, &mut Ctx::new(&mut rng)).unwrap(),
        (false, true) => m.forward_all_mut(&xv, &mut Ctx::new(&mut rng)).unwrap().pop().unwrap(),
    };
    let seed = Tensor::rand_normal(y.shape(), 0.0, 1.0, 3);
    let gr = y.backward_with(seed).unwrap();
    let mut out = vec![bits(y.value())];
    for p in m.params() {
        out.push(bits(gr.param(p).unwrap_or_else(|| panic!("no gradient for {}", p.name))));
    }
    (out, g.len())
}

/// keras-hw3 is `pad 1, conv 3x3 valid` repeated, `pad 2, max pool 5x5 s2` and `pad 1, avg
/// pool 3x3 s2`; the small spec adds an explicitly padded conv after a pad and an asymmetric pad
/// before a max pool; the third, convolutions with a ReLU before a max pool.
fn models() -> Vec<(Sequential, Vec<usize>)> {
    let conv = |p: Padding| LayerSpec::Conv2d {
        filters: 3,
        kernel: (3, 3),
        stride: (1, 1),
        padding: p,
        activation: None,
        init: pupil::nn::Init::GlorotUniform,
        l2: 0.0,
    };
    let small = ModelSpec {
        input: None,
        layers: vec![
            LayerSpec::ZeroPad { top: 1, bottom: 1, left: 1, right: 1 },
            conv(Padding::Explicit(1)),
            LayerSpec::ZeroPad { top: 0, bottom: 2, left: 1, right: 0 },
            LayerSpec::MaxPool { kernel: (3, 3), stride: (2, 2) },
            LayerSpec::ZeroPad { top: 1, bottom: 0, left: 1, right: 2 },
            conv(Padding::Valid),
            LayerSpec::Flatten,
        ],
    };
    // convolutions with their own ReLU before a max pool: a "same" 2x2 one, whose padding is
    // not the same on both sides (it cannot run as `conv2d_relu_max_pool`), and a valid one
    // that does, with a padding folded into its pool
    let relu_conv = |filters: usize, k: usize, padding: Padding| LayerSpec::Conv2d {
        filters,
        kernel: (k, k),
        stride: (1, 1),
        padding,
        activation: Some(pupil::nn::Act::Relu),
        init: pupil::nn::Init::GlorotUniform,
        l2: 0.0,
    };
    let relu_pools = ModelSpec {
        input: None,
        layers: vec![
            relu_conv(4, 2, Padding::Same),
            LayerSpec::MaxPool { kernel: (2, 2), stride: (2, 2) },
            relu_conv(3, 2, Padding::Valid),
            LayerSpec::ZeroPad { top: 1, bottom: 0, left: 1, right: 0 },
            LayerSpec::MaxPool { kernel: (2, 2), stride: (1, 1) },
            LayerSpec::Flatten,
        ],
    };
    vec![
        (Sequential::build(&preset("keras-hw3", 7).unwrap(), &[1, 48, 48], 1).unwrap(), vec![2, 1, 48, 48]),
        (Sequential::build(&small, &[2, 7, 6], 2).unwrap(), vec![3, 2, 7, 6]),
        (Sequential::build(&relu_pools, &[1, 9, 8], 3).unwrap(), vec![2, 1, 9, 8]),
    ]
}

#[test]
fn folded_padding_equals_the_padded_copy() {
    for (mut m, xs) in models() {
        // coarse input: ties in the pools, with each other and with the padding
        let x = Tensor::rand_normal(&xs, 0.0, 1.0, 4).map(|v| (v * 2.0).round() + 0.0);
        for train in [false, true] {
            let (want, ops_unfolded) = run(&mut m, &x, false, train);
            let mut first: Option<Vec<Vec<u32>>> = None;
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let (got, ops_folded) = pool.install(|| run(&mut m, &x, true, train));
                // a folded pad records no op of its own (a pad of the constant input records
                // none either way)
                assert!(ops_folded < ops_unfolded, "{xs:?}: {ops_folded} ops folded, {ops_unfolded} not");
                assert_eq!(got.len(), want.len());
                // the logits: bit for bit
                assert!(got[0] == want[0], "input {xs:?}, train {train}, {threads} threads: logits differ");
                // the gradients: a 3x3 conv's input gradient is Winograd (F(4x4, 3x3) or F(2x2, 3x3)), whose tile
                // grid starts at the corner of the (padded) input it returns; with the pad folded
                // that corner moves by the padding, so the same sums are rounded in another order.
                // Equal to f32 rounding, then (1e-5 of the largest entry).
                for (i, (a, b)) in got.iter().zip(&want).enumerate().skip(1) {
                    let (a, b): (Vec<f32>, Vec<f32>) = (a.iter().map(|&v| f32::from_bits(v)).collect(), b.iter().map(|&v| f32::from_bits(v)).collect());
                    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
                    let worst = a.iter().zip(&b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                    assert!(worst <= 1e-5 * scale, "input {xs:?}, train {train}, {threads} threads: gradient {i} off by {worst} of {scale}");
                }
                // and the folded pass itself is bit-identical on 1 and 2 threads
                match &first {
                    None => first = Some(got),
                    Some(f) => assert!(f == &got, "input {xs:?}, train {train}: 1 and 2 threads differ"),
                }
            }
        }
        // no-grad inference: the same logits as the recording pass
        let ng = Graph::no_grad();
        let y = m.forward(&ng.constant(x.clone())).unwrap();
        let g = Graph::new();
        let want = pupil::nn::apply_act(&m.forward_all(&g.constant(x)).unwrap().pop().unwrap(), m.output_kind()).unwrap();
        assert_eq!(bits(y.value()), bits(want.value()));
        assert!(ng.is_empty());
    }
}
