//! B packed once for many products: [`PackedB`] and [`sgemm_packed`].
//!
//! The blocked loop packs each `KC x NC` block of B before the micro-kernel reads it. When B is
//! a weight matrix used unchanged by many products (a dense layer at inference), that packing is
//! repeated work: for a layer's `128 x 2304 x 1024` product it is a sixth of the time, and for
//! a batch of 32 more than a third, because B is read transposed (a dense weight is stored
//! `[out, in]`) and every element of B serves only `m` multiply-adds. [`PackedB`] holds all of
//! B in the micro-kernel's layout, in the order the loop reads it:
//!
//! ```text
//! for each depth block pc (KC rows of B; the last may be shorter, kcb rows):
//!     for each micro-panel t (NR columns; past n, zeros):
//!         kcb x NR floats, depth-major        at  pc * npad + t * NR * kcb
//! ```
//!
//! with `npad = ceil(n / NR) * NR`. A block of C that starts at a column `j0` (a multiple of NR)
//! finds its panels at `pc * npad + j0 * kcb`, so [`sgemm_packed`] splits C between threads
//! exactly as [`sgemm_par`](super::sgemm_par) does. The panels are those `pack_b` writes, read by
//! the same micro-kernel in the same order: the result is bit-identical to
//! [`sgemm_with`](super::sgemm_with) on the unpacked B with the same ISA.

use super::par::gemm_auto;
use super::{needed_len, GemmArgs, Isa, MicroKernel, Prepacked};

/// A `k x n` matrix B packed for one ISA's micro-kernel, for [`sgemm_packed`]: depth block by
/// depth block (the ISA's `KC` rows of B, the last one shorter), each holding `ceil(n / NR)`
/// micro-panels of `NR` columns, depth-major, zero past `n`: the layout and order in which the
/// blocked GEMM reads B, from a 64-byte boundary.
pub struct PackedB {
    isa: Isa,
    k: usize,
    n: usize,
    rsb: usize,
    csb: usize,
    npad: usize,
    /// The panels start at `data[off]`, the first 64-byte boundary (a micro-kernel's vector
    /// loads of B must not straddle cache lines).
    data: Vec<f32>,
    off: usize,
}

/// `len` zeros and the index of the first one on a 64-byte boundary.
fn aligned_zeros(len: usize) -> (Vec<f32>, usize) {
    let data = vec![0.0f32; len];
    let off = data.as_ptr().align_offset(64);
    assert!(off < ALIGN_F32 && off <= len);
    (data, off)
}

impl Clone for PackedB {
    /// A copy whose panels start on a 64-byte boundary of its own allocation.
    fn clone(&self) -> Self {
        let panels = self.k * self.npad;
        let (mut data, off) = aligned_zeros(panels + ALIGN_F32);
        data[off..off + panels].copy_from_slice(self.panels());
        PackedB { data, off, ..*self }
    }
}

impl std::fmt::Debug for PackedB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedB {{ {} x {}, strides ({}, {}), {} }}", self.k, self.n, self.rsb, self.csb, self.isa.name())
    }
}

impl PackedB {
    /// Packs the `k x n` matrix B (element (p, j) at `b[p*rsb + j*csb]`) for the
    /// [selected ISA](super::selected_isa).
    pub fn new(k: usize, n: usize, b: &[f32], rsb: usize, csb: usize) -> PackedB {
        PackedB::with_isa(super::selected_isa(), k, n, b, rsb, csb)
    }

    /// [`PackedB::new`] for the given ISA (panics if the CPU lacks it, or if `b` is too short).
    pub fn with_isa(isa: Isa, k: usize, n: usize, b: &[f32], rsb: usize, csb: usize) -> PackedB {
        assert!(isa.is_available(), "PackedB: ISA {} is not supported by this CPU", isa.name());
        let need = needed_len(k, n, rsb, csb);
        assert!(b.len() >= need, "PackedB: B slice too short: len {} < {need} (k={k}, n={n}, rsb={rsb}, csb={csb})", b.len());
        let nr = isa.tile().1;
        // `b` may be tiny for huge `k` and `n` (zero strides): the sizes must not wrap
        let npad = n.div_ceil(nr).checked_mul(nr).expect("PackedB: n rounded up to the tile overflows usize");
        let len = k.checked_mul(npad).and_then(|l| l.checked_add(ALIGN_F32)).expect("PackedB: k x n overflows usize");
        let (mut data, off) = aligned_zeros(len);
        if need > 0 {
            // SAFETY: `b` holds the strided `k x n` matrix (checked above), `data` holds `k * npad`
            // floats after `off`, which is what `pack_all` writes; the ISA is available.
            unsafe {
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => pack_all::<super::avx512::Avx512>(k, n, b.as_ptr(), rsb, csb, data.as_mut_ptr().add(off)),
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => pack_all::<super::avx2::Avx2>(k, n, b.as_ptr(), rsb, csb, data.as_mut_ptr().add(off)),
                    _ => pack_all::<super::portable::Portable>(k, n, b.as_ptr(), rsb, csb, data.as_mut_ptr().add(off)),
                }
            }
        }
        PackedB { isa, k, n, rsb, csb, npad, data, off }
    }

    /// Rows of B (the product's depth).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of B (and of C).
    pub fn n(&self) -> usize {
        self.n
    }

    /// The ISA whose micro-kernel this layout is for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// True if this was packed from a `k x n` matrix with strides `(rsb, csb)`: the same values
    /// read the same way.
    pub fn packs(&self, k: usize, n: usize, rsb: usize, csb: usize) -> bool {
        (self.k, self.n, self.rsb, self.csb) == (k, n, rsb, csb)
    }

    /// The packed panels (`k * ceil(n/NR)*NR` floats from a 64-byte boundary).
    pub(crate) fn panels(&self) -> &[f32] {
        &self.data[self.off..self.off + self.k * self.npad]
    }

    /// Bytes held by the packed panels.
    pub fn bytes(&self) -> usize {
        self.data.len() * std::mem::size_of::<f32>()
    }
}

/// Floats in 64 bytes: the slack that lets the panels start on a cache line.
const ALIGN_F32: usize = 16;

/// Packs all of B, depth block by depth block, each over the full width.
///
/// # Safety
/// `b` is valid for the strided `k x n` matrix, `out` for `k * ceil(n/NR)*NR` floats; the CPU
/// supports `K`'s ISA.
unsafe fn pack_all<K: MicroKernel>(k: usize, n: usize, b: *const f32, rsb: usize, csb: usize, out: *mut f32) {
    let kc = K::BLOCKING.kc.min(k);
    let npad = n.div_ceil(K::NR) * K::NR;
    let mut pc = 0;
    while pc < k {
        let kcb = kc.min(k - pc);
        // SAFETY: rows `pc..pc+kcb` of B are inside it, and the block's `kcb * npad` floats start
        // at `pc * npad < k * npad` (see `# Safety`).
        unsafe { K::pack_b(kcb, n, b.add(pc * rsb), rsb, csb, out.add(pc * npad)) };
        pc += kc;
    }
}

/// `C = alpha * A * B + beta * C` for `A: m x k` (element (i, p) at `a[i*rsa + p*csa]`), B packed
/// (`k x n`), C row-major with stride `ldc`; on rayon's pool for large products, as
/// [`sgemm_par`](super::sgemm_par). The result is bit-identical to
/// [`sgemm_with`](super::sgemm_with) with `b.isa()` on the unpacked B, whatever the thread count.
/// Panics if a slice is too short.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_packed(m: usize, alpha: f32, a: &[f32], rsa: usize, csa: usize, b: &PackedB, beta: f32, c: &mut [f32], ldc: usize) {
    let (k, n) = (b.k, b.n);
    // B was checked when it was packed (`PackedB::with_isa`).
    super::check_a_c(b.isa, m, k, n, a, rsa, csa, c, ldc);
    let packed = Some(Prepacked { data: b.panels().as_ptr(), npad: b.npad, j0: 0 });
    let g = GemmArgs { m, k, n, alpha, a: a.as_ptr(), rsa, csa, b: std::ptr::null(), rsb: 0, csb: 0, beta, c: c.as_mut_ptr(), ldc, packed };
    // SAFETY: A and C checked above, the packed panels cover `k x npad` (built by `with_isa`);
    // the parallel split starts every C block at a multiple of NR (`split_grid`).
    unsafe { gemm_auto(b.isa, &g) }
}
