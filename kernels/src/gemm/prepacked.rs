//! GEMM with B packed ahead of time.
//!
//! When `m` is small (a convolution's 32-128 filters), packing B costs a large share of a GEMM:
//! each packed element of B is used by only `m` multiply-adds. A producer that can write B
//! straight into the micro-kernel's panel layout (`im2col_packed` for a convolution's columns)
//! saves that copy: [`sgemm_packed_b`] then reads the panels in place. (pupil's `conv2d` does
//! not use it today: on the seed 5x5 layers, im2col straight into panels measured 1.06-1.14x
//! slower per forward pass than im2col + packing, in `pupil bench --profile`, 2026-11-29; the
//! scattered writes of 32-float segments cost what the saved copy gave.)
//!
//! The layout, for panels of `nr` columns ([`packed_b_nr`], the selected micro-kernel's NR):
//! element `(p, j)` of the `k x n` matrix B is at `(j / nr)·k·nr + p·nr + j % nr`, i.e. panel
//! after panel, each `k` rows of `nr` contiguous floats. The last panel is `nr` wide too (its
//! columns past `n` may hold anything: they only reach the part of a tile that is discarded).

use super::{check_args, gemm_raw, par::gemm_par_raw, selected_isa, GemmArgs, PAR_THRESHOLD};

/// Columns per panel of a packed B for the selected micro-kernel.
pub fn packed_b_nr() -> usize {
    selected_isa().tile().1
}

/// Floats a packed `k x n` B takes with panels of `nr` columns.
pub fn packed_b_len(k: usize, n: usize, nr: usize) -> usize {
    n.div_ceil(nr) * nr * k
}

/// Packs the strided `k x n` matrix B (element `(p, j)` at `b[p·rsb + j·csb]`) into panels of
/// `nr` columns (see the module docs); the columns past `n` of the last panel are zero.
/// Panics if a slice is too short or `nr` is 0.
pub fn pack_b_panels(k: usize, n: usize, b: &[f32], rsb: usize, csb: usize, nr: usize, out: &mut [f32]) {
    assert!(nr > 0, "pack_b_panels: nr must be > 0");
    assert!(out.len() >= packed_b_len(k, n, nr), "pack_b_panels: out too short: {} < {}", out.len(), packed_b_len(k, n, nr));
    for (t, panel) in out[..packed_b_len(k, n, nr)].chunks_exact_mut(k * nr).enumerate() {
        for (p, row) in panel.chunks_exact_mut(nr).enumerate() {
            for (l, v) in row.iter_mut().enumerate() {
                let j = t * nr + l;
                *v = if j < n { b[p * rsb + j * csb] } else { 0.0 };
            }
        }
    }
}

/// `C = alpha·A·B + beta·C` as [`sgemm`](super::sgemm), with B packed ahead of time in panels
/// of `nr` columns (see the module docs); `nr` must be [`packed_b_nr`]. With `par`, the work is
/// split over rayon's pool as in [`sgemm_par`](super::sgemm_par) (same bits).
/// Panics if a slice is too short or `nr` is not the selected kernel's.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_packed_b(
    par: bool,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    rsa: usize,
    csa: usize,
    bp: &[f32],
    nr: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    let isa = selected_isa();
    assert_eq!(nr, isa.tile().1, "sgemm_packed_b: panels of {nr} columns, but the {} kernel reads {}", isa.name(), isa.tile().1);
    // A and C as sgemm checks them; B (strides 0: one element) then by its packed length
    check_args(isa, m, k, n, a, rsa, csa, bp, 0, 0, c, ldc);
    if m > 0 && n > 0 && k > 0 {
        assert!(bp.len() >= packed_b_len(k, n, nr), "sgemm_packed_b: B too short: {} < {}", bp.len(), packed_b_len(k, n, nr));
    }
    let g = GemmArgs { m, k, n, alpha, a: a.as_ptr(), rsa, csa, b: bp.as_ptr(), rsb: 0, csb: 0, beta, c: c.as_mut_ptr(), ldc, bpanel: nr };
    let threads = rayon::current_num_threads();
    // SAFETY: A and C checked by `check_args`, B's packed length above, the ISA is the selected
    // (available) one; parallel tasks get disjoint C blocks split on whole panels.
    unsafe {
        if par && threads > 1 && m.saturating_mul(n).saturating_mul(k) >= PAR_THRESHOLD {
            gemm_par_raw(isa, &g, threads);
        } else {
            gemm_raw(isa, &g);
        }
    }
}
