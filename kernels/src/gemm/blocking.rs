//! Cache-blocking parameters for every micro-kernel, in one place.
//!
//! The blocked loop (see `mod.rs`) is the classic GotoBLAS/BLIS nest:
//!
//! ```text
//! for jc in 0..n step NC          // column panel of B / C
//!   for pc in 0..k step KC        // depth block: pack B[pc.., jc..] (KC x NC)
//!     for ic in 0..m step MC      // row block:   pack A[ic.., pc..] (MC x KC)
//!       for jr in 0..NC step NR   // B micro-panel (KC x NR)
//!         for ir in 0..MC step MR // A micro-panel (MR x KC) -> micro-kernel
//! ```
//!
//! Target machine: AMD Zen 4 — 32 KB L1d and 1 MB L2 per core, 32 MB L3 shared. (The CI
//! and bench host later reported an Intel Xeon, family 6 model 207: 48 KB L1d and 2 MB L2 per
//! core, two 512-bit FMA ports, 165 GFLOP/s per core in `examples/peak`. On it the 8 x 32
//! kernel reached 84% of that peak on 1024³ and on the DNN's 128 x 2304 x 1024 (`examples/gflops
//! --cpu`, a quiet moment). B packed once for all calls (`prepacked.rs`, for weights at
//! inference) first measured slower, as the micro-kernel then streamed B from memory instead of
//! from the L2-hot packed block; as it is now (the next micro-panel prefetched into L2, the
//! panels on 64-byte boundaries) it measured 5-15% faster than packing per call on the dense
//! shapes, one thread, medians of six runs of `examples/dense_gemm` (session 23).)
//!
//! * **KC** (depth) sets the size of one micro-kernel call. The B micro-panel
//!   (`KC x NR` floats) is re-used by every A micro-panel of the row block, so it
//!   should stay in L1 together with the A micro-panel currently streaming
//!   through (`MR x KC`). Larger KC also amortises the load/store of the C tile,
//!   which happens once per KC block.
//! * **MC** (rows) sets the packed A block (`MC x KC`), which is streamed once per
//!   B micro-panel, so it should live in L2 (half of it, leaving room for B
//!   micro-panels and C).
//! * **NC** (columns) sets the packed B panel (`KC x NC`) and the C panel
//!   (`m x NC`) that is read and written once per KC block. With NC = 256 the
//!   B panel is 256 KB and, for conv-shaped problems (`m` = 64..128), the C
//!   panel 64..128 KB, so both stay in L2 across the KC blocks. Measured on
//!   Zen 4 (thread CPU time, see `examples/gflops.rs --cpu`): NC = 256 beat
//!   NC = 512/1024 by 5-10% on the batched conv shapes (N = 12800..248000) and
//!   was equal on square 1024; KC = 192/384/512 and MC = 64/256 were within
//!   noise of KC = 256, MC = 128. A small NC costs one re-pack of the A block
//!   per panel, which is only `1/NC` of the work.
//!
//! All values must be multiples of the kernel's MR (for MC) and NR (for NC):
//! the parallel driver splits C on MR/NR boundaries and relies on every tile
//! being computed exactly the same way whatever the split.

/// Cache-block sizes of one micro-kernel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blocking {
    pub mc: usize,
    pub kc: usize,
    pub nc: usize,
}

/// AVX-512 kernel, 8 x 32 tile.
/// B micro-panel: 256 x 32 x 4 B = 32 KB (streams from L1/L2; Zen 4's L2 easily
/// feeds the 8 B/cycle it needs), A block: 128 x 256 x 4 B = 128 KB (L2),
/// B panel: 256 x 256 x 4 B = 256 KB (L2).
pub(crate) const AVX512: Blocking = Blocking { mc: 128, kc: 256, nc: 256 };

/// AVX2+FMA kernel, 6 x 16 tile.
/// B micro-panel: 256 x 16 x 4 B = 16 KB (half of L1), A block:
/// 144 x 256 x 4 B = 144 KB (L2), B panel 256 x 256 x 4 B = 256 KB (L2).
pub(crate) const AVX2: Blocking = Blocking { mc: 144, kc: 256, nc: 256 };

/// Portable `wide::f32x8` kernel, 6 x 8 tile. Same reasoning as AVX2
/// (MC = 120 is a multiple of MR = 6).
pub(crate) const PORTABLE: Blocking = Blocking { mc: 120, kc: 256, nc: 256 };
