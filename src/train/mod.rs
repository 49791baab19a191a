//! Training: the loop ([`Trainer`]), evaluation and prediction, metrics, checkpoints in
//! safetensors, and the per-epoch history.

mod bench;
mod checkpoint;
mod eval;
mod metrics;
pub mod safetensors;
mod trainer;

pub use bench::{bench_conv_layers, bench_model, BenchResult, LayerBench, SEED_CONV_LAYERS};
pub use checkpoint::{load_model, save_model, ModelMeta, RunModel};
pub use eval::{evaluate, predict, Evaluation};
pub use metrics::{ClassScore, Confusion};
pub use trainer::{check_data, history_csv, EpochRecord, Event, Monitor, TrainConfig, Trainer};
