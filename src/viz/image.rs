//! Images: grayscale and colour-mapped rasters, saliency overlays, nearest-neighbour upscaling,
//! and captioned grids of tiles (saliency maps, first-layer filters, feature maps).
//!
//! All rasters are 8-bit RGB, row-major, `h * w * 3` bytes. Float inputs are min-max scaled
//! per image (non-finite values are ignored for the range and drawn as the low end); a
//! constant image has no range and is drawn mid-grey / at the middle of the colour map.
//! Functions that return `Vec<u8>` panic if a slice is not `h * w` long (a programming error);
//! [`image_grid`] returns an error for bad tiles because those come from data.

use super::canvas::{text_height, text_width, Align, Canvas, VAlign};
use super::colormap::{blue_white_red, inferno, Colormap};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::path::Path;

const WHITE: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [0x26, 0x26, 0x26];
const FRAME: [u8; 3] = [0xbb, 0xbb, 0xbb];
const TITLE_PX: f32 = 19.0;
const CAPTION_PX: f32 = 13.0;

fn check_len(op: &str, len: usize, h: usize, w: usize, per_pixel: usize) {
    assert!(len == h * w * per_pixel, "{op}: {len} values for a {h}x{w} image (need {})", h * w * per_pixel);
}

/// `values` scaled to [0, 1] by their finite min and max; non-finite values become 0, and a
/// constant input becomes 0.5 everywhere.
pub fn min_max_scale(values: &[f32]) -> Vec<f32> {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in values.iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let range = hi - lo;
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                0.0
            } else if range > 0.0 && range.is_finite() {
                ((v - lo) / range).clamp(0.0, 1.0)
            } else {
                0.5
            }
        })
        .collect()
}

/// A grayscale image (`h * w` floats, any range) as RGB, min-max scaled to black..white.
pub fn gray_to_rgb(img: &[f32], h: usize, w: usize) -> Vec<u8> {
    check_len("gray_to_rgb", img.len(), h, w, 1);
    let mut out = Vec::with_capacity(h * w * 3);
    for t in min_max_scale(img) {
        let g = (t * 255.0).round() as u8;
        out.extend_from_slice(&[g, g, g]);
    }
    out
}

/// `h * w` values as RGB through the colour map `cmap`, min-max scaled to [0, 1].
pub fn heatmap(values: &[f32], h: usize, w: usize, cmap: Colormap) -> Vec<u8> {
    check_len("heatmap", values.len(), h, w, 1);
    min_max_scale(values).into_iter().flat_map(cmap).collect()
}

/// Signed values (gradients, filter weights) through blue-white-red with zero at white:
/// `v` maps to `0.5 + 0.5 * v / max|v|`.
pub fn heatmap_signed(values: &[f32], h: usize, w: usize) -> Vec<u8> {
    check_len("heatmap_signed", values.len(), h, w, 1);
    let m = values.iter().filter(|v| v.is_finite()).fold(0.0f32, |m, v| m.max(v.abs()));
    values
        .iter()
        .flat_map(|&v| {
            let t = if m > 0.0 && v.is_finite() { 0.5 + 0.5 * v / m } else { 0.5 };
            blue_white_red(t)
        })
        .collect()
}

/// A heat map (e.g. a saliency map) over a grayscale image, both `h * w` and min-max scaled.
/// Each pixel blends the inferno colour of the heat over the grey with opacity `alpha * heat`,
/// so cold regions show the plain image and hot regions are coloured; `alpha` in [0, 1].
pub fn overlay(gray: &[f32], heat: &[f32], h: usize, w: usize, alpha: f32) -> Vec<u8> {
    overlay_with(gray, heat, h, w, alpha, inferno)
}

/// [`overlay`] with another colour map.
pub fn overlay_with(gray: &[f32], heat: &[f32], h: usize, w: usize, alpha: f32, cmap: Colormap) -> Vec<u8> {
    check_len("overlay (gray)", gray.len(), h, w, 1);
    check_len("overlay (heat)", heat.len(), h, w, 1);
    let alpha = if alpha.is_finite() { alpha.clamp(0.0, 1.0) } else { 0.5 };
    let g = min_max_scale(gray);
    let hs = min_max_scale(heat);
    let mut out = Vec::with_capacity(h * w * 3);
    for (gv, hv) in g.into_iter().zip(hs) {
        let c = cmap(hv);
        let a = alpha * hv;
        let base = gv * 255.0;
        for ch in c {
            out.push((base + (ch as f32 - base) * a).round().clamp(0.0, 255.0) as u8);
        }
    }
    out
}

/// An RGB image made `factor` times larger in both directions by repeating pixels.
pub fn upscale_nearest(rgb: &[u8], h: usize, w: usize, factor: usize) -> Vec<u8> {
    check_len("upscale_nearest", rgb.len(), h, w, 3);
    let f = factor.max(1);
    let mut out = Vec::with_capacity(h * w * 3 * f * f);
    for y in 0..h {
        let mut row = Vec::with_capacity(w * 3 * f);
        for x in 0..w {
            for _ in 0..f {
                row.extend_from_slice(&rgb[(y * w + x) * 3..(y * w + x) * 3 + 3]);
            }
        }
        for _ in 0..f {
            out.extend_from_slice(&row);
        }
    }
    out
}

/// An RGB image resampled to `nh x nw` by nearest neighbour (crisp pixels, no blur).
pub fn resize_nearest(rgb: &[u8], h: usize, w: usize, nh: usize, nw: usize) -> Vec<u8> {
    check_len("resize_nearest", rgb.len(), h, w, 3);
    let mut out = Vec::with_capacity(nh * nw * 3);
    for y in 0..nh {
        let sy = (y * h / nh.max(1)).min(h.saturating_sub(1));
        for x in 0..nw {
            let sx = (x * w / nw.max(1)).min(w.saturating_sub(1));
            out.extend_from_slice(&rgb[(sy * w + sx) * 3..(sy * w + sx) * 3 + 3]);
        }
    }
    out
}

/// Writes one RGB image as PNG (atomically; errors name `path`).
pub fn save_rgb_png(path: impl AsRef<Path>, rgb: &[u8], h: usize, w: usize) -> Result<()> {
    Canvas::from_rgb(w, h, rgb.to_vec())?.save_png(path)
}

/// One picture of an [`image_grid`].
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    /// `h * w * 3` bytes of RGB.
    pub rgb: Vec<u8>,
    pub h: usize,
    pub w: usize,
    /// Text under the tile; `\n` starts a new line.
    pub caption: Option<String>,
}

impl Tile {
    /// A tile without caption.
    pub fn new(rgb: Vec<u8>, h: usize, w: usize) -> Self {
        Tile { rgb, h, w, caption: None }
    }
    /// The same tile with a caption.
    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }
}

/// One tile per channel of a feature-map tensor of shape `[C, H, W]` or `[1, C, H, W]` (or a
/// single `[H, W]` map), each min-max scaled on its own through `cmap` (grey if `None`) and
/// captioned with its channel index.
pub fn channel_tiles(t: &Tensor, cmap: Option<Colormap>) -> Result<Vec<Tile>> {
    let s = t.shape();
    let (c, h, w) = match *s {
        [h, w] => (1, h, w),
        [c, h, w] => (c, h, w),
        [1, c, h, w] => (c, h, w),
        _ => return Err(Error::invalid("channel_tiles", format!("expected [C,H,W] or [1,C,H,W], got {s:?}"))),
    };
    let d = t.data();
    Ok((0..c)
        .map(|k| {
            let v = &d[k * h * w..(k + 1) * h * w];
            let rgb = match cmap {
                Some(m) => heatmap(v, h, w, m),
                None => gray_to_rgb(v, h, w),
            };
            Tile::new(rgb, h, w).with_caption(format!("ch {k}"))
        })
        .collect())
}

/// `s` shortened with an ellipsis so it is at most `max_w` pixels wide at `px`.
fn fit_text(s: &str, px: f32, max_w: f32) -> String {
    if text_width(s, px) <= max_w {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    for n in (0..chars.len()).rev() {
        let t: String = chars[..n].iter().collect::<String>() + "\u{2026}";
        if text_width(&t, px) <= max_w {
            return t;
        }
    }
    String::new()
}

/// Renders the grid of [`image_grid`] as a canvas.
pub fn render_grid(tiles: &[Tile], cols: usize, tile_px: usize, title: Option<&str>) -> Result<Canvas> {
    if tiles.is_empty() {
        return Err(Error::invalid("image_grid", "no tiles"));
    }
    if cols == 0 || tile_px == 0 {
        return Err(Error::invalid("image_grid", format!("cols ({cols}) and tile_px ({tile_px}) must be positive")));
    }
    for (i, t) in tiles.iter().enumerate() {
        if t.h == 0 || t.w == 0 || t.rgb.len() != t.h * t.w * 3 {
            return Err(Error::invalid("image_grid", format!("tile {i}: {} bytes for a {}x{} RGB image (need {})", t.rgb.len(), t.h, t.w, t.h * t.w * 3)));
        }
    }
    let cols = cols.min(tiles.len());
    let rows = tiles.len().div_ceil(cols);
    let lines = tiles.iter().map(|t| t.caption.as_deref().map_or(0, |c| c.lines().count())).max().unwrap_or(0);
    let line_h = text_height(CAPTION_PX).ceil() + 1.0;
    let caption_h = if lines > 0 { 5.0 + line_h * lines as f32 } else { 0.0 };
    let tp = tile_px as f32;
    let gap = if lines > 0 { 14.0 } else { 8.0 };
    let margin = 14.0;
    let title_h = match title {
        Some(t) if !t.is_empty() => TITLE_PX + 22.0,
        _ => 0.0,
    };
    let cell_w = tp.max(if lines > 0 { 60.0 } else { 0.0 });
    let width = 2.0 * margin + cols as f32 * cell_w + (cols - 1) as f32 * gap;
    let height = margin + title_h + rows as f32 * (tp + caption_h) + (rows - 1) as f32 * gap + margin;
    let mut c = Canvas::new(width.ceil() as usize, height.ceil() as usize, WHITE);
    if let Some(t) = title.filter(|t| !t.is_empty()) {
        let t = fit_text(t, TITLE_PX, width - 2.0 * margin);
        c.text(&t, width / 2.0, margin, TITLE_PX, INK, Align::Center, VAlign::Top);
    }
    for (i, t) in tiles.iter().enumerate() {
        let (r, k) = (i / cols, i % cols);
        let cx = margin + k as f32 * (cell_w + gap);
        let cy = margin + title_h + r as f32 * (tp + caption_h + gap);
        // Keep the aspect ratio: the longer side becomes tile_px, centred in the square.
        let (nh, nw) = if t.h >= t.w { (tile_px, (t.w * tile_px / t.h).max(1)) } else { ((t.h * tile_px / t.w).max(1), tile_px) };
        let scaled = resize_nearest(&t.rgb, t.h, t.w, nh, nw);
        let x = (cx + (cell_w - nw as f32) / 2.0).round() as i64;
        let y = (cy + (tp - nh as f32) / 2.0).round() as i64;
        c.stroke_rect(x - 1, y - 1, nw as i64 + 2, nh as i64 + 2, 1, FRAME);
        c.blit(x, y, &scaled, nw, nh);
        if let Some(cap) = &t.caption {
            for (l, line) in cap.lines().enumerate() {
                let s = fit_text(line, CAPTION_PX, cell_w + gap - 4.0);
                let ly = cy + tp + 5.0 + l as f32 * line_h;
                c.text(&s, cx + cell_w / 2.0, ly, CAPTION_PX, INK, Align::Center, VAlign::Top);
            }
        }
    }
    Ok(c)
}

/// Writes a grid of tiles, `cols` per row, each scaled (nearest neighbour, aspect kept) so its
/// longer side is `tile_px`, with its caption in small text underneath and an optional title
/// on top, as PNG to `path`.
pub fn image_grid(path: impl AsRef<Path>, tiles: &[Tile], cols: usize, tile_px: usize, title: Option<&str>) -> Result<()> {
    render_grid(tiles, cols, tile_px, title)?.save_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::viz::colormap::viridis;

    #[test]
    fn gray_is_min_max_scaled() {
        let rgb = gray_to_rgb(&[-1.0, 0.0, 1.0, f32::NAN], 2, 2);
        assert_eq!(&rgb[0..3], &[0, 0, 0]);
        assert_eq!(&rgb[3..6], &[128, 128, 128]);
        assert_eq!(&rgb[6..9], &[255, 255, 255]);
        assert_eq!(&rgb[9..12], &[0, 0, 0]);
        assert_eq!(gray_to_rgb(&[3.0; 4], 2, 2), vec![128; 12]);
    }

    #[test]
    fn heatmaps_use_the_colour_map_ends() {
        let rgb = heatmap(&[0.0, 5.0], 1, 2, viridis);
        assert_eq!(&rgb[0..3], &viridis(0.0));
        assert_eq!(&rgb[3..6], &viridis(1.0));
        let s = heatmap_signed(&[-2.0, 0.0, 1.0], 1, 3);
        assert_eq!(&s[0..3], &blue_white_red(0.0));
        assert_eq!(&s[3..6], &blue_white_red(0.5));
        assert_eq!(&s[6..9], &blue_white_red(0.75));
    }

    #[test]
    fn overlay_keeps_cold_pixels_grey() {
        let o = overlay(&[0.0, 1.0], &[0.0, 1.0], 1, 2, 0.6);
        assert_eq!(&o[0..3], &[0, 0, 0]);
        let hot = inferno(1.0);
        for k in 0..3 {
            let want = 255.0 + (hot[k] as f32 - 255.0) * 0.6;
            assert!((o[3 + k] as f32 - want).abs() <= 1.0);
        }
    }

    #[test]
    fn upscale_and_resize() {
        let rgb = vec![1, 2, 3, 4, 5, 6];
        let up = upscale_nearest(&rgb, 1, 2, 2);
        assert_eq!(up, vec![1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
        assert_eq!(resize_nearest(&up, 2, 4, 1, 2), rgb);
    }

    #[test]
    fn channel_tiles_from_tensor() {
        let t = Tensor::from_vec((0..2 * 3 * 4).map(|v| v as f32).collect(), &[1, 2, 3, 4]).unwrap();
        let tiles = channel_tiles(&t, Some(viridis)).unwrap();
        assert_eq!(tiles.len(), 2);
        assert_eq!((tiles[1].h, tiles[1].w, tiles[1].rgb.len()), (3, 4, 36));
        assert!(channel_tiles(&Tensor::zeros(&[2, 2, 2, 2]), None).is_err());
    }

    #[test]
    fn grid_rejects_bad_tiles() {
        assert!(render_grid(&[], 3, 32, None).is_err());
        assert!(render_grid(&[Tile::new(vec![0; 5], 1, 2)], 3, 32, None).is_err());
        let ok = render_grid(&[Tile::new(vec![0; 6], 1, 2).with_caption("a\nb")], 0, 32, None);
        assert!(ok.is_err());
    }
}
