//! [`Sequential`]: a stack of layers built from a [`ModelSpec`] for a given input shape.

use super::activation::{Activation, Prelu};
use super::batchnorm::BatchNorm;
use super::conv::Conv2d;
use super::dense::Dense;
use super::module::{Ctx, Module};
use super::reshape::{AvgPool, Dropout, Flatten, MaxPool, ZeroPad};
use super::spec::{Act, LayerSpec, ModelSpec, Padding};
use crate::autograd::{Param, Var};
use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::{Rng, Tensor};
use std::any::Any;
use std::collections::HashMap;

/// A sequential model.
pub struct Sequential {
    spec: ModelSpec,
    shapes: Vec<Vec<usize>>,
    layers: Vec<Box<dyn Module>>,
    /// The layers' names (`pupil summary`'s), which also name their ops in a profile.
    names: Vec<String>,
    /// Per layer: a zero padding folded into the layer after it (see [`Fold`]).
    folds: Vec<Option<Fold>>,
    /// A final Softmax / LogSoftmax, kept apart so training can use the logits before it.
    head: Option<Act>,
}

/// A `ZeroPad` layer run as part of the layer after it, in the forward passes that return only
/// the output ([`Sequential::forward_logits`], [`Sequential::forward_logits_mut`] and the
/// [`Module`] forwards): the padded copy is never made. The layers, their names, indices and
/// parameters stay as the spec has them, and [`Sequential::forward_all`] (whose caller sees
/// every layer's output) runs the pad and the next layer separately. Both ways give the same
/// values and gradients bit for bit (the ops' zero padding is the same zeros).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fold {
    /// Into a `valid` or explicitly padded convolution: padding `p` on every side added to
    /// its own (the convolution op's padding is the same on top/bottom and left/right).
    Conv(usize),
    /// Into a max or average pool: `[top, bottom, left, right]` (the `_padded` pool ops).
    Pool([usize; 4]),
}

/// The fold of layer `l` (a `ZeroPad`) into `next`, if there is one.
fn fold_of(l: &LayerSpec, next: &LayerSpec) -> Option<Fold> {
    let LayerSpec::ZeroPad { top, bottom, left, right } = *l else { return None };
    match next {
        LayerSpec::Conv2d { padding: Padding::Valid, .. } if [bottom, left, right] == [top; 3] => Some(Fold::Conv(top)),
        LayerSpec::Conv2d { padding: Padding::Explicit(p), .. } if [bottom, left, right] == [top; 3] => Some(Fold::Conv(top + p)),
        LayerSpec::MaxPool { .. } | LayerSpec::AvgPool { .. } => Some(Fold::Pool([top, bottom, left, right])),
        _ => None,
    }
}

impl Sequential {
    /// Builds the layers of `spec` for the per-sample `input` shape (`[C, H, W]`), drawing
    /// initial weights from `seed`. Errors name the first layer that does not fit.
    pub fn build(spec: &ModelSpec, input: &[usize], seed: u64) -> Result<Self> {
        Self::build_inner(spec, input, Some(seed))
    }

    /// [`Sequential::build`] with every weight zero instead of drawn, for a model whose weights
    /// are loaded next ([`Sequential::load_named`]): drawing keras-hw3's 4.6 million initial
    /// weights costs about 0.1 s that loading would throw away.
    pub fn build_for_loading(spec: &ModelSpec, input: &[usize]) -> Result<Self> {
        Self::build_inner(spec, input, None)
    }

    /// Builds the layers, weights drawn from `seed`, or zero without one.
    fn build_inner(spec: &ModelSpec, input: &[usize], seed: Option<u64>) -> Result<Self> {
        if let Some(want) = &spec.input {
            if want.as_slice() != input {
                return Err(Error::Shape {
                    op: "model",
                    lhs: want.clone(),
                    rhs: input.to_vec(),
                    detail: "the spec's input shape [C, H, W] differs from the data's".into(),
                });
            }
        }
        let shapes = spec.shapes(input)?;
        let mut rng = seed.map(Rng::new);
        // parameters are named after their layer (`conv1.weight`): the names `pupil summary` prints
        let names = spec.layer_names();
        let mut layers: Vec<Box<dyn Module>> = Vec::new();
        let mut body = spec.layers.clone();
        let is_head = |a: &Option<Act>| matches!(a, Some(Act::Softmax | Act::LogSoftmax));
        let head = match body.last_mut() {
            Some(LayerSpec::Activation { act }) if is_head(&Some(*act)) => {
                let a = *act;
                body.pop();
                Some(a)
            }
            Some(LayerSpec::Dense { activation, .. }) if is_head(activation) => activation.take(),
            _ => None,
        };
        for ((l, s), name) in body.iter().zip(&shapes).zip(&names) {
            let layer: Box<dyn Module> = match l {
                LayerSpec::Conv2d { filters, kernel, stride, padding, activation, init, l2 } => Box::new(match rng.as_mut() {
                    Some(rng) => Conv2d::new(name, s[0], *filters, *kernel, *stride, *padding, *activation, *init, *l2, rng),
                    None => Conv2d::with_weight(name, Tensor::zeros(&[*filters, s[0], kernel.0, kernel.1]), *stride, *padding, *activation, *l2),
                }),
                LayerSpec::Dense { units, activation, init, l2 } => {
                    let inputs = s.iter().product();
                    Box::new(match rng.as_mut() {
                        Some(rng) => Dense::new(name, inputs, *units, *activation, *init, *l2, rng),
                        None => Dense::with_weight(name, Tensor::zeros(&[*units, inputs]), *activation, *l2),
                    })
                }
                LayerSpec::ZeroPad { top, bottom, left, right } => Box::new(ZeroPad(*top, *bottom, *left, *right)),
                LayerSpec::MaxPool { kernel, stride } => Box::new(MaxPool { kernel: *kernel, stride: *stride }),
                LayerSpec::AvgPool { kernel, stride } => Box::new(AvgPool { kernel: *kernel, stride: *stride }),
                LayerSpec::BatchNorm { momentum, eps } => Box::new(BatchNorm::new(name, s[0], *momentum, *eps)),
                LayerSpec::Activation { act } => Box::new(Activation(*act)),
                LayerSpec::Prelu { per_channel } => {
                    let shape = if *per_channel { vec![s[0]] } else { s.clone() };
                    Box::new(Prelu::new(name, &shape))
                }
                LayerSpec::Dropout { rate } => Box::new(Dropout(*rate)),
                LayerSpec::Flatten => Box::new(Flatten),
            };
            layers.push(layer);
        }
        let mut folds: Vec<Option<Fold>> = body.windows(2).map(|p| fold_of(&p[0], &p[1])).collect();
        folds.push(None);
        let mut spec = spec.clone();
        spec.input = Some(input.to_vec());
        Ok(Sequential { spec, shapes, layers, names, folds, head })
    }

    /// The architecture (with the input shape filled in).
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    /// Per-sample input shape.
    pub fn input_shape(&self) -> &[usize] {
        &self.shapes[0]
    }
    /// Per-sample shape after each layer (index 0 = input).
    pub fn shapes(&self) -> &[Vec<usize>] {
        &self.shapes
    }
    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    /// True if there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
    /// Per-sample output shape.
    pub fn output_shape(&self) -> &[usize] {
        self.shapes.last().expect("shapes has input")
    }
    /// The final Softmax or LogSoftmax of the spec, if any. [`Sequential::forward_logits`]
    /// and [`Sequential::forward_logits_mut`] stop before it (training applies cross-entropy to
    /// the logits, which equals NLL of the log-softmax); [`Module::forward`] and
    /// [`Module::forward_mut`] apply it.
    pub fn output_kind(&self) -> Option<Act> {
        self.head
    }
    /// Total trainable scalars.
    pub fn num_params(&self) -> usize {
        self.params().iter().map(|p| p.len()).sum()
    }

    fn check_input(&self, x: &Var) -> Result<()> {
        if x.shape().len() != self.shapes[0].len() + 1 || x.shape()[1..] != self.shapes[0][..] {
            return Err(Error::Shape {
                op: "model input",
                lhs: x.shape().to_vec(),
                rhs: self.shapes[0].clone(),
                detail: "input must be [N, C, H, W] with the model's [C, H, W]".into(),
            });
        }
        Ok(())
    }

    /// Layer `i + 1` run on `x`, the input of the `ZeroPad` layer `i` folded into it.
    fn forward_folded(&self, i: usize, fold: Fold, x: &Var) -> Result<Var> {
        let next: &dyn Any = self.layers[i + 1].as_ref();
        match fold {
            Fold::Conv(p) => {
                if let Some(c) = next.downcast_ref::<Conv2d>() {
                    let folded = Conv2d {
                        weight: c.weight.clone(), // the same parameter (same id): same gradient
                        bias: c.bias.clone(),
                        stride: c.stride,
                        padding: Padding::Explicit(p),
                        activation: c.activation,
                        l2: c.l2,
                    };
                    return folded.forward(x);
                }
            }
            Fold::Pool(pad) => {
                if let Some(m) = next.downcast_ref::<MaxPool>() {
                    return ops::max_pool2d_padded(x, m.kernel, m.stride, pad);
                }
                if let Some(m) = next.downcast_ref::<AvgPool>() {
                    return ops::avg_pool2d_padded(x, m.kernel, m.stride, pad);
                }
            }
        }
        // not the layer the spec promised: run both layers as they are
        self.layers[i + 1].forward(&self.layers[i].forward(x)?)
    }

    /// Plain inference from layer `i` on: a convolution (after a zero padding folded into it,
    /// or not) with the batch norm, ReLU and max pool layers that follow it (the pool after a
    /// zero padding folded into it, or not) run as one op ([`Conv2d::forward_fused`]), with
    /// the number of layers it took; None if layer `i` does not start such a run or there is
    /// nothing to fuse.
    fn forward_fused(&self, i: usize, x: &Var) -> Result<Option<(Var, usize)>> {
        let (at, pad) = match self.folds[i] {
            Some(Fold::Conv(p)) => (i + 1, p),
            Some(Fold::Pool(_)) => return Ok(None),
            None => (i, 0),
        };
        let layer = |j: usize| self.layers.get(j).map(|l| l.as_ref() as &dyn Any);
        let Some(conv) = layer(at).and_then(|l| l.downcast_ref::<Conv2d>()) else { return Ok(None) };
        let mut next = at + 1;
        let bn = layer(next).and_then(|l| l.downcast_ref::<BatchNorm>());
        next += usize::from(bn.is_some());
        let relu = layer(next).and_then(|l| l.downcast_ref::<Activation>()).is_some_and(|a| a.0 == Act::Relu);
        next += usize::from(relu);
        if bn.is_none() && !relu && conv.activation != Some(Act::Relu) {
            return Ok(None);
        }
        // a max pool next (after a zero padding folded into it, or not)
        let (pool_at, pool_pad) = match self.folds.get(next) {
            Some(Some(Fold::Pool(p))) => (next + 1, *p),
            _ => (next, [0; 4]),
        };
        let pool = layer(pool_at).and_then(|l| l.downcast_ref::<MaxPool>()).map(|m| ops::MaxPoolArgs { kernel: m.kernel, stride: m.stride, pad: pool_pad });
        if pool.is_some() {
            next = pool_at + 1;
        }
        x.graph().scope(&self.names[at]);
        Ok(conv.forward_fused(x, pad, bn, relu, pool)?.map(|y| (y, next - i)))
    }

    /// From layer `i` on: a ReLU (a convolution's own activation, or a ReLU layer) followed by
    /// a max pool (after a zero padding folded into it, or not) run as one op: with the
    /// convolution, [`ops::conv2d_relu_max_pool`] (its output is pooled in cache, never
    /// stored); after a ReLU layer, [`ops::max_pool2d_relu`]. The same values and gradients,
    /// without the ReLU's pass over the larger tensor or keeping its output for the backward
    /// pass. With the number of layers it took; None if layer `i` does not start such a pair.
    fn forward_relu_pool(&self, i: usize, x: &Var) -> Result<Option<(Var, usize)>> {
        #[cfg(test)]
        if tests::NO_RELU_POOL.with(|c| c.get()) {
            return Ok(None);
        }
        if self.folds[i].is_some() {
            return Ok(None);
        }
        let layer = |j: usize| self.layers.get(j).map(|l| l.as_ref() as &dyn Any);
        let (pool_at, pad) = match self.folds.get(i + 1) {
            Some(Some(Fold::Pool(pad))) => (i + 2, *pad),
            Some(None) => (i + 1, [0; 4]),
            _ => return Ok(None),
        };
        let Some(pool) = layer(pool_at).and_then(|l| l.downcast_ref::<MaxPool>()) else { return Ok(None) };
        let pre = match layer(i) {
            Some(l) if l.downcast_ref::<Activation>().is_some_and(|a| a.0 == Act::Relu) => x.clone(),
            Some(l) => match l.downcast_ref::<Conv2d>() {
                Some(c) if c.activation == Some(Act::Relu) => {
                    x.graph().scope(&self.names[i]);
                    let args = ops::MaxPoolArgs { kernel: pool.kernel, stride: pool.stride, pad };
                    if let Some(y) = c.forward_relu_max_pool(x, args)? {
                        return Ok(Some((y, pool_at + 1 - i)));
                    }
                    c.forward_linear(x)?
                }
                _ => return Ok(None),
            },
            None => return Ok(None),
        };
        pre.graph().scope(&self.names[pool_at]);
        Ok(Some((ops::max_pool2d_relu(&pre, pool.kernel, pool.stride, pad)?, pool_at + 1 - i)))
    }

    /// Inference: the output before a final Softmax / LogSoftmax (the logits), in evaluation
    /// mode (see [`Module::forward`]). A zero padding runs folded into the next layer; a ReLU
    /// followed by a max pool runs as one op (`forward_relu_pool`: [`ops::max_pool2d_relu`],
    /// or with the convolution before it [`ops::conv2d_relu_max_pool`]; the same values and
    /// gradients); elsewhere, on a graph that records nothing, a convolution with the batch
    /// norm and ReLU after it runs as one op ([`Sequential::forward_fused`]; the same values).
    pub fn forward_logits(&self, x: &Var) -> Result<Var> {
        self.check_input(x)?;
        let mut y = x.clone();
        let mut i = 0;
        while i < self.layers.len() {
            let fused = match self.forward_relu_pool(i, &y)? {
                None if !y.graph().is_recording() => self.forward_fused(i, &y)?,
                f => f,
            };
            if let Some((out, used)) = fused {
                y = out;
                i += used;
                continue;
            }
            if let Some(f) = self.folds[i] {
                y.graph().scope(&self.names[i + 1]);
                y = self.forward_folded(i, f, &y)?;
                i += 2;
            } else {
                y.graph().scope(&self.names[i]);
                y = self.layers[i].forward(&y)?;
                i += 1;
            }
        }
        Ok(y)
    }

    /// Inference through every layer, returning the output of each (index i = after layer i;
    /// a final Softmax / LogSoftmax is not included): feature maps, and on a recording graph
    /// the gradients Grad-CAM needs.
    pub fn forward_all(&self, x: &Var) -> Result<Vec<Var>> {
        self.check_input(x)?;
        let mut outs: Vec<Var> = Vec::with_capacity(self.layers.len());
        for (l, name) in self.layers.iter().zip(&self.names) {
            x.graph().scope(name);
            let y = l.forward(outs.last().unwrap_or(x))?;
            outs.push(y);
        }
        Ok(outs)
    }

    /// Training: the logits, in training mode (see [`Module::forward_mut`]). A zero padding
    /// runs folded into the next layer (a convolution or pool: stateless, so its training
    /// forward is its inference forward), and a ReLU followed by a max pool runs as one op
    /// ([`ops::max_pool2d_relu`]).
    pub fn forward_logits_mut(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        self.check_input(x)?;
        let mut y = x.clone();
        let mut i = 0;
        while i < self.layers.len() {
            if let Some((out, used)) = self.forward_relu_pool(i, &y)? {
                y = out;
                i += used;
                continue;
            }
            if let Some(f) = self.folds[i] {
                y.graph().scope(&self.names[i + 1]);
                y = self.forward_folded(i, f, &y)?;
                i += 2;
            } else {
                y.graph().scope(&self.names[i]);
                y = self.layers[i].forward_mut(&y, ctx)?;
                i += 1;
            }
        }
        Ok(y)
    }

    /// Training through every layer, returning the output of each, as [`Sequential::forward_all`].
    pub fn forward_all_mut(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Vec<Var>> {
        self.check_input(x)?;
        let mut outs: Vec<Var> = Vec::with_capacity(self.layers.len());
        for (l, name) in self.layers.iter_mut().zip(&self.names) {
            x.graph().scope(name);
            let y = l.forward_mut(outs.last().unwrap_or(x), ctx)?;
            outs.push(y);
        }
        Ok(outs)
    }

    /// Restores weights and buffers by name; every parameter must be given, with its shape.
    pub fn load_named(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for p in self.params_mut() {
            let t = tensors.get(&p.name).ok_or_else(|| Error::invalid("load weights", format!("missing tensor {}", p.name)))?;
            if t.shape() != p.value.shape() {
                return Err(Error::Shape { op: "load weights", lhs: p.value.shape().to_vec(), rhs: t.shape().to_vec(), detail: format!("tensor {}", p.name) });
            }
            p.value = t.clone();
        }
        let names: Vec<String> = self.buffers().into_iter().map(|(n, _)| n).collect();
        for n in names {
            let t = tensors.get(&n).ok_or_else(|| Error::invalid("load weights", format!("missing tensor {n}")))?;
            self.load_buffer(&n, t)?;
        }
        Ok(())
    }

    /// Every parameter and buffer by name (what a checkpoint stores).
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.params().into_iter().map(|p| (p.name.clone(), p.value.clone())).collect();
        v.extend(self.buffers());
        v
    }
}

impl Module for Sequential {
    /// Inference, ending in the spec's final Softmax / LogSoftmax if it has one.
    fn forward(&self, x: &Var) -> Result<Var> {
        let y = self.forward_logits(x)?;
        super::activation::apply_act(&y, self.head)
    }
    /// Training, ending in the spec's final Softmax / LogSoftmax if it has one.
    fn forward_mut(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let y = self.forward_logits_mut(x, ctx)?;
        super::activation::apply_act(&y, self.head)
    }
    fn params(&self) -> Vec<&Param> {
        self.layers.iter().flat_map(|l| l.params()).collect()
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.layers.iter_mut().flat_map(|l| l.params_mut()).collect()
    }
    fn l2(&self) -> Vec<(&Param, f32)> {
        self.layers.iter().flat_map(|l| l.l2()).collect()
    }
    fn buffers(&self) -> Vec<(String, Tensor)> {
        self.layers.iter().flat_map(|l| l.buffers()).collect()
    }
    fn load_buffer(&mut self, name: &str, value: &Tensor) -> Result<bool> {
        for l in self.layers.iter_mut() {
            if l.load_buffer(name, value)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Graph;
    use crate::nn::preset;

    #[test]
    fn built_for_loading_then_loaded_is_the_same_model() {
        for name in ["small", "alexnet-bn", "dnn"] {
            let spec = preset(name, 5).unwrap();
            let m = Sequential::build(&spec, &[1, 28, 28], 3).unwrap();
            let mut z = Sequential::build_for_loading(&spec, &[1, 28, 28]).unwrap();
            let drawn = z.params().into_iter().filter(|p| p.name.starts_with("conv") || p.name.starts_with("dense"));
            assert!(drawn.flat_map(|p| p.value.data().to_vec()).all(|v| v == 0.0), "{name}: no weight is drawn");
            let shapes = |m: &Sequential| m.named_tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect::<Vec<_>>();
            assert_eq!(shapes(&z), shapes(&m), "{name}");
            z.load_named(&m.named_tensors().into_iter().collect()).unwrap();
            let x = Tensor::rand_normal(&[2, 1, 28, 28], 0.0, 1.0, 4);
            let g = Graph::no_grad();
            assert_eq!(z.forward(&g.constant(x.clone())).unwrap().value(), m.forward(&g.constant(x)).unwrap().value(), "{name}");
        }
    }

    /// Inference packs the dense layers' weights once and keeps them packed (the GEMM reads
    /// them in place, `ops::matmul`); a training step on the same model leaves none packed.
    #[test]
    fn inference_keeps_dense_weights_packed_and_training_does_not() {
        let spec = preset("keras-hw3", 7).unwrap();
        let m = Sequential::build(&spec, &[1, 48, 48], 3).unwrap();
        let x = Tensor::rand_normal(&[2, 1, 48, 48], 0.0, 1.0, 5);
        let dense = |m: &Sequential| {
            m.params().into_iter().filter(|p| p.name.starts_with("dense") && p.name.ends_with(".weight")).map(|p| p.value.clone()).collect::<Vec<_>>()
        };
        assert!(!dense(&m).is_empty());
        let g = Graph::new();
        m.forward_logits(&g.constant(x.clone())).unwrap();
        assert!(dense(&m).iter().all(|w| !w.holds_packed()), "a training graph packed a weight");
        let g = Graph::no_grad();
        m.forward_logits(&g.constant(x)).unwrap();
        assert!(dense(&m).iter().all(|w| w.holds_packed()), "inference left a dense weight unpacked");
    }

    /// Plain inference (convolutions fused with the batch norm and ReLU after them) gives the
    /// bits of running every layer on its own (`forward_all`, which never fuses), on presets
    /// with folded paddings, ReLU inside the conv layer, conv + bn + relu layers, and batch
    /// norms whose running statistics are not the initial ones.
    #[test]
    fn fused_inference_gives_the_layer_by_layer_values() {
        for (name, hw) in [("keras-hw3", 48), ("alexnet-bn", 28), ("small", 28), ("vgg16", 32)] {
            let spec = preset(name, 5).unwrap();
            let mut m = Sequential::build(&spec, &[1, hw, hw], 3).unwrap();
            let mut named = m.named_tensors();
            for (i, (n, t)) in named.iter_mut().enumerate() {
                if n.ends_with("running_mean") || n.ends_with("running_var") || n.ends_with(".bias") {
                    *t = Tensor::rand_uniform(t.shape(), 0.1, 0.9, i as u64);
                }
            }
            m.load_named(&named.into_iter().collect()).unwrap();
            let x = Tensor::rand_normal(&[3, 1, hw, hw], 0.0, 1.0, 4);
            let g = Graph::no_grad();
            let fused = m.forward_logits(&g.constant(x.clone())).unwrap();
            // the output of every layer, run one by one (a final softmax is left out, as in
            // forward_logits)
            let all = m.forward_all(&g.constant(x)).unwrap();
            let want = all.last().unwrap();
            let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert!(bits(fused.value()) == bits(want.value()), "{name}");
        }
    }

    thread_local! {
        /// Turns [`Sequential::forward_relu_pool`] off on this thread (the reference run).
        pub(super) static NO_RELU_POOL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Training and saliency on a recording graph: a ReLU followed by a max pool runs as one
    /// op: `conv2d_relu_max_pool` when the ReLU is a convolution's own (keras-hw3, with a zero
    /// padding folded into the pool; small), `max_pool2d_relu` after a ReLU layer (alexnet-bn:
    /// after a batch norm). The logits and the gradients of every parameter and of the input
    /// are the bits of the same forward pass with the convolution, the ReLU and the pool as
    /// separate ops, and the fused op is on the tape.
    #[test]
    fn relu_then_max_pool_trains_with_the_layer_by_layer_values_and_gradients() {
        for (name, hw) in [("keras-hw3", 48), ("alexnet-bn", 28), ("small", 28)] {
            let spec = preset(name, 5).unwrap();
            let run = |fused: bool| {
                let mut m = Sequential::build(&spec, &[1, hw, hw], 3).unwrap();
                let g = Graph::profiled(); // to list the ops on the tape
                let x = g.leaf(Tensor::rand_normal(&[3, 1, hw, hw], 0.0, 1.0, 4));
                let mut rng = crate::Rng::new(9);
                let mut ctx = Ctx::new(&mut rng);
                NO_RELU_POOL.with(|c| c.set(!fused));
                let y = m.forward_logits_mut(&x, &mut ctx).unwrap();
                NO_RELU_POOL.with(|c| c.set(false));
                let ops: Vec<&str> = g.profile().iter().map(|t| t.op).collect();
                let grads = y.backward_with(Tensor::rand_normal(y.shape(), 0.0, 1.0, 7)).unwrap();
                let mut out = vec![y.value().clone(), grads.wrt(&x).unwrap().clone()];
                out.extend(m.params().iter().map(|p| grads.param(p).cloned().unwrap_or_else(|| Tensor::zeros(&[0]))));
                (out, ops)
            };
            let ((fused, fops), (plain, pops)) = (run(true), run(false));
            // keras-hw3 and small: a conv's own ReLU, the conv and pool as one op; alexnet-bn: a
            // ReLU layer after a batch norm
            let op = if name == "alexnet-bn" { "max_pool2d_relu" } else { "conv2d_relu_max_pool" };
            assert!(fops.contains(&op) && !pops.contains(&op), "{name}: {fops:?}");
            let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            for (i, (a, b)) in fused.iter().zip(&plain).enumerate() {
                assert!(a.shape() == b.shape() && bits(a) == bits(b), "{name}: output {i} differs");
            }
        }
    }
}
