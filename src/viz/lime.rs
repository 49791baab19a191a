//! Pictures and CSV of a LIME [`Explanation`] (computed by [`crate::explain::lime`]).
//!
//! The picture is one row of tiles, each the image enlarged by nearest neighbour (small
//! images stay crisp): the image with every superpixel's border; then, for each explained
//! class, the image with the top positive superpixels outlined in green and the top negative
//! ones in red (the rest dimmed), and the weight of every superpixel on a blue-white-red scale
//! (white = 0, the strongest weight at full colour) over the image.

use super::{blue_white_red, render_grid, Canvas, Tile};
use crate::error::Result;
use crate::explain::lime::{Explanation, Segmentation};

const POSITIVE: [u8; 3] = [0x1f, 0xa0, 0x3c];
const NEGATIVE: [u8; 3] = [0xd6, 0x27, 0x28];
const BORDER: [u8; 3] = [0xff, 0xd2, 0x00];

/// Enlargement factor so the longer side is about 200 pixels.
pub fn upscale_factor(h: usize, w: usize) -> usize {
    (200 / h.max(w).max(1)).max(1)
}

/// The grey value (`0..=255`) of each pixel: the channel mean of the raw image, clamped.
fn gray_of(image: &[f32], [c, h, w]: [usize; 3]) -> Vec<f32> {
    (0..h * w).map(|p| ((0..c).map(|ch| image[ch * h * w + p]).sum::<f32>() / c as f32).clamp(0.0, 255.0)).collect()
}

/// An enlarged rendering of the segmentation: for each output pixel, its segment and whether
/// it lies within `t` output pixels of its segment's edge (image borders count as edges).
struct Big<'a> {
    seg: &'a Segmentation,
    f: usize,
}

impl Big<'_> {
    fn dims(&self) -> (usize, usize) {
        (self.seg.h * self.f, self.seg.w * self.f)
    }
    fn label(&self, y: usize, x: usize) -> u32 {
        self.seg.labels[(y / self.f) * self.seg.w + x / self.f]
    }
    fn near_edge(&self, y: usize, x: usize, t: usize, image_border: bool) -> bool {
        let (bh, bw) = self.dims();
        let l = self.label(y, x);
        for d in 1..=t {
            for (dy, dx) in [(-(d as i64), 0i64), (d as i64, 0), (0, -(d as i64)), (0, d as i64)] {
                let (ny, nx) = (y as i64 + dy, x as i64 + dx);
                if ny < 0 || nx < 0 || ny >= bh as i64 || nx >= bw as i64 {
                    if image_border {
                        return true;
                    }
                    continue;
                }
                if self.label(ny as usize, nx as usize) != l {
                    return true;
                }
            }
        }
        false
    }
}

fn mix(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    [0, 1, 2].map(|k| (a[k] as f32 + (b[k] as f32 - a[k] as f32) * t).round().clamp(0.0, 255.0) as u8)
}

fn tile_from(big: &Big, mut px: impl FnMut(usize, usize, [u8; 3]) -> [u8; 3], gray: &[f32]) -> Tile {
    let (bh, bw) = big.dims();
    let w = big.seg.w;
    let mut rgb = Vec::with_capacity(bh * bw * 3);
    for y in 0..bh {
        for x in 0..bw {
            let g = gray[(y / big.f) * w + x / big.f].round() as u8;
            rgb.extend_from_slice(&px(y, x, [g, g, g]));
        }
    }
    Tile::new(rgb, bh, bw)
}

/// The explanation of one image as a row of tiles (see the module docs) with `top` positive
/// and `top` negative superpixels outlined per class. `image` is the raw image (`C*H*W`,
/// `0..=255`), `label` the true class if known, `title` the line above.
pub fn render_explanation(
    image: &[f32],
    chw: [usize; 3],
    exp: &Explanation,
    class_names: &[String],
    label: Option<usize>,
    top: usize,
    title: &str,
) -> Result<Canvas> {
    let [_, h, w] = chw;
    let gray = gray_of(image, chw);
    let f = upscale_factor(h, w);
    let big = Big { seg: &exp.segments, f };
    let name = |c: usize| class_names.get(c).cloned().unwrap_or_else(|| format!("class {c}"));
    let thick = (f / 3).clamp(1, 3);
    let mut tiles = Vec::new();
    let pred = exp.predicted();
    let first = match label {
        Some(t) => format!("true: {}\npredicted: {} ({:.2})", name(t), name(pred), exp.probabilities[pred]),
        None => format!("{} superpixels\npredicted: {} ({:.2})", exp.segments.count, name(pred), exp.probabilities[pred]),
    };
    tiles.push(tile_from(&big, |y, x, g| if big.near_edge(y, x, 1, false) { mix(g, BORDER, 0.75) } else { g }, &gray).with_caption(first));
    for ce in &exp.classes {
        let mut role = vec![0i8; exp.segments.count];
        let pos = ce.top_positive(top);
        let neg = ce.top_negative(top);
        pos.iter().for_each(|&j| role[j] = 1);
        neg.iter().for_each(|&j| role[j] = -1);
        let outlined = tile_from(
            &big,
            |y, x, g| {
                let r = role[big.label(y, x) as usize];
                let col = if r > 0 { POSITIVE } else { NEGATIVE };
                match r {
                    0 => mix(g, [255, 255, 255], 0.55),
                    _ if big.near_edge(y, x, thick, true) => col,
                    _ => mix(g, col, 0.18),
                }
            },
            &gray,
        );
        let cap = format!("{} (p {:.2})\n{} green +, {} red \u{2212}", name(ce.class), ce.probability, pos.len(), neg.len());
        tiles.push(outlined.with_caption(cap));
        let m = ce.weights.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let heat = tile_from(
            &big,
            |y, x, g| {
                let wv = ce.weights[big.label(y, x) as usize];
                let t = if m > 0.0 { 0.5 + 0.5 * wv / m } else { 0.5 };
                let c = mix(g, blue_white_red(t as f32), 0.7);
                if big.near_edge(y, x, 1, false) {
                    mix(c, [0x80, 0x80, 0x80], 0.5)
                } else {
                    c
                }
            },
            &gray,
        );
        let mtxt = if m >= 0.01 || m == 0.0 { format!("{m:.3}") } else { format!("{m:.1e}") };
        tiles.push(heat.with_caption(format!("weights, max |w| {mtxt}\nlocal R\u{b2} {:.2}", ce.r2)));
    }
    render_grid(&tiles, tiles.len(), h.max(w) * f, Some(title))
}

/// The superpixel weights as CSV, one row per explained class and superpixel, each class's
/// rows by decreasing |weight|: `image,class,class_name,superpixel,pixels,centroid_y,centroid_x,weight`.
pub fn weights_csv(image_id: usize, exp: &Explanation, class_names: &[String]) -> String {
    let sizes = exp.segments.sizes();
    let cents = exp.segments.centroids();
    let mut s = String::from("image,class,class_name,superpixel,pixels,centroid_y,centroid_x,weight\n");
    for ce in &exp.classes {
        let mut idx: Vec<usize> = (0..ce.weights.len()).collect();
        idx.sort_by(|&a, &b| ce.weights[b].abs().total_cmp(&ce.weights[a].abs()).then(a.cmp(&b)));
        let cname = class_names.get(ce.class).map(|n| csv_field(n)).unwrap_or_default();
        for j in idx {
            s.push_str(&format!("{image_id},{},{cname},{j},{},{:.2},{:.2},{:.6e}\n", ce.class, sizes[j], cents[j].0, cents[j].1, ce.weights[j]));
        }
    }
    s
}

/// A CSV field, quoted if it holds a comma, quote or line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
