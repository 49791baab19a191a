//! Model specifications: the architecture as data ([`LayerSpec`]), its shape arithmetic, and
//! a small text format, one layer per line, so a user can write a model without code:
//!
//! ```text
//! # comments start with '#'
//! input 48x48x1
//! conv 64 5x5 valid relu          # filters, kernel, padding (valid|same|N), activation
//! zeropad 2                       # or: zeropad TOP BOTTOM LEFT RIGHT
//! maxpool 5 stride=2              # kernel (N or HxW), stride defaults to the kernel
//! conv 64 3x3 same relu init=he_normal l2=0.0001
//! batchnorm
//! prelu                           # per element (Keras); prelu channel = per channel
//! leakyrelu 0.05
//! avgpool 3 stride=2
//! dropout 0.25
//! flatten
//! dense 1024 softplus l2=0.001
//! dense 7
//! ```
//! The same structure is accepted as JSON (`{"input": [1, 48, 48], "layers": [...]}`, the
//! serde form of [`ModelSpec`]), which is also how a run directory stores it.
//!
//! Three parts: [`layer`] holds the types, [`shape`] the shape arithmetic (output shapes,
//! parameter counts, the size limits), [`memory`] what a training step costs and the tensors a
//! model file must hold, [`parse`] the text and JSON readers.

mod layer;
mod memory;
mod parse;
mod shape;

pub use layer::{Act, LayerSpec, ModelSpec, Padding};
pub(crate) use memory::gb;
pub use memory::{check_memory, check_step_memory, mem_available, parse_meminfo, StepMemory};
pub use parse::parse_act;
pub use shape::same_padding;
