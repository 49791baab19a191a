//! Layers, the sequential model, initialisers, presets, the model spec format and the
//! summary table.
//!
//! One layer per file; a layer holds its [`Param`](crate::autograd::Param)s and enters them
//! into the graph of each forward pass with [`Graph::param`](crate::autograd::Graph::param).

mod activation;
mod batchnorm;
mod conv;
mod dense;
mod init;
mod module;
mod presets;
mod reshape;
mod sequential;
mod spec;
mod summary;

pub use activation::{apply_act, Activation, Prelu};
pub use batchnorm::BatchNorm;
pub use conv::Conv2d;
pub use dense::Dense;
pub use init::Init;
pub use module::{Ctx, Module};
pub use presets::{preset, PRESETS};
pub use reshape::{AvgPool, Dropout, Flatten, MaxPool, ZeroPad};
pub use sequential::Sequential;
pub(crate) use spec::gb;
pub use spec::{check_memory, check_step_memory, mem_available, parse_act, parse_meminfo, same_padding, Act, LayerSpec, ModelSpec, Padding, StepMemory};
pub use summary::{summary, summary_model, thousands, SummaryModel};

use crate::error::{Error, Result};
use std::path::Path;

/// A preset name or a spec file path -> the spec, ending in `classes` outputs for presets.
pub fn resolve_model(name_or_path: &str, classes: usize) -> Result<ModelSpec> {
    if let Some(p) = preset(name_or_path, classes) {
        return Ok(p);
    }
    let path = Path::new(name_or_path);
    if path.exists() {
        return ModelSpec::from_file(path);
    }
    Err(Error::invalid("model", format!("{name_or_path:?} is neither a preset ({}) nor a spec file", PRESETS.join(", "))))
}
