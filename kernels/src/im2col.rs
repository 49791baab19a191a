//! im2col / col2im: the lowering of 2-D convolution to one matrix product, and its adjoint.
//!
//! For one image `x: [c][h][w]`, the column matrix has `c·kh·kw` rows (row `(ci·kh + ki)·kw +
//! kj`) and one column per output pixel (`oy·ow + ox`):
//!
//! ```text
//! cols[(ci·kh + ki)·kw + kj][oy·ow + ox] = x[ci][oy·sh + ki - ph][ox·sw + kj - pw]   (0 outside)
//! ```
//!
//! so `conv(x, W) = W · cols` with `W` read as `[o] x [c·kh·kw]`. The rows have a stride `ld`
//! and the image's columns start at column `col0`, so several images can be laid side by side
//! in one matrix (one GEMM for a group of small feature maps). `col2im` is the adjoint
//! (transpose) of `im2col`: it ADDS every column entry back onto the pixel it was read from and
//! drops the padding, so `<im2col(x), Y> = <x, col2im(Y)>`.

use crate::window::out_size;

/// The geometry of the patches of one image: input `[c][h][w]`, kernel `kh x kw`, stride
/// `(sh, sw)`, zero padding `(ph, pw)` on each side, output `oh x ow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patches {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Patches {
    /// The geometry for `c` channels of `h x w` with kernel, stride and padding as
    /// `(vertical, horizontal)` pairs; `oh`, `ow` from [`out_size`]. None if the kernel does not
    /// fit or a stride or kernel size is 0.
    pub fn new(c: usize, h: usize, w: usize, kernel: (usize, usize), stride: (usize, usize), pad: (usize, usize)) -> Option<Patches> {
        let oh = out_size(h, kernel.0, stride.0, pad.0)?;
        let ow = out_size(w, kernel.1, stride.1, pad.1)?;
        Some(Patches { c, h, w, kh: kernel.0, kw: kernel.1, sh: stride.0, sw: stride.1, ph: pad.0, pw: pad.1, oh, ow })
    }
    /// Rows of the column matrix: `c·kh·kw`.
    pub fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Columns one image takes: `oh·ow`.
    pub fn pixels(&self) -> usize {
        self.oh * self.ow
    }
    /// Floats of one input image: `c·h·w`.
    pub fn image_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Panics with a clear message unless the geometry is consistent and the slices hold it.
    fn check(&self, name: &str, image_len: usize, cols_len: usize, ld: usize, col0: usize) {
        assert!(self.sh > 0 && self.sw > 0, "{name}: stride must be > 0");
        let fits = |o: usize, size, k, s, p| out_size(size, k, s, p).is_some_and(|max| o <= max);
        assert!(
            fits(self.oh, self.h, self.kh, self.sh, self.ph) && fits(self.ow, self.w, self.kw, self.sw, self.pw),
            "{name}: output {}x{} does not fit the padded input: {self:?}",
            self.oh,
            self.ow
        );
        assert!(image_len >= self.image_len(), "{name}: image slice too short: {image_len} < c*h*w = {}", self.image_len());
        let p = self.pixels();
        assert!(col0 + p <= ld || p == 0, "{name}: columns {col0}..{} do not fit in rows of stride {ld}", col0 + p);
        if p > 0 && self.rows() > 0 {
            let need = (self.rows() - 1) * ld + col0 + p;
            assert!(cols_len >= need, "{name}: cols slice too short: {cols_len} < {need}");
        }
    }
}

/// Range `lo..hi` of output columns `ox < out` whose input column `ox·s + k - p` lies in `0..w`.
#[inline]
fn valid_range(out: usize, w: usize, k: usize, s: usize, p: usize) -> (usize, usize) {
    // ox·s + k - p >= 0  <=>  ox >= ceil((p - k) / s) when p > k
    let lo = if p > k { (p - k).div_ceil(s) } else { 0 };
    // ox·s + k - p < w  <=>  ox <= (w + p - k - 1) / s
    let hi = if w + p > k { ((w + p - k - 1) / s + 1).min(out) } else { 0 };
    (lo.min(hi), hi)
}

/// Row `(ci, ki, kj)` of one image's columns, from the image's channel `plane` (`h x w`):
/// `d[oy·ow + ox]` for every output pixel (zeros where the window reaches into the padding).
#[inline]
fn fill_row(g: &Patches, plane: &[f32], ki: usize, kj: usize, dst: &mut [f32]) {
    let (h, w, ow) = (g.h, g.w, g.ow);
    let (lo, hi) = valid_range(ow, w, kj, g.sw, g.pw);
    for (oy, d) in dst.chunks_exact_mut(ow).enumerate() {
        let iy = oy * g.sh + ki;
        if iy < g.ph || iy - g.ph >= h {
            d.fill(0.0);
            continue;
        }
        let src = &plane[(iy - g.ph) * w..(iy - g.ph + 1) * w];
        d[..lo].fill(0.0);
        d[hi..].fill(0.0);
        if hi <= lo {
            // the whole row of windows lies in the padding (done above)
        } else if g.sw == 1 {
            let s0 = lo + kj - g.pw;
            d[lo..hi].copy_from_slice(&src[s0..s0 + hi - lo]);
        } else {
            for (ox, v) in d[lo..hi].iter_mut().enumerate() {
                *v = src[(lo + ox) * g.sw + kj - g.pw];
            }
        }
    }
}

/// Writes the columns of one image `x: [c][h][w]` into `cols` at column offset `col0` of rows
/// with stride `ld` (zeros where the window reaches into the padding). Every entry of those
/// `c·kh·kw` x `oh·ow` columns is written; nothing else is touched.
pub fn im2col(g: &Patches, x: &[f32], cols: &mut [f32], ld: usize, col0: usize) {
    g.check("im2col", x.len(), cols.len(), ld, col0);
    let (h, w, p) = (g.h, g.w, g.pixels());
    if p == 0 {
        return;
    }
    for c in 0..g.c {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                fill_row(g, plane, ki, kj, &mut cols[row * ld + col0..row * ld + col0 + p]);
            }
        }
    }
}

/// The adjoint of [`im2col`]: ADDS the columns at offset `col0` (rows of stride `ld`) back onto
/// one image `dx: [c][h][w]`; entries that came from the padding are dropped.
pub fn col2im(g: &Patches, cols: &[f32], ld: usize, col0: usize, dx: &mut [f32]) {
    g.check("col2im", dx.len(), cols.len(), ld, col0);
    let (h, w, ow, p) = (g.h, g.w, g.ow, g.pixels());
    if p == 0 {
        return;
    }
    for c in 0..g.c {
        let plane = &mut dx[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let src = &cols[row * ld + col0..row * ld + col0 + p];
                let (lo, hi) = valid_range(ow, w, kj, g.sw, g.pw);
                if hi <= lo {
                    continue;
                }
                for (oy, s) in src.chunks_exact(ow).enumerate() {
                    let iy = oy * g.sh + ki;
                    if iy < g.ph || iy - g.ph >= h {
                        continue;
                    }
                    let d = &mut plane[(iy - g.ph) * w..(iy - g.ph + 1) * w];
                    if g.sw == 1 {
                        let d0 = lo + kj - g.pw;
                        for (a, b) in d[d0..d0 + hi - lo].iter_mut().zip(&s[lo..hi]) {
                            *a += b;
                        }
                    } else {
                        for ox in lo..hi {
                            d[ox * g.sw + kj - g.pw] += s[ox];
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
    fn direct(x: &[f32], g: &Patches, row: usize, oy: usize, ox: usize) -> f32 {
        let (ci, ki, kj) = (row / (g.kh * g.kw), (row / g.kw) % g.kh, row % g.kw);
        let iy = (oy * g.sh + ki) as isize - g.ph as isize;
        let ix = (ox * g.sw + kj) as isize - g.pw as isize;
        if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
            0.0
        } else {
            x[ci * g.h * g.w + iy as usize * g.w + ix as usize]
        }
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// Every entry against the definition, at a column offset inside wider rows (as the
    /// batched convolution uses it), and the adjoint identity `<im2col(x), y> = <x, col2im(y)>`.
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
                                let Some(g) = Patches::new(c, h, w, (kh, kw), (sh, sw), (ph, pw)) else {
                                    assert!(h + 2 * ph < kh || w + 2 * pw < kw);
                                    continue;
                                };
                                cases += 1;
                                let (oh, ow, p) = (g.oh, g.ow, g.pixels());
                                // this image's columns are the second of three side by side
                                let (ld, col0) = (3 * p, p);
                                let x: Vec<f32> = (0..c * h * w).map(|_| lcg(&mut seed)).collect();
                                let rows = c * kh * kw;
                                let mut cols = vec![f32::NAN; rows * ld];
                                im2col(&g, &x, &mut cols, ld, col0);
                                for row in 0..rows {
                                    for oy in 0..oh {
                                        for ox in 0..ow {
                                            let want = direct(&x, &g, row, oy, ox);
                                            let got = cols[row * ld + col0 + oy * ow + ox];
                                            assert_eq!(got, want);
                                        }
                                    }
                                    // the neighbours' columns are untouched
                                    assert!(cols[row * ld..row * ld + col0].iter().all(|v| v.is_nan()));
                                    assert!(cols[row * ld + col0 + p..(row + 1) * ld].iter().all(|v| v.is_nan()));
                                }
                                // Adjoint: <im2col(x), y> == <x, col2im(y)> (col2im accumulates).
                                let y: Vec<f32> = (0..rows * ld).map(|_| lcg(&mut seed)).collect();
                                let offset: Vec<f32> = (0..c * h * w).map(|_| lcg(&mut seed)).collect();
                                let mut dx = offset.clone();
                                col2im(&g, &y, ld, col0, &mut dx);
                                let mut lhs = 0.0f64;
                                for row in 0..rows {
                                    let r = row * ld + col0;
                                    lhs += cols[r..r + p].iter().zip(&y[r..r + p]).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>();
                                }
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
    #[should_panic(expected = "cols slice too short")]
    fn short_cols_panic_with_a_message() {
        let g = Patches::new(2, 5, 5, (3, 3), (1, 1), (0, 0)).unwrap();
        let mut cols = vec![0.0; g.rows() * g.pixels() - 1];
        im2col(&g, &[0.0; 50], &mut cols, g.pixels(), 0);
    }
}
