//! Axis helpers shared by the charts: limits around the data and ticks at round numbers.

/// Tick positions at round numbers (steps of 1, 2, 2.5 or 5 times a power of ten) inside
/// `[lo, hi]`, about `target` of them. With `integer` the step is at least 1 (epoch axes).
pub fn nice_ticks(lo: f64, hi: f64, target: usize, integer: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi < lo {
        return Vec::new();
    }
    if hi == lo {
        return vec![lo];
    }
    let step = nice_step(lo, hi, target, integer);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).map(|v| if v.abs() < step * 1e-9 { 0.0 } else { v }).collect()
}

fn nice_step(lo: f64, hi: f64, target: usize, integer: bool) -> f64 {
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let mut step = 10.0 * mag;
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= raw * 0.999 {
            step = m * mag;
            break;
        }
    }
    if integer {
        step = step.max(1.0).round();
        if step == 3.0 || step == 4.0 {
            step = 5.0;
        }
    }
    step
}

/// Formats tick values with as many decimals as the step between them needs.
pub(crate) fn tick_labels(ticks: &[f64]) -> Vec<String> {
    if ticks.is_empty() {
        return Vec::new();
    }
    let step = if ticks.len() > 1 { (ticks[1] - ticks[0]).abs() } else { ticks[0].abs().max(1e-12) };
    let biggest = ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if biggest >= 1e6 || step < 1e-4 {
        return ticks.iter().map(|v| if *v == 0.0 { "0".to_string() } else { format!("{v:.1e}").replace('-', "\u{2212}") }).collect();
    }
    let mut dec = 0usize;
    while dec < 6 && ((step * 10f64.powi(dec as i32)).round() - step * 10f64.powi(dec as i32)).abs() > 1e-6 {
        dec += 1;
    }
    // A typographic minus, as matplotlib does: "-1" looks like a dash next to the axis.
    ticks.iter().map(|v| format!("{v:.dec$}").replace('-', "\u{2212}")).collect()
}

/// Axis limits around the finite values in `vals`: 5% margins, a unit-ish window for a
/// constant, `default` when there is nothing finite.
pub(crate) fn limits(vals: impl Iterator<Item = f64>, default: (f64, f64)) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return default;
    }
    if hi - lo <= 1e-12 * hi.abs().max(1.0) {
        let d = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
        return (lo - d, hi + d);
    }
    let m = (hi - lo) * 0.05;
    (lo - m, hi + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 1.0, 5, false), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(tick_labels(&nice_ticks(0.0, 1.0, 5, false)), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(tick_labels(&nice_ticks(0.55, 3.2, 6, false)), ["1.0", "1.5", "2.0", "2.5", "3.0"]);
        assert_eq!(tick_labels(&nice_ticks(0.0, 100.0, 4, false)), ["0", "25", "50", "75", "100"]);
        assert_eq!(nice_ticks(0.5, 3.5, 8, true), vec![1.0, 2.0, 3.0]);
        assert_eq!(nice_ticks(1.0, 1.0, 5, false), vec![1.0]);
        assert!(nice_ticks(f64::NAN, 1.0, 5, false).is_empty());
        let t = nice_ticks(-0.37, 0.41, 6, false);
        assert!(t.contains(&0.0) && t.len() >= 4, "{t:?}");
    }

    #[test]
    fn limits_handle_constants_and_nothing() {
        assert_eq!(limits([2.0, 2.0].into_iter(), (0.0, 1.0)), (1.8, 2.2));
        assert_eq!(limits([0.0].into_iter(), (0.0, 1.0)), (-0.5, 0.5));
        assert_eq!(limits([f64::NAN].into_iter(), (0.0, 1.0)), (0.0, 1.0));
        let (lo, hi) = limits([0.0, 10.0].into_iter(), (0.0, 1.0));
        assert!((lo + 0.5).abs() < 1e-12 && (hi - 10.5).abs() < 1e-12);
    }
}
