//! im2col / col2im for 2-D convolution of one image.
//!
//! Layout: the input is `[c][h][w]`; the column matrix is
//! `[(c*kh*kw)][(oh*ow)]` row-major, row index `(ci*kh + ki)*kw + kj`, column
//! index `oy*ow + ox`, holding `input[ci][oy*sh + ki - ph][ox*sw + kj - pw]`
//! (zero outside the image). A convolution is then the GEMM
//! `out[cout][oh*ow] = W[cout][c*kh*kw] * cols`.

/// Output size of a convolution/pooling window along one axis:
/// `(size + 2*pad - k) / stride + 1`. Panics if the window does not fit or
/// `stride == 0`.
pub fn conv_out_size(size: usize, k: usize, stride: usize, pad: usize) -> usize {
    assert!(stride > 0, "conv_out_size: stride must be > 0");
    assert!(k > 0, "conv_out_size: kernel size must be > 0");
    assert!(size + 2 * pad >= k, "conv_out_size: kernel {k} larger than padded input {size}+2*{pad}");
    (size + 2 * pad - k) / stride + 1
}

/// For kernel offset `kj` (pad `pw`, stride `sw`), the range `lo..hi` of
/// output positions `ox < ow` whose input position `ox*sw + kj - pw` lies in
/// `0..w`.
#[inline]
fn valid_range(w: usize, ow: usize, kj: usize, sw: usize, pw: usize) -> (usize, usize) {
    // ix = ox*sw + kj - pw >= 0  <=>  ox >= ceil((pw - kj) / sw) when pw > kj.
    let lo = if pw > kj { (pw - kj).div_ceil(sw) } else { 0 };
    // ix < w  <=>  ox*sw < w + pw - kj  <=>  ox <= (w + pw - kj - 1) / sw.
    let hi = if w + pw > kj { ((w + pw - kj - 1) / sw + 1).min(ow) } else { 0 };
    (lo.min(hi), hi)
}

#[allow(clippy::too_many_arguments)]
fn check(
    name: &str,
    img_len: usize,
    cols_len: usize,
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
) -> (usize, usize) {
    let oh = conv_out_size(h, kh, sh, ph);
    let ow = conv_out_size(w, kw, sw, pw);
    assert!(img_len >= c * h * w, "{name}: image slice too short: {img_len} < c*h*w = {}", c * h * w);
    assert!(cols_len >= c * kh * kw * oh * ow, "{name}: cols slice too short: {cols_len} < c*kh*kw*oh*ow = {}", c * kh * kw * oh * ow);
    (oh, ow)
}

/// im2col for one image: input `[c][h][w]`; output `cols[(c*kh*kw)][(oh*ow)]`
/// row-major, where `oh = (h + 2*ph - kh)/sh + 1` etc.; zero padding `ph`/`pw`
/// on each side. Every element of `cols[..c*kh*kw*oh*ow]` is written.
#[allow(clippy::too_many_arguments)]
pub fn im2col(input: &[f32], c: usize, h: usize, w: usize, kh: usize, kw: usize, sh: usize, sw: usize, ph: usize, pw: usize, cols: &mut [f32]) {
    let (oh, ow) = check("im2col", input.len(), cols.len(), c, h, w, kh, kw, sh, sw, ph, pw);
    let npix = oh * ow;
    if npix == 0 {
        return;
    }
    let rows = cols[..c * kh * kw * npix].chunks_exact_mut(npix);
    for (row_idx, row) in rows.enumerate() {
        let kj = row_idx % kw;
        let ki = (row_idx / kw) % kh;
        let ci = row_idx / (kw * kh);
        let plane = &input[ci * h * w..(ci + 1) * h * w];
        let (lo, hi) = valid_range(w, ow, kj, sw, pw);
        for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
            let iy = oy * sh + ki;
            if iy < ph || iy - ph >= h || lo >= hi {
                out.fill(0.0);
                continue;
            }
            let src = &plane[(iy - ph) * w..(iy - ph + 1) * w];
            out[..lo].fill(0.0);
            out[hi..].fill(0.0);
            let x0 = lo * sw + kj - pw;
            if sw == 1 {
                out[lo..hi].copy_from_slice(&src[x0..x0 + (hi - lo)]);
            } else {
                for (o, s) in out[lo..hi].iter_mut().zip(src[x0..].iter().step_by(sw)) {
                    *o = *s;
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: ACCUMULATES `cols` back into `dinput[c][h][w]`
/// (`+=`); padded positions are dropped.
#[allow(clippy::too_many_arguments)]
pub fn col2im(cols: &[f32], c: usize, h: usize, w: usize, kh: usize, kw: usize, sh: usize, sw: usize, ph: usize, pw: usize, dinput: &mut [f32]) {
    let (oh, ow) = check("col2im", dinput.len(), cols.len(), c, h, w, kh, kw, sh, sw, ph, pw);
    let npix = oh * ow;
    if npix == 0 || h * w == 0 {
        return;
    }
    // One input plane at a time so its rows stay in cache across the kh*kw
    // kernel offsets.
    for (ci, plane) in dinput[..c * h * w].chunks_exact_mut(h * w).enumerate() {
        for ki in 0..kh {
            for kj in 0..kw {
                let row_idx = (ci * kh + ki) * kw + kj;
                let row = &cols[row_idx * npix..(row_idx + 1) * npix];
                let (lo, hi) = valid_range(w, ow, kj, sw, pw);
                if lo >= hi {
                    continue;
                }
                let x0 = lo * sw + kj - pw;
                for (oy, src) in row.chunks_exact(ow).enumerate() {
                    let iy = oy * sh + ki;
                    if iy < ph || iy - ph >= h {
                        continue;
                    }
                    let dst = &mut plane[(iy - ph) * w..(iy - ph + 1) * w];
                    if sw == 1 {
                        for (d, s) in dst[x0..x0 + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in dst[x0..].iter_mut().step_by(sw).zip(&src[lo..hi]) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct definition of one element of the column matrix.
    #[allow(clippy::too_many_arguments)]
    fn direct(x: &[f32], h: usize, w: usize, kh: usize, kw: usize, sh: usize, sw: usize, ph: usize, pw: usize, row: usize, oy: usize, ox: usize) -> f32 {
        let (ci, ki, kj) = (row / (kh * kw), (row / kw) % kh, row % kw);
        let iy = (oy * sh + ki) as isize - ph as isize;
        let ix = (ox * sw + kj) as isize - pw as isize;
        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
            0.0
        } else {
            x[ci * h * w + iy as usize * w + ix as usize]
        }
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    #[test]
    fn im2col_matches_definition_and_col2im_is_adjoint() {
        let mut seed = 7u64;
        let mut cases = 0;
        for c in [1, 3] {
            for (h, w) in [(1, 1), (5, 7), (8, 8), (11, 6)] {
                for kh in 1..=5 {
                    for kw in [1, 2, 3, 5] {
                        for (sh, sw) in [(1, 1), (2, 2), (1, 2), (3, 1)] {
                            for (ph, pw) in [(0, 0), (1, 1), (2, 1), (0, 2)] {
                                if h + 2 * ph < kh || w + 2 * pw < kw {
                                    continue;
                                }
                                cases += 1;
                                let oh = conv_out_size(h, kh, sh, ph);
                                let ow = conv_out_size(w, kw, sw, pw);
                                let x: Vec<f32> = (0..c * h * w).map(|_| lcg(&mut seed)).collect();
                                let n = c * kh * kw * oh * ow;
                                let mut cols = vec![f32::NAN; n];
                                im2col(&x, c, h, w, kh, kw, sh, sw, ph, pw, &mut cols);
                                for row in 0..c * kh * kw {
                                    for oy in 0..oh {
                                        for ox in 0..ow {
                                            let want = direct(&x, h, w, kh, kw, sh, sw, ph, pw, row, oy, ox);
                                            let got = cols[row * oh * ow + oy * ow + ox];
                                            assert_eq!(got, want);
                                        }
                                    }
                                }
                                // Adjoint: <im2col(x), y> == <x, col2im(y)>.
                                let y: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
                                let offset: Vec<f32> = (0..c * h * w).map(|_| lcg(&mut seed)).collect();
                                let mut dx = offset.clone();
                                col2im(&y, c, h, w, kh, kw, sh, sw, ph, pw, &mut dx);
                                let lhs: f64 = cols.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
                                let rhs: f64 = x.iter().zip(dx.iter().zip(&offset)).map(|(a, (d, o))| *a as f64 * (*d - *o) as f64).sum();
                                assert!((lhs - rhs).abs() <= 1e-4 * (1.0 + lhs.abs()), "adjoint mismatch {lhs} vs {rhs}");
                            }
                        }
                    }
                }
            }
        }
        assert!(cases > 500);
    }

    #[test]
    fn out_size() {
        assert_eq!(conv_out_size(28, 5, 1, 0), 24);
        assert_eq!(conv_out_size(28, 5, 1, 2), 28);
        assert_eq!(conv_out_size(24, 2, 2, 0), 12);
        assert_eq!(conv_out_size(7, 3, 2, 1), 4);
    }
}
