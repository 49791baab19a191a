//! Single-precision GEMM: `C = alpha * A * B + beta * C`.
//!
//! Structure (after GotoBLAS/BLIS and the `matrixmultiply` crate):
//!
//! * [`sgemm`] / [`sgemm_par`] check the arguments and dispatch on the
//!   instruction set selected once at run time ([`selected_isa`]).
//! * `gemm_blocked` is the blocked loop nest (see `blocking.rs` for the
//!   cache-block sizes and why): B is packed into `KC x NR` micro-panels, A into
//!   `MR x KC` micro-panels (both zero-padded at the edges), then a
//!   `MicroKernel` computes every `MR x NR` tile of C with all the
//!   accumulators in registers. Tiles cut by the right edge of C are computed
//!   into a small temporary and the valid part is merged into C.
//! * [`PackedB`] / [`sgemm_packed`] (`prepacked.rs`): all of B packed once, for a matrix used
//!   unchanged by many products (weights at inference); the loop then reads its panels in place.
//! * One module per ISA provides a micro-kernel: `avx512` (8 x 32, 16 zmm
//!   accumulators), `avx2` (6 x 16, 12 ymm accumulators, FMA) and `portable`
//!   (`wide::f32x8`, 6 x 8, 6 accumulators = 12 SSE registers).
//!
//! Summation order: each element of C is the sum over `k` in KC blocks (in
//! increasing order), each block summed sequentially by the micro-kernel. The
//! order depends only on the ISA, never on how [`sgemm_par`] splits C, so the
//! parallel result is bit-identical to the serial one.

mod blocking;
pub(crate) mod pack;
pub(crate) mod par;
mod portable;
mod prepacked;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "x86_64")]
pub(crate) mod pack_x86;

#[cfg(test)]
mod tests;

use blocking::Blocking;
pub use par::{sgemm_par, sgemm_par_with, PAR_THRESHOLD};
pub use prepacked::{sgemm_packed, PackedB};
use std::sync::OnceLock;

/// A micro-kernel instruction set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// `wide::f32x8`, works everywhere.
    Portable,
    /// x86-64 AVX2 + FMA.
    Avx2,
    /// x86-64 AVX-512F.
    Avx512,
}

impl Isa {
    /// All ISAs, from the most portable to the fastest.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// The name reported by [`sgemm_isa`]: `"portable"`, `"avx2+fma"` or `"avx512"`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2+fma",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the ISA's micro-kernel.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Micro-tile shape `(MR, NR)` of this ISA's kernel.
    pub fn tile(self) -> (usize, usize) {
        match self {
            Isa::Portable => (portable::MR, portable::NR),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => (avx2::MR, avx2::NR),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => (avx512::MR, avx512::NR),
            #[cfg(not(target_arch = "x86_64"))]
            _ => (portable::MR, portable::NR),
        }
    }
}

/// The ISAs this CPU supports, most portable first.
pub fn available_isas() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
}

/// The ISA used by [`sgemm`] and [`sgemm_par`]: the best available one, or a
/// lower one forced by the environment variable `PUPIL_ISA`
/// (`portable`, `avx2` or `avx512`; a request for an unavailable ISA falls
/// back to the best available one below it). Decided once per process.
pub fn selected_isa() -> Isa {
    static SELECTED: OnceLock<Isa> = OnceLock::new();
    *SELECTED.get_or_init(|| choose_isa(std::env::var("PUPIL_ISA").ok().as_deref(), &available_isas()))
}

/// The best of `available` (sorted ascending), lowered to at most the ISA
/// named by `forced` if it parses. Unknown names are ignored.
fn choose_isa(forced: Option<&str>, available: &[Isa]) -> Isa {
    let best = available.last().copied().unwrap_or(Isa::Portable);
    let forced = forced.and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
        "portable" => Some(Isa::Portable),
        "avx2" | "avx2+fma" => Some(Isa::Avx2),
        "avx512" | "avx512f" => Some(Isa::Avx512),
        _ => None,
    });
    match forced {
        Some(f) => available.iter().copied().rfind(|i| *i <= f).unwrap_or(Isa::Portable),
        None => best,
    }
}

/// Which micro-kernel was selected at run time: `"avx512"`, `"avx2+fma"` or `"portable"`.
pub fn sgemm_isa() -> &'static str {
    selected_isa().name()
}

/// A register-blocked micro-kernel computing one `MR x NR` tile of C.
pub(crate) trait MicroKernel {
    const MR: usize;
    const NR: usize;
    const BLOCKING: Blocking;

    /// `C[..rows][..NR] = alpha * Apanel * Bpanel + beta * C` for the first
    /// `rows <= MR` rows of the tile (C row stride `ldc`). `beta == 0` must not
    /// read C.
    ///
    /// # Safety
    /// `a` holds a packed `MR x k` micro-panel, `b` a packed `k x NR` one;
    /// `c` is valid for `rows` rows of `NR` floats with stride `ldc`; the CPU
    /// supports the kernel's ISA.
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel(rows: usize, k: usize, alpha: f32, a: *const f32, b: *const f32, beta: f32, c: *mut f32, ldc: usize);

    /// [`MicroKernel::kernel`] for a full `MR x NR` tile that also asks for the `lines` cache
    /// lines from `pf` in L2. The default asks for them all before the tile; a kernel may spread
    /// them over its depth loop.
    ///
    /// # Safety
    /// As `kernel` with `rows = MR` (`pf` is only a hint and may point anywhere).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn kernel_prefetching(k: usize, alpha: f32, a: *const f32, b: *const f32, beta: f32, c: *mut f32, ldc: usize, pf: *const i8, lines: usize) {
        prefetch_lines(pf, lines);
        // SAFETY: as `kernel` (see `# Safety`).
        unsafe { Self::kernel(Self::MR, k, alpha, a, b, beta, c, ldc) }
    }

    /// Packs an `mc x kc` block of A into MR-row micro-panels (see
    /// `pack::pack_a`, which must give the same result).
    ///
    /// # Safety
    /// As `pack::pack_a`; the CPU supports the kernel's ISA.
    unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rsa: usize, csa: usize, out: *mut f32);

    /// Packs a `kc x nc` block of B into NR-column micro-panels (see
    /// `pack::pack_b`, which must give the same result).
    ///
    /// # Safety
    /// As `pack::pack_b`; the CPU supports the kernel's ISA.
    unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rsb: usize, csb: usize, out: *mut f32);

    /// Like [`MicroKernel::kernel`] for a tile cut by the right edge of C:
    /// only the first `cols < NR` columns of C are touched. The default
    /// computes the full tile into a temporary and merges the valid part.
    ///
    /// # Safety
    /// As for `kernel`, with `c` valid for `rows` rows of `cols` floats.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn kernel_edge(rows: usize, cols: usize, k: usize, alpha: f32, a: *const f32, b: *const f32, beta: f32, c: *mut f32, ldc: usize) {
        // SAFETY: `tmp` holds `MR*NR <= MAX_TILE` floats for the full tile; C is touched only in
        // its first `rows` rows and `cols` columns, which the caller vouches for (see `# Safety`).
        unsafe {
            debug_assert!(Self::MR * Self::NR <= MAX_TILE);
            let nr = Self::NR;
            let mut tmp = [0.0f32; MAX_TILE];
            Self::kernel(rows, k, alpha, a, b, 0.0, tmp.as_mut_ptr(), nr);
            for i in 0..rows {
                let crow = c.add(i * ldc);
                for j in 0..cols {
                    let t = tmp[i * nr + j];
                    let dst = crow.add(j);
                    *dst = if beta == 0.0 {
                        t
                    } else if beta == 1.0 {
                        *dst + t
                    } else {
                        beta * *dst + t
                    };
                }
            }
        }
    }
}

/// Largest `MR * NR` of any kernel (size of the edge-tile temporary).
const MAX_TILE: usize = 512;

/// Raw GEMM operands. The C block described by different `GemmArgs` handed to
/// different threads must not overlap.
#[derive(Clone, Copy)]
pub(crate) struct GemmArgs {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub alpha: f32,
    pub a: *const f32,
    pub rsa: usize,
    pub csa: usize,
    pub b: *const f32,
    pub rsb: usize,
    pub csb: usize,
    pub beta: f32,
    pub c: *mut f32,
    pub ldc: usize,
    /// B already packed ([`PackedB`]); `b`, `rsb` and `csb` are then not read.
    pub packed: Option<Prepacked>,
}

/// Where a [`PackedB`]'s panels are, seen from a block of C that starts at column `j0` of the
/// packed matrix (a multiple of the kernel's NR).
#[derive(Clone, Copy)]
pub(crate) struct Prepacked {
    pub data: *const f32,
    /// Columns of the packed matrix, rounded up to NR: the floats of one depth step.
    pub npad: usize,
    pub j0: usize,
}

// SAFETY: a `GemmArgs` is plain data (sizes and addresses); the pointers are only
// dereferenced inside `unsafe` GEMM functions, whose callers guarantee that the operands are
// valid for the whole call and that C blocks handed to different threads do not overlap
// (`sgemm_par_with` checks the slices, borrows them for the whole parallel call, and splits C
// into disjoint blocks; A and B are only read). Sharing or sending the addresses is then as
// safe as sharing `&[f32]` for A, B and sending disjoint `&mut [f32]` blocks of C.
unsafe impl Send for GemmArgs {}
// SAFETY: see `Send` above: through a shared `GemmArgs`, A and B are only read and each
// thread writes only its own block of C.
unsafe impl Sync for GemmArgs {}

impl GemmArgs {
    /// The sub-problem for rows `i0..i0+m` and columns `j0..j0+n` of C (and the matching rows
    /// of A and columns of B). Panics unless the block lies inside this problem's `m x n`.
    ///
    /// Safe: the addresses are computed with `wrapping_add`, which is defined for any offset;
    /// they stay inside the original operands because the block is checked to lie inside this
    /// one, and they are only dereferenced by the `unsafe` GEMM functions, under their contract.
    fn sub(&self, i0: usize, m: usize, j0: usize, n: usize) -> GemmArgs {
        assert!(i0 + m <= self.m && j0 + n <= self.n, "GemmArgs::sub: block {i0}+{m} x {j0}+{n} outside {} x {}", self.m, self.n);
        let packed = self.packed.map(|p| Prepacked { j0: p.j0 + j0, ..p });
        GemmArgs {
            m,
            n,
            a: self.a.wrapping_add(i0 * self.rsa),
            b: self.b.wrapping_add(j0 * self.csb),
            c: self.c.wrapping_add(i0 * self.ldc + j0),
            packed,
            ..*self
        }
    }
}

/// `C = beta * C` (`beta == 0` overwrites with zeros, even NaN).
///
/// # Safety
/// `g.c` is valid for reads and writes of `g.m` rows of `g.n` floats with stride `g.ldc`,
/// and no other reference to that block is live.
unsafe fn scale_c(g: &GemmArgs) {
    // SAFETY: the caller vouches that `g.c` is valid for `g.m` rows of `g.n` floats with stride
    // `g.ldc` and that no one else accesses them (see `# Safety`).
    unsafe {
        for i in 0..g.m {
            let row = std::slice::from_raw_parts_mut(g.c.add(i * g.ldc), g.n);
            if g.beta == 0.0 {
                row.fill(0.0);
            } else if g.beta != 1.0 {
                row.iter_mut().for_each(|x| *x *= g.beta);
            }
        }
    }
}

/// The blocked loop nest. Inlined into each ISA's `#[target_feature]` entry
/// point so packing is compiled for that ISA too.
///
/// # Safety
/// Operands valid (see [`check_args`]); CPU supports `K`'s ISA.
#[inline(always)]
pub(crate) unsafe fn gemm_blocked<K: MicroKernel, const MR: usize, const NR: usize>(g: &GemmArgs) {
    // SAFETY: the operands are valid (checked by `check_args`) and the ISA available, as the caller
    // guarantees (see `# Safety`); every block offset stays inside `m x k` of A, `k x n` of B and
    // `m x n` of C, and the pack buffers hold `mc*kc` and `kc*nc` floats.
    unsafe {
        const {
            assert!(MR == K::MR && NR == K::NR && MR * NR <= MAX_TILE);
            assert!(K::BLOCKING.mc % MR == 0 && K::BLOCKING.nc % NR == 0);
        }
        let GemmArgs { m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc, packed } = *g;
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 || alpha == 0.0 {
            scale_c(g);
            return;
        }
        let Blocking { mc, kc, nc } = K::BLOCKING;
        let kc = kc.min(k);
        let mc = mc.min(m.div_ceil(MR) * MR);
        let nc = nc.min(n.div_ceil(NR) * NR);
        pack::with_pack_buffers(mc * kc, kc * nc, |ap, bp| {
            let mut jc = 0;
            while jc < n {
                let ncb = nc.min(n - jc);
                let mut pc = 0;
                while pc < k {
                    let kcb = kc.min(k - pc);
                    // Depth block `pc` of a packed B starts after `pc` full depth steps of
                    // `npad` floats; its micro-panels are `kcb * NR` floats each.
                    let bpanels = match packed {
                        Some(p) => p.data.add(pc * p.npad + (p.j0 + jc) * kcb),
                        None => {
                            K::pack_b(kcb, ncb, b.add(pc * rsb + jc * csb), rsb, csb, bp);
                            bp as *const f32
                        }
                    };
                    let beta_eff = if pc == 0 { beta } else { 1.0 };
                    let mut ic = 0;
                    while ic < m {
                        let mcb = mc.min(m - ic);
                        K::pack_a(mcb, kcb, a.add(ic * rsa + pc * csa), rsa, csa, ap);
                        macro_kernel::<K, MR, NR>(mcb, kcb, ncb, alpha, ap, bpanels, beta_eff, c.add(ic * ldc + jc), ldc, packed.is_some());
                        ic += mc;
                    }
                    pc += kc;
                }
                jc += nc;
            }
        });
    }
}

/// Runs the micro-kernel over all tiles of one packed `mcb x ncb` block.
///
/// With `prefetch_next` (B packed once, [`PackedB`], so its panels come from memory rather
/// than from the L2-hot block just packed), the tiles of each B micro-panel also fetch the
/// next micro-panel into L2, a share each, so it is there when its turn comes. A full tile
/// (all `MR` rows and `NR` columns) of the AVX2 and AVX-512 kernels spreads its share over its
/// depth loop ([`MicroKernel::kernel_prefetching`], [`Spread`]); the others ask for theirs
/// before they start. Asked for
/// all at once before the tile, the prefetches fill the line-fill buffers and stall the core
/// until the lines arrive (`perf` put 7% of a DNN inference pass on that burst); spread, they
/// overlap the FMAs. Both ways alternated in one process (16-20 rounds, two threads, AVX-512):
/// 128 x 2304 x 1024 packed once ran 1.03-1.15x as fast, 128 x 1024 x 1024 1.07-1.12x,
/// 32 x 3200 x 1024 1.33-1.43x (four runs each); AVX2 0.94-1.21x.
///
/// # Safety
/// `ap` holds the packed `mcb x kcb` block of A, `bp` the packed `kcb x ncb` block of B,
/// `c` is valid for `mcb` rows of `ncb` floats with stride `ldc`; the CPU supports `K`'s ISA.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn macro_kernel<K: MicroKernel, const MR: usize, const NR: usize>(
    mcb: usize,
    kcb: usize,
    ncb: usize,
    alpha: f32,
    ap: *const f32,
    bp: *const f32,
    beta: f32,
    c: *mut f32,
    ldc: usize,
    prefetch_next: bool,
) {
    // Cache lines of one B micro-panel, and the share of them each row tile prefetches.
    let lines = (kcb * NR * std::mem::size_of::<f32>()).div_ceil(64);
    let share = lines.div_ceil(mcb.div_ceil(MR).max(1));
    // SAFETY: `ap`/`bp` hold the packed `mcb x kcb` and `kcb x ncb` blocks and `c` the `mcb x ncb`
    // block of C (see `# Safety`); each tile passes at most `MR` rows and `NR` columns of them on.
    // Prefetches never fault, and their addresses are formed with `wrapping_add`.
    unsafe {
        let mut jr = 0;
        while jr < ncb {
            let cols = NR.min(ncb - jr);
            let bpanel = bp.add(jr * kcb);
            let mut ir = 0;
            while ir < mcb {
                let rows = MR.min(mcb - ir);
                let apanel = ap.add(ir * kcb);
                let ct = c.add(ir * ldc + jr);
                // With `prefetch_next`, this tile's share of the next micro-panel's lines: spread
                // over a full tile's depth loop, asked for before any other tile.
                let (mut pf, mut count) = (std::ptr::null(), 0);
                if prefetch_next {
                    let first = ((ir / MR) * share).min(lines);
                    pf = (bpanel.wrapping_add(NR * kcb) as *const i8).wrapping_add(64 * first);
                    count = (first + share).min(lines) - first;
                }
                if rows == MR && cols == NR && count > 0 {
                    K::kernel_prefetching(kcb, alpha, apanel, bpanel, beta, ct, ldc, pf, count);
                } else {
                    prefetch_lines(pf, count);
                    if cols == NR {
                        K::kernel(rows, kcb, alpha, apanel, bpanel, beta, ct, ldc);
                    } else {
                        K::kernel_edge(rows, cols, kcb, alpha, apanel, bpanel, beta, ct, ldc);
                    }
                }
                ir += MR;
            }
            jr += NR;
        }
    }
}

/// Prefetches of `lines` cache lines from `pf` into L2 spread over a micro-kernel's `k` depth
/// steps: one every `k / lines` steps (every step when `k < lines`), and those still left when
/// the loop ends all at once. Only hints: the addresses are formed with `wrapping_add` and
/// never dereferenced.
pub(crate) struct Spread {
    pf: *const i8,
    lines: usize,
    every: usize,
    countdown: usize,
    next: usize,
}

impl Spread {
    #[inline(always)]
    pub(crate) fn new(pf: *const i8, lines: usize, k: usize) -> Spread {
        let every = (k / lines.max(1)).max(1);
        Spread { pf, lines, every, countdown: every, next: 0 }
    }

    /// After each depth step.
    #[inline(always)]
    pub(crate) fn step(&mut self) {
        self.countdown -= 1;
        if self.countdown == 0 {
            self.countdown = self.every;
            if self.next < self.lines {
                prefetch_l2(self.pf.wrapping_add(64 * self.next));
                self.next += 1;
            }
        }
    }

    /// After the loop: the lines not asked for yet.
    #[inline(always)]
    pub(crate) fn finish(&mut self) {
        prefetch_lines(self.pf.wrapping_add(64 * self.next), self.lines - self.next);
        self.next = self.lines;
    }
}

/// Asks for the `lines` cache lines from `pf` in L2, all at once.
#[inline(always)]
pub(crate) fn prefetch_lines(pf: *const i8, lines: usize) {
    for l in 0..lines {
        prefetch_l2(pf.wrapping_add(64 * l));
    }
}

/// Asks for the cache line at `p` in L2 (a hint: never faults, does nothing off x86-64).
#[inline(always)]
fn prefetch_l2(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(p)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Serial GEMM on raw operands with the given ISA.
///
/// # Safety
/// Operands valid; `isa.is_available()`.
pub(crate) unsafe fn gemm_raw(isa: Isa, g: &GemmArgs) {
    // SAFETY: the caller guarantees valid operands and that `isa` is available (see `# Safety`),
    // which each ISA's `gemm` needs.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => avx512::gemm(g),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::gemm(g),
            _ => portable::gemm(g),
        }
    }
}

/// Minimum slice length holding a strided `rows x cols` matrix.
fn needed_len(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

#[allow(clippy::too_many_arguments)]
fn check_args(isa: Isa, m: usize, k: usize, n: usize, a: &[f32], rsa: usize, csa: usize, b: &[f32], rsb: usize, csb: usize, c: &[f32], ldc: usize) {
    check_a_c(isa, m, k, n, a, rsa, csa, c, ldc);
    if m > 0 && n > 0 && k > 0 {
        let need_b = needed_len(k, n, rsb, csb);
        assert!(b.len() >= need_b, "sgemm: B slice too short: len {} < {need_b} (k={k}, n={n}, rsb={rsb}, csb={csb})", b.len());
    }
}

/// The checks of [`check_args`] on the ISA, A and C.
#[allow(clippy::too_many_arguments)]
fn check_a_c(isa: Isa, m: usize, k: usize, n: usize, a: &[f32], rsa: usize, csa: usize, c: &[f32], ldc: usize) {
    assert!(isa.is_available(), "sgemm: ISA {} is not supported by this CPU", isa.name());
    if m > 0 && n > 0 {
        assert!(m == 1 || ldc >= n, "sgemm: ldc ({ldc}) must be >= n ({n}) (rows of C must not overlap)");
        let need = (m - 1) * ldc + n;
        assert!(c.len() >= need, "sgemm: C slice too short: len {} < {need} (m={m}, n={n}, ldc={ldc})", c.len());
    }
    if m > 0 && n > 0 && k > 0 {
        let need_a = needed_len(m, k, rsa, csa);
        assert!(a.len() >= need_a, "sgemm: A slice too short: len {} < {need_a} (m={m}, k={k}, rsa={rsa}, csa={csa})", a.len());
    }
}

/// C\[m x n\] = alpha * A\[m x k\] * B\[k x n\] + beta * C, single-threaded.
///
/// A element (i,p) is `a[i*rsa + p*csa]`; B element (p,j) is `b[p*rsb + j*csb]`;
/// C element (i,j) is `c[i*ldc + j]` (C row-major). Transposes are expressed
/// through the strides. `beta == 0` ignores (overwrites) whatever C holds, even
/// NaN. As in BLAS, `alpha == 0` or `k == 0` only scales C by `beta` (A and B
/// are not read). Panics if a slice is too short.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
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
    sgemm_with(selected_isa(), m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc);
}

/// [`sgemm`] with an explicit micro-kernel ISA (panics if the CPU lacks it).
#[allow(clippy::too_many_arguments)]
pub fn sgemm_with(
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
    // SAFETY: lengths checked above, ISA availability checked above.
    unsafe { gemm_raw(isa, &g) }
}
