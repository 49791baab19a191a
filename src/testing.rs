//! Property-testing gradients (feature `proptest`): strategies for shapes and tensors, and a
//! gradient check that fails a proptest case (so proptest shrinks it to a small example).
//!
//! Every op in pupil is tested this way (forward, backward, and the backward against central
//! finite differences, see [`crate::autograd::gradcheck`]); a user who writes an op of their
//! own, with [`Var::from_op`](crate::autograd::Var::from_op) or by composing [`crate::ops`], does
//! the same in a few lines:
//!
//! ```
//! use proptest::prelude::*;
//! use pupil::ops;
//! use pupil::testing::{assert_gradcheck, tensor_any_shape};
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(16))]
//!     // (`#[test]` in a test file; called by hand here)
//!     fn swish_gradient(x in tensor_any_shape(1..=3, 1..=5)) {
//!         // swish(x) = x * sigmoid(x), an op built from existing ones
//!         assert_gradcheck!(|_, v| ops::mul(&v[0], &ops::sigmoid(&v[0])?), x);
//!     }
//! }
//! swish_gradient();
//! ```

use crate::autograd::{gradcheck, GradcheckOptions, GradcheckReport, Graph, Var};
use crate::error::Result;
use crate::tensor::Tensor;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::ops::{Range, RangeInclusive};

pub use crate::assert_gradcheck;

/// Shapes of `rank` dimensions (a range of ranks), each dimension in `dim`.
pub fn shape(rank: RangeInclusive<usize>, dim: RangeInclusive<usize>) -> impl Strategy<Value = Vec<usize>> + Clone {
    proptest::collection::vec(dim, rank)
}

/// Tensors of `shape` with values drawn uniformly from `values` (each element shrinks on its
/// own towards the start of the range).
pub fn tensor_in(shape: &[usize], values: Range<f32>) -> impl Strategy<Value = Tensor> + Clone {
    let shape = shape.to_vec();
    let n = shape.iter().product::<usize>();
    proptest::collection::vec(values, n).prop_map(move |v| Tensor::from_vec(v, &shape).expect("the values fill the shape"))
}

/// Tensors of `shape` with values of magnitude in [0.1, 2) and either sign: the scale at which
/// the default gradcheck tolerances are set, kept away from 0, where many ops have a kink
/// (relu) or a vanishing gradient (x², x³) that a relative tolerance cannot judge. Each
/// element shrinks towards ±0.1.
pub fn tensor(shape: &[usize]) -> impl Strategy<Value = Tensor> + Clone {
    let shape = shape.to_vec();
    let n = shape.iter().product::<usize>();
    let value = (0.1f32..2.0, any::<bool>()).prop_map(|(m, negative)| if negative { -m } else { m });
    proptest::collection::vec(value, n).prop_map(move |v| Tensor::from_vec(v, &shape).expect("the values fill the shape"))
}

/// Tensors of any shape [`shape`] draws, values as [`tensor`]'s.
pub fn tensor_any_shape(rank: RangeInclusive<usize>, dim: RangeInclusive<usize>) -> impl Strategy<Value = Tensor> {
    shape(rank, dim).prop_flat_map(|s| tensor(&s))
}

/// `n` tensors of one shape (the inputs of an elementwise op), values as [`tensor`]'s.
pub fn same_shape(n: usize, rank: RangeInclusive<usize>, dim: RangeInclusive<usize>) -> impl Strategy<Value = Vec<Tensor>> {
    shape(rank, dim).prop_flat_map(move |s| proptest::collection::vec(tensor(&s), n))
}

/// [`gradcheck`] with the default options, its failure turned into a failed proptest case
/// naming the worst coordinate (what [`assert_gradcheck!`] calls).
pub fn check_gradients<F>(f: F, inputs: &[Tensor]) -> std::result::Result<GradcheckReport, TestCaseError>
where
    F: Fn(&Graph, &[Var]) -> Result<Var>,
{
    check_gradients_with(f, inputs, &GradcheckOptions::default())
}

/// [`check_gradients`] with explicit options (tolerances, step, coordinates sampled).
pub fn check_gradients_with<F>(f: F, inputs: &[Tensor], opts: &GradcheckOptions) -> std::result::Result<GradcheckReport, TestCaseError>
where
    F: Fn(&Graph, &[Var]) -> Result<Var>,
{
    let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
    gradcheck(f, inputs, opts).map_err(|e| TestCaseError::fail(format!("gradcheck on inputs of shapes {shapes:?}: {e}")))
}

/// Checks the gradient of an op against finite differences inside a `proptest!` body:
/// `assert_gradcheck!(|graph, vars| op(&vars[0], &vars[1]), a, b)` (the inputs are tensors,
/// cloned); a mismatch fails the case with the worst coordinate, and proptest shrinks it.
#[macro_export]
macro_rules! assert_gradcheck {
    ($f:expr, $($input:expr),+ $(,)?) => {
        {
            let inputs = [$($input.clone()),+];
            $crate::testing::check_gradients($f, &inputs)?
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops;
    use proptest::test_runner::{Config, TestRunner};

    #[test]
    fn strategies_respect_their_ranges() {
        let mut runner = TestRunner::new(Config::with_cases(32));
        runner
            .run(&(shape(2..=3, 1..=4), tensor_in(&[2, 3], 0.5..1.0)), |(s, t)| {
                prop_assert!((2..=3).contains(&s.len()) && s.iter().all(|d| (1..=4).contains(d)));
                prop_assert_eq!(t.shape(), &[2, 3][..]);
                prop_assert!(t.data().iter().all(|v| (0.5..1.0).contains(v)));
                Ok(())
            })
            .unwrap();
        runner
            .run(&tensor_any_shape(1..=3, 1..=4), |t| {
                prop_assert!(t.data().iter().all(|v| (0.1..2.0).contains(&v.abs())));
                Ok(())
            })
            .unwrap();
        runner
            .run(&same_shape(3, 1..=2, 1..=3), |ts| {
                prop_assert_eq!(ts.len(), 3);
                prop_assert!(ts.iter().all(|t| t.shape() == ts[0].shape()));
                Ok(())
            })
            .unwrap();
    }

    /// A correct op passes, and an op whose backward is off by 10% fails the case: the check is
    /// the real gradcheck, not a formality.
    #[test]
    fn a_wrong_backward_fails_the_case() {
        fn scaled_square(x: &Var, factor: f32) -> Result<Var> {
            let y = ops::mul(&x.detach(), &x.detach())?;
            let xv = x.value().clone();
            Ok(Var::from_op("scaled_square", &[x], y.value().clone(), move |g, _| {
                let d: Vec<f32> = g.data().iter().zip(xv.data()).map(|(g, x)| factor * 2.0 * x * g).collect();
                Ok(vec![Some(Tensor::from_vec(d, xv.shape())?)])
            }))
        }
        let mut runner = TestRunner::new(Config::with_cases(16));
        runner
            .run(&tensor_any_shape(1..=2, 1..=4), |x| {
                assert_gradcheck!(|_, v| scaled_square(&v[0], 1.0), x);
                Ok(())
            })
            .unwrap();
        let mut runner = TestRunner::new(Config::with_cases(16));
        let r = runner.run(&tensor_in(&[3, 2], 0.5..2.0), |x| {
            assert_gradcheck!(|_, v| scaled_square(&v[0], 1.1), x);
            Ok(())
        });
        let e = r.unwrap_err().to_string();
        assert!(e.contains("gradcheck on inputs of shapes [[3, 2]]"), "{e}");
    }
}
