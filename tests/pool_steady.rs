//! The buffer pool on real training steps (its own test binary: the pool is process-wide, so no
//! other test may allocate beside it). After the first steps, a step of the same shapes finds
//! every large buffer in the pool; a last, smaller batch stops missing from its second time on,
//! and the full steps after it still hit.
use pupil::data::{embedded_sample, Split};
use pupil::nn::preset;
use pupil::tensor::Tensor;
use pupil::train::{TrainConfig, Trainer};
use pupil::Rng;
use pupil_kernels::alloc::misses;

#[test]
fn training_steps_stop_missing_the_pool() {
    let ds = embedded_sample(Split::Training).unwrap().subset(&(0..64).collect::<Vec<_>>());
    for name in ["keras-hw3", "alexnet-bn"] {
        let spec = preset(name, 10).unwrap();
        let mut t = Trainer::new(&spec, &ds, TrainConfig { batch_size: 32, ..TrainConfig::default() }).unwrap();
        let mut rng = Rng::new(1);
        let mut step = |n: usize, seed: u64| {
            let x = Tensor::rand_uniform(&[n, 1, 28, 28], 0.0, 1.0, seed);
            let y: Vec<usize> = (0..n).map(|i| i % 10).collect();
            let before = misses();
            t.step(x, &y, &mut rng).unwrap();
            misses() - before
        };
        let cold = step(32, 1) + step(32, 2);
        assert!(cold > 0, "{name}: a cold pool misses");
        for s in 3..6 {
            assert_eq!(step(32, s), 0, "{name}: step {s}");
        }
        step(9, 6); // a last, smaller batch: the first time may allocate a few buffers
        assert_eq!(step(9, 7), 0, "{name}: the smaller batch again");
        for s in 8..10 {
            assert_eq!(step(32, s), 0, "{name}: full step {s} after the smaller ones");
        }
    }
}
