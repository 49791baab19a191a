//! 2-D max and average pooling over planes (`[planes][h][w]`, planes = N*C),
//! no padding, any kernel/stride pair. Output `[planes][oh][ow]` with
//! `oh = (h - kh)/sh + 1`, `ow = (w - kw)/sw + 1` ([`out_size`]).

use crate::window::out_size;

#[allow(clippy::too_many_arguments)]
fn check_pool(name: &str, in_len: usize, out_len: usize, planes: usize, h: usize, w: usize, kh: usize, kw: usize, sh: usize, sw: usize) -> (usize, usize) {
    let (Some(oh), Some(ow)) = (out_size(h, kh, sh, 0), out_size(w, kw, sw, 0)) else {
        panic!("{name}: window {kh}x{kw} with stride {sh}x{sw} does not fit a {h}x{w} plane");
    };
    assert!(in_len >= planes * h * w, "{name}: input slice too short: {in_len} < planes*h*w = {}", planes * h * w);
    assert!(out_len >= planes * oh * ow, "{name}: output slice too short: {out_len} < planes*oh*ow = {}", planes * oh * ow);
    (oh, ow)
}

/// A key whose unsigned order is: larger value first, then smaller flat index `idx`.
///
/// High 32 bits: the value's bits mapped to an unsigned order that agrees with the float order
/// (negative floats have all bits flipped, positive ones the sign bit set), with `-0.0` taken as
/// `+0.0` (they compare equal) and every NaN as the largest value. Low 32 bits: `!idx`, so that
/// between equal values the smaller index has the larger key.
#[inline(always)]
fn tie_key(v: f32, idx: u32) -> u64 {
    let b = (v + 0.0).to_bits(); // -0.0 + 0.0 = +0.0; other values unchanged
    let ordered = b ^ (((b as i32) >> 31) as u32 | 0x8000_0000);
    let ordered = if v.is_nan() { u32::MAX } else { ordered };
    ((ordered as u64) << 32) | (!idx) as u64
}

/// Max pooling. `argmax[o]` receives the flat index within the plane (`iy*w + ix`) of the
/// maximum of window `o`. On ties it is the FIRST maximum in row-major window order (top-most
/// row, then left-most column), as in PyTorch, so the backward pass sends a tie's gradient
/// where PyTorch does. A NaN in the window propagates to the output, as in PyTorch, so a
/// diverging activation is not hidden by pooling; its argmax is the first NaN in row-major
/// order (PyTorch's CPU kernel takes the last one; the gradient of a NaN output is moot).
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d(input: &[f32], planes: usize, h: usize, w: usize, kh: usize, kw: usize, sh: usize, sw: usize, out: &mut [f32], argmax: &mut [u32]) {
    let (oh, ow) = check_pool("max_pool2d", input.len(), out.len(), planes, h, w, kh, kw, sh, sw);
    assert!(argmax.len() >= planes * oh * ow, "max_pool2d: argmax slice too short: {} < planes*oh*ow = {}", argmax.len(), planes * oh * ow);
    assert!(h * w <= u32::MAX as usize, "max_pool2d: plane too large for u32 argmax");
    let plane_out = oh * ow;
    if plane_out == 0 {
        return;
    }
    // Separable: the max of a kh x kw window is the max over its kw columns of each column's
    // max over kh rows. The column pass runs first, over whole contiguous input rows (a
    // branch-free select the compiler vectorises); the strided row pass then works on the
    // smaller [oh][w] array: kh + kw comparisons per output instead of kh * kw.
    // (Measured with thread CPU time against the column-major version it replaced, on
    // kernels/examples/poolbench's shapes: 2x2 s2 7.0 vs 7.5 ns/output, 5x5 s2 27 vs 26,
    // 3x3 s1 12.5 vs 11.4.)
    //
    // Ties, row-major: the column pass takes a later row only if strictly greater, so each
    // column keeps its top-most maximum. The row pass then compares the columns' candidates by
    // value and, on equal values, prefers the smaller flat index `iy*w + ix` (see `tie_key`).
    // Flat indices order positions row-major (smaller row first, then smaller column), so the
    // winner is the first maximum of the whole window in row-major order. NaN counts as the
    // largest value (two NaNs tie).
    let mut col_v = vec![0f32; oh * w];
    let mut col_i = vec![0u32; oh * w];
    let mut keys = vec![0u64; w];
    for p in 0..planes {
        let x = &input[p * h * w..(p + 1) * h * w];
        let o = &mut out[p * plane_out..(p + 1) * plane_out];
        let am = &mut argmax[p * plane_out..(p + 1) * plane_out];
        for oy in 0..oh {
            let y0 = oy * sh;
            let (cv, ci) = (&mut col_v[oy * w..(oy + 1) * w], &mut col_i[oy * w..(oy + 1) * w]);
            cv.copy_from_slice(&x[y0 * w..(y0 + 1) * w]);
            for (i, c) in ci.iter_mut().enumerate() {
                *c = (y0 * w + i) as u32;
            }
            for ky in 1..kh {
                let r = (y0 + ky) * w;
                for (i, ((v, c), &xv)) in cv.iter_mut().zip(ci.iter_mut()).zip(&x[r..r + w]).enumerate() {
                    let take = (xv > *v) | (xv.is_nan() & !v.is_nan());
                    *v = if take { xv } else { *v };
                    *c = if take { (r + i) as u32 } else { *c };
                }
            }
            let (orow, arow) = (&mut o[oy * ow..(oy + 1) * ow], &mut am[oy * ow..(oy + 1) * ow]);
            if kw == 2 {
                // the common 2-wide window: one comparison of two candidates, no keys
                for (ox, (ov, ai)) in orow.iter_mut().zip(arow.iter_mut()).enumerate() {
                    let x0 = ox * sw;
                    let (a, b, ia, ib) = (cv[x0], cv[x0 + 1], ci[x0], ci[x0 + 1]);
                    let earlier = ib < ia;
                    let take = (b > a) | ((b == a) & earlier) | (b.is_nan() & (!a.is_nan() | earlier));
                    *ai = if take { ib } else { ia };
                    *ov = if take { b } else { a };
                }
                continue;
            }
            // One u64 key per column candidate, ordered like (value, then earlier position):
            // the plain maximum of the keys of a window is its first maximum in row-major order.
            for ((k, &v), &i) in keys.iter_mut().zip(cv.iter()).zip(ci.iter()) {
                *k = tie_key(v, i);
            }
            for (ox, (ov, ai)) in orow.iter_mut().zip(arow.iter_mut()).enumerate() {
                let x0 = ox * sw;
                let best = keys[x0..x0 + kw].iter().fold(0u64, |m, &k| m.max(k));
                let idx = !(best as u32);
                *ai = idx;
                *ov = x[idx as usize];
            }
        }
    }
}

/// Backward of [`max_pool2d`]: accumulates (`+=`) each `dout` value into
/// `dinput` at its window's argmax.
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d_backward(dout: &[f32], argmax: &[u32], planes: usize, h: usize, w: usize, oh: usize, ow: usize, dinput: &mut [f32]) {
    let n_out = planes * oh * ow;
    assert!(dout.len() >= n_out, "max_pool2d_backward: dout slice too short: {} < planes*oh*ow = {n_out}", dout.len());
    assert!(argmax.len() >= n_out, "max_pool2d_backward: argmax slice too short: {} < planes*oh*ow = {n_out}", argmax.len());
    assert!(dinput.len() >= planes * h * w, "max_pool2d_backward: dinput slice too short: {} < planes*h*w = {}", dinput.len(), planes * h * w);
    let plane_out = oh * ow;
    if plane_out == 0 {
        return;
    }
    for p in 0..planes {
        let d = &mut dinput[p * h * w..(p + 1) * h * w];
        let g = &dout[p * plane_out..(p + 1) * plane_out];
        let am = &argmax[p * plane_out..(p + 1) * plane_out];
        for (&gv, &idx) in g.iter().zip(am) {
            d[idx as usize] += gv;
        }
    }
}

/// Average pooling: each output is the window sum divided by `kh*kw`.
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d(input: &[f32], planes: usize, h: usize, w: usize, kh: usize, kw: usize, sh: usize, sw: usize, out: &mut [f32]) {
    let (oh, ow) = check_pool("avg_pool2d", input.len(), out.len(), planes, h, w, kh, kw, sh, sw);
    let plane_out = oh * ow;
    if plane_out == 0 {
        return;
    }
    let scale = 1.0 / (kh * kw) as f32;
    for p in 0..planes {
        let x = &input[p * h * w..(p + 1) * h * w];
        let o = &mut out[p * plane_out..(p + 1) * plane_out];
        for oy in 0..oh {
            let y0 = oy * sh;
            for ox in 0..ow {
                let x0 = ox * sw;
                let mut s = 0.0f32;
                for ky in 0..kh {
                    let row = (y0 + ky) * w + x0;
                    s += x[row..row + kw].iter().sum::<f32>();
                }
                o[oy * ow + ox] = s * scale;
            }
        }
    }
}

/// Backward of [`avg_pool2d`] (its adjoint): accumulates (`+=`) `dout / (kh*kw)`
/// over every input position of each window.
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d_backward(dout: &[f32], planes: usize, h: usize, w: usize, kh: usize, kw: usize, sh: usize, sw: usize, dinput: &mut [f32]) {
    let (oh, ow) = check_pool("avg_pool2d_backward", dinput.len(), dout.len(), planes, h, w, kh, kw, sh, sw);
    let plane_out = oh * ow;
    if plane_out == 0 {
        return;
    }
    let scale = 1.0 / (kh * kw) as f32;
    for p in 0..planes {
        let d = &mut dinput[p * h * w..(p + 1) * h * w];
        let g = &dout[p * plane_out..(p + 1) * plane_out];
        for oy in 0..oh {
            let y0 = oy * sh;
            for ox in 0..ow {
                let x0 = ox * sw;
                let gv = g[oy * ow + ox] * scale;
                for ky in 0..kh {
                    let row = (y0 + ky) * w + x0;
                    d[row..row + kw].iter_mut().for_each(|v| *v += gv);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        // Coarse values so ties happen.
        ((*seed >> 60) as f32) - 8.0
    }

    const CASES: [(usize, usize, usize, usize, usize, usize); 9] = [
        (5, 5, 2, 2, 13, 13),
        (3, 3, 2, 2, 12, 11),
        (3, 3, 1, 1, 7, 9),
        (2, 2, 2, 2, 8, 8),
        (2, 2, 2, 2, 9, 7),
        (1, 1, 1, 1, 3, 4),
        (3, 2, 1, 2, 6, 7),
        (4, 4, 4, 4, 4, 4),
        (5, 5, 2, 2, 24, 24),
    ];

    #[test]
    fn max_pool_propagates_nan() {
        // [[1, NaN], [2, 100]] and [[NaN, 5], [NaN, 7]]
        let x = [1.0, f32::NAN, 2.0, 100.0, f32::NAN, 5.0, f32::NAN, 7.0];
        let (mut out, mut am) = ([0.0f32; 2], [0u32; 2]);
        max_pool2d(&x, 2, 2, 2, 2, 2, 2, 2, &mut out, &mut am);
        assert!(out[0].is_nan() && am[0] == 1, "{out:?} {am:?}");
        assert!(out[1].is_nan() && am[1] == 0, "{out:?} {am:?}");
    }

    #[test]
    fn tie_key_orders_by_value_then_earlier_index() {
        let vals = [f32::NEG_INFINITY, -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, f32::INFINITY, f32::NAN];
        for (a, &x) in vals.iter().enumerate() {
            for (b, &y) in vals.iter().enumerate() {
                let (kx, ky) = (tie_key(x, 7), tie_key(y, 7));
                let same = x == y || (x.is_nan() && y.is_nan());
                assert_eq!(kx == ky, same, "{x} vs {y}");
                if !same {
                    assert_eq!(kx > ky, a > b, "{x} vs {y}");
                }
            }
            assert!(tie_key(x, 3) > tie_key(x, 4), "{x}: the earlier index wins a tie");
            assert!(tie_key(x, u32::MAX) > 0, "a fold from 0 finds every key");
        }
    }

    /// The tie rule on a hand-worked example: a 3x4 plane full of 5s, 2x2 windows, stride 1.
    /// ```text
    /// 1 5 5 0      windows (top-left corner) and their first 5 in row-major order:
    /// 5 2 5 5      (0,0): 1 5 / 5 2 -> (0,1) = 1     (0,1): 5 5 / 2 5 -> (0,1) = 1
    /// 0 5 1 5      (0,2): 5 0 / 5 5 -> (0,2) = 2     (1,0): 5 2 / 0 5 -> (1,0) = 4
    ///              (1,1): 2 5 / 5 1 -> (1,2) = 6     (1,2): 5 5 / 1 5 -> (1,2) = 6
    /// ```
    /// Column-major order would pick (1,0) = 4 in window (0,0) and (2,1) = 9 in window (1,1).
    /// With output gradients 1..6, the input gradient is 1+2 at index 1, 3 at 2, 4 at 4 and
    /// 5+6 at 6.
    #[test]
    fn max_pool_ties_go_to_the_first_maximum_in_row_major_order() {
        let x = [1.0, 5.0, 5.0, 0.0, 5.0, 2.0, 5.0, 5.0, 0.0, 5.0, 1.0, 5.0];
        let (mut out, mut am) = ([0.0f32; 6], [0u32; 6]);
        max_pool2d(&x, 1, 3, 4, 2, 2, 1, 1, &mut out, &mut am);
        assert_eq!(out, [5.0; 6]);
        assert_eq!(am, [1, 1, 2, 4, 6, 6]);
        let mut dx = [0.0f32; 12];
        max_pool2d_backward(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &am, 1, 3, 4, 2, 3, &mut dx);
        assert_eq!(dx, [0.0, 3.0, 3.0, 0.0, 4.0, 0.0, 11.0, 0.0, 0.0, 0.0, 0.0, 0.0]);

        // 2x2 stride 2 (the CNN case): [[0 7 | 7 3], [7 0 | 3 7]] -> (0,1) = 1 and (0,2) = 2
        let x = [0.0, 7.0, 7.0, 3.0, 7.0, 0.0, 3.0, 7.0];
        let (mut out, mut am) = ([0.0f32; 2], [0u32; 2]);
        max_pool2d(&x, 1, 2, 4, 2, 2, 2, 2, &mut out, &mut am);
        assert_eq!((out, am), ([7.0, 7.0], [1, 2]));

        // 0.0 and -0.0 are equal: a tie, the first in row-major order wins
        let x = [-0.0, 0.0, 0.0, -0.0];
        max_pool2d(&x, 1, 2, 2, 2, 2, 2, 2, &mut out[..1], &mut am[..1]);
        assert_eq!(am[0], 0);

        // two NaNs: the first in row-major order, (0,1), not the first in column-major, (1,0)
        let x = [5.0, f32::NAN, f32::NAN, 1.0];
        max_pool2d(&x, 1, 2, 2, 2, 2, 2, 2, &mut out[..1], &mut am[..1]);
        assert!(out[0].is_nan() && am[0] == 1, "{out:?} {am:?}");
    }

    #[test]
    fn max_pool_matches_naive_and_backward_routes() {
        let mut seed = 3u64;
        for (kh, kw, sh, sw, h, w) in CASES {
            let planes = 3;
            let oh = (h - kh) / sh + 1;
            let ow = (w - kw) / sw + 1;
            let x: Vec<f32> = (0..planes * h * w).map(|_| lcg(&mut seed)).collect();
            let mut out = vec![f32::NAN; planes * oh * ow];
            let mut am = vec![u32::MAX; planes * oh * ow];
            max_pool2d(&x, planes, h, w, kh, kw, sh, sw, &mut out, &mut am);
            for p in 0..planes {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut best = f32::NEG_INFINITY;
                        let mut bi = usize::MAX;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let i = (oy * sh + ky) * w + ox * sw + kx;
                                if x[p * h * w + i] > best {
                                    best = x[p * h * w + i];
                                    bi = i;
                                }
                            }
                        }
                        let o = p * oh * ow + oy * ow + ox;
                        assert_eq!(out[o], best);
                        assert_eq!(am[o] as usize, bi);
                    }
                }
            }
            let dout: Vec<f32> = (0..planes * oh * ow).map(|i| i as f32 + 0.5).collect();
            let mut din = vec![1.0f32; planes * h * w];
            max_pool2d_backward(&dout, &am, planes, h, w, oh, ow, &mut din);
            let mut want = vec![1.0f32; planes * h * w];
            for p in 0..planes {
                for o in 0..oh * ow {
                    want[p * h * w + am[p * oh * ow + o] as usize] += dout[p * oh * ow + o];
                }
            }
            assert_eq!(din, want);
        }
    }

    #[test]
    fn avg_pool_matches_naive_and_backward_is_adjoint() {
        let mut seed = 11u64;
        for (kh, kw, sh, sw, h, w) in CASES {
            let planes = 2;
            let oh = (h - kh) / sh + 1;
            let ow = (w - kw) / sw + 1;
            let x: Vec<f32> = (0..planes * h * w).map(|_| lcg(&mut seed) * 0.37).collect();
            let mut out = vec![f32::NAN; planes * oh * ow];
            avg_pool2d(&x, planes, h, w, kh, kw, sh, sw, &mut out);
            for p in 0..planes {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = 0.0f64;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                s += x[p * h * w + (oy * sh + ky) * w + ox * sw + kx] as f64;
                            }
                        }
                        let want = s / (kh * kw) as f64;
                        let got = out[p * oh * ow + oy * ow + ox] as f64;
                        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
                    }
                }
            }
            let y: Vec<f32> = (0..planes * oh * ow).map(|_| lcg(&mut seed) * 0.21).collect();
            let mut dx = vec![0.0f32; planes * h * w];
            avg_pool2d_backward(&y, planes, h, w, kh, kw, sh, sw, &mut dx);
            let lhs: f64 = out.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| *a as f64 * *b as f64).sum();
            assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
            // Accumulates.
            let mut dx2 = vec![1.0f32; planes * h * w];
            avg_pool2d_backward(&y, planes, h, w, kh, kw, sh, sw, &mut dx2);
            for (a, b) in dx2.iter().zip(&dx) {
                assert!((a - 1.0 - b).abs() < 1e-5);
            }
        }
    }
}
