//! Winograd F(m x m, r x r) for (m, r) = (2, 3), (2, 5), (3, 3) and (4, 3): stride-1
//! convolution with 2.25x (F(2x2, 3x3)), 2.78x (F(2x2, 5x5)), 3.24x (F(3x3, 3x3)) or 4x
//! (F(4x4, 3x3)) fewer multiplications.
//!
//! Each output is cut into m x m tiles; tile `(ty, tx)` of channel `o` needs the `α x α` input
//! patch `d_c` (`α = m + r - 1`) whose top-left corner is `(m·ty - ph, m·tx - pw)` in every
//! input channel `c`. Winograd's minimal filtering algorithm (Lavin & Gray, "Fast Algorithms for
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
//!
//! F(3x3, 3x3), points 0, 1, -1, 2, ∞:
//!      Bᵀ = | 2 -1 -2  1  0 |    G = |  ½    0    0  |      Aᵀ = | 1  1  1  1  0 |
//!           | 0 -2 -1  1  0 |        | -½   -½   -½  |           | 0  1 -1  2  0 |
//!           | 0  2 -3  1  0 |        | -⅙    ⅙   -⅙  |           | 0  1  1  4  1 |
//!           | 0 -1  0  1  0 |        |  ⅙    ⅓    ⅔  |
//!           | 0  2 -1 -2  1 |        |  0    0    1  |
//!
//! F(4x4, 3x3), the points of F(2x2, 5x5), so the same Bᵀ:
//!      G = |  ¼     0     0  |      Aᵀ = | 1  1  1  1  1  0 |
//!          | -⅙    -⅙    -⅙  |           | 0  1 -1  2 -2  0 |
//!          | -⅙     ⅙    -⅙  |           | 0  1  1  4  4  0 |
//!          | 1/24  1/12   ⅙  |           | 0  1 -1  8 -8  1 |
//!          | 1/24 -1/12   ⅙  |
//!          |  0     0     1  |
//! ```
//!
//! (the 6x6 forms are the Toom-Cook construction on those points: row `i` of `Aᵀ` holds the
//! points' `i`-th powers, row `j` of `G` the powers `1, p, p², …` of point `p` over
//! `Π_{q≠p} (p - q)`, its last row (∞) the last tap; the test `one_d_transforms_compute_the_correlation` checks the code's `Bᵀ`,
//! `Aᵀ` and `A` against `G` for all four forms). The sum over `c` at each of the `α²` positions `t = (i, j)` of the transformed tile is
//! a matrix product over all tiles at once:
//!
//! ```text
//! U[t] = (G·g·Gᵀ)[t] as [O] x [C]     V[t] = (Bᵀ·d·B)[t] as [C] x [tiles]
//! M[t] = U[t] · V[t]                 (α² GEMMs, [O] x [tiles] each)
//! ```
//!
//! so a tile costs `α²·C·O` multiplications instead of the direct `m²·r²·C·O`, plus transforms
//! linear in `C + O`. The GEMMs run on [`crate::sgemm`] or the AVX-512 micro-kernel (`fused.rs`),
//! the portable transforms (3x3 only) are in `transform.rs`.
//!
//! Accuracy: F(2x2, 3x3)'s `Bᵀ` and `Aᵀ` hold only 0 and ±1 and `G` only 0, ±½ and 1, so its
//! error against im2col + GEMM stays at the f32 rounding of sums (tests: under 1e-5 of the
//! output's scale). F(2x2, 5x5)'s matrices hold 2s, 4s and 5s and its `G` thirds and sixths
//! (the transformed filters are computed in f64 and rounded to f32 once), so it loses about an
//! order of magnitude (tests: under 1e-4, and 1e-5 on the seed layer's shape
//! is not promised). F(4x4, 3x3) has the same points, and measured 2e-6 to 9e-6 of the
//! output's scale on the seed shapes, forward and input gradient (`fused_4x4_seed_shapes`;
//! the tests hold it to 1e-4 like F(2x2, 5x5)).
//!
//! The input gradient of a stride-1 convolution is again one ([`filter_transform_flipped`]):
//! `dX = conv(dY, W')` with `W'[c][o][u][v] = W[o][c][r-1-u][r-1-v]` and padding `r - 1 - p`;
//! or, on the forward's own tiles, the adjoint of the forward pass ([`input_grad`], F(2x2)),
//! which pays where that padding makes the convolution's tiles many more than the forward's
//! (5x5 kernels without padding).

mod filters;
mod transform;
pub use filters::{filter_transform, filter_transform_flipped, PanelForm};

/// Calls the generic `$f::<α>` that matches the kernel size `$g.r` of an F(2x2, r x r)
/// geometry (`fused.rs`, `adjoint.rs`).
#[cfg(target_arch = "x86_64")]
macro_rules! by_alpha {
    ($g:expr, $f:ident($($arg:expr),*)) => {
        match ($g.r, $g.m) {
            (3, 2) => $f::<4>($($arg),*),
            (5, 2) => $f::<6>($($arg),*),
            (r, m) => unreachable!("Winograd F(2x2, r x r) only here, not F({m}x{m}, {r}x{r})"),
        }
    };
}

/// Calls the generic `$f::<α, m>` that matches the geometry's tile `$g.m` and kernel `$g.r`:
/// F(2x2, 3x3), F(2x2, 5x5), F(3x3, 3x3) or F(4x4, 3x3) (`fused.rs`).
#[cfg(target_arch = "x86_64")]
macro_rules! by_tile {
    ($g:expr, $f:ident($($arg:expr),*)) => {
        match ($g.r, $g.m) {
            (3, 2) => $f::<4, 2>($($arg),*),
            (5, 2) => $f::<6, 2>($($arg),*),
            (3, 3) => $f::<5, 3>($($arg),*),
            (3, 4) => $f::<6, 4>($($arg),*),
            (r, m) => unreachable!("Winograd F({m}x{m}, {r}x{r}) is not implemented"),
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod adjoint;
#[cfg(target_arch = "x86_64")]
mod fused;
#[cfg(target_arch = "x86_64")]
mod output;
/// Without x86-64 there is no fused kernel: [`Fused::new`] is always None.
#[cfg(not(target_arch = "x86_64"))]
mod fused {
    use super::Wino;
    /// Never built on this architecture.
    #[derive(Clone, Debug)]
    pub struct Fused(());
    impl Fused {
        /// Never on this architecture.
        pub fn available() -> bool {
            false
        }
        /// Always None here: use [`super::conv3x3`].
        pub fn new(_g: &Wino, _u: &[f32]) -> Option<Fused> {
            None
        }
        /// Always None here.
        pub fn new_transposed(_g: &Wino, _u: &[f32]) -> Option<Fused> {
            None
        }
        /// Always None here.
        pub fn from_weights(_g: &Wino, _w: &[f32], _form: super::PanelForm) -> Option<Fused> {
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

#[cfg(target_arch = "x86_64")]
pub mod input_grad;
/// Without x86-64 there is no fused kernel: [`input_grad::available`] is always false.
#[cfg(not(target_arch = "x86_64"))]
pub mod input_grad {
    use super::{Fused, Wino};
    /// Never on this architecture.
    pub fn available(_g: &Wino) -> bool {
        false
    }
    /// Never called: nothing is available.
    pub fn scratch_len(_g: &Wino) -> usize {
        0
    }
    /// Never called: nothing is available.
    pub fn conv_input_grad(_g: &Wino, _gn: usize, _dy: &[f32], _ft: &Fused, _dx: &mut [f32], _scratch: &mut [f32]) {
        unreachable!("no fused Winograd kernel on this architecture")
    }
}

pub mod filter_grad;

#[cfg(test)]
mod grad_tests;
#[cfg(test)]
mod tests;

use crate::window::out_size;

/// Whether 32-bit gather offsets reach every float of an image of `len` floats and of the
/// images after it that one vector of 16 tiles can span (each image has at least one tile, so
/// at most 16 images; 17 for margin).
pub(crate) fn offsets_fit(len: usize) -> bool {
    17usize.saturating_mul(len) < i32::MAX as usize
}

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

/// F(3x3, 3x3)'s `G` (5 x 3), row-major (points 0, 1, -1, 2, ∞).
#[rustfmt::skip]
const G33: [f64; 15] = [
    0.5, 0.0, 0.0,
    -0.5, -0.5, -0.5,
    -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0,
    1.0 / 6.0, 1.0 / 3.0, 2.0 / 3.0,
    0.0, 0.0, 1.0,
];

/// F(4x4, 3x3)'s `G` (6 x 3), row-major: the points of F(2x2, 5x5), so the same `Bᵀ`.
#[rustfmt::skip]
const G43: [f64; 18] = [
    0.25, 0.0, 0.0,
    -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0,
    -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0,
    1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0,
    1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0,
    0.0, 0.0, 1.0,
];

/// `G` (`α x r`, row-major) of F(m x m, r x r).
fn g_matrix(r: usize, m: usize) -> &'static [f64] {
    match (r, m) {
        (3, 2) => &G3,
        (5, 2) => &G5,
        (3, 3) => &G33,
        (3, 4) => &G43,
        _ => unreachable!("Winograd F({m}x{m}, {r}x{r}) is not implemented"),
    }
}

/// The geometry of one Winograd stride-1 convolution with an `r x r` kernel (3 or 5): input
/// `[c][h][w]` per image, `o` output channels, zero padding `(ph, pw)` on each side (at most
/// `r - 1`), output `oh x ow`, cut into `m x m` tiles (2, or 3 or 4 for a 3x3 kernel: see
/// [`Wino::with_tiles`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wino {
    pub r: usize,
    pub m: usize,
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
        (oh > 0 && ow > 0).then_some(Wino { r, m: 2, c, h, w, o, ph, pw, oh, ow })
    }

    /// The same convolution as F(4x4, 3x3): 4x4 output tiles from 6x6 input patches, 36
    /// multiplications per tile and channel pair instead of 4 x 16 = 64 for F(2x2, 3x3) (less
    /// where the tiles overhang the output). [`Wino::with_tiles`]`(4)`.
    pub fn large_tiles(&self) -> Option<Wino> {
        self.with_tiles(4)
    }

    /// The same convolution in `m x m` output tiles: F(2x2) always; F(3x3, 3x3) (5x5 patches,
    /// 25 multiplications per tile and channel pair against 9/4 x 16 = 36 for F(2x2)) and
    /// F(4x4, 3x3) only where the fused kernel ([`Fused`], AVX-512) and the filter gradient
    /// (`filter_grad`, tile rows under 16) run them, always by gathers: None for a 5x5 kernel,
    /// another `m`, without the fused kernel, or for an input or output image so large
    /// (`offsets_fit`) that the gathers' 32-bit offsets would overflow (both sides, so that
    /// [`Wino::input_grad`] of the result is valid too).
    pub fn with_tiles(&self, m: usize) -> Option<Wino> {
        let fits = offsets_fit(self.in_len()) && offsets_fit(self.out_len());
        match m {
            2 => Some(Wino { m, ..*self }),
            3 | 4 => (self.r == 3 && Fused::available() && fits).then_some(Wino { m, ..*self }),
            _ => None,
        }
    }

    /// The form a convolution should take: the tiles ([`Wino::with_tiles`]) that need the
    /// fewest multiplications once the tiles that overhang the output are counted, if that is
    /// at most 3/4 of F(2x2)'s, else F(2x2); on a tie the smaller tiles. 22x22 outputs: F(4x4)
    /// (0.67; F(3x3) 0.83); 9x9: F(3x3), whose 3x3 tiles fit exactly (0.56; F(4x4) 0.81);
    /// 10x10: F(2x2) (F(3x3) 1.0, F(4x4) 0.81, measured no faster in a keras-hw3 step).
    pub fn preferred(&self) -> Wino {
        let small = self.small_tiles();
        let cost = |g: &Wino| g.points() * g.tiles_per_image();
        [3, 4].into_iter().filter_map(|m| small.with_tiles(m)).filter(|t| 4 * cost(t) <= 3 * cost(&small)).min_by_key(|t| (cost(t), t.m)).unwrap_or(small)
    }

    /// The same convolution as F(2x2, r x r).
    pub fn small_tiles(&self) -> Wino {
        Wino { m: 2, ..*self }
    }

    /// The geometry of the input gradient: `dY: [o][oh][ow]` convolved back to `[c][h][w]`.
    pub fn input_grad(&self) -> Wino {
        let (ph, pw) = (self.r - 1 - self.ph, self.r - 1 - self.pw);
        Wino { r: self.r, m: self.m, c: self.o, h: self.oh, w: self.ow, o: self.c, ph, pw, oh: self.h, ow: self.w }
    }

    /// `α = m + r - 1`: the side of a transformed tile.
    pub fn alpha(&self) -> usize {
        self.m + self.r - 1
    }

    /// `α²`: transform points, one GEMM each.
    pub fn points(&self) -> usize {
        self.alpha() * self.alpha()
    }

    /// Tile rows and columns `(ceil(oh/m), ceil(ow/m))`.
    pub fn tiles(&self) -> (usize, usize) {
        (self.oh.div_ceil(self.m), self.ow.div_ceil(self.m))
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
    assert_eq!((g.r, g.m), (3, 2), "winograd conv3x3: F({}x{}, {}x{})", g.m, g.m, g.r, g.r);
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
