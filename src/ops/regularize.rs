//! Weight penalties added to the loss.

use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use pupil_kernels::CHUNK;
use rayon::prelude::*;

/// L2 penalty (Keras' `kernel_regularizer=l2(lambda)`): `P = λ Σ_i w_i²`, a scalar `[]`.
///
/// Note the convention: no factor 1/2 (Keras), so the gradient is `dw = 2 λ w · g`; adding this
/// to the loss with plain SGD equals weight decay with coefficient `2 λ` (PyTorch's
/// `weight_decay = 2 λ`).
///
/// The sum is accumulated in f64 per block of 16384 elements (in parallel) and the block
/// sums are added in block order, so the value does not depend on the number of threads.
/// `λ` must be finite.
pub fn l2_penalty(w: &Var, lambda: f32) -> Result<Var> {
    if !lambda.is_finite() {
        return Err(Error::invalid("l2_penalty", format!("lambda must be finite, got {lambda}")));
    }
    let blocks: Vec<f64> = w.value().data().par_chunks(CHUNK).map(|c| c.iter().map(|&v| v as f64 * v as f64).sum::<f64>()).collect();
    let ss: f64 = blocks.iter().sum();
    let wv = w.value().clone();
    Ok(Var::from_op("l2_penalty", &[w], Tensor::scalar((lambda as f64 * ss) as f32), move |g, _| {
        let k = 2.0 * lambda * g.data()[0];
        Ok(vec![Some(Tensor::from_vec(pupil_kernels::par_map(wv.data(), |v| k * v), wv.shape())?)])
    }))
}
