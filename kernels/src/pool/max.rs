//! Max pooling, with or without the argmax the backward pass needs.
//!
//! Ties go to the FIRST maximum in row-major window order (top-most row, then left-most
//! column), as in PyTorch, so the backward pass sends a tie's gradient where PyTorch does. A
//! NaN in the window propagates to the output, as in PyTorch, so a diverging activation is not
//! hidden by pooling; its argmax is the first NaN in row-major order (PyTorch's CPU kernel takes
//! the last one; the gradient of a NaN output is moot). `-0.0` and `+0.0` are equal (a tie).
//!
//! How the rule survives the separable passes: every candidate carries a position key
//! `py << 16 | px` in the padded plane, whose unsigned order is the row-major order. The column
//! pass takes a lower row only if it is strictly greater, so each column keeps its top-most
//! maximum; the row pass compares the columns' candidates by value and, on equal values (or
//! two NaNs), prefers the smaller key. So the winner is the first maximum of the whole window
//! in row-major order. The keys are turned into flat plane indices `y*w + x` at the end, or
//! [`PADDED`] when the winner is one of the padding zeros.

pub(super) use super::lanes::{Lanes, Portable, L};
use super::{split_phases, Window};

/// The argmax of a window whose maximum is a padding zero: no input receives its gradient.
pub const PADDED: u32 = u32::MAX;

/// Max pooling without padding; `argmax[o]` receives the flat index within the plane
/// (`iy*w + ix`) of the first maximum of window `o` (see the module docs).
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d(input: &[f32], planes: usize, h: usize, w: usize, kh: usize, kw: usize, sh: usize, sw: usize, out: &mut [f32], argmax: &mut [u32]) {
    max_pool2d_padded(input, planes, &Window { h, w, kh, kw, sh, sw, pad: [0; 4] }, out, Some(argmax));
}

/// Max pooling of `planes` planes with the geometry `win` (its zero padding virtual). With
/// `argmax`, each output's argmax is written too: the flat index `iy*w + ix` in the unpadded
/// plane, or [`PADDED`]. Without it (inference) the pass tracks values only: the same outputs,
/// except that a window whose maximum is a tie of `-0.0` and `+0.0` may give either zero, and
/// a window with several NaNs either NaN.
///
/// Panics if a slice is too short, the window does not fit, or a padded side is 65528 or more
/// ([`Window::fits_keys`]).
pub fn max_pool2d_padded(input: &[f32], planes: usize, win: &Window, out: &mut [f32], argmax: Option<&mut [u32]>) {
    let (oh, ow) = win.check("max_pool2d", input.len(), out.len(), planes);
    let (hp, wp) = win.padded();
    assert!(win.fits_keys(), "max_pool2d: padded plane {hp}x{wp} too large (each side must be below 65528)");
    if planes * oh * ow == 0 {
        return;
    }
    if let Some(a) = &argmax {
        assert!(a.len() >= planes * oh * ow, "max_pool2d: argmax slice too short: {} < planes*oh*ow = {}", a.len(), planes * oh * ow);
    }
    #[cfg(target_arch = "x86_64")]
    if crate::selected_isa() == crate::Isa::Avx512 {
        // SAFETY: the selected ISA is one this CPU supports; the slices were checked above.
        return unsafe { super::max512::max_pool(input, planes, win, out, argmax) };
    }
    match argmax {
        Some(a) => with_argmax(input, planes, win, out, a),
        None => values_only(input, planes, win, out),
    }
}

/// Backward of [`max_pool2d`] / [`max_pool2d_padded`] (planes of `h x w` in, `oh x ow` out):
/// accumulates (`+=`) each `dout` value into `dinput` at its window's argmax; [`PADDED`]
/// entries send theirs nowhere.
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
            if idx != PADDED {
                d[idx as usize] += gv;
            }
        }
    }
}

/// Scratch of one pooling call, every row length a multiple of [`L`]: the current plane
/// copied into a zero-padded `[hp][wl]` block (`wl >= wp`; the padding stays zero, only the
/// input's rows are rewritten per plane, and the plane is small enough to stay in L1), the
/// column pass's candidates over `wl` columns (with room after them for the row pass to read
/// `owl` lanes from any window column when `sw == 1`), their phases, and the row pass's
/// `owl >= ow` outputs. Lanes past the real ones hold junk that is never copied out.
struct Scratch {
    plane: Vec<f32>,
    cv: Vec<f32>,
    ck: Vec<u32>,
    pv: Vec<f32>,
    pk: Vec<u32>,
    ov: Vec<f32>,
    ok: Vec<u32>,
    wl: usize,
    plen: usize,
}

impl Scratch {
    fn new(win: &Window, ow: usize, keys: bool) -> Self {
        let (hp, wp) = win.padded();
        let wl = wp.next_multiple_of(L);
        let plen = wl.div_ceil(win.sw);
        let owl = ow.next_multiple_of(L);
        // the row pass reads phase[kx % sw][kx / sw ..][..owl]: room past the last phase
        let plen_all = win.sw * plen + win.kw + owl;
        let k = |n: usize| vec![0u32; if keys { n } else { 0 }];
        let room = wl + win.kw + owl;
        Scratch {
            plane: vec![0.0; hp * wl],
            cv: vec![0.0; room],
            ck: k(room),
            pv: vec![0.0; plen_all],
            pk: k(plen_all),
            ov: vec![0.0; owl],
            ok: k(owl),
            wl,
            plen,
        }
    }

    /// Copies plane `x` into the padded block.
    #[inline(always)]
    fn load(&mut self, x: &[f32], win: &Window) {
        let (pt, pl, w, wl) = (win.pad[0], win.pad[2], win.w, self.wl);
        for (i, r) in x.chunks_exact(w).enumerate() {
            self.plane[(pt + i) * wl + pl..(pt + i) * wl + pl + w].copy_from_slice(r);
        }
    }
}

/// Where window column `kx` starts in the row pass's input: `phase[kx % sw][kx / sw]` (the
/// column pass's own row when `sw == 1`). Computed once: divisions have no place in the loop.
fn row_offsets(win: &Window, plen: usize, wl: usize) -> Vec<usize> {
    let plen = if win.sw == 1 { wl } else { plen };
    (0..win.kw).map(|kx| (kx % win.sw) * plen + kx / win.sw).collect()
}

#[inline(always)]
pub(super) fn with_argmax_body<Ln: Lanes>(input: &[f32], planes: usize, win: &Window, out: &mut [f32], argmax: &mut [u32]) {
    let Window { h, w, kh, sh, sw, pad: [pt, _, pl, _], .. } = *win;
    let (oh, ow) = win.out().expect("checked by the caller");
    let mut s = Scratch::new(win, ow, true);
    let (wl, plen) = (s.wl, s.plen);
    let offs = row_offsets(win, plen, wl);
    for p in 0..planes {
        s.load(&input[p * h * w..(p + 1) * h * w], win);
        let o = &mut out[p * oh * ow..(p + 1) * oh * ow];
        let am = &mut argmax[p * oh * ow..(p + 1) * oh * ow];
        for oy in 0..oh {
            // column pass: each chunk of L columns goes down the window's kh rows in registers
            let rows = &s.plane[oy * sh * wl..(oy * sh + kh) * wl];
            let (cv, ck) = (s.cv[..wl].as_chunks_mut::<L>().0, s.ck[..wl].as_chunks_mut::<L>().0);
            for (c, (v, k)) in cv.iter_mut().zip(ck).enumerate() {
                let mut acc: [f32; L] = rows[c * L..(c + 1) * L].try_into().expect("L lanes");
                let mut key = [0u32; L];
                let base = (((oy * sh) as u32) << 16) + (c * L) as u32;
                for (j, k) in key.iter_mut().enumerate() {
                    *k = base + j as u32;
                }
                for ky in 1..kh {
                    let r: &[f32; L] = rows[ky * wl + c * L..ky * wl + (c + 1) * L].try_into().expect("L lanes");
                    Ln::max_keyed_iota(&mut acc, &mut key, r, base + ((ky as u32) << 16));
                }
                *v = acc;
                *k = key;
            }
            let (v, k) = if sw == 1 {
                (&s.cv[..], &s.ck[..])
            } else {
                split_phases(&s.cv[..wl], sw, &mut s.pv);
                split_phases(&s.ck[..wl], sw, &mut s.pk);
                (&s.pv[..], &s.pk[..])
            };
            // row pass: each chunk of L outputs goes across the window's kw columns
            for (c, (ov, ok)) in s.ov.as_chunks_mut::<L>().0.iter_mut().zip(s.ok.as_chunks_mut::<L>().0).enumerate() {
                let mut acc: [f32; L] = v[c * L..(c + 1) * L].try_into().expect("L lanes");
                let mut key: [u32; L] = k[c * L..(c + 1) * L].try_into().expect("L lanes");
                for &o in &offs[1..] {
                    let off = o + c * L;
                    Ln::max_keyed(&mut acc, &mut key, v[off..off + L].try_into().expect("L lanes"), k[off..off + L].try_into().expect("L lanes"));
                }
                *ov = acc;
                *ok = key;
            }
            // position keys -> flat indices in the unpadded plane (wrapping: above/left of it
            // becomes huge, so one unsigned compare per side finds the padding)
            let (pt, pl, h, w) = (pt as u32, pl as u32, h as u32, w as u32);
            for a in s.ok.iter_mut() {
                let (y, xx) = ((*a >> 16).wrapping_sub(pt), (*a & 0xFFFF).wrapping_sub(pl));
                *a = if (y < h) & (xx < w) { y * w + xx } else { PADDED };
            }
            o[oy * ow..(oy + 1) * ow].copy_from_slice(&s.ov[..ow]);
            am[oy * ow..(oy + 1) * ow].copy_from_slice(&s.ok[..ow]);
        }
    }
}

#[inline(always)]
pub(super) fn values_only_body<Ln: Lanes>(input: &[f32], planes: usize, win: &Window, out: &mut [f32]) {
    let Window { h, w, kh, sh, sw, .. } = *win;
    let (oh, ow) = win.out().expect("checked by the caller");
    let mut s = Scratch::new(win, ow, false);
    let (wl, plen) = (s.wl, s.plen);
    let offs = row_offsets(win, plen, wl);
    for p in 0..planes {
        s.load(&input[p * h * w..(p + 1) * h * w], win);
        let o = &mut out[p * oh * ow..(p + 1) * oh * ow];
        for oy in 0..oh {
            let rows = &s.plane[oy * sh * wl..(oy * sh + kh) * wl];
            for (c, v) in s.cv[..wl].as_chunks_mut::<L>().0.iter_mut().enumerate() {
                let mut acc: [f32; L] = rows[c * L..(c + 1) * L].try_into().expect("L lanes");
                for ky in 1..kh {
                    Ln::max(&mut acc, rows[ky * wl + c * L..ky * wl + (c + 1) * L].try_into().expect("L lanes"));
                }
                *v = acc;
            }
            let v = if sw == 1 {
                &s.cv[..]
            } else {
                split_phases(&s.cv[..wl], sw, &mut s.pv);
                &s.pv[..]
            };
            for (c, ov) in s.ov.as_chunks_mut::<L>().0.iter_mut().enumerate() {
                let mut acc: [f32; L] = v[c * L..(c + 1) * L].try_into().expect("L lanes");
                for &o in &offs[1..] {
                    let off = o + c * L;
                    Ln::max(&mut acc, v[off..off + L].try_into().expect("L lanes"));
                }
                *ov = acc;
            }
            o[oy * ow..(oy + 1) * ow].copy_from_slice(&s.ov[..ow]);
        }
    }
}

fn with_argmax(input: &[f32], planes: usize, win: &Window, out: &mut [f32], argmax: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        #[target_feature(enable = "avx2,fma")]
        fn avx2(input: &[f32], planes: usize, win: &Window, out: &mut [f32], argmax: &mut [u32]) {
            with_argmax_body::<super::lanes::Avx2>(input, planes, win, out, argmax)
        }
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { avx2(input, planes, win, out, argmax) };
    }
    with_argmax_body::<Portable>(input, planes, win, out, argmax)
}

fn values_only(input: &[f32], planes: usize, win: &Window, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        #[target_feature(enable = "avx2,fma")]
        fn avx2(input: &[f32], planes: usize, win: &Window, out: &mut [f32]) {
            values_only_body::<super::lanes::Avx2>(input, planes, win, out)
        }
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { avx2(input, planes, win, out) };
    }
    values_only_body::<Portable>(input, planes, win, out)
}
