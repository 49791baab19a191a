//! pupil: a CPU deep-learning library written from scratch: tensors, reverse-mode autodiff,
//! convolutions as im2col + SIMD GEMM, and the same autodiff turned on the input image for
//! explanations.
//!
//! Layers, from the bottom: `pupil-kernels` (hot loops on slices) ← [`tensor`] ← [`autograd`]
//! ← [`ops`] ← [`nn`] / [`optim`] ← [`data`] / [`train`] ← [`explain`] ← [`viz`] ← [`run`] ← [`report`] ← the `pupil` CLI.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod error;
pub mod io;
pub mod tensor;

pub use error::{Error, Result};
pub use tensor::{Rng, Tensor};
pub mod autograd;
pub mod data;
pub mod explain;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod progress;
pub mod report;
pub mod run;
#[cfg(feature = "proptest")]
pub mod testing;
pub mod train;
pub mod viz;

/// The README's Rust example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
