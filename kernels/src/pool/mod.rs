//! 2-D max and average pooling over planes (`[planes][h][w]`, planes = N*C), any kernel/stride
//! pair, with optional zero padding around each plane ([`Window::pad`]). Output
//! `[planes][oh][ow]` with `oh = (h + top + bottom - kh)/sh + 1`, `ow = (w + left + right -
//! kw)/sw + 1` ([`Window::out`]).
//!
//! The zero padding is virtual: pooling a plane with `pad` gives exactly (bit for bit) what
//! pooling the plane after copying it into a zero-padded one would give, without the copy. So
//! a Keras `ZeroPadding2D` followed by a pooling layer runs as one pass.
//!
//! Both poolings are separable: the window's max (or sum) is the max (sum) over its `kw`
//! columns of each column's max (sum) over `kh` rows. A column pass over whole contiguous rows
//! runs first, then a row pass over the `[wp]` column results (`wp = w + left + right`). The
//! max pool's row pass, for a stride `sw > 1`, first splits them into `sw` phases (`phase r`
//! holds columns `r, r+sw, ...`) so that every step reads contiguous memory: window column `kx`
//! of output `ox` is `phase[kx % sw][ox + kx / sw]`; the average pool's sums each output's
//! window in turn. `kh + kw` operations per output instead of
//! `kh * kw`, all in plain slice loops the compiler vectorises; on x86-64 the loops are
//! compiled a second time for AVX2 and picked at run time. Where the selected ISA
//! ([`crate::selected_isa`]) is AVX-512, the max pool runs a hand-written version of the same
//! passes (`max512.rs`, 2-3x faster per plane on the seed shapes, same bits).

mod avg;
mod lanes;
mod max;
#[cfg(target_arch = "x86_64")]
mod max512;
#[cfg(test)]
mod tests;

pub use avg::{avg_pool2d, avg_pool2d_backward, avg_pool2d_padded, avg_pool2d_padded_backward};
pub use max::{max_pool2d, max_pool2d_backward, max_pool2d_padded, PADDED};

use crate::window::out_size;

/// The geometry of a pooling window over one `h x w` plane: kernel `kh x kw`, stride
/// `sh x sw`, and zero padding `pad = [top, bottom, left, right]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub pad: [usize; 4],
}

impl Window {
    /// Output height and width; None when the window does not fit the padded plane, the
    /// kernel or stride is 0, or a size overflows.
    pub fn out(&self) -> Option<(usize, usize)> {
        let [t, b, l, r] = self.pad;
        let hp = self.h.checked_add(t)?.checked_add(b)?;
        let wp = self.w.checked_add(l)?.checked_add(r)?;
        Some((out_size(hp, self.kh, self.sh, 0)?, out_size(wp, self.kw, self.sw, 0)?))
    }
    /// Padded height and width.
    pub fn padded(&self) -> (usize, usize) {
        let [t, b, l, r] = self.pad;
        (self.h + t + b, self.w + l + r)
    }
    /// True if the padded plane is small enough for the max pool's 16-bit position keys (both
    /// sides below 65528, leaving room for the lanes the kernel rounds a row up to).
    pub fn fits_keys(&self) -> bool {
        let [t, b, l, r] = self.pad;
        let fit = |a: usize, x: usize, y: usize| a.checked_add(x).and_then(|v| v.checked_add(y)).is_some_and(|v| v < (1 << 16) - 8);
        fit(self.h, t, b) && fit(self.w, l, r)
    }
    /// Checks the slices against the geometry (panics naming `name`); returns `(oh, ow)`.
    fn check(&self, name: &str, in_len: usize, out_len: usize, planes: usize) -> (usize, usize) {
        let Some((oh, ow)) = self.out() else {
            panic!(
                "{name}: window {}x{} with stride {}x{} does not fit a {}x{} plane padded by {:?}",
                self.kh, self.kw, self.sh, self.sw, self.h, self.w, self.pad
            );
        };
        assert!(in_len >= planes * self.h * self.w, "{name}: input slice too short: {in_len} < planes*h*w = {}", planes * self.h * self.w);
        assert!(out_len >= planes * oh * ow, "{name}: output slice too short: {out_len} < planes*oh*ow = {}", planes * oh * ow);
        (oh, ow)
    }
}

/// The `sw` phases of `row` into `dst` (phase `r` at `dst[r*plen..]`, `plen = ceil(len/sw)`):
/// `dst[r*plen + j] = row[j*sw + r]`. Returns `plen`.
#[inline(always)]
fn split_phases<T: Copy>(row: &[T], sw: usize, dst: &mut [T]) -> usize {
    let plen = row.len().div_ceil(sw);
    if sw == 2 {
        // the common stride: one pass over pairs (vectorises as an interleaved load)
        let (even, odd) = dst[..2 * plen].split_at_mut(plen);
        for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(row.chunks_exact(2)) {
            *e = pair[0];
            *o = pair[1];
        }
        if row.len() % 2 == 1 {
            even[plen - 1] = row[row.len() - 1];
        }
        return plen;
    }
    for r in 0..sw.min(row.len()) {
        let d = &mut dst[r * plen..(r + 1) * plen];
        for (d, &v) in d.iter_mut().zip(row[r..].iter().step_by(sw)) {
            *d = v;
        }
    }
    plen
}

pub(crate) use crate::simd::multiversion;
