//! Tests of the pooling kernels: against naive loops, the hand-worked tie rule, NaN, and the
//! virtual padding against a materialised padded plane.

use super::*;
use crate::window::out_size;

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    // Coarse values so ties happen.
    ((*seed >> 60) as f32) - 8.0
}

const CASES: [(usize, usize, usize, usize, usize, usize); 9] = [
    (5, 5, 2, 2, 13, 13),
    (3, 3, 2, 2, 12, 11),
    (3, 3, 1, 1, 7, 9),
    (2, 2, 2, 2, 8, 8),
    (2, 2, 2, 2, 9, 7),
    (1, 1, 1, 1, 3, 4),
    (3, 2, 1, 2, 6, 7),
    (4, 4, 4, 4, 4, 4),
    (5, 5, 2, 2, 24, 24),
];

#[test]
fn max_pool_propagates_nan() {
    // [[1, NaN], [2, 100]] and [[NaN, 5], [NaN, 7]]
    let x = [1.0, f32::NAN, 2.0, 100.0, f32::NAN, 5.0, f32::NAN, 7.0];
    let (mut out, mut am) = ([0.0f32; 2], [0u32; 2]);
    max_pool2d(&x, 2, 2, 2, 2, 2, 2, 2, &mut out, &mut am);
    assert!(out[0].is_nan() && am[0] == 1, "{out:?} {am:?}");
    assert!(out[1].is_nan() && am[1] == 0, "{out:?} {am:?}");
}

/// The tie rule on a hand-worked example: a 3x4 plane full of 5s, 2x2 windows, stride 1.
/// ```text
/// 1 5 5 0      windows (top-left corner) and their first 5 in row-major order:
/// 5 2 5 5      (0,0): 1 5 / 5 2 -> (0,1) = 1     (0,1): 5 5 / 2 5 -> (0,1) = 1
/// 0 5 1 5      (0,2): 5 0 / 5 5 -> (0,2) = 2     (1,0): 5 2 / 0 5 -> (1,0) = 4
///              (1,1): 2 5 / 5 1 -> (1,2) = 6     (1,2): 5 5 / 1 5 -> (1,2) = 6
/// ```
/// Column-major order would pick (1,0) = 4 in window (0,0) and (2,1) = 9 in window (1,1).
/// With output gradients 1..6, the input gradient is 1+2 at index 1, 3 at 2, 4 at 4 and
/// 5+6 at 6.
#[test]
fn max_pool_ties_go_to_the_first_maximum_in_row_major_order() {
    let x = [1.0, 5.0, 5.0, 0.0, 5.0, 2.0, 5.0, 5.0, 0.0, 5.0, 1.0, 5.0];
    let (mut out, mut am) = ([0.0f32; 6], [0u32; 6]);
    max_pool2d(&x, 1, 3, 4, 2, 2, 1, 1, &mut out, &mut am);
    assert_eq!(out, [5.0; 6]);
    assert_eq!(am, [1, 1, 2, 4, 6, 6]);
    let mut dx = [0.0f32; 12];
    max_pool2d_backward(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &am, 1, 3, 4, 2, 3, &mut dx);
    assert_eq!(dx, [0.0, 3.0, 3.0, 0.0, 4.0, 0.0, 11.0, 0.0, 0.0, 0.0, 0.0, 0.0]);

    // 2x2 stride 2 (the CNN case): [[0 7 | 7 3], [7 0 | 3 7]] -> (0,1) = 1 and (0,2) = 2
    let x = [0.0, 7.0, 7.0, 3.0, 7.0, 0.0, 3.0, 7.0];
    let (mut out, mut am) = ([0.0f32; 2], [0u32; 2]);
    max_pool2d(&x, 1, 2, 4, 2, 2, 2, 2, &mut out, &mut am);
    assert_eq!((out, am), ([7.0, 7.0], [1, 2]));

    // 0.0 and -0.0 are equal: a tie, the first in row-major order wins
    let x = [-0.0, 0.0, 0.0, -0.0];
    max_pool2d(&x, 1, 2, 2, 2, 2, 2, 2, &mut out[..1], &mut am[..1]);
    assert_eq!(am[0], 0);

    // two NaNs: the first in row-major order, (0,1), not the first in column-major, (1,0)
    let x = [5.0, f32::NAN, f32::NAN, 1.0];
    max_pool2d(&x, 1, 2, 2, 2, 2, 2, 2, &mut out[..1], &mut am[..1]);
    assert!(out[0].is_nan() && am[0] == 1, "{out:?} {am:?}");
}

#[test]
fn max_pool_matches_naive_and_backward_routes() {
    let mut seed = 3u64;
    for (kh, kw, sh, sw, h, w) in CASES {
        let planes = 3;
        let oh = (h - kh) / sh + 1;
        let ow = (w - kw) / sw + 1;
        let x: Vec<f32> = (0..planes * h * w).map(|_| lcg(&mut seed)).collect();
        let mut out = vec![f32::NAN; planes * oh * ow];
        let mut am = vec![u32::MAX; planes * oh * ow];
        max_pool2d(&x, planes, h, w, kh, kw, sh, sw, &mut out, &mut am);
        for p in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best = f32::NEG_INFINITY;
                    let mut bi = usize::MAX;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let i = (oy * sh + ky) * w + ox * sw + kx;
                            if x[p * h * w + i] > best {
                                best = x[p * h * w + i];
                                bi = i;
                            }
                        }
                    }
                    let o = p * oh * ow + oy * ow + ox;
                    assert_eq!(out[o], best);
                    assert_eq!(am[o] as usize, bi);
                }
            }
        }
        let dout: Vec<f32> = (0..planes * oh * ow).map(|i| i as f32 + 0.5).collect();
        let mut din = vec![1.0f32; planes * h * w];
        max_pool2d_backward(&dout, &am, planes, h, w, oh, ow, &mut din);
        let mut want = vec![1.0f32; planes * h * w];
        for p in 0..planes {
            for o in 0..oh * ow {
                want[p * h * w + am[p * oh * ow + o] as usize] += dout[p * oh * ow + o];
            }
        }
        assert_eq!(din, want);
    }
}

#[test]
fn avg_pool_matches_naive_and_backward_is_adjoint() {
    let mut seed = 11u64;
    for (kh, kw, sh, sw, h, w) in CASES {
        let planes = 2;
        let oh = (h - kh) / sh + 1;
        let ow = (w - kw) / sw + 1;
        let x: Vec<f32> = (0..planes * h * w).map(|_| lcg(&mut seed) * 0.37).collect();
        let mut out = vec![f32::NAN; planes * oh * ow];
        avg_pool2d(&x, planes, h, w, kh, kw, sh, sw, &mut out);
        for p in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = 0.0f64;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            s += x[p * h * w + (oy * sh + ky) * w + ox * sw + kx] as f64;
                        }
                    }
                    let want = s / (kh * kw) as f64;
                    let got = out[p * oh * ow + oy * ow + ox] as f64;
                    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
                    // and bit for bit the documented order: each window column summed top to
                    // bottom, the column sums left to right, times 1/(kh·kw)
                    let col = |kx: usize| (1..kh).fold(x[p * h * w + oy * sh * w + ox * sw + kx], |c, ky| c + x[p * h * w + (oy * sh + ky) * w + ox * sw + kx]);
                    let exact = (1..kw).fold(col(0), |a, kx| a + col(kx)) * (1.0 / (kh * kw) as f32);
                    assert_eq!(out[p * oh * ow + oy * ow + ox].to_bits(), exact.to_bits(), "{kh}x{kw} s{sh}x{sw} on {h}x{w}");
                }
            }
        }
        let y: Vec<f32> = (0..planes * oh * ow).map(|_| lcg(&mut seed) * 0.21).collect();
        let mut dx = vec![0.0f32; planes * h * w];
        avg_pool2d_backward(&y, planes, h, w, kh, kw, sh, sw, &mut dx);
        let lhs: f64 = out.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
        let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| *a as f64 * *b as f64).sum();
        assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
        // Accumulates.
        let mut dx2 = vec![1.0f32; planes * h * w];
        avg_pool2d_backward(&y, planes, h, w, kh, kw, sh, sw, &mut dx2);
        for (a, b) in dx2.iter().zip(&dx) {
            assert!((a - 1.0 - b).abs() < 1e-5);
        }
    }
}

/// Copies each `h x w` plane into a zero plane padded by `[top, bottom, left, right]`.
fn materialise(x: &[f32], planes: usize, h: usize, w: usize, [t, b, l, r]: [usize; 4]) -> Vec<f32> {
    let (hp, wp) = (h + t + b, w + l + r);
    let mut y = vec![0.0f32; planes * hp * wp];
    for p in 0..planes {
        for i in 0..h {
            let d = p * hp * wp + (t + i) * wp + l;
            y[d..d + w].copy_from_slice(&x[p * h * w + i * w..p * h * w + (i + 1) * w]);
        }
    }
    y
}

const PADS: [[usize; 4]; 5] = [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [0, 3, 1, 0], [2, 0, 0, 1]];

/// Virtual padding gives bit for bit the pooling of the materialised padded plane: max values
/// and argmax (mapped from the padded plane back to the input, or `PADDED`), average values,
/// and the average's adjoint (the materialised one cropped).
#[test]
fn padded_pools_equal_pooling_the_materialised_padding() {
    let mut seed = 5u64;
    let mut hit_pad = false;
    for (kh, kw, sh, sw, h, w) in CASES {
        for pad in PADS {
            let planes = 2;
            let win = Window { h, w, kh, kw, sh, sw, pad };
            let (hp, wp) = win.padded();
            let (oh, ow) = win.out().unwrap();
            assert_eq!((oh, ow), (out_size(hp, kh, sh, 0).unwrap(), out_size(wp, kw, sw, 0).unwrap()));
            // coarse values (ties with each other and with the padding zeros), some -0.0
            let x: Vec<f32> = (0..planes * h * w).map(|i| if i % 11 == 3 { -0.0 } else { lcg(&mut seed) }).collect();
            let xp = materialise(&x, planes, h, w, pad);
            let n = planes * oh * ow;
            let (mut want, mut want_am) = (vec![0.0f32; n], vec![0u32; n]);
            max_pool2d(&xp, planes, hp, wp, kh, kw, sh, sw, &mut want, &mut want_am);
            let (mut got, mut got_am) = (vec![f32::NAN; n], vec![7u32; n]);
            max_pool2d_padded(&x, planes, &win, &mut got, Some(&mut got_am));
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "max {win:?}");
            for (&g, &wa) in got_am.iter().zip(&want_am) {
                let (py, px) = (wa as usize / wp, wa as usize % wp);
                let inside = py >= pad[0] && py - pad[0] < h && px >= pad[2] && px - pad[2] < w;
                let expect = if inside { ((py - pad[0]) * w + px - pad[2]) as u32 } else { PADDED };
                hit_pad |= expect == PADDED;
                assert_eq!(g, expect, "argmax {win:?}");
            }
            let mut vals = vec![f32::NAN; n];
            max_pool2d_padded(&x, planes, &win, &mut vals, None);
            // values only: the same values; only the sign of a zero may differ (a tie of -0.0
            // and +0.0 is not resolved by position without the keys)
            for (&v, &m) in vals.iter().zip(&want) {
                assert!(v.to_bits() == m.to_bits() || (v == 0.0 && m == 0.0), "values-only max {win:?}: {v} vs {m}");
            }

            let mut want = vec![0.0f32; n];
            avg_pool2d(&xp, planes, hp, wp, kh, kw, sh, sw, &mut want);
            let mut got = vec![f32::NAN; n];
            avg_pool2d_padded(&x, planes, &win, &mut got);
            assert_eq!(bits(&got), bits(&want), "avg {win:?}");
            let dy: Vec<f32> = (0..n).map(|_| lcg(&mut seed) * 0.3).collect();
            let mut dxp = vec![0.0f32; planes * hp * wp];
            avg_pool2d_backward(&dy, planes, hp, wp, kh, kw, sh, sw, &mut dxp);
            let mut dx = vec![0.0f32; planes * h * w];
            avg_pool2d_padded_backward(&dy, planes, &win, &mut dx);
            let mut crop = vec![0.0f32; planes * h * w];
            for p in 0..planes {
                for i in 0..h {
                    let s = p * hp * wp + (pad[0] + i) * wp + pad[2];
                    crop[p * h * w + i * w..p * h * w + (i + 1) * w].copy_from_slice(&dxp[s..s + w]);
                }
            }
            assert_eq!(bits(&dx), bits(&crop), "avg backward {win:?}");
        }
    }
    assert!(hit_pad, "some window's maximum should be a padding zero");
}

/// A window of negatives next to the padding: its max is a padding zero, whose gradient goes
/// nowhere; a tie between a padding zero and an input zero goes to whichever comes first.
#[test]
fn max_pool_padding_zero_wins_and_takes_no_gradient() {
    // plane [[-1, -2], [0, -3]], pad 1 on every side, 2x2 windows, stride 2: 2x2 outputs
    let x = [-1.0, -2.0, 0.0, -3.0];
    let win = Window { h: 2, w: 2, kh: 2, kw: 2, sh: 2, sw: 2, pad: [1, 1, 1, 1] };
    let (mut out, mut am) = ([9.0f32; 4], [0u32; 4]);
    max_pool2d_padded(&x, 1, &win, &mut out, Some(&mut am));
    // every window holds padding zeros that come first in row-major order, so they win ties
    // with the input's 0 at (1, 0) too
    assert_eq!(out, [0.0; 4]);
    assert_eq!(am, [PADDED; 4]);
    let mut dx = [0.5f32; 4];
    max_pool2d_backward(&[1.0, 2.0, 3.0, 4.0], &am, 1, 2, 2, 2, 2, &mut dx);
    assert_eq!(dx, [0.5; 4]);
    // pad only at the bottom/right: the input's 0 at (1, 0) comes before the padding
    let win = Window { pad: [0, 2, 0, 2], ..win };
    let (mut out, mut am) = ([9.0f32; 4], [0u32; 4]);
    max_pool2d_padded(&x, 1, &win, &mut out, Some(&mut am));
    assert_eq!(out, [0.0; 4]);
    assert_eq!(am, [2, PADDED, PADDED, PADDED]);
}

/// The AVX-512 max pool gives the generic body's values and argmax bit for bit (the portable
/// build, which every ISA's generic body equals lane by lane): coarse values for ties, NaNs,
/// `-0.0` next to `+0.0`, every stride from 1 to 3, padding on each side, and planes wider
/// than one block of the column pass.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_max_pool_equals_the_portable_one() {
    if !std::arch::is_x86_feature_detected!("avx512f") {
        return;
    }
    let mut seed = 11u64;
    let shapes = [(5, 5, 2, 2, [2, 2, 2, 2], 44, 44), (2, 2, 2, 2, [0; 4], 44, 44), (3, 3, 1, 1, [0; 4], 9, 9), (3, 3, 2, 2, [1; 4], 9, 9)];
    let mut wins: Vec<Window> = shapes.iter().map(|&(kh, kw, sh, sw, pad, h, w)| Window { h, w, kh, kw, sh, sw, pad }).collect();
    for (kh, kw, sh, sw, h, w) in CASES {
        wins.push(Window { h, w, kh, kw, sh, sw, pad: [0; 4] });
        wins.push(Window { h, w, kh, kw, sh, sw, pad: [1, 0, 2, 1] });
    }
    wins.push(Window { h: 5, w: 150, kh: 3, kw: 4, sh: 3, sw: 3, pad: [0, 2, 1, 0] });
    wins.push(Window { h: 3, w: 97, kh: 2, kw: 5, sh: 1, sw: 1, pad: [0, 0, 0, 3] });
    // the small-plane path: rows of exactly one vector, of one output, a row stride; and an
    // unpadded stride-1 pool too wide for it
    wins.push(Window { h: 7, w: 18, kh: 3, kw: 3, sh: 2, sw: 1, pad: [0; 4] });
    wins.push(Window { h: 6, w: 5, kh: 2, kw: 5, sh: 1, sw: 1, pad: [0; 4] });
    wins.push(Window { h: 4, w: 40, kh: 3, kw: 3, sh: 1, sw: 1, pad: [0; 4] });
    // the direct stride-2 path: odd widths, rows of more than one vector (a partial last one,
    // and one whose second load ends exactly at the row's end), row strides 1 to 3, and a
    // window too large for it
    wins.push(Window { h: 9, w: 45, kh: 2, kw: 2, sh: 2, sw: 2, pad: [0; 4] });
    wins.push(Window { h: 8, w: 35, kh: 3, kw: 3, sh: 1, sw: 2, pad: [0; 4] });
    wins.push(Window { h: 10, w: 64, kh: 2, kw: 2, sh: 3, sw: 2, pad: [0; 4] });
    wins.push(Window { h: 7, w: 66, kh: 1, kw: 3, sh: 2, sw: 2, pad: [0; 4] });
    wins.push(Window { h: 9, w: 40, kh: 4, kw: 3, sh: 2, sw: 2, pad: [0; 4] });
    for win in wins {
        let planes = 3;
        let (oh, ow) = win.out().unwrap();
        let x: Vec<f32> = (0..planes * win.h * win.w)
            .map(|i| match lcg(&mut seed) {
                v if v == -8.0 && i % 3 == 0 => f32::NAN,
                -7.0 => -0.0,
                v => v,
            })
            .collect();
        let n = planes * oh * ow;
        let (mut out, mut am) = (vec![1.5f32; n], vec![7u32; n]);
        // SAFETY: AVX-512F checked above; the slices fit the geometry.
        unsafe { super::max512::max_pool(&x, planes, &win, &mut out, Some(&mut am)) };
        let (mut want, mut want_am) = (vec![0f32; n], vec![0u32; n]);
        max::with_argmax_body::<max::Portable>(&x, planes, &win, &mut want, &mut want_am);
        assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{win:?}");
        assert_eq!(am, want_am, "{win:?}");
        let mut vals = vec![1.5f32; n];
        // SAFETY: as above.
        unsafe { super::max512::max_pool(&x, planes, &win, &mut vals, None) };
        max::values_only_body::<max::Portable>(&x, planes, &win, &mut want);
        assert_eq!(vals.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{win:?}");
    }
}
