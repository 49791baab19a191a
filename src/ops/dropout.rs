//! Inverted dropout (Srivastava et al. 2014) with a reproducible, thread-count independent mask.

use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::tensor::{Rng, Tensor};
use pupil_kernels::CHUNK;
use rayon::prelude::*;

/// Inverted dropout: in training mode each element is kept with probability `1 - p` and then
/// scaled by `1 / (1 - p)`, otherwise set to 0, so `E[y] = x` and evaluation needs no
/// rescaling: `y = x ⊙ m / (1 - p)` with `m_i ~ Bernoulli(1 - p)`.
///
/// In evaluation mode (`train == false`) or for `p == 0` the op is the identity (returns `x`
/// itself; `rng` is not touched). `p` outside `[0, 1)` (or NaN) is an error.
///
/// Backward: `dx = g ⊙ m / (1 - p)` (the same mask).
///
/// ## Reproducibility
/// A training-mode call draws exactly one `u64` from `rng`: `seed = rng.next_u64()`. The
/// tensor is cut, in row-major order, into blocks of 16384 elements; block `k`
/// uses its own generator `Rng::new(seed).fork(k)` and element `i` of the block draws
/// `u = next_f32()` in order and is kept iff `u >= p`. The mask therefore depends only on the
/// caller's `rng` state and the tensor's size, not on the number of threads, and the caller's
/// `rng` advances by one draw whatever the tensor's size. The mask is not stored: backward
/// regenerates it from `seed`.
pub fn dropout(x: &Var, p: f32, train: bool, rng: &mut Rng) -> Result<Var> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::invalid("dropout", format!("drop probability p must be in [0, 1), got {p}")));
    }
    if !train || p == 0.0 {
        return Ok(x.clone());
    }
    let seed = rng.next_u64();
    let y = apply_mask(x.value().data(), seed, p);
    let y = Tensor::from_vec(y, x.shape())?;
    let shape = x.shape().to_vec();
    Ok(Var::from_op("dropout", &[x], y, move |g, _| Ok(vec![Some(Tensor::from_vec(apply_mask(g.data(), seed, p), &shape)?)])))
}

/// `out = src ⊙ m / (1 - p)` with the mask of `seed` (see [`dropout`]).
fn apply_mask(src: &[f32], seed: u64, p: f32) -> Vec<f32> {
    let root = Rng::new(seed);
    let scale = 1.0 / (1.0 - p);
    let mut out = vec![0.0f32; src.len()];
    out.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).enumerate().for_each(|(k, (o, s))| {
        let mut r = root.fork(k as u64);
        for (o, &v) in o.iter_mut().zip(s) {
            // kept: all bits of `v·scale`; dropped: none, +0.0 (a select on bits, not a branch:
            // the branch mispredicted on half the elements)
            let keep = 0u32.wrapping_sub((r.next_f32() >= p) as u32);
            *o = f32::from_bits((v * scale).to_bits() & keep);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mask follows the documented stream (block `k` of 16384 elements draws from
    /// `Rng::new(seed).fork(k)`, element kept iff `u >= p`), kept values are `v·scale` bit for
    /// bit (NaN and infinities included) and dropped ones +0.0 whatever `v` was.
    #[test]
    fn mask_follows_the_stream_and_drops_to_positive_zero() {
        let special = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1.5, -2.25];
        let src: Vec<f32> = (0..CHUNK + 1000).map(|i| special[i % special.len()]).collect();
        let (seed, p) = (42, 0.3f32);
        let out = apply_mask(&src, seed, p);
        let scale = 1.0 / (1.0 - p);
        let root = Rng::new(seed);
        let (mut kept, mut dropped) = (0, 0);
        for (k, (o, s)) in out.chunks(CHUNK).zip(src.chunks(CHUNK)).enumerate() {
            let mut r = root.fork(k as u64);
            for (&o, &v) in o.iter().zip(s) {
                if r.next_f32() >= p {
                    assert_eq!(o.to_bits(), (v * scale).to_bits(), "kept {v}");
                    kept += 1;
                } else {
                    assert_eq!(o.to_bits(), 0, "dropped {v} gave {o}");
                    dropped += 1;
                }
            }
        }
        assert!(kept > 0 && dropped > 0, "{kept} kept, {dropped} dropped");
    }
}
