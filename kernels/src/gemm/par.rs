//! Parallel GEMM: splits C into blocks aligned to the micro-tile and runs
//! the serial blocked GEMM on each block on rayon's thread pool.

use super::{check_args, gemm_raw, selected_isa, GemmArgs, Isa};

/// Same as [`sgemm`], but splits the work over rayon's thread pool when the
/// problem is large enough. C is split into blocks of rows (multiples of MR)
/// and columns (multiples of NR); every element's summation order is the same
/// as in [`sgemm`], so the result is bit-identical whatever the thread count.
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
    sgemm_par_with(
        selected_isa(),
        m,
        k,
        n,
        alpha,
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        beta,
        c,
        ldc,
    );
}

/// Problems with fewer multiply-adds than this run serially in [`sgemm_par`].
pub const PAR_THRESHOLD: usize = 1 << 20;

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
    let g = GemmArgs {
        m,
        k,
        n,
        alpha,
        a: a.as_ptr(),
        rsa,
        csa,
        b: b.as_ptr(),
        rsb,
        csb,
        beta,
        c: c.as_mut_ptr(),
        ldc,
    };
    let threads = rayon::current_num_threads();
    let work = m.saturating_mul(n).saturating_mul(k.max(1));
    // SAFETY: lengths and ISA checked above; tasks get disjoint C blocks.
    unsafe {
        if threads <= 1 || work < PAR_THRESHOLD {
            gemm_raw(isa, &g);
        } else {
            gemm_par_raw(isa, &g, threads);
        }
    }
}

/// Splits C into a grid of blocks aligned to the ISA's tile and runs them on
/// rayon's pool.
unsafe fn gemm_par_raw(isa: Isa, g: &GemmArgs, threads: usize) {
    use rayon::prelude::*;
    let (mr, nr) = isa.tile();
    // A few tasks per thread for load balance (the machine is shared).
    let tasks = threads * 2;
    // Prefer splitting columns (each task packs its own part of B; A packing
    // is repeated per task, which costs 1/width of the work).
    let min_w = 4 * nr;
    let w = (g.n.div_ceil(tasks)).div_ceil(nr).max(1) * nr;
    let w = w.max(min_w);
    let col_blocks = g.n.div_ceil(w);
    let row_blocks = if col_blocks >= tasks {
        1
    } else {
        tasks.div_ceil(col_blocks).min(g.m.div_ceil(mr)).max(1)
    };
    let h = g.m.div_ceil(row_blocks).div_ceil(mr) * mr;
    let row_blocks = g.m.div_ceil(h);
    (0..row_blocks * col_blocks).into_par_iter().for_each(|t| {
        let (bi, bj) = (t / col_blocks, t % col_blocks);
        let (i0, j0) = (bi * h, bj * w);
        let sub = g.sub(i0, h.min(g.m - i0), j0, w.min(g.n - j0));
        // SAFETY: disjoint C blocks, operands valid (checked by the caller).
        unsafe { gemm_raw(isa, &sub) }
    });
}
