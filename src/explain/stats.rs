//! Small statistics for saliency maps: rank correlation (the sanity checks of Adebayo et al.
//! 2018), per-pixel saliency, and the mask of the most salient pixels.

/// Ranks of `v` (0-based, ties get the mean of their ranks).
fn ranks(v: &[f32]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0f64; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation of `a` and `b`: the Pearson correlation of their ranks
/// (ties averaged). 0 if either is constant or they differ in length.
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.len() < 2 {
        return 0.0;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// The per-pixel saliency of one image's attributions `[C, H, W]` (given as `c` planes of
/// `plane` values): `max_c |a_c|` (Simonyan et al.). Grad-CAM maps (one plane) pass through
/// as their absolute value.
pub fn pixel_saliency(attr: &[f32], c: usize, plane: usize) -> Vec<f32> {
    let mut out = vec![0f32; plane];
    for ch in 0..c {
        for (o, &v) in out.iter_mut().zip(&attr[ch * plane..(ch + 1) * plane]) {
            *o = o.max(v.abs());
        }
    }
    out
}

/// Values clipped at their `q`-quantile (0 < q <= 1) so that a few extreme pixels do not
/// wash out a heatmap's colour scale.
pub fn clip_quantile(v: &[f32], q: f32) -> Vec<f32> {
    if v.is_empty() {
        return vec![];
    }
    let mut s: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return v.to_vec();
    }
    s.sort_by(f32::total_cmp);
    let k = ((s.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
    let top = s[k];
    v.iter().map(|&x| x.min(top)).collect()
}

/// True for the `fraction` of pixels with the largest saliency (at least one pixel).
pub fn top_fraction_mask(saliency: &[f32], fraction: f32) -> Vec<bool> {
    let n = saliency.len();
    let keep = ((n as f32 * fraction.clamp(0.0, 1.0)).round() as usize).clamp(1.min(n), n);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| saliency[b].total_cmp(&saliency[a]));
    let mut mask = vec![false; n];
    for &i in &idx[..keep] {
        mask[i] = true;
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_of_monotone_and_reversed() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [10.0, 20.0, 25.0, 100.0, 1000.0];
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        let r: Vec<f32> = b.iter().rev().copied().collect();
        assert!((spearman(&a, &r) + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&a, &[1.0; 5]), 0.0);
        // hand-worked with a tie: ranks a = [0,1,2,3], b = [0.5,0.5,2,3] -> r = 0.9487 (sqrt 0.9)
        let r = spearman(&[1.0, 2.0, 3.0, 4.0], &[7.0, 7.0, 8.0, 9.0]);
        assert!((r - 0.9f64.sqrt()).abs() < 1e-9, "{r}");
    }

    #[test]
    fn mask_keeps_the_top_fraction() {
        let m = top_fraction_mask(&[0.1, 0.9, 0.5, 0.7], 0.5);
        assert_eq!(m, vec![false, true, false, true]);
        assert_eq!(top_fraction_mask(&[1.0, 2.0], 0.0), vec![false, true]);
        assert_eq!(pixel_saliency(&[1.0, -3.0, -2.0, 1.0], 2, 2), vec![2.0, 3.0]);
        assert_eq!(clip_quantile(&[1.0, 2.0, 3.0, 100.0], 0.67), vec![1.0, 2.0, 3.0, 3.0]);
    }
}
