//! The confusion matrix of a classifier as a picture: raw counts on the left, fractions of
//! each true class (rows normalised to 1, the diagonal is the per-class recall) on the right.
//!
//! Both matrices are coloured by the row-normalised value with viridis, so the two panels
//! look alike and a class with few samples is not washed out; each cell carries its number in
//! black or white, whichever reads better on the cell colour.

use super::canvas::{text_height, text_width, Align, Canvas, VAlign};
use super::colormap::{text_colour_on, viridis};
use crate::error::{Error, Result};
use std::path::Path;

const WHITE: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [0x26, 0x26, 0x26];
const TITLE_PX: f32 = 20.0;
const SUB_PX: f32 = 15.0;
const LABEL_PX: f32 = 16.0;
const NAME_PX: f32 = 14.0;

/// Row-normalised fractions of `counts`; a row with no samples is all zeros.
pub fn row_normalise(counts: &[Vec<u64>]) -> Vec<Vec<f32>> {
    counts
        .iter()
        .map(|row| {
            let total: u64 = row.iter().sum();
            row.iter().map(|&c| if total == 0 { 0.0 } else { (c as f64 / total as f64) as f32 }).collect()
        })
        .collect()
}

/// The largest font size (at most `max_px`, at least 7) at which every string fits in
/// `width` pixels; `None` if even 7 px is too wide.
fn fitting_px(strings: &[String], width: f32, max_px: f32) -> Option<f32> {
    let mut px = max_px;
    while px >= 7.0 {
        if strings.iter().all(|s| text_width(s, px) <= width) {
            return Some(px);
        }
        px -= 0.5;
    }
    None
}

struct Layout {
    n: usize,
    cell: f32,
    name_w: f32,
    cols_vertical: bool,
    col_names_h: f32,
}

impl Layout {
    fn new(class_names: &[String]) -> Self {
        let n = class_names.len();
        let cell = (520.0 / n as f32).clamp(30.0, 110.0).floor();
        let name_w = class_names.iter().map(|s| text_width(s, NAME_PX)).fold(0.0f32, f32::max);
        let cols_vertical = name_w > cell - 6.0;
        let col_names_h = if cols_vertical { name_w } else { text_height(NAME_PX) };
        Layout { n, cell, name_w, cols_vertical, col_names_h }
    }
    fn side(&self) -> f32 {
        self.cell * self.n as f32
    }
}

/// Draws one matrix with its top-left corner at `(x, y)`, the row names to its left and the
/// column names below it, and `subtitle` above it.
#[allow(clippy::too_many_arguments)]
fn draw_matrix(c: &mut Canvas, l: &Layout, x: f32, y: f32, fractions: &[Vec<f32>], labels: &[Vec<String>], class_names: &[String], subtitle: &str) {
    let side = l.side();
    c.text(subtitle, x + side / 2.0, y - 10.0, SUB_PX, INK, Align::Center, VAlign::Bottom);
    let flat: Vec<String> = labels.iter().flatten().cloned().collect();
    let cell_px = fitting_px(&flat, l.cell - 5.0, (l.cell * 0.36).min(16.0)).filter(|_| l.cell >= 16.0);
    for i in 0..l.n {
        for j in 0..l.n {
            let bg = viridis(fractions[i][j]);
            let (cx, cy) = (x + j as f32 * l.cell, y + i as f32 * l.cell);
            c.fill_rect(cx as i64, cy as i64, l.cell as i64, l.cell as i64, bg);
            if let Some(px) = cell_px {
                let mid = (cx + l.cell / 2.0, cy + l.cell / 2.0);
                c.text(&labels[i][j], mid.0, mid.1, px, text_colour_on(bg), Align::Center, VAlign::Middle);
            }
        }
    }
    // Thin white lines between cells keep neighbouring equal colours apart.
    for k in 1..l.n {
        let o = (k as f32 * l.cell) as i64;
        c.fill_rect(x as i64 + o, y as i64, 1, side as i64, WHITE);
        c.fill_rect(x as i64, y as i64 + o, side as i64, 1, WHITE);
    }
    for (k, name) in class_names.iter().enumerate() {
        let mid = k as f32 * l.cell + l.cell / 2.0;
        c.text(name, x - 8.0, y + mid, NAME_PX, INK, Align::Right, VAlign::Middle);
        if l.cols_vertical {
            c.text_vertical(name, x + mid, y + side + 8.0, NAME_PX, INK, Align::Right);
        } else {
            c.text(name, x + mid, y + side + 6.0, NAME_PX, INK, Align::Center, VAlign::Top);
        }
    }
}

/// Renders the confusion figure; see [`confusion_png`].
pub fn render_confusion(counts: &[Vec<u64>], class_names: &[String], title: &str) -> Result<Canvas> {
    let n = class_names.len();
    if n == 0 {
        return Err(Error::invalid("confusion_png", "no classes"));
    }
    if counts.len() != n || counts.iter().any(|r| r.len() != n) {
        let shape: Vec<usize> = counts.iter().map(|r| r.len()).collect();
        return Err(Error::invalid("confusion_png", format!("counts must be {n}x{n} for {n} class names, got {} rows of lengths {shape:?}", counts.len())));
    }
    let fr = row_normalise(counts);
    let count_labels: Vec<Vec<String>> = counts.iter().map(|r| r.iter().map(|v| v.to_string()).collect()).collect();
    let frac_labels: Vec<Vec<String>> = fr.iter().map(|r| r.iter().map(|v| format!("{v:.2}")).collect()).collect();
    let total: u64 = counts.iter().flatten().sum();
    let correct: u64 = (0..n).map(|i| counts[i][i]).sum();

    let l = Layout::new(class_names);
    let side = l.side();
    let names_w = l.name_w + 8.0;
    let left_label = 12.0 + LABEL_PX + 10.0;
    let m1x = (left_label + names_w).ceil();
    let gap = 50.0;
    let m2x = (m1x + side + gap + names_w).ceil();
    let bar_x = m2x + side + 24.0;
    let bar_w = 16.0;
    let width = bar_x + bar_w + 8.0 + text_width("1.0", NAME_PX) + 16.0;
    let top = 16.0 + TITLE_PX + 8.0 + SUB_PX + 18.0 + SUB_PX + 14.0;
    let height = top + side + 8.0 + l.col_names_h + 12.0 + LABEL_PX + 16.0;
    let mut c = Canvas::new(width.ceil() as usize, height.ceil() as usize, WHITE);

    let centre = width / 2.0;
    c.text(title, centre, 14.0, TITLE_PX, INK, Align::Center, VAlign::Top);
    let summary =
        if total == 0 { "no samples".to_string() } else { format!("accuracy {:.1}%  ({correct} of {total} correct)", 100.0 * correct as f64 / total as f64) };
    c.text(&summary, centre, 16.0 + TITLE_PX + 6.0, SUB_PX, [0x55, 0x55, 0x55], Align::Center, VAlign::Top);

    draw_matrix(&mut c, &l, m1x, top, &fr, &count_labels, class_names, "Counts");
    draw_matrix(&mut c, &l, m2x, top, &fr, &frac_labels, class_names, "Normalised by true class (recall)");

    // Axis titles: "True" left of the first matrix, "Predicted" under both.
    c.text_vertical("True", 12.0 + LABEL_PX / 2.0, top + side / 2.0, LABEL_PX, INK, Align::Center);
    let py = top + side + 8.0 + l.col_names_h + 10.0;
    for mx in [m1x, m2x] {
        c.text("Predicted", mx + side / 2.0, py, LABEL_PX, INK, Align::Center, VAlign::Top);
    }

    // Colour bar for the fractions.
    let steps = side as usize;
    for k in 0..steps {
        let t = 1.0 - k as f32 / (steps.max(2) - 1) as f32;
        c.fill_rect(bar_x as i64, (top + k as f32) as i64, bar_w as i64, 1, viridis(t));
    }
    for k in 0..=5 {
        let t = k as f32 / 5.0;
        let yy = (top + (1.0 - t) * (side - 1.0)).round();
        c.fill_rect((bar_x + bar_w) as i64, yy as i64, 4, 1, INK);
        c.text(&format!("{t:.1}"), bar_x + bar_w + 7.0, yy + 0.5, NAME_PX - 1.0, INK, Align::Left, VAlign::Middle);
    }
    Ok(c)
}

/// Writes the confusion matrix `counts[true][predicted]` as PNG to `path`: counts and
/// row-normalised fractions (0.00-1.00) side by side, coloured by the fraction (viridis), class
/// names on both axes ("True" rows, "Predicted" columns), the overall accuracy under the title.
/// Rows without samples show zeros. Errors if `counts` is not `n x n` for `n` class names.
pub fn confusion_png(path: impl AsRef<Path>, counts: &[Vec<u64>], class_names: &[String], title: &str) -> Result<()> {
    render_confusion(counts, class_names, title)?.save_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("class {i}")).collect()
    }

    #[test]
    fn normalises_rows_and_zero_rows() {
        let f = row_normalise(&[vec![1, 3], vec![0, 0]]);
        assert_eq!(f, vec![vec![0.25, 0.75], vec![0.0, 0.0]]);
    }

    #[test]
    fn sizes_2_to_20_render() {
        for n in [2, 3, 7, 12, 20] {
            let counts: Vec<Vec<u64>> = (0..n).map(|i| (0..n).map(|j| ((i * 7 + j * 3) % 11) as u64 * 37).collect()).collect();
            let c = render_confusion(&counts, &names(n), "t").unwrap();
            assert!(c.w > 200 && c.h > 100);
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(render_confusion(&[vec![1, 2]], &names(2), "t").is_err());
        assert!(render_confusion(&[vec![1], vec![2, 3]], &names(2), "t").is_err());
        assert!(render_confusion(&[], &[], "t").is_err());
    }
}
