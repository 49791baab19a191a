//! Winograd F(2x2, 3x3), F(2x2, 5x5), F(3x3, 3x3) and F(4x4, 3x3) fused per block of [`NB`] tiles (AVX-512).
//!
//! [`super::conv3x3`] transforms a whole group of images into `V`, runs the GEMMs and transforms
//! all of `M` back: `V` and `M` are each several times the input or output, written and read
//! once more by the GEMM's packing, so the transforms are bound by memory traffic. Here the work
//! goes one block of `NB = NR = 32` tiles at a time (tiles numbered image by image, row by row,
//! so a block may span tile rows and images):
//!
//! ```text
//! for each block of NB tiles:
//!     V[t] = (Bᵀ·d·B)[t]  for the block's tiles, written straight in the GEMM's packed-B layout
//!                          ([t][c][NB]: one KC x NR micro-panel per transform point t)
//!     M[t] = U[t] · V[t]   the micro-kernel on U[t] packed once per call (MR-row panels)
//!     Y    = Aᵀ·M·A + b    for the block's tiles
//! ```
//!
//! so `V` (α²·C·NB floats) and `M` (α²·O·NB) stay in L1/L2, and nothing is packed twice.
//!
//! The F(2x2) transforms work on 16 tiles of one tile row per vector: the `α x α` patches of 16
//! adjacent tiles start 2 columns apart, so one input row of `30 + α` floats holds them all,
//! and de-interleaving its even and odd columns (at offsets 0, 2, 4) gives each patch column as
//! a vector over tiles. Zero padding and the image edges are masked loads; clipped outputs are
//! masked stores. Narrow tile rows, and every F(3x3, 3x3) and F(4x4, 3x3) geometry (tiles 3
//! or 4 columns apart), gather each lane's patch instead ([`input_gathered`]). The 2-D
//! transforms are the 1-D ones ([`bt`], [`at`], [`at_adjoint`]) applied down the columns and
//! then along the rows; the code is generic over `α` (4, 5 or 6) and the tile `m` (2, 3 or 4).
//!
//! Every output is computed by one block whatever the thread count, and the sum over channels
//! inside the micro-kernel has a fixed order, so results do not depend on how the caller splits
//! images between threads.

use super::output::output;
use super::Wino;
use crate::gemm::{avx512, MicroKernel};
use rayon::prelude::*;
use std::arch::x86_64::*;

/// Tiles per block: the AVX-512 micro-kernel's NR.
pub(super) const NB: usize = avx512::NR;
/// Rows of a packed filter panel: the micro-kernel's MR.
pub(super) const MR: usize = avx512::MR;
// `filters::transform_panels` writes one panel row per lane
const _: () = assert!(MR == super::filters::LANES);

/// Transformed filters packed for the fused kernel: `U[t]` as MR-row micro-panels, `[α²][Opad][C]`.
/// The panels come from and go back to the buffer pool (`crate::alloc`): a 128 -> 256 layer's
/// are 2 MiB, packed twice a training step.
#[derive(Clone, Debug)]
pub struct Fused {
    o: usize,
    c: usize,
    r: usize,
    m: usize,
    opad: usize,
    /// `U[t]ᵀ` packed ([`Fused::new_transposed`] or [`Fused::from_weights`] with
    /// [`PanelForm::Transposed`](super::PanelForm::Transposed), for the input gradient), not `U[t]`.
    transposed: bool,
    a: Vec<f32>,
}

impl Drop for Fused {
    fn drop(&mut self) {
        crate::alloc::recycle(std::mem::take(&mut self.a));
    }
}

impl Fused {
    /// True when the fused kernel runs here: the CPU has AVX-512 and no lower ISA was selected
    /// (`PUPIL_ISA`).
    pub fn available() -> bool {
        crate::selected_isa() == crate::Isa::Avx512
    }

    /// Packs `u: [α²][o][c]` (from [`super::filter_transform`] on `g`, or
    /// [`super::filter_transform_flipped`] for the geometry [`Wino::input_grad`]). None when
    /// the fused kernel is not [`available`](Fused::available): the caller then uses
    /// [`super::conv3x3`] (F(2x2, 3x3) only).
    pub fn new(g: &Wino, u: &[f32]) -> Option<Fused> {
        Fused::packed(g, u, false)
    }

    /// Packs the transposes `U[t]ᵀ` (`c x o`) of `u: [α²][o][c]` from [`super::filter_transform`]
    /// on the forward geometry `g`, for [`super::input_grad::conv_input_grad`]: its rows are
    /// the input channels and its depth the output channels. None as [`Fused::new`].
    pub fn new_transposed(g: &Wino, u: &[f32]) -> Option<Fused> {
        Fused::packed(g, u, true)
    }

    fn packed(g: &Wino, u: &[f32], transposed: bool) -> Option<Fused> {
        if !Fused::available() {
            return None;
        }
        let (o, c, p) = (g.o, g.c, g.points());
        assert!(u.len() >= g.filter_len(), "winograd Fused::new: filters shorter than {p}x{o}x{c}");
        // rows and depth of each packed U[t], and the strides that read it from u[t]
        let (rows, depth, rs, cs) = if transposed { (c, o, 1, c) } else { (o, c, c, 1) };
        let opad = rows.div_ceil(MR) * MR;
        let mut a = crate::alloc::buffer(p * opad * depth); // written in full: pack_a zero-pads the rows past `rows`
                                                            // the points in parallel (alexnet-bn's 128 -> 256 filters are 3.3 MB, packed on every
                                                            // call: a fixed cost that a batch of 32 felt); each point's panels are packed alike
        a.par_chunks_exact_mut(opad * depth.max(1)).enumerate().take(p).for_each(|(t, dst)| {
            // SAFETY: reads the `o x c` row-major block `u[t]` (as `rows x depth` through the
            // strides), writes `opad·depth` floats of `dst`, as `pack_a` requires; the plain
            // packer needs no particular ISA.
            unsafe { crate::gemm::pack::pack_a::<MR>(rows, depth, u[t * o * c..].as_ptr(), rs, cs, dst.as_mut_ptr()) };
        });
        Some(Fused { o: rows, c: depth, r: g.r, m: g.m, opad, transposed, a })
    }

    /// The packed filters straight from the forward weights `w: [o][c][r][r]`, without the
    /// `[α²][o][c]` copy in between: for [`PanelForm::Forward`] (`g` the forward geometry) what
    /// [`Fused::new`] packs from [`super::filter_transform`]; for [`PanelForm::Flipped`] (`g`
    /// the input gradient's geometry, [`Wino::input_grad`]) what it packs from
    /// [`super::filter_transform_flipped`] on `g.input_grad()`; for [`PanelForm::Transposed`]
    /// (`g` the forward geometry) what [`Fused::new_transposed`] packs. The same bits. None when
    /// the fused kernel is not [`available`](Fused::available).
    ///
    /// Panics when `w` is shorter than `g`'s `o·c·r²` weights.
    pub fn from_weights(g: &Wino, w: &[f32], form: super::PanelForm) -> Option<Fused> {
        if !Fused::available() {
            return None;
        }
        let transposed = form == super::PanelForm::Transposed;
        let (rows, depth) = if transposed { (g.c, g.o) } else { (g.o, g.c) };
        let opad = rows.div_ceil(MR) * MR;
        let mut a = crate::alloc::buffer(g.points() * opad * depth); // written in full, padding rows included
        let shape = super::filters::PanelShape { r: g.r, m: g.m, rows, depth, form };
        super::filters::transform_panels(shape, g.points(), w, &mut a);
        Some(Fused { o: rows, c: depth, r: g.r, m: g.m, opad, transposed, a })
    }

    /// The packed panels, for tests comparing the ways of building them.
    #[cfg(test)]
    pub(super) fn panels(&self) -> &[f32] {
        &self.a[..(self.m + self.r - 1).pow(2) * self.opad * self.c]
    }

    /// Rows of each packed `U[t]` rounded up to the micro-kernel's MR, and the packed panels,
    /// if these are the transposed filters of `g` ([`Fused::new_transposed`], or
    /// [`Fused::from_weights`] with `PanelForm::Transposed`).
    pub(super) fn transposed_panels(&self, g: &Wino) -> Option<(usize, &[f32])> {
        (self.transposed && (self.o, self.c, self.r, self.m) == (g.c, g.o, g.r, g.m)).then_some((self.opad, &self.a[..]))
    }

    /// Floats of per-call scratch [`conv_fused`] needs: one block's `V` and `M`.
    pub fn scratch_len(&self) -> usize {
        let alpha = self.m + self.r - 1;
        alpha * alpha * (self.c + self.opad) * NB
    }

    /// Images a caller should hand to one [`conv_fused`] call (one task): the fewest, up to
    /// `max`, whose tiles fill at least 90% of the blocks they take (22x22 outputs: 121 tiles,
    /// 1 image; 10x10: 25 tiles, 5 images), else the count that fills them best. It depends
    /// only on the geometry.
    pub fn images_per_task(g: &Wino, max: usize) -> usize {
        let tpi = g.tiles_per_image().max(1);
        let fill = |n: usize| (n * tpi) as f64 / ((n * tpi).div_ceil(NB) * NB) as f64;
        let max = max.max(1);
        (1..=max).find(|&n| fill(n) >= 0.9).unwrap_or_else(|| (1..=max).max_by(|&a, &b| fill(a).total_cmp(&fill(b))).unwrap_or(1))
    }
}

/// `y = conv(x) + bias` for `gn` images, as [`super::conv3x3`] (3x3 or 5x5 kernels, 2x2 or 4x4
/// tiles), with the filters packed in `f`. `scratch` holds at least [`Fused::scratch_len`] floats (contents
/// ignored).
///
/// Panics when a slice is too short or `f` does not match the geometry.
#[allow(clippy::too_many_arguments)]
pub fn conv_fused(g: &Wino, gn: usize, x: &[f32], f: &Fused, bias: Option<&[f32]>, y: &mut [f32], scratch: &mut [f32]) {
    assert!(
        !f.transposed && (f.o, f.c, f.r, f.m) == (g.o, g.c, g.r, g.m),
        "winograd conv_fused: {}x{} filters {}x{}{} for {}x{} tiles, a {}->{} {}x{} convolution in {}x{} tiles",
        f.r,
        f.r,
        f.o,
        f.c,
        if f.transposed { " (transposed, for the input gradient)" } else { "" },
        f.m,
        f.m,
        g.c,
        g.o,
        g.r,
        g.r,
        g.m,
        g.m
    );
    assert!(x.len() >= gn * g.in_len(), "winograd conv_fused: input shorter than {gn} images of {g:?}");
    assert!(y.len() >= gn * g.out_len(), "winograd conv_fused: output shorter than {gn} images of {g:?}");
    assert!(scratch.len() >= f.scratch_len(), "winograd conv_fused: scratch shorter than {}", f.scratch_len());
    assert!(bias.is_none_or(|b| b.len() >= g.o), "winograd conv_fused: bias shorter than {}", g.o);
    assert!(Fused::available(), "winograd conv_fused: needs AVX-512");
    // F(3x3) and F(4x4) always gather their input (`run`): the offsets must fit in i32
    assert!(g.m == 2 || super::offsets_fit(g.in_len()), "winograd conv_fused: images too large for F({0}x{0}) gathers ({g:?})", g.m);
    // SAFETY: AVX-512F is the selected ISA (checked above, and `selected_isa` checks the CPU);
    // every slice length was checked above.
    unsafe { by_tile!(g, run(g, gn, x, f, bias, y, scratch)) }
}

/// One run of tiles inside one tile row of one image: tiles `tx0..tx0 + n` of row `ty`, which
/// are columns `j0..j0 + n` of the block.
#[derive(Clone, Copy)]
pub(super) struct Segment {
    pub(super) img: usize,
    pub(super) ty: usize,
    pub(super) tx0: usize,
    pub(super) n: usize,
    pub(super) j0: usize,
}

/// Cuts the tiles `b0..b0 + nb` into segments of at most 16 tiles within one tile row.
pub(super) fn segments(g: &Wino, b0: usize, nb: usize, mut f: impl FnMut(Segment)) {
    let (_, tw) = g.tiles();
    let tpi = g.tiles_per_image();
    let mut j = 0;
    while j < nb {
        let tile = b0 + j;
        let (img, r) = (tile / tpi, tile % tpi);
        let (ty, tx0) = (r / tw, r % tw);
        let n = 16.min(tw - tx0).min(nb - j);
        f(Segment { img, ty, tx0, n, j0: j });
        j += n;
    }
}

/// Lanes `l` of a 16-lane load at column `start` that are inside `0..w` and below `limit`.
#[inline(always)]
pub(super) fn lanes(start: isize, w: isize, limit: isize) -> u16 {
    let lo = (-start).clamp(0, 16);
    let hi = (w - start).min(limit).clamp(0, 16);
    if hi <= lo {
        0
    } else {
        (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as u16
    }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run<const A: usize, const M: usize>(g: &Wino, gn: usize, x: &[f32], f: &Fused, bias: Option<&[f32]>, y: &mut [f32], scratch: &mut [f32]) {
    let total = gn * g.tiles_per_image();
    let (c, opad, p) = (g.c, f.opad, A * A);
    let (v, rest) = scratch.split_at_mut(p * c * NB);
    let m = &mut rest[..p * opad * NB];
    let mut segs = Vec::with_capacity(NB);
    let gather = gathers(g);
    for b0 in (0..total).step_by(NB) {
        let nb = NB.min(total - b0);
        if nb < NB {
            // columns past the last tile feed only unused columns of M; keep them finite (two
            // masked stores a row: `fill` became a libc call per row, 2.5% of an alexnet-bn step)
            let (lo, hi) = (!lanes(0, nb as isize, 16), !lanes(16, nb as isize, 16));
            for row in v.chunks_exact_mut(NB) {
                // SAFETY: a row holds NB = 32 floats, two vectors of 16.
                unsafe {
                    _mm512_mask_storeu_ps(row.as_mut_ptr(), lo, _mm512_setzero_ps());
                    _mm512_mask_storeu_ps(row.as_mut_ptr().add(16), hi, _mm512_setzero_ps());
                }
            }
        }
        segs.clear();
        segments(g, b0, nb, |s| segs.push(s));
        // SAFETY: AVX-512F is enabled in this function (see the caller); segments end at NB,
        // and the gather's offsets fit (`gathers` for F(2x2), asserted by `conv_fused` for F(3x3) and F(4x4)).
        unsafe {
            if gather {
                gathered::<A, M>(g, x, b0, nb, v, NB);
            } else {
                rows::<A>(g, x, &segs, v, NB);
            }
        }
        for t in 0..p {
            let vt = v[t * c * NB..].as_ptr();
            for ob in 0..opad / MR {
                let rows = MR.min(g.o - ob * MR);
                let a = f.a[(t * opad + ob * MR) * c..].as_ptr();
                let mt = m[(t * opad + ob * MR) * NB..].as_mut_ptr();
                // SAFETY: `a` is a packed MR x c panel and `vt` a packed c x NB one (both inside
                // their slices), `mt` holds `rows` rows of NB floats; AVX-512F is enabled.
                unsafe { avx512::Avx512::kernel(rows, c, 1.0, a, vt, 0.0, mt, NB) };
            }
        }
        // SAFETY: as above.
        unsafe { output::<A, M>(g, m, opad, &segs, bias, y) };
    }
}

/// `Bᵀ·d` along one axis of `α` vectors (see the module docs of [`super`] for the matrices).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn bt<const A: usize>(d: [__m512; A]) -> [__m512; A] {
    let mut o = d;
    match (&d[..], &mut o[..]) {
        (&[d0, d1, d2, d3], [o0, o1, o2, o3]) => {
            *o0 = _mm512_sub_ps(d0, d2);
            *o1 = _mm512_add_ps(d1, d2);
            *o2 = _mm512_sub_ps(d2, d1);
            *o3 = _mm512_sub_ps(d1, d3);
        }
        // F(3x3, 3x3): rows 0, 1, 2, 4 build on row 3, d3 - d1
        (&[d0, d1, d2, d3, d4], [o0, o1, o2, o3, o4]) => {
            let two = _mm512_set1_ps(2.0);
            let d31 = _mm512_sub_ps(d3, d1);
            *o0 = _mm512_fmadd_ps(two, _mm512_sub_ps(d0, d2), d31);
            *o1 = _mm512_sub_ps(d31, _mm512_add_ps(d1, d2));
            *o2 = _mm512_fmadd_ps(_mm512_set1_ps(3.0), _mm512_sub_ps(d1, d2), d31);
            *o3 = d31;
            *o4 = _mm512_fnmadd_ps(two, d31, _mm512_sub_ps(d4, d2));
        }
        (&[d0, d1, d2, d3, d4, d5], [o0, o1, o2, o3, o4, o5]) => {
            let (two, four, five) = (_mm512_set1_ps(2.0), _mm512_set1_ps(4.0), _mm512_set1_ps(5.0));
            // rows 1-4 share sums: (d3 + d4) - 4(d1 + d2), (d4 - d3) + 4(d1 - d2), (d4 - d2) ± 2(d3 - d1)
            let (d42, d31) = (_mm512_sub_ps(d4, d2), _mm512_sub_ps(d3, d1));
            *o0 = _mm512_fmadd_ps(four, d0, _mm512_fnmadd_ps(five, d2, d4));
            *o1 = _mm512_fnmadd_ps(four, _mm512_add_ps(d1, d2), _mm512_add_ps(d3, d4));
            *o2 = _mm512_fmadd_ps(four, _mm512_sub_ps(d1, d2), _mm512_sub_ps(d4, d3));
            *o3 = _mm512_fmadd_ps(two, d31, d42);
            *o4 = _mm512_fnmadd_ps(two, d31, d42);
            *o5 = _mm512_fmadd_ps(four, d1, _mm512_fnmadd_ps(five, d3, d5));
        }
        _ => unreachable!("Winograd transforms for α = 4, 5 or 6"),
    }
    o
}

/// `Aᵀ·m` along one axis: the `M` outputs of `α` products.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn at<const A: usize, const M: usize>(m: [__m512; A]) -> [__m512; M] {
    let mut o = [_mm512_setzero_ps(); M];
    match (&m[..], &mut o[..]) {
        (&[m0, m1, m2, m3], [o0, o1]) => {
            *o0 = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
            *o1 = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
        }
        (&[m0, m1, m2, m3, m4, m5], [o0, o1]) => {
            *o0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(m0, m1), m2), m3), m4);
            let diff = _mm512_fmadd_ps(_mm512_set1_ps(2.0), _mm512_sub_ps(m3, m4), _mm512_sub_ps(m1, m2));
            *o1 = _mm512_add_ps(diff, m5);
        }
        // F(3x3, 3x3): the points 1, -1, 2 to the powers 0, 1, 2, and ∞ in the last row
        (&[m0, m1, m2, m3, m4], [o0, o1, o2]) => {
            let (s12, d12) = (_mm512_add_ps(m1, m2), _mm512_sub_ps(m1, m2));
            *o0 = _mm512_add_ps(_mm512_add_ps(m0, s12), m3);
            *o1 = _mm512_fmadd_ps(_mm512_set1_ps(2.0), m3, d12);
            *o2 = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(4.0), m3, s12), m4);
        }
        // F(4x4, 3x3): rows 1, 2, 3 weigh (m1 ∓ m2) by 1 and (m3 ∓ m4) by 2, 4, 8
        (&[m0, m1, m2, m3, m4, m5], [o0, o1, o2, o3]) => {
            let (s12, d12, s34, d34) = (_mm512_add_ps(m1, m2), _mm512_sub_ps(m1, m2), _mm512_add_ps(m3, m4), _mm512_sub_ps(m3, m4));
            *o0 = _mm512_add_ps(_mm512_add_ps(m0, s12), s34);
            *o1 = _mm512_fmadd_ps(_mm512_set1_ps(2.0), d34, d12);
            *o2 = _mm512_fmadd_ps(_mm512_set1_ps(4.0), s34, s12);
            *o3 = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0), d34, d12), m5);
        }
        _ => unreachable!("Winograd output transforms for α = 4 or 6 and m = 2, α = 5 and m = 3, α = 6 and m = 4"),
    }
    o
}

/// `A·y` along one axis: the adjoint of [`at`], `α` values from `M`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn at_adjoint<const A: usize, const M: usize>(y: [__m512; M]) -> [__m512; A] {
    let mut o = [_mm512_setzero_ps(); A];
    match (&y[..], &mut o[..]) {
        (&[y0, y1], [o0, o1, o2, o3]) => {
            (*o0, *o1, *o2) = (y0, _mm512_add_ps(y0, y1), _mm512_sub_ps(y0, y1));
            *o3 = _mm512_sub_ps(_mm512_setzero_ps(), y1);
        }
        (&[y0, y1], [o0, o1, o2, o3, o4, o5]) => {
            let two = _mm512_set1_ps(2.0);
            (*o0, *o1, *o2) = (y0, _mm512_add_ps(y0, y1), _mm512_sub_ps(y0, y1));
            (*o3, *o4, *o5) = (_mm512_fmadd_ps(two, y1, y0), _mm512_fnmadd_ps(two, y1, y0), y1);
        }
        // F(3x3, 3x3): column i of Aᵀ
        (&[y0, y1, y2], [o0, o1, o2, o3, o4]) => {
            let e = _mm512_add_ps(y0, y2);
            (*o0, *o1, *o2) = (y0, _mm512_add_ps(e, y1), _mm512_sub_ps(e, y1));
            (*o3, *o4) = (_mm512_fmadd_ps(_mm512_set1_ps(2.0), y1, _mm512_fmadd_ps(_mm512_set1_ps(4.0), y2, y0)), y2);
        }
        // F(4x4, 3x3): column i of Aᵀ, the points' powers (1, 2, 4, 8 at ±2)
        (&[y0, y1, y2, y3], [o0, o1, o2, o3, o4, o5]) => {
            let (e1, d1) = (_mm512_add_ps(y0, y2), _mm512_add_ps(y1, y3));
            let (e2, d2) = (_mm512_fmadd_ps(_mm512_set1_ps(4.0), y2, y0), _mm512_fmadd_ps(_mm512_set1_ps(8.0), y3, _mm512_add_ps(y1, y1)));
            (*o0, *o1, *o2) = (y0, _mm512_add_ps(e1, d1), _mm512_sub_ps(e1, d1));
            (*o3, *o4, *o5) = (_mm512_add_ps(e2, d2), _mm512_sub_ps(e2, d2), y3);
        }
        _ => unreachable!("Winograd output adjoints for α = 4 or 6 and m = 2, α = 5 and m = 3, α = 6 and m = 4"),
    }
    o
}

/// `Bᵀ·d·B` of 16 tiles at once (`d[r][k]`: row `r`, column `k` of every tile's patch), point
/// `(i, j)` at `[i][j]`: [`bt`] down each column, then along each row.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
fn input_transform<const A: usize>(d: &[[__m512; A]; A]) -> [[__m512; A]; A] {
    // cols[k][i] = (Bᵀ·d)[i][k]; built with `from_fn`, as zero-filled arrays of 36 vectors
    // became memset calls
    let cols: [[__m512; A]; A] = std::array::from_fn(|k| bt::<A>(std::array::from_fn(|r| d[r][k])));
    std::array::from_fn(|i| bt::<A>(std::array::from_fn(|k| cols[k][i])))
}

/// Indices de-interleaving two vectors: the even lanes of `(lo, hi)`, then the odd ones.
#[inline(always)]
pub(super) fn evens_odds() -> (__m512i, __m512i) {
    let even: [i32; 16] = std::array::from_fn(|i| 2 * i as i32);
    let odd: [i32; 16] = std::array::from_fn(|i| 2 * i as i32 + 1);
    // SAFETY: unaligned loads of two local arrays of 16 i32.
    unsafe { (_mm512_loadu_si512(even.as_ptr().cast()), _mm512_loadu_si512(odd.as_ptr().cast())) }
}

/// Writes `(Bᵀ·d·B)` of the segments' tiles, every channel, into columns `j0..j0 + n` of
/// `v: [α²][c][ld]`, working along tile rows (see [`input_gathered`] for narrow ones).
///
/// # Safety
/// The CPU supports AVX-512F; every segment ends at or before column `ld`.
pub(super) unsafe fn input_segments(g: &Wino, x: &[f32], segs: &[Segment], v: &mut [f32], ld: usize) {
    // SAFETY: the caller's contract.
    unsafe { by_alpha!(g, rows(g, x, segs, v, ld)) }
}

/// [`input_segments`] for `α = A`. Channel by channel, so the input rows are read in address order.
///
/// # Safety
/// As [`input_segments`].
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn rows<const A: usize>(g: &Wino, x: &[f32], segs: &[Segment], v: &mut [f32], ld: usize) {
    let (c, w) = (g.c, g.w as isize);
    let (even, odd) = evens_odds();
    for ci in 0..c {
        for s in segs {
            let x0 = 2 * s.tx0 as isize - g.pw as isize; // first input column of the segment
            let span = 2 * s.n as isize + A as isize - 2; // input columns the segment's patches cover
                                                          // the load masks at offsets 0, 16, 2, 18, 4, 20 (once per segment, not per row)
            let masks: [u16; 6] = std::array::from_fn(|i| {
                let off = (i / 2 * 2 + i % 2 * 16) as isize;
                lanes(x0 + off, w, span - off)
            });
            let store = ((1u32 << s.n) - 1) as u16;
            let y0 = 2 * s.ty as isize - g.ph as isize;
            // d[r][k]: column k of patch row r, over the segment's tiles (0 above and below the image)
            let plane = ((s.img * c + ci) * g.h * g.w) as isize;
            // a loop, not `array::from_fn` with a closure: the closure stopped being inlined
            // when the F(3x3) forms were added (perf: 6.6% of an alexnet-bn step in the
            // closure, its 5x5 layer's backward 20% slower)
            let mut d = [[_mm512_setzero_ps(); A]; A];
            for (r, dr) in d.iter_mut().enumerate() {
                // SAFETY: AVX-512F is enabled here; `patch_row` reads only inside `x`.
                *dr = unsafe { patch_row::<A>(x, plane, y0 + r as isize, g, x0, &masks, even, odd) };
            }
            for (t, o) in input_transform::<A>(&d).as_flattened().iter().enumerate() {
                let dst = &mut v[(t * c + ci) * ld + s.j0..];
                debug_assert!(dst.len() >= s.n && s.j0 + s.n <= ld);
                // SAFETY: the store mask keeps the first `n` lanes, and `j0 + n <= ld` (the
                // caller's contract) lies inside the row.
                unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), store, *o) };
            }
        }
    }
}

/// Row `iy` (of `h`; zeros outside) of the patches of one segment whose first input column is
/// `x0`, in the plane starting at `plane` in `x`: column `k` of every patch as a vector over
/// the segment's tiles, from the 32 floats at columns `x0 + 2q` (`q = k / 2`) de-interleaved.
/// `masks` keep the lanes inside the row and the segment (offsets 0, 16, 2, 18, 4, 20). A
/// function rather than a closure: as a closure it was not inlined (8% of a step in perf).
///
/// # Safety
/// The CPU supports AVX-512F; `plane` is the offset of an `h x w` plane inside `x`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn patch_row<const A: usize>(x: &[f32], plane: isize, iy: isize, g: &Wino, x0: isize, masks: &[u16; 6], even: __m512i, odd: __m512i) -> [__m512; A] {
    if iy < 0 || iy >= g.h as isize {
        return [_mm512_setzero_ps(); A];
    }
    let at = plane + iy * g.w as isize + x0; // offset of the segment's first column in `x`
    let ld = |off: isize, k: u16| {
        let p = at + off;
        if p >= 0 && p as usize + 16 <= x.len() {
            // SAFETY: the 16 floats at `p` lie inside `x`; the mask then zeroes the lanes outside
            // the row (a full load and a blend: the input transform took about 10% less time
            // than with masked loads, perf on the bench).
            unsafe { _mm512_maskz_mov_ps(k, _mm512_loadu_ps(x.as_ptr().add(p as usize))) }
        } else {
            // SAFETY: a masked load touches only its set lanes, which lie inside the row
            // (`lanes` keeps columns in 0..w); unset lanes never fault.
            unsafe { _mm512_maskz_loadu_ps(k, x.as_ptr().wrapping_offset(p)) }
        }
    };
    let mut out = [_mm512_setzero_ps(); A];
    for q in 0..A / 2 {
        let off = 2 * q as isize;
        let (lo, hi) = (ld(off, masks[2 * q]), ld(off + 16, masks[2 * q + 1]));
        out[2 * q] = _mm512_permutex2var_ps(lo, even, hi);
        out[2 * q + 1] = _mm512_permutex2var_ps(lo, odd, hi);
    }
    out
}

/// Tile rows at most this many tiles wide take [`input_gathered`]: [`input_segments`] works
/// on one tile row per vector, so on a 10x10 output (5 tiles a row) it would leave 11 of its
/// 16 lanes idle. At 8, alexnet-bn's 5x5 layer (9 tiles a row, 7 lanes idle) took the rows:
/// gathering made its forward pass 14-18% faster and its `dW` 7-11% (`conv_parts 32 64 22 5 0`,
/// 12 and 10 alternated pairs, 9-12 of them faster); 11 tiles (a 26x26 input) gained 10% and
/// 7% (10 pairs, 7 and 6 faster). Wider rows were not measured.
pub(super) const GATHER_MAX_TW: usize = 11;

/// Whether [`input_gathered`] serves this geometry: always for F(3x3) and F(4x4) (their tiles
/// start 3 or 4 columns apart, and [`input_segments`] is F(2x2)'s; the offsets are checked where it is
/// called), for F(2x2) narrow tile rows with offsets that fit the gather's 32-bit indices
/// ([`super::offsets_fit`]).
pub(super) fn gathers(g: &Wino) -> bool {
    g.m != 2 || (g.tiles().1 <= GATHER_MAX_TW && super::offsets_fit(g.in_len()))
}

/// [`input_segments`] for the tiles `b0..b0 + nb` (numbered image by image, row by row) of
/// `x: [images][c][h][w]`, into columns `0..nb` of `v: [α²][c][ld]`, 16 tiles per vector
/// whatever row or image they lie in: each lane's patch is gathered from its own place, the
/// padding and the image edges masked. Computes the same bits as [`input_segments`] (which
/// serves F(2x2) only).
///
/// # Safety
/// The CPU supports AVX-512F; `nb <= ld`; [`super::offsets_fit`] holds for `g.in_len()`.
pub(super) unsafe fn input_gathered(g: &Wino, x: &[f32], b0: usize, nb: usize, v: &mut [f32], ld: usize) {
    // SAFETY: the caller's contract.
    unsafe { by_tile!(g, gathered(g, x, b0, nb, v, ld)) }
}

/// [`input_gathered`] for `α = A`, `m = M`.
///
/// # Safety
/// As [`input_gathered`].
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gathered<const A: usize, const M: usize>(g: &Wino, x: &[f32], b0: usize, nb: usize, v: &mut [f32], ld: usize) {
    let (c, h, w, plane) = (g.c, g.h as isize, g.w as isize, g.h * g.w);
    let (tpi, tw) = (g.tiles_per_image(), g.tiles().1);
    for j0 in (0..nb).step_by(16) {
        let n = 16.min(nb - j0);
        // lane l: the top-left input of its patch, as an element offset in channel 0 of the
        // vector's first image (16 tiles span at most 16 images: `offsets_fit`)
        let img0 = (b0 + j0) / tpi;
        let x = &x[img0 * c * plane..];
        let mut idx = [0i32; 16];
        let mut masks = [[0u16; A]; A];
        for (l, id) in idx.iter_mut().enumerate().take(n) {
            let tile = b0 + j0 + l;
            let (img, r) = (tile / tpi - img0, tile % tpi);
            let (iy, ix) = ((M * (r / tw)) as isize - g.ph as isize, (M * (r % tw)) as isize - g.pw as isize);
            *id = ((img * c * plane) as isize + iy * w + ix) as i32;
            for (i, mi) in masks.iter_mut().enumerate() {
                for (k, m) in mi.iter_mut().enumerate() {
                    let (y, xx) = (iy + i as isize, ix + k as isize);
                    if (0..h).contains(&y) && (0..w).contains(&xx) {
                        *m |= 1 << l;
                    }
                }
            }
        }
        let store = ((1u32 << n) - 1) as u16;
        // SAFETY: an unaligned load of a local array of 16 i32.
        let base = unsafe { _mm512_loadu_si512(idx.as_ptr().cast()) };
        let offsets: [[__m512i; A]; A] =
            std::array::from_fn(|i| std::array::from_fn(|k| _mm512_add_epi32(base, _mm512_set1_epi32(i as i32 * w as i32 + k as i32))));
        for ci in 0..c {
            let xc = x.as_ptr().wrapping_add(ci * plane);
            // SAFETY: a lane is gathered only when its mask bit is set, i.e. its pixel lies inside
            // its image's plane `ci`, inside `x` (the caller's contract); other lanes read nothing.
            let d: [[__m512; A]; A] = std::array::from_fn(|i| {
                std::array::from_fn(|k| unsafe { _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), masks[i][k], offsets[i][k], xc.cast()) })
            });
            for (t, o) in input_transform::<A>(&d).as_flattened().iter().enumerate() {
                let dst = &mut v[(t * c + ci) * ld + j0..];
                debug_assert!(dst.len() >= n && j0 + n <= ld);
                // SAFETY: the store mask keeps the first `n` lanes, inside the row (`nb <= ld`).
                unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), store, *o) };
            }
        }
    }
}
