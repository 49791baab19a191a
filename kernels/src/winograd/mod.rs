//! Winograd F(2x2, r x r) for r = 3 and 5: stride-1 convolution with 2.25x (3x3) or 2.78x (5x5)
//! fewer multiplications.
//!
//! Each output is cut into 2x2 tiles; tile `(ty, tx)` of channel `o` needs the `α x α` input
//! patch `d_c` (`α = r + 1`) whose top-left corner is `(2·ty - ph, 2·tx - pw)` in every input
//! channel `c`. Winograd's minimal filtering algorithm (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2016) gives the tile as
//!
//! ```text
//! Y = Aᵀ · [ Σ_c (G·g_oc·Gᵀ) ⊙ (Bᵀ·d_c·B) ] · A          (⊙ elementwise)
//!
//! F(2x2, 3x3), points 0, 1, -1, ∞:
//!      Bᵀ = | 1  0 -1  0 |      G = | 1    0    0  |      Aᵀ = | 1  1  1  0 |
//!           | 0  1  1  0 |          | ½    ½    ½  |           | 0  1 -1 -1 |
//!           | 0 -1  1  0 |          | ½   -½    ½  |
//!           | 0  1  0 -1 |          | 0    0    1  |
//!
//! F(2x2, 5x5), points 0, 1, -1, 2, -2, ∞:
//!      Bᵀ = | 4  0 -5  0  1  0 |    G = |  ¼     0     0     0     0  |
//!           | 0 -4 -4  1  1  0 |        | -⅙    -⅙    -⅙    -⅙    -⅙  |
//!           | 0  4 -4 -1  1  0 |        | -⅙     ⅙    -⅙     ⅙    -⅙  |
//!           | 0 -2 -1  2  1  0 |        | 1/24  1/12   ⅙     ⅓     ⅔  |
//!           | 0  2 -1 -2  1  0 |        | 1/24 -1/12   ⅙    -⅓     ⅔  |
//!           | 0  4  0 -5  0  1 |        |  0     0     0     0     1  |
//!      Aᵀ = | 1  1  1  1  1  0 |
//!           | 0  1 -1  2 -2  1 |
//! ```
//!
//! (the 5x5 matrices are the Toom-Cook construction on those points, derived exactly; the test
//! `one_d_transforms_compute_the_correlation` checks the code's `Bᵀ`, `Aᵀ` and `A` against
//! `G`). The sum over `c` at each of the `α²` positions `t = (i, j)` of the transformed tile is
//! a matrix product over all tiles at once:
//!
//! ```text
//! U[t] = (G·g·Gᵀ)[t] as [O] x [C]     V[t] = (Bᵀ·d·B)[t] as [C] x [tiles]
//! M[t] = U[t] · V[t]                 (α² GEMMs, [O] x [tiles] each)
//! ```
//!
//! so a tile costs `α²·C·O` multiplications instead of the direct `4·r²·C·O`, plus transforms
//! linear in `C + O`. The GEMMs run on [`crate::sgemm`] or the AVX-512 micro-kernel (`fused.rs`),
//! the portable transforms (3x3 only) are in `transform.rs`.
//!
//! Accuracy: F(2x2, 3x3)'s `Bᵀ` and `Aᵀ` hold only 0 and ±1 and `G` only 0, ±½ and 1, so its
//! error against im2col + GEMM stays at the f32 rounding of sums (tests: under 1e-5 of the
//! output's scale). F(2x2, 5x5)'s matrices hold 2s, 4s and 5s and its `G` thirds and sixths
//! (the transformed filters are computed in f64 and rounded to f32 once), so it loses about an
//! order of magnitude (tests: under 1e-4, and 1e-5 on the seed layer's shape
//! is not promised).
//!
//! The input gradient of a stride-1 convolution is again one ([`filter_transform_flipped`]):
//! `dX = conv(dY, W')` with `W'[c][o][u][v] = W[o][c][r-1-u][r-1-v]` and padding `r - 1 - p`.

mod transform;

/// Calls the generic `$f::<α>` that matches the kernel size `$g.r` (`fused.rs`, `adjoint.rs`).
#[cfg(target_arch = "x86_64")]
macro_rules! by_alpha {
    ($g:expr, $f:ident($($arg:expr),*)) => {
        match $g.r {
            3 => $f::<4>($($arg),*),
            5 => $f::<6>($($arg),*),
            r => unreachable!("Winograd F(2x2, {r}x{r}) is not implemented"),
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod adjoint;
#[cfg(target_arch = "x86_64")]
mod fused;
/// Without x86-64 there is no fused kernel: [`Fused::new`] is always None.
#[cfg(not(target_arch = "x86_64"))]
mod fused {
    use super::Wino;
    /// Never built on this architecture.
    #[derive(Clone, Debug)]
    pub struct Fused(());
    impl Fused {
        /// Always None here: use [`super::conv3x3`].
        pub fn new(_g: &Wino, _u: &[f32]) -> Option<Fused> {
            None
        }
        /// Never called: no `Fused` exists.
        pub fn scratch_len(&self) -> usize {
            0
        }
        /// One image per task.
        pub fn images_per_task(_g: &Wino, _max: usize) -> usize {
            1
        }
    }
    /// Never called: no `Fused` exists.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_fused(_g: &Wino, _gn: usize, _x: &[f32], _f: &Fused, _bias: Option<&[f32]>, _y: &mut [f32], _scratch: &mut [f32]) {
        unreachable!("no fused Winograd kernel on this architecture")
    }
}
pub use fused::{conv_fused, Fused};

pub mod filter_grad;

#[cfg(test)]
mod tests;

use crate::window::out_size;

/// F(2x2, 3x3)'s `G` (4 x 3), row-major.
const G3: [f64; 12] = [1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0.0, 0.0, 1.0];
/// F(2x2, 5x5)'s `G` (6 x 5), row-major.
#[rustfmt::skip]
const G5: [f64; 30] = [
    0.25, 0.0, 0.0, 0.0, 0.0,
    -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0,
    -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0,
    1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0, 1.0 / 3.0, 2.0 / 3.0,
    1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0, -1.0 / 3.0, 2.0 / 3.0,
    0.0, 0.0, 0.0, 0.0, 1.0,
];

/// `G` (`(r + 1) x r`, row-major) of F(2x2, r x r).
fn g_matrix(r: usize) -> &'static [f64] {
    match r {
        3 => &G3,
        5 => &G5,
        _ => unreachable!("Winograd F(2x2, {r}x{r}) is not implemented"),
    }
}

/// The geometry of one Winograd stride-1 convolution with an `r x r` kernel (3 or 5): input
/// `[c][h][w]` per image, `o` output channels, zero padding `(ph, pw)` on each side (at most
/// `r - 1`), output `oh x ow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wino {
    pub r: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub ph: usize,
    pub pw: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Wino {
    /// The geometry for an `r x r` kernel, `c -> o` channels on `h x w` with padding `(ph, pw)`.
    /// None when `r` is not 3 or 5, a padding exceeds `r - 1` (the input gradient's padding
    /// `r - 1 - p` would be negative) or the output is empty.
    pub fn new(r: usize, c: usize, h: usize, w: usize, o: usize, ph: usize, pw: usize) -> Option<Wino> {
        if !matches!(r, 3 | 5) || ph >= r || pw >= r {
            return None;
        }
        let oh = out_size(h, r, 1, ph)?;
        let ow = out_size(w, r, 1, pw)?;
        (oh > 0 && ow > 0).then_some(Wino { r, c, h, w, o, ph, pw, oh, ow })
    }

    /// The geometry of the input gradient: `dY: [o][oh][ow]` convolved back to `[c][h][w]`.
    pub fn input_grad(&self) -> Wino {
        let (ph, pw) = (self.r - 1 - self.ph, self.r - 1 - self.pw);
        Wino { r: self.r, c: self.o, h: self.oh, w: self.ow, o: self.c, ph, pw, oh: self.h, ow: self.w }
    }

    /// `α = r + 1`: the side of a transformed tile.
    pub fn alpha(&self) -> usize {
        self.r + 1
    }

    /// `α²`: transform points, one GEMM each.
    pub fn points(&self) -> usize {
        self.alpha() * self.alpha()
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

    /// Floats of the transformed filters ([`filter_transform`]): `α²·o·c`.
    pub fn filter_len(&self) -> usize {
        self.points() * self.o * self.c
    }

    /// Floats of the filters themselves, `o·c·r²`.
    pub fn weight_len(&self) -> usize {
        self.o * self.c * self.r * self.r
    }

    /// Floats of scratch [`conv3x3`] needs for `gn` images: `V` and `M`.
    pub fn scratch_len(&self, gn: usize) -> usize {
        self.points() * (self.c + self.o) * gn * self.tiles_per_image()
    }

    fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    fn out_len(&self) -> usize {
        self.o * self.oh * self.ow
    }
}

/// `G·g·Gᵀ` of one `r x r` filter `g` (row-major) as `α²` values `[i·α + j]`, in f64 (rounded
/// once by the caller).
fn filter_tile(r: usize, g: &[f32], out: &mut [f64; 36]) {
    match r {
        3 => filter_tile_k::<3, 4>(&G3, g, out),
        5 => filter_tile_k::<5, 6>(&G5, g, out),
        _ => unreachable!("Winograd F(2x2, {r}x{r}) is not implemented"),
    }
}

/// [`filter_tile`] for `r = R`, `α = A`, with fixed loop bounds (the transforms of every
/// filter run once per call of a convolution, and dynamic bounds made them a few % of a step).
#[inline(always)]
fn filter_tile_k<const R: usize, const A: usize>(gm: &[f64], g: &[f32], out: &mut [f64; 36]) {
    let gm: &[f64] = &gm[..A * R];
    let g: &[f32] = &g[..R * R];
    // t = G·g: α x r
    let mut t = [[0.0f64; R]; A];
    for (i, ti) in t.iter_mut().enumerate() {
        for (k, tik) in ti.iter_mut().enumerate() {
            let mut acc = 0.0;
            for l in 0..R {
                acc += gm[i * R + l] * g[l * R + k] as f64;
            }
            *tik = acc;
        }
    }
    for (i, ti) in t.iter().enumerate() {
        for j in 0..A {
            let mut acc = 0.0;
            for (k, &tik) in ti.iter().enumerate() {
                acc += tik * gm[j * R + k];
            }
            out[i * A + j] = acc;
        }
    }
}

/// `u: [α²][o][c]` = `G·w[o][c]·Gᵀ` for the filters `w: [o][c][r][r]` of `g`.
pub fn filter_transform(g: &Wino, w: &[f32], u: &mut [f32]) {
    let (o, c, r, p) = (g.o, g.c, g.r, g.points());
    assert!(w.len() >= g.weight_len() && u.len() >= g.filter_len(), "filter_transform: slices too short for {o}x{c}x{r}x{r}");
    let mut tile = [0.0f64; 36];
    for oc in 0..o {
        for ci in 0..c {
            filter_tile(r, &w[(oc * c + ci) * r * r..(oc * c + ci + 1) * r * r], &mut tile);
            for (t, &val) in tile[..p].iter().enumerate() {
                u[(t * o + oc) * c + ci] = val as f32;
            }
        }
    }
}

/// The transformed filters of the input gradient of `g`: `u: [α²][c][o]` = `G·w'[c][o]·Gᵀ`
/// with `w'[c][o][a][b] = w[o][c][r-1-a][r-1-b]` (transposed and rotated by 180°), for
/// `w: [o][c][r][r]`. They go with the geometry [`Wino::input_grad`].
pub fn filter_transform_flipped(g: &Wino, w: &[f32], u: &mut [f32]) {
    let (o, c, r, p) = (g.o, g.c, g.r, g.points());
    assert!(w.len() >= g.weight_len() && u.len() >= g.filter_len(), "filter_transform_flipped: slices too short for {o}x{c}x{r}x{r}");
    let (mut tile, mut flipped) = ([0.0f64; 36], [0.0f32; 25]);
    for oc in 0..o {
        for ci in 0..c {
            let src = &w[(oc * c + ci) * r * r..(oc * c + ci + 1) * r * r];
            for (k, f) in flipped[..r * r].iter_mut().enumerate() {
                *f = src[r * r - 1 - k];
            }
            filter_tile(r, &flipped[..r * r], &mut tile);
            for (t, &val) in tile[..p].iter().enumerate() {
                u[(t * c + ci) * o + oc] = val as f32;
            }
        }
    }
}

/// `y = conv(x) + bias` for `gn` images `x: [gn][c][h][w]` into `y: [gn][o][oh][ow]`, with
/// the filters already transformed into `u` ([`filter_transform`]), on any CPU: F(2x2, 3x3)
/// only (the 5x5 form needs the fused kernel). `scratch` holds at least
/// [`Wino::scratch_len`]`(gn)` floats (contents ignored). `par` runs the 16 GEMMs on the
/// parallel driver, which gives the same bits as the serial one.
///
/// Panics when a slice is too short for the geometry or `g.r` is not 3.
#[allow(clippy::too_many_arguments)]
pub fn conv3x3(g: &Wino, gn: usize, x: &[f32], u: &[f32], bias: Option<&[f32]>, y: &mut [f32], scratch: &mut [f32], par: bool) {
    const POINTS: usize = 16;
    let ld = gn * g.tiles_per_image();
    assert_eq!(g.r, 3, "winograd conv3x3: a {}x{} kernel", g.r, g.r);
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
