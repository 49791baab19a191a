//! 2-D convolution (cross-correlation, like Keras and PyTorch) as im2col + GEMM.
//!
//! For one image `x: [C, H, W]` and weight `W: [O, C, kh, kw]` with stride `(sh, sw)` and
//! symmetric zero padding `(ph, pw)`:
//!
//! ```text
//! y[o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x[c, i·sh + u - ph, j·sw + v - pw]
//! oh = (H + 2·ph - kh) / sh + 1,   ow = (W + 2·pw - kw) / sw + 1     (floor)
//! ```
//!
//! `im2col` lays the receptive field of every output pixel out as one column of a
//! `[C·kh·kw] x [oh·ow]` matrix `cols`, so the convolution is one matrix product
//! `Y = W · cols` with `W` read as `[O] x [C·kh·kw]`. Backward follows from the product rule:
//!
//! ```text
//! dW = Σ_n dY_n · cols_nᵀ        db[o] = Σ_n Σ_ij dY[n, o, i, j]
//! dX_n = col2im(Wᵀ · dY_n)       (col2im adds each column back onto the pixels it came from)
//! ```
//!
//! A 3x3 stride-1 convolution with at least 8 input and output channels and padding at most 2
//! takes Winograd F(2x2, 3x3) instead (`pupil_kernels::winograd`: 2.25x fewer multiplications),
//! for the forward pass and for `dX`, which is the same kind of convolution of `dY` with the
//! flipped, transposed filters and padding `2 - p`; on AVX-512 `dW` too (else im2col + GEMM),
//! and `db` stays a plain sum. On AVX-512 all three take F(4x4, 3x3) (4x fewer) or F(3x3, 3x3)
//! (3.24x fewer) where the larger tiles do not overhang the output much (`Wino::preferred`:
//! F(4x4) on 22x22 maps, F(3x3) on 9x9 ones, F(2x2) on 10x10 ones). On AVX-512, 5x5 stride-1 convolutions with padding at most 4
//! take F(2x2, 5x5) the same way (2.78x fewer multiplications).
//! `bench --layers` counts the direct convolution's FLOPs, so a Winograd layer can show more
//! than 100% of the FMA peak. Its results differ from im2col's by f32 rounding only (the tests
//! check 1e-4 relative on the seed shapes).
//!
//! With one input channel, stride 1 and a kernel side of at most 11 (a first layer on grayscale
//! images), the forward pass on AVX-512 is a direct convolution in registers instead (`pupil_kernels::direct`): with
//! `kh·kw` rows, the column matrix costs more to write than the GEMM saves. A convolution whose
//! ReLU'd output goes straight into a max pool can run as one op, [`conv2d_relu_max_pool`].
//!
//! Images are processed in parallel (rayon). `dW` and `db` are reduced over fixed-size chunks
//! of images in chunk order, so results are bit-identical whatever the number of threads.
//! The loops live in `cpu_kernel/` (forward passes in `mod.rs`, gradients in `backward.rs`).

mod cpu_kernel;
mod pool;

pub use pool::{conv2d_relu_max_pool, MaxPoolArgs};

use super::BatchNormState;
use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use cpu_kernel::{Geom, Weights};
use pupil_kernels::{out_size, Patches};

/// Largest padded side accepted (`H + 2·ph`, `W + 2·pw`): beyond it a shape is a mistake, and
/// the output buffers it implies would not fit in memory.
const MAX_PADDED_SIDE: usize = 1 << 24;

/// `out_size` for one axis, None also when the padded side exceeds [`MAX_PADDED_SIDE`].
fn axis_out(size: usize, k: usize, stride: usize, pad: usize) -> Option<usize> {
    pad.checked_mul(2).and_then(|p| p.checked_add(size)).filter(|&p| p <= MAX_PADDED_SIDE)?;
    out_size(size, k, stride, pad)
}

fn geometry(xs: &[usize], ws: &[usize], stride: (usize, usize), padding: (usize, usize)) -> Result<Geom> {
    let shape_err = |detail: String| Error::Shape { op: "conv2d", lhs: xs.to_vec(), rhs: ws.to_vec(), detail };
    if xs.len() != 4 || ws.len() != 4 {
        return Err(shape_err("needs input [N, C, H, W] and weight [O, C, kh, kw]".into()));
    }
    if stride.0 == 0 || stride.1 == 0 {
        return Err(Error::invalid("conv2d", format!("stride must be at least 1, got {stride:?}")));
    }
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let (o, kh, kw) = (ws[0], ws[2], ws[3]);
    if c != ws[1] {
        return Err(shape_err(format!("input has {c} channels but the weight expects {}", ws[1])));
    }
    if c == 0 || o == 0 || kh == 0 || kw == 0 {
        return Err(shape_err("channels, filters and kernel sizes must be at least 1".into()));
    }
    let (Some(oh), Some(ow)) = (axis_out(h, kh, stride.0, padding.0), axis_out(w, kw, stride.1, padding.1)) else {
        let padded = |s: usize, p: usize| p.saturating_mul(2).saturating_add(s);
        let (hp, wp) = (padded(h, padding.0), padded(w, padding.1));
        if hp.max(wp) > MAX_PADDED_SIDE {
            return Err(shape_err(format!("the padded input {hp}x{wp} (padding {padding:?}) is larger than {MAX_PADDED_SIDE} per side")));
        }
        return Err(shape_err(format!("kernel {kh}x{kw} is larger than the padded input {hp}x{wp} (padding {padding:?})")));
    };
    let pt = Patches { c, h, w, kh, kw, sh: stride.0, sw: stride.1, ph: padding.0, pw: padding.1, oh, ow };
    Ok(Geom { n, o, pt })
}

/// 2-D convolution of `x: [N, C, H, W]` with `w: [O, C, kh, kw]` and optional bias `b: [O]`,
/// giving `[N, O, oh, ow]`. `padding = (ph, pw)` adds `ph` zero rows on top and bottom and `pw`
/// zero columns left and right; `stride >= 1`. See the module docs for the math.
///
/// Errors (naming both shapes) on wrong ndim, a channel mismatch, a bias that is not `[O]`, or
/// a kernel larger than the padded input; `Error::Invalid` on a zero stride.
///
/// Backward computes `dX` only when `x` needs a gradient (not for the first layer's input).
pub fn conv2d(x: &Var, w: &Var, b: Option<&Var>, stride: (usize, usize), padding: (usize, usize)) -> Result<Var> {
    let g = checked_geometry(x, w, b, stride, padding)?;
    // weights that take no gradient keep their filter transforms (`cpu_kernel::Weights`)
    let keep = !w.requires_grad();
    let y = cpu_kernel::forward(&g, x.value().data(), Weights { values: w.value(), keep }, b.map(|b| b.value().data()), None);
    let y = Tensor::from_vec(y, &[g.n, g.o, g.pt.oh, g.pt.ow])?;
    let (xv, wv) = (x.value().clone(), w.value().clone());
    let (xshape, wshape) = (xv.shape().to_vec(), wv.shape().to_vec());
    let has_bias = b.is_some();
    let backward = move |gr: &Tensor, need: &[bool]| {
        let need = [need[0], need[1], need.get(2).copied().unwrap_or(false)];
        let gr = cpu_kernel::backward(&g, xv.data(), Weights { values: &wv, keep }, gr.data(), need);
        let mut out = vec![gr.dx.map(|d| Tensor::from_vec(d, &xshape)).transpose()?, gr.dw.map(|d| Tensor::from_vec(d, &wshape)).transpose()?];
        if has_bias {
            out.push(gr.db.map(|d| Tensor::from_vec(d, &[g.o])).transpose()?);
        }
        Ok(out)
    };
    Ok(match b {
        Some(b) => Var::from_op("conv2d", &[x, w, b], y, backward),
        None => Var::from_op("conv2d", &[x, w], y, backward),
    })
}

/// [`geometry`], and the bias checked against it.
fn checked_geometry(x: &Var, w: &Var, b: Option<&Var>, stride: (usize, usize), padding: (usize, usize)) -> Result<Geom> {
    let g = geometry(x.shape(), w.shape(), stride, padding)?;
    if let Some(b) = b {
        if b.shape() != [g.o] {
            return Err(Error::Shape {
                op: "conv2d",
                lhs: b.shape().to_vec(),
                rhs: w.shape().to_vec(),
                detail: format!("bias must be [{}] for this weight", g.o),
            });
        }
    }
    Ok(g)
}

/// Batch norm in evaluation mode: scale γ, shift β and the running statistics (see
/// [`crate::ops::batch_norm`]).
pub struct BatchNormEval<'a> {
    pub gamma: &'a Var,
    pub beta: &'a Var,
    pub state: &'a BatchNormState,
}

/// Inference `relu(batch_norm(conv2d(x, w, b)))`, the batch norm (evaluation mode) and the
/// ReLU each optional. When nothing needs a gradient (a [`Graph::no_grad`](crate::autograd::Graph::no_grad)
/// graph, or no input requires one), the batch norm and ReLU run on each group of images as
/// soon as the convolution has written it, while it is in cache, instead of as two more passes
/// over the whole output: the same f32 operations in the same order as the three ops, so the
/// same bits. Otherwise (a tape that needs them) it is the three ops.
pub fn conv2d_bn_relu(
    x: &Var,
    w: &Var,
    b: Option<&Var>,
    stride: (usize, usize),
    padding: (usize, usize),
    bn: Option<BatchNormEval>,
    relu: bool,
) -> Result<Var> {
    conv2d_epilogue(x, w, b, stride, padding, Epilogue { bn, relu, pool: None })
}

/// What [`conv2d_epilogue`] applies to a convolution's output, in this order, each optional: a
/// batch norm in evaluation mode, a ReLU, a max pool (a zero padding folded into it as in
/// [`crate::ops::max_pool2d_padded`]).
pub struct Epilogue<'a> {
    pub bn: Option<BatchNormEval<'a>>,
    pub relu: bool,
    pub pool: Option<MaxPoolArgs>,
}

/// [`conv2d`] and then `after`: on a graph that records nothing, each group of images is
/// convolved, mapped and (with a pool) pooled while it is in cache
/// (`cpu_kernel::forward_pooled`), so the convolution's output is never stored when a pool
/// follows; the bits of the ops one after the other. On a graph that records gradients, those
/// ops. [`conv2d_bn_relu`] is this without a pool.
///
/// The errors of [`conv2d`], [`crate::ops::batch_norm`] and [`crate::ops::max_pool2d_padded`].
pub fn conv2d_epilogue(x: &Var, w: &Var, b: Option<&Var>, stride: (usize, usize), padding: (usize, usize), after: Epilogue) -> Result<Var> {
    let Epilogue { bn, relu, pool } = after;
    let leaves = [Some(x), Some(w), b, bn.as_ref().map(|n| n.gamma), bn.as_ref().map(|n| n.beta)];
    if x.graph().is_recording() && leaves.iter().flatten().any(|v| v.requires_grad()) {
        let mut y = conv2d(x, w, b, stride, padding)?;
        if let Some(n) = &bn {
            y = super::batch_norm(&y, n.gamma, n.beta, &mut n.state.clone(), false)?;
        }
        if relu {
            y = super::activation::relu_owned(y)?;
        }
        return match pool {
            Some(p) => crate::ops::max_pool2d_padded(&y, p.kernel, p.stride, p.pad),
            None => Ok(y),
        };
    }
    let g = checked_geometry(x, w, b, stride, padding)?;
    let shape = [g.n, g.o, g.pt.oh, g.pt.ow];
    let affine = match &bn {
        Some(n) => Some(super::batchnorm::eval_map(&shape, n.gamma.value().data(), n.beta.value().data(), n.state)?),
        None => None,
    };
    let post = cpu_kernel::Post { affine: affine.as_ref().map(|(m, s, t)| (&m[..], &s[..], &t[..])), relu };
    let (xd, wd, bd) = (x.value().data(), Weights { values: w.value(), keep: !w.requires_grad() }, b.map(|b| b.value().data()));
    let (op, y, out) = match pool {
        Some(p) => {
            let win = crate::ops::pool::window("max_pool2d", &shape, p.kernel, p.stride, p.pad)?;
            let (poh, pow) = win.out().expect("checked by window()");
            ("conv2d_epilogue", cpu_kernel::forward_pooled(&g, xd, wd, bd, &post, &win), [g.n, g.o, poh, pow])
        }
        None => ("conv2d", cpu_kernel::forward(&g, xd, wd, bd, Some(&post)), shape),
    };
    // nothing is recorded (see above), so the backward is never called
    Ok(Var::from_op(op, &[x], Tensor::from_vec(y, &out)?, move |_, _| Err(Error::invalid(op, "a fused inference convolution has no backward"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Graph;

    fn var(g: &Graph, shape: &[usize], seed: u64) -> Var {
        g.leaf(Tensor::rand_normal(shape, 0.0, 1.0, seed))
    }

    /// On a graph that records nothing, `conv2d_bn_relu` gives the bits of the three ops one
    /// after the other, on every path (one image and groups on im2col, pointwise, Winograd),
    /// with each of the batch norm and the ReLU on or off, with NaN and infinite inputs; on a
    /// recording graph whose inputs need gradients it is the three ops on the tape.
    #[test]
    fn fused_inference_equals_the_three_ops() {
        // (and conv2d_epilogue with a pool the four)
        use crate::ops::{batch_norm, relu};
        // (n, c, h, o, k, pad): im2col 5x5 one image and groups, pointwise, Winograd
        for (n, c, h, o, k, p) in [(1, 3, 12, 5, 5, 0), (5, 3, 9, 6, 5, 2), (3, 4, 6, 7, 1, 0), (3, 8, 10, 9, 3, 1)] {
            let mut xv = Tensor::rand_normal(&[n, c, h, h], 0.0, 1.0, 1);
            xv.data_mut()[3] = f32::NAN;
            xv.data_mut()[7] = f32::INFINITY;
            let (wv, bv) = (Tensor::rand_normal(&[o, c, k, k], 0.0, 0.3, 2), Tensor::rand_normal(&[o], 0.0, 0.3, 3));
            let mut state = BatchNormState::new(o, 0.1, 1e-3);
            state.running_mean = Tensor::rand_normal(&[o], 0.0, 0.5, 4).data().to_vec();
            state.running_var = Tensor::rand_uniform(&[o], 0.2, 2.0, 5).data().to_vec();
            let (gm, bt) = (Tensor::rand_normal(&[o], 1.0, 0.3, 6), Tensor::rand_normal(&[o], 0.0, 0.3, 7));
            for (with_bn, with_relu) in [(true, true), (true, false), (false, true), (false, false)] {
                let g = Graph::no_grad();
                let (x, w, b, gamma, beta) =
                    (g.constant(xv.clone()), g.constant(wv.clone()), g.constant(bv.clone()), g.constant(gm.clone()), g.constant(bt.clone()));
                let mut want = conv2d(&x, &w, Some(&b), (1, 1), (p, p)).unwrap();
                if with_bn {
                    want = batch_norm(&want, &gamma, &beta, &mut state.clone(), false).unwrap();
                }
                if with_relu {
                    want = relu(&want).unwrap();
                }
                let bn = with_bn.then_some(BatchNormEval { gamma: &gamma, beta: &beta, state: &state });
                let got = conv2d_bn_relu(&x, &w, Some(&b), (1, 1), (p, p), bn, with_relu).unwrap();
                let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(got.shape(), want.shape());
                assert!(bits(got.value()) == bits(want.value()), "n={n} c={c} k={k} bn={with_bn} relu={with_relu}");
                // and with a max pool after them (stride 2, and stride 1 over a padding)
                for pool in [MaxPoolArgs { kernel: (2, 2), stride: (2, 2), pad: [0; 4] }, MaxPoolArgs { kernel: (3, 3), stride: (1, 1), pad: [1, 0, 1, 0] }] {
                    let want = crate::ops::max_pool2d_padded(&want, pool.kernel, pool.stride, pool.pad).unwrap();
                    let bn = with_bn.then_some(BatchNormEval { gamma: &gamma, beta: &beta, state: &state });
                    let got = conv2d_epilogue(&x, &w, Some(&b), (1, 1), (p, p), Epilogue { bn, relu: with_relu, pool: Some(pool) }).unwrap();
                    assert_eq!(got.shape(), want.shape());
                    assert!(bits(got.value()) == bits(want.value()), "pooled {pool:?}: n={n} c={c} k={k} bn={with_bn} relu={with_relu}");
                }
            }
            // on a tape that needs them: the three ops, with their gradients
            let g = Graph::new();
            let (x, w, b, gamma, beta) = (g.leaf(xv.clone()), g.leaf(wv.clone()), g.constant(bv.clone()), g.leaf(gm.clone()), g.constant(bt.clone()));
            let y = conv2d_bn_relu(&x, &w, Some(&b), (1, 1), (p, p), Some(BatchNormEval { gamma: &gamma, beta: &beta, state: &state }), true).unwrap();
            let grads = crate::ops::sum(&y).unwrap().backward().unwrap();
            assert!(grads.wrt(&x).is_some() && grads.wrt(&w).is_some() && grads.wrt(&gamma).is_some());
            let pool = MaxPoolArgs { kernel: (2, 2), stride: (2, 2), pad: [0; 4] };
            let y = conv2d_epilogue(
                &x,
                &w,
                Some(&b),
                (1, 1),
                (p, p),
                Epilogue { bn: Some(BatchNormEval { gamma: &gamma, beta: &beta, state: &state }), relu: true, pool: Some(pool) },
            )
            .unwrap();
            let grads = crate::ops::sum(&y).unwrap().backward().unwrap();
            assert!(grads.wrt(&x).is_some() && grads.wrt(&w).is_some() && grads.wrt(&gamma).is_some());
        }
    }

    #[test]
    fn out_size_floors_like_keras() {
        assert_eq!(axis_out(48, 5, 1, 0), Some(44));
        assert_eq!(axis_out(44, 5, 2, 0), Some(20));
        assert_eq!(axis_out(22, 3, 1, 1), Some(22));
        assert_eq!(axis_out(2, 3, 1, 0), None);
        assert_eq!(axis_out(2, 3, 1, 1), Some(2));
        // the one formula is pupil_kernels::out_size; conv adds a cap on the padded side
        assert_eq!(axis_out(MAX_PADDED_SIDE - 2, 3, 1, 1), out_size(MAX_PADDED_SIDE - 2, 3, 1, 1));
        assert_eq!(axis_out(MAX_PADDED_SIDE - 1, 3, 1, 1), None);
    }

    #[test]
    fn identity_kernel_copies_the_input() {
        let g = Graph::new();
        let x = var(&g, &[2, 1, 4, 5], 1);
        let mut k = vec![0.0; 9];
        k[4] = 1.0; // centre tap
        let w = g.leaf(Tensor::from_vec(k, &[1, 1, 3, 3]).unwrap());
        let y = conv2d(&x, &w, None, (1, 1), (1, 1)).unwrap();
        assert_eq!(y.value(), x.value());
    }

    #[test]
    fn pointwise_is_a_channel_matmul_plus_bias() {
        let g = Graph::new();
        let x = var(&g, &[1, 2, 1, 3], 2);
        let w = g.leaf(Tensor::from_vec(vec![1.0, 2.0, -1.0, 0.5], &[2, 2, 1, 1]).unwrap());
        let b = g.leaf(Tensor::from_vec(vec![10.0, 20.0], &[2]).unwrap());
        let y = conv2d(&x, &w, Some(&b), (1, 1), (0, 0)).unwrap();
        let xd = x.value().data();
        for j in 0..3 {
            assert!((y.value().data()[j] - (10.0 + xd[j] + 2.0 * xd[3 + j])).abs() < 1e-5);
            assert!((y.value().data()[3 + j] - (20.0 - xd[j] + 0.5 * xd[3 + j])).abs() < 1e-5);
        }
    }

    #[test]
    fn errors_name_shapes() {
        let g = Graph::new();
        let x = var(&g, &[1, 3, 4, 4], 1);
        let e = conv2d(&x, &var(&g, &[2, 2, 3, 3], 2), None, (1, 1), (0, 0)).unwrap_err().to_string();
        assert!(e.contains("[1, 3, 4, 4]") && e.contains("[2, 2, 3, 3]") && e.contains("channels"), "{e}");
        let e = conv2d(&x, &var(&g, &[2, 3, 5, 3], 2), None, (1, 1), (0, 0)).unwrap_err().to_string();
        assert!(e.contains("[1, 3, 4, 4]") && e.contains("[2, 3, 5, 3]") && e.contains("larger"), "{e}");
        assert!(conv2d(&x, &var(&g, &[2, 3, 5, 3], 2), None, (1, 1), (1, 0)).is_ok());
        let e = conv2d(&x, &var(&g, &[2, 3, 3, 3], 2), None, (0, 1), (0, 0)).unwrap_err().to_string();
        assert!(e.contains("stride"), "{e}");
        let e = conv2d(&var(&g, &[3, 4, 4], 3), &var(&g, &[2, 3, 3, 3], 2), None, (1, 1), (0, 0)).unwrap_err().to_string();
        assert!(e.contains("[3, 4, 4]") && e.contains("[2, 3, 3, 3]"), "{e}");
        let e = conv2d(&x, &var(&g, &[2, 3, 3, 3], 2), Some(&var(&g, &[3], 4)), (1, 1), (0, 0)).unwrap_err().to_string();
        assert!(e.contains("[3]") && e.contains("[2, 3, 3, 3]"), "{e}");
    }

    #[test]
    fn padding_alone_can_hold_the_kernel() {
        let g = Graph::new();
        let x = var(&g, &[2, 1, 0, 3], 1);
        let y = conv2d(&x, &var(&g, &[2, 1, 1, 1], 2), Some(&var(&g, &[2], 3)), (1, 1), (1, 0)).unwrap();
        assert_eq!(y.shape(), &[2, 2, 2, 3]);
        let gr = y.backward_with(Tensor::ones(y.shape())).unwrap();
        assert_eq!(gr.wrt(&x).unwrap().shape(), &[2, 1, 0, 3]);
    }

    /// Largest |a - b| over the largest |b|; infinite if an `a` is not finite (`f32::max` skips
    /// NaN, so a NaN output would otherwise count as error 0).
    fn rel_err(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        if !a.iter().all(|v| v.is_finite()) {
            return f32::INFINITY;
        }
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
        a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    /// Winograd forward, dX and dW against im2col + GEMM on one geometry (a 3x3 kernel, or
    /// 5x5 with `k` = 5), within `tol` relative.
    fn winograd_vs_im2col(xs: [usize; 4], o: usize, pad: (usize, usize), seed: u64, tol: f32) {
        winograd_k_vs_im2col(3, xs, o, pad, seed, tol);
    }

    fn winograd_k_vs_im2col(k: usize, xs: [usize; 4], o: usize, pad: (usize, usize), seed: u64, tol: f32) {
        let g = geometry(&xs, &[o, xs[1], k, k], (1, 1), pad).unwrap();
        assert!(g.winograd().is_some(), "{xs:?} -> {o} should take Winograd");
        let x = Tensor::rand_normal(&xs, 0.0, 1.0, seed);
        let w = Tensor::rand_normal(&[o, xs[1], k, k], 0.0, 0.1, seed + 1);
        let b = Tensor::rand_normal(&[o], 0.0, 0.1, seed + 2);
        let y = cpu_kernel::forward(&g, x.data(), fresh(&w), Some(b.data()), None);
        let y_ref = cpu_kernel::forward_im2col(&g, x.data(), w.data(), Some(b.data()), None);
        let e = rel_err(&y, &y_ref);
        assert!(e < tol, "forward {xs:?} -> {o}: relative error {e}");
        let dy = Tensor::rand_normal(&[g.n, o, g.pt.oh, g.pt.ow], 0.0, 1.0, seed + 3);
        let all = [true, true, true];
        let gr = cpu_kernel::backward(&g, x.data(), fresh(&w), dy.data(), all);
        let gr_ref = cpu_kernel::backward_im2col(&g, x.data(), w.data(), cpu_kernel::Dy::Dense(dy.data()), all);
        let e = rel_err(gr.dx.as_ref().unwrap(), gr_ref.dx.as_ref().unwrap());
        assert!(e < tol, "dx {xs:?} -> {o}: relative error {e}");
        // dW by the Winograd transforms (AVX-512) sums the same products in another order
        let e = rel_err(gr.dw.as_ref().unwrap(), gr_ref.dw.as_ref().unwrap());
        assert!(e < tol, "dw {xs:?} -> {o}: relative error {e}");
        assert_eq!(gr.db, gr_ref.db);
    }

    /// Weights whose filter transforms are not kept (a training step's).
    fn fresh(w: &Tensor) -> cpu_kernel::Weights<'_> {
        cpu_kernel::Weights { values: w, keep: false }
    }

    /// Weights that take no gradient keep their Winograd filter transforms
    /// ([`Tensor::derived`]); others keep none. Kept ones give the bits of fresh ones: one
    /// weight tensor at several input sizes (forward and dX tiles of 2, 3 and 4, each size's
    /// transforms kept beside the others'), the pooled forward too, again after the others were
    /// kept, and once the weights change (`data_mut`, as the optimiser writes them) every path
    /// uses the new ones: the forward, the flipped filters of dX (3x3) and the transposed ones
    /// of the 5x5 adjoint.
    #[test]
    fn kept_filter_transforms_follow_the_weights() {
        let post = cpu_kernel::Post { affine: None, relu: true };
        for (k, c, o, pad, sides) in [(3, 8, 16, 1, &[22usize, 10, 9, 22][..]), (5, 8, 16, 0, &[14, 22][..])] {
            let ws = [o, c, k, k];
            let mut w = Tensor::rand_normal(&ws, 0.0, 0.1, 3);
            let run = |w: &Tensor, keep: bool, side: usize| {
                let g = geometry(&[2, c, side, side], &ws, (1, 1), (pad, pad)).unwrap();
                let x = Tensor::rand_normal(&[2, c, side, side], 0.0, 1.0, side as u64);
                let dy = Tensor::rand_normal(&[2, o, g.pt.oh, g.pt.ow], 0.0, 1.0, side as u64 + 1);
                let wk = cpu_kernel::Weights { values: w, keep };
                let y = cpu_kernel::forward(&g, x.data(), wk, None, None);
                let dx = cpu_kernel::backward(&g, x.data(), wk, dy.data(), [true, false, false]).dx;
                let win = pupil_kernels::Window { h: g.pt.oh, w: g.pt.ow, kh: 2, kw: 2, sh: 2, sw: 2, pad: [0; 4] };
                let pooled = cpu_kernel::forward_pooled(&g, x.data(), wk, None, &post, &win);
                (y, dx, pooled)
            };
            let mut tiles = std::collections::BTreeSet::new();
            for &side in sides {
                let g = geometry(&[2, c, side, side], &ws, (1, 1), (pad, pad)).unwrap();
                let kept = w.derived_count();
                let fresh = run(&w, false, side);
                assert_eq!(w.derived_count(), kept, "{ws:?} @{side}: weights that take a gradient keep nothing");
                assert_eq!(run(&w, true, side), fresh, "{ws:?} @{side}: kept transforms, first call");
                assert_eq!(run(&w, true, side), fresh, "{ws:?} @{side}: kept transforms, second call");
                if let Some(wg) = g.winograd() {
                    tiles.insert(wg.preferred().m);
                    tiles.insert(wg.input_grad().preferred().m);
                }
            }
            if pupil_kernels::winograd::filter_grad::available() {
                assert!(w.derived_count() >= 2, "{ws:?}: forward and dX filters kept");
                if k == 3 {
                    assert_eq!(tiles.len(), 3, "{ws:?}: sizes {sides:?} should take tiles of 2, 3 and 4, took {tiles:?}");
                }
            }
            let before = run(&w, true, sides[0]);
            w.data_mut().iter_mut().for_each(|v| *v = -2.0 * *v + 0.01);
            let new = Tensor::from_vec(w.data().to_vec(), &ws).unwrap();
            for &side in sides {
                let changed = run(&w, true, side);
                assert_eq!(changed, run(&new, false, side), "{ws:?} @{side}: after a write, the new weights' transforms");
            }
            assert_ne!(run(&w, true, sides[0]).0, before.0, "{ws:?}");
        }
    }

    /// A batch of no images: the Winograd `dW` is all zeros, even when the buffer pool hands
    /// out used buffers (its chunks' partial `dU` are not zeroed before the first group writes
    /// them, so no images must not reach a chunk).
    #[test]
    fn winograd_dw_of_no_images_is_zero() {
        for (k, c, side, o, pad) in [(3, 64, 10, 128, 1), (3, 128, 9, 256, 1), (5, 32, 22, 64, 0)] {
            let ws = [o, c, k, k];
            let w = Tensor::rand_normal(&ws, 0.0, 0.1, 5);
            // fill the pool with used buffers of every size first
            let g = geometry(&[2, c, side, side], &ws, (1, 1), (pad, pad)).unwrap();
            let x = Tensor::rand_normal(&[2, c, side, side], 0.0, 1.0, 6);
            let dy = Tensor::rand_normal(&[2, o, g.pt.oh, g.pt.ow], 0.0, 1.0, 7);
            for _ in 0..3 {
                drop(cpu_kernel::backward(&g, x.data(), fresh(&w), dy.data(), [true, true, true]));
            }
            let g0 = geometry(&[0, c, side, side], &ws, (1, 1), (pad, pad)).unwrap();
            // Winograd's dW (and 5x5 Winograd at all) needs AVX-512; elsewhere im2col's dW of no
            // images must be zero just the same
            if pupil_kernels::winograd::filter_grad::available() {
                assert!(g0.winograd().is_some(), "{c} -> {o} @{side} should take Winograd");
            }
            let gr = cpu_kernel::backward(&g0, &[], fresh(&w), &[], [true, true, true]);
            let dw = gr.dw.expect("dW asked for");
            assert_eq!(dw.len(), ws.iter().product::<usize>());
            assert!(dw.iter().all(|&v| v == 0.0), "{c} -> {o} @{side}: dW of no images {:?}", &dw[..4]);
            assert!(gr.db.unwrap().iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn winograd_matches_im2col_on_seed_shapes() {
        winograd_vs_im2col([3, 64, 22, 22], 64, (1, 1), 1, 1e-4);
        winograd_vs_im2col([9, 64, 10, 10], 128, (1, 1), 2, 1e-4);
        winograd_vs_im2col([9, 128, 10, 10], 128, (1, 1), 3, 1e-4);
        if pupil_kernels::winograd::Fused::available() {
            // alexnet-bn's conv2: 5x5, 32 -> 64 on 22x22, no padding
            winograd_k_vs_im2col(5, [3, 32, 22, 22], 64, (0, 0), 4, 1e-4);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn winograd_matches_im2col(n in 1usize..4, c in 8usize..13, o in 8usize..13, h in 1usize..12, w in 1usize..12,
                                   ph in 0usize..3, pw in 0usize..3, seed in 0u64..1000) {
            proptest::prop_assume!(h + 2 * ph >= 3 && w + 2 * pw >= 3);
            winograd_vs_im2col([n, c, h, w], o, (ph, pw), seed, 1e-5);
        }

        #[test]
        fn winograd_5x5_matches_im2col(n in 1usize..4, c in 8usize..13, o in 8usize..13, h in 1usize..14, w in 1usize..14,
                                       ph in 0usize..5, pw in 0usize..5, seed in 0u64..1000) {
            if !pupil_kernels::winograd::Fused::available() {
                return Ok(()); // 5x5 takes Winograd only with AVX-512
            }
            proptest::prop_assume!(h + 2 * ph >= 5 && w + 2 * pw >= 5);
            winograd_k_vs_im2col(5, [n, c, h, w], o, (ph, pw), seed, 1e-4);
        }
    }

    #[test]
    fn winograd_path_gradcheck() {
        use crate::autograd::{gradcheck, GradcheckOptions};
        let five = pupil_kernels::winograd::Fused::available();
        for (xs, k, pad) in [([2, 8, 5, 4], 3, (1, 1)), ([1, 8, 3, 6], 3, (0, 2)), ([2, 8, 6, 5], 5, (1, 2)), ([1, 8, 3, 7], 5, (4, 0))] {
            if k == 5 && !five {
                continue;
            }
            let ws = [9, 8, k, k];
            assert!(geometry(&xs, &ws, (1, 1), pad).unwrap().winograd().is_some());
            let inputs = [Tensor::rand_normal(&xs, 0.0, 1.0, 5), Tensor::rand_normal(&ws, 0.0, 1.0, 6), Tensor::rand_normal(&[9], 0.0, 1.0, 7)];
            let report = gradcheck(|_, v| conv2d(&v[0], &v[1], Some(&v[2]), (1, 1), pad), &inputs, &GradcheckOptions::default()).unwrap();
            assert!(report.passed(), "{report:?}");
        }
    }

    #[test]
    fn winograd_only_for_3x3_or_5x5_stride_1_with_enough_channels() {
        let wino = |xs: [usize; 4], ws: [usize; 4], s, p| geometry(&xs, &ws, s, p).unwrap().winograd().is_some();
        assert!(wino([1, 8, 6, 6], [8, 8, 3, 3], (1, 1), (1, 1)));
        assert!(!wino([1, 7, 6, 6], [8, 7, 3, 3], (1, 1), (1, 1)));
        assert!(!wino([1, 8, 6, 6], [4, 8, 3, 3], (1, 1), (1, 1)));
        assert!(!wino([1, 8, 6, 6], [8, 8, 3, 3], (2, 1), (1, 1)));
        assert!(!wino([1, 8, 6, 6], [8, 8, 3, 3], (1, 1), (3, 1)));
        // 5x5 only with the fused AVX-512 kernel, padding at most 4
        let five = pupil_kernels::winograd::Fused::available();
        assert_eq!(wino([1, 8, 6, 6], [8, 8, 5, 5], (1, 1), (1, 1)), five);
        assert_eq!(wino([1, 8, 6, 6], [8, 8, 5, 5], (1, 1), (4, 4)), five);
        assert!(!wino([1, 8, 6, 6], [8, 8, 5, 5], (1, 1), (5, 0)));
        assert!(!wino([1, 8, 6, 6], [8, 8, 5, 5], (2, 2), (1, 1)));
        assert!(!wino([1, 1, 6, 6], [8, 1, 5, 5], (1, 1), (1, 1)));
        assert!(!wino([1, 8, 6, 6], [8, 8, 5, 3], (1, 1), (1, 1)));
        assert!(!wino([1, 8, 9, 9], [8, 8, 7, 7], (1, 1), (1, 1)));
    }

    #[test]
    fn empty_batch_gives_empty_output() {
        let g = Graph::new();
        let y = conv2d(&var(&g, &[0, 2, 5, 5], 1), &var(&g, &[3, 2, 3, 3], 2), None, (1, 1), (0, 0)).unwrap();
        assert_eq!(y.shape(), &[0, 3, 3, 3]);
    }
}
