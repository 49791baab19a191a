//! `pupil-kernels`: the hot loops of pupil on plain `&[f32]` / `&mut [f32]` slices.
//! No tensor type, no autodiff.
//!
//! * [`sgemm`] / [`sgemm_par`]: blocked single-precision GEMM with AVX-512,
//!   AVX2+FMA and portable micro-kernels selected at run time ([`sgemm_isa`]).
//! * [`im2col()`] / [`col2im`]: convolution lowering and its adjoint.
//! * [`max_pool2d`], [`avg_pool2d`] and their backward passes.
//!
//! Functions panic (with a clear message) when a slice is too short for the
//! shapes given; callers are expected to have validated shapes.

pub mod gemm;
pub mod im2col;
pub mod peak;
pub mod pool;

pub use gemm::{available_isas, selected_isa, sgemm, sgemm_isa, sgemm_par, sgemm_par_with, sgemm_with, Isa};
pub use im2col::{col2im, conv_out_size, im2col};
pub use peak::fma_peak_gflops;
pub use pool::{avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward};
