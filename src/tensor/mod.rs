//! [`Tensor`]: an f32 array with a shape, stored contiguous and row-major (NCHW for images).
//!
//! Storage is shared (`Arc`) so cloning a tensor is cheap: the autodiff tape keeps the values
//! it needs for backward by cloning. Writing through [`Tensor::data_mut`] copies the storage
//! first if somebody else still holds it (copy on write).

mod rng;

pub use rng::Rng;

use crate::error::{Error, Result};
use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex, PoisonError};

/// An f32 tensor: shape + contiguous row-major storage.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Arc<Storage>,
}

/// A tensor's values. When the last tensor holding them drops, a large buffer goes back to
/// `pupil_kernels::alloc`'s pool, for the next op output of the same length (a training step
/// allocates the same sizes every step).
///
/// `derived` keeps values computed from them once some op asked for them ([`Tensor::derived`]:
/// a dense layer's weights packed for the GEMM at inference, [`Tensor::packed_b`], or a
/// convolution's Winograd filter transforms). The only way to change the values is
/// [`Tensor::data_mut`], which drops them: a derived copy can never be stale.
struct Storage {
    values: Vec<f32>,
    derived: Mutex<Vec<Derived>>,
}

/// A value computed from a storage's values, with the type and key it was asked for by.
struct Derived {
    ty: TypeId,
    key: DerivedKey,
    value: Arc<dyn Any + Send + Sync>,
}

/// What a derived value was computed for (sizes, a form): the caller's choice.
pub(crate) type DerivedKey = [usize; 6];

/// Derived values kept per storage at most; the oldest goes first (a dense weight needs one,
/// a convolution's two or three: the forward filters and the input gradient's).
const MAX_DERIVED: usize = 6;

fn store(values: Vec<f32>) -> Arc<Storage> {
    Arc::new(Storage { values, derived: Mutex::new(vec![]) })
}

impl PartialEq for Storage {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
    }
}

impl Clone for Storage {
    /// Copies the values only: a copy is made to be written ([`Tensor::data_mut`]).
    fn clone(&self) -> Self {
        let mut v = pupil_kernels::alloc::buffer(self.values.len());
        v.copy_from_slice(&self.values);
        Storage { values: v, derived: Mutex::new(vec![]) }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        pupil_kernels::alloc::recycle(std::mem::take(&mut self.values));
    }
}

impl std::ops::Deref for Storage {
    type Target = Vec<f32>;
    fn deref(&self) -> &Vec<f32> {
        &self.values
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.data.len().min(8);
        write!(f, "Tensor{:?} {:?}{}", self.shape, &self.data[..n], if self.data.len() > n { " ..." } else { "" })
    }
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    /// A tensor from data and shape; errors if `data.len()` is not the product of `shape`.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Result<Self> {
        if data.len() != numel(shape) {
            return Err(Error::Shape {
                op: "Tensor::from_vec",
                lhs: vec![data.len()],
                rhs: shape.to_vec(),
                detail: format!("{} values cannot fill shape {:?} ({} elements)", data.len(), shape, numel(shape)),
            });
        }
        Ok(Tensor { shape: shape.to_vec(), data: store(data) })
    }

    /// A tensor filled with `v`.
    pub fn full(shape: &[usize], v: f32) -> Self {
        let mut d = pupil_kernels::buffer(numel(shape));
        d.fill(v);
        Tensor { shape: shape.to_vec(), data: store(d) }
    }
    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, 0.0)
    }
    /// All ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, 1.0)
    }
    /// A scalar (shape `[]`).
    pub fn scalar(v: f32) -> Self {
        Tensor { shape: vec![], data: store(vec![v]) }
    }
    /// Uniform in [lo, hi), from `rng`.
    pub fn uniform(shape: &[usize], lo: f32, hi: f32, rng: &mut Rng) -> Self {
        let d = (0..numel(shape)).map(|_| rng.uniform(lo, hi)).collect();
        Tensor { shape: shape.to_vec(), data: store(d) }
    }
    /// Normal with mean and standard deviation, from `rng`.
    pub fn normal(shape: &[usize], mean: f32, std: f32, rng: &mut Rng) -> Self {
        let d = (0..numel(shape)).map(|_| mean + std * rng.normal()).collect();
        Tensor { shape: shape.to_vec(), data: store(d) }
    }
    /// Seeded uniform in [lo, hi): same seed, same tensor.
    pub fn rand_uniform(shape: &[usize], lo: f32, hi: f32, seed: u64) -> Self {
        Self::uniform(shape, lo, hi, &mut Rng::new(seed))
    }
    /// Seeded normal: same seed, same tensor.
    pub fn rand_normal(shape: &[usize], mean: f32, std: f32, seed: u64) -> Self {
        Self::normal(shape, mean, std, &mut Rng::new(seed))
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// True if the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    /// The values, mutable (copies the storage first if it is shared).
    pub fn data_mut(&mut self) -> &mut [f32] {
        let storage = Arc::make_mut(&mut self.data);
        storage.derived.get_mut().unwrap_or_else(PoisonError::into_inner).clear();
        storage.values.as_mut_slice()
    }

    /// Whether a packed copy is kept with these values ([`Tensor::packed_b`]).
    #[cfg(test)]
    pub(crate) fn holds_packed(&self) -> bool {
        let packed = TypeId::of::<pupil_kernels::PackedB>();
        self.data.derived.lock().unwrap_or_else(PoisonError::into_inner).iter().any(|d| d.ty == packed)
    }

    /// How many derived values are kept with these values ([`Tensor::derived`]).
    #[cfg(test)]
    pub(crate) fn derived_count(&self) -> usize {
        self.data.derived.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// These values as the B operand of a GEMM (the `k x n` matrix with element (p, j) at
    /// `data()[p*rsb + j*csb]`), packed for the GEMM's micro-kernel by the first call and kept
    /// with the values (and every clone of this tensor) until they change. Worth it for a matrix
    /// used unchanged by many products, as a dense layer's weights at inference: the packing is
    /// a sixth of a `128 x 2304 x 1024` product. The packed copy is as large as the values; one
    /// is kept per shape and strides asked for ([`Tensor::derived`]).
    pub(crate) fn packed_b(&self, k: usize, n: usize, rsb: usize, csb: usize) -> Arc<pupil_kernels::PackedB> {
        self.derived([k, n, rsb, csb, 0, 0], || pupil_kernels::PackedB::new(k, n, &self.data.values, rsb, csb))
    }

    /// A value computed from these values by `make`, kept with them (and every clone of this
    /// tensor) until they change, and found again by its type and `key`: a convolution's
    /// Winograd filter transforms, which every inference or explanation pass with the same
    /// weights would otherwise compute anew. `make` runs without any lock held (it may run
    /// parallel work that asks for other derived values of the same tensor); two threads asking
    /// at once may both compute it, and the first one stored is kept.
    pub(crate) fn derived<T: Any + Send + Sync>(&self, key: DerivedKey, make: impl FnOnce() -> T) -> Arc<T> {
        let ty = TypeId::of::<T>();
        let find = |kept: &[Derived]| kept.iter().find(|d| d.ty == ty && d.key == key).and_then(|d| d.value.clone().downcast::<T>().ok());
        if let Some(found) = find(&self.data.derived.lock().unwrap_or_else(PoisonError::into_inner)) {
            return found;
        }
        let value = Arc::new(make());
        let mut kept = self.data.derived.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = find(&kept) {
            return found;
        }
        if kept.len() == MAX_DERIVED {
            kept.remove(0);
        }
        kept.push(Derived { ty, key, value: value.clone() });
        value
    }

    /// Drops the values [`Tensor::derived`] keeps with these values, for this tensor and every
    /// clone sharing them (they are computed again when asked for).
    pub(crate) fn forget_derived(&self) {
        self.data.derived.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Takes the values out (copies only if shared).
    pub fn into_vec(self) -> Vec<f32> {
        match Arc::try_unwrap(self.data) {
            Ok(mut s) => std::mem::take(&mut s.values),
            Err(a) => a.values.clone(),
        }
    }
    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        if self.data.len() != 1 {
            return Err(Error::shape("Tensor::item", &self.shape, &[]));
        }
        Ok(self.data[0])
    }

    /// Same values, new shape with the same number of elements. One dimension may be
    /// `usize::MAX` meaning "whatever is left" (like `-1` in NumPy).
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        let shape = resolve_shape(&self.shape, shape, "Tensor::reshape")?;
        Ok(Tensor { shape, data: self.data.clone() })
    }

    /// Rows `start..end` of the first (batch) dimension, as a new tensor.
    pub fn slice_batch(&self, start: usize, end: usize) -> Result<Self> {
        let n = *self.shape.first().ok_or_else(|| Error::invalid("Tensor::slice_batch", "tensor has no dimensions"))?;
        if start > end || end > n {
            return Err(Error::invalid("Tensor::slice_batch", format!("range {start}..{end} outside batch of {n}")));
        }
        let per = numel(&self.shape[1..]);
        let mut shape = self.shape.clone();
        shape[0] = end - start;
        Ok(Tensor { shape, data: store(self.data[start * per..end * per].to_vec()) })
    }

    /// Gathers the listed rows of the first dimension (in that order) into a new tensor.
    pub fn gather_batch(&self, idx: &[usize]) -> Result<Self> {
        let n = *self.shape.first().ok_or_else(|| Error::invalid("Tensor::gather_batch", "tensor has no dimensions"))?;
        let per = numel(&self.shape[1..]);
        let mut out = Vec::with_capacity(idx.len() * per);
        for &i in idx {
            if i >= n {
                return Err(Error::invalid("Tensor::gather_batch", format!("index {i} outside batch of {n}")));
            }
            out.extend_from_slice(&self.data[i * per..(i + 1) * per]);
        }
        let mut shape = self.shape.clone();
        shape[0] = idx.len();
        Ok(Tensor { shape, data: store(out) })
    }

    /// Stacks equal-shaped tensors along a new first dimension.
    pub fn stack(items: &[Tensor]) -> Result<Self> {
        let first = items.first().ok_or_else(|| Error::invalid("Tensor::stack", "nothing to stack"))?;
        let mut out = Vec::with_capacity(items.len() * first.len());
        for t in items {
            if t.shape != first.shape {
                return Err(Error::shape("Tensor::stack", &first.shape, &t.shape));
            }
            out.extend_from_slice(t.data());
        }
        let mut shape = vec![items.len()];
        shape.extend_from_slice(&first.shape);
        Ok(Tensor { shape, data: store(out) })
    }

    /// Index of the largest value in each row of a `[N, K]` tensor (first one on ties).
    pub fn argmax_rows(&self) -> Result<Vec<usize>> {
        if self.ndim() != 2 || self.shape[1] == 0 {
            return Err(Error::invalid("Tensor::argmax_rows", format!("needs a non-empty [N, K] tensor, got {:?}", self.shape)));
        }
        Ok(self.data.chunks(self.shape[1]).map(argmax).collect())
    }

    /// Index of the largest value overall (first one on ties).
    pub fn argmax(&self) -> Option<usize> {
        if self.data.is_empty() {
            None
        } else {
            Some(argmax(&self.data))
        }
    }

    /// Elementwise map into a new tensor.
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Self {
        Tensor { shape: self.shape.clone(), data: store(self.data.iter().map(|&x| f(x)).collect()) }
    }

    /// Elementwise combination of two same-shaped tensors.
    pub fn zip_map(&self, other: &Tensor, f: impl Fn(f32, f32) -> f32) -> Result<Self> {
        if self.shape != other.shape {
            return Err(Error::shape("Tensor::zip_map", &self.shape, &other.shape));
        }
        let d = self.data.iter().zip(other.data.iter()).map(|(&a, &b)| f(a, b)).collect();
        Ok(Tensor { shape: self.shape.clone(), data: store(d) })
    }

    /// `self += other` elementwise (same shape).
    pub fn add_assign(&mut self, other: &Tensor) -> Result<()> {
        if self.shape != other.shape {
            return Err(Error::shape("Tensor::add_assign", &self.shape, &other.shape));
        }
        for (a, b) in self.data_mut().iter_mut().zip(other.data.iter()) {
            *a += b;
        }
        Ok(())
    }

    /// Sum of all elements, accumulated in f64.
    pub fn sum(&self) -> f64 {
        self.data.iter().map(|&x| x as f64).sum()
    }

    /// Largest absolute difference to another same-shaped tensor.
    pub fn max_abs_diff(&self, other: &Tensor) -> Result<f32> {
        if self.shape != other.shape {
            return Err(Error::shape("Tensor::max_abs_diff", &self.shape, &other.shape));
        }
        Ok(self.data.iter().zip(other.data.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max))
    }
}

fn argmax(xs: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

/// Resolves a target shape that may hold one `usize::MAX` ("the rest") against `from`.
pub fn resolve_shape(from: &[usize], to: &[usize], op: &'static str) -> Result<Vec<usize>> {
    let n = numel(from);
    let wild: Vec<usize> = to.iter().enumerate().filter(|(_, &d)| d == usize::MAX).map(|(i, _)| i).collect();
    let mut shape = to.to_vec();
    match wild.len() {
        0 => {}
        1 => {
            let known: usize = to.iter().filter(|&&d| d != usize::MAX).product();
            if known == 0 || !n.is_multiple_of(known) {
                return Err(Error::shape(op, from, to));
            }
            shape[wild[0]] = n / known;
        }
        _ => return Err(Error::invalid(op, "at most one dimension may be inferred")),
    }
    if numel(&shape) != n {
        return Err(Error::Shape { op, lhs: from.to_vec(), rhs: to.to_vec(), detail: format!("{} elements cannot take shape {:?}", n, to) });
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A derived value is computed once per type and key, shared by clones, forgotten when the
    /// values change, and at most `MAX_DERIVED` are kept (the oldest goes).
    #[test]
    fn derived_values_are_kept_until_the_values_change() {
        let calls = std::cell::Cell::new(0);
        let sum = |t: &Tensor| {
            calls.set(calls.get() + 1);
            t.data().iter().sum::<f32>()
        };
        let mut t = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
        assert_eq!(*t.derived([1, 0, 0, 0, 0, 0], || sum(&t)), 3.0);
        assert_eq!(*t.clone().derived([1, 0, 0, 0, 0, 0], || sum(&t)), 3.0);
        assert_eq!(calls.get(), 1);
        // another key, and another type under the same key, are other values
        assert_eq!(*t.derived([2, 0, 0, 0, 0, 0], || sum(&t) * 2.0), 6.0);
        assert_eq!(*t.derived([1, 0, 0, 0, 0, 0], || 7usize), 7);
        assert_eq!((calls.get(), t.derived_count()), (2, 3));
        // a copy made to be written keeps nothing; writing drops what was kept
        let shared = t.clone();
        t.data_mut()[0] = 10.0;
        assert_eq!((t.derived_count(), shared.derived_count()), (0, 3));
        assert_eq!(*t.derived([1, 0, 0, 0, 0, 0], || sum(&t)), 12.0);
        let mut only = Tensor::from_vec(vec![1.0], &[1]).unwrap();
        only.derived([0; 6], || 1.0f32);
        only.data_mut()[0] = 2.0;
        assert_eq!(only.derived_count(), 0);
        // the oldest goes past MAX_DERIVED
        for k in 0..MAX_DERIVED + 2 {
            only.derived([k, 0, 0, 0, 0, 0], || k as f32);
        }
        assert_eq!(only.derived_count(), MAX_DERIVED);
        assert_eq!(*only.derived([0; 6], || -1.0f32), -1.0, "key 0 was evicted first");
        assert_eq!(*only.derived([MAX_DERIVED + 1, 0, 0, 0, 0, 0], || -1.0f32), (MAX_DERIVED + 1) as f32);
        // forgetting through a clone forgets for every tensor sharing the values
        only.clone().forget_derived();
        assert_eq!(only.derived_count(), 0);
        // `make` may ask for another derived value of the same tensor (no lock is held)
        let outer = only.derived([9; 6], || *only.derived([8; 6], || 2.0f32) + 1.0);
        assert_eq!((*outer, *only.derived([8; 6], || 0.0f32)), (3.0, 2.0));
    }

    #[test]
    fn from_vec_checks_shape() {
        let e = Tensor::from_vec(vec![1.0; 5], &[2, 3]).unwrap_err().to_string();
        assert!(e.contains("[2, 3]") && e.contains("5"), "{e}");
        assert!(Tensor::from_vec(vec![1.0; 6], &[2, 3]).is_ok());
    }

    #[test]
    fn reshape_slice_argmax() {
        let t = Tensor::from_vec((0..12).map(|x| x as f32).collect(), &[3, 4]).unwrap();
        assert_eq!(t.reshape(&[usize::MAX, 6]).unwrap().shape(), &[2, 6]);
        assert!(t.reshape(&[5, 2]).is_err());
        let s = t.slice_batch(1, 3).unwrap();
        assert_eq!(s.shape(), &[2, 4]);
        assert_eq!(s.data()[0], 4.0);
        assert!(t.slice_batch(2, 4).is_err());
        assert_eq!(t.argmax_rows().unwrap(), vec![3, 3, 3]);
        let g = t.gather_batch(&[2, 0]).unwrap();
        assert_eq!(g.data()[0], 8.0);
        assert_eq!(g.data()[4], 0.0);
    }

    #[test]
    fn copy_on_write() {
        let a = Tensor::zeros(&[3]);
        let mut b = a.clone();
        b.data_mut()[0] = 1.0;
        assert_eq!(a.data()[0], 0.0);
        assert_eq!(b.data()[0], 1.0);
    }
}
