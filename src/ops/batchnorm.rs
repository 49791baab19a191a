//! Batch normalisation (Ioffe & Szegedy 2015): `BatchNorm2d` for `[N, C, H, W]` feature maps
//! (statistics per channel over N, H, W) and `BatchNorm1d` for `[N, F]` activations
//! (statistics per feature over N).
//!
//! Per-channel reductions are summed in f64 in a fixed order (16 partial sums over the values
//! in batch order, then those 16 in order) and run in parallel over channels; the elementwise passes run in parallel
//! over `(n, c)` rows. No result depends on the number of threads.

use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use pupil_kernels::{norm, CHUNK};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The running statistics of one batch-norm layer, updated in training mode and used in
/// evaluation mode.
///
/// `momentum` follows PyTorch: after each training batch
/// `running = (1 - momentum) · running + momentum · batch_statistic`. Keras' `BatchNormalization(
/// momentum = m)` uses `running = m · running + (1 - m) · batch`, so Keras' `m` corresponds to
/// `1 - m` here (Keras' default 0.99 is 0.01 here; PyTorch's default is 0.1).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BatchNormState {
    /// Running mean per channel (starts at 0).
    pub running_mean: Vec<f32>,
    /// Running unbiased variance per channel (starts at 1).
    pub running_var: Vec<f32>,
    /// Weight of the new batch statistic in the running average, in `[0, 1]`.
    pub momentum: f32,
    /// Added to the variance before the square root, `> 0` in practice (1e-5 in PyTorch, 1e-3 in Keras).
    pub eps: f32,
}

impl BatchNormState {
    /// Fresh statistics for `channels` channels: mean 0, variance 1.
    pub fn new(channels: usize, momentum: f32, eps: f32) -> Self {
        BatchNormState { running_mean: vec![0.0; channels], running_var: vec![1.0; channels], momentum, eps }
    }
}

/// The per-channel sums of `pupil_kernels::norm` for `[N, F]` values (one value per channel in
/// each of the `n` rows of `c`): channel `ch` gets `Σ_rows f(ch, a, b)`, the same sums in the
/// same order as `norm` gives with rows of one element (all in its first lane, row after row,
/// then added to the other lanes' zeros), but read a row at a time over blocks of channels,
/// in parallel over the blocks.
fn feature_sums<const K: usize>(n: usize, c: usize, a: &[f32], b: &[f32], f: impl Fn(usize, f32, f32) -> [f64; K] + Sync) -> Vec<[f64; K]> {
    const BLOCK: usize = 64;
    let blocks: Vec<Vec<[f64; K]>> = (0..c.div_ceil(BLOCK))
        .into_par_iter()
        .map(|blk| {
            let chs = blk * BLOCK..((blk + 1) * BLOCK).min(c);
            let mut acc = vec![[0.0f64; K]; chs.len()];
            for r in 0..n {
                let (ra, rb) = (&a[r * c + chs.start..r * c + chs.end], &b[r * c + chs.start..r * c + chs.end]);
                for (i, (acc, (&x, &y))) in acc.iter_mut().zip(ra.iter().zip(rb)).enumerate() {
                    let v = f(chs.start + i, x, y);
                    for k in 0..K {
                        acc[k] += v[k];
                    }
                }
            }
            acc
        })
        .collect();
    let lanes = |first: f64| {
        let mut l = [0.0f64; norm::LANES];
        l[0] = first;
        l.iter().sum::<f64>()
    };
    blocks.into_iter().flatten().map(|v| v.map(lanes)).collect()
}

/// Calls `f(c)` for every channel in parallel and collects the results in channel order.
fn per_channel<T: Send>(c: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    (0..c).into_par_iter().map(f).collect()
}

/// Checks the shapes and settings of a batch norm of `x` (`[N, C, H, W]` or `[N, C]`);
/// returns `(N, C, H·W)` (`H·W = 1` for `[N, C]`).
fn check(s: &[usize], gamma: &[usize], beta: &[usize], state: &BatchNormState) -> Result<(usize, usize, usize)> {
    const OP: &str = "batch_norm";
    let (n, c, inner) = match s.len() {
        2 => (s[0], s[1], 1),
        4 => (s[0], s[1], s[2] * s[3]),
        _ => {
            return Err(Error::Shape { op: OP, lhs: s.to_vec(), rhs: gamma.to_vec(), detail: "x must be [N, C, H, W] or [N, F]".into() });
        }
    };
    for (name, p) in [("gamma", gamma), ("beta", beta)] {
        if p != [c] {
            return Err(Error::Shape { op: OP, lhs: s.to_vec(), rhs: p.to_vec(), detail: format!("{name} must be [{c}] (one per channel of x)") });
        }
    }
    if state.running_mean.len() != c || state.running_var.len() != c {
        return Err(Error::Shape {
            op: OP,
            lhs: s.to_vec(),
            rhs: vec![state.running_mean.len(), state.running_var.len()],
            detail: format!("running mean/var have {}/{} channels, x has {c}", state.running_mean.len(), state.running_var.len()),
        });
    }
    if !(state.eps >= 0.0 && state.eps.is_finite() && (0.0..=1.0).contains(&state.momentum)) {
        return Err(Error::invalid(OP, format!("need eps >= 0 and momentum in [0, 1], got eps {} momentum {}", state.eps, state.momentum)));
    }
    Ok((n, c, inner))
}

/// `1 / sqrt(σ² + eps)` (in f64) and `γ / sqrt(σ² + eps)` per channel.
fn scales(var: &[f32], eps: f32, gamma: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let invstd: Vec<f32> = var.iter().map(|&v| (1.0 / (v as f64 + eps as f64).sqrt()) as f32).collect();
    let scale = gamma.iter().zip(&invstd).map(|(&g, &i)| g * i).collect();
    (invstd, scale)
}

/// Batch norm in evaluation mode as the per-channel map `(v - mean)·scale + shift` that
/// [`batch_norm`] applies to an `x` of shape `s` (the running mean, `γ / sqrt(running_var +
/// eps)`, β; the same values), for an op that applies it itself (a convolution's epilogue).
/// Errors as [`batch_norm`] does.
pub(crate) fn eval_map(s: &[usize], gamma: &[f32], beta: &[f32], state: &BatchNormState) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    let (n, _, inner) = check(s, &[gamma.len()], &[beta.len()], state)?;
    if n * inner == 0 {
        return Err(Error::invalid("batch_norm", format!("need at least 1 value per channel in eval, got 0 for x of {s:?}")));
    }
    let (_, scale) = scales(&state.running_var, state.eps, gamma);
    Ok((state.running_mean.clone(), scale, beta.to_vec()))
}

/// Batch normalisation of `x` (`[N, C, H, W]` or `[N, C]`) with scale `gamma: [C]` and shift
/// `beta: [C]`:
///
/// `y = γ_c · (x - μ_c) / sqrt(σ²_c + eps) + β_c`
///
/// - `train == true`: `μ_c`, `σ²_c` are the mean and the biased variance (divided by `M`) of
///   channel `c` over the `M = N·H·W` values of the batch; needs `M >= 2`. The running
///   statistics are then updated: `running_mean = (1-m)·running_mean + m·μ_c` and
///   `running_var = (1-m)·running_var + m·σ²_c·M/(M-1)` (unbiased), `m = state.momentum`.
/// - `train == false`: `μ_c`, `σ²_c` are `state.running_mean`/`running_var`; the op is then an
///   affine map per channel and `state` is not changed.
///
/// Backward, with `x̂ = (x - μ)/sqrt(σ² + eps)` and sums over the `M` values of a channel:
/// `dβ_c = Σ g`, `dγ_c = Σ g·x̂`, and
/// - train: `dx = γ_c / sqrt(σ²_c + eps) · (g - dβ_c/M - x̂ · dγ_c/M)` (the full gradient
///   through the batch mean and variance);
/// - eval: `dx = γ_c / sqrt(σ²_c + eps) · g`.
pub fn batch_norm(x: &Var, gamma: &Var, beta: &Var, state: &mut BatchNormState, train: bool) -> Result<Var> {
    let s = x.shape();
    let (n, c, inner) = check(s, gamma.shape(), beta.shape(), state)?;
    let m = n * inner;
    if m == 0 || (train && m < 2) {
        return Err(Error::invalid(
            "batch_norm",
            format!("need more than 1 value per channel in training mode (and at least 1 in eval), got {m} for x of {s:?}"),
        ));
    }
    let xv = x.value().clone();
    let xd = xv.data();
    // Values of channel `ch`: rows b*c + ch (b = 0..n, in order) of `inner` elements each.
    let rows_of = move |ch: usize| (0..n).map(move |b| (b * c + ch) * inner..(b * c + ch + 1) * inner);
    let (mean, var): (Vec<f32>, Vec<f32>) = if train {
        // One pass over x: the sums of `v - k` and `(v - k)²` in f64 around the channel's first
        // value `k` (shifted data: no cancellation worth a digit of f32 unless the mean lies
        // millions of standard deviations from `k`). Two passes (the mean, then the squared
        // deviations from it) read alexnet-bn's 63 MB first feature map twice.
        let moments = |k: f64, [s1, s2]: [f64; 2]| {
            let d = s1 / m as f64;
            // rounding may leave a tiny negative variance: clamp it, but keep a NaN (from a
            // NaN or an infinity in the channel) a NaN, as the two-pass sums gave
            let v = s2 / m as f64 - d * d;
            (k + d, if v < 0.0 { 0.0 } else { v })
        };
        let stats: Vec<(f64, f64)> = if inner == 1 {
            let ks: Vec<f64> = xd[..c].iter().map(|&v| v as f64).collect();
            let sums = feature_sums(n, c, xd, xd, |ch, v, _| norm::shifted_terms(v, ks[ch]));
            ks.iter().zip(sums).map(|(&k, s)| moments(k, s)).collect()
        } else {
            per_channel(c, |ch| {
                let k = xd[ch * inner] as f64;
                let mut acc = [[0.0; norm::LANES]; 2];
                rows_of(ch).for_each(|r| norm::shifted_sums(&xd[r], k, &mut acc));
                moments(k, norm::total(&acc))
            })
        };
        let mo = state.momentum as f64;
        for (ch, &(mu, v)) in stats.iter().enumerate() {
            let unbiased = v * m as f64 / (m - 1) as f64;
            state.running_mean[ch] = ((1.0 - mo) * state.running_mean[ch] as f64 + mo * mu) as f32;
            state.running_var[ch] = ((1.0 - mo) * state.running_var[ch] as f64 + mo * unbiased) as f32;
        }
        stats.iter().map(|&(mu, v)| (mu as f32, v as f32)).unzip()
    } else {
        (state.running_mean.clone(), state.running_var.clone())
    };
    let (gv, bv) = (gamma.value().clone(), beta.value().clone());
    // y = (x - μ) · (γ / σ) + β, in parallel over (n, c) rows.
    let (invstd, scale) = scales(&var, state.eps, gv.data());
    let min = (CHUNK / inner).max(1);
    let mut y = pupil_kernels::buffer(xd.len()); // every row written below
    if inner == 1 {
        // [N, F]: a row per sample, the channel varies along it
        let shift = bv.data();
        y.par_chunks_mut(c).zip(xd.par_chunks(c)).with_min_len((CHUNK / c).max(1)).for_each(|(o, xs)| {
            for (ch, (o, &v)) in o.iter_mut().zip(xs).enumerate() {
                *o = (v - mean[ch]) * scale[ch] + shift[ch];
            }
        });
    } else {
        y.par_chunks_mut(inner).zip(xd.par_chunks(inner)).enumerate().with_min_len(min).for_each(|(r, (o, xs))| {
            let ch = r % c;
            let (mu, a, b) = (mean[ch], scale[ch], bv.data()[ch]);
            for (o, &v) in o.iter_mut().zip(xs) {
                *o = (v - mu) * a + b;
            }
        });
    }
    let y = Tensor::from_vec(y, s)?;
    Ok(Var::from_op("batch_norm", &[x, gamma, beta], y, move |g, need| {
        let (xd, gd) = (xv.data(), g.data());
        // dβ_c = Σ g and dγ_c = Σ g·x̂ per channel, in f64, fixed order.
        let sums: Vec<(f64, f64)> = if inner == 1 {
            feature_sums(n, c, xd, gd, |ch, v, g| norm::grad_terms(v, g, mean[ch], invstd[ch])).into_iter().map(|[a, b]| (a, b)).collect()
        } else {
            per_channel(c, |ch| {
                let mut acc = [[0.0; norm::LANES]; 2];
                rows_of(ch).for_each(|r| norm::grad_sums(&xd[r.clone()], &gd[r], mean[ch], invstd[ch], &mut acc));
                let [sg, sgx] = norm::total(&acc);
                (sg, sgx)
            })
        };
        let dx = if need[0] && inner == 1 {
            // [N, F]: as below, a row per sample
            let (mg, mgx): (Vec<f32>, Vec<f32>) = sums.iter().map(|&(a, b)| ((a / m as f64) as f32, (b / m as f64) as f32)).unzip();
            let mut d = pupil_kernels::buffer(xd.len()); // every row written below
            d.par_chunks_mut(c).zip(xd.par_chunks(c).zip(gd.par_chunks(c))).with_min_len((CHUNK / c).max(1)).for_each(|(d, (xs, gs))| {
                for (ch, (d, (&v, &g))) in d.iter_mut().zip(xs.iter().zip(gs)).enumerate() {
                    *d = if train { scale[ch] * (g - mg[ch] - (v - mean[ch]) * invstd[ch] * mgx[ch]) } else { scale[ch] * g };
                }
            });
            Some(Tensor::from_vec(d, xv.shape())?)
        } else if need[0] {
            let mut d = pupil_kernels::buffer(xd.len()); // every row written below
            d.par_chunks_mut(inner).zip(xd.par_chunks(inner).zip(gd.par_chunks(inner))).enumerate().with_min_len(min).for_each(|(r, (d, (xs, gs)))| {
                let ch = r % c;
                let (mu, is, k) = (mean[ch], invstd[ch], scale[ch]);
                if train {
                    let (mg, mgx) = ((sums[ch].0 / m as f64) as f32, (sums[ch].1 / m as f64) as f32);
                    for ((d, &v), &g) in d.iter_mut().zip(xs).zip(gs) {
                        *d = k * (g - mg - (v - mu) * is * mgx);
                    }
                } else {
                    for (d, &g) in d.iter_mut().zip(gs) {
                        *d = k * g;
                    }
                }
            });
            Some(Tensor::from_vec(d, xv.shape())?)
        } else {
            None
        };
        let dgamma = if need[1] { Some(Tensor::from_vec(sums.iter().map(|s| s.1 as f32).collect(), &[c])?) } else { None };
        let dbeta = if need[2] { Some(Tensor::from_vec(sums.iter().map(|s| s.0 as f32).collect(), &[c])?) } else { None };
        Ok(vec![dx, dgamma, dbeta])
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Graph;

    /// `[N, F]` input with more features than one block of [`feature_sums`]: the training
    /// output, the running statistics and all three gradients against the formulas computed
    /// in f64, per feature, one value at a time.
    /// A NaN or an infinity in a channel makes its variance NaN (not 0) and its mean not finite,
    /// in both layouts, as the two-pass sums did; the other channel keeps finite ones.
    #[test]
    fn a_nan_or_infinity_in_a_channel_gives_nan_statistics() {
        for (shape, bad) in [(vec![4, 2, 3, 3], 9 + 4), (vec![5, 2], 3)] {
            for v in [f32::NAN, f32::INFINITY] {
                let mut data = vec![1.0f32; shape.iter().product()];
                data.iter_mut().enumerate().for_each(|(i, x)| *x += (i % 5) as f32 * 0.25);
                data[bad] = v;
                let g = Graph::new();
                let x = g.leaf(Tensor::from_vec(data, &shape).unwrap());
                let (gamma, beta) = (g.leaf(Tensor::from_vec(vec![1.0; 2], &[2]).unwrap()), g.leaf(Tensor::zeros(&[2])));
                let mut state = BatchNormState::new(2, 0.1, 1e-5);
                batch_norm(&x, &gamma, &beta, &mut state, true).unwrap();
                assert!(state.running_var[1].is_nan() && !state.running_mean[1].is_finite(), "{shape:?} {v}: {state:?}");
                assert!(state.running_var[0].is_finite() && state.running_mean[0].is_finite(), "{shape:?} {v}: {state:?}");
            }
        }
    }

    #[test]
    fn flat_input_over_several_feature_blocks_matches_the_formulas() {
        let (n, f) = (7, 150);
        let xv = Tensor::rand_normal(&[n, f], 0.5, 2.0, 1);
        let gv = Tensor::rand_normal(&[n, f], 0.0, 1.0, 2);
        let (gm, bt) = (Tensor::rand_normal(&[f], 1.0, 0.3, 3), Tensor::rand_normal(&[f], 0.0, 0.3, 4));
        let g = Graph::new();
        let (x, gamma, beta) = (g.leaf(xv.clone()), g.leaf(gm.clone()), g.leaf(bt.clone()));
        let mut st = BatchNormState::new(f, 0.1, 1e-3);
        let y = batch_norm(&x, &gamma, &beta, &mut st, true).unwrap();
        let grads = y.backward_with(gv.clone()).unwrap();
        let (dx, dg, db) = (grads.wrt(&x).unwrap(), grads.wrt(&gamma).unwrap(), grads.wrt(&beta).unwrap());
        let close = |a: f32, b: f64, what: &str| assert!((a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what}: {a} vs {b}");
        for ch in 0..f {
            let col = |t: &Tensor| (0..n).map(|r| t.data()[r * f + ch] as f64).collect::<Vec<f64>>();
            let (xs, gs) = (col(&xv), col(&gv));
            let mu = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n as f64;
            let is = 1.0 / (var + 1e-3).sqrt();
            let xh: Vec<f64> = xs.iter().map(|v| (v - mu) * is).collect();
            let (sg, sgx) = (gs.iter().sum::<f64>(), gs.iter().zip(&xh).map(|(g, h)| g * h).sum::<f64>());
            let k = gm.data()[ch] as f64 * is;
            for r in 0..n {
                close(y.value().data()[r * f + ch], k * (xs[r] - mu) + bt.data()[ch] as f64, "y");
                close(dx.data()[r * f + ch], k * (gs[r] - sg / n as f64 - xh[r] * sgx / n as f64), "dx");
            }
            close(dg.data()[ch], sgx, "dgamma");
            close(db.data()[ch], sg, "dbeta");
            close(st.running_mean[ch], 0.1 * mu, "running mean");
            close(st.running_var[ch], 0.9 + 0.1 * var * n as f64 / (n - 1) as f64, "running var");
        }
    }
}
