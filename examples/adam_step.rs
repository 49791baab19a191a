//! Times one Adam update of keras-hw3's 4.6 M parameters (the optimiser part of a training
//! step): `cargo run --release --example adam_step` (`RAYON_NUM_THREADS=1` for one thread).
use pupil::nn::{preset, Module, Sequential};
use pupil::optim::{OptimConfig, Optimizer};
use pupil::Tensor;
use std::time::Instant;
fn main() {
    let spec = preset("keras-hw3", 7).unwrap();
    let mut model = Sequential::build(&spec, &[1, 48, 48], 1).unwrap();
    let grads: Vec<Tensor> = model.params().iter().enumerate().map(|(i, p)| Tensor::rand_normal(p.value.shape(), 0.0, 0.01, i as u64)).collect();
    let mut opt = Optimizer::new(OptimConfig::named("adam").unwrap());
    let mut ts = vec![];
    for _ in 0..20 {
        let t = Instant::now();
        opt.step(&mut model.params_mut(), &grads).unwrap();
        ts.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("adam step: median {:.2} ms, min {:.2}", ts[10], ts[0]);
}
