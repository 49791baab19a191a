//! SLIC superpixels (Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel
//! Methods", TPAMI 2012) on a grayscale image: k-means on `(intensity, y, x)` where each centre
//! only searches a `2S x 2S` window around itself.
//!
//! With `S = sqrt(H W / K)` the grid spacing for `K` requested superpixels and `m` the
//! compactness, the distance of pixel `p` to centre `c` is
//!
//! ```text
//! D² = (I_p - I_c)² + (m / S)² ((y_p - y_c)² + (x_p - x_c)²)
//! ```
//!
//! with intensities on the raw `0..=255` scale, so `m` is "how many grey levels one grid step
//! of distance is worth" (`m = 20` by default: larger gives squarer, more grid-like segments).
//! Centres start on a regular grid, moved to the lowest-gradient pixel of their 3x3
//! neighbourhood (so no centre sits on an edge), then 10 rounds of assign / update. Finally
//! connectivity is enforced: every 4-connected piece of a label becomes its own segment, and
//! pieces smaller than `S² / 4` pixels are merged into the neighbouring segment they share the
//! longest border with. So every segment is 4-connected and every pixel has a label.

/// A partition of an `h x w` image into `count` segments labelled `0..count`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segmentation {
    pub h: usize,
    pub w: usize,
    /// Segment of each pixel, row-major.
    pub labels: Vec<u32>,
    /// Number of segments; every label in `0..count` is used.
    pub count: usize,
}

impl Segmentation {
    /// Pixels per segment.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![0; self.count];
        for &l in &self.labels {
            s[l as usize] += 1;
        }
        s
    }

    /// Mean `(y, x)` of each segment (pixel centres at integer coordinates).
    pub fn centroids(&self) -> Vec<(f64, f64)> {
        let mut acc = vec![(0.0f64, 0.0f64, 0usize); self.count];
        for (i, &l) in self.labels.iter().enumerate() {
            let a = &mut acc[l as usize];
            a.0 += (i / self.w) as f64;
            a.1 += (i % self.w) as f64;
            a.2 += 1;
        }
        acc.into_iter().map(|(y, x, n)| (y / n.max(1) as f64, x / n.max(1) as f64)).collect()
    }
}

/// Number of assign / update rounds (the paper finds 10 enough for most images).
pub const SLIC_ITERATIONS: usize = 10;

/// SLIC superpixels of the grayscale image `gray` (`h * w` values on the `0..=255` scale),
/// aiming at `n_segments` segments with compactness `m` (see the module docs). Panics if
/// `gray.len() != h * w` (a programming error); an empty image gives zero segments.
pub fn slic(gray: &[f32], h: usize, w: usize, n_segments: usize, compactness: f32) -> Segmentation {
    assert_eq!(gray.len(), h * w, "slic: {} values for a {h}x{w} image", gray.len());
    if h == 0 || w == 0 {
        return Segmentation { h, w, labels: vec![], count: 0 };
    }
    let k = n_segments.clamp(1, h * w);
    let s = ((h * w) as f64 / k as f64).sqrt().max(1.0);
    let centres = grid_centres(gray, h, w, s);
    let labels = cluster(gray, h, w, s, compactness as f64, centres);
    let min_size = ((s * s) / 4.0).floor().max(1.0) as usize;
    enforce_connectivity(&labels, h, w, min_size)
}

/// A cluster centre: intensity and position.
#[derive(Clone, Copy, Debug)]
struct Centre {
    i: f64,
    y: f64,
    x: f64,
}

/// Centres on a grid of spacing about `s`, each moved to the lowest-gradient pixel of its 3x3
/// neighbourhood.
fn grid_centres(gray: &[f32], h: usize, w: usize, s: f64) -> Vec<Centre> {
    let ny = ((h as f64 / s).round() as usize).max(1);
    let nx = ((w as f64 / s).round() as usize).max(1);
    let at = |y: usize, x: usize| gray[y * w + x] as f64;
    let grad = |y: usize, x: usize| {
        let (y0, y1) = (y.saturating_sub(1), (y + 1).min(h - 1));
        let (x0, x1) = (x.saturating_sub(1), (x + 1).min(w - 1));
        (at(y1, x) - at(y0, x)).powi(2) + (at(y, x1) - at(y, x0)).powi(2)
    };
    let mut out = Vec::with_capacity(ny * nx);
    for gy in 0..ny {
        for gx in 0..nx {
            // the cell's exact centre (pixel centres at integer coordinates)
            let (fy, fx) = ((gy as f64 + 0.5) * h as f64 / ny as f64 - 0.5, (gx as f64 + 0.5) * w as f64 / nx as f64 - 0.5);
            let (cy, cx) = ((fy.round() as usize).min(h - 1), (fx.round() as usize).min(w - 1));
            let (mut by, mut bx, mut bg) = (cy, cx, grad(cy, cx));
            for y in cy.saturating_sub(1)..=(cy + 1).min(h - 1) {
                for x in cx.saturating_sub(1)..=(cx + 1).min(w - 1) {
                    let g = grad(y, x);
                    if g < bg {
                        (by, bx, bg) = (y, x, g);
                    }
                }
            }
            // stay at the exact centre unless a pixel nearby has a strictly lower gradient
            let (y, x) = if (by, bx) == (cy, cx) { (fy, fx) } else { (by as f64, bx as f64) };
            out.push(Centre { i: at(by, bx), y, x });
        }
    }
    out
}

/// The localised k-means: [`SLIC_ITERATIONS`] rounds of assigning each pixel to the nearest
/// centre whose `2S x 2S` window covers it, then moving each centre to its pixels' mean.
/// Pixels no window covers (possible once centres have moved) go to the nearest centre overall.
fn cluster(gray: &[f32], h: usize, w: usize, s: f64, m: f64, mut centres: Vec<Centre>) -> Vec<u32> {
    let spatial = (m / s).powi(2);
    let dist = |c: &Centre, y: usize, x: usize| {
        let di = gray[y * w + x] as f64 - c.i;
        di * di + spatial * ((y as f64 - c.y).powi(2) + (x as f64 - c.x).powi(2))
    };
    let mut labels = vec![u32::MAX; h * w];
    let mut best = vec![f64::INFINITY; h * w];
    for _ in 0..SLIC_ITERATIONS {
        labels.fill(u32::MAX);
        best.fill(f64::INFINITY);
        for (k, c) in centres.iter().enumerate() {
            let y0 = (c.y - s).floor().max(0.0) as usize;
            let y1 = ((c.y + s).ceil() as usize).min(h - 1);
            let x0 = (c.x - s).floor().max(0.0) as usize;
            let x1 = ((c.x + s).ceil() as usize).min(w - 1);
            for y in y0..=y1 {
                for x in x0..=x1 {
                    let d = dist(c, y, x);
                    if d < best[y * w + x] {
                        best[y * w + x] = d;
                        labels[y * w + x] = k as u32;
                    }
                }
            }
        }
        for (p, l) in labels.iter_mut().enumerate() {
            if *l == u32::MAX {
                let (y, x) = (p / w, p % w);
                let k = (0..centres.len()).min_by(|&a, &b| dist(&centres[a], y, x).total_cmp(&dist(&centres[b], y, x))).unwrap_or(0);
                *l = k as u32;
            }
        }
        let mut acc = vec![(0.0f64, 0.0f64, 0.0f64, 0usize); centres.len()];
        for (p, &l) in labels.iter().enumerate() {
            let a = &mut acc[l as usize];
            a.0 += gray[p] as f64;
            a.1 += (p / w) as f64;
            a.2 += (p % w) as f64;
            a.3 += 1;
        }
        for (c, a) in centres.iter_mut().zip(acc) {
            if a.3 > 0 {
                let n = a.3 as f64;
                *c = Centre { i: a.0 / n, y: a.1 / n, x: a.2 / n };
            }
        }
    }
    labels
}

/// Splits every label into its 4-connected pieces, merges pieces smaller than `min_size` into
/// the neighbouring piece they share the longest border with (smallest pieces first), and
/// numbers the result `0..count` in raster order of first appearance.
fn enforce_connectivity(labels: &[u32], h: usize, w: usize, min_size: usize) -> Segmentation {
    // 1. connected components of equal labels
    let mut comp = vec![u32::MAX; h * w];
    let mut sizes: Vec<usize> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..h * w {
        if comp[start] != u32::MAX {
            continue;
        }
        let id = sizes.len() as u32;
        comp[start] = id;
        stack.push(start);
        let mut n = 0;
        while let Some(p) = stack.pop() {
            n += 1;
            for q in neighbours4(p, h, w) {
                if comp[q] == u32::MAX && labels[q] == labels[start] {
                    comp[q] = id;
                    stack.push(q);
                }
            }
        }
        sizes.push(n);
    }
    // 2. merge small components (union-find over component ids)
    let mut parent: Vec<u32> = (0..sizes.len() as u32).collect();
    fn find(parent: &mut [u32], mut a: u32) -> u32 {
        while parent[a as usize] != a {
            parent[a as usize] = parent[parent[a as usize] as usize];
            a = parent[a as usize];
        }
        a
    }
    let mut order: Vec<u32> = (0..sizes.len() as u32).filter(|&c| sizes[c as usize] < min_size).collect();
    order.sort_by_key(|&c| (sizes[c as usize], c));
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); sizes.len()];
    for (p, &c) in comp.iter().enumerate() {
        members[c as usize].push(p);
    }
    for c in order {
        let root = find(&mut parent, c);
        if sizes[root as usize] >= min_size {
            continue; // grew big enough by absorbing others
        }
        // border length to each neighbouring merged segment
        let mut border: Vec<(u32, usize)> = Vec::new();
        let pixels: Vec<usize> = members[root as usize].clone();
        for &p in &pixels {
            for q in neighbours4(p, h, w) {
                let r = find(&mut parent, comp[q]);
                if r != root {
                    match border.iter_mut().find(|(b, _)| *b == r) {
                        Some(e) => e.1 += 1,
                        None => border.push((r, 1)),
                    }
                }
            }
        }
        if let Some(&(target, _)) = border.iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))) {
            parent[root as usize] = target;
            sizes[target as usize] += sizes[root as usize];
            let moved = std::mem::take(&mut members[root as usize]);
            members[target as usize].extend(moved);
        }
    }
    // 3. number the final segments in raster order
    let mut number = vec![u32::MAX; sizes.len()];
    let mut count = 0u32;
    let mut out = vec![0u32; h * w];
    for p in 0..h * w {
        let r = find(&mut parent, comp[p]) as usize;
        if number[r] == u32::MAX {
            number[r] = count;
            count += 1;
        }
        out[p] = number[r];
    }
    Segmentation { h, w, labels: out, count: count as usize }
}

/// The 4-neighbours of pixel `p` inside an `h x w` image.
fn neighbours4(p: usize, h: usize, w: usize) -> impl Iterator<Item = usize> {
    let (y, x) = (p / w, p % w);
    [(y > 0).then(|| p - w), (y + 1 < h).then(|| p + w), (x > 0).then(|| p - 1), (x + 1 < w).then(|| p + 1)].into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_image_gives_the_grid() {
        let seg = slic(&[100.0; 24 * 24], 24, 24, 16, 20.0);
        assert_eq!(seg.count, 16);
        assert!(seg.sizes().iter().all(|&n| n == 36), "{:?}", seg.sizes());
    }

    #[test]
    fn two_halves_are_not_mixed() {
        // left half dark, right half bright: no segment may straddle the edge
        let (h, w) = (20, 20);
        let img: Vec<f32> = (0..h * w).map(|p| if p % w < 10 { 0.0 } else { 255.0 }).collect();
        let seg = slic(&img, h, w, 8, 10.0);
        for l in 0..seg.count as u32 {
            let sides: std::collections::BTreeSet<bool> = (0..h * w).filter(|&p| seg.labels[p] == l).map(|p| p % w < 10).collect();
            assert_eq!(sides.len(), 1, "segment {l} covers both halves");
        }
    }

    #[test]
    fn small_pieces_are_merged() {
        // labels with a 1-pixel island inside: it must be merged into the surrounding piece
        let (h, w) = (6, 6);
        let mut l = vec![0u32; h * w];
        l[2 * w + 2] = 1;
        let seg = enforce_connectivity(&l, h, w, 4);
        assert_eq!(seg.count, 1);
        assert!(seg.labels.iter().all(|&v| v == 0));
    }
}
