//! What a spec costs before anything is allocated: the memory of one training step
//! ([`ModelSpec::step_memory`], checked against the memory available by [`check_memory`]) and
//! the tensors a model file must hold ([`ModelSpec::expected_tensors`],
//! [`ModelSpec::check_tensors`]), so that an absurd architecture is refused with a message
//! instead of aborting in the allocator.

use super::layer::{LayerSpec, ModelSpec};
use crate::error::{Error, Result};

/// Bytes of one `f32`.
const F32: u128 = 4;

/// The memory one training step needs, in bytes (an estimate from below: kernels' scratch
/// buffers are not counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepMemory {
    /// Parameters and their gradients: `2 · 4 · P`.
    pub params: u128,
    /// Optimiser state: `slots · 4 · P` (SGD with momentum 1 slot, Adam 2, ...).
    pub optimizer: u128,
    /// The input batch and every layer's output kept for backward, and their gradients:
    /// `2 · 4 · batch · Σ_l values(l)` over the input and each layer's per-image output.
    pub activations: u128,
    /// Batch size the estimate is for.
    pub batch: usize,
}

impl StepMemory {
    /// Total bytes.
    pub fn total(&self) -> u128 {
        self.params + self.optimizer + self.activations
    }
}

impl ModelSpec {
    /// The memory a training step of this model needs at `batch` images of per-image shape
    /// `input`, with `optim_slots` values of optimiser state per parameter. Computed from the
    /// shapes only (no allocation); errors are those of [`ModelSpec::shapes`].
    pub fn step_memory(&self, input: &[usize], batch: usize, optim_slots: usize) -> Result<StepMemory> {
        let shapes = self.shapes(input)?;
        let values: u128 = shapes.iter().map(|s| s.iter().map(|&d| d as u128).product::<u128>()).sum();
        let params: u128 = self.layers.iter().zip(&shapes).map(|(l, s)| l.param_count(s) as u128).sum();
        Ok(StepMemory { params: 2 * F32 * params, optimizer: optim_slots as u128 * F32 * params, activations: 2 * F32 * batch as u128 * values, batch })
    }

    /// Name and shape of every tensor a model of this spec saves (parameters, then batch-norm
    /// buffers), named as [`crate::nn::Sequential::named_tensors`] names them — computed from
    /// the shapes, without building a layer.
    pub fn expected_tensors(&self, input: &[usize]) -> Result<Vec<(String, Vec<usize>)>> {
        let shapes = self.shapes(input)?;
        let (mut params, mut buffers) = (vec![], vec![]);
        // named as the layers name their tensors (PyTorch's state_dict layout: dense [out, in])
        for ((l, s), name) in self.layers.iter().zip(&shapes).zip(self.layer_names()) {
            match l {
                LayerSpec::Conv2d { filters, kernel, .. } => {
                    params.push((format!("{name}.weight"), vec![*filters, s[0], kernel.0, kernel.1]));
                    params.push((format!("{name}.bias"), vec![*filters]));
                }
                LayerSpec::Dense { units, .. } => {
                    params.push((format!("{name}.weight"), vec![*units, s.iter().product()]));
                    params.push((format!("{name}.bias"), vec![*units]));
                }
                LayerSpec::BatchNorm { .. } => {
                    params.push((format!("{name}.weight"), vec![s[0]]));
                    params.push((format!("{name}.bias"), vec![s[0]]));
                    buffers.push((format!("{name}.running_mean"), vec![s[0]]));
                    buffers.push((format!("{name}.running_var"), vec![s[0]]));
                }
                LayerSpec::Prelu { per_channel } => {
                    params.push((format!("{name}.weight"), if *per_channel { vec![s[0]] } else { s.clone() }));
                }
                _ => {}
            }
        }
        params.extend(buffers);
        Ok(params)
    }

    /// Checks the tensors a file holds (`held`: name and shape) against this spec before any
    /// layer is allocated: every tensor the model needs must be there with its shape. The error
    /// names the first tensor that is missing or differs.
    pub fn check_tensors(&self, input: &[usize], held: &[(String, Vec<usize>)]) -> Result<()> {
        let held: std::collections::HashMap<&str, &[usize]> = held.iter().map(|(n, s)| (n.as_str(), s.as_slice())).collect();
        for (name, shape) in self.expected_tensors(input)? {
            match held.get(name.as_str()) {
                None => return Err(Error::invalid("model", format!("the architecture needs tensor {name} {shape:?}, which the file does not hold"))),
                Some(&got) if got != shape.as_slice() => {
                    return Err(Error::Shape {
                        op: "model",
                        lhs: shape,
                        rhs: got.to_vec(),
                        detail: format!("tensor {name}: the architecture's shape vs the file's"),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// The memory available to a new allocation (Linux: `MemAvailable` of `/proc/meminfo`); None
/// where it cannot be read.
pub fn mem_available() -> Option<u64> {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// `b` bytes in GB (GiB), two decimals: `1.50 GB`.
pub(crate) fn gb(b: u128) -> String {
    format!("{:.2} GB", b as f64 / (1u64 << 30) as f64)
}

/// Refuses a step that needs more than `available` bytes (None: unknown, accepted) with a
/// message giving the estimate, its parts and the memory available.
pub fn check_memory(need: &StepMemory, available: Option<u64>) -> Result<()> {
    match available {
        Some(avail) if need.total() > avail as u128 => Err(Error::invalid(
            "memory",
            format!(
                "a training step at batch {} needs about {} (parameters and gradients {}, optimiser state {}, activations {}) \
                 but only {} of memory is available; use a smaller --batch or a smaller model",
                need.batch,
                gb(need.total()),
                gb(need.params),
                gb(need.optimizer),
                gb(need.activations),
                gb(avail as u128)
            ),
        )),
        _ => Ok(()),
    }
}

/// [`ModelSpec::step_memory`] checked by [`check_memory`] against [`mem_available`].
pub fn check_step_memory(spec: &ModelSpec, input: &[usize], batch: usize, optim_slots: usize) -> Result<()> {
    check_memory(&spec.step_memory(input, batch, optim_slots)?, mem_available())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn step_memory_counts_params_state_and_activations() {
        let s = ModelSpec::parse_named("conv 2 3x3 valid relu\nflatten\ndense 3\n", Path::new("m")).unwrap();
        // conv: 2*(1*9+1) = 20, dense: 3*(2*2*2+1) = 27; values: 16 + 8 + 8 + 3 = 35
        let m = s.step_memory(&[1, 4, 4], 10, 2).unwrap();
        assert_eq!(m, StepMemory { params: 8 * 47, optimizer: 8 * 47, activations: 8 * 10 * 35, batch: 10 });
        assert_eq!(m.total(), 8 * 47 * 2 + 8 * 350);
        check_memory(&m, Some(m.total() as u64)).unwrap();
        check_memory(&m, None).unwrap();
        let e = check_memory(&m, Some(m.total() as u64 - 1)).unwrap_err().to_string();
        assert!(e.contains("batch 10") && e.contains("available") && e.contains("--batch"), "{e}");
    }

    #[test]
    fn meminfo() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_meminfo(text), Some(2048 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
        assert!(mem_available().is_some_and(|m| m > 0));
    }

    #[test]
    fn a_huge_step_is_refused_before_allocation() {
        // 100,000 layers at 48x48: ~59 GB of activations at batch 32
        let text = "relu\n".repeat(100_000) + "flatten\ndense 7\n";
        let s = ModelSpec::parse_named(&text, Path::new("m")).unwrap();
        let need = s.step_memory(&[1, 48, 48], 32, 2).unwrap();
        assert!(need.activations > 50 << 30, "{need:?}");
        let e = check_memory(&need, Some(16 << 30)).unwrap_err().to_string();
        assert!(e.contains("16.00 GB of memory is available"), "{e}");
    }

    #[test]
    fn tensors_are_checked_before_building() {
        let s = ModelSpec::parse_named("conv 4 3x3 same\nbatchnorm\nprelu channel\nflatten\ndense 460000\n", Path::new("m")).unwrap();
        let want = s.expected_tensors(&[1, 2, 2]).unwrap();
        let names: Vec<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "prelu1.weight", "dense1.weight", "dense1.bias", "bn1.running_mean", "bn1.running_var"]
        );
        assert_eq!(want[5].1, vec![460000, 16]);
        s.check_tensors(&[1, 2, 2], &want).unwrap();
        let mut small = want.clone();
        small[5].1 = vec![7, 16];
        let e = s.check_tensors(&[1, 2, 2], &small).unwrap_err().to_string();
        assert!(e.contains("dense1.weight") && e.contains("460000"), "{e}");
        let e = s.check_tensors(&[1, 2, 2], &want[..4]).unwrap_err().to_string();
        assert!(e.contains("prelu1.weight") && e.contains("does not hold"), "{e}");
    }

    #[test]
    fn expected_tensors_are_what_a_built_model_saves() {
        let s = ModelSpec::parse_named(
            "conv 4 3x3 same
batchnorm
prelu
maxpool 2
flatten
dense 5
batchnorm
dense 3
",
            Path::new("m"),
        )
        .unwrap();
        let m = crate::nn::Sequential::build(&s, &[1, 6, 6], 0).unwrap();
        let mut built: Vec<(String, Vec<usize>)> = m.named_tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect();
        let mut want = s.expected_tensors(&[1, 6, 6]).unwrap();
        built.sort();
        want.sort();
        assert_eq!(built, want);
    }
}
