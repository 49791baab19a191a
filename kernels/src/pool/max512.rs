//! The max pool on AVX-512: the same separable passes and the same answers, bit for bit, as
//! the generic body in `max.rs` (values, and argmax by the row-major tie rule), but 16 lanes
//! wide, with the lane selects as mask moves and no scalar work per output.
//!
//! Per plane, each pass over all output rows before the next:
//! - column pass: for blocks of up to [`BLOCK`] vectors of padded columns, the `kh` window
//!   rows go down the block with the rows outermost, so the block's vectors are independent
//!   chains that the core runs side by side. The argmax is the winning row `ky` per column,
//!   turned into the position key `py << 16 | px` once at the end;
//! - stride 2 splits the candidates into even and odd columns with two-source permutes; other
//!   strides use `split_phases`; stride 1 reads the candidates as they are;
//! - row pass: each vector of 16 outputs goes across the `kw` window columns;
//! - keys become flat indices (or [`PADDED`]) in registers, and values and argmax are stored
//!   straight into the output (a mask only on the last vector of the output slice).
//!
//! Where the time goes (perf, 5x5 stride 2 on 44x44 planes): about half is reading the input
//! planes from memory; a plane with argmax costs 3.4-4.7 µs of one core against 6.1-11 µs for
//! the AVX2 build (`examples/pool_cycles`, 2026-11-29, a busy machine).
//!
//! The selects, lane by lane (`x` the running maximum, `y` the candidate):
//! - `take(x, y) = ord(x) & !(y <= x)`: `y > x`, or `y` is a NaN and `x` is not — the
//!   generic body's `(y > x) | (isnan(y) & !isnan(x))` as two compares;
//! - keyed (row pass): `take` or, on equal values or two NaNs, the smaller key.

use super::max::PADDED;
use super::{split_phases, Window};
use std::arch::x86_64::*;

/// Lanes per vector.
const V: usize = 16;
/// Vectors of a row the column pass runs side by side.
const BLOCK: usize = 4;

/// Per-call scratch: the zero-padded plane `[hp][wl]` (plus one block of slack after it, so
/// the column pass may read whole blocks), the column candidates and keys of every output row
/// `[oh][wl]` (room after the last row for the row pass's reads past the last window column),
/// and their phases `[oh][sw][plen]` for strides above 1.
///
/// Each pass runs over the whole plane before the next starts, so the row pass reads the
/// candidates long after they were stored: its loads start at any column, and a load that
/// overlaps two stores still in flight cannot be forwarded from them. (On the seed shapes this
/// measured the same as running the passes row by row, where the input's memory reads
/// dominate; it costs `oh` rows of scratch.)
struct Scratch {
    plane: Vec<f32>,
    cv: Vec<f32>,
    ck: Vec<u32>,
    pv: Vec<f32>,
    pk: Vec<u32>,
    wl: usize,
    /// Length of one phase (`wl / sw` rounded up; `wl` when `sw == 1`).
    plen: usize,
}

impl Scratch {
    fn new(win: &Window, oh: usize, ow: usize, keys: bool) -> Self {
        let (hp, wp) = win.padded();
        // a multiple of 2V, so the stride-2 split works on whole vector pairs
        let wl = wp.next_multiple_of(2 * V);
        let owl = ow.next_multiple_of(V);
        let plen = if win.sw == 1 { wl } else { wl.div_ceil(win.sw) };
        let room = oh * wl + win.kw + owl + BLOCK * V;
        let phases = if win.sw == 1 { 0 } else { oh * win.sw * plen + win.kw + owl };
        let k = |n: usize| vec![0u32; if keys { n } else { 0 }];
        Scratch { plane: vec![0.0; hp * wl + BLOCK * V], cv: vec![0.0; room], ck: k(room), pv: vec![0.0; phases], pk: k(phases), wl, plen }
    }
}

/// Lanes `0..n` (`n <= 16`) as a mask.
#[inline(always)]
fn lanes(n: usize) -> __mmask16 {
    if n >= V {
        0xFFFF
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

/// `take(x, y)` of the module docs.
#[inline]
#[target_feature(enable = "avx512f")]
fn take(x: __m512, y: __m512) -> __mmask16 {
    let ord = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(x, x);
    _mm512_mask_cmp_ps_mask::<_CMP_NLE_UQ>(ord, y, x)
}

/// The row pass's keyed select: candidate `(y, yk)` replaces `(x, xk)` where it is greater,
/// equal with a smaller key, or a NaN where `x` is not (or both are, with a smaller key).
#[inline]
#[target_feature(enable = "avx512f")]
fn keyed(x: __m512, xk: __m512i, y: __m512, yk: __m512i) -> (__m512, __m512i) {
    let earlier = _mm512_cmplt_epu32_mask(yk, xk);
    let gt = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(y, x);
    let eq = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(y, x);
    let ynan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(y, y);
    let xnan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
    let t = gt | (eq & earlier) | (ynan & (!xnan | earlier));
    (_mm512_mask_mov_ps(x, t, y), _mm512_mask_mov_epi32(xk, t, yk))
}

/// Copies plane `x` (`h x w`) into the padded block at row `pt`, column `pl`.
#[inline]
#[target_feature(enable = "avx512f")]
fn load_plane(s: &mut Scratch, x: &[f32], win: &Window) {
    let (pt, pl, w, wl) = (win.pad[0], win.pad[2], win.w, s.wl);
    for (i, r) in x.chunks_exact(w).enumerate() {
        let d = &mut s.plane[(pt + i) * wl + pl..];
        debug_assert!(d.len() >= w.next_multiple_of(V));
        let d = d.as_mut_ptr();
        for (j, rc) in r.chunks(V).enumerate() {
            // SAFETY: the load is masked to the chunk's lanes; the store writes 16 lanes, the
            // ones past the row's `w` as zeros: into this row's right padding or the next
            // row's left padding (both zero), or into the next row's columns, which are
            // written after this row (or, past the last row, the bottom padding and the slack:
            // the plane has `BLOCK * V >= V` floats of slack after its last row).
            unsafe { _mm512_storeu_ps(d.add(j * V), _mm512_maskz_loadu_ps(lanes(rc.len()), rc.as_ptr())) }
        }
    }
}

/// Column pass of output row `oy`: `cv[oy·wl + j]` = the column maximum over the window's
/// rows, and with `keys`, `ck[oy·wl + j]` = its position key.
#[inline]
#[target_feature(enable = "avx512f")]
fn column_pass(s: &mut Scratch, win: &Window, oy: usize, keys: bool) {
    let (wl, kh) = (s.wl, win.kh);
    let top = oy * win.sh;
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let rows = &s.plane[top * wl..];
    let dst = oy * wl;
    for b0 in (0..wl).step_by(BLOCK * V) {
        let mut acc = [_mm512_setzero_ps(); BLOCK];
        let mut row = [_mm512_setzero_si512(); BLOCK];
        // SAFETY: rows `top..top + kh` of the plane hold `wl` floats each, and the plane has a
        // block of slack after its last row, so every read of `BLOCK` vectors from column `b0`
        // (< wl) stays inside `s.plane`; stores go to `cv` / `ck`, which have that room too.
        unsafe {
            for (i, a) in acc.iter_mut().enumerate() {
                *a = _mm512_loadu_ps(rows.as_ptr().add(b0 + i * V));
            }
            for ky in 1..kh {
                let r = rows.as_ptr().add(ky * wl + b0);
                let kyv = _mm512_set1_epi32(ky as i32);
                for i in 0..BLOCK {
                    let y = _mm512_loadu_ps(r.add(i * V));
                    let t = take(acc[i], y);
                    acc[i] = _mm512_mask_mov_ps(acc[i], t, y);
                    if keys {
                        row[i] = _mm512_mask_mov_epi32(row[i], t, kyv);
                    }
                }
            }
            for i in 0..BLOCK {
                _mm512_storeu_ps(s.cv.as_mut_ptr().add(dst + b0 + i * V), acc[i]);
                if keys {
                    // key = (top + ky) << 16 | column
                    let py = _mm512_add_epi32(row[i], _mm512_set1_epi32(top as i32));
                    let px = _mm512_add_epi32(iota, _mm512_set1_epi32((b0 + i * V) as i32));
                    let k = _mm512_or_si512(_mm512_slli_epi32::<16>(py), px);
                    _mm512_storeu_si512(s.ck.as_mut_ptr().add(dst + b0 + i * V).cast(), k);
                }
            }
        }
    }
}

/// Splits `src[..wl]` (`wl` a multiple of 32) into even and odd columns: `dst[j] = src[2j]`,
/// `dst[plen + j] = src[2j + 1]`.
#[inline]
#[target_feature(enable = "avx512f")]
fn split2<T: Copy>(src: &[T], wl: usize, dst: &mut [T], plen: usize) {
    assert!(size_of::<T>() == 4 && src.len() >= wl && dst.len() >= plen + wl / 2 && wl.is_multiple_of(2 * V));
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for j in (0..wl).step_by(2 * V) {
        // SAFETY: T is 4 bytes wide (asserted), `j + 2V <= wl <= src.len()`, and the stores
        // write `V` elements at `j/2` and `plen + j/2`, below `plen + wl/2 <= dst.len()`.
        unsafe {
            let p = src.as_ptr().add(j).cast::<i32>();
            let (a, b) = (_mm512_loadu_si512(p.cast()), _mm512_loadu_si512(p.add(V).cast()));
            let d = dst.as_mut_ptr().cast::<i32>();
            _mm512_storeu_si512(d.add(j / 2).cast(), _mm512_permutex2var_epi32(a, even, b));
            _mm512_storeu_si512(d.add(plen + j / 2).cast(), _mm512_permutex2var_epi32(a, odd, b));
        }
    }
}

/// Which of [`small_planes`] and [`strided_planes`] serves `win`, if either: no padding, and
/// stride 1 along the rows with output rows of at most one vector, or stride 2 with a window of
/// at most 9 taps.
fn direct(win: &Window, ow: usize) -> Option<usize> {
    (win.pad == [0; 4] && ((win.sw == 1 && ow <= V) || (win.sw == 2 && win.kh * win.kw <= 9))).then_some(win.sw)
}

/// The maximum of the window whose tap `(ky, kx)` is `load(ky, kx)` (16 outputs a vector) with
/// key `key(ky, kx)`, by the passes' selects in their order: each window column's maximum over
/// the rows, top to bottom ([`take`]), then across the columns, left to right ([`keyed`] when
/// the argmax is wanted).
#[inline]
#[target_feature(enable = "avx512f")]
fn window_max(kh: usize, kw: usize, keys: bool, load: impl Fn(usize, usize) -> __m512, key: impl Fn(usize, usize) -> __m512i) -> (__m512, __m512i) {
    let (mut x, mut xk) = (_mm512_setzero_ps(), _mm512_setzero_si512());
    for kx in 0..kw {
        let (mut c, mut ck) = (load(0, kx), key(0, kx));
        for ky in 1..kh {
            let y = load(ky, kx);
            let t = take(c, y);
            c = _mm512_mask_mov_ps(c, t, y);
            ck = _mm512_mask_mov_epi32(ck, t, key(ky, kx));
        }
        if kx == 0 {
            (x, xk) = (c, ck);
        } else if keys {
            (x, xk) = keyed(x, xk, c, ck);
        } else {
            x = _mm512_mask_mov_ps(x, take(x, c), c);
        }
    }
    (x, xk)
}

/// [`max_pool`] for the stride-1 windows [`direct`] accepts (alexnet-bn's 3x3 pool on 9x9 planes): each
/// output row is one vector computed straight from the input plane, by the same selects in
/// the same order as the passes of [`max_pool`] (each window column's maximum over the window
/// rows, top to bottom, then across the columns, left to right, keyed), so the same bits. On
/// such planes the padded copy and the scratch rows cost more than the selects: 3.3 ns an
/// output there against about 1 here (`examples/poolbench`, one thread).
///
/// Keys are flat indices `iy·w + ix` from the start: with no padding they order the
/// candidates as the padded keys do, and no winner can be a padding zero.
#[target_feature(enable = "avx512f")]
fn small_planes(input: &[f32], planes: usize, win: &Window, out: &mut [f32], mut argmax: Option<&mut [u32]>) {
    let Window { h, w, kh, kw, sh, .. } = *win;
    let (oh, ow) = win.out().expect("checked by the caller");
    let m = lanes(ow);
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for p in 0..planes {
        let plane = &input[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            let top = oy * sh;
            let key = |ky: usize, kx: usize| _mm512_add_epi32(iota, _mm512_set1_epi32(((top + ky) * w + kx) as i32));
            // SAFETY: lane `j < ow` reads plane[(top + ky)·w + kx + j], at most
            // (h - 1)·w + w - 1 since top + ky < h and kx + j < w; the other lanes are
            // masked off, so the loads touch only the plane.
            let load = |ky: usize, kx: usize| unsafe { _mm512_maskz_loadu_ps(m, plane.as_ptr().add((top + ky) * w + kx)) };
            let (x, xk) = window_max(kh, kw, argmax.is_some(), load, key);
            let row0 = (p * oh + oy) * ow;
            assert!(row0 + ow <= out.len());
            // SAFETY: the stores are masked to the row's `ow` outputs, inside `out` (asserted)
            // and `argmax` (whose length the caller checked against `out`'s).
            unsafe {
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(row0), m, x);
                if let Some(am) = argmax.as_deref_mut() {
                    assert!(row0 + ow <= am.len());
                    _mm512_mask_storeu_epi32(am.as_mut_ptr().add(row0).cast(), m, xk);
                }
            }
        }
    }
}

/// [`max_pool`] for the stride-2 windows [`direct`] accepts (alexnet-bn's 2x2 stride-2 pools on
/// 44x44 and 18x18 planes): each vector of 16 outputs of a row is
/// computed straight from the input plane, by the same selects in the same order as the
/// passes of [`max_pool`] (each window column's maximum over the window rows, top to bottom,
/// then across the columns, left to right, keyed), so the same bits. With stride 2, window
/// column `kx` of 16 outputs is the even lanes of the 32 input columns from `2·c0 + kx`
/// (two loads and a two-source permute). On such planes the padded copy and the scratch rows
/// cost more than the selects: 2x2 stride 2 on 44x44 planes, 3.6-4.1 ns an output through the
/// passes against 1.8-2.3 here (`examples/poolbench`, one thread, alternated runs).
///
/// Keys are flat indices `iy·w + ix` from the start: with no padding they order the
/// candidates as the padded keys do, and no winner can be a padding zero.
#[target_feature(enable = "avx512f")]
fn strided_planes(input: &[f32], planes: usize, win: &Window, out: &mut [f32], mut argmax: Option<&mut [u32]>) {
    let Window { h, w, kh, kw, sh, sw, .. } = *win;
    assert_eq!(sw, 2, "strided_planes: stride 2 along the rows");
    let (oh, ow) = win.out().expect("checked by the caller");
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let evens = _mm512_add_epi32(iota, iota); // lane j: column offset 2j, and the even lanes' indices
    for p in 0..planes {
        let plane = &input[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            let top = oy * sh;
            for c0 in (0..ow).step_by(V) {
                let m = lanes(ow - c0);
                let key = |ky: usize, kx: usize| _mm512_add_epi32(evens, _mm512_set1_epi32(((top + ky) * w + 2 * c0 + kx) as i32));
                // lane j: column 2·(c0 + j) + kx of window row ky, zero past the row's end
                let load = |ky: usize, kx: usize| {
                    let col = 2 * c0 + kx; // < w: the first output's window column is inside
                    let at = plane.as_ptr().wrapping_add((top + ky) * w + col);
                    // SAFETY: every load is masked to columns `col + i < w` of row `top + ky < h`,
                    // which lie inside the plane; masked-off lanes never fault.
                    unsafe {
                        let lo = _mm512_maskz_loadu_ps(lanes(w - col), at);
                        let hi = _mm512_maskz_loadu_ps(lanes(w.saturating_sub(col + V)), at.wrapping_add(V));
                        _mm512_permutex2var_ps(lo, evens, hi)
                    }
                };
                let (x, xk) = window_max(kh, kw, argmax.is_some(), load, key);
                let at = (p * oh + oy) * ow + c0;
                assert!(at + (ow - c0).min(V) <= out.len());
                // SAFETY: the stores are masked to the row's outputs `c0..min(c0 + 16, ow)`,
                // inside `out` (asserted) and `argmax` (whose length the caller checked against
                // `out`'s, and asserted).
                unsafe {
                    _mm512_mask_storeu_ps(out.as_mut_ptr().add(at), m, x);
                    if let Some(am) = argmax.as_deref_mut() {
                        assert!(at + (ow - c0).min(V) <= am.len());
                        _mm512_mask_storeu_epi32(am.as_mut_ptr().add(at).cast(), m, xk);
                    }
                }
            }
        }
    }
}

/// The pool of `planes` planes, values only or with argmax (see `max::max_pool2d_padded`,
/// whose checks the caller has made).
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn max_pool(input: &[f32], planes: usize, win: &Window, out: &mut [f32], mut argmax: Option<&mut [u32]>) {
    let Window { h, w, kw, sw, pad: [pt, _, pl, _], .. } = *win;
    let (oh, ow) = win.out().expect("checked by the caller");
    if let Some(sw) = direct(win, ow) {
        return match sw {
            1 => small_planes(input, planes, win, out, argmax),
            _ => strided_planes(input, planes, win, out, argmax),
        };
    }
    let keys = argmax.is_some();
    let mut s = Scratch::new(win, oh, ow, keys);
    let (wl, plen) = (s.wl, s.plen);
    // where window column kx starts in the row pass's input
    let offs: Vec<usize> = (0..kw).map(|kx| (kx % sw) * plen + kx / sw).collect();
    let (pt, pl, hu, wu) = (_mm512_set1_epi32(pt as i32), _mm512_set1_epi32(pl as i32), _mm512_set1_epi32(h as i32), _mm512_set1_epi32(w as i32));
    let padded = _mm512_set1_epi32(PADDED as i32);
    for p in 0..planes {
        load_plane(&mut s, &input[p * h * w..(p + 1) * h * w], win);
        for oy in 0..oh {
            column_pass(&mut s, win, oy, keys);
        }
        // the row pass's input for output row oy starts at v[oy * stride]
        let (v, k, stride): (&[f32], &[u32], usize) = match sw {
            1 => (&s.cv, &s.ck, wl),
            _ => {
                for oy in 0..oh {
                    let (src, dst) = (oy * wl, oy * sw * plen);
                    if sw == 2 {
                        split2(&s.cv[src..], wl, &mut s.pv[dst..], plen);
                        if keys {
                            split2(&s.ck[src..], wl, &mut s.pk[dst..], plen);
                        }
                    } else {
                        split_phases(&s.cv[src..src + wl], sw, &mut s.pv[dst..]);
                        if keys {
                            split_phases(&s.ck[src..src + wl], sw, &mut s.pk[dst..]);
                        }
                    }
                }
                (&s.pv, &s.pk, sw * plen)
            }
        };
        for oy in 0..oh {
            let (v, k) = (&v[oy * stride..], if keys { &k[oy * stride..] } else { k });
            let row0 = p * oh * ow + oy * ow;
            for c in (0..ow).step_by(V) {
                let m = lanes(ow - c);
                // SAFETY: every read is `V` lanes at `offs[kx] + c` with `c < ow`, which the
                // scratch sizes leave room for (`cv`/`ck`: `wl + kw + owl`; phases: `sw * plen
                // + kw + owl`); the stores are masked to the `ow - c` outputs left in this row
                // of `out` / `argmax`, whose lengths the caller checked, or unmasked where 16
                // lanes fit the slice: the lanes past this row land on outputs that are
                // written later (rows and planes go in increasing order).
                unsafe {
                    let mut x = _mm512_loadu_ps(v.as_ptr().add(offs[0] + c));
                    if keys {
                        let mut xk = _mm512_loadu_si512(k.as_ptr().add(offs[0] + c).cast());
                        for &o in &offs[1..] {
                            let y = _mm512_loadu_ps(v.as_ptr().add(o + c));
                            let yk = _mm512_loadu_si512(k.as_ptr().add(o + c).cast());
                            (x, xk) = keyed(x, xk, y, yk);
                        }
                        // keys -> flat indices in the unpadded plane (above or left of it wraps
                        // to a huge unsigned value, so one compare per side finds the padding)
                        let y = _mm512_sub_epi32(_mm512_srli_epi32::<16>(xk), pt);
                        let xx = _mm512_sub_epi32(_mm512_and_si512(xk, _mm512_set1_epi32(0xFFFF)), pl);
                        let inside = _mm512_cmplt_epu32_mask(y, hu) & _mm512_cmplt_epu32_mask(xx, wu);
                        let flat = _mm512_mask_mov_epi32(padded, inside, _mm512_add_epi32(_mm512_mullo_epi32(y, wu), xx));
                        let am = argmax.as_deref_mut().expect("keys only with argmax");
                        let dst = am.as_mut_ptr().add(row0 + c);
                        if row0 + c + V <= am.len() {
                            _mm512_storeu_si512(dst.cast(), flat);
                        } else {
                            _mm512_mask_storeu_epi32(dst.cast(), m, flat);
                        }
                    } else {
                        for &o in &offs[1..] {
                            let y = _mm512_loadu_ps(v.as_ptr().add(o + c));
                            x = _mm512_mask_mov_ps(x, take(x, y), y);
                        }
                    }
                    if row0 + c + V <= out.len() {
                        _mm512_storeu_ps(out.as_mut_ptr().add(row0 + c), x);
                    } else {
                        _mm512_mask_storeu_ps(out.as_mut_ptr().add(row0 + c), m, x);
                    }
                }
            }
        }
    }
}
