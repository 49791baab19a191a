//! Direct convolution of single-channel images (a network's first layer on grayscale input),
//! stride 1, on AVX-512.
//!
//! With one input channel the im2col matrix has only `kh·kw` rows (25 for 5x5), so the GEMM
//! behind im2col does `kh·kw` multiply-adds per output for every output it stores and is
//! bound by writing the column matrix and the output, not by the multiplications (keras-hw3's
//! conv1 ran at about a quarter of the FMA peak). Here each output row is computed in
//! registers:
//!
//! ```text
//! y[o][oy][ox] = b[o] + Σ_{u < kh} Σ_{v < kw} w[o][u][v] · xp[oy + u][ox + v]
//! ```
//!
//! where `xp` is the image with its zero padding, copied once per image into scratch with room
//! after each row. A register block is [`OB`] filters × [`XV`] vectors of 16 adjacent outputs
//! of one row (24 accumulators): per tap `(u, v)` it loads the `XV` input vectors at column
//! offset `v` once and multiply-adds them into all `OB` filters' accumulators (one broadcast
//! weight each). The sum of each output starts at the bias and adds the taps in row-major
//! order, so the result does not depend on how images are split between threads.

use crate::im2col::Patches;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Filters per register block.
const OB: usize = 8;
/// 16-lane vectors of one output row per register block.
const XV: usize = 3;
/// Output columns per register block.
const XB: usize = 16 * XV;
/// Largest kernel side taken (the weights of a block are repacked per call).
const MAX_K: usize = 11;

/// True when [`conv_single_channel`] runs here for geometry `p`: one input channel, stride 1,
/// a kernel side of at most 11, and AVX-512 selected ([`crate::selected_isa`]).
pub fn available(p: &Patches) -> bool {
    p.c == 1 && p.sh == 1 && p.sw == 1 && p.kh <= MAX_K && p.kw <= MAX_K && p.oh * p.ow > 0 && crate::selected_isa() == crate::Isa::Avx512
}

/// Row stride of the padded image in scratch: every block's loads stay inside the row.
fn row_len(p: &Patches) -> usize {
    (p.ow.div_ceil(XB) * XB + p.kw - 1).next_multiple_of(16)
}

/// Floats of scratch [`conv_single_channel`] needs: the padded image and the repacked weights.
pub fn scratch_len(p: &Patches, o: usize) -> usize {
    (p.h + 2 * p.ph) * row_len(p) + o.div_ceil(OB) * OB * p.kh * p.kw
}

/// `y = conv(x, w) + b` for one image `x: [h][w]`, `w: [o][kh][kw]`, `y: [o][oh][ow]` (see the
/// module docs), `scratch` at least [`scratch_len`] floats (contents ignored).
///
/// Panics when [`available`] is false for `p` or a slice is too short.
pub fn conv_single_channel(p: &Patches, o: usize, x: &[f32], wt: &[f32], bias: Option<&[f32]>, y: &mut [f32], scratch: &mut [f32]) {
    assert!(available(p), "direct conv: needs one channel, stride 1, a kernel side <= {MAX_K} and AVX-512 ({p:?})");
    let fits = |size: usize, k: usize, pad: usize, out: usize| crate::out_size(size, k, 1, pad) == Some(out);
    assert!(fits(p.h, p.kh, p.ph, p.oh) && fits(p.w, p.kw, p.pw, p.ow), "direct conv: output {}x{} does not match the geometry {p:?}", p.oh, p.ow);
    assert!(x.len() >= p.h * p.w, "direct conv: input shorter than {}x{}", p.h, p.w);
    assert!(wt.len() >= o * p.kh * p.kw, "direct conv: weights shorter than {o}x{}x{}", p.kh, p.kw);
    assert!(y.len() >= o * p.oh * p.ow, "direct conv: output shorter than {o}x{}x{}", p.oh, p.ow);
    assert!(bias.is_none_or(|b| b.len() >= o), "direct conv: bias shorter than {o}");
    assert!(scratch.len() >= scratch_len(p, o), "direct conv: scratch shorter than {}", scratch_len(p, o));
    let (wl, kk) = (row_len(p), p.kh * p.kw);
    let (plane, wp) = scratch.split_at_mut((p.h + 2 * p.ph) * wl);
    plane.fill(0.0);
    for (i, row) in x[..p.h * p.w].chunks_exact(p.w.max(1)).enumerate() {
        plane[(i + p.ph) * wl + p.pw..][..p.w].copy_from_slice(row);
    }
    // weights by block, tap, filter: wp[(blk·kk + tap)·OB + i] = w[blk·OB + i][tap], 0 past o
    let wp = &mut wp[..o.div_ceil(OB) * OB * kk];
    for (blk, wb) in wp.chunks_exact_mut(kk * OB).enumerate() {
        for (tap, wt8) in wb.chunks_exact_mut(OB).enumerate() {
            for (i, v) in wt8.iter_mut().enumerate() {
                let f = blk * OB + i;
                *v = if f < o { wt[f * kk + tap] } else { 0.0 };
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX-512F is the selected ISA (`available`), every slice was checked above.
    unsafe {
        blocks(p, o, plane, wl, wp, bias, y)
    }
}

/// The register blocks of one image.
///
/// # Safety
/// The CPU has AVX-512F; `plane` holds `(h + 2ph)` rows of `wl` floats (see [`row_len`]), `wp`
/// the repacked weights, `y` `o·oh·ow` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn blocks(p: &Patches, o: usize, plane: &[f32], wl: usize, wp: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let (kh, kw, kk, oh, ow) = (p.kh, p.kw, p.kh * p.kw, p.oh, p.ow);
    for blk in 0..o.div_ceil(OB) {
        let nf = OB.min(o - blk * OB);
        let init: [__m512; OB] = std::array::from_fn(|i| _mm512_set1_ps(bias.map_or(0.0, |b| if i < nf { b[blk * OB + i] } else { 0.0 })));
        let wb = &wp[blk * kk * OB..(blk + 1) * kk * OB];
        for oy in 0..oh {
            for x0 in (0..ow).step_by(XB) {
                let mut acc: [[__m512; XV]; OB] = std::array::from_fn(|i| [init[i]; XV]);
                for u in 0..kh {
                    // every load of this row's block lies in these XB + kw - 1 floats
                    let row = &plane[(oy + u) * wl + x0..(oy + u) * wl + x0 + XB + kw - 1];
                    for v in 0..kw {
                        // SAFETY: the loads read `row[v + 16j..v + 16j + 16]`, `v < kw`, `j < XV`,
                        // inside `row` (XB + kw - 1 floats, sliced with bounds checks above:
                        // `x0 + XB + kw - 1 <= ow.div_ceil(XB)·XB + kw - 1 <= wl`); `wb` holds kk·OB weights.
                        unsafe {
                            let xs: [__m512; XV] = std::array::from_fn(|j| _mm512_loadu_ps(row.as_ptr().add(v + 16 * j)));
                            let w = wb.as_ptr().add((u * kw + v) * OB);
                            for (i, a) in acc.iter_mut().enumerate() {
                                let wv = _mm512_set1_ps(*w.add(i));
                                for j in 0..XV {
                                    a[j] = _mm512_fmadd_ps(wv, xs[j], a[j]);
                                }
                            }
                        }
                    }
                }
                for (i, a) in acc.iter().enumerate().take(nf) {
                    let out = &mut y[((blk * OB + i) * oh + oy) * ow + x0..((blk * OB + i) * oh + oy + 1) * ow];
                    for (j, v) in a.iter().enumerate() {
                        let left = out.len().saturating_sub(16 * j);
                        if left == 0 {
                            break;
                        }
                        let m = if left >= 16 { 0xFFFF } else { ((1u32 << left) - 1) as u16 };
                        // SAFETY: the mask keeps the store inside this output row.
                        unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(16 * j), m, *v) };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, in f64.
    fn naive(p: &Patches, o: usize, x: &[f32], wt: &[f32], b: &[f32]) -> Vec<f64> {
        let mut y = vec![0f64; o * p.oh * p.ow];
        for f in 0..o {
            for oy in 0..p.oh {
                for ox in 0..p.ow {
                    let mut s = b[f] as f64;
                    for u in 0..p.kh {
                        for v in 0..p.kw {
                            let (iy, ix) = ((oy + u) as isize - p.ph as isize, (ox + v) as isize - p.pw as isize);
                            if iy >= 0 && ix >= 0 && (iy as usize) < p.h && (ix as usize) < p.w {
                                s += wt[(f * p.kh + u) * p.kw + v] as f64 * x[iy as usize * p.w + ix as usize] as f64;
                            }
                        }
                    }
                    y[(f * p.oh + oy) * p.ow + ox] = s;
                }
            }
        }
        y
    }

    fn vals(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Against the definition on shapes with partial register blocks (filters not a multiple
    /// of 8, rows not a multiple of 48 or shorter than 16), padding, and non-square kernels;
    /// a stale scratch and output must not leak into the result.
    #[test]
    fn matches_the_definition() {
        let p0 = Patches { c: 1, h: 1, w: 1, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0, oh: 1, ow: 1 };
        if !available(&p0) {
            return; // no AVX-512 here: the caller takes im2col
        }
        for (h, w, kh, kw, ph, pw, o) in [
            (48, 48, 5, 5, 0, 0, 64),
            (9, 7, 3, 2, 1, 0, 5),
            (30, 53, 5, 5, 2, 2, 9),
            (4, 4, 4, 4, 0, 0, 1),
            (12, 100, 11, 3, 5, 1, 17),
            (1, 1, 1, 1, 0, 0, 3),
            (6, 48, 5, 5, 2, 2, 9),
        ] {
            let (oh, ow) = (h + 2 * ph - kh + 1, w + 2 * pw - kw + 1);
            let p = Patches { c: 1, h, w, kh, kw, sh: 1, sw: 1, ph, pw, oh, ow };
            let (x, wt, b) = (vals(h * w, 1), vals(o * kh * kw, 2), vals(o, 3));
            for bias in [true, false] {
                let mut y = vec![f32::NAN; o * oh * ow + 5];
                let mut s = vec![f32::NAN; scratch_len(&p, o)];
                conv_single_channel(&p, o, &x, &wt, bias.then_some(&b[..]), &mut y, &mut s);
                let want = naive(&p, o, &x, &wt, &if bias { b.clone() } else { vec![0.0; o] });
                for (i, (&got, &want)) in y.iter().zip(&want).enumerate() {
                    assert!((got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "{p:?} o={o} bias={bias}: y[{i}] = {got}, want {want}");
                }
                assert!(y[o * oh * ow..].iter().all(|v| v.is_nan()), "{p:?}: wrote past the output");
            }
        }
    }

    /// An output size that does not match the geometry is refused, not read past the scratch.
    #[test]
    #[should_panic(expected = "does not match the geometry")]
    fn a_wrong_output_size_panics() {
        let p = Patches { c: 1, h: 1, w: 1, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0, oh: 2, ow: 1 };
        if !available(&p) {
            panic!("does not match the geometry (no AVX-512 here: nothing to check)");
        }
        let mut s = vec![0.0; scratch_len(&p, 1)];
        conv_single_channel(&p, 1, &[1.0], &[1.0], None, &mut [0.0; 2], &mut s);
    }
}
