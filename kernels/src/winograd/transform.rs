//! The three Winograd F(2x2, 3x3) transforms as loops on slices (see the module docs of
//! [`super`] for the matrices). Written so the compiler vectorises them: the input rows are
//! split into even and odd columns first, after which every loop runs over consecutive tiles
//! of one tile row with unit stride.

use super::Wino3x3;

/// `U = G·g·Gᵀ` for one 3x3 filter `g` (row-major), as 16 values `U[i·4 + j]`.
///
/// `G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]]`.
#[inline]
pub(super) fn filter_tile(g: &[f32; 9]) -> [f32; 16] {
    // t = G·g: 4 x 3
    let mut t = [[0.0f32; 3]; 4];
    for j in 0..3 {
        let (a, b, c) = (g[j], g[3 + j], g[6 + j]);
        t[0][j] = a;
        t[1][j] = 0.5 * (a + b + c);
        t[2][j] = 0.5 * (a - b + c);
        t[3][j] = c;
    }
    // U = t·Gᵀ: 4 x 4
    let mut u = [0.0f32; 16];
    for i in 0..4 {
        let [a, b, c] = t[i];
        u[i * 4] = a;
        u[i * 4 + 1] = 0.5 * (a + b + c);
        u[i * 4 + 2] = 0.5 * (a - b + c);
        u[i * 4 + 3] = c;
    }
    u
}

/// Input transform of `gn` images `x: [gn][c][h][w]` into `v: [16][c][ld]`: column
/// `img·tiles + ty·tw + tx` of matrix `t = i·4 + j` holds `(Bᵀ·d·B)[i][j]` of the 4x4 patch `d`
/// whose top-left corner is input pixel `(2·ty - ph, 2·tx - pw)` (zeros outside the image).
///
/// `Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
pub(super) fn input(g: &Wino3x3, gn: usize, x: &[f32], v: &mut [f32], ld: usize) {
    let (th, tw) = g.tiles();
    let tpi = th * tw;
    let (c, h, w) = (g.c, g.h, g.w);
    let half = tw + 1; // even (and odd) columns of a padded row of 2·tw + 2
    // rows r0..r3 split into even and odd padded columns, then the row-combined e0..e3
    let mut re = vec![0.0f32; 4 * half];
    let mut ro = vec![0.0f32; 4 * half];
    let mut ee = vec![0.0f32; 4 * half];
    let mut eo = vec![0.0f32; 4 * half];
    let tstride = c * ld;
    for img in 0..gn {
        for ci in 0..c {
            let plane = &x[(img * c + ci) * h * w..(img * c + ci + 1) * h * w];
            for ty in 0..th {
                for r in 0..4 {
                    let (e, o) = (&mut re[r * half..(r + 1) * half], &mut ro[r * half..(r + 1) * half]);
                    e.fill(0.0);
                    o.fill(0.0);
                    let iy = (2 * ty + r) as isize - g.ph as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    // padded column j holds input column j - pw
                    for (sx, &val) in src.iter().enumerate() {
                        let j = sx + g.pw;
                        if j >= 2 * half {
                            break;
                        }
                        if j % 2 == 0 {
                            e[j / 2] = val;
                        } else {
                            o[j / 2] = val;
                        }
                    }
                }
                // e = Bᵀ·rows (whole rows at once), for the even and the odd columns
                for (rows, out) in [(&re, &mut ee), (&ro, &mut eo)] {
                    let (r0, r1, r2, r3) = (&rows[..half], &rows[half..2 * half], &rows[2 * half..3 * half], &rows[3 * half..]);
                    let (o0, rest) = out.split_at_mut(half);
                    let (o1, rest) = rest.split_at_mut(half);
                    let (o2, o3) = rest.split_at_mut(half);
                    for k in 0..half {
                        o0[k] = r0[k] - r2[k];
                        o1[k] = r1[k] + r2[k];
                        o2[k] = r2[k] - r1[k];
                        o3[k] = r1[k] - r3[k];
                    }
                }
                // columns: tile tx reads padded columns 2tx..2tx+3 = even[tx], odd[tx],
                // even[tx+1], odd[tx+1]; (·)·B combines them like Bᵀ combined the rows
                let col0 = img * tpi + ty * tw;
                for i in 0..4 {
                    let (ev, od) = (&ee[i * half..(i + 1) * half], &eo[i * half..(i + 1) * half]);
                    let base = (i * 4) * tstride + ci * ld + col0;
                    let (d0, rest) = v[base..].split_at_mut(tstride);
                    let (d1, rest) = rest.split_at_mut(tstride);
                    let (d2, d3) = rest.split_at_mut(tstride);
                    let (d0, d1, d2, d3) = (&mut d0[..tw], &mut d1[..tw], &mut d2[..tw], &mut d3[..tw]);
                    for tx in 0..tw {
                        let (a, b, cc, d) = (ev[tx], od[tx], ev[tx + 1], od[tx + 1]);
                        d0[tx] = a - cc;
                        d1[tx] = b + cc;
                        d2[tx] = cc - b;
                        d3[tx] = b - d;
                    }
                }
            }
        }
    }
}

/// Output transform of `m: [16][o][ld]` (the 16 products) into `y: [gn][o][oh][ow]`:
/// `Y = Aᵀ·M·A` per tile, plus `bias[o]`, clipped at the bottom and right edges.
///
/// `Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`.
pub(super) fn output(g: &Wino3x3, gn: usize, m: &[f32], ld: usize, bias: Option<&[f32]>, y: &mut [f32]) {
    let (th, tw) = g.tiles();
    let tpi = th * tw;
    let (o, oh, ow) = (g.o, g.oh, g.ow);
    let tstride = o * ld;
    // the two output rows of one tile row, 2·tw wide (one column too many when ow is odd)
    let mut top = vec![0.0f32; 2 * tw];
    let mut bot = vec![0.0f32; 2 * tw];
    for img in 0..gn {
        for oc in 0..o {
            let b = bias.map_or(0.0, |b| b[oc]);
            let plane = &mut y[(img * o + oc) * oh * ow..(img * o + oc + 1) * oh * ow];
            for ty in 0..th {
                let col0 = oc * ld + img * tpi + ty * tw;
                let mt = |t: usize| &m[t * tstride + col0..t * tstride + col0 + tw];
                let (m0, m1, m2, m3) = (mt(0), mt(1), mt(2), mt(3));
                let (m4, m5, m6, m7) = (mt(4), mt(5), mt(6), mt(7));
                let (m8, m9, m10, m11) = (mt(8), mt(9), mt(10), mt(11));
                let (m12, m13, m14, m15) = (mt(12), mt(13), mt(14), mt(15));
                for tx in 0..tw {
                    // rows: s = Aᵀ·M (2 x 4)
                    let s00 = m0[tx] + m4[tx] + m8[tx];
                    let s01 = m1[tx] + m5[tx] + m9[tx];
                    let s02 = m2[tx] + m6[tx] + m10[tx];
                    let s03 = m3[tx] + m7[tx] + m11[tx];
                    let s10 = m4[tx] - m8[tx] - m12[tx];
                    let s11 = m5[tx] - m9[tx] - m13[tx];
                    let s12 = m6[tx] - m10[tx] - m14[tx];
                    let s13 = m7[tx] - m11[tx] - m15[tx];
                    // columns: Y = s·A (2 x 2)
                    top[2 * tx] = s00 + s01 + s02 + b;
                    top[2 * tx + 1] = s01 - s02 - s03 + b;
                    bot[2 * tx] = s10 + s11 + s12 + b;
                    bot[2 * tx + 1] = s11 - s12 - s13 + b;
                }
                let oy = 2 * ty;
                plane[oy * ow..(oy + 1) * ow].copy_from_slice(&top[..ow]);
                if oy + 1 < oh {
                    plane[(oy + 1) * ow..(oy + 2) * ow].copy_from_slice(&bot[..ow]);
                }
            }
        }
    }
}
