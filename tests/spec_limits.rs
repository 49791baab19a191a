//! Size and memory limits of a spec, checked before anything is allocated: a training step
//! that cannot fit is refused with the estimate and the memory available, instead of aborting
//! in the allocator.

use pupil::data::Dataset;
use pupil::nn::ModelSpec;
use pupil::train::{bench_model, TrainConfig, Trainer};
use std::path::Path;

#[test]
fn bench_refuses_a_step_larger_than_memory() {
    // 1024 filters at 48x48 and batch 65536: ~1.2 TB of activations (an abort before the check)
    let spec = ModelSpec::parse_named("conv 1024 3x3 same relu\nflatten\ndense 7\n", Path::new("big.txt")).unwrap();
    let e = bench_model(&spec, &[1, 48, 48], 7, 65536, 1, 0).expect_err("refused").to_string();
    assert!(e.contains("batch 65536") && e.contains("GB of memory is available"), "{e}");
}

#[test]
fn training_refuses_a_hundred_thousand_layers() {
    let text = "relu\n".repeat(100_000) + "flatten\ndense 2\n";
    let spec = ModelSpec::parse_named(&text, Path::new("deep.txt")).unwrap();
    let ds = Dataset {
        channels: 1,
        height: 256,
        width: 256,
        pixels: vec![0; 32 * 65536],
        labels: Some([0, 1].repeat(16)),
        ids: None,
        class_names: vec!["a".into(), "b".into()],
    };
    let cfg = TrainConfig { batch_size: 32, ..TrainConfig::default() };
    let e = Trainer::new(&spec, &ds, cfg).err().expect("refused").to_string();
    assert!(e.contains("memory") && e.contains("activations"), "{e}");
}
