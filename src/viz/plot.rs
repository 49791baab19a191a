//! Line charts: [`plot_curves`] for any set of curves, [`training_curves`] for the classic
//! two-panel "loss and accuracy per epoch" figure of a training run.
//!
//! The look follows matplotlib's defaults (tab10 colours, light grid, 5% margins around the
//! data, ticks at round numbers) so the pictures sit well next to those of a Keras/PyTorch
//! homework. Non-finite values (NaN, ±inf) are skipped: the line joins the neighbouring finite
//! points. Curves with few points get a marker on each point, and a lone point always does.

use super::axis::{limits, nice_ticks, tick_labels};
use super::canvas::{text_width, Align, Canvas, VAlign};
use crate::error::{Error, Result};
use std::path::Path;

pub use crate::train::EpochRecord;

/// One curve of a line chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Name shown in the legend (an empty name is left out of the legend).
    pub name: String,
    /// The y values.
    pub values: Vec<f32>,
    /// The x values, one per y value; `None` means 1, 2, 3, ... (epochs).
    pub xs: Option<Vec<f32>>,
    /// Line colour; `None` takes the next colour of the tab10 palette.
    pub colour: Option<[u8; 3]>,
    /// Dashed instead of solid.
    pub dashed: bool,
}

impl Series {
    /// A solid curve with an automatic colour and x = 1, 2, 3, ...
    pub fn new(name: impl Into<String>, values: Vec<f32>) -> Self {
        Series { name: name.into(), values, xs: None, colour: None, dashed: false }
    }
    /// The same curve, dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
    /// The same curve in colour `c`.
    pub fn colour(mut self, c: [u8; 3]) -> Self {
        self.colour = Some(c);
        self
    }
    /// The same curve with explicit x values.
    pub fn with_x(mut self, xs: Vec<f32>) -> Self {
        self.xs = Some(xs);
        self
    }
}

/// matplotlib's tab10 palette.
pub const TAB10: [[u8; 3]; 10] = [
    [0x1f, 0x77, 0xb4],
    [0xff, 0x7f, 0x0e],
    [0x2c, 0xa0, 0x2c],
    [0xd6, 0x27, 0x28],
    [0x94, 0x67, 0xbd],
    [0x8c, 0x56, 0x4b],
    [0xe3, 0x77, 0xc2],
    [0x7f, 0x7f, 0x7f],
    [0xbc, 0xbd, 0x22],
    [0x17, 0xbe, 0xcf],
];

const WHITE: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [0x26, 0x26, 0x26];
const AXIS: [u8; 3] = [0x40, 0x40, 0x40];
const GRID: [u8; 3] = [0xe4, 0xe4, 0xe4];
const TITLE_PX: f32 = 19.0;
const LABEL_PX: f32 = 16.0;
const TICK_PX: f32 = 14.0;
const LEGEND_PX: f32 = 14.0;

/// The finite `(x, y)` points of a series.
fn points(s: &Series) -> Vec<(f64, f64)> {
    s.values
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            let x = match &s.xs {
                Some(xs) => xs.get(i).copied().unwrap_or(f32::NAN) as f64,
                None => (i + 1) as f64,
            };
            (x, y as f64)
        })
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// Draws one chart (title, axes, grid, ticks, curves, legend) into the rectangle
/// `(x0, y0, w, h)` of `c`.
#[allow(clippy::too_many_arguments)]
fn draw_chart(c: &mut Canvas, x0: f32, y0: f32, w: f32, h: f32, title: &str, series: &[Series], x_label: &str, y_label: &str) {
    let pts: Vec<Vec<(f64, f64)>> = series.iter().map(points).collect();
    let all_x_int = pts.iter().flatten().all(|p| p.0.fract() == 0.0);
    let (xmin, xmax) = {
        let (lo, hi) = limits(pts.iter().flatten().map(|p| p.0), (0.0, 1.0));
        // A single integer x (one epoch) gets a window of one unit, so its tick is an integer.
        if all_x_int && pts.iter().flatten().count() > 0 && (hi - lo) <= 1.0 + 1e-9 {
            let mid = (lo + hi) / 2.0;
            (mid - 0.5, mid + 0.5)
        } else {
            (lo, hi)
        }
    };
    let (ymin, ymax) = limits(pts.iter().flatten().map(|p| p.1), (0.0, 1.0));
    let plot_h_guess = h - 100.0;
    let yticks = nice_ticks(ymin, ymax, ((plot_h_guess / 60.0) as usize).clamp(3, 8), false);
    let ylabels = tick_labels(&yticks);
    let ytick_w = ylabels.iter().map(|s| text_width(s, TICK_PX)).fold(0.0f32, f32::max);

    // Plot area.
    let top = y0 + if title.is_empty() { 14.0 } else { 16.0 + TITLE_PX + 12.0 };
    let left = x0 + 8.0 + if y_label.is_empty() { 0.0 } else { LABEL_PX + 10.0 } + ytick_w + 10.0;
    let right = x0 + w - 22.0;
    let bottom = y0 + h - (10.0 + if x_label.is_empty() { 0.0 } else { LABEL_PX + 8.0 } + TICK_PX + 12.0);
    let (pw, ph) = ((right - left).max(10.0), (bottom - top).max(10.0));
    let sx = |x: f64| left + ((x - xmin) / (xmax - xmin)) as f32 * pw;
    let sy = |y: f64| bottom - ((y - ymin) / (ymax - ymin)) as f32 * ph;

    let xtarget = ((pw / 90.0) as usize).clamp(2, 10);
    let xticks = nice_ticks(xmin, xmax, xtarget, all_x_int);
    let xlabels = tick_labels(&xticks);

    // Grid, frame, ticks.
    for &t in &yticks {
        let y = sy(t).floor() as i64;
        c.fill_rect(left as i64, y, pw as i64, 1, GRID);
    }
    for &t in &xticks {
        let x = sx(t).floor() as i64;
        c.fill_rect(x, top as i64, 1, ph as i64, GRID);
    }
    c.stroke_rect(left as i64 - 1, top as i64 - 1, pw as i64 + 2, ph as i64 + 2, 1, AXIS);
    for (t, s) in yticks.iter().zip(&ylabels) {
        let y = sy(*t).floor() as i64;
        c.fill_rect(left as i64 - 6, y, 5, 1, AXIS);
        c.text(s, left - 9.0, y as f32 + 0.5, TICK_PX, INK, Align::Right, VAlign::Middle);
    }
    for (t, s) in xticks.iter().zip(&xlabels) {
        let x = sx(*t).floor() as i64;
        c.fill_rect(x, bottom as i64 + 1, 1, 5, AXIS);
        c.text(s, x as f32 + 0.5, bottom + 8.0, TICK_PX, INK, Align::Center, VAlign::Top);
    }

    // Labels and title.
    if !title.is_empty() {
        c.text(title, left + pw / 2.0, y0 + 14.0, TITLE_PX, INK, Align::Center, VAlign::Top);
    }
    if !x_label.is_empty() {
        c.text(x_label, left + pw / 2.0, bottom + 12.0 + TICK_PX + 6.0, LABEL_PX, INK, Align::Center, VAlign::Top);
    }
    if !y_label.is_empty() {
        c.text_vertical(y_label, x0 + 8.0 + LABEL_PX / 2.0, top + ph / 2.0, LABEL_PX, INK, Align::Center);
    }

    // Curves.
    let colours: Vec<[u8; 3]> = series.iter().enumerate().map(|(i, s)| s.colour.unwrap_or(TAB10[i % 10])).collect();
    for ((s, p), &col) in series.iter().zip(&pts).zip(&colours) {
        let screen: Vec<(f32, f32)> = p.iter().map(|&(x, y)| (sx(x), sy(y))).collect();
        let dash = if s.dashed { Some((9.0, 5.0)) } else { None };
        c.polyline(&screen, 2.2, col, dash);
        if screen.len() <= 30 {
            let r = if screen.len() == 1 { 4.0 } else { 3.0 };
            for &(x, y) in &screen {
                c.line(x, y, x, y, 2.0 * r, col);
            }
        }
    }

    // Legend in the emptiest corner of the plot area.
    let entries: Vec<(usize, &Series)> = series.iter().enumerate().filter(|(_, s)| !s.name.is_empty()).collect();
    if entries.is_empty() {
        return;
    }
    let row = LEGEND_PX + 7.0;
    let sample = 28.0;
    let lw = entries.iter().map(|(_, s)| text_width(&s.name, LEGEND_PX)).fold(0.0f32, f32::max) + sample + 8.0 + 20.0;
    let lh = row * entries.len() as f32 + 12.0;
    let m = 10.0;
    let corners = [(right - m - lw, top + m), (right - m - lw, bottom - m - lh), (left + m, top + m), (left + m, bottom - m - lh)];
    let score = |&(lx, ly): &(f32, f32)| -> usize {
        let inside = |px: f32, py: f32| px >= lx - 4.0 && px <= lx + lw + 4.0 && py >= ly - 4.0 && py <= ly + lh + 4.0;
        let mut n = 0;
        for p in &pts {
            for (k, &(x, y)) in p.iter().enumerate() {
                n += inside(sx(x), sy(y)) as usize * 8;
                // Points along the segment to the next point count too: the line crosses there.
                if let Some(&(x1, y1)) = p.get(k + 1) {
                    for j in 1..16 {
                        let t = j as f64 / 16.0;
                        n += inside(sx(x + (x1 - x) * t), sy(y + (y1 - y) * t)) as usize;
                    }
                }
            }
        }
        n
    };
    let (lx, ly) = corners.iter().copied().min_by_key(score).unwrap_or(corners[0]);
    c.fill_rect(lx as i64, ly as i64, lw as i64, lh as i64, WHITE);
    c.stroke_rect(lx as i64, ly as i64, lw as i64, lh as i64, 1, [0xcc, 0xcc, 0xcc]);
    for (k, (i, s)) in entries.iter().enumerate() {
        let cy = ly + 6.0 + row * (k as f32 + 0.5);
        let dash = if s.dashed { Some((7.0, 4.0)) } else { None };
        c.polyline(&[(lx + 10.0, cy), (lx + 10.0 + sample, cy)], 2.2, colours[*i], dash);
        if pts[*i].len() <= 30 {
            c.line(lx + 10.0 + sample / 2.0, cy, lx + 10.0 + sample / 2.0, cy, 6.0, colours[*i]);
        }
        c.text(&s.name, lx + 10.0 + sample + 8.0, cy, LEGEND_PX, INK, Align::Left, VAlign::Middle);
    }
}

fn check_series(op: &'static str, series: &[Series]) -> Result<()> {
    for s in series {
        if let Some(xs) = &s.xs {
            if xs.len() != s.values.len() {
                return Err(Error::invalid(op, format!("series {:?}: {} x values for {} y values", s.name, xs.len(), s.values.len())));
            }
        }
    }
    Ok(())
}

/// The chart of [`plot_curves`] as a canvas of `w x h` pixels.
pub fn render_curves(w: usize, h: usize, title: &str, series: &[Series], x_label: &str, y_label: &str) -> Result<Canvas> {
    check_series("render_curves", series)?;
    let mut c = Canvas::new(w, h, WHITE);
    draw_chart(&mut c, 0.0, 0.0, w as f32, h as f32, title, series, x_label, y_label);
    Ok(c)
}

/// A line chart (800 x 520 px) of `series` with title, axis labels, grid and legend, written
/// as PNG to `path`.
pub fn plot_curves(path: impl AsRef<Path>, title: &str, series: &[Series], x_label: &str, y_label: &str) -> Result<()> {
    render_curves(800, 520, title, series, x_label, y_label)?.save_png(path)
}

/// The two panels of [`training_curves`] as a canvas.
pub fn render_training_curves(history: &[EpochRecord]) -> Canvas {
    let xs: Vec<f32> = history.iter().map(|r| r.epoch as f32).collect();
    let opt = |v: Option<f32>| v.unwrap_or(f32::NAN);
    let has_val_loss = history.iter().any(|r| r.val_loss.is_some());
    let has_val_acc = history.iter().any(|r| r.val_acc.is_some());
    let mut loss = vec![Series::new("train", history.iter().map(|r| r.train_loss).collect()).with_x(xs.clone())];
    if has_val_loss {
        loss.push(Series::new("validation", history.iter().map(|r| opt(r.val_loss)).collect()).with_x(xs.clone()));
    }
    let mut acc = vec![Series::new("train", history.iter().map(|r| r.train_acc).collect()).with_x(xs.clone())];
    if has_val_acc {
        acc.push(Series::new("validation", history.iter().map(|r| opt(r.val_acc)).collect()).with_x(xs));
    }
    let (w, h) = (1200usize, 480usize);
    let mut c = Canvas::new(w, h, WHITE);
    let half = w as f32 / 2.0;
    draw_chart(&mut c, 0.0, 0.0, half, h as f32, "Loss", &loss, "epoch", "loss");
    draw_chart(&mut c, half, 0.0, half, h as f32, "Accuracy", &acc, "epoch", "accuracy");
    c
}

/// The loss (train vs validation) and accuracy (train vs validation) of a training run per
/// epoch, as two panels side by side (1200 x 480 px), written as PNG to `path`. Epochs without
/// validation (`None`) or with NaN values are skipped.
pub fn training_curves(path: impl AsRef<Path>, history: &[EpochRecord]) -> Result<()> {
    render_training_curves(history).save_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_inputs_render() {
        let nan = Series::new("nan", vec![f32::NAN; 4]);
        let one = Series::new("one", vec![0.7]);
        let flat = Series::new("flat", vec![3.0; 10]).dashed();
        let mixed = Series::new("mixed", vec![1.0, f32::NAN, f32::INFINITY, 0.5, 0.25]);
        for s in [vec![], vec![nan], vec![one], vec![flat], vec![mixed]] {
            let c = render_curves(400, 300, "t", &s, "x", "y").unwrap();
            assert_eq!((c.w, c.h), (400, 300));
        }
        let bad = Series::new("bad", vec![1.0, 2.0]).with_x(vec![1.0]);
        assert!(render_curves(400, 300, "t", &[bad], "x", "y").is_err());
    }
}
