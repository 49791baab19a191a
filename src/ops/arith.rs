//! Elementwise arithmetic, reductions and reshapes.

use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::tensor::{resolve_shape, Tensor};

fn same_shape(op: &'static str, a: &Var, b: &Var) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shape(op, a.shape(), b.shape()));
    }
    Ok(())
}

/// `y = a + b` (same shapes). `da = g`, `db = g`.
pub fn add(a: &Var, b: &Var) -> Result<Var> {
    same_shape("add", a, b)?;
    let v = a.value().zip_map(b.value(), |x, y| x + y)?;
    Ok(Var::from_op("add", &[a, b], v, |g, _| Ok(vec![Some(g.clone()), Some(g.clone())])))
}

/// `y = a - b` (same shapes). `da = g`, `db = -g`.
pub fn sub(a: &Var, b: &Var) -> Result<Var> {
    same_shape("sub", a, b)?;
    let v = a.value().zip_map(b.value(), |x, y| x - y)?;
    Ok(Var::from_op("sub", &[a, b], v, |g, _| Ok(vec![Some(g.clone()), Some(g.map(|x| -x))])))
}

/// `y = a ⊙ b` (same shapes). `da = g ⊙ b`, `db = g ⊙ a`.
pub fn mul(a: &Var, b: &Var) -> Result<Var> {
    same_shape("mul", a, b)?;
    let v = a.value().zip_map(b.value(), |x, y| x * y)?;
    let (av, bv) = (a.value().clone(), b.value().clone());
    Ok(Var::from_op("mul", &[a, b], v, move |g, need| {
        Ok(vec![if need[0] { Some(g.zip_map(&bv, |g, b| g * b)?) } else { None }, if need[1] { Some(g.zip_map(&av, |g, a| g * a)?) } else { None }])
    }))
}

/// `y = s · a`. `da = s · g`.
pub fn scale(a: &Var, s: f32) -> Result<Var> {
    let v = a.value().map(|x| s * x);
    Ok(Var::from_op("scale", &[a], v, move |g, _| Ok(vec![Some(g.map(|x| s * x))])))
}

/// `y = a + c` for a constant scalar `c`. `da = g`.
pub fn add_scalar(a: &Var, c: f32) -> Result<Var> {
    let v = a.value().map(|x| x + c);
    Ok(Var::from_op("add_scalar", &[a], v, |g, _| Ok(vec![Some(g.clone())])))
}

/// `y = Σ_i a_i` (a scalar of shape `[]`), summed in f64. `da_i = g`.
pub fn sum(a: &Var) -> Result<Var> {
    let v = Tensor::scalar(a.value().sum() as f32);
    let shape = a.shape().to_vec();
    Ok(Var::from_op("sum", &[a], v, move |g, _| Ok(vec![Some(Tensor::full(&shape, g.data()[0]))])))
}

/// `y = (1/n) Σ_i a_i`. `da_i = g / n`.
pub fn mean(a: &Var) -> Result<Var> {
    let n = a.value().len();
    if n == 0 {
        return Err(Error::invalid("mean", "mean of an empty tensor"));
    }
    let v = Tensor::scalar((a.value().sum() / n as f64) as f32);
    let shape = a.shape().to_vec();
    Ok(Var::from_op("mean", &[a], v, move |g, _| Ok(vec![Some(Tensor::full(&shape, g.data()[0] / n as f32))])))
}

/// Same values in a new shape (one dimension may be `usize::MAX`, "the rest").
/// The gradient is reshaped back.
pub fn reshape(a: &Var, shape: &[usize]) -> Result<Var> {
    let shape = resolve_shape(a.shape(), shape, "reshape")?;
    let v = a.value().reshape(&shape)?;
    let back = a.shape().to_vec();
    Ok(Var::from_op("reshape", &[a], v, move |g, _| Ok(vec![Some(g.reshape(&back)?)])))
}

/// `[N, ...] -> [N, prod(...)]`.
pub fn flatten(a: &Var) -> Result<Var> {
    let n = *a.shape().first().ok_or_else(|| Error::invalid("flatten", "a scalar has no batch dimension"))?;
    reshape(a, &[n, usize::MAX])
}
