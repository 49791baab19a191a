//! Wall time per recorded op, for `pupil bench --profile` (where a training step spends its
//! time, by op).
//!
//! A [`Graph::profiled`](super::Graph::profiled) tape stamps the clock each time it records an
//! op: the time since the previous op was recorded is this op's forward time (the op computes
//! its value, then records it). Leaves do not stamp the clock, so the little glue between two
//! ops (entering a parameter, reshaping a handle) counts towards the next op. The backward
//! pass times each op's vector-Jacobian product together with summing the gradients it returns.

use std::time::{Duration, Instant};

/// The time one recorded op took in a profiled graph.
#[derive(Clone, Debug, PartialEq)]
pub struct OpTime {
    /// The op's name (e.g. `"conv2d"`).
    pub op: &'static str,
    /// The scope it was recorded in ([`Graph::scope`](super::Graph::scope)): the layer's name
    /// in a [`Sequential`](crate::nn::Sequential) forward pass, `""` if none was set.
    pub layer: String,
    /// The shape of its output.
    pub shape: Vec<usize>,
    /// Forward: from the previous recorded op to this one.
    pub forward: Duration,
    /// Backward: its vector-Jacobian product and the summing of the gradients it returned
    /// (zero until [`Var::backward`](super::Var::backward) has run through it).
    pub backward: Duration,
}

/// The clock and the times of one profiled tape, one entry per node (None for a leaf, so that
/// a node's id indexes its entry).
pub(super) struct Profile {
    last: Instant,
    pub(super) scope: String,
    pub(super) ops: Vec<Option<OpTime>>,
}

impl Profile {
    pub(super) fn new() -> Self {
        Profile { last: Instant::now(), scope: String::new(), ops: vec![] }
    }

    /// Node `ops.len()` was just recorded: an op (stamping the clock) or a leaf.
    pub(super) fn recorded(&mut self, op: &'static str, shape: &[usize], leaf: bool) {
        if leaf {
            self.ops.push(None);
            return;
        }
        let now = Instant::now();
        let forward = now.duration_since(std::mem::replace(&mut self.last, now));
        self.ops.push(Some(OpTime { op, layer: self.scope.clone(), shape: shape.to_vec(), forward, backward: Duration::ZERO }));
    }
}
