//! Times inference passes of a preset or spec file on random 48x48x1 images (median of
//! `reps`): `cargo run --release --example infer_time -- <model> [reps] [batch]` (batch 128
//! by default).
use pupil::autograd::Graph;
use pupil::nn::{resolve_model, Sequential};
use pupil::Tensor;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("keras-hw3");
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let batch: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(128);
    let spec = resolve_model(name, 7).unwrap();
    let model = Sequential::build(&spec, &[1, 48, 48], 1).unwrap();
    let x = Tensor::rand_normal(&[batch, 1, 48, 48], 0.0, 1.0, 2);
    let mut ts = vec![];
    for _ in 0..reps {
        let t = Instant::now();
        let g = Graph::no_grad();
        model.forward_logits(&g.constant(x.clone())).unwrap();
        ts.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{name}: inference median {:.2} ms ({:.0} img/s), quartiles {:.2} / {:.2}, min {:.2}, batch {batch}",
        ts[reps / 2],
        batch as f64 * 1e3 / ts[reps / 2],
        ts[reps / 4],
        ts[3 * reps / 4],
        ts[0]
    );
}
