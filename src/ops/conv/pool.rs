//! A convolution, its ReLU and the max pool after it as one op:
//!
//! ```text
//! y = relu(max_pool(conv2d(x, w) + b))      (= max_pool(relu(conv2d(x, w) + b)))
//! ```
//!
//! Why: a CNN's first convolution has the largest output of the network (keras-hw3: 64
//! planes of 44x44 per image, 63 MB for a batch of 128), and pooling it right away shrinks it
//! 4x. Run as two ops, that output is written to memory by the convolution, read back by the
//! pool, and in the backward pass its gradient is written in full by the pool and read again
//! by the convolution. Here each group of images is convolved into scratch and pooled while it
//! is in cache; the backward pass rebuilds the convolution's output gradient per group, in
//! cache, from the pooled gradient and the argmax. The op keeps only the pooled output and its
//! argmax for the backward pass, not the convolution's output.
//!
//! It gives the bits of [`conv2d`] followed by [`max_pool2d_relu`], values and the gradients
//! of `x`, `w` and `b` (the same f32 operations in the same order; the tests compare them).
//! Convolutions that take Winograd (see the module docs of [`super`]) run as those two ops:
//! their transforms work on whole tile rows, not on the pool's windows.

use super::{checked_geometry, conv2d, cpu_kernel};
use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::ops::pool::{max_pool2d_relu, window};
use crate::tensor::Tensor;

const OP: &str = "conv2d_relu_max_pool";

/// The max pool of [`conv2d_relu_max_pool`]: window `kernel = (kh, kw)`, `stride = (sh, sw)`,
/// and a zero padding `pad = [top, bottom, left, right]` around the convolution's output (a
/// Keras `ZeroPadding2D` before the pool), as in [`crate::ops::max_pool2d_padded`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPoolArgs {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub pad: [usize; 4],
}

/// `relu(max_pool(conv2d(x, w, b)))` (see the module docs): `x: [N, C, H, W]`,
/// `w: [O, C, kh, kw]`, `b: [O]`, convolution `stride` and symmetric `padding` as in
/// [`conv2d`], then the max pool `pool` of the ReLU'd output; gives `[N, O, poh, pow]`.
///
/// The same errors as [`conv2d`] and [`crate::ops::max_pool2d_padded`], for the shapes each sees.
pub fn conv2d_relu_max_pool(x: &Var, w: &Var, b: Option<&Var>, stride: (usize, usize), padding: (usize, usize), pool: MaxPoolArgs) -> Result<Var> {
    let g = checked_geometry(x, w, b, stride, padding)?;
    if g.winograd().is_some() {
        return max_pool2d_relu(&conv2d(x, w, b, stride, padding)?, pool.kernel, pool.stride, pool.pad);
    }
    let win = window("max_pool2d", &[g.n, g.o, g.pt.oh, g.pt.ow], pool.kernel, pool.stride, pool.pad)?;
    let (poh, pow) = win.out().expect("checked by window()");
    let record = x.graph().is_recording() && [Some(x), Some(w), b].into_iter().flatten().any(|v| v.requires_grad());
    let (y, arg) = cpu_kernel::forward_max_pool_relu(&g, x.value().data(), w.value().data(), b.map(|b| b.value().data()), &win, record);
    let y = Tensor::from_vec(y, &[g.n, g.o, poh, pow])?;
    let Some(arg) = arg else {
        return Ok(Var::from_op(OP, &[x], y, |_, _| Err(Error::invalid(OP, "no gradient was recorded"))));
    };
    let (xv, wv, yv) = (x.value().clone(), w.value().clone(), y.clone());
    let has_bias = b.is_some();
    let backward = move |gr: &Tensor, need: &[bool]| {
        if gr.shape() != yv.shape() {
            return Err(Error::shape(OP, yv.shape(), gr.shape()));
        }
        let need = [need[0], need[1], need.get(2).copied().unwrap_or(false)];
        let dy = cpu_kernel::PooledDy { plane: poh * pow, yv: yv.data(), gy: gr.data(), arg: &arg };
        let gr = cpu_kernel::backward_im2col(&g, xv.data(), wv.data(), cpu_kernel::Dy::Pooled(dy), need);
        let mut out = vec![gr.dx.map(|d| Tensor::from_vec(d, xv.shape())).transpose()?, gr.dw.map(|d| Tensor::from_vec(d, wv.shape())).transpose()?];
        if has_bias {
            out.push(gr.db.map(|d| Tensor::from_vec(d, &[g.o])).transpose()?);
        }
        Ok(out)
    };
    Ok(match b {
        Some(b) => Var::from_op(OP, &[x, w, b], y, backward),
        None => Var::from_op(OP, &[x, w], y, backward),
    })
}
