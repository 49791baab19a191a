//! Reverse-mode automatic differentiation on a tape.
//!
//! The whole idea in a page (after micrograd):
//! - A [`Graph`] is a tape: a list of nodes in the order the forward pass created them.
//! - A [`Var`] is a handle to one node plus the node's value (a cheap [`Tensor`] clone).
//! - An op computes its output value and records one node holding its name (micrograd's `_op`,
//!   so an error raised in backward names the op it came from), the ids of its inputs and a
//!   closure that maps the gradient of the output to the gradients of its inputs (the
//!   vector-Jacobian product). Inputs that need no gradient are skipped.
//! - [`Var::backward`] walks the tape from the output back to the start. Since a node is always
//!   recorded after its inputs, walking the list backwards visits every node after all of its
//!   consumers, so its gradient is complete (summed over every use) when it is passed on.
//!
//! Gradients are available for any leaf: parameters ([`Graph::param`]) and the input image
//! ([`Graph::leaf`]), which is what saliency maps and gradient ascent need. A graph made with
//! [`Graph::no_grad`] records nothing (inference), and [`Var::detach`] cuts a value loose.

mod backward;
mod gradcheck;
mod param;
mod profile;

pub use backward::Grads;
pub use gradcheck::{gradcheck, GradcheckOptions, GradcheckReport};
pub use param::{Param, ParamId};
pub use profile::OpTime;

use crate::error::Result;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// The vector-Jacobian product of one op: given the gradient of the output and which inputs need
/// a gradient, returns one gradient per input (None where not needed).
pub type BackwardFn = Box<dyn Fn(&Tensor, &[bool]) -> Result<Vec<Option<Tensor>>>>;

/// A [`BackwardFn`] that takes the output's gradient by value, so an elementwise op can write
/// its input's gradient into the same storage (no new buffer; `Tensor::data_mut` copies only
/// if the gradient is still shared, e.g. a caller's seed or a retained gradient).
pub type BackwardOwnedFn = Box<dyn Fn(Tensor, &[bool]) -> Result<Vec<Option<Tensor>>>>;

enum Backward {
    Shared(BackwardFn),
    Owned(BackwardOwnedFn),
}

struct Node {
    /// The op that recorded the node (`"leaf"` for leaves).
    op: &'static str,
    parents: Vec<usize>,
    backward: Option<Backward>,
    requires_grad: bool,
    retain: Cell<bool>,
}

struct Tape {
    nodes: RefCell<Vec<Node>>,
    params: RefCell<HashMap<ParamId, usize>>,
    record: bool,
    /// Per-op times, on a [`Graph::profiled`] tape only.
    profile: Option<RefCell<profile::Profile>>,
}

/// A tape of recorded operations. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct Graph(Rc<Tape>);

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl Graph {
    /// A graph that records operations for backward.
    pub fn new() -> Self {
        Self::with(true, false)
    }

    /// A graph that records nothing: for inference, no gradient can be asked of it.
    pub fn no_grad() -> Self {
        Self::with(false, false)
    }

    /// A recording graph that also times every op, forward and backward: [`Graph::profile`]
    /// then says where a step spent its time (see `profile.rs`).
    pub fn profiled() -> Self {
        Self::with(true, true)
    }

    fn with(record: bool, profiled: bool) -> Self {
        let profile = profiled.then(|| RefCell::new(profile::Profile::new()));
        Graph(Rc::new(Tape { nodes: RefCell::new(Vec::new()), params: RefCell::new(HashMap::new()), record, profile }))
    }

    /// Names the ops recorded from now on in the [`Graph::profile`] (e.g. the layer about to
    /// run); nothing unless the graph is [`Graph::profiled`].
    pub fn scope(&self, name: &str) {
        if let Some(p) = &self.0.profile {
            let mut p = p.borrow_mut();
            p.scope.clear();
            p.scope.push_str(name);
        }
    }

    /// The time of every op recorded so far (leaves left out), in the order they were
    /// recorded; empty unless the graph is [`Graph::profiled`].
    pub fn profile(&self) -> Vec<OpTime> {
        let Some(p) = &self.0.profile else { return vec![] };
        p.borrow().ops.iter().flatten().cloned().collect()
    }

    /// Drops what the tape keeps for a backward pass (the ops' saved inputs and closures):
    /// after the last backward, so that the memory is free and the parameters' storage is no
    /// longer shared with the tape (an optimiser then updates it in place instead of copying).
    /// Values and gradients already taken stay valid; the profile is kept; a later backward
    /// through this tape reaches no leaf.
    pub fn release(&self) {
        for n in self.0.nodes.borrow_mut().iter_mut() {
            n.backward = None;
        }
    }

    /// True if this graph records operations.
    pub fn is_recording(&self) -> bool {
        self.0.record
    }

    /// Number of recorded nodes.
    pub fn len(&self) -> usize {
        self.0.nodes.borrow().len()
    }

    /// True if nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, op: &'static str, parents: Vec<usize>, backward: Option<Backward>, requires_grad: bool, shape: &[usize]) -> Option<usize> {
        if !self.0.record {
            return None;
        }
        if let Some(p) = &self.0.profile {
            p.borrow_mut().recorded(op, shape, backward.is_none());
        }
        let mut nodes = self.0.nodes.borrow_mut();
        nodes.push(Node { op, parents, backward, requires_grad, retain: Cell::new(false) });
        Some(nodes.len() - 1)
    }

    /// A constant: no gradient flows into it.
    pub fn constant(&self, value: Tensor) -> Var {
        Var { graph: self.clone(), id: None, value }
    }

    /// A leaf whose gradient is wanted (e.g. the input image for saliency).
    pub fn leaf(&self, value: Tensor) -> Var {
        let id = self.push("leaf", vec![], None, true, value.shape());
        Var { graph: self.clone(), id, value }
    }

    /// A leaf for a parameter; its gradient is then found by [`Grads::param`].
    /// Frozen parameters (`trainable == false`) enter as constants.
    pub fn param(&self, p: &Param) -> Var {
        if !p.trainable {
            return self.constant(p.value.clone());
        }
        // the same parameter entered twice is the same node, so both uses add up in its gradient
        if let Some(&id) = self.0.params.borrow().get(&p.id()) {
            return Var { graph: self.clone(), id: Some(id), value: p.value.clone() };
        }
        let v = self.leaf(p.value.clone());
        if let Some(id) = v.id {
            self.0.params.borrow_mut().insert(p.id(), id);
        }
        v
    }
}

/// A value in a [`Graph`]: the tensor and (when it is recorded) its node.
#[derive(Clone)]
pub struct Var {
    graph: Graph,
    id: Option<usize>,
    value: Tensor,
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var(#{:?}, {:?})", self.id, self.value)
    }
}

impl Var {
    /// Records an op named `op` (e.g. `"conv2d"`): `value` computed from `inputs`, with its
    /// vector-Jacobian product. An error the backward closure returns, or a gradient it returns
    /// that does not add up with the others, comes out of [`Var::backward`] as
    /// [`Error::Backward`](crate::error::Error::Backward) naming `op` (and out of
    /// [`Var::backward_to_params`]). If no input needs a gradient (or the graph is not
    /// recording) nothing is recorded and the closure is dropped.
    pub fn from_op(op: &'static str, inputs: &[&Var], value: Tensor, backward: impl Fn(&Tensor, &[bool]) -> Result<Vec<Option<Tensor>>> + 'static) -> Var {
        Self::record(op, inputs, value, || Backward::Shared(Box::new(backward)))
    }

    /// [`Var::from_op`] with a backward that gets the output's gradient by value (see
    /// [`BackwardOwnedFn`]): for elementwise ops that can overwrite it with their input's
    /// gradient.
    pub fn from_op_owned(op: &'static str, inputs: &[&Var], value: Tensor, backward: impl Fn(Tensor, &[bool]) -> Result<Vec<Option<Tensor>>> + 'static) -> Var {
        Self::record(op, inputs, value, || Backward::Owned(Box::new(backward)))
    }

    fn record(op: &'static str, inputs: &[&Var], value: Tensor, backward: impl FnOnce() -> Backward) -> Var {
        let graph = inputs[0].graph.clone();
        let needs = inputs.iter().any(|v| v.requires_grad());
        if !needs || !graph.is_recording() {
            return Var { graph, id: None, value };
        }
        let parents = inputs.iter().map(|v| v.id.unwrap_or(usize::MAX)).collect();
        let id = graph.push(op, parents, Some(backward()), true, value.shape());
        Var { graph, id, value }
    }

    /// Splits this handle into its value and a handle to the same node holding an empty
    /// placeholder value, for an op that consumes a value nothing else needs (a layer's own
    /// pre-activation output) and computes its result in the same storage. The placeholder
    /// handle is only good as an input of [`Var::from_op`] / [`Var::from_op_owned`] (its
    /// graph, node and `requires_grad` are the original's).
    pub(crate) fn into_parts(self) -> (Var, Tensor) {
        let Var { graph, id, value } = self;
        (Var { graph, id, value: Tensor::zeros(&[0]) }, value)
    }

    /// The value.
    pub fn value(&self) -> &Tensor {
        &self.value
    }
    /// The value's shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }
    /// The name of the op that recorded this value (`"leaf"` for a leaf); None for a value
    /// that is not recorded (a constant, or any value in a [`Graph::no_grad`] graph).
    pub fn op(&self) -> Option<&'static str> {
        self.id.map(|id| self.graph.0.nodes.borrow()[id].op)
    }
    /// The graph this value lives in.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
    /// True if a gradient can flow into this value.
    pub fn requires_grad(&self) -> bool {
        match self.id {
            Some(id) => self.graph.0.nodes.borrow()[id].requires_grad,
            None => false,
        }
    }
    /// The same value with no link to how it was computed.
    pub fn detach(&self) -> Var {
        self.graph.constant(self.value.clone())
    }
    /// Keeps this intermediate value's gradient in [`Grads`] (leaves always keep theirs);
    /// Grad-CAM uses it for the gradient of a feature map.
    pub fn retain_grad(&self) {
        if let Some(id) = self.id {
            self.graph.0.nodes.borrow()[id].retain.set(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// `a · b` elementwise, with its gradient: the op the tape's tests are written with.
    pub(super) fn mul(a: &Var, b: &Var) -> Var {
        let v = a.value().zip_map(b.value(), |x, y| x * y).unwrap();
        let (av, bv) = (a.value().clone(), b.value().clone());
        Var::from_op("mul", &[a, b], v, move |g, _| Ok(vec![Some(g.zip_map(&bv, |g, b| g * b)?), Some(g.zip_map(&av, |g, a| g * a)?)]))
    }

    #[test]
    fn gradient_accumulates_over_two_uses() {
        let g = Graph::new();
        let x = g.leaf(Tensor::from_vec(vec![3.0], &[1]).unwrap());
        let y = mul(&x, &x); // x^2
        let z = mul(&y, &x); // x^3 -> 3x^2 = 27
        let gr = z.backward().unwrap();
        assert_eq!(gr.wrt(&x).unwrap().data(), &[27.0]);
    }

    #[test]
    fn a_parameter_used_twice_gets_both_gradients() {
        let g = Graph::new();
        let p = Param::new("w", Tensor::from_vec(vec![3.0], &[1]).unwrap());
        let y = mul(&g.param(&p), &g.param(&p)); // w^2 -> 2w = 6
        assert_eq!(y.backward().unwrap().param(&p).unwrap().data(), &[6.0]);
    }

    #[test]
    fn no_grad_and_detach_record_nothing() {
        let g = Graph::no_grad();
        let x = g.leaf(Tensor::ones(&[2]));
        let y = mul(&x, &x);
        assert!(!y.requires_grad());
        assert_eq!(g.len(), 0);
        let g = Graph::new();
        let x = g.leaf(Tensor::from_vec(vec![2.0], &[1]).unwrap());
        let y = mul(&x.detach(), &x); // d/dx = detached value = 2
        assert_eq!(y.backward().unwrap().wrt(&x).unwrap().data(), &[2.0]);
    }

    #[test]
    fn nodes_carry_their_op_name() {
        let g = Graph::new();
        let x = g.leaf(Tensor::ones(&[2]));
        assert_eq!(x.op(), Some("leaf"));
        assert_eq!(mul(&x, &x).op(), Some("mul"));
        assert_eq!(g.constant(Tensor::ones(&[2])).op(), None);
        assert_eq!(Graph::no_grad().leaf(Tensor::ones(&[2])).op(), None);
    }

    #[test]
    fn a_profiled_graph_times_each_op_forward_and_backward() {
        let pause = std::time::Duration::from_millis(20);
        let slow = |x: &Var| {
            std::thread::sleep(pause); // the forward's work
            Var::from_op("slow", &[x], x.value().clone(), move |g, _| {
                std::thread::sleep(2 * pause);
                Ok(vec![Some(g.clone())])
            })
        };
        let g = Graph::profiled();
        let x = g.leaf(Tensor::ones(&[2, 3]));
        g.scope("first");
        let s = slow(&x);
        g.scope("second");
        let y = mul(&s, &x);
        assert!(Graph::new().profile().is_empty());
        let before = g.profile();
        let what: Vec<_> = before.iter().map(|t| (t.op, t.layer.as_str(), t.shape.clone())).collect();
        assert_eq!(what, [("slow", "first", vec![2, 3]), ("mul", "second", vec![2, 3])]);
        assert!(before[0].forward >= pause && before[1].forward < pause, "{before:?}");
        assert!(before.iter().all(|t| t.backward.is_zero()));
        y.backward_with(Tensor::ones(&[2, 3])).unwrap();
        let after = g.profile();
        assert!(after[0].backward >= 2 * pause && after[1].backward < pause, "{after:?}");
        assert_eq!(after[0].forward, before[0].forward);
    }

    #[test]
    fn an_error_in_a_backward_names_its_op() {
        let g = Graph::new();
        let x = g.leaf(Tensor::ones(&[2]));
        let y = mul(&x, &x);
        let bad = Var::from_op("failing_op", &[&y], Tensor::ones(&[1]), |_, _| Err(Error::invalid("inner", "boom")));
        let e = bad.backward().err().unwrap();
        assert!(matches!(e, Error::Backward { op: "failing_op", .. }), "{e:?}");
        assert_eq!(e.to_string(), "backward of failing_op: inner: boom");

        // a gradient of the wrong shape is caught where it is added up, and blamed on its op
        let y = mul(&x, &x);
        let wrong = Var::from_op("wrong_shape_op", &[&y], Tensor::ones(&[1]), |_, _| Ok(vec![Some(Tensor::ones(&[3]))]));
        let z = mul(&y, &x); // y also gets a [2] gradient from z
        let total = Var::from_op("join", &[&wrong, &z], Tensor::ones(&[1]), |_, _| Ok(vec![Some(Tensor::ones(&[1])), Some(Tensor::ones(&[2]))]));
        let e = total.backward().err().unwrap().to_string();
        assert!(e.starts_with("backward of wrong_shape_op:") && e.contains("[3]"), "{e}");

        // too few gradients for the inputs
        let short = Var::from_op("short_op", &[&x, &y], Tensor::ones(&[1]), |_, _| Ok(vec![None]));
        let e = short.backward().err().unwrap().to_string();
        assert!(e.starts_with("backward of short_op:") && e.contains("1 gradients for 2 inputs"), "{e}");
    }

    #[test]
    fn backward_of_non_scalar_is_an_error() {
        let g = Graph::new();
        let x = g.leaf(Tensor::ones(&[2, 3]));
        let y = mul(&x, &x);
        let e = y.backward().err().unwrap().to_string();
        assert!(e.contains("[2, 3]"), "{e}");
    }
}
