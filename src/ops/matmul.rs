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
    let mut y = vec![0.0; m * n];
    gemm(m, k, n, a.value().data(), k, 1, b.value().data(), n, 1, &mut y);
    let (av, bv) = (a.value().clone(), b.value().clone());
    Ok(Var::from_op("matmul", &[a, b], Tensor::from_vec(y, &[m, n])?, move |g, need| {
        let da = if need[0] {
            let mut d = vec![0.0; m * k];
            gemm(m, n, k, g.data(), n, 1, bv.data(), 1, n, &mut d);
            Some(Tensor::from_vec(d, &[m, k])?)
        } else {
            None
        };
        let db = if need[1] {
            let mut d = vec![0.0; k * n];
            gemm(k, m, n, av.data(), 1, k, g.data(), n, 1, &mut d);
            Some(Tensor::from_vec(d, &[k, n])?)
        } else {
            None
        };
        Ok(vec![da, db])
    }))
}

/// Dense layer: `Y = X · W + b` for `X: [N, in]`, `W: [in, out]`, `b: [out]` (Keras layout).
///
/// Backward: `dX = G · Wᵀ`, `dW = Xᵀ · G`, `db = Σ_rows G` (summed in row order, so the
/// result does not depend on the number of threads).
pub fn linear(x: &Var, w: &Var, b: Option<&Var>) -> Result<Var> {
    let (sx, sw) = (x.shape(), w.shape());
    if sx.len() != 2 || sw.len() != 2 || sx[1] != sw[0] {
        return Err(Error::Shape { op: "linear", lhs: sx.to_vec(), rhs: sw.to_vec(), detail: "needs input [N, in] and weight [in, out]".into() });
    }
    let (nb, din, dout) = (sx[0], sx[1], sw[1]);
    if dout == 0 {
        return Err(Error::Shape { op: "linear", lhs: sx.to_vec(), rhs: sw.to_vec(), detail: "the weight has no output column".into() });
    }
    if let Some(b) = b {
        if b.shape() != [dout] {
            return Err(Error::Shape { op: "linear", lhs: b.shape().to_vec(), rhs: vec![dout], detail: "bias must be [out]".into() });
        }
    }
    let mut y = vec![0.0; nb * dout];
    gemm(nb, din, dout, x.value().data(), din, 1, w.value().data(), dout, 1, &mut y);
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
            let mut d = vec![0.0; nb * din];
            gemm(nb, dout, din, g.data(), dout, 1, wv.data(), 1, dout, &mut d);
            Some(Tensor::from_vec(d, &[nb, din])?)
        } else {
            None
        };
        let dw = if need[1] {
            let mut d = vec![0.0; din * dout];
            gemm(din, nb, dout, xv.data(), 1, din, g.data(), dout, 1, &mut d);
            Some(Tensor::from_vec(d, &[din, dout])?)
        } else {
            None
        };
        let mut out = vec![dx, dw];
        if need.len() > 2 {
            let mut db = vec![0.0f32; dout];
            for row in g.data().chunks(dout) {
                for (d, v) in db.iter_mut().zip(row) {
                    *d += v;
                }
            }
            out.push(Some(Tensor::from_vec(db, &[dout])?));
        }
        Ok(out)
    };
    Ok(match b {
        Some(b) => Var::from_op("linear", &[x, w, b], y, backward),
        None => Var::from_op("linear", &[x, w], y, backward),
    })
}
