//! Max and average pooling over NCHW images, without padding ("valid", like Keras'
//! `MaxPooling2D` / `AveragePooling2D` and PyTorch's defaults), or with zero padding folded in
//! (the `_padded` variants: a `ZeroPadding2D` layer and the pool after it in one pass): for
//! kernel `(kh, kw)` and stride `(sh, sw)`,
//!
//! ```text
//! oh = floor((H - kh) / sh) + 1,   ow = floor((W - kw) / sw) + 1
//! max:  y[i, j] = max_{u<kh, v<kw} x[i·sh + u, j·sw + v]
//! avg:  y[i, j] = (1 / (kh·kw)) Σ_{u<kh, v<kw} x[i·sh + u, j·sw + v]
//! ```
//!
//! Any kernel/stride pair works, overlapping (3x3 stride 2) or not. Backward: max pooling
//! routes each output gradient to the input that won (on ties the first maximum in row-major
//! window order, as PyTorch does, remembered as an argmax in the forward pass); average pooling spreads `g / (kh·kw)` over the window.
//! Windows may overlap, so an input gathers gradient from every window that contains it.

mod cpu_kernel;

use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use cpu_kernel::PoolGeom;
use pupil_kernels::Window;

fn geometry(op: &'static str, xs: &[usize], kernel: (usize, usize), stride: (usize, usize), pad: [usize; 4]) -> Result<PoolGeom> {
    if xs.len() != 4 {
        return Err(Error::Shape { op, lhs: xs.to_vec(), rhs: vec![kernel.0, kernel.1], detail: "needs an [N, C, H, W] input and a (kh, kw) kernel".into() });
    }
    if kernel.0 == 0 || kernel.1 == 0 || stride.0 == 0 || stride.1 == 0 {
        return Err(Error::invalid(op, format!("kernel {kernel:?} and stride {stride:?} must be at least 1")));
    }
    let (h, w) = (xs[2], xs[3]);
    let win = Window { h, w, kh: kernel.0, kw: kernel.1, sh: stride.0, sw: stride.1, pad };
    if !win.fits_keys() {
        return Err(Error::Shape {
            op,
            lhs: xs.to_vec(),
            rhs: pad.to_vec(),
            detail: "the padded plane is too large for pooling (each side must be below 65528)".into(),
        });
    }
    let Some((oh, ow)) = win.out() else {
        return Err(Error::Shape {
            op,
            lhs: xs.to_vec(),
            rhs: vec![kernel.0, kernel.1],
            detail: format!("kernel {}x{} is larger than the input {h}x{w} padded by {pad:?}", kernel.0, kernel.1),
        });
    };
    Ok(PoolGeom { planes: xs[0] * xs[1], win, oh, ow })
}

/// The window of a pooling call on input shape `xs` (checked as the pooling ops check it).
pub(crate) fn window(op: &'static str, xs: &[usize], kernel: (usize, usize), stride: (usize, usize), pad: [usize; 4]) -> Result<Window> {
    geometry(op, xs, kernel, stride, pad).map(|g| g.win)
}

/// Max pooling of `x: [N, C, H, W]` with window `kernel = (kh, kw)` and `stride = (sh, sw)`,
/// no padding; gives `[N, C, oh, ow]` (see the module docs).
///
/// Errors naming the shapes if `x` is not 4-D or the kernel is larger than the input;
/// `Error::Invalid` on a zero kernel or stride.
pub fn max_pool2d(x: &Var, kernel: (usize, usize), stride: (usize, usize)) -> Result<Var> {
    max_pool2d_padded(x, kernel, stride, [0; 4])
}

/// Max pooling of `x` zero-padded by `pad = [top, bottom, left, right]`: exactly
/// `max_pool2d(pad2d(x, top, bottom, left, right), kernel, stride)`, values and gradient, in one
/// pass without the padded copy (a padding zero that wins a window takes its gradient nowhere,
/// as the padding's crop would). Same errors as [`max_pool2d`].
///
/// When no gradient can be asked of the result (a [`Graph::no_grad`](crate::autograd::Graph::no_grad)
/// graph, or an input that needs none) only the values are computed: no argmax is kept.
pub fn max_pool2d_padded(x: &Var, kernel: (usize, usize), stride: (usize, usize), pad: [usize; 4]) -> Result<Var> {
    max_pool(x, kernel, stride, pad, false)
}

/// `relu(max_pool2d_padded(x, kernel, stride, pad))`, which is exactly
/// `max_pool2d_padded(relu(x), kernel, stride, pad)`, values and gradient, without a ReLU pass
/// over the larger input or keeping its output for the backward pass (a CNN's largest tensor
/// is the ReLU output of its first convolution, before the first pool).
///
/// Why the two orders agree bit for bit: ReLU is monotonic, so the maximum of the rectified
/// window is the rectified maximum (NaN wins a window either way, and ReLU keeps NaN). A
/// window whose maximum is positive has the same winner in both (the first maximum in
/// row-major order; a padding zero never wins over a positive value), and its gradient passes
/// through the ReLU at that input, whose value is the window's output. A window whose maximum
/// is not positive gives 0 in both orders and sends its input nothing: ReLU's derivative is 0
/// there whichever input won. So the backward masks the output gradient by `y > 0` (ReLU's
/// own rule, on the output) and routes it to the winners, adding the same values in the same
/// order. Same errors as [`max_pool2d`].
pub fn max_pool2d_relu(x: &Var, kernel: (usize, usize), stride: (usize, usize), pad: [usize; 4]) -> Result<Var> {
    max_pool(x, kernel, stride, pad, true)
}

/// [`max_pool2d_padded`], or with `relu` [`max_pool2d_relu`].
fn max_pool(x: &Var, kernel: (usize, usize), stride: (usize, usize), pad: [usize; 4], relu: bool) -> Result<Var> {
    let op = if relu { "max_pool2d_relu" } else { "max_pool2d" };
    let g = geometry("max_pool2d", x.shape(), kernel, stride, pad)?;
    let record = x.graph().is_recording() && x.requires_grad();
    let (y, arg) = cpu_kernel::max_forward(&g, x.value().data(), record, relu);
    let s = x.shape();
    let y = Tensor::from_vec(y, &[s[0], s[1], g.oh, g.ow])?;
    let Some(arg) = arg else {
        return Ok(Var::from_op(op, &[x], y, move |_, _| Err(Error::invalid(op, "no gradient was recorded"))));
    };
    // the ReLU's derivative needs the output; the plain pool keeps only the winners
    let (xshape, yv) = (s.to_vec(), relu.then(|| y.clone()));
    Ok(Var::from_op_owned(op, &[x], y, move |mut gr, _| {
        if let Some(yv) = &yv {
            if gr.shape() != yv.shape() {
                return Err(Error::shape(op, yv.shape(), gr.shape()));
            }
            crate::ops::activation::par_update2(gr.data_mut(), yv.data(), crate::ops::activation::relu_grad);
        }
        Ok(vec![Some(Tensor::from_vec(cpu_kernel::max_backward(&g, gr.data(), &arg), &xshape)?)])
    }))
}

/// Average pooling of `x: [N, C, H, W]` with window `kernel` and `stride`, no padding; every
/// window is divided by `kh·kw`. Same shapes and errors as [`max_pool2d`].
pub fn avg_pool2d(x: &Var, kernel: (usize, usize), stride: (usize, usize)) -> Result<Var> {
    avg_pool2d_padded(x, kernel, stride, [0; 4])
}

/// Average pooling of `x` zero-padded by `pad = [top, bottom, left, right]`, the padding
/// counted in the divisor: exactly `avg_pool2d(pad2d(x, ...), kernel, stride)`, values and
/// gradient, without the padded copy.
pub fn avg_pool2d_padded(x: &Var, kernel: (usize, usize), stride: (usize, usize), pad: [usize; 4]) -> Result<Var> {
    let g = geometry("avg_pool2d", x.shape(), kernel, stride, pad)?;
    let y = cpu_kernel::avg_forward(&g, x.value().data());
    let s = x.shape();
    let y = Tensor::from_vec(y, &[s[0], s[1], g.oh, g.ow])?;
    let xshape = s.to_vec();
    Ok(Var::from_op("avg_pool2d", &[x], y, move |gr, _| Ok(vec![Some(Tensor::from_vec(cpu_kernel::avg_backward(&g, gr.data()), &xshape)?)])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Graph;

    fn x(g: &Graph) -> Var {
        g.leaf(Tensor::from_vec((0..20).map(|v| ((v * 7) % 20) as f32).collect(), &[1, 1, 4, 5]).unwrap())
    }

    #[test]
    fn max_pool_values_and_routing() {
        let g = Graph::new();
        let x = x(&g);
        // x = [0 7 14 1 8 / 15 2 9 16 3 / 10 17 4 11 18 / 5 12 19 6 13]
        let y = max_pool2d(&x, (2, 2), (2, 2)).unwrap();
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        assert_eq!(y.value().data(), &[15.0, 16.0, 17.0, 19.0]);
        let gr = y.backward_with(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap()).unwrap();
        let d = gr.wrt(&x).unwrap().data();
        assert_eq!((d[5], d[8], d[11], d[17]), (1.0, 2.0, 3.0, 4.0));
        assert_eq!(d.iter().sum::<f32>(), 10.0);
        // overlapping 3x3 stride 1 windows: the 19 at (3, 2) wins twice
        let y = max_pool2d(&x, (3, 3), (1, 1)).unwrap();
        assert_eq!(y.value().data(), &[17.0, 17.0, 18.0, 19.0, 19.0, 19.0]);
    }

    #[test]
    fn avg_pool_values() {
        let g = Graph::new();
        let x = x(&g);
        let y = avg_pool2d(&x, (2, 3), (2, 2)).unwrap();
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        assert_eq!(y.value().data()[0], (0.0 + 7.0 + 14.0 + 15.0 + 2.0 + 9.0) / 6.0);
    }

    #[test]
    fn errors() {
        let g = Graph::new();
        let e = max_pool2d(&x(&g), (5, 2), (1, 1)).unwrap_err().to_string();
        assert!(e.contains("[1, 1, 4, 5]") && e.contains("larger"), "{e}");
        assert!(avg_pool2d(&x(&g), (2, 2), (0, 1)).is_err());
        let e = avg_pool2d(&g.leaf(Tensor::zeros(&[4, 5])), (2, 2), (1, 1)).unwrap_err().to_string();
        assert!(e.contains("[4, 5]"), "{e}");
    }
}
