//! Average pooling and its adjoint. Every window is divided by `kh·kw`, padding zeros included
//! (PyTorch's `count_include_pad`), which is what a zero-padding layer followed by an average
//! pool computes.
//!
//! Summation order, fixed whatever the padding or the thread count: the column pass sums the
//! window's rows top to bottom (`((r0 + r1) + r2) ...`, a padding row adding `+0.0`), then the
//! row pass sums those column sums left to right, then the sum is multiplied by `1/(kh·kw)`.
//! So a virtually padded pool is bit for bit the pool of the materialised padded plane.
//!
//! Without padding the forward pass runs both sums over a few planes at a time taken as one
//! flat array (`forward_flat`; copying padded planes first to do the same measured slower).

use super::{multiversion, Window};

/// Average pooling without padding.
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d(input: &[f32], planes: usize, h: usize, w: usize, kh: usize, kw: usize, sh: usize, sw: usize, out: &mut [f32]) {
    avg_pool2d_padded(input, planes, &Window { h, w, kh, kw, sh, sw, pad: [0; 4] }, out);
}

/// Backward of [`avg_pool2d`] (its adjoint): accumulates (`+=`) `dout / (kh*kw)` over every
/// input position of each window.
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d_backward(dout: &[f32], planes: usize, h: usize, w: usize, kh: usize, kw: usize, sh: usize, sw: usize, dinput: &mut [f32]) {
    avg_pool2d_padded_backward(dout, planes, &Window { h, w, kh, kw, sh, sw, pad: [0; 4] }, dinput);
}

/// Average pooling of `planes` planes with the geometry `win` (its zero padding virtual,
/// counted in the divisor). Panics if a slice is too short or the window does not fit.
pub fn avg_pool2d_padded(input: &[f32], planes: usize, win: &Window, out: &mut [f32]) {
    let (oh, ow) = win.check("avg_pool2d", input.len(), out.len(), planes);
    if planes * oh * ow > 0 {
        forward(input, planes, win, out);
    }
}

/// Backward of [`avg_pool2d_padded`] (its adjoint): accumulates (`+=`) `dout / (kh*kw)` over
/// every input position of each window; the padding's share is dropped.
pub fn avg_pool2d_padded_backward(dout: &[f32], planes: usize, win: &Window, dinput: &mut [f32]) {
    let (oh, ow) = win.check("avg_pool2d_backward", dinput.len(), dout.len(), planes);
    if planes * oh * ow > 0 {
        backward(dout, planes, win, dinput);
    }
}

#[inline(always)]
fn forward_body(input: &[f32], planes: usize, win: &Window, out: &mut [f32]) {
    let Window { h, w, kh, kw, sh, sw, pad: [pt, _, pl, _] } = *win;
    let (oh, ow) = win.out().expect("checked by the caller");
    let wp = win.padded().1;
    let scale = 1.0 / (kh * kw) as f32;
    if win.pad == [0; 4] {
        return forward_flat(&input[..planes * h * w], win, oh, ow, scale, &mut out[..planes * oh * ow]);
    }
    let mut cs = vec![0f32; wp];
    for p in 0..planes {
        let x = &input[p * h * w..(p + 1) * h * w];
        let o = &mut out[p * oh * ow..(p + 1) * oh * ow];
        for oy in 0..oh {
            for ky in 0..kh {
                let py = oy * sh + ky;
                let row = (py >= pt && py - pt < h).then(|| &x[(py - pt) * w..(py - pt + 1) * w]);
                let (c0, c1) = cs.split_at_mut(pl);
                let (c1, c2) = c1.split_at_mut(w);
                if ky == 0 {
                    c0.fill(0.0);
                    c2.fill(0.0);
                    match row {
                        Some(r) => c1.copy_from_slice(r),
                        None => c1.fill(0.0),
                    }
                    continue;
                }
                c0.iter_mut().chain(c2.iter_mut()).for_each(|c| *c += 0.0);
                match row {
                    Some(r) => c1.iter_mut().zip(r).for_each(|(c, &v)| *c += v),
                    None => c1.iter_mut().for_each(|c| *c += 0.0),
                }
            }
            row_pass(&cs, kw, sw, scale, &mut o[oy * ow..(oy + 1) * ow]);
        }
    }
}

/// [`forward_body`] without padding, as two passes over the block of planes taken as one flat
/// array (long loops that vectorise, where a CNN's late planes have rows of 5-22 values):
/// `cs[i] = ((x[i] + x[i + w]) + ...)` over `kh` rows, then
/// `rs[i] = ((cs[i] + cs[i + 1]) + ...)` over `kw` columns; output `(p, oy, ox)` is
/// `rs[(p·h + oy·sh)·w + ox·sw] · scale`. Sums that straddle a row or plane boundary, or start
/// between strides, are computed and never read. The same additions in the same order as the
/// column and row passes: the same bits.
#[inline(always)]
fn forward_flat(x: &[f32], win: &Window, oh: usize, ow: usize, scale: f32, out: &mut [f32]) {
    let Window { h, w, kh, kw, sh, sw, .. } = *win;
    let plane = h * w;
    // a few planes at a time, so both passes stay in L1
    let group = (FLAT_BLOCK / plane).max(1);
    let (mut cs, mut rs) = (Vec::with_capacity(group * plane), Vec::with_capacity(group * plane));
    for (xg, og) in x.chunks(group * plane).zip(out.chunks_mut(group * oh * ow)) {
        // `kh <= h` and `kw <= w` (the window fits), so both lengths are at least one row
        cs.clear();
        cs.extend_from_slice(&xg[..xg.len() - (kh - 1) * w]);
        for ky in 1..kh {
            cs.iter_mut().zip(&xg[ky * w..]).for_each(|(c, &v)| *c += v);
        }
        rs.clear();
        rs.extend_from_slice(&cs[..cs.len() - (kw - 1)]);
        for kx in 1..kw {
            rs.iter_mut().zip(&cs[kx..]).for_each(|(r, &v)| *r += v);
        }
        for (p, o) in og.chunks_exact_mut(oh * ow).enumerate() {
            for (oy, row) in o.chunks_exact_mut(ow).enumerate() {
                let base = (p * h + oy * sh) * w;
                for (ox, v) in row.iter_mut().enumerate() {
                    *v = rs[base + ox * sw] * scale;
                }
            }
        }
    }
}

/// Input values per group of planes in [`forward_flat`] (16 KB: its two passes stay in L1).
const FLAT_BLOCK: usize = 4096;

/// The row pass of one output row: `out[ox] = ((cs[ox·sw] + cs[ox·sw + 1]) + ...) · scale`,
/// the window's column sums left to right. Per output, not per window column over the row:
/// on the small planes of a CNN's late layers (rows of 5-22 values) the vector loops of a
/// per-column pass were mostly tails.
#[inline(always)]
fn row_pass(cs: &[f32], kw: usize, sw: usize, scale: f32, out: &mut [f32]) {
    for (ox, a) in out.iter_mut().enumerate() {
        let win = &cs[ox * sw..ox * sw + kw];
        let mut s = win[0];
        for &v in &win[1..] {
            s += v;
        }
        *a = s * scale;
    }
}

#[inline(always)]
fn backward_body(dout: &[f32], planes: usize, win: &Window, dinput: &mut [f32]) {
    let Window { h, w, kh, kw, sh, sw, pad: [pt, _, pl, _] } = *win;
    let (oh, ow) = win.out().expect("checked by the caller");
    let wp = win.padded().1;
    let scale = 1.0 / (kh * kw) as f32;
    let (mut cs, mut gs) = (vec![0f32; wp], vec![0f32; ow]);
    for p in 0..planes {
        let d = &mut dinput[p * h * w..(p + 1) * h * w];
        let g = &dout[p * oh * ow..(p + 1) * oh * ow];
        for oy in 0..oh {
            gs.iter_mut().zip(&g[oy * ow..(oy + 1) * ow]).for_each(|(s, &v)| *s = v * scale);
            // the row pass's adjoint: window column kx of every output, kx in order
            cs.fill(0.0);
            for kx in 0..kw {
                for (ox, &v) in gs.iter().enumerate() {
                    cs[ox * sw + kx] += v;
                }
            }
            for ky in 0..kh {
                let py = oy * sh + ky;
                if py >= pt && py - pt < h {
                    let y = py - pt;
                    d[y * w..(y + 1) * w].iter_mut().zip(&cs[pl..pl + w]).for_each(|(d, &v)| *d += v);
                }
            }
        }
    }
}

multiversion!(fn forward(input: &[f32], planes: usize, win: &Window, out: &mut [f32]) => forward_body);
multiversion!(fn backward(dout: &[f32], planes: usize, win: &Window, dinput: &mut [f32]) => backward_body);
