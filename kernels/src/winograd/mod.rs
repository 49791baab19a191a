//! Winograd F(2x2, 3x3): 3x3 stride-1 convolution with 2.25x fewer multiplications.
//!
//! Each output is cut into 2x2 tiles; tile `(ty, tx)` of channel `o` needs the 4x4 input patch
//! `d_c` whose top-left corner is `(2·ty - ph, 2·tx - pw)` in every input channel `c`. Winograd's
//! minimal filtering algorithm (Lavin & Gray, "Fast Algorithms for Convolutional Neural
//! Networks", 2016) gives the tile as
//!
//! ```text
//! Y = Aᵀ · [ Σ_c (G·g_oc·Gᵀ) ⊙ (Bᵀ·d_c·B) ] · A
//!
//!      Bᵀ = | 1  0 -1  0 |      G = | 1    0    0  |      Aᵀ = | 1  1  1  0 |
//!           | 0  1  1  0 |          | ½    ½    ½  |           | 0  1 -1 -1 |
//!           | 0 -1  1  0 |          | ½   -½    ½  |
//!           | 0  1  0 -1 |          | 0    0    1  |
//! ```
//!
//! (`⊙` elementwise). The sum over `c` at each of the 16 positions `t = (i, j)` of the 4x4
//! transformed tile is a matrix product over all tiles at once:
//!
//! ```text
//! U[t] = (G·g·Gᵀ)[t] as [O] x [C]     V[t] = (Bᵀ·d·B)[t] as [C] x [tiles] (rows 16·tiles apart)
//! M[t] = U[t] · V[t]                 (16 GEMMs, [O] x [tiles] each)
//! ```
//!
//! so a tile costs `16·C·O` multiplications instead of the direct `4·9·C·O` (2.25x fewer), plus
//! transforms linear in `C + O`. The GEMMs run on [`crate::sgemm`], the transforms are in
//! `transform.rs`.
//!
//! Accuracy: `Bᵀ` and `Aᵀ` hold only 0 and ±1 and `G` only 0, ±½ and 1, so every transform is
//! a few exact-ish f32 additions; the error against im2col + GEMM stays at the f32 rounding of
//! sums (the tests below check a relative error under 1e-5 of the output's scale on random
//! shapes; F(4x4, 3x3), whose matrices hold 4s and 8s, loses about an order of magnitude more).
//!
//! The input gradient of a 3x3 stride-1 convolution is again one ([`filter_transform_flipped`]):
//! `dX = conv(dY, W')` with `W'[c][o][u][v] = W[o][c][2-u][2-v]` and padding `2 - p`.

mod transform;

#[cfg(target_arch = "x86_64")]
mod fused;
/// Without x86-64 there is no fused kernel: [`Fused::new`] is always None.
#[cfg(not(target_arch = "x86_64"))]
mod fused {
    use super::Wino3x3;
    /// Never built on this architecture.
    #[derive(Clone, Debug)]
    pub struct Fused(());
    impl Fused {
        /// Always None here: use [`super::conv3x3`].
        pub fn new(_o: usize, _c: usize, _u: &[f32]) -> Option<Fused> {
            None
        }
        /// Never called: no `Fused` exists.
        pub fn scratch_len(&self) -> usize {
            0
        }
        /// One image per task.
        pub fn images_per_task(_g: &Wino3x3, _max: usize) -> usize {
            1
        }
    }
    /// Never called: no `Fused` exists.
    #[allow(clippy::too_many_arguments)]
    pub fn conv3x3_fused(_g: &Wino3x3, _gn: usize, _x: &[f32], _f: &Fused, _bias: Option<&[f32]>, _y: &mut [f32], _scratch: &mut [f32]) {
        unreachable!("no fused Winograd kernel on this architecture")
    }
}
pub use fused::{conv3x3_fused, Fused};

pub mod filter_grad;

#[cfg(test)]
mod tests;

use crate::window::out_size;

/// Transform points of F(2x2, 3x3): the 4x4 transformed tile.
pub const POINTS: usize = 16;

/// The geometry of one Winograd 3x3 stride-1 convolution: input `[c][h][w]` per image, `o`
/// output channels, zero padding `(ph, pw)` on each side (at most 2), output `oh x ow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wino3x3 {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub ph: usize,
    pub pw: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Wino3x3 {
    /// The geometry for `c -> o` channels on `h x w` with padding `(ph, pw)`. None when a
    /// padding exceeds 2 (the input gradient's padding `2 - p` would be negative) or the
    /// output is empty.
    pub fn new(c: usize, h: usize, w: usize, o: usize, ph: usize, pw: usize) -> Option<Wino3x3> {
        if ph > 2 || pw > 2 {
            return None;
        }
        let oh = out_size(h, 3, 1, ph)?;
        let ow = out_size(w, 3, 1, pw)?;
        (oh > 0 && ow > 0).then_some(Wino3x3 { c, h, w, o, ph, pw, oh, ow })
    }

    /// The geometry of the input gradient: `dY: [o][oh][ow]` convolved back to `[c][h][w]`.
    pub fn input_grad(&self) -> Wino3x3 {
        Wino3x3 { c: self.o, h: self.oh, w: self.ow, o: self.c, ph: 2 - self.ph, pw: 2 - self.pw, oh: self.h, ow: self.w }
    }

    /// Tile rows and columns `(ceil(oh/2), ceil(ow/2))`.
    pub fn tiles(&self) -> (usize, usize) {
        (self.oh.div_ceil(2), self.ow.div_ceil(2))
    }

    /// Tiles of one image.
    pub fn tiles_per_image(&self) -> usize {
        let (th, tw) = self.tiles();
        th * tw
    }

    /// Floats of the transformed filters ([`filter_transform`]).
    pub fn filter_len(&self) -> usize {
        POINTS * self.o * self.c
    }

    /// Floats of scratch [`conv3x3`] needs for `gn` images: `V` and `M`.
    pub fn scratch_len(&self, gn: usize) -> usize {
        POINTS * (self.c + self.o) * gn * self.tiles_per_image()
    }

    fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    fn out_len(&self) -> usize {
        self.o * self.oh * self.ow
    }
}

/// `u: [16][o][c]` = `G·w[o][c]·Gᵀ` for the filters `w: [o][c][3][3]`.
pub fn filter_transform(o: usize, c: usize, w: &[f32], u: &mut [f32]) {
    assert!(w.len() >= o * c * 9 && u.len() >= POINTS * o * c, "filter_transform: slices too short for {o}x{c}x3x3");
    for oc in 0..o {
        for ci in 0..c {
            let g: [f32; 9] = w[(oc * c + ci) * 9..(oc * c + ci + 1) * 9].try_into().expect("9 taps");
            for (t, val) in transform::filter_tile(&g).into_iter().enumerate() {
                u[(t * o + oc) * c + ci] = val;
            }
        }
    }
}

/// The transformed filters of the input gradient: `u: [16][c][o]` = `G·w'[c][o]·Gᵀ` with
/// `w'[c][o][a][b] = w[o][c][2-a][2-b]` (transposed and rotated by 180°), for `w: [o][c][3][3]`.
pub fn filter_transform_flipped(o: usize, c: usize, w: &[f32], u: &mut [f32]) {
    assert!(w.len() >= o * c * 9 && u.len() >= POINTS * o * c, "filter_transform_flipped: slices too short for {o}x{c}x3x3");
    for oc in 0..o {
        for ci in 0..c {
            let src = &w[(oc * c + ci) * 9..(oc * c + ci + 1) * 9];
            let g: [f32; 9] = std::array::from_fn(|k| src[8 - k]);
            for (t, val) in transform::filter_tile(&g).into_iter().enumerate() {
                u[(t * c + ci) * o + oc] = val;
            }
        }
    }
}

/// `y = conv3x3(x) + bias` for `gn` images `x: [gn][c][h][w]` into `y: [gn][o][oh][ow]`, with
/// the filters already transformed into `u` ([`filter_transform`]). `scratch` holds at least
/// [`Wino3x3::scratch_len`]`(gn)` floats (contents ignored). `par` runs the 16 GEMMs on the
/// parallel driver, which gives the same bits as the serial one.
///
/// Panics when a slice is too short for the geometry.
#[allow(clippy::too_many_arguments)]
pub fn conv3x3(g: &Wino3x3, gn: usize, x: &[f32], u: &[f32], bias: Option<&[f32]>, y: &mut [f32], scratch: &mut [f32], par: bool) {
    let ld = gn * g.tiles_per_image();
    assert!(x.len() >= gn * g.in_len(), "winograd conv3x3: input shorter than {gn} images of {g:?}");
    assert!(y.len() >= gn * g.out_len(), "winograd conv3x3: output shorter than {gn} images of {g:?}");
    assert!(u.len() >= g.filter_len(), "winograd conv3x3: filters shorter than 16x{}x{}", g.o, g.c);
    assert!(scratch.len() >= g.scratch_len(gn), "winograd conv3x3: scratch shorter than {}", g.scratch_len(gn));
    assert!(bias.is_none_or(|b| b.len() >= g.o), "winograd conv3x3: bias shorter than {}", g.o);
    if ld == 0 || g.o == 0 {
        return;
    }
    let (v, rest) = scratch.split_at_mut(POINTS * g.c * ld);
    let m = &mut rest[..POINTS * g.o * ld];
    transform::input(g, gn, x, v, ld);
    let (cc, oc) = (g.c, g.o);
    // V is [c][16][ld] and M [o][16][ld]: the transforms then touch one contiguous block per
    // channel, and the GEMMs read and write rows 16·ld apart.
    let rs = POINTS * ld;
    for t in 0..POINTS {
        let ut = &u[t * oc * cc..(t + 1) * oc * cc];
        let (vt, mt) = (&v[t * ld..], &mut m[t * ld..]);
        if par {
            crate::sgemm_par(oc, cc, ld, 1.0, ut, cc, 1, vt, rs, 1, 0.0, mt, rs);
        } else {
            crate::sgemm(oc, cc, ld, 1.0, ut, cc, 1, vt, rs, 1, 0.0, mt, rs);
        }
    }
    transform::output(g, gn, m, ld, bias, y);
}
