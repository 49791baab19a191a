//! Weighted ridge regression with an unpenalised intercept, solved by Cholesky: the local
//! linear model of LIME (what lime fits with scikit-learn's `Ridge(alpha=1)` and
//! `sample_weight`).
//!
//! Given rows `z_i ∈ R^m`, targets `y_i` and sample weights `π_i > 0`, it minimises
//!
//! ```text
//! Σ_i π_i (y_i - b - z_iᵀβ)² + α ‖β‖²
//! ```
//!
//! With the weighted means `z̄ = Σ π_i z_i / Σ π_i` and `ȳ = Σ π_i y_i / Σ π_i`, setting the
//! gradient to zero gives `b = ȳ - z̄ᵀβ` and the normal equations
//!
//! ```text
//! (Zcᵀ Π Zc + α I) β = Zcᵀ Π (y - ȳ),     Zc = Z - 1 z̄ᵀ,  Π = diag(π)
//! ```
//!
//! whose matrix is symmetric positive definite for `α > 0`, so it is factored once as `L Lᵀ`
//! and solved by two triangular substitutions for every target (LIME fits one target per
//! explained class on the same samples).

use crate::error::{Error, Result};

/// Cholesky factorisation in place: on return the lower triangle of `a` (`n x n`, row-major)
/// holds `L` with `A = L Lᵀ` (the strict upper triangle is left as it was). Errors if `A` is
/// not (numerically) positive definite.
pub fn cholesky(a: &mut [f64], n: usize) -> Result<()> {
    if a.len() != n * n {
        return Err(Error::shape("cholesky", &[a.len()], &[n, n]));
    }
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if !(d > 0.0 && d.is_finite()) {
            return Err(Error::invalid("cholesky", format!("the matrix is not positive definite (pivot {j} is {d})")));
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    Ok(())
}

/// Solves `L Lᵀ x = b` in place (`b` becomes `x`) with the factor from [`cholesky`].
pub fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// One fitted target of [`weighted_ridge`].
#[derive(Clone, Debug, PartialEq)]
pub struct RidgeFit {
    /// `β`, one coefficient per column.
    pub coef: Vec<f64>,
    /// `b`.
    pub intercept: f64,
    /// Weighted coefficient of determination `1 - Σπ(y-ŷ)² / Σπ(y-ȳ)²` (1 if `y` is constant
    /// and fitted exactly, as scikit-learn's `score`).
    pub r2: f64,
}

/// Fits `targets.len()` weighted ridge regressions on the same design `z` (`n` rows of `m`
/// values, row-major) and weights `w` (see the module docs). `alpha` must be positive (it makes
/// the system solvable whatever the design).
pub fn weighted_ridge(z: &[f64], n: usize, m: usize, targets: &[Vec<f64>], w: &[f64], alpha: f64) -> Result<Vec<RidgeFit>> {
    if z.len() != n * m || w.len() != n || targets.iter().any(|y| y.len() != n) {
        return Err(Error::invalid("weighted_ridge", format!("need {n}x{m} design values, {n} weights and {n} values per target")));
    }
    if !(alpha > 0.0 && alpha.is_finite()) {
        return Err(Error::invalid("weighted_ridge", format!("alpha must be positive, got {alpha}")));
    }
    let wsum: f64 = w.iter().sum();
    if !(wsum > 0.0 && wsum.is_finite()) || w.iter().any(|&v| v < 0.0 || !v.is_finite()) {
        return Err(Error::invalid("weighted_ridge", "the sample weights must be finite, >= 0 and not all 0"));
    }
    let mut zbar = vec![0.0f64; m];
    for (row, &wi) in z.chunks_exact(m.max(1)).zip(w) {
        for (a, &v) in zbar.iter_mut().zip(row) {
            *a += wi * v;
        }
    }
    zbar.iter_mut().for_each(|v| *v /= wsum);
    // A = Zcᵀ Π Zc + αI (lower triangle is enough for the factorisation; fill both for clarity)
    let mut a = vec![0.0f64; m * m];
    let mut zc = vec![0.0f64; m];
    for (row, &wi) in z.chunks_exact(m.max(1)).zip(w) {
        for j in 0..m {
            zc[j] = row[j] - zbar[j];
        }
        for i in 0..m {
            let s = wi * zc[i];
            if s == 0.0 {
                continue;
            }
            for j in 0..=i {
                a[i * m + j] += s * zc[j];
            }
        }
    }
    for i in 0..m {
        a[i * m + i] += alpha;
        for j in 0..i {
            a[j * m + i] = a[i * m + j];
        }
    }
    cholesky(&mut a, m)?;
    let mut fits = Vec::with_capacity(targets.len());
    for y in targets {
        let ybar = y.iter().zip(w).map(|(v, wi)| v * wi).sum::<f64>() / wsum;
        let mut beta = vec![0.0f64; m];
        for (row, (&yi, &wi)) in z.chunks_exact(m.max(1)).zip(y.iter().zip(w)) {
            let r = wi * (yi - ybar);
            for j in 0..m {
                beta[j] += r * (row[j] - zbar[j]);
            }
        }
        cholesky_solve(&a, m, &mut beta);
        let intercept = ybar - zbar.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>();
        let (mut ss_res, mut ss_tot) = (0.0f64, 0.0f64);
        for (i, (&yi, &wi)) in y.iter().zip(w).enumerate() {
            let pred = intercept + z[i * m..(i + 1) * m].iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>();
            ss_res += wi * (yi - pred).powi(2);
            ss_tot += wi * (yi - ybar).powi(2);
        }
        let r2 = if ss_tot > 0.0 {
            1.0 - ss_res / ss_tot
        } else if ss_res == 0.0 {
            1.0
        } else {
            0.0
        };
        fits.push(RidgeFit { coef: beta, intercept, r2 });
    }
    Ok(fits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_of_a_known_matrix() {
        // A = L Lᵀ with L = [[2,0,0],[1,3,0],[-1,2,1]]
        let mut a = vec![4.0, 2.0, -2.0, 2.0, 10.0, 5.0, -2.0, 5.0, 6.0];
        cholesky(&mut a, 3).unwrap();
        for (got, want) in [a[0], a[3], a[4], a[6], a[7], a[8]].iter().zip([2.0, 1.0, 3.0, -1.0, 2.0, 1.0]) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let mut b = vec![4.0 * 1.0 + 2.0 * 2.0 - 2.0 * 3.0, 2.0 + 20.0 + 15.0, -2.0 + 10.0 + 18.0];
        cholesky_solve(&a, 3, &mut b);
        for (got, want) in b.iter().zip([1.0, 2.0, 3.0]) {
            assert!((got - want).abs() < 1e-12);
        }
        let mut not_pd = vec![1.0, 2.0, 2.0, 1.0];
        assert!(cholesky(&mut not_pd, 2).is_err());
    }
}
