//! The input and output transforms of Winograd F(2x2, 3x3) as loops on slices, for CPUs without
//! the fused AVX-512 kernel (see the module docs of
//! [`super`] for the matrices). Written so the compiler vectorises them: the input rows are
//! split into even and odd columns first, after which every loop runs over consecutive tiles
//! of one tile row with unit stride.

use super::Wino;

/// Runs `$body` (an `#[inline(always)]` function) compiled for the selected ISA, so its loops
/// are vectorised with AVX-512 or AVX2 where the CPU has them.
macro_rules! dispatch {
    ($body:ident, $avx512:ident, $avx2:ident, ($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn $avx512($($arg: $ty),*) {
            $body($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2($($arg: $ty),*) {
            $body($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        match crate::selected_isa() {
            // SAFETY: the selected ISA is one this CPU supports (`selected_isa` checks it).
            crate::Isa::Avx512 => return unsafe { $avx512($($arg),*) },
            // SAFETY: as above.
            crate::Isa::Avx2 => return unsafe { $avx2($($arg),*) },
            crate::Isa::Portable => {}
        }
        $body($($arg),*)
    };
}

/// Input transform of `gn` images `x: [gn][c][h][w]` into `v: [c][16][ld]`: column
/// `img·tiles + ty·tw + tx` of row `(c, t = i·4 + j)` holds `(Bᵀ·d·B)[i][j]` of the 4x4 patch `d`
/// whose top-left corner is input pixel `(2·ty - ph, 2·tx - pw)` (zeros outside the image).
///
/// `Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
pub(super) fn input(g: &Wino, gn: usize, x: &[f32], v: &mut [f32], ld_v: usize) {
    dispatch!(input_body, input_avx512, input_avx2, (g: &Wino, gn: usize, x: &[f32], v: &mut [f32], ld_v: usize));
}

/// Lanes of the fixed-width chunks the input transform works in (LLVM turns the `[f32; L]`
/// arithmetic into vector instructions; loops over 11 or 5 tiles it would leave scalar).
const L: usize = 8;
type Lane = [f32; L];

#[inline(always)]
fn ld(s: &[f32], i: usize) -> Lane {
    s[i..i + L].try_into().expect("L floats")
}
#[inline(always)]
fn zip(a: Lane, b: Lane, f: impl Fn(f32, f32) -> f32) -> Lane {
    std::array::from_fn(|k| f(a[k], b[k]))
}

#[inline(always)]
fn input_body(g: &Wino, gn: usize, x: &[f32], v: &mut [f32], ld_v: usize) {
    let (th, tw) = g.tiles();
    let tpi = th * tw;
    let (c, h, w) = (g.c, g.h, g.w);
    let half = tw + 1; // even (and odd) columns of a padded row of 2·tw + 2
    let twp = tw.div_ceil(L) * L; // tiles of a row rounded up to whole chunks
    let hp = twp + L; // row width of the split planes: chunk reads at tx + 1 stay inside
    let rows = 2 * th + 2; // padded rows; input row iy is padded row iy + ph
                           // One padded row, then the plane split into even and odd padded columns. Only image
                           // positions are ever written, so the zero borders stay zero from plane to plane.
    let mut prow = vec![0.0f32; 2 * half];
    let mut pe = vec![0.0f32; rows * hp];
    let mut po = vec![0.0f32; rows * hp];
    for img in 0..gn {
        for ci in 0..c {
            let plane = &x[(img * c + ci) * h * w..(img * c + ci + 1) * h * w];
            for (iy, src) in plane.chunks_exact(w).enumerate() {
                prow[g.pw..g.pw + w].copy_from_slice(src);
                let r = iy + g.ph;
                let (de, dd) = (&mut pe[r * hp..r * hp + half], &mut po[r * hp..r * hp + half]);
                for ((e, o), pair) in de.iter_mut().zip(dd.iter_mut()).zip(prow.chunks_exact(2)) {
                    *e = pair[0];
                    *o = pair[1];
                }
            }
            for ty in 0..th {
                let r = 2 * ty * hp;
                let col0 = img * tpi + ty * tw;
                // Whole chunks spill up to L - 1 columns into the next tile rows, which are
                // written later; only chunks that would run past the last column are cut.
                let exact = col0 + twp > ld_v;
                for k in (0..twp).step_by(L) {
                    // rows r0..r3 at columns (even k, odd k, even k+1, odd k+1)
                    let at = |p: &[f32], row: usize, off: usize| ld(p, r + row * hp + k + off);
                    let cols = |row: usize| [at(&pe, row, 0), at(&po, row, 0), at(&pe, row, 1), at(&po, row, 1)];
                    let (r0, r1, r2, r3) = (cols(0), cols(1), cols(2), cols(3));
                    // Bᵀ·d over the rows: e[i][col] for column `col` of every tile
                    let e: [[Lane; 4]; 4] = [
                        std::array::from_fn(|col| zip(r0[col], r2[col], |a, b| a - b)),
                        std::array::from_fn(|col| zip(r1[col], r2[col], |a, b| a + b)),
                        std::array::from_fn(|col| zip(r2[col], r1[col], |a, b| a - b)),
                        std::array::from_fn(|col| zip(r1[col], r3[col], |a, b| a - b)),
                    ];
                    for (i, [a, b, cc, d]) in e.into_iter().enumerate() {
                        // (·)·B over the columns
                        let res = [zip(a, cc, |a, c| a - c), zip(b, cc, |b, c| b + c), zip(cc, b, |c, b| c - b), zip(b, d, |b, d| b - d)];
                        for (j, rj) in res.iter().enumerate() {
                            let dst = (ci * 16 + i * 4 + j) * ld_v + col0 + k;
                            if exact {
                                let n = L.min(tw.saturating_sub(k));
                                v[dst..dst + n].copy_from_slice(&rj[..n]);
                            } else {
                                v[dst..dst + L].copy_from_slice(rj);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Output transform of `m: [o][16][ld]` (the 16 products) into `y: [gn][o][oh][ow]`:
/// `Y = Aᵀ·M·A` per tile, plus `bias[o]`, clipped at the bottom and right edges.
///
/// `Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`.
pub(super) fn output(g: &Wino, gn: usize, m: &[f32], ld: usize, bias: Option<&[f32]>, y: &mut [f32]) {
    dispatch!(output_body, output_avx512, output_avx2, (g: &Wino, gn: usize, m: &[f32], ld: usize, bias: Option<&[f32]>, y: &mut [f32]));
}

#[inline(always)]
fn output_body(g: &Wino, gn: usize, m: &[f32], ld: usize, bias: Option<&[f32]>, y: &mut [f32]) {
    let (th, tw) = g.tiles();
    let tpi = th * tw;
    let (o, oh, ow) = (g.o, g.oh, g.ow);
    let tstride = ld;
    // the four outputs of every tile of one image: y00, y01, y10, y11
    let mut q = [vec![0.0f32; tpi], vec![0.0f32; tpi], vec![0.0f32; tpi], vec![0.0f32; tpi]];
    for img in 0..gn {
        for oc in 0..o {
            let b = bias.map_or(0.0, |b| b[oc]);
            let col0 = oc * 16 * ld + img * tpi;
            let mt = |t: usize| &m[t * tstride + col0..t * tstride + col0 + tpi];
            let (m0, m1, m2, m3) = (mt(0), mt(1), mt(2), mt(3));
            let (m4, m5, m6, m7) = (mt(4), mt(5), mt(6), mt(7));
            let (m8, m9, m10, m11) = (mt(8), mt(9), mt(10), mt(11));
            let (m12, m13, m14, m15) = (mt(12), mt(13), mt(14), mt(15));
            let [q00, q01, q10, q11] = &mut q;
            for k in 0..tpi {
                // rows: s = Aᵀ·M (2 x 4)
                let s00 = m0[k] + m4[k] + m8[k];
                let s01 = m1[k] + m5[k] + m9[k];
                let s02 = m2[k] + m6[k] + m10[k];
                let s03 = m3[k] + m7[k] + m11[k];
                let s10 = m4[k] - m8[k] - m12[k];
                let s11 = m5[k] - m9[k] - m13[k];
                let s12 = m6[k] - m10[k] - m14[k];
                let s13 = m7[k] - m11[k] - m15[k];
                // columns: Y = s·A (2 x 2)
                q00[k] = s00 + s01 + s02 + b;
                q01[k] = s01 - s02 - s03 + b;
                q10[k] = s10 + s11 + s12 + b;
                q11[k] = s11 - s12 - s13 + b;
            }
            let plane = &mut y[(img * o + oc) * oh * ow..(img * o + oc + 1) * oh * ow];
            for (oy, row) in plane.chunks_exact_mut(ow).enumerate() {
                let (ty, bottom) = (oy / 2, oy % 2 == 1);
                let (left, right) = if bottom { (&q[2], &q[3]) } else { (&q[0], &q[1]) };
                let (left, right) = (&left[ty * tw..(ty + 1) * tw], &right[ty * tw..(ty + 1) * tw]);
                let mut pairs = row.chunks_exact_mut(2);
                for ((pair, &l), &r) in (&mut pairs).zip(left).zip(right) {
                    pair[0] = l;
                    pair[1] = r;
                }
                if let [last] = pairs.into_remainder() {
                    *last = left[tw - 1];
                }
            }
        }
    }
}
