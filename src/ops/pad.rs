//! Zero padding of NCHW images (Keras `ZeroPadding2D`).

use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use pupil_kernels::zeroed;
use rayon::prelude::*;

/// Planes per parallel task: padding is a copy, so tasks must be large to pay.
const PLANES_PER_TASK: usize = 64;

/// Copies every `[h][w]` plane of `src` into the `[h2][w2]` plane of `dst` at row `top`,
/// column `left` (`crop == false`), or the reverse: the window of each `dst`-shaped plane
/// back out into `src`-shaped planes (`crop == true`).
fn copy_planes(src: &[f32], dst: &mut [f32], (h, w): (usize, usize), (h2, w2): (usize, usize), (top, left): (usize, usize), crop: bool) {
    let (small, big) = (h * w, h2 * w2);
    let (slen, dlen) = if crop { (big, small) } else { (small, big) };
    if slen == 0 || dlen == 0 {
        return;
    }
    let task = |(s, d): (&[f32], &mut [f32])| {
        for (s, d) in s.chunks_exact(slen).zip(d.chunks_exact_mut(dlen)) {
            for r in 0..h {
                let b = (top + r) * w2 + left;
                if crop {
                    d[r * w..(r + 1) * w].copy_from_slice(&s[b..b + w]);
                } else {
                    d[b..b + w].copy_from_slice(&s[r * w..(r + 1) * w]);
                }
            }
        }
    };
    src.par_chunks(PLANES_PER_TASK * slen).zip(dst.par_chunks_mut(PLANES_PER_TASK * dlen)).for_each(task);
}

/// Zero-pads `x: [N, C, H, W]` to `[N, C, top + H + bottom, left + W + right]`.
///
/// Backward crops the gradient back to `[N, C, H, W]`: `dx = g[:, :, top..top+H, left..left+W]`.
pub fn pad2d(x: &Var, top: usize, bottom: usize, left: usize, right: usize) -> Result<Var> {
    let s = x.shape().to_vec();
    if s.len() != 4 {
        return Err(Error::Shape { op: "pad2d", lhs: s, rhs: vec![], detail: "needs an [N, C, H, W] input".into() });
    }
    let (h, w) = (s[2], s[3]);
    let (Some(h2), Some(w2)) = (top.checked_add(h).and_then(|v| v.checked_add(bottom)), left.checked_add(w).and_then(|v| v.checked_add(right))) else {
        return Err(Error::invalid("pad2d", format!("padding ({top}, {bottom}, {left}, {right}) is too large")));
    };
    if s[0].checked_mul(s[1]).and_then(|v| v.checked_mul(h2)).and_then(|v| v.checked_mul(w2)).is_none_or(|n| n > 1 << 34) {
        return Err(Error::invalid("pad2d", format!("padded shape [{}, {}, {h2}, {w2}] is too large", s[0], s[1])));
    }
    let out_shape = [s[0], s[1], h2, w2];
    let mut y = zeroed(s[0] * s[1] * h2 * w2);
    copy_planes(x.value().data(), &mut y, (h, w), (h2, w2), (top, left), false);
    let y = Tensor::from_vec(y, &out_shape)?;
    Ok(Var::from_op("pad2d", &[x], y, move |g, _| {
        let mut dx = zeroed(s.iter().product());
        copy_planes(g.data(), &mut dx, (h, w), (h2, w2), (top, left), true);
        Ok(vec![Some(Tensor::from_vec(dx, &s)?)])
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Graph;

    #[test]
    fn pads_and_crops() {
        let g = Graph::new();
        let x = g.leaf(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap());
        let y = pad2d(&x, 1, 0, 0, 2).unwrap();
        assert_eq!(y.shape(), &[1, 1, 3, 4]);
        assert_eq!(y.value().data(), &[0., 0., 0., 0., 1., 2., 0., 0., 3., 4., 0., 0.]);
        let seed = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[1, 1, 3, 4]).unwrap();
        let gr = y.backward_with(seed).unwrap();
        assert_eq!(gr.wrt(&x).unwrap().data(), &[4.0, 5.0, 8.0, 9.0]);
        let e = pad2d(&g.leaf(Tensor::zeros(&[2, 3])), 1, 1, 1, 1).unwrap_err().to_string();
        assert!(e.contains("[2, 3]"), "{e}");
    }
}
