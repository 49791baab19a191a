//! [`Canvas`]: an RGB raster with rectangles, anti-aliased lines, text in the embedded DejaVu
//! Sans font, and an atomic PNG writer.
//!
//! Coordinates are pixels with the origin at the top-left; pixel `(x, y)` covers the square
//! `[x, x+1) x [y, y+1)`, so a line from `(10.5, 0)` to `(10.5, 9)` of width 1 fills column 10
//! exactly. Everything is drawn with straight alpha blending in sRGB, which is what matplotlib
//! does too.

use crate::error::{Error, Result};
use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use std::path::Path;
use std::sync::OnceLock;

/// The font, embedded so pictures are identical on every machine (no fontconfig).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).expect("embedded DejaVuSans.ttf is a valid font"))
}

/// Horizontal anchor of a text: `x` is its left edge, centre or right edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
}

/// Vertical anchor of a text: `y` is the top of the line box, its middle, the baseline or the
/// bottom of the line box (descenders included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VAlign {
    Top,
    Middle,
    Baseline,
    Bottom,
}

/// A text rendered to an alpha mask; the baseline is at row `baseline`, the logical left edge
/// at column `PAD`.
struct TextMask {
    w: usize,
    h: usize,
    alpha: Vec<f32>,
    advance: f32,
    ascent: f32,
    descent: f32,
}

const PAD: usize = 2;

fn render_text(s: &str, px: f32) -> TextMask {
    let f = font().as_scaled(PxScale::from(px));
    let (ascent, descent) = (f.ascent(), f.descent());
    let mut caret = 0.0f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(s.len());
    for c in s.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            caret += f.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(px, point(caret + PAD as f32, ascent.ceil() + PAD as f32)));
        caret += f.h_advance(id);
        prev = Some(id);
    }
    let w = caret.ceil() as usize + 2 * PAD + 1;
    let h = (ascent.ceil() - descent.floor()) as usize + 2 * PAD + 1;
    let mut alpha = vec![0.0f32; w * h];
    for g in glyphs {
        if let Some(o) = f.outline_glyph(g) {
            let b = o.px_bounds();
            o.draw(|gx, gy, c| {
                let x = b.min.x as i64 + gx as i64;
                let y = b.min.y as i64 + gy as i64;
                if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
                    let a = &mut alpha[y as usize * w + x as usize];
                    *a = (*a + c).min(1.0);
                }
            });
        }
    }
    TextMask { w, h, alpha, advance: caret, ascent: ascent.ceil(), descent }
}

/// Width in pixels of `s` drawn at pixel size `px` (the advance, without side padding).
pub fn text_width(s: &str, px: f32) -> f32 {
    let f = font().as_scaled(PxScale::from(px));
    let mut w = 0.0;
    let mut prev = None;
    for c in s.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            w += f.kern(p, id);
        }
        w += f.h_advance(id);
        prev = Some(id);
    }
    w
}

/// Height of the line box (ascent minus descent) at pixel size `px`.
pub fn text_height(px: f32) -> f32 {
    let f = font().as_scaled(PxScale::from(px));
    f.ascent() - f.descent()
}

/// An RGB raster, 3 bytes per pixel, row-major from the top-left.
#[derive(Clone, Debug, PartialEq)]
pub struct Canvas {
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
    /// `w * h * 3` bytes.
    pub rgb: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with `bg`.
    pub fn new(w: usize, h: usize, bg: [u8; 3]) -> Self {
        let mut rgb = Vec::with_capacity(w * h * 3);
        for _ in 0..w * h {
            rgb.extend_from_slice(&bg);
        }
        Canvas { w, h, rgb }
    }

    /// Wraps existing RGB bytes; errors if `rgb.len() != w * h * 3`.
    pub fn from_rgb(w: usize, h: usize, rgb: Vec<u8>) -> Result<Self> {
        if rgb.len() != w * h * 3 {
            return Err(Error::invalid("Canvas::from_rgb", format!("{} bytes for {w}x{h} RGB (need {})", rgb.len(), w * h * 3)));
        }
        Ok(Canvas { w, h, rgb })
    }

    /// The colour at `(x, y)`; panics outside the canvas.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.w + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Blends `c` with opacity `a` (0..=1) into pixel `(x, y)`; ignores pixels off the canvas.
    pub fn blend(&mut self, x: i64, y: i64, c: [u8; 3], a: f32) {
        if x < 0 || y < 0 || x >= self.w as i64 || y >= self.h as i64 || a <= 0.0 {
            return;
        }
        let i = (y as usize * self.w + x as usize) * 3;
        if a >= 1.0 {
            self.rgb[i..i + 3].copy_from_slice(&c);
            return;
        }
        for (dst, &src) in self.rgb[i..i + 3].iter_mut().zip(&c) {
            let old = *dst as f32;
            *dst = (old + (src as f32 - old) * a).round() as u8;
        }
    }

    /// Fills the rectangle with top-left `(x, y)` and size `w x h`, clipped to the canvas.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: [u8; 3]) {
        let x0 = x.max(0);
        let y0 = y.max(0);
        let x1 = (x + w).min(self.w as i64);
        let y1 = (y + h).min(self.h as i64);
        for yy in y0..y1 {
            for xx in x0..x1 {
                let i = (yy as usize * self.w + xx as usize) * 3;
                self.rgb[i..i + 3].copy_from_slice(&c);
            }
        }
    }

    /// Draws the outline of a rectangle, `t` pixels thick, inside the rectangle.
    pub fn stroke_rect(&mut self, x: i64, y: i64, w: i64, h: i64, t: i64, c: [u8; 3]) {
        self.fill_rect(x, y, w, t, c);
        self.fill_rect(x, y + h - t, w, t, c);
        self.fill_rect(x, y, t, h, c);
        self.fill_rect(x + w - t, y, t, h, c);
    }

    /// Copies a `w x h` RGB image with its top-left at `(x, y)`, clipped to the canvas.
    pub fn blit(&mut self, x: i64, y: i64, rgb: &[u8], w: usize, h: usize) {
        for yy in 0..h {
            let cy = y + yy as i64;
            if cy < 0 || cy >= self.h as i64 {
                continue;
            }
            for xx in 0..w {
                let cx = x + xx as i64;
                if cx < 0 || cx >= self.w as i64 {
                    continue;
                }
                let s = (yy * w + xx) * 3;
                let d = (cy as usize * self.w + cx as usize) * 3;
                self.rgb[d..d + 3].copy_from_slice(&rgb[s..s + 3]);
            }
        }
    }

    /// An anti-aliased straight line of the given width with round ends.
    pub fn line(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, width: f32, c: [u8; 3]) {
        self.stroke_segments(&[[x0, y0, x1, y1]], width, c);
    }

    /// An anti-aliased polyline through `pts`. With `dash = Some((on, off))` it is dashed, the
    /// pattern continuing across vertices. Non-finite points break the line (a gap).
    pub fn polyline(&mut self, pts: &[(f32, f32)], width: f32, c: [u8; 3], dash: Option<(f32, f32)>) {
        let mut segs = Vec::new();
        let mut phase = 0.0f32; // distance travelled within the current dash period
        for win in pts.windows(2) {
            let ((ax, ay), (bx, by)) = (win[0], win[1]);
            if !(ax.is_finite() && ay.is_finite() && bx.is_finite() && by.is_finite()) {
                continue;
            }
            match dash {
                None => segs.push([ax, ay, bx, by]),
                Some((on, off)) if on > 0.0 && off >= 0.0 => {
                    let len = ((bx - ax).powi(2) + (by - ay).powi(2)).sqrt();
                    if len == 0.0 {
                        continue;
                    }
                    let (ux, uy) = ((bx - ax) / len, (by - ay) / len);
                    let mut t = 0.0f32;
                    while t < len {
                        let period = on + off;
                        let (drawing, left) = if phase < on { (true, on - phase) } else { (false, period - phase) };
                        let step = left.min(len - t);
                        if drawing {
                            segs.push([ax + ux * t, ay + uy * t, ax + ux * (t + step), ay + uy * (t + step)]);
                        }
                        t += step;
                        phase = (phase + step) % period;
                    }
                }
                Some(_) => segs.push([ax, ay, bx, by]),
            }
        }
        self.stroke_segments(&segs, width, c);
    }

    /// Strokes segments `[x0, y0, x1, y1]` with round caps; the coverage of overlapping segments
    /// is combined with `max` so joints are not darker than the line.
    fn stroke_segments(&mut self, segs: &[[f32; 4]], width: f32, c: [u8; 3]) {
        if segs.is_empty() || self.w == 0 || self.h == 0 {
            return;
        }
        let r = width.max(0.5) / 2.0;
        let reach = r + 1.0;
        let (mut bx0, mut by0, mut bx1, mut by1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for s in segs {
            bx0 = bx0.min(s[0].min(s[2]) - reach);
            by0 = by0.min(s[1].min(s[3]) - reach);
            bx1 = bx1.max(s[0].max(s[2]) + reach);
            by1 = by1.max(s[1].max(s[3]) + reach);
        }
        let x0 = (bx0.floor().max(0.0)) as usize;
        let y0 = (by0.floor().max(0.0)) as usize;
        let x1 = (bx1.ceil().min(self.w as f32).max(0.0)) as usize;
        let y1 = (by1.ceil().min(self.h as f32).max(0.0)) as usize;
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        let bw = x1 - x0;
        let mut cov = vec![0.0f32; bw * (y1 - y0)];
        for s in segs {
            let sx0 = ((s[0].min(s[2]) - reach).floor().max(x0 as f32)) as usize;
            let sy0 = ((s[1].min(s[3]) - reach).floor().max(y0 as f32)) as usize;
            let sx1 = ((s[0].max(s[2]) + reach).ceil().min(x1 as f32)) as usize;
            let sy1 = ((s[1].max(s[3]) + reach).ceil().min(y1 as f32)) as usize;
            let (dx, dy) = (s[2] - s[0], s[3] - s[1]);
            let l2 = dx * dx + dy * dy;
            for py in sy0..sy1 {
                for px in sx0..sx1 {
                    let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
                    let t = if l2 > 0.0 { (((cx - s[0]) * dx + (cy - s[1]) * dy) / l2).clamp(0.0, 1.0) } else { 0.0 };
                    let (qx, qy) = (s[0] + t * dx - cx, s[1] + t * dy - cy);
                    let d = (qx * qx + qy * qy).sqrt();
                    let a = (r + 0.5 - d).clamp(0.0, 1.0);
                    let slot = &mut cov[(py - y0) * bw + (px - x0)];
                    if a > *slot {
                        *slot = a;
                    }
                }
            }
        }
        for py in y0..y1 {
            for px in x0..x1 {
                let a = cov[(py - y0) * bw + (px - x0)];
                if a > 0.0 {
                    self.blend(px as i64, py as i64, c, a);
                }
            }
        }
    }

    /// Draws `s` at pixel size `px` (the line height) anchored at `(x, y)`. Returns the width.
    #[allow(clippy::too_many_arguments)]
    pub fn text(&mut self, s: &str, x: f32, y: f32, px: f32, c: [u8; 3], align: Align, valign: VAlign) -> f32 {
        let m = render_text(s, px);
        let left = match align {
            Align::Left => x,
            Align::Center => x - m.advance / 2.0,
            Align::Right => x - m.advance,
        };
        let baseline = match valign {
            VAlign::Top => y + m.ascent,
            VAlign::Middle => y + (m.ascent + m.descent) / 2.0,
            VAlign::Baseline => y,
            VAlign::Bottom => y + m.descent,
        };
        let ox = left.round() as i64 - PAD as i64;
        let oy = baseline.round() as i64 - m.ascent as i64 - PAD as i64;
        for my in 0..m.h {
            for mx in 0..m.w {
                let a = m.alpha[my * m.w + mx];
                if a > 0.0 {
                    self.blend(ox + mx as i64, oy + my as i64, c, a);
                }
            }
        }
        m.advance
    }

    /// Draws `s` rotated 90° counter-clockwise (reading bottom to top, like a y-axis label).
    /// `x` is the middle of the line box across the text; along it, `align` says whether the
    /// text starts at `y` (`Left`, going up), is centred on `y`, or ends at `y` (`Right`, so it
    /// hangs below `y`, like rotated x tick labels).
    #[allow(clippy::too_many_arguments)]
    pub fn text_vertical(&mut self, s: &str, x: f32, y: f32, px: f32, c: [u8; 3], align: Align) {
        let m = render_text(s, px);
        // Mask pixel (mx, my) goes to (my, w - 1 - mx) in the rotated picture, which is m.h wide
        // and m.w tall. The logical text box is centred on (cx, cy).
        let box_mid_y = (m.ascent + m.descent) / 2.0; // from the baseline, upwards
        let base_row = m.ascent + PAD as f32; // baseline row in the mask
        let mid_row = base_row - box_mid_y;
        let mid_col = PAD as f32 + m.advance / 2.0;
        let (cx, cy) = match align {
            Align::Left => (x, y - m.advance / 2.0),
            Align::Center => (x, y),
            Align::Right => (x, y + m.advance / 2.0),
        };
        let ox = (cx - mid_row).round() as i64;
        let oy = (cy - (m.w as f32 - mid_col)).round() as i64;
        for my in 0..m.h {
            for mx in 0..m.w {
                let a = m.alpha[my * m.w + mx];
                if a > 0.0 {
                    self.blend(ox + my as i64, oy + (m.w - 1 - mx) as i64, c, a);
                }
            }
        }
    }

    /// The PNG encoding of the canvas (8-bit RGB).
    pub fn encode_png(&self) -> Result<Vec<u8>> {
        encode_png(&self.rgb, self.w, self.h)
    }

    /// Writes the canvas as PNG to `path` atomically: a temporary file in the same directory,
    /// then a rename, so a reader never sees a half-written picture. Errors name `path`.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.encode_png()?;
        write_atomic(path, &bytes)
    }
}

/// Encodes `w x h` 8-bit RGB bytes as PNG.
pub fn encode_png(rgb: &[u8], w: usize, h: usize) -> Result<Vec<u8>> {
    if w == 0 || h == 0 || rgb.len() != w * h * 3 {
        return Err(Error::invalid("encode_png", format!("{} bytes cannot be a {w}x{h} RGB picture", rgb.len())));
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(|e| Error::invalid("encode_png", e.to_string()))?;
        wr.write_image_data(rgb).map_err(|e| Error::invalid("encode_png", e.to_string()))?;
        wr.finish().map_err(|e| Error::invalid("encode_png", e.to_string()))?;
    }
    Ok(out)
}

pub use crate::io::write_atomic;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_and_pixel() {
        let mut c = Canvas::new(10, 8, [255, 255, 255]);
        c.fill_rect(2, 3, 4, 2, [10, 20, 30]);
        assert_eq!(c.pixel(2, 3), [10, 20, 30]);
        assert_eq!(c.pixel(5, 4), [10, 20, 30]);
        assert_eq!(c.pixel(6, 4), [255, 255, 255]);
        assert_eq!(c.pixel(2, 5), [255, 255, 255]);
        c.fill_rect(-5, -5, 100, 100, [0, 0, 0]); // clipped, no panic
        assert_eq!(c.pixel(9, 7), [0, 0, 0]);
    }

    #[test]
    fn line_covers_its_pixels() {
        let mut c = Canvas::new(20, 20, [255, 255, 255]);
        c.line(2.0, 10.5, 17.0, 10.5, 1.0, [0, 0, 0]);
        assert_eq!(c.pixel(10, 10), [0, 0, 0]);
        assert_eq!(c.pixel(10, 5), [255, 255, 255]);
        c.polyline(&[(0.0, 0.0), (f32::NAN, 3.0), (5.0, 5.0)], 2.0, [0, 0, 0], Some((3.0, 2.0)));
    }

    #[test]
    fn text_puts_ink_where_expected() {
        let mut c = Canvas::new(200, 40, [255, 255, 255]);
        let w = c.text("Happy", 100.0, 20.0, 20.0, [0, 0, 0], Align::Center, VAlign::Middle);
        assert!(w > 30.0 && w < 80.0, "width {w}");
        let dark = |c: &Canvas, x0: usize, x1: usize| (0..c.h).flat_map(|y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| c.pixel(x, y)[0] < 128).count();
        assert!(dark(&c, 70, 130) > 50);
        assert_eq!(dark(&c, 0, 60), 0);
        assert_eq!(dark(&c, 140, 200), 0);

        let mut v = Canvas::new(40, 200, [255, 255, 255]);
        v.text_vertical("Accuracy", 20.0, 100.0, 18.0, [0, 0, 0], Align::Center);
        let ink: Vec<(usize, usize)> = (0..v.h).flat_map(|y| (0..v.w).map(move |x| (x, y))).filter(|&(x, y)| v.pixel(x, y)[0] < 128).collect();
        let (ymin, ymax) = (ink.iter().map(|p| p.1).min().unwrap(), ink.iter().map(|p| p.1).max().unwrap());
        assert!(ymax - ymin > 50, "rotated text is tall");
        assert!((ymin + ymax) as i64 / 2 - 100 < 6 && 100 - ((ymin + ymax) as i64 / 2) < 6);
    }
}
