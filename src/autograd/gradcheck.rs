//! Gradient checking: the tape's gradient against central finite differences.
//!
//! For a function `f(x_1..x_n) -> y` we check the scalar `L = <r, y>` where `r` is a fixed
//! random tensor (so every output element takes part with its own weight, and a gradient
//! routed to the wrong element shows). The analytic gradient is `backward_with(r)`; the
//! numeric one is `(L(x + h e_i) - L(x - h e_i)) / 2h` with `L` summed in f64.
//!
//! ## Choosing step and tolerance for f32
//! Values are f32 (relative rounding `u ≈ 6e-8`). The central difference has truncation
//! error `h² |L'''| / 6` and rounding error about `u |L| / h`; with inputs of order 1 the two
//! balance near `h ≈ (3u)^(1/3) ≈ 5e-3`. We use `h = 5e-3` by default (scaled by `max(1, |x_i|)`),
//! which gives errors around 1e-4 of the gradient's scale. A coordinate passes when
//! `|analytic - numeric| <= atol * scale + rtol * max(|analytic|, |numeric|)` where `scale` is
//! the largest gradient magnitude seen for that input (so tiny gradients are judged against the
//! size of their input's whole gradient, not their own noise, and one input's large gradient
//! does not loosen the check of another's). Inputs larger than `max_coords` are checked on a
//! random sample of coordinates. Added to the tolerance is the f32 evaluation noise
//! `eps_f32 · Σ|r_i y_i| / h`: a gradient smaller than that cannot be resolved by finite
//! differences in f32 at all, and is not judged. Defaults `rtol = 1e-2`, `atol = 1e-3`: a
//! backward that is off by even 10 % or routes a gradient to a transposed index fails.
//!
//! ## Kinks
//! ReLU at 0, max-pool ties and the like are not differentiable. Where the two one-sided
//! differences `d+ = (L(x+h)-L(x))/h` and `d- = (L(x)-L(x-h))/h` disagree by more than the
//! tolerance AND by more than the analytic/numeric mismatch, the step straddles a kink and the
//! mismatch is explained by it; such coordinates are skipped and counted in
//! [`GradcheckReport::skipped_kinks`], and the check fails if more than half are skipped. Kinks
//! on both sides of `x` (a conv weight moves many max-pool windows at once) can leave `d+` and
//! `d-` equal and both wrong; a mismatched coordinate is then also taken for a kink when the
//! central difference at half the step differs from the one at the full step by more than the
//! tolerance. On a smooth function `|d+ - d-| ≈ h |L''|` and the change of the central
//! difference with the step (`≈ h² |L'''| / 8`) are tiny, so a wrong gradient there is never
//! excused.

use super::{Graph, Var};
use crate::error::{Error, Result};
use crate::tensor::{Rng, Tensor};

/// Settings for [`gradcheck`].
#[derive(Clone, Debug)]
pub struct GradcheckOptions {
    /// Finite-difference step, relative to `max(1, |x_i|)`.
    pub eps: f64,
    /// Relative tolerance per coordinate.
    pub rtol: f64,
    /// Absolute tolerance, as a fraction of the largest numeric gradient magnitude.
    pub atol: f64,
    /// Seed of the random projection `r` and of the coordinate sample.
    pub seed: u64,
    /// Check at most this many coordinates per input (randomly chosen; default 512, so small
    /// inputs are checked whole and larger ones by sample); `usize::MAX` = all.
    pub max_coords: usize,
    /// Which inputs to check (None = all).
    pub check: Option<Vec<bool>>,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 5e-3, rtol: 1e-2, atol: 1e-3, seed: 0x9e37, max_coords: 512, check: None }
    }
}

/// What [`gradcheck`] found.
#[derive(Clone, Debug)]
pub struct GradcheckReport {
    /// Coordinates compared.
    pub checked: usize,
    /// Coordinates skipped because the finite difference straddled a kink.
    pub skipped_kinks: usize,
    /// Largest `|analytic - numeric| / (atol*scale + rtol*max(|a|,|n|))`; <= 1 passes.
    pub worst_ratio: f64,
    /// (input, flat index, analytic, numeric) of the worst coordinate.
    pub worst: Option<(usize, usize, f64, f64)>,
}

impl GradcheckReport {
    /// True if every checked coordinate was within tolerance and kinks were not the majority.
    pub fn passed(&self) -> bool {
        self.worst_ratio <= 1.0 && self.checked > 0 && self.skipped_kinks <= self.checked
    }
}

/// Checks the gradient of `f` at `inputs` against finite differences.
///
/// `f` receives a graph and one leaf per input and returns any tensor-valued result. Returns
/// `Err(Error::Run)` describing the worst coordinate if the check fails, so it can be used with
/// `?` in tests; the report is returned on success.
pub fn gradcheck<F>(f: F, inputs: &[Tensor], opts: &GradcheckOptions) -> Result<GradcheckReport>
where
    F: Fn(&Graph, &[Var]) -> Result<Var>,
{
    let g = Graph::new();
    let leaves: Vec<Var> = inputs.iter().map(|t| g.leaf(t.clone())).collect();
    let y = f(&g, &leaves)?;
    let mut rng = Rng::new(opts.seed);
    let r = Tensor::normal(y.shape(), 0.0, 1.0, &mut rng);
    let grads = y.backward_with(r.clone())?;

    let eval = |xs: &[Tensor]| -> Result<f64> {
        let g = Graph::no_grad();
        let vs: Vec<Var> = xs.iter().map(|t| g.constant(t.clone())).collect();
        let y = f(&g, &vs)?;
        Ok(y.value().data().iter().zip(r.data()).map(|(&a, &b)| a as f64 * b as f64).sum())
    };
    // f32 evaluation noise: each output carries a relative error of about one f32 epsilon, so
    // L carries ~eps·Σ|r_i y_i| and the difference quotient cannot resolve less than that / h
    let l_abs: f64 = y.value().data().iter().zip(r.data()).map(|(&a, &b)| (a as f64 * b as f64).abs()).sum();
    let noise_per_h = f32::EPSILON as f64 * l_abs;

    // L with coordinate i of input k moved up and down by `scale` times the step (then put
    // back), and the steps actually taken in f32: (L+, L-, h+, h-)
    let at_steps = |xs: &mut Vec<Tensor>, k: usize, i: usize, scale: f64| -> Result<(f64, f64, f64, f64)> {
        let x0 = inputs[k].data()[i] as f64;
        let h = scale * opts.eps * x0.abs().max(1.0);
        let (xp, xm) = ((x0 + h) as f32, (x0 - h) as f32);
        xs[k].data_mut()[i] = xp;
        let lp = eval(xs)?;
        xs[k].data_mut()[i] = xm;
        let lm = eval(xs)?;
        xs[k].data_mut()[i] = x0 as f32;
        Ok((lp, lm, xp as f64 - x0, x0 - xm as f64))
    };
    let central = |xs: &mut Vec<Tensor>, k: usize, i: usize, scale: f64| -> Result<f64> {
        let (lp, lm, hp, hm) = at_steps(xs, k, i, scale)?;
        Ok((lp - lm) / (hp + hm))
    };
    let mut samples = Vec::new(); // (input, index, analytic, numeric, d+, d-, noise)
    let mut xs: Vec<Tensor> = inputs.to_vec();
    for (k, leaf) in leaves.iter().enumerate() {
        if let Some(c) = &opts.check {
            if !c.get(k).copied().unwrap_or(true) {
                continue;
            }
        }
        let zero = Tensor::zeros(leaf.shape());
        let analytic = grads.wrt(leaf).unwrap_or(&zero).clone();
        let n = inputs[k].len();
        let mut idx: Vec<usize> = (0..n).collect();
        if n > opts.max_coords {
            rng.shuffle(&mut idx);
            idx.truncate(opts.max_coords);
        }
        for &i in &idx {
            let (lp, lm, hp, hm) = at_steps(&mut xs, k, i, 1.0)?;
            let l0 = eval(&xs)?;
            let num = (lp - lm) / (hp + hm);
            let (dp, dm) = ((lp - l0) / hp, (l0 - lm) / hm);
            samples.push((k, i, analytic.data()[i] as f64, num, dp, dm, noise_per_h / (0.5 * (hp + hm))));
        }
    }
    // the absolute tolerance is relative to each input's own largest gradient
    let mut scales = vec![1e-6f64; inputs.len()];
    for s in &samples {
        scales[s.0] = scales[s.0].max(s.3.abs().max(s.2.abs()));
    }
    let mut report = GradcheckReport { checked: 0, skipped_kinks: 0, worst_ratio: 0.0, worst: None };
    for &(k, i, a, n, dp, dm, noise) in &samples {
        let tol = opts.atol * scales[k] + opts.rtol * a.abs().max(n.abs()) + noise;
        let kink = (dp - dm).abs();
        // the one-sided slopes disagree by more than the mismatch: the step crosses a kink
        // (ReLU at 0, a max-pool tie), where the derivative is not defined
        let one_sided = kink > tol && (a - n).abs() <= kink;
        // kinks on both sides of x (a weight moves many max-pool windows at once) can leave the
        // one-sided slopes equal and both wrong: then the central difference changes with the
        // step, which on a smooth function it does not (by h²·|L'''|/8)
        let mismatch = (a - n).abs() > tol;
        if mismatch && (one_sided || (central(&mut xs, k, i, 0.5)? - n).abs() > tol + 2.0 * noise) {
            report.skipped_kinks += 1;
            continue;
        }
        report.checked += 1;
        let ratio = (a - n).abs() / tol;
        if ratio > report.worst_ratio {
            report.worst_ratio = ratio;
            report.worst = Some((k, i, a, n));
        }
    }
    if !report.passed() {
        let msg = match report.worst {
            Some((k, i, a, n)) if report.worst_ratio > 1.0 => format!(
                "gradcheck failed: input {k} index {i}: analytic {a:.6e} vs numeric {n:.6e} ({:.1}x the tolerance; {} checked, {} kinks skipped)",
                report.worst_ratio, report.checked, report.skipped_kinks
            ),
            _ => format!("gradcheck inconclusive: {} coordinates checked, {} skipped at kinks", report.checked, report.skipped_kinks),
        };
        return Err(Error::Run(msg));
    }
    Ok(report)
}
