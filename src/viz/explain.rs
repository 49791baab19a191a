//! Pictures of the explanations: saliency grids (heatmap, overlay on the face, masked face),
//! filter and class images from gradient ascent, and feature maps.
//!
//! The images are small (48x48, 28x28), so every tile is enlarged by an integer factor with
//! nearest neighbour (crisp pixels): the smallest factor that makes it at least
//! [`MIN_TILE_PX`] pixels.

use super::canvas::Canvas;
use super::colormap::{inferno, viridis};
use super::image::{gray_to_rgb, heatmap, image_grid, overlay, render_grid, Tile};
use crate::error::{Error, Result};
use crate::explain::saliency::gaussian_blur;
use crate::explain::stats::{clip_quantile, pixel_saliency, top_fraction_mask};
use crate::explain::AscentResult;
use crate::tensor::Tensor;
use std::path::Path;

/// Smallest side of a tile in a grid, in pixels.
pub const MIN_TILE_PX: usize = 80;
/// Fraction of the pixels a masked face keeps.
pub const MASK_KEEP: f32 = 0.25;
/// Saliency above this quantile is clipped for display, so a few extreme gradients do not
/// flatten the colour scale.
pub const DISPLAY_QUANTILE: f32 = 0.995;
/// Masked-out pixels: a muted blue, distinct from black backgrounds and grey faces.
const MASK_COLOUR: [u8; 3] = [58, 74, 110];

/// Tile size for `h x w` images: an integer multiple of the longer side, at least
/// [`MIN_TILE_PX`].
pub fn tile_px(h: usize, w: usize) -> usize {
    let s = h.max(w).max(1);
    s * MIN_TILE_PX.div_ceil(s)
}

fn dims(t: &Tensor, what: &'static str) -> Result<(usize, usize, usize, usize)> {
    match *t.shape() {
        [n, c, h, w] if n > 0 && c > 0 => Ok((n, c, h, w)),
        _ => Err(Error::invalid(what, format!("expected images [N, C, H, W], got {:?}", t.shape()))),
    }
}

/// The grey image of picture `i` of `[N, C, H, W]` (channels averaged).
fn gray_plane(t: &Tensor, i: usize) -> Vec<f32> {
    let (_, c, h, w) = dims(t, "image").expect("checked by the caller");
    let plane = h * w;
    let d = &t.data()[i * c * plane..(i + 1) * c * plane];
    (0..plane).map(|p| (0..c).map(|ch| d[ch * plane + p]).sum::<f32>() / c as f32).collect()
}

/// A face with only the most salient `keep` fraction of its pixels (saliency smoothed by a
/// Gaussian of σ = 1 pixel first, so the kept region is in blobs, not single pixels).
pub fn masked_face(face: &[f32], saliency: &[f32], h: usize, w: usize, keep: f32) -> Vec<u8> {
    let mask = top_fraction_mask(&gaussian_blur(saliency, h, w, 1.0), keep);
    let rgb = gray_to_rgb(face, h, w);
    rgb.chunks(3).zip(mask).flat_map(|(px, m)| if m { [px[0], px[1], px[2]] } else { MASK_COLOUR }).collect()
}

/// One method's maps for a saliency grid.
pub struct SaliencyColumn<'a> {
    /// Shown in the captions (e.g. `vanilla`, `integrated (blur)`).
    pub label: String,
    /// `[N, C, H, W]` (or `[N, 1, H, W]` for Grad-CAM).
    pub maps: &'a Tensor,
}

/// The saliency grid: one row per image: the face (captioned with `captions[i]`), then per
/// method its heatmap (inferno), the heatmap over the face, and the face masked to its most
/// salient quarter. `faces`: raw pixels `[N, C, H, W]`.
pub fn saliency_grid(path: impl AsRef<Path>, faces: &Tensor, captions: &[String], columns: &[SaliencyColumn], title: &str) -> Result<()> {
    render_saliency_grid(faces, captions, columns, title)?.save_png(path)
}

/// [`saliency_grid`] as a picture in memory.
pub fn render_saliency_grid(faces: &Tensor, captions: &[String], columns: &[SaliencyColumn], title: &str) -> Result<Canvas> {
    let (n, _, h, w) = dims(faces, "saliency grid")?;
    if captions.len() != n || columns.is_empty() {
        return Err(Error::invalid("saliency grid", format!("{} captions and {} methods for {n} images", captions.len(), columns.len())));
    }
    let mut tiles = Vec::new();
    for (i, caption) in captions.iter().enumerate() {
        let face = gray_plane(faces, i);
        tiles.push(Tile::new(gray_to_rgb(&face, h, w), h, w).with_caption(caption));
        for col in columns {
            let (mn, mc, mh, mw) = dims(col.maps, "saliency grid")?;
            if mn != n || (mh, mw) != (h, w) {
                return Err(Error::shape("saliency grid", faces.shape(), col.maps.shape()));
            }
            let plane = h * w;
            let sal = pixel_saliency(&col.maps.data()[i * mc * plane..(i + 1) * mc * plane], mc, plane);
            let shown = clip_quantile(&sal, DISPLAY_QUANTILE);
            tiles.push(Tile::new(heatmap(&shown, h, w, inferno), h, w).with_caption(format!("{}\nheatmap", col.label)));
            tiles.push(Tile::new(overlay(&face, &shown, h, w, 0.7), h, w).with_caption(format!("{}\noverlay", col.label)));
            tiles.push(Tile::new(masked_face(&face, &sal, h, w, MASK_KEEP), h, w).with_caption(format!("{}\ntop {:.0}%", col.label, MASK_KEEP * 100.0)));
        }
    }
    render_grid(&tiles, 1 + 3 * columns.len(), tile_px(h, w), Some(title))
}

/// Images from gradient ascent `[B, C, H, W]` (any scale: each is min-max scaled), one tile
/// each, captioned with `captions[i]`, `cols` per row.
pub fn ascent_grid(path: impl AsRef<Path>, images: &Tensor, captions: &[String], cols: usize, title: &str) -> Result<()> {
    render_ascent_grid(images, captions, cols, title)?.save_png(path)
}

/// [`ascent_grid`] as a picture in memory.
pub fn render_ascent_grid(images: &Tensor, captions: &[String], cols: usize, title: &str) -> Result<Canvas> {
    let (n, _, h, w) = dims(images, "ascent grid")?;
    if captions.len() != n {
        return Err(Error::invalid("ascent grid", format!("{} captions for {n} images", captions.len())));
    }
    let tiles: Vec<Tile> = (0..n).map(|i| Tile::new(gray_to_rgb(&gray_plane(images, i), h, w), h, w).with_caption(&captions[i])).collect();
    render_grid(&tiles, cols, tile_px(h, w), Some(title))
}

/// Captions of filter images: the filter index and its final mean activation.
pub fn filter_captions(r: &AscentResult) -> Vec<String> {
    r.targets.iter().zip(&r.end).map(|(f, v)| format!("filter {f}\nact {v:.3}")).collect()
}

/// Captions of class images: the class name and the probability the model gives the image
/// (`probs`: `[N, K]` rows in the order of `r.targets`).
pub fn class_captions(r: &AscentResult, probs: &[f32], names: &[String]) -> Vec<String> {
    let k = names.len();
    r.targets.iter().enumerate().map(|(n, &c)| format!("{}\np = {:.3}", names[c], probs[n * k + c])).collect()
}

/// The filter ascent as CSV: `filter,start_activation,final_activation`, one row per filter.
pub fn filters_csv(r: &AscentResult) -> String {
    std::iter::once("filter,start_activation,final_activation\n".to_string())
        .chain(r.targets.iter().zip(r.start.iter().zip(&r.end)).map(|(f, (s, e))| format!("{f},{s},{e}\n")))
        .collect()
}

/// A non-negative map (after ReLU) through viridis scaled from 0 to its largest value, so a
/// map that is zero everywhere (a filter that does not fire) is dark, not mid-scale; maps with
/// negative values are min-max scaled instead.
pub fn heatmap_from_zero(v: &[f32], h: usize, w: usize) -> Vec<u8> {
    let lo = v.iter().copied().filter(|x| x.is_finite()).fold(f32::INFINITY, f32::min);
    if lo < 0.0 {
        return heatmap(v, h, w, viridis);
    }
    let hi = v.iter().copied().filter(|x| x.is_finite()).fold(0.0f32, f32::max);
    v.iter().flat_map(|&x| viridis(if hi > 0.0 && x.is_finite() { x / hi } else { 0.0 })).collect()
}

/// The feature maps `[1, C, h, w]` of one image as a grid (viridis, each map scaled on its
/// own from 0 to its maximum), preceded by the image itself (raw pixels `[1, C', H, W]`).
pub fn features_grid(path: impl AsRef<Path>, face: &Tensor, maps: &Tensor, title: &str) -> Result<()> {
    let (_, _, h, w) = dims(face, "features grid")?;
    let (_, c, mh, mw) = dims(maps, "features grid")?;
    let px = tile_px(mh, mw).max(tile_px(h, w));
    let mut tiles = vec![Tile::new(gray_to_rgb(&gray_plane(face, 0), h, w), h, w).with_caption("input")];
    let plane = mh * mw;
    for k in 0..c {
        let v = &maps.data()[k * plane..(k + 1) * plane];
        tiles.push(Tile::new(heatmap_from_zero(v, mh, mw), mh, mw).with_caption(format!("ch {k}")));
    }
    let cols = ((c + 1) as f64).sqrt().ceil() as usize;
    image_grid(path, &tiles, cols.clamp(4, 16), px, Some(title))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascent_captions_and_csv() {
        let r = AscentResult { images: Tensor::zeros(&[2, 1, 2, 2]), targets: vec![3, 1], start: vec![0.5, -1.0], end: vec![2.25, 0.125] };
        assert_eq!(filter_captions(&r), vec!["filter 3\nact 2.250", "filter 1\nact 0.125"]);
        let names: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let probs = [0.1, 0.2, 0.3, 0.4, 0.25, 0.5, 0.125, 0.125];
        assert_eq!(class_captions(&r, &probs, &names), vec!["d\np = 0.400", "b\np = 0.500"]);
        assert_eq!(filters_csv(&r), "filter,start_activation,final_activation\n3,0.5,2.25\n1,-1,0.125\n");
    }
}
