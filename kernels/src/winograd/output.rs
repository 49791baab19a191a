//! The fused kernel's output transform (`Y = Aᵀ·M·A + b` of a block's tiles, written into the
//! output planes), and the lane interleaves it and the input gradient's scatter share.

use super::fused::{at, lanes, Segment, NB};
use super::Wino;
use std::arch::x86_64::*;

/// Index vectors that interleave the `M` row vectors of a segment's outputs (one lane per
/// tile) into output columns: `pair_*` take lanes 0-7 / 8-15 of two vectors alternately, `quad_*`
/// (F(4x4)) alternate pairs of lanes of two such interleaved vectors; for F(3x3), output vector
/// `k` takes column `16k + j` from lane `(16k + j) / 3` of vector `(16k + j) % 3`: `tri_ab[k]`
/// from the first two vectors, then `tri_c[k]` from the third where `tri_mask[k]` is set.
#[derive(Clone, Copy)]
pub(super) struct Interleave {
    pub(super) pair_lo: __m512i,
    pub(super) pair_hi: __m512i,
    quad_lo: __m512i,
    quad_hi: __m512i,
    tri_ab: [__m512i; 3],
    tri_c: [__m512i; 3],
    tri_mask: [u16; 3],
}

impl Interleave {
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) fn new<const M: usize>() -> Interleave {
        let pair: [i32; 16] = std::array::from_fn(|i| if i % 2 == 0 { i as i32 / 2 } else { 16 + i as i32 / 2 });
        let quad: [i32; 16] = std::array::from_fn(|i| (i / 4 * 2 + i % 2 + if i % 4 < 2 { 0 } else { 16 }) as i32);
        let load = |a: &[i32; 16], add: i32| {
            let v: [i32; 16] = std::array::from_fn(|i| a[i] + add);
            // SAFETY: an unaligned load of a local array of 16 i32 (AVX-512F: this function's).
            unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
        };
        // the F(3x3) vectors only for it: built for every block, they slowed F(2x2, 5x5)'s
        // output transform by 15% (criterion, one thread)
        let (mut tri_ab, mut tri_c, mut tri_mask) = ([_mm512_setzero_si512(); 3], [_mm512_setzero_si512(); 3], [0u16; 3]);
        if M == 3 {
            let tri = |k: usize, j: usize| ((16 * k + j) / 3, (16 * k + j) % 3);
            tri_ab = std::array::from_fn(|k| load(&std::array::from_fn(|j| (tri(k, j).0 + if tri(k, j).1 == 1 { 16 } else { 0 }) as i32), 0));
            tri_c = std::array::from_fn(|k| load(&std::array::from_fn(|j| tri(k, j).0 as i32), 0));
            tri_mask = std::array::from_fn(|k| (0..16).filter(|&j| tri(k, j).1 == 2).fold(0u16, |m, j| m | 1 << j));
        }
        Interleave { pair_lo: load(&pair, 0), pair_hi: load(&pair, 8), quad_lo: load(&quad, 0), quad_hi: load(&quad, 8), tri_ab, tri_c, tri_mask }
    }

    /// Stores output row `v` (`v[d]`: column `M·l + d` of tile `l`) at `row`, its first `cols`
    /// columns only.
    ///
    /// # Safety
    /// The CPU supports AVX-512F; `row..row + cols` is writable and `cols <= 16·M`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn store<const M: usize>(&self, row: *mut f32, v: [__m512; M], cols: isize) {
        let mut outs = [_mm512_setzero_ps(); M];
        match (&v[..], &mut outs[..]) {
            (&[v0, v1], [o0, o1]) => {
                *o0 = _mm512_permutex2var_ps(v0, self.pair_lo, v1);
                *o1 = _mm512_permutex2var_ps(v0, self.pair_hi, v1);
            }
            (&[v0, v1, v2], outs) => {
                for (k, o) in outs.iter_mut().enumerate() {
                    let ab = _mm512_permutex2var_ps(v0, self.tri_ab[k], v1);
                    *o = _mm512_mask_permutexvar_ps(ab, self.tri_mask[k], self.tri_c[k], v2);
                }
            }
            (&[v0, v1, v2, v3], [o0, o1, o2, o3]) => {
                let (a_lo, a_hi) = (_mm512_permutex2var_ps(v0, self.pair_lo, v1), _mm512_permutex2var_ps(v0, self.pair_hi, v1));
                let (b_lo, b_hi) = (_mm512_permutex2var_ps(v2, self.pair_lo, v3), _mm512_permutex2var_ps(v2, self.pair_hi, v3));
                *o0 = _mm512_permutex2var_ps(a_lo, self.quad_lo, b_lo);
                *o1 = _mm512_permutex2var_ps(a_lo, self.quad_hi, b_lo);
                *o2 = _mm512_permutex2var_ps(a_hi, self.quad_lo, b_hi);
                *o3 = _mm512_permutex2var_ps(a_hi, self.quad_hi, b_hi);
            }
            _ => unreachable!("output tiles of 2, 3 or 4 columns"),
        }
        for (k, o) in outs.into_iter().enumerate() {
            let mask = lanes(16 * k as isize, cols, 16);
            if mask != 0 {
                // SAFETY: the mask keeps columns below `cols`, writable (the caller's contract).
                unsafe { _mm512_mask_storeu_ps(row.wrapping_add(16 * k), mask, o) };
            }
        }
    }
}

/// Writes `Aᵀ·M·A + bias` of the segments' tiles into `y: [gn][o][oh][ow]`, clipped at the
/// bottom and right edges; `m: [α²][opad][NB]`. Channel by channel, so rows are written in
/// address order.
///
/// # Safety
/// The CPU supports AVX-512F; every segment ends at or before column `NB`.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn output<const A: usize, const M: usize>(g: &Wino, m: &[f32], opad: usize, segs: &[Segment], bias: Option<&[f32]>, y: &mut [f32]) {
    let (o, oh, ow) = (g.o, g.oh, g.ow);
    let il = Interleave::new::<M>();
    for oc in 0..o {
        let b = _mm512_set1_ps(bias.map_or(0.0, |b| b[oc]));
        for s in segs {
            let take = ((1u32 << s.n) - 1) as u16;
            let x0 = M * s.tx0; // first output column
            let cols = (ow - x0).min(M * s.n) as isize;
            let oy = M * s.ty;
            // plain loops, no closures: a closure here was not inlined, and its intrinsics then
            // ran as calls (10% of a saliency pass in perf)
            // sr[dy][j] = row dy of (Aᵀ·M) in column j
            let mut sr = [[_mm512_setzero_ps(); A]; M];
            for j in 0..A {
                let mut col = [_mm512_setzero_ps(); A];
                for (i, ci) in col.iter_mut().enumerate() {
                    // SAFETY: a masked load of the first `n` lanes of row `(i·α + j, oc)` of the
                    // block, inside `m`.
                    *ci = unsafe { _mm512_maskz_loadu_ps(take, m[((i * A + j) * opad + oc) * NB + s.j0..].as_ptr()) };
                }
                for (dy, v) in at::<A, M>(col).into_iter().enumerate() {
                    sr[dy][j] = v;
                }
            }
            let plane = &mut y[((s.img * o + oc) * oh) * ow..((s.img * o + oc + 1) * oh) * ow];
            for (dy, srow) in sr.into_iter().enumerate() {
                if oy + dy >= oh {
                    break;
                }
                // Y = s·A: the row's M outputs of every tile, plus the bias
                let mut outs = at::<A, M>(srow);
                for v in outs.iter_mut() {
                    *v = _mm512_add_ps(*v, b);
                }
                let row = plane[(oy + dy) * ow + x0..].as_mut_ptr();
                // SAFETY: `cols` stops at `ow` (and at the segment's end), inside this row of
                // the plane; `cols <= M·n <= 16·M`.
                unsafe { il.store::<M>(row, outs, cols) };
            }
        }
    }
}
