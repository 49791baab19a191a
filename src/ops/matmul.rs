//! Matrix product and the dense (fully connected) layer's affine map.

use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// `C[m,n] = A[m,k] · B[k,n]` with strides (row, col) for A and B; C row-major. Parallel
/// over blocks of C for large products; the result does not depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(m: usize, k: usize, n: usize, a: &[f32], rsa: usize, csa: usize, b: &[f32], rsb: usize, csb: usize, c: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    pupil_kernels::sgemm_par(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, n);
}

/// `Y = A · B` for `A: [m, k]`, `B: [k, n]`.
///
/// Backward: `dA = G · Bᵀ` (`[m,n]·[n,k]`), `dB = Aᵀ · G` (`[k,m]·[m,n]`).
pub fn matmul(a: &Var, b: &Var) -> Result<Var> {
    let (sa, sb) = (a.shape(), b.shape());
    if sa.len() != 2 || sb.len() != 2 || sa[1] != sb[0] {
        return Err(Error::Shape { op: "matmul", lhs: sa.to_vec(), rhs: sb.to_vec(), detail: "needs [m, k] · [k, n]".into() });
    }
    let (m, k, n) = (sa[0], sa[1], sb[1]);
    let mut y = pupil_kernels::buffer(m * n); // written in full by gemm
    gemm(m, k, n, a.value().data(), k, 1, b.value().data(), n, 1, &mut y);
    let (av, bv) = (a.value().clone(), b.value().clone());
    Ok(Var::from_op("matmul", &[a, b], Tensor::from_vec(y, &[m, n])?, move |g, need| {
        let da = if need[0] {
            let mut d = pupil_kernels::buffer(m * k);
            gemm(m, n, k, g.data(), n, 1, bv.data(), 1, n, &mut d);
            Some(Tensor::from_vec(d, &[m, k])?)
        } else {
            None
        };
        let db = if need[1] {
            let mut d = pupil_kernels::buffer(k * n);
            gemm(k, m, n, av.data(), 1, k, g.data(), n, 1, &mut d);
            Some(Tensor::from_vec(d, &[k, n])?)
        } else {
            None
        };
        Ok(vec![da, db])
    }))
}

/// How a dense weight is laid out in memory.
#[derive(Clone, Copy, PartialEq)]
enum WeightLayout {
    /// `[in, out]` (Keras' kernel): `Y = X · W`.
    InOut,
    /// `[out, in]` (PyTorch's `nn.Linear.weight`): `Y = X · Wᵀ`.
    OutIn,
}

/// Dense layer: `Y = X · W + b` for `X: [N, in]`, `W: [in, out]`, `b: [out]` (Keras layout).
///
/// Backward: `dX = G · Wᵀ`, `dW = Xᵀ · G`, `db = Σ_rows G` (summed in row order, so the
/// result does not depend on the number of threads).
pub fn linear(x: &Var, w: &Var, b: Option<&Var>) -> Result<Var> {
    affine(x, w, b, WeightLayout::InOut)
}

/// Dense layer in PyTorch's layout (`torch.nn.functional.linear`): `Y = X · Wᵀ + b` for
/// `X: [N, in]`, `W: [out, in]`, `b: [out]`. The transpose is only a choice of strides for the
/// GEMM (which packs its operands anyway), so it costs nothing.
///
/// Backward: `dX = G · W` (`[N,out]·[out,in]`), `dW = Gᵀ · X` (`[out,N]·[N,in]`),
/// `db = Σ_rows G` (in row order: independent of the thread count).
pub fn linear_t(x: &Var, w: &Var, b: Option<&Var>) -> Result<Var> {
    affine(x, w, b, WeightLayout::OutIn)
}

fn affine(x: &Var, w: &Var, b: Option<&Var>, layout: WeightLayout) -> Result<Var> {
    let (sx, sw) = (x.shape(), w.shape());
    let (op, want) = match layout {
        WeightLayout::InOut => ("linear", "needs input [N, in] and weight [in, out]"),
        WeightLayout::OutIn => ("linear_t", "needs input [N, in] and weight [out, in]"),
    };
    let din_w = match layout {
        WeightLayout::InOut => sw.first(),
        WeightLayout::OutIn => sw.get(1),
    };
    if sx.len() != 2 || sw.len() != 2 || Some(&sx[1]) != din_w {
        return Err(Error::Shape { op, lhs: sx.to_vec(), rhs: sw.to_vec(), detail: want.into() });
    }
    let (nb, din) = (sx[0], sx[1]);
    let dout = if layout == WeightLayout::InOut { sw[1] } else { sw[0] };
    if dout == 0 {
        return Err(Error::Shape { op, lhs: sx.to_vec(), rhs: sw.to_vec(), detail: "the weight has no output column".into() });
    }
    if let Some(b) = b {
        if b.shape() != [dout] {
            return Err(Error::Shape { op, lhs: b.shape().to_vec(), rhs: vec![dout], detail: "bias must be [out]".into() });
        }
    }
    // strides (row, col) of W read as the [in, out] matrix of Y = X · W
    let (rsw, csw) = if layout == WeightLayout::InOut { (dout, 1) } else { (1, din) };
    // Weights that take no gradient (inference, frozen layers) serve many calls unchanged: their
    // GEMM operand is packed once and kept with them (`Tensor::packed_b`), same bits.
    let packed = (!w.requires_grad() && nb > 0).then(|| w.value().packed_b(din, dout, rsw, csw));
    let mut y = pupil_kernels::buffer(nb * dout); // written in full by either GEMM
    match packed {
        Some(p) => pupil_kernels::sgemm_packed(nb, 1.0, x.value().data(), din, 1, &p, 0.0, &mut y, dout),
        None => gemm(nb, din, dout, x.value().data(), din, 1, w.value().data(), rsw, csw, &mut y),
    }
    if let Some(b) = b {
        for row in y.chunks_mut(dout) {
            for (v, bb) in row.iter_mut().zip(b.value().data()) {
                *v += bb;
            }
        }
    }
    let (xv, wv) = (x.value().clone(), w.value().clone());
    let y = Tensor::from_vec(y, &[nb, dout])?;
    let backward = move |g: &Tensor, need: &[bool]| {
        let dx = if need[0] {
            // dX = G · Wᵀ over the [in, out] view: element (o, i) of Wᵀ is at o·csw + i·rsw
            let mut d = pupil_kernels::buffer(nb * din);
            gemm(nb, dout, din, g.data(), dout, 1, wv.data(), csw, rsw, &mut d);
            Some(Tensor::from_vec(d, &[nb, din])?)
        } else {
            None
        };
        let dw = if need[1] {
            let mut d = pupil_kernels::buffer(din * dout);
            match layout {
                // dW = Xᵀ · G, [in, out]
                WeightLayout::InOut => gemm(din, nb, dout, xv.data(), 1, din, g.data(), dout, 1, &mut d),
                // dW = Gᵀ · X, [out, in]
                WeightLayout::OutIn => gemm(dout, nb, din, g.data(), 1, dout, xv.data(), din, 1, &mut d),
            }
            Some(Tensor::from_vec(d, wv.shape())?)
        } else {
            None
        };
        let mut out = vec![dx, dw];
        if need.len() > 2 {
            let db = if need[2] {
                let mut db = vec![0.0f32; dout];
                for row in g.data().chunks(dout) {
                    for (d, v) in db.iter_mut().zip(row) {
                        *d += v;
                    }
                }
                Some(Tensor::from_vec(db, &[dout])?)
            } else {
                None
            };
            out.push(db);
        }
        Ok(out)
    };
    Ok(match b {
        Some(b) => Var::from_op(op, &[x, w, b], y, backward),
        None => Var::from_op(op, &[x, w], y, backward),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::{gradcheck, GradcheckOptions, Graph, Var};

    fn transpose(t: &Tensor) -> Tensor {
        let (r, c) = (t.shape()[0], t.shape()[1]);
        let d: Vec<f32> = (0..c * r).map(|j| t.data()[(j % r) * c + j / r]).collect();
        Tensor::from_vec(d, &[c, r]).unwrap()
    }

    #[test]
    fn linear_t_gradcheck() {
        for (i, (n, din, dout)) in [(1, 1, 1), (3, 5, 5), (4, 7, 2), (2, 3, 9)].into_iter().enumerate() {
            let s = 10 * i as u64;
            let (x, w, b) = (
                Tensor::rand_normal(&[n, din], 0.0, 1.0, s),
                Tensor::rand_normal(&[dout, din], 0.0, 1.0, s + 1),
                Tensor::rand_normal(&[dout], 0.0, 1.0, s + 2),
            );
            gradcheck(|_, v| linear_t(&v[0], &v[1], Some(&v[2])), &[x.clone(), w.clone(), b], &GradcheckOptions::default()).unwrap();
            gradcheck(|_, v| linear_t(&v[0], &v[1], None), &[x, w], &GradcheckOptions::default()).unwrap();
        }
    }

    /// `linear_t(x, W)` equals `linear(x, Wᵀ)` in value and in every gradient (the gradient of
    /// the [out, in] weight being the transpose of the [in, out] one), on a square weight
    /// where a wrong transpose would still fit the shapes.
    #[test]
    fn linear_t_is_linear_of_the_transpose() {
        let (x, w, b) = (Tensor::rand_normal(&[6, 5], 0.0, 1.0, 1), Tensor::rand_normal(&[5, 5], 0.0, 1.0, 2), Tensor::rand_normal(&[5], 0.0, 1.0, 3));
        let run = |out_in: bool| {
            let g = Graph::new();
            let (xv, bv) = (g.leaf(x.clone()), g.leaf(b.clone()));
            let wv = g.leaf(if out_in { w.clone() } else { transpose(&w) });
            let y = if out_in { linear_t(&xv, &wv, Some(&bv)) } else { linear(&xv, &wv, Some(&bv)) }.unwrap();
            let loss = crate::ops::sum(&crate::ops::mul(&y, &y).unwrap()).unwrap();
            let grads = loss.backward().unwrap();
            let dw = grads.wrt(&wv).unwrap().clone();
            (y.value().clone(), grads.wrt(&xv).unwrap().clone(), if out_in { dw } else { transpose(&dw) }, grads.wrt(&bv).unwrap().clone())
        };
        let (a, b2) = (run(true), run(false));
        for (p, q) in [(&a.0, &b2.0), (&a.1, &b2.1), (&a.2, &b2.2), (&a.3, &b2.3)] {
            let diff = p.data().iter().zip(q.data()).map(|(u, v)| (u - v).abs()).fold(0.0f32, f32::max);
            assert!(diff < 1e-4, "{diff}");
        }
        let e = linear_t(&Graph::new().leaf(x.clone()), &Graph::new().leaf(Tensor::zeros(&[5, 4])), None).unwrap_err().to_string();
        assert!(e.contains("[out, in]"), "{e}");
    }

    /// A weight that takes no gradient is packed once and kept with its values: the product
    /// equals the one packing per call, bit for bit, in both layouts, for shapes across the
    /// GEMM's depth blocks and with ragged edges; changing the values (`data_mut`) drops the
    /// packed copy, so the next product sees the new values.
    #[test]
    fn frozen_weights_are_packed_once_with_the_same_bits() {
        for (i, (n, din, dout)) in [(1, 3, 1), (7, 300, 37), (33, 600, 130)].into_iter().enumerate() {
            let s = 40 + 10 * i as u64;
            let x = Tensor::rand_normal(&[n, din], 0.0, 1.0, s);
            let b = Tensor::rand_normal(&[dout], 0.0, 1.0, s + 1);
            for out_in in [true, false] {
                let shape = if out_in { [dout, din] } else { [din, dout] };
                let mut w = Tensor::rand_normal(&shape, 0.0, 1.0, s + 2);
                let layer = |g: &Graph, w: Var| {
                    let (xv, bv) = (g.constant(x.clone()), g.constant(b.clone()));
                    let y = if out_in { linear_t(&xv, &w, Some(&bv)) } else { linear(&xv, &w, Some(&bv)) };
                    y.unwrap().value().clone()
                };
                for _ in 0..2 {
                    let want = {
                        let g = Graph::new();
                        layer(&g, g.leaf(w.clone())) // a gradient wanted: packed per call
                    };
                    for _ in 0..2 {
                        let g = Graph::no_grad();
                        let got = layer(&g, g.constant(w.clone()));
                        assert!(got.data().iter().zip(want.data()).all(|(p, q)| p.to_bits() == q.to_bits()), "{n}x{din}x{dout} out_in {out_in}");
                    }
                    // `w` is not shared now: the values change in place, packed copy and all.
                    w.data_mut()[0] += 1.0;
                }
            }
        }
    }

    /// The packed copy is made where it pays and only there: a forward pass that records a
    /// gradient for the weight keeps none; one that does not keeps one, and the weight's
    /// values used the other way round (`linear` reads `[in, out]`, `linear_t` `[out, in]`) by a
    /// square layer on the same storage are packed per call, with the same bits as the
    /// recording path, rather than read through the first layout's panels.
    #[test]
    fn packed_weights_follow_the_layout_they_were_packed_for() {
        let d = 40;
        let x = Tensor::rand_normal(&[9, d], 0.0, 1.0, 71);
        let w = Tensor::rand_normal(&[d, d], 0.0, 1.0, 72);
        let run = |g: &Graph, w: Var, out_in: bool| {
            let xv = g.constant(x.clone());
            let y = if out_in { linear_t(&xv, &w, None) } else { linear(&xv, &w, None) };
            y.unwrap().value().clone()
        };
        let recorded = |out_in: bool| {
            let g = Graph::new();
            run(&g, g.leaf(w.clone()), out_in)
        };
        let (want_t, want) = (recorded(true), recorded(false));
        assert!(!w.holds_packed(), "a weight that takes a gradient was packed");
        let g = Graph::no_grad();
        for (out_in, want) in [(true, &want_t), (false, &want), (true, &want_t)] {
            let got = run(&g, g.constant(w.clone()), out_in);
            assert!(w.holds_packed(), "no packed copy kept after a no-grad forward");
            assert!(got.data().iter().zip(want.data()).all(|(p, q)| p.to_bits() == q.to_bits()), "out_in {out_in}");
        }
    }
}
