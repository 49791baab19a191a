//! A Keras-style `model.summary()` table.

use super::spec::ModelSpec;
use crate::error::Result;
use std::fmt::Write;

/// Groups digits by thousands: 4631559 -> "4,631,559".
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The summary table of `spec` on per-sample `input` (`[C, H, W]`): layer, output shape
/// (Keras order H x W x C), parameters; then totals.
pub fn summary(spec: &ModelSpec, input: &[usize]) -> Result<String> {
    let shapes = spec.shapes(input)?;
    let fmt_shape = |s: &[usize]| match s {
        [c, h, w] => format!("(None, {h}, {w}, {c})"),
        _ => format!("(None, {})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut rows = vec![];
    let (mut total, mut buffers) = (0, 0);
    for (i, (l, name)) in spec.layers.iter().zip(spec.layer_names()).enumerate() {
        let p = l.param_count(&shapes[i]);
        total += p;
        buffers += l.buffer_count(&shapes[i]);
        rows.push((format!("{:>2} {name:<9} {}", i + 1, l.describe()), fmt_shape(&shapes[i + 1]), thousands(p)));
    }
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(12) + 2;
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(12) + 2;
    let w2 = rows.iter().map(|r| r.2.len()).max().unwrap_or(0).max(7);
    let width = w0 + w1 + w2;
    let mut s = String::new();
    let _ = writeln!(s, "Input: {}", fmt_shape(input));
    let _ = writeln!(s, "{}", "_".repeat(width));
    let _ = writeln!(s, "{:<w0$}{:<w1$}{:>w2$}", "#  name      layer", "Output Shape", "Param #");
    let _ = writeln!(s, "{}", "=".repeat(width));
    for (a, b, c) in &rows {
        let _ = writeln!(s, "{a:<w0$}{b:<w1$}{c:>w2$}");
    }
    let _ = writeln!(s, "{}", "=".repeat(width));
    let _ = writeln!(s, "Total params: {}", thousands(total));
    let _ = writeln!(s, "Trainable params: {}", thousands(total));
    let _ = writeln!(s, "Non-trainable params: 0");
    if buffers > 0 {
        let _ = writeln!(s, "Batch-norm running statistics (saved, not parameters): {}", thousands(buffers));
        let _ = writeln!(s, "Total with running statistics (Keras' count): {}", thousands(total + buffers));
    }
    let _ = writeln!(s, "{}", "_".repeat(width));
    Ok(s)
}
