//! [`Param`]: a named, trainable tensor owned by a layer.

use crate::tensor::Tensor;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identity of a parameter inside a graph; fresh for every [`Param::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(u64);

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A learnable tensor with a name (e.g. `conv1.weight`).
#[derive(Clone, Debug)]
pub struct Param {
    id: ParamId,
    /// Name, unique inside a model.
    pub name: String,
    /// Current value.
    pub value: Tensor,
    /// False for values that are saved with the model but not trained (batch-norm running
    /// statistics are kept elsewhere; this is for frozen weights).
    pub trainable: bool,
}

impl Param {
    /// A new trainable parameter.
    pub fn new(name: impl Into<String>, value: Tensor) -> Self {
        Param { id: ParamId(NEXT.fetch_add(1, Ordering::Relaxed)), name: name.into(), value, trainable: true }
    }
    /// This parameter's identity.
    pub fn id(&self) -> ParamId {
        self.id
    }
    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.value.len()
    }
    /// True if it holds no scalar.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}
