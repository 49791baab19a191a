//! A Keras-style `model.summary()` table, and what it can be drawn for: a preset, a spec
//! file, or a trained run (its directory or its `model.json`).

use super::spec::ModelSpec;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::fmt::Write;
use std::path::Path;

/// The model a summary is drawn for and its own input size `[C, H, W]` if it states one (a
/// spec's `input` line, a run's recorded input).
#[derive(Clone, Debug)]
pub struct SummaryModel {
    pub spec: ModelSpec,
    pub input: Option<Vec<usize>>,
}

/// The file of a run directory that holds its architecture (`run::MODEL_JSON`; `nn` sits
/// below `run`, so the name is repeated here).
const MODEL_JSON: &str = "model.json";

/// The two fields of a run's `model.json` a summary needs (the rest, class names and
/// normalisation, belong to layers above `nn`).
#[derive(Deserialize)]
struct SavedModel {
    spec: ModelSpec,
    input: Vec<usize>,
}

/// A preset name, a spec file, a run directory or a run's `model.json` -> the model to
/// summarise (presets end in `classes` outputs).
pub fn summary_model(name_or_path: &str, classes: usize) -> Result<SummaryModel> {
    let path = Path::new(name_or_path);
    let json = if path.is_dir() { path.join(MODEL_JSON) } else { path.to_path_buf() };
    if path.is_dir() && !json.is_file() {
        return Err(Error::invalid("model", format!("{} is a directory without a {} (not a run written by `pupil train`)", path.display(), MODEL_JSON)));
    }
    if json.is_file() {
        let text = std::fs::read_to_string(&json).map_err(|e| Error::io(&json, e))?;
        let value: Option<serde_json::Value> = text.trim_start().starts_with('{').then(|| serde_json::from_str(&text).ok()).flatten();
        if value.as_ref().is_some_and(|v| v.get("spec").is_some()) {
            let m: SavedModel = serde_json::from_str(&text).map_err(|e| Error::parse(&json, e.line(), "json", e.to_string()))?;
            return Ok(SummaryModel { spec: m.spec, input: Some(m.input) });
        }
    }
    let spec = super::resolve_model(name_or_path, classes)?;
    Ok(SummaryModel { input: spec.input.clone(), spec })
}

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
/// (Keras order H x W x C), parameters; then totals as Keras counts them: batch norm's
/// running mean and variance (saved with the model, never trained by the optimiser) are
/// non-trainable parameters, in the total.
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
    let _ = writeln!(s, "Total params: {}", thousands(total + buffers));
    let _ = writeln!(s, "Trainable params: {}", thousands(total));
    let why = if buffers > 0 { " (batch-norm running statistics)" } else { "" };
    let _ = writeln!(s, "Non-trainable params: {}{why}", thousands(buffers));
    let _ = writeln!(s, "{}", "_".repeat(width));
    Ok(s)
}
