//! Differentiable operations. Each op computes its forward value and records on the tape the
//! vector-Jacobian product that maps the output gradient `g = dL/dy` to input gradients.
//! The math is in each function's doc comment; every op is gradient-checked by property tests
//! in `tests/` through [`crate::autograd::gradcheck`].
//!
//! Ops take `&Var` and return `Result<Var>`: a shape that does not fit is an
//! [`crate::Error::Shape`] naming both shapes, never a panic.

mod arith;
mod matmul;

pub use arith::{add, add_scalar, flatten, mean, mul, reshape, scale, sub, sum};
pub use matmul::{linear, matmul};
