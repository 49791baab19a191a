//! Index splitting, shuffling and batch assembly (normalise + augment, in parallel, with
//! results that do not depend on the number of threads).

use super::{Augment, Dataset, Normalization};
use crate::error::{Error, Result};
use crate::{Rng, Tensor};
use rayon::prelude::*;

/// Splits `0..n` into (train, validation) index lists, the validation part holding
/// `round(n * fraction)` random indices (seeded; `fraction` is clamped to `0..=1`). Both lists
/// are sorted.
pub fn split_validation(n: usize, fraction: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let f = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) as f64 };
    let n_val = ((n as f64) * f).round() as usize;
    let mut idx: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut idx);
    let mut val = idx.split_off(n - n_val.min(n));
    idx.sort_unstable();
    val.sort_unstable();
    (idx, val)
}

/// A random permutation of `0..n`.
pub fn shuffled(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut idx);
    idx
}

/// Assembles the images `idx` of `ds` into a `[B, C, H, W]` tensor, augmented (if `aug` is
/// given and not the identity) and normalised, plus their labels (empty if `ds` is
/// unlabelled).
///
/// `aug = Some((augment, base, stream))`: image `i` of the dataset is augmented with the
/// generator `base.fork(stream).fork(i)`, so a batch is the same for any thread count and any
/// batch composition; pass the epoch as `stream` for fresh draws every epoch.
pub fn make_batch(ds: &Dataset, idx: &[usize], norm: &Normalization, aug: Option<(&Augment, &Rng, u64)>) -> Result<(Tensor, Vec<usize>)> {
    let n = ds.len();
    if let Some(&bad) = idx.iter().find(|&&i| i >= n) {
        return Err(Error::invalid("make_batch", format!("image index {bad} is out of range for {n} images")));
    }
    let (c, h, w) = (ds.channels, ds.height, ds.width);
    let per = ds.image_len();
    if ds.pixels.len() != n * per || ds.labels.as_ref().is_some_and(|l| l.len() != n) {
        return Err(Error::invalid(
            "make_batch",
            format!("the dataset holds {} pixel values and {:?} labels for {n} images of {c}x{h}x{w}", ds.pixels.len(), ds.labels.as_ref().map(|l| l.len())),
        ));
    }
    let mut data = vec![0f32; idx.len() * per];
    let aug = aug.filter(|(a, _, _)| !a.is_identity());
    let epoch_rng = aug.map(|(_, base, stream)| base.fork(stream));
    if per > 0 {
        data.par_chunks_mut(per).zip(idx.par_iter()).try_for_each(|(out, &i)| -> Result<()> {
            match (aug, &epoch_rng) {
                (Some((a, _, _)), Some(er)) => {
                    for (o, &p) in out.iter_mut().zip(ds.image(i)) {
                        *o = p as f32;
                    }
                    a.apply(out, c, h, w, &mut er.fork(i as u64))?;
                    norm.apply_f32(out)
                }
                _ => norm.apply(ds.image(i), out),
            }
        })?;
    }
    let labels = match &ds.labels {
        Some(l) => idx.iter().map(|&i| l[i] as usize).collect(),
        None => Vec::new(),
    };
    Ok((Tensor::from_vec(data, &[idx.len(), c, h, w])?, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_split_is_a_seeded_partition() {
        let (t, v) = split_validation(100, 0.2, 5);
        assert_eq!((t.len(), v.len()), (80, 20));
        let mut all: Vec<usize> = t.iter().chain(&v).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(split_validation(100, 0.2, 5), (t, v.clone()));
        assert_ne!(split_validation(100, 0.2, 6).1, v);
        assert_eq!(split_validation(10, 0.0, 1).1.len(), 0);
        assert_eq!(split_validation(10, 1.0, 1).0.len(), 0);
        assert_eq!(split_validation(10, f32::NAN, 1).1.len(), 0);
    }
}
