//! Training: the loop ([`Trainer`]: fit / step, saving through an [`EpochSink`]), its
//! settings, evaluation and prediction, metrics, checks of user input, safetensors.
//! No file names: the run directory ([`crate::run`]) decides what is written where.

mod alternate;
mod bench;
mod check;
mod config;
mod eval;
mod host;
mod imbalance;
mod meta;
mod metrics;
pub mod safetensors;
mod trainer;

pub use alternate::{bench_alternating, parse_compare, AlternatingResult, BenchSetting};
pub use bench::{bench_conv_layers, bench_model, conv_layer_parts, profile_model, BenchResult, ConvParts, LayerBench, StepProfile, SEED_CONV_LAYERS};
pub use check::{check_bench, check_data, check_labelled, parse_input, set_threads};
pub use config::{Monitor, TrainConfig};
pub(crate) use eval::evaluate_with;
pub use eval::{evaluate, mirrored, predict, predict_tta, Evaluation, Tta};
pub use host::CpuTimes;
pub use imbalance::{holdout, ClassWeight, SplitMode};
pub use meta::ModelMeta;
pub use metrics::{ClassScore, Confusion};
pub use trainer::{fingerprint, first_non_finite, DataFingerprint, EpochRecord, EpochSink, Event, TrainState, Trainer};
