//! Turning raw bytes into the network's input values. The chosen [`Normalization`] (with its
//! statistics, for feature-wise) is serialised with the model so that inference normalises
//! exactly as training did.

use super::Dataset;
use crate::error::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Smallest standard deviation divided by (avoids blowing up constant pixels / images).
pub const MIN_STD: f32 = 1e-3;

/// Which normalisation to fit (the statistics-free description of a [`Normalization`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormKind {
    Scale255,
    FeatureWise,
    SampleWise,
    None,
}

impl std::str::FromStr for NormKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<NormKind> {
        match s.trim().to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "scale" | "scale255" | "255" => Ok(NormKind::Scale255),
            "featurewise" | "feature" | "standardize" => Ok(NormKind::FeatureWise),
            "samplewise" | "sample" => Ok(NormKind::SampleWise),
            "none" | "raw" => Ok(NormKind::None),
            _ => Err(Error::invalid("normalization", format!("unknown normalization {s:?}; expected scale255, featurewise, samplewise or none"))),
        }
    }
}

/// How raw pixels `x` in `0..=255` become network inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Normalization {
    /// `x / 255`, in `[0, 1]`.
    Scale255,
    /// Per pixel position: `(x/255 - mean[i]) / std[i]` with statistics of the training split
    /// (computed on `x/255`; `std` is used as `max(std, MIN_STD)`).
    FeatureWise { mean: Vec<f32>, std: Vec<f32> },
    /// Per image: `(x/255 - mean) / std` with that image's own mean and std.
    SampleWise,
    /// The raw values as `f32` (`0..=255`).
    None,
}

impl Normalization {
    /// Fits a normalisation of the given kind on `ds` (only feature-wise needs the data).
    pub fn fit(kind: NormKind, ds: &Dataset) -> Normalization {
        match kind {
            NormKind::Scale255 => Normalization::Scale255,
            NormKind::SampleWise => Normalization::SampleWise,
            NormKind::None => Normalization::None,
            NormKind::FeatureWise => {
                let (mean, std) = feature_stats(ds);
                Normalization::FeatureWise { mean, std }
            }
        }
    }

    /// The kind of this normalisation.
    pub fn kind(&self) -> NormKind {
        match self {
            Normalization::Scale255 => NormKind::Scale255,
            Normalization::FeatureWise { .. } => NormKind::FeatureWise,
            Normalization::SampleWise => NormKind::SampleWise,
            Normalization::None => NormKind::None,
        }
    }

    /// Normalises one image: `out[i]` from `pixels[i]`. Errors if the lengths differ or do
    /// not match the feature-wise statistics.
    pub fn apply(&self, pixels: &[u8], out: &mut [f32]) -> Result<()> {
        if pixels.len() != out.len() {
            return Err(Error::shape("Normalization::apply", &[pixels.len()], &[out.len()]));
        }
        for (o, &p) in out.iter_mut().zip(pixels) {
            *o = p as f32;
        }
        self.apply_f32(out)
    }

    /// Normalises one image in place, given as `f32` on the raw `0..=255` scale (as after
    /// augmentation).
    pub fn apply_f32(&self, x: &mut [f32]) -> Result<()> {
        const INV: f32 = 1.0 / 255.0;
        match self {
            Normalization::None => {}
            Normalization::Scale255 => x.iter_mut().for_each(|v| *v /= 255.0),
            Normalization::FeatureWise { mean, std } => {
                if mean.len() != x.len() || std.len() != x.len() {
                    return Err(Error::Shape {
                        op: "Normalization::apply",
                        lhs: vec![x.len()],
                        rhs: vec![mean.len()],
                        detail: "image size differs from the one the feature-wise statistics were fitted on".into(),
                    });
                }
                for ((v, &m), &s) in x.iter_mut().zip(mean).zip(std) {
                    *v = (*v / 255.0 - m) / s.max(MIN_STD);
                }
            }
            Normalization::SampleWise => {
                if x.is_empty() {
                    return Ok(());
                }
                let n = x.len() as f64;
                let mean = x.iter().map(|&v| v as f64 * INV as f64).sum::<f64>() / n;
                let var = x.iter().map(|&v| (v as f64 * INV as f64 - mean).powi(2)).sum::<f64>() / n;
                let (mean, inv_std) = (mean as f32, 1.0 / (var.sqrt() as f32).max(MIN_STD));
                x.iter_mut().for_each(|v| *v = (*v * INV - mean) * inv_std);
            }
        }
        Ok(())
    }

    /// Maps normalised values back to the `0..=1` display scale (approximately, for
    /// sample-wise, which cannot be inverted: there it rescales min..max to 0..1).
    pub fn to_unit(&self, x: &mut [f32]) {
        match self {
            Normalization::None => x.iter_mut().for_each(|v| *v /= 255.0),
            Normalization::Scale255 => {}
            Normalization::FeatureWise { mean, std } => {
                for ((v, &m), &s) in x.iter_mut().zip(mean).zip(std) {
                    *v = *v * s.max(MIN_STD) + m;
                }
            }
            Normalization::SampleWise => {
                let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let span = (hi - lo).max(1e-12);
                x.iter_mut().for_each(|v| *v = (*v - lo) / span);
            }
        }
    }
}

/// Per-pixel mean and (population) standard deviation of `x/255` over the images of `ds`,
/// computed exactly with integer sums (identical for any thread count).
pub fn feature_stats(ds: &Dataset) -> (Vec<f32>, Vec<f32>) {
    let per = ds.image_len();
    let n = ds.len();
    if n == 0 || per == 0 {
        return (vec![0.0; per], vec![1.0; per]);
    }
    let chunk = 256usize;
    let (sum, sq) = ds.pixels[..n * per]
        .par_chunks(chunk * per)
        .map(|block| {
            let mut s = vec![0u64; per];
            let mut q = vec![0u64; per];
            for img in block.chunks_exact(per) {
                for ((s, q), &p) in s.iter_mut().zip(q.iter_mut()).zip(img) {
                    *s += p as u64;
                    *q += (p as u64) * (p as u64);
                }
            }
            (s, q)
        })
        .reduce(
            || (vec![0u64; per], vec![0u64; per]),
            |(mut a, mut b), (c, d)| {
                a.iter_mut().zip(c).for_each(|(x, y)| *x += y);
                b.iter_mut().zip(d).for_each(|(x, y)| *x += y);
                (a, b)
            },
        );
    let nf = n as f64;
    let mut mean = Vec::with_capacity(per);
    let mut std = Vec::with_capacity(per);
    for (&s, &q) in sum.iter().zip(&sq) {
        let m = s as f64 / nf;
        let var = (q as f64 / nf - m * m).max(0.0);
        mean.push((m / 255.0) as f32);
        std.push((var.sqrt() / 255.0) as f32);
    }
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(pixels: Vec<u8>, per: usize) -> Dataset {
        Dataset { channels: 1, height: 1, width: per, pixels, labels: None, ids: None, class_names: vec![] }
    }

    #[test]
    fn featurewise_stats_and_apply() {
        let d = ds(vec![0, 255, 10, 51, 255, 30], 3);
        let n = Normalization::fit(NormKind::FeatureWise, &d);
        let Normalization::FeatureWise { mean, std } = &n else { panic!() };
        assert!((mean[0] - 0.1).abs() < 1e-6 && (mean[1] - 1.0).abs() < 1e-6);
        assert!((std[0] - 0.1).abs() < 1e-6 && std[1] == 0.0);
        let mut out = [0f32; 3];
        n.apply(&[51, 255, 20], &mut out).unwrap();
        assert!((out[0] - 1.0).abs() < 1e-5 && out[1] == 0.0 && out[2].abs() < 1e-5, "{out:?}");
        assert!(n.apply(&[1, 2], &mut [0.0; 2]).is_err());
    }

    #[test]
    fn samplewise_zero_mean_unit_std() {
        let mut out = [0f32; 4];
        Normalization::SampleWise.apply(&[0, 100, 200, 50], &mut out).unwrap();
        let m: f32 = out.iter().sum::<f32>() / 4.0;
        let v: f32 = out.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / 4.0;
        assert!(m.abs() < 1e-5 && (v - 1.0).abs() < 1e-4);
        Normalization::SampleWise.apply(&[7, 7, 7, 7], &mut out).unwrap();
        assert_eq!(out, [0.0; 4]);
        let j = serde_json::to_string(&Normalization::Scale255).unwrap();
        assert_eq!(serde_json::from_str::<Normalization>(&j).unwrap(), Normalization::Scale255);
    }
}
