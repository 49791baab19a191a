//! Integrated gradients (Sundararajan, Taly, Yan 2017) and how well they add up.
//!
//! For a class score `S`, an image `x` and a baseline `b`, the attribution of input `i` is
//!
//! `IG_i = (x_i − b_i) · ∫₀¹ ∂S/∂x_i (b + α (x − b)) dα`,
//!
//! and completeness says `Σ_i IG_i = S(x) − S(b)` exactly (the gradient theorem along the
//! straight path). The integral is taken by a quadrature rule with `steps` nodes `α_k` and
//! weights `w_k` (`Σ w_k = 1`), so the sum misses by the rule's error; that miss is reported per
//! image as the **convergence delta**, with Captum's sign (`return_convergence_delta`):
//!
//! `δ = Σ_i IG_i − (S(x) − S(b))`.
//!
//! Rules ([`Quadrature`]): the midpoint rule `α_k = (k + ½)/n`; the trapezoid rule on
//! `α_k = k/(n − 1)` (end points included, so `S(x)` and `S(b)` come with the gradient pass);
//! and Gauss–Legendre on `n` nodes (Captum's default), exact for polynomials of degree
//! `2n − 1`. On a ReLU / max-pool network the score is piecewise linear along the path, so the
//! integrand is piecewise constant with a jump wherever a unit switches or a pool's winner
//! changes: no rule converges faster than `O(1/n)` there, and the size of δ relative to
//! `|S(x) − S(b)|` is the honest measure of how far to trust the map.

use super::{Explainer, Progress};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// How the path integral is discretised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quadrature {
    /// `α_k = (k + ½)/n`, equal weights.
    Midpoint,
    /// `α_k = k/(n − 1)`, end points at half weight (needs at least 2 steps).
    Trapezoid,
    /// The Gauss–Legendre nodes and weights of degree `n`, mapped to `[0, 1]`.
    GaussLegendre,
}

impl std::str::FromStr for Quadrature {
    type Err = Error;
    fn from_str(s: &str) -> Result<Quadrature> {
        match s.trim().to_ascii_lowercase().as_str() {
            "midpoint" | "riemann_middle" | "middle" => Ok(Quadrature::Midpoint),
            "trapezoid" | "riemann_trapezoid" | "trapezoidal" => Ok(Quadrature::Trapezoid),
            "gausslegendre" | "gauss-legendre" | "gauss" | "gl" => Ok(Quadrature::GaussLegendre),
            _ => Err(Error::invalid("--rule", format!("{s:?} is not midpoint, trapezoid or gauss-legendre"))),
        }
    }
}

impl Quadrature {
    /// The name used in flags and metadata.
    pub fn name(self) -> &'static str {
        match self {
            Quadrature::Midpoint => "midpoint",
            Quadrature::Trapezoid => "trapezoid",
            Quadrature::GaussLegendre => "gauss-legendre",
        }
    }

    /// Nodes `α_k` in `[0, 1]` (increasing) and weights `w_k` summing to 1, for `n` steps.
    pub fn nodes(self, n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
        match (self, n) {
            (_, 0) => Err(Error::invalid("--steps", "integrated gradients needs at least 1 step")),
            (Quadrature::Trapezoid, 1) => Err(Error::invalid("--steps", "the trapezoid rule needs at least 2 steps (both end points)")),
            (Quadrature::Midpoint, n) => Ok(((0..n).map(|k| (k as f64 + 0.5) / n as f64).collect(), vec![1.0 / n as f64; n])),
            (Quadrature::Trapezoid, n) => {
                let h = 1.0 / (n - 1) as f64;
                let w = (0..n).map(|k| if k == 0 || k == n - 1 { h / 2.0 } else { h }).collect();
                // the last node exactly 1: (n - 1) * h may round below it
                Ok(((0..n).map(|k| if k == n - 1 { 1.0 } else { k as f64 * h }).collect(), w))
            }
            (Quadrature::GaussLegendre, n) => Ok(gauss_legendre(n)),
        }
    }
}

/// Gauss–Legendre nodes and weights of degree `n` on `[0, 1]` (increasing nodes). Each root of
/// the Legendre polynomial `P_n` on `[−1, 1]` is found by Newton's method from the classic guess
/// `cos(π (i + ¾)/(n + ½))`, with `P_n` and `P_n'` from the three-term recurrence
/// `(k+1) P_{k+1} = (2k+1) t P_k − k P_{k−1}`; the weight is `2 / ((1 − t²) P_n'(t)²)`. Then
/// `α = (1 + t)/2` and the weight is halved.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let legendre = |t: f64| -> (f64, f64) {
        let (mut p0, mut p1) = (1.0f64, t);
        for k in 1..n {
            let p2 = ((2 * k + 1) as f64 * t * p1 - k as f64 * p0) / (k + 1) as f64;
            p0 = p1;
            p1 = p2;
        }
        let p = if n == 0 { 1.0 } else { p1 };
        // P_n'(t) = n (t P_n − P_{n−1}) / (t² − 1)
        let dp = n as f64 * (t * p - p0) / (t * t - 1.0);
        (p, dp)
    };
    let mut nodes = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n);
    for i in 0..n {
        let mut t = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        for _ in 0..100 {
            let (p, dp) = legendre(t);
            let dt = p / dp;
            t -= dt;
            if dt.abs() < 1e-15 {
                break;
            }
        }
        let (_, dp) = legendre(t);
        nodes.push((1.0 + t) / 2.0);
        weights.push(1.0 / ((1.0 - t * t) * dp * dp));
    }
    // the guesses run from t near 1 down to near −1: reverse to increasing α
    nodes.reverse();
    weights.reverse();
    (nodes, weights)
}

/// Integrated gradients of a batch of images with their completeness check.
#[derive(Clone, Debug)]
pub struct Integrated {
    /// `[N, C, H, W]` attributions.
    pub attributions: Tensor,
    /// `S(x_n)` per image.
    pub score_input: Vec<f32>,
    /// `S(b_n)` per image.
    pub score_baseline: Vec<f32>,
    /// `δ_n = Σ IG − (S(x_n) − S(b_n))` per image (Captum's convergence delta).
    pub delta: Vec<f32>,
}

impl Integrated {
    /// The largest `|δ_n| / |S(x_n) − S(b_n)|` (how far completeness is missed, relative to
    /// the score change the map explains; 0 for images whose score does not change).
    pub fn worst_relative_delta(&self) -> f32 {
        self.delta
            .iter()
            .zip(self.score_input.iter().zip(&self.score_baseline))
            .map(|(d, (sx, sb))| if (sx - sb).abs() > 0.0 { d.abs() / (sx - sb).abs() } else { 0.0 })
            .fold(0.0, f32::max)
    }
}

impl Explainer {
    /// Integrated gradients of normalised images `x` from `baseline` (same shape, normalised)
    /// with `steps` nodes of `rule`, and the convergence delta per image. The rows of all
    /// images and nodes are run in batches of [`Explainer::batch`].
    pub fn integrated(&mut self, x: &Tensor, baseline: &Tensor, classes: &[usize], steps: usize, rule: Quadrature, progress: Progress) -> Result<Integrated> {
        let n = self.check_images(x, "saliency")?;
        self.check_classes(classes, n)?;
        if baseline.shape() != x.shape() {
            return Err(Error::shape("integrated gradients (baseline)", x.shape(), baseline.shape()));
        }
        let (alphas, weights) = rule.nodes(steps)?;
        let per = x.len() / n.max(1);
        let (xd, bd) = (x.data(), baseline.data());
        let mut avg = vec![0f64; x.len()];
        let mut ends = vec![(f32::NAN, f32::NAN); n];
        self.gradient_rows(
            n * steps,
            &|r| classes[r / steps],
            &|r, row| {
                let (img, k) = (r / steps, r % steps);
                let (a, o) = (alphas[k] as f32, img * per);
                match alphas[k] {
                    // the end points exactly: b + 1·(x − b) may round off x
                    0.0 => row.copy_from_slice(&bd[o..o + per]),
                    1.0 => row.copy_from_slice(&xd[o..o + per]),
                    _ => row.iter_mut().enumerate().for_each(|(j, v)| *v = bd[o + j] + a * (xd[o + j] - bd[o + j])),
                }
            },
            &mut |r, g, score| {
                let (img, k) = (r / steps, r % steps);
                let w = weights[k];
                for (o, &v) in avg[img * per..(img + 1) * per].iter_mut().zip(g) {
                    *o += w * v as f64;
                }
                // the trapezoid rule's end points are the baseline and the image
                if alphas[k] == 0.0 {
                    ends[img].1 = score;
                } else if alphas[k] == 1.0 {
                    ends[img].0 = score;
                }
            },
            progress,
        )?;
        let attr: Vec<f32> = avg.iter().zip(xd.iter().zip(bd)).map(|(g, (x, b))| (g * (x - b) as f64) as f32).collect();
        let (score_input, score_baseline) = if ends.iter().all(|(sx, sb)| sx.is_finite() && sb.is_finite()) {
            ends.iter().copied().unzip()
        } else {
            (self.scores(x, classes)?, self.scores(baseline, classes)?)
        };
        let delta = attr
            .chunks(per)
            .zip(score_input.iter().zip(&score_baseline))
            .map(|(c, (sx, sb))| (c.iter().map(|&v| v as f64).sum::<f64>() - (*sx as f64 - *sb as f64)) as f32)
            .collect();
        Ok(Integrated { attributions: Tensor::from_vec(attr, x.shape())?, score_input, score_baseline, delta })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `∫₀¹ f` by a rule's nodes and weights.
    fn integrate(rule: Quadrature, n: usize, f: impl Fn(f64) -> f64) -> f64 {
        let (a, w) = rule.nodes(n).unwrap();
        a.iter().zip(&w).map(|(&a, &w)| w * f(a)).sum()
    }

    #[test]
    fn gauss_legendre_matches_known_nodes_and_is_exact_to_degree_2n_minus_1() {
        // n = 2 on [-1, 1]: ±1/√3, weights 1 → on [0, 1]: (1 ∓ 1/√3)/2, weights ½
        let (a, w) = gauss_legendre(2);
        let s = 1.0 / 3f64.sqrt();
        assert!((a[0] - (1.0 - s) / 2.0).abs() < 1e-14 && (a[1] - (1.0 + s) / 2.0).abs() < 1e-14, "{a:?}");
        assert!((w[0] - 0.5).abs() < 1e-14 && (w[1] - 0.5).abs() < 1e-14, "{w:?}");
        // n = 3: 0, ±√(3/5) with weights 8/9, 5/9
        let (a, w) = gauss_legendre(3);
        assert!((a[1] - 0.5).abs() < 1e-14 && (w[1] - 4.0 / 9.0).abs() < 1e-14 && (w[0] - 5.0 / 18.0).abs() < 1e-14);
        for n in [1, 4, 7, 20, 64] {
            let (a, w) = gauss_legendre(n);
            assert!(a.windows(2).all(|p| p[0] < p[1]) && a[0] > 0.0 && a[n - 1] < 1.0, "n = {n}: nodes increase inside (0, 1)");
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12, "n = {n}: weights sum to 1");
            // ∫₀¹ α^d = 1/(d+1), exact for d <= 2n - 1
            for d in 0..2 * n.min(10) {
                let got = integrate(Quadrature::GaussLegendre, n, |t| t.powi(d as i32));
                assert!((got - 1.0 / (d + 1) as f64).abs() < 1e-12, "n = {n}, degree {d}: {got}");
            }
        }
    }

    #[test]
    fn riemann_rules_have_their_orders() {
        let f = |t: f64| t * t; // ∫ = 1/3
        let e_mid = |n| (integrate(Quadrature::Midpoint, n, f) - 1.0 / 3.0).abs();
        let e_trap = |n| (integrate(Quadrature::Trapezoid, n, f) - 1.0 / 3.0).abs();
        // both second order: error * 4 when the step halves; the midpoint error is half the trapezoid's
        assert!((e_mid(10) / e_mid(20) - 4.0).abs() < 1e-6 && (e_trap(11) / e_trap(21) - 4.0).abs() < 1e-6);
        assert!((e_trap(11) / e_mid(10) - 2.0).abs() < 1e-6);
        // linear functions are exact
        assert!((integrate(Quadrature::Trapezoid, 2, |t| 3.0 * t + 1.0) - 2.5).abs() < 1e-15);
        assert!(Quadrature::Trapezoid.nodes(1).is_err() && Quadrature::Midpoint.nodes(0).is_err());
        assert_eq!("Gauss-Legendre".parse::<Quadrature>().unwrap(), Quadrature::GaussLegendre);
        assert!("simpson".parse::<Quadrature>().unwrap_err().to_string().contains("--rule"));
    }
}
