//! Parallel GEMM: splits C into blocks aligned to the micro-tile and runs
//! the serial blocked GEMM on each block on rayon's thread pool.

use super::{check_args, gemm_raw, selected_isa, GemmArgs, Isa};

/// Same as [`sgemm`](super::sgemm), but splits the work over rayon's thread pool when the
/// problem is large enough. C is split into blocks of rows (multiples of MR)
/// and columns (multiples of NR); every element's summation order is the same
/// as in [`sgemm`](super::sgemm), so the result is bit-identical whatever the thread count.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_par(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    sgemm_par_with(selected_isa(), m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc);
}

/// Problems with fewer multiply-adds (`m*n*k`) than this run serially in
/// [`sgemm_par`]. 2^23 multiply-adds take ~80 µs on one Zen 4 core. Measured
/// on the 2-core test machine shared with other jobs: 512^3 and the conv
/// shapes 64x576x484 / 64x800x324 (17-134 M) ran 1.6-2x faster on 2 threads,
/// while 128x576x100 (7.4 M) and 64x25x1936 (3.1 M) ran *slower* than serial,
/// because waking a second worker (and getting a core for it) costs tens of µs.
pub const PAR_THRESHOLD: usize = 1 << 23;

/// [`sgemm_par`] with an explicit micro-kernel ISA (panics if the CPU lacks it).
#[allow(clippy::too_many_arguments)]
pub fn sgemm_par_with(
    isa: Isa,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    check_args(isa, m, k, n, a, rsa, csa, b, rsb, csb, c, ldc);
    let g = GemmArgs { m, k, n, alpha, a: a.as_ptr(), rsa, csa, b: b.as_ptr(), rsb, csb, beta, c: c.as_mut_ptr(), ldc, packed: None };
    // SAFETY: lengths and ISA checked above.
    unsafe { gemm_auto(isa, &g) }
}

/// Runs `g` serially below [`PAR_THRESHOLD`] multiply-adds or on a one-thread pool, else split
/// over rayon's pool ([`gemm_par_raw`]).
///
/// # Safety
/// As [`gemm_raw`].
pub(crate) unsafe fn gemm_auto(isa: Isa, g: &GemmArgs) {
    let threads = rayon::current_num_threads();
    let work = g.m.saturating_mul(g.n).saturating_mul(g.k.max(1));
    // SAFETY: the caller's contract; tasks get disjoint C blocks.
    unsafe {
        if threads <= 1 || work < PAR_THRESHOLD {
            gemm_raw(isa, g);
        } else {
            gemm_par_raw(isa, g, threads);
        }
    }
}

/// Chooses the grid of C blocks: `(row_blocks, h, col_blocks, w)` with `h` a
/// multiple of `mr` and `w` a multiple of `nr`.
///
/// Columns are split first: a column block re-packs the whole A block, which
/// costs about `1/w` of its work, while a row block re-packs its B panel
/// (`1/h`). Blocks are kept at least `8*nr` wide and `8*mr` tall when that
/// still yields `2*threads` tasks (spare tasks balance the load when other
/// processes share the cores); otherwise the minimum sizes are relaxed until
/// every thread gets a block, if the matrix has enough tiles.
pub(crate) fn split_grid(m: usize, n: usize, mr: usize, nr: usize, threads: usize) -> (usize, usize, usize, usize) {
    let tasks = threads * 2;
    let mut cb = (n / (8 * nr)).clamp(1, tasks);
    let mut rb = (tasks / cb).min(m / (8 * mr)).max(1);
    if cb * rb < threads {
        cb = threads.min(n.div_ceil(nr)).max(1);
        rb = threads.div_ceil(cb).min(m.div_ceil(mr)).max(1);
    }
    let w = n.div_ceil(cb).div_ceil(nr) * nr;
    let h = m.div_ceil(rb).div_ceil(mr) * mr;
    (m.div_ceil(h), h, n.div_ceil(w), w)
}

/// Splits C into a grid of blocks aligned to the ISA's tile and runs them on
/// rayon's pool.
///
/// # Safety
/// As [`gemm_raw`]: the operands of `g` are valid for the whole call (no other access to C
/// meanwhile) and `isa` is available.
pub(crate) unsafe fn gemm_par_raw(isa: Isa, g: &GemmArgs, threads: usize) {
    use rayon::prelude::*;
    let (mr, nr) = isa.tile();
    let (row_blocks, h, col_blocks, w) = split_grid(g.m, g.n, mr, nr, threads);
    (0..row_blocks * col_blocks).into_par_iter().for_each(|t| {
        let (bi, bj) = (t / col_blocks, t % col_blocks);
        let (i0, j0) = (bi * h, bj * w);
        let sub = g.sub(i0, h.min(g.m - i0), j0, w.min(g.n - j0));
        // SAFETY: `sub` blocks of a grid are disjoint and inside C, so each task writes only its
        // own part of C; the operands are valid and the ISA available (this fn's contract).
        unsafe { gemm_raw(isa, &sub) }
    });
}

#[cfg(test)]
mod tests {
    use super::split_grid;

    #[test]
    fn grid_covers_c_and_uses_threads() {
        for &(m, n) in &[(64, 1936), (128, 100), (64, 484), (1024, 1024), (8, 64), (3, 5)] {
            for threads in 1..6 {
                for &(mr, nr) in &[(8, 32), (6, 16), (6, 8)] {
                    let (rb, h, cb, w) = split_grid(m, n, mr, nr, threads);
                    assert!(h % mr == 0 && w % nr == 0);
                    assert!(rb * h >= m && (rb - 1) * h < m);
                    assert!(cb * w >= n && (cb - 1) * w < n);
                    // Rounding to whole tiles may merge blocks, but never below
                    // one per thread when every dimension has room for it.
                    if m >= 8 * mr * threads || n >= 8 * nr * threads {
                        assert!(rb * cb >= threads, "{m}x{n} {threads}: {rb}x{cb}");
                    }
                }
            }
        }
        assert_eq!(split_grid(128, 100, 8, 32, 2), (2, 64, 1, 128));
        assert_eq!(split_grid(64, 484, 8, 32, 2), (1, 64, 2, 256));
        assert_eq!(split_grid(64, 1936, 8, 32, 2), (1, 64, 4, 512));
    }
}
