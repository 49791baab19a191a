//! Differentiable operations. Each op computes its forward value and records on the tape the
//! vector-Jacobian product that maps the output gradient `g = dL/dy` to input gradients.
//! The math is in each function's doc comment; every op is gradient-checked by property tests
//! in `tests/` through [`crate::autograd::gradcheck`].
//!
//! Ops take `&Var` and return `Result<Var>`: a shape that does not fit is an
//! [`crate::Error::Shape`] naming both shapes, never a panic.

mod activation;
mod arith;
mod batchnorm;
mod conv;
mod dropout;
mod matmul;
mod pad;
mod pool;
mod regularize;
mod softmax;

pub use activation::{elu, leaky_relu, prelu, relu, selu, sigmoid, softplus, tanh, SELU_ALPHA, SELU_LAMBDA};
pub(crate) use activation::{relu_owned, selu_owned, sigmoid_owned, tanh_owned};
pub use arith::{add, add_scalar, flatten, mean, mul, reshape, scale, sub, sum};
pub use batchnorm::{batch_norm, BatchNormState};
pub use conv::{conv2d, conv2d_bn_relu, conv2d_epilogue, conv2d_relu_max_pool, BatchNormEval, Epilogue, MaxPoolArgs};
pub use dropout::dropout;
pub use matmul::{linear, linear_t, matmul};
pub use pad::pad2d;
pub use pool::{avg_pool2d, avg_pool2d_padded, max_pool2d, max_pool2d_padded, max_pool2d_relu};
pub use regularize::l2_penalty;
pub use softmax::{cross_entropy, log_softmax, nll_loss, softmax, weighted_cross_entropy};
