//! `pupil-kernels`: the hot loops of pupil on plain `&[f32]` / `&mut [f32]` slices.
//! No tensor type, no autodiff.
//!
//! * [`sgemm`] / [`sgemm_par`]: blocked single-precision GEMM with AVX-512,
//!   AVX2+FMA and portable micro-kernels selected at run time ([`sgemm_isa`]).
//! * [`im2col()`] / [`col2im`]: convolution lowering and its adjoint ([`Patches`]).
//! * [`max_pool2d`], [`avg_pool2d`] and their backward passes; the `_padded` variants take a
//!   [`Window`] with virtual zero padding (a padding layer fused into the pool).
//! * [`out_size`]: the one output-size formula of sliding windows (convolution, pooling).
//! * [`zeroed`]: zeroed output buffers (huge-page backed when large).
//! * [`par_map`] / [`par_zip2`] / [`par_zip3`]: elementwise loops in parallel over [`CHUNK`]-sized chunks.
//! * [`optim::adam`]: the Adam update of one slice of parameters.
//!
//! Functions panic (with a clear message) when a slice is too short for the
//! shapes given; callers are expected to have validated shapes.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod alloc;
pub mod direct;
pub mod gemm;
pub mod im2col;
pub mod norm;
pub mod optim;
pub mod par;
pub mod peak;
pub mod pool;
mod simd;
pub mod window;
pub mod winograd;

pub use alloc::{buffer, zeroed};
pub use gemm::{available_isas, selected_isa, sgemm, sgemm_isa, sgemm_packed, sgemm_par, sgemm_par_with, sgemm_with, Isa, PackedB};
pub use im2col::{col2im, im2col, Patches};
pub use par::{par_map, par_zip2, par_zip3, CHUNK};
pub use peak::fma_peak_gflops;
pub use pool::{
    avg_pool2d, avg_pool2d_backward, avg_pool2d_padded, avg_pool2d_padded_backward, max_pool2d, max_pool2d_backward, max_pool2d_padded, Window, PADDED,
};
pub use window::out_size;
