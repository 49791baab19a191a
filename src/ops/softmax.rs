//! Softmax and log-softmax over the last axis of `[N, K]` logits, and the classification
//! losses built on them: cross-entropy from logits (plain, or class-weighted as PyTorch's
//! `CrossEntropyLoss(weight=...)`) and the negative log-likelihood of log-probabilities.
//!
//! Everything is computed stably: each row is shifted by its maximum before `exp`, so logits of
//! `1e4` (or `-1e4`) give finite, correct results. Rows are processed in parallel; every row is
//! computed by the same sequential code and the batch loss is summed over rows in row order (in
//! f64), so results do not depend on the number of threads.

use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use pupil_kernels::CHUNK;
use rayon::prelude::*;

/// `(N, K)` of a non-empty `[N, K]` tensor.
fn rows(op: &'static str, x: &Var) -> Result<(usize, usize)> {
    let s = x.shape();
    if s.len() != 2 || s[1] == 0 {
        return Err(Error::invalid(op, format!("needs [N, K] with K >= 1 classes, got {s:?}")));
    }
    Ok((s[0], s[1]))
}

/// Rows per parallel task for rows of `k` elements.
fn min_rows(k: usize) -> usize {
    (CHUNK / k.max(1)).max(1)
}

/// Writes `softmax(x)` of one row into `out` and returns `(m, log Σ_j exp(x_j - m))` with
/// `m` the row maximum; the log-sum-exp is their sum, but keeping them apart lets callers form
/// `(x_j - m) - log Σ` without losing the small term against a huge `m`.
#[inline]
fn softmax_row(x: &[f32], out: &mut [f32]) -> (f32, f32) {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0f64;
    for (o, &v) in out.iter_mut().zip(x) {
        let e = (v - m).exp();
        *o = e;
        s += e as f64;
    }
    let inv = (1.0 / s) as f32;
    for o in out.iter_mut() {
        *o *= inv;
    }
    (m, s.ln() as f32)
}

/// Checks `labels` against `[N, K]`: one label per row, each `< K`.
fn check_labels(op: &'static str, n: usize, k: usize, labels: &[usize]) -> Result<()> {
    if labels.len() != n {
        return Err(Error::Shape {
            op,
            lhs: vec![n, k],
            rhs: vec![labels.len()],
            detail: format!("{} labels for {n} rows: need one label per row", labels.len()),
        });
    }
    if n == 0 {
        return Err(Error::invalid(op, "empty batch: the mean over 0 rows is undefined"));
    }
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= k) {
        return Err(Error::invalid(op, format!("label {l} (row {i}) is out of range for K = {k} classes")));
    }
    Ok(())
}

/// Softmax over the last axis of `x: [N, K]`: `y_ij = exp(x_ij - m_i) / Σ_k exp(x_ik - m_i)`
/// with `m_i = max_k x_ik` (the shift cancels mathematically and keeps `exp` from
/// overflowing).
///
/// Backward (per row): `dx = y ⊙ (g - <g, y>)`.
pub fn softmax(x: &Var) -> Result<Var> {
    let (_, k) = rows("softmax", x)?;
    let mut y = vec![0.0f32; x.value().len()];
    y.par_chunks_mut(k).zip(x.value().data().par_chunks(k)).with_min_len(min_rows(k)).for_each(|(o, xs)| {
        softmax_row(xs, o);
    });
    let y = Tensor::from_vec(y, x.shape())?;
    let yv = y.clone();
    Ok(Var::from_op("softmax", &[x], y, move |g, _| {
        let mut d = vec![0.0f32; yv.len()];
        d.par_chunks_mut(k).zip(yv.data().par_chunks(k).zip(g.data().par_chunks(k))).with_min_len(min_rows(k)).for_each(|(d, (y, g))| {
            let dot: f64 = y.iter().zip(g).map(|(&y, &g)| y as f64 * g as f64).sum();
            let dot = dot as f32;
            for ((d, &y), &g) in d.iter_mut().zip(y).zip(g) {
                *d = y * (g - dot);
            }
        });
        Ok(vec![Some(Tensor::from_vec(d, yv.shape())?)])
    }))
}

/// Log-softmax over the last axis of `x: [N, K]`:
/// `y_ij = x_ij - m_i - log Σ_k exp(x_ik - m_i)` with `m_i = max_k x_ik`.
///
/// Backward (per row): `dx = g - softmax(x) · Σ_k g_k`, with `softmax(x) = exp(y)`.
pub fn log_softmax(x: &Var) -> Result<Var> {
    let (_, k) = rows("log_softmax", x)?;
    let mut y = vec![0.0f32; x.value().len()];
    y.par_chunks_mut(k).zip(x.value().data().par_chunks(k)).with_min_len(min_rows(k)).for_each(|(o, xs)| {
        let (m, ls) = softmax_row(xs, o);
        for (o, &v) in o.iter_mut().zip(xs) {
            *o = (v - m) - ls;
        }
    });
    let y = Tensor::from_vec(y, x.shape())?;
    let yv = y.clone();
    Ok(Var::from_op("log_softmax", &[x], y, move |g, _| {
        let mut d = vec![0.0f32; yv.len()];
        d.par_chunks_mut(k).zip(yv.data().par_chunks(k).zip(g.data().par_chunks(k))).with_min_len(min_rows(k)).for_each(|(d, (y, g))| {
            let s: f64 = g.iter().map(|&g| g as f64).sum();
            let s = s as f32;
            for ((d, &y), &g) in d.iter_mut().zip(y).zip(g) {
                *d = g - y.exp() * s;
            }
        });
        Ok(vec![Some(Tensor::from_vec(d, yv.shape())?)])
    }))
}

/// Cross-entropy of `logits: [N, K]` against integer `labels` (one per row, each `< K`):
/// `L = (1/N) Σ_i (log Σ_k exp(x_ik) - x_i,label_i) = -(1/N) Σ_i log_softmax(x)_i,label_i`,
/// computed with the row-max shift (finite for logits of any size). Returns a scalar `[]`.
///
/// Backward: `dx_ij = g · (softmax(x)_ij - [j = label_i]) / N`.
///
/// Errors: `labels.len() != N` (naming both) or a label `>= K` (naming the label and `K`).
pub fn cross_entropy(logits: &Var, labels: &[usize]) -> Result<Var> {
    ce("cross_entropy", logits, labels, None)
}

/// Class-weighted cross-entropy, the weighted mean PyTorch's `CrossEntropyLoss(weight=w)`
/// takes: with `l_i` the cross-entropy of row `i` and `w_c` the weight of class `c`,
/// `L = Σ_i w_{y_i} l_i / Σ_i w_{y_i}`. Equal weights give [`cross_entropy`]. A batch whose
/// rows all have weight 0 has nothing to learn from: its loss and gradient are 0 (PyTorch
/// returns NaN there).
///
/// Backward: `dx_ij = g · w_{y_i} (softmax(x)_ij - [j = y_i]) / Σ_i w_{y_i}`.
///
/// Errors: as [`cross_entropy`], and `weights.len() != K` or a weight that is negative or not
/// finite.
pub fn weighted_cross_entropy(logits: &Var, labels: &[usize], weights: &[f32]) -> Result<Var> {
    let (_, k) = rows("weighted_cross_entropy", logits)?;
    if weights.len() != k {
        return Err(Error::invalid("weighted_cross_entropy", format!("{} class weights for K = {k} classes", weights.len())));
    }
    if let Some((c, w)) = weights.iter().enumerate().find(|(_, w)| !(w.is_finite() && **w >= 0.0)) {
        return Err(Error::invalid("weighted_cross_entropy", format!("the weight {w} of class {c} is not a finite number >= 0")));
    }
    ce("weighted_cross_entropy", logits, labels, Some(weights))
}

/// The two cross-entropies: row weights `w_{y_i}` (all 1 without `weights`).
fn ce(op: &'static str, logits: &Var, labels: &[usize], weights: Option<&[f32]>) -> Result<Var> {
    let (n, k) = rows(op, logits)?;
    check_labels(op, n, k, labels)?;
    let mut p = vec![0.0f32; n * k];
    let mut row_loss = vec![0.0f32; n];
    p.par_chunks_mut(k).zip(logits.value().data().par_chunks(k)).zip(row_loss.par_iter_mut().zip(labels.par_iter())).with_min_len(min_rows(k)).for_each(
        |((o, xs), (l, &lab))| {
            let (m, ls) = softmax_row(xs, o);
            *l = (m - xs[lab]) + ls;
        },
    );
    // per-row factor of the gradient, w_{y_i} / Σ w (1/N unweighted), and the loss
    let (row_scale, loss): (Option<Vec<f32>>, f64) = match weights {
        None => (None, row_loss.iter().map(|&l| l as f64).sum::<f64>() / n as f64),
        Some(w) => {
            let total: f64 = labels.iter().map(|&l| w[l] as f64).sum();
            if total == 0.0 {
                (Some(vec![0.0; n]), 0.0)
            } else {
                let loss = row_loss.iter().zip(labels).map(|(&l, &y)| w[y] as f64 * l as f64).sum::<f64>() / total;
                (Some(labels.iter().map(|&y| (w[y] as f64 / total) as f32).collect()), loss)
            }
        }
    };
    let labels = labels.to_vec();
    let shape = logits.shape().to_vec();
    Ok(Var::from_op(op, &[logits], Tensor::scalar(loss as f32), move |g, _| {
        let g = g.data()[0];
        let mut d = vec![0.0f32; n * k];
        for (i, ((row, p), &lab)) in d.chunks_mut(k).zip(p.chunks(k)).zip(&labels).enumerate() {
            let s = match &row_scale {
                None => g / n as f32,
                Some(r) => g * r[i],
            };
            for (d, &p) in row.iter_mut().zip(p) {
                *d = p * s;
            }
            row[lab] -= s;
        }
        Ok(vec![Some(Tensor::from_vec(d, &shape)?)])
    }))
}

/// Negative log-likelihood of `log_probs: [N, K]` (e.g. the output of [`log_softmax`]) against
/// integer labels: `L = -(1/N) Σ_i x_i,label_i`, a scalar `[]`.
///
/// Backward: `dx_ij = -g / N` where `j = label_i`, 0 elsewhere.
///
/// Errors: `labels.len() != N` (naming both) or a label `>= K` (naming the label and `K`).
pub fn nll_loss(log_probs: &Var, labels: &[usize]) -> Result<Var> {
    let (n, k) = rows("nll_loss", log_probs)?;
    check_labels("nll_loss", n, k, labels)?;
    let x = log_probs.value().data();
    let loss = -labels.iter().enumerate().map(|(i, &l)| x[i * k + l] as f64).sum::<f64>() / n as f64;
    let labels = labels.to_vec();
    let shape = log_probs.shape().to_vec();
    Ok(Var::from_op("nll_loss", &[log_probs], Tensor::scalar(loss as f32), move |g, _| {
        let s = g.data()[0] / n as f32;
        let mut d = vec![0.0f32; n * k];
        for (i, &l) in labels.iter().enumerate() {
            d[i * k + l] = -s;
        }
        Ok(vec![Some(Tensor::from_vec(d, &shape)?)])
    }))
}
