//! Elementwise activations (ReLU family, ELU/SELU, softplus, sigmoid, tanh) and PReLU with
//! learned slopes.
//!
//! Every activation maps each element on its own, so the loops run in parallel over fixed-size
//! chunks of `pupil_kernels::CHUNK` (16384) elements (`pupil_kernels::par_map`); each element's result is computed by the
//! same scalar code whatever the number of threads, so results are bit-identical under any pool.
//! The inner loops are plain slice zips the compiler can vectorise.
//!
//! Backward passes reuse what the forward pass kept: the input `x` and the output `y` are cheap
//! shared clones (`Arc` storage), so e.g. `sigmoid'` is computed from `y` without a second `exp`.
//! They write `dx` over the output's gradient, which the tape hands over by value
//! ([`Var::from_op_owned`]): no new buffer. The layers' fused activations (`relu_owned` and
//! the like) also compute `y` in the storage of the pre-activation value they are given.

use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use pupil_kernels::{par_map, CHUNK};
use rayon::prelude::*;

/// Records an elementwise op `y = f(x)` whose derivative is `dx = grad(g, x, y)`, written over
/// the output's gradient `g` (its storage is reused when nothing else holds it).
fn unary(op: &'static str, x: &Var, y: Vec<f32>, grad: impl Fn(f32, f32, f32) -> f32 + Sync + 'static) -> Result<Var> {
    let y = Tensor::from_vec(y, x.shape())?;
    let (xv, yv) = (x.value().clone(), y.clone());
    Ok(Var::from_op_owned(op, &[x], y, move |g, _| {
        let mut g = gradient_like(op, g, &yv)?;
        par_update3(g.data_mut(), xv.data(), yv.data(), &grad);
        Ok(vec![Some(g)])
    }))
}

/// Records an elementwise op with output `y` whose derivative needs only the output:
/// `dx = grad(g, y)`, written over the output's gradient `g`. The backward keeps `y` alone, so
/// the input can be freed as soon as nothing else holds it (a convolution's pre-activation
/// output, the largest tensor of a CNN step, is not kept twice).
fn unary_y(op: &'static str, x: &Var, y: Tensor, grad: impl Fn(f32, f32) -> f32 + Sync + 'static) -> Result<Var> {
    let yv = y.clone();
    Ok(Var::from_op_owned(op, &[x], y, move |g, _| {
        let mut g = gradient_like(op, g, &yv)?;
        par_update2(g.data_mut(), yv.data(), &grad);
        Ok(vec![Some(g)])
    }))
}

/// [`unary_y`] computed in `x`'s own storage: `y = f(x)` overwrites the value (copied first
/// only if something else still holds it), for a layer's pre-activation output that nothing
/// else needs. The same values and gradients as the allocating form.
fn unary_y_in_place(op: &'static str, x: Var, f: impl Fn(f32) -> f32 + Sync, grad: impl Fn(f32, f32) -> f32 + Sync + 'static) -> Result<Var> {
    let (x, mut y) = x.into_parts();
    par_update(y.data_mut(), f);
    unary_y(op, &x, y, grad)
}

/// The output's gradient `g` with the output's shape (an error if the sizes differ).
fn gradient_like(op: &'static str, g: Tensor, y: &Tensor) -> Result<Tensor> {
    if g.shape() == y.shape() {
        return Ok(g);
    }
    if g.len() != y.len() {
        return Err(Error::shape(op, y.shape(), g.shape()));
    }
    g.reshape(y.shape())
}

/// `o[i] = f(o[i])`, in parallel over the chunks of `pupil_kernels::par_map` (the same
/// scalar code per element whatever the number of threads).
fn par_update(o: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    let kernel = |o: &mut [f32]| o.iter_mut().for_each(|v| *v = f(*v));
    if o.len() <= CHUNK {
        kernel(o);
    } else {
        o.par_chunks_mut(CHUNK).for_each(kernel);
    }
}

/// `o[i] = f(o[i], a[i])` in parallel over chunks, as [`par_update`].
pub(crate) fn par_update2(o: &mut [f32], a: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    assert_eq!(o.len(), a.len(), "par_update2: lengths differ");
    let kernel = |o: &mut [f32], a: &[f32]| o.iter_mut().zip(a).for_each(|(o, &a)| *o = f(*o, a));
    if o.len() <= CHUNK {
        kernel(o, a);
    } else {
        o.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).for_each(|(o, a)| kernel(o, a));
    }
}

/// `o[i] = f(o[i], a[i], b[i])` in parallel over chunks, as [`par_update`].
fn par_update3(o: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32, f32) -> f32 + Sync) {
    assert!(o.len() == a.len() && a.len() == b.len(), "par_update3: lengths differ");
    let kernel = |o: &mut [f32], a: &[f32], b: &[f32]| o.iter_mut().zip(a).zip(b).for_each(|((o, &a), &b)| *o = f(*o, a, b));
    if o.len() <= CHUNK {
        kernel(o, a, b);
    } else {
        o.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))).for_each(|(o, (a, b))| kernel(o, a, b));
    }
}

fn finite(op: &'static str, name: &str, v: f32) -> Result<()> {
    if !v.is_finite() {
        return Err(Error::invalid(op, format!("{name} must be finite, got {v}")));
    }
    Ok(())
}

/// Rectified linear unit: `y = max(x, 0)`.
///
/// Backward: `dx = g · [x > 0]` (the derivative at the kink `x = 0` is taken as 0, as in
/// PyTorch and Keras), computed as `g · [y > 0]`, the same test (`y > 0` exactly when
/// `x > 0`; a NaN fails both). NaN inputs stay NaN so divergence is visible.
pub fn relu(x: &Var) -> Result<Var> {
    let y = Tensor::from_vec(par_map(x.value().data(), relu_f), x.shape())?;
    unary_y("relu", x, y, relu_grad)
}

/// [`relu`] of a value the caller gives up (a layer's pre-activation output), computed in its
/// storage.
pub(crate) fn relu_owned(x: Var) -> Result<Var> {
    unary_y_in_place("relu", x, relu_f, relu_grad)
}

#[inline]
pub(crate) fn relu_f(v: f32) -> f32 {
    if v <= 0.0 {
        0.0
    } else {
        v
    }
}

#[inline]
pub(crate) fn relu_grad(g: f32, y: f32) -> f32 {
    if y > 0.0 {
        g
    } else {
        0.0
    }
}

/// Leaky ReLU: `y = x` for `x > 0`, `y = α x` otherwise.
///
/// Backward: `dx = g` for `x > 0`, `dx = α g` otherwise. `α` must be finite.
pub fn leaky_relu(x: &Var, alpha: f32) -> Result<Var> {
    finite("leaky_relu", "alpha", alpha)?;
    let y = par_map(x.value().data(), |v| if v > 0.0 { v } else { alpha * v });
    unary("leaky_relu", x, y, move |g, x, _| if x > 0.0 { g } else { alpha * g })
}

/// Exponential linear unit: `y = x` for `x > 0`, `y = α (eˣ - 1)` otherwise (computed with
/// `expm1` so small negative `x` keeps its precision).
///
/// Backward: `dx = g` for `x > 0`, else `dx = g · α eˣ = g · (y + α)`.
pub fn elu(x: &Var, alpha: f32) -> Result<Var> {
    finite("elu", "alpha", alpha)?;
    let y = par_map(x.value().data(), |v| if v > 0.0 { v } else { alpha * v.exp_m1() });
    unary("elu", x, y, move |g, x, y| if x > 0.0 { g } else { g * (y + alpha) })
}

/// SELU's `α` (Klambauer et al. 2017).
pub const SELU_ALPHA: f32 = 1.673_263_2;
/// SELU's scale `λ`.
pub const SELU_LAMBDA: f32 = 1.050_701;

/// Scaled ELU: `y = λ x` for `x > 0`, `y = λ α (eˣ - 1)` otherwise, with the self-normalising
/// constants `λ ≈ 1.0507`, `α ≈ 1.67326` ([`SELU_LAMBDA`], [`SELU_ALPHA`]).
///
/// Backward: `dx = λ g` for `x > 0`, else `dx = g · λ α eˣ = g · (y + λ α)`.
pub fn selu(x: &Var) -> Result<Var> {
    let y = Tensor::from_vec(par_map(x.value().data(), selu_f), x.shape())?;
    unary_y("selu", x, y, selu_grad)
}

/// [`selu`] of a value the caller gives up, computed in its storage.
pub(crate) fn selu_owned(x: Var) -> Result<Var> {
    unary_y_in_place("selu", x, selu_f, selu_grad)
}

const SELU_LA: f32 = SELU_LAMBDA * SELU_ALPHA;

#[inline]
fn selu_f(v: f32) -> f32 {
    if v > 0.0 {
        SELU_LAMBDA * v
    } else {
        SELU_LA * v.exp_m1()
    }
}

/// y > 0 exactly when x > 0 (λ, λα > 0), so the backward needs y alone.
#[inline]
fn selu_grad(g: f32, y: f32) -> f32 {
    if y > 0.0 {
        SELU_LAMBDA * g
    } else {
        g * (y + SELU_LA)
    }
}

/// Logistic function `σ(x) = 1 / (1 + e⁻ˣ)`, evaluated as `eˣ / (1 + eˣ)` for `x < 0` so that
/// no `exp` overflows.
#[inline]
fn sigmoid_scalar(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Softplus: `y = ln(1 + eˣ)`, computed as `max(x, 0) + ln(1 + e^{-|x|})` which neither
/// overflows for large `x` (giving `y = x`) nor loses the tail for very negative `x`.
///
/// Backward: `dx = g · σ(x)`.
pub fn softplus(x: &Var) -> Result<Var> {
    let y = par_map(x.value().data(), |v| v.max(0.0) + (-v.abs()).exp().ln_1p());
    unary("softplus", x, y, |g, x, _| g * sigmoid_scalar(x))
}

/// Sigmoid: `y = σ(x) = 1 / (1 + e⁻ˣ)` (stable for large `|x|`).
///
/// Backward: `dx = g · y (1 - y)`.
pub fn sigmoid(x: &Var) -> Result<Var> {
    let y = Tensor::from_vec(par_map(x.value().data(), sigmoid_scalar), x.shape())?;
    unary_y("sigmoid", x, y, sigmoid_grad)
}

/// [`sigmoid`] of a value the caller gives up, computed in its storage.
pub(crate) fn sigmoid_owned(x: Var) -> Result<Var> {
    unary_y_in_place("sigmoid", x, sigmoid_scalar, sigmoid_grad)
}

#[inline]
fn sigmoid_grad(g: f32, y: f32) -> f32 {
    g * y * (1.0 - y)
}

/// Hyperbolic tangent: `y = tanh x`.
///
/// Backward: `dx = g · (1 - y²)`.
pub fn tanh(x: &Var) -> Result<Var> {
    let y = Tensor::from_vec(par_map(x.value().data(), f32::tanh), x.shape())?;
    unary_y("tanh", x, y, tanh_grad)
}

/// [`tanh`] of a value the caller gives up, computed in its storage.
pub(crate) fn tanh_owned(x: Var) -> Result<Var> {
    unary_y_in_place("tanh", x, f32::tanh, tanh_grad)
}

#[inline]
fn tanh_grad(g: f32, y: f32) -> f32 {
    g * (1.0 - y * y)
}

/// Parametric ReLU with learned slopes: `y = x` for `x > 0`, `y = a · x` otherwise, where the
/// slope `a` is taken from `alpha` by one of two layouts for `x` of shape `[N, C, ...]`:
/// - `alpha: x.shape()[1..]` (e.g. `[C, H, W]`): one slope per element of a sample (Keras'
///   `PReLU` default, shared over the batch);
/// - `alpha: [C]`: one slope per channel, `C = x.shape()[1]` (PyTorch's `PReLU(C)`).
///
/// (For `x: [N, C]` both layouts are the same.) Any other shape is an error naming both.
///
/// Backward: `dx = g` for `x > 0`, else `a g`; `dα_j = Σ g · x` over the elements that use
/// slope `j` and have `x ≤ 0`, accumulated in f64 in a fixed order (batch index, then position
/// in the sample), in parallel over slopes, so the result does not depend on the thread count.
pub fn prelu(x: &Var, alpha: &Var) -> Result<Var> {
    let (sx, sa) = (x.shape(), alpha.shape());
    if sx.len() < 2 {
        return Err(Error::Shape { op: "prelu", lhs: sx.to_vec(), rhs: sa.to_vec(), detail: "x must be [N, C, ...]".into() });
    }
    let (n, c) = (sx[0], sx[1]);
    let per: usize = sx[1..].iter().product();
    // `inner`: consecutive elements of a sample sharing one slope.
    let inner = if sa == &sx[1..] {
        1
    } else if sa == [c] {
        per / c.max(1)
    } else {
        return Err(Error::Shape {
            op: "prelu",
            lhs: sx.to_vec(),
            rhs: sa.to_vec(),
            detail: format!("alpha must be {:?} (one slope per element) or [{c}] (one per channel)", &sx[1..]),
        });
    };
    let (xv, av) = (x.value().clone(), alpha.value().clone());
    let mut y = vec![0.0f32; xv.len()];
    if per > 0 {
        per_sample(&mut y, xv.data(), xv.data(), per, |o, xs, _| for_slopes(o, xs, xs, av.data(), inner, |v, _, s| if v > 0.0 { v } else { s * v }));
    }
    let y = Tensor::from_vec(y, sx)?;
    Ok(Var::from_op("prelu", &[x, alpha], y, move |g, need| {
        let (xd, ad, gd) = (xv.data(), av.data(), g.data());
        let dx = if need[0] {
            let mut d = vec![0.0f32; xd.len()];
            if per > 0 {
                per_sample(&mut d, xd, gd, per, |o, xs, gs| for_slopes(o, xs, gs, ad, inner, |v, g, s| if v > 0.0 { g } else { s * g }));
            }
            Some(Tensor::from_vec(d, xv.shape())?)
        } else {
            None
        };
        let da = if need[1] {
            let slopes = ad.len();
            let mut d = vec![0.0f32; slopes];
            if per > 0 && inner == 1 {
                // one slope per element: blocks of slopes, each accumulating sample after
                // sample (b ascending) so the inner loop runs over contiguous memory.
                const BLOCK: usize = 512;
                d.par_chunks_mut(BLOCK).enumerate().for_each(|(bi, dj)| {
                    let j0 = bi * BLOCK;
                    let mut acc = vec![0.0f64; dj.len()];
                    for b in 0..n {
                        let r = b * per + j0..b * per + j0 + dj.len();
                        for ((a, &v), &g) in acc.iter_mut().zip(&xd[r.clone()]).zip(&gd[r]) {
                            if v <= 0.0 {
                                *a += g as f64 * v as f64;
                            }
                        }
                    }
                    for (o, a) in dj.iter_mut().zip(acc) {
                        *o = a as f32;
                    }
                });
            } else if per > 0 {
                // one slope per channel: channel j collects the rows b * per + j * inner + (0..inner), b ascending.
                let min = (CHUNK / (n * inner).max(1)).max(1);
                d.par_iter_mut().enumerate().with_min_len(min).for_each(|(j, dj)| {
                    let mut s = 0.0f64;
                    for b in 0..n {
                        let start = b * per + j * inner;
                        for (&v, &g) in xd[start..start + inner].iter().zip(&gd[start..start + inner]) {
                            if v <= 0.0 {
                                s += g as f64 * v as f64;
                            }
                        }
                    }
                    *dj = s as f32;
                });
            }
            Some(Tensor::from_vec(d, av.shape())?)
        } else {
            None
        };
        Ok(vec![dx, da])
    }))
}

/// Runs `f(out_sample, a_sample, b_sample)` over the samples (`per` elements each) in parallel.
fn per_sample(out: &mut [f32], a: &[f32], b: &[f32], per: usize, f: impl Fn(&mut [f32], &[f32], &[f32]) + Sync) {
    let min = (CHUNK / per).max(1);
    out.par_chunks_mut(per).zip(a.par_chunks(per).zip(b.par_chunks(per))).with_min_len(min).for_each(|(o, (a, b))| f(o, a, b));
}

/// Within one sample: `o[i] = f(a[i], b[i], slope of i)` where element `i` uses
/// `alpha[i / inner]` (`inner == 1`: one slope per element).
#[inline]
fn for_slopes(o: &mut [f32], a: &[f32], b: &[f32], alpha: &[f32], inner: usize, f: impl Fn(f32, f32, f32) -> f32) {
    if inner == 1 {
        for (((o, &a), &b), &s) in o.iter_mut().zip(a).zip(b).zip(alpha) {
            *o = f(a, b, s);
        }
    } else {
        for (((o, a), b), &s) in o.chunks_mut(inner).zip(a.chunks(inner)).zip(b.chunks(inner)).zip(alpha) {
            for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                *o = f(a, b, s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Graph;

    /// The in-place forms give the allocating forms' values and gradients bit for bit, on
    /// sizes below and above one parallel chunk, and leave a shared input and a retained or
    /// caller-held gradient untouched.
    #[test]
    fn in_place_activations_match_the_allocating_ones() {
        type Pair = (fn(&Var) -> Result<Var>, fn(Var) -> Result<Var>);
        let pairs: [Pair; 4] = [(relu, relu_owned), (selu, selu_owned), (sigmoid, sigmoid_owned), (tanh, tanh_owned)];
        for n in [7, 3 * CHUNK + 5] {
            let x0 = Tensor::rand_normal(&[n], 0.0, 2.0, n as u64);
            let seed = Tensor::rand_normal(&[n], 0.0, 1.0, 1 + n as u64);
            for (f, f_owned) in pairs {
                let g = Graph::new();
                let x = g.leaf(x0.clone());
                let y = f(&x).unwrap();
                let want = y.backward_with(seed.clone()).unwrap().wrt(&x).unwrap().clone();
                let g = Graph::new();
                let x = g.leaf(x0.clone());
                // x's value is shared with x0 here: computed in a copy, x0 unchanged
                let z = f_owned(x.clone()).unwrap();
                z.retain_grad();
                assert_eq!(z.value(), y.value());
                let grads = z.backward_with(seed.clone()).unwrap();
                assert_eq!(grads.wrt(&x).unwrap(), &want);
                assert_eq!(grads.wrt(&z).unwrap(), &seed, "the retained gradient is the seed");
                assert_eq!(x.value(), &x0);
            }
        }
    }

    #[test]
    fn owned_input_is_overwritten_in_place() {
        let g = Graph::new();
        let x = g.leaf(Tensor::from_vec(vec![-1.0, 2.0, 0.0, -3.0], &[4]).unwrap());
        let y = crate::ops::scale(&x, 1.0).unwrap();
        let ptr = y.value().data().as_ptr();
        let r = relu_owned(y).unwrap();
        assert_eq!(r.value().data().as_ptr(), ptr);
        assert_eq!(r.value().data(), &[0.0, 2.0, 0.0, 0.0]);
        let gr = r.backward_with(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4]).unwrap()).unwrap();
        assert_eq!(gr.wrt(&x).unwrap().data(), &[0.0, 2.0, 0.0, 0.0]);
    }
}
