//! LIME: SLIC superpixel properties, the weighted ridge regression against known solutions,
//! and the explanation of a model whose output depends only on a known pixel region.

use pupil::data::{embedded_sample, Normalization, Split};
use pupil::explain::lime::{self, explain, slic, weighted_ridge, Fill, LimeConfig, Segmentation, PREDICTED};
use pupil::nn::{ModelSpec, Sequential};
use pupil::tensor::{Rng, Tensor};
use std::collections::{HashMap, VecDeque};
use std::path::Path;

// ---------- SLIC ----------

/// True if every segment is one 4-connected piece.
fn connected(seg: &Segmentation) -> bool {
    let (h, w) = (seg.h, seg.w);
    let mut seen = vec![false; h * w];
    let mut pieces = vec![0usize; seg.count];
    for start in 0..h * w {
        if seen[start] {
            continue;
        }
        let l = seg.labels[start];
        pieces[l as usize] += 1;
        let mut q = VecDeque::from([start]);
        seen[start] = true;
        while let Some(p) = q.pop_front() {
            let (y, x) = (p / w, p % w);
            let mut nb = vec![];
            if y > 0 {
                nb.push(p - w);
            }
            if y + 1 < h {
                nb.push(p + w);
            }
            if x > 0 {
                nb.push(p - 1);
            }
            if x + 1 < w {
                nb.push(p + 1);
            }
            for n in nb {
                if !seen[n] && seg.labels[n] == l {
                    seen[n] = true;
                    q.push_back(n);
                }
            }
        }
    }
    pieces.iter().all(|&n| n == 1)
}

/// A 48x48 face-like test picture: a bright oval, two dark eyes, a mouth, a gradient and noise.
fn face48(seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut img = vec![0.0f32; 48 * 48];
    for y in 0..48 {
        for x in 0..48 {
            let (fy, fx) = ((y as f32 - 24.0) / 20.0, (x as f32 - 24.0) / 15.0);
            let mut v = 40.0 + 1.5 * y as f32;
            if fy * fy + fx * fx < 1.0 {
                v = 180.0;
            }
            for ex in [17.0, 31.0] {
                if (y as f32 - 18.0).powi(2) + (x as f32 - ex).powi(2) < 9.0 {
                    v = 30.0;
                }
            }
            if (33..36).contains(&y) && (16..32).contains(&x) {
                v = 60.0;
            }
            img[y * 48 + x] = (v + rng.uniform(-12.0, 12.0)).clamp(0.0, 255.0);
        }
    }
    img
}

#[test]
fn slic_labels_every_pixel_with_connected_compact_segments_near_the_count() {
    let test = embedded_sample(Split::Test).unwrap();
    let mut images: Vec<(Vec<f32>, usize, usize)> = (0..6).map(|i| (test.image(i).iter().map(|&v| v as f32).collect(), 28, 28)).collect();
    images.push((face48(1), 48, 48));
    images.push((face48(2), 48, 48));
    for (n, (img, h, w)) in images.iter().enumerate() {
        for k in [16, 50, 100] {
            let seg = slic(img, *h, *w, k, 20.0);
            assert_eq!(seg.labels.len(), h * w);
            assert!(seg.labels.iter().all(|&l| (l as usize) < seg.count), "image {n}, k {k}: label out of range");
            let sizes = seg.sizes();
            assert!(sizes.iter().all(|&s| s > 0), "image {n}, k {k}: unused label");
            assert!(seg.count as f64 >= 0.5 * k as f64 && seg.count as f64 <= 1.5 * k as f64, "image {n}: asked {k} superpixels, got {}", seg.count);
            assert!(connected(&seg), "image {n}, k {k}: a segment is not 4-connected");
            // compact: each segment fits in a box of 4 grid steps (SLIC searches 2S around a centre)
            let s = ((h * w) as f64 / k as f64).sqrt();
            for l in 0..seg.count as u32 {
                let px: Vec<usize> = (0..h * w).filter(|&p| seg.labels[p] == l).collect();
                let (ys, xs): (Vec<usize>, Vec<usize>) = px.iter().map(|&p| (p / w, p % w)).unzip();
                let bh = ys.iter().max().unwrap() - ys.iter().min().unwrap() + 1;
                let bw = xs.iter().max().unwrap() - xs.iter().min().unwrap() + 1;
                assert!((bh.max(bw) as f64) <= 4.0 * s + 1.0, "image {n}, k {k}: segment {l} spans {bh}x{bw} with grid step {s:.1}");
            }
        }
    }
}

#[test]
fn slic_follows_strong_edges() {
    // the face's eyes are dark discs on a bright oval: most of each eye lies in one segment
    // that is mostly dark (an edge-blind grid would split them)
    let img = face48(3);
    let seg = slic(&img, 48, 48, 50, 20.0);
    for ex in [17usize, 31] {
        let eye: Vec<usize> = (0..48 * 48).filter(|&p| ((p / 48) as f32 - 18.0).powi(2) + ((p % 48) as f32 - ex as f32).powi(2) < 9.0).collect();
        let mut count: HashMap<u32, usize> = HashMap::new();
        eye.iter().for_each(|&p| *count.entry(seg.labels[p]).or_default() += 1);
        let (&l, &n) = count.iter().max_by_key(|(_, &n)| n).unwrap();
        assert!(n * 10 >= eye.len() * 7, "eye at x={ex}: only {n} of {} pixels in one segment", eye.len());
        let members: Vec<usize> = (0..48 * 48).filter(|&p| seg.labels[p] == l).collect();
        let dark = members.iter().filter(|&&p| img[p] < 100.0).count();
        assert!(dark * 10 >= members.len() * 6, "the eye's segment is only {dark}/{} dark", members.len());
    }
}

// ---------- ridge regression ----------

#[test]
fn ridge_matches_a_hand_worked_example() {
    // x = 0,1,2,3; y = 1 + 2x; unit weights. α→0: slope 2, intercept 1. α = 1: the slope is
    // Sxy / (Sxx + α) with Sxx = Σ(x-1.5)² = 5, Sxy = Σ(x-1.5)(y-4) = 10, so 10/6; the intercept
    // is ȳ - x̄ β = 4 - 1.5 * 10/6 = 1.5.
    let z = [0.0, 1.0, 2.0, 3.0];
    let y = vec![1.0, 3.0, 5.0, 7.0];
    let w = [1.0; 4];
    let exact = &weighted_ridge(&z, 4, 1, std::slice::from_ref(&y), &w, 1e-12).unwrap()[0];
    assert!((exact.coef[0] - 2.0).abs() < 1e-9 && (exact.intercept - 1.0).abs() < 1e-9 && (exact.r2 - 1.0).abs() < 1e-9, "{exact:?}");
    let r = &weighted_ridge(&z, 4, 1, &[y], &w, 1.0).unwrap()[0];
    assert!((r.coef[0] - 10.0 / 6.0).abs() < 1e-12, "{}", r.coef[0]);
    assert!((r.intercept - 1.5).abs() < 1e-12, "{}", r.intercept);
    assert!(r.r2 < 1.0 && r.r2 > 0.9);
    // weights: a zero-weight sample does not count at all
    let z2 = [0.0, 1.0, 2.0, 3.0, 10.0];
    let y2 = vec![1.0, 3.0, 5.0, 7.0, -100.0];
    let r2 = &weighted_ridge(&z2, 5, 1, &[y2], &[1.0, 1.0, 1.0, 1.0, 0.0], 1.0).unwrap()[0];
    assert!((r2.coef[0] - r.coef[0]).abs() < 1e-12 && (r2.intercept - r.intercept).abs() < 1e-12);
}

/// Solves the (m+1)x(m+1) system of the un-centred formulation by Gaussian elimination with
/// partial pivoting: d/dβ and d/db of Σ π (y - b - zᵀβ)² + α‖β‖² set to zero.
fn reference_ridge(z: &[f64], n: usize, m: usize, y: &[f64], w: &[f64], alpha: f64) -> (Vec<f64>, f64) {
    let d = m + 1; // unknowns: β_0..β_{m-1}, b
    let mut a = vec![vec![0.0f64; d + 1]; d];
    for i in 0..n {
        let mut row: Vec<f64> = z[i * m..(i + 1) * m].to_vec();
        row.push(1.0);
        for r in 0..d {
            for c in 0..d {
                a[r][c] += w[i] * row[r] * row[c];
            }
            a[r][d] += w[i] * row[r] * y[i];
        }
    }
    for (j, r) in a.iter_mut().enumerate().take(m) {
        r[j] += alpha;
    }
    for col in 0..d {
        let p = (col..d).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).unwrap();
        a.swap(col, p);
        let pivot = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot[col];
                for (v, p) in row[col..].iter_mut().zip(&pivot[col..]) {
                    *v -= f * p;
                }
            }
        }
    }
    let x: Vec<f64> = (0..d).map(|r| a[r][d] / a[r][r]).collect();
    (x[..m].to_vec(), x[m])
}

#[test]
fn ridge_matches_the_normal_equations_and_recovers_a_noiseless_model() {
    let mut rng = Rng::new(7);
    let (n, m) = (300, 12);
    let z: Vec<f64> = (0..n * m).map(|_| (rng.next_u64() & 1) as f64).collect();
    let w: Vec<f64> = (0..n).map(|_| rng.uniform(0.05, 1.0) as f64).collect();
    let beta: Vec<f64> = (0..m).map(|j| (j as f64 - 5.5) / 4.0).collect();
    let clean: Vec<f64> = (0..n).map(|i| 0.3 + (0..m).map(|j| z[i * m + j] * beta[j]).sum::<f64>()).collect();
    let noisy: Vec<f64> = clean.iter().map(|v| v + rng.normal() as f64 * 0.1).collect();
    let fits = weighted_ridge(&z, n, m, &[clean.clone(), noisy.clone()], &w, 1e-10).unwrap();
    for (j, (got, want)) in fits[0].coef.iter().zip(&beta).enumerate() {
        assert!((got - want).abs() < 1e-6, "β{j}: {got} vs {want}");
    }
    assert!((fits[0].intercept - 0.3).abs() < 1e-6);
    for alpha in [0.5, 1.0, 10.0] {
        let fit = &weighted_ridge(&z, n, m, std::slice::from_ref(&noisy), &w, alpha).unwrap()[0];
        let (rb, rb0) = reference_ridge(&z, n, m, &noisy, &w, alpha);
        for (j, (got, want)) in fit.coef.iter().zip(&rb).enumerate() {
            assert!((got - want).abs() < 1e-9, "α {alpha}, β{j}: {got} vs {want}");
        }
        assert!((fit.intercept - rb0).abs() < 1e-9);
        // a larger penalty shrinks the coefficients
        if alpha > 1.0 {
            let small = &weighted_ridge(&z, n, m, std::slice::from_ref(&noisy), &w, 1.0).unwrap()[0];
            assert!(fit.coef.iter().map(|v| v * v).sum::<f64>() < small.coef.iter().map(|v| v * v).sum::<f64>());
        }
    }
    assert!(weighted_ridge(&z, n, m, &[clean], &w, 0.0).is_err(), "alpha must be positive");
}

// ---------- LIME on a model with a known answer ----------

/// A 1x28x28 -> 2 model: class 0's logit is `a Σ_{p ∈ R} x_p - c` over the region R, class 1's
/// logit is 0: a dense layer whose weights are nonzero only over R.
fn region_model(region: &[usize], a: f32, c: f32) -> Sequential {
    let spec = ModelSpec::parse_named("flatten\ndense 2\n", Path::new("region.txt")).unwrap();
    let mut m = Sequential::build(&spec, &[1, 28, 28], 0).unwrap();
    let mut t: HashMap<String, Tensor> = m.named_tensors().into_iter().collect();
    // dense weight [out, in] (PyTorch's layout): class 0 reads the region only
    let mut wt = vec![0.0f32; 2 * 784];
    for &p in region {
        wt[p] = a;
    }
    t.insert("dense1.weight".into(), Tensor::from_vec(wt, &[2, 784]).unwrap());
    t.insert("dense1.bias".into(), Tensor::from_vec(vec![-c, 0.0], &[2]).unwrap());
    m.load_named(&t).unwrap();
    m
}

#[test]
fn lime_finds_the_region_the_model_looks_at() {
    let test = embedded_sample(Split::Test).unwrap();
    // a 6x6 block of a real image (a trouser's leg area etc.): rows 12..18, columns 4..10, and
    // another on the right; the model only looks at the first
    let region: Vec<usize> = (12..18).flat_map(|y| (4..10).map(move |x| y * 28 + x)).collect();
    let norm = Normalization::Scale255;
    for (id, fill) in [(0usize, Fill::Mean), (1, Fill::Blur), (8, Fill::Segment), (19, Fill::Mean)] {
        let raw: Vec<f32> = test.image(id).iter().map(|&v| v as f32).collect();
        // make sure the region differs from the fill: brighten it (the model must see it change)
        let mut img = raw.clone();
        for &p in &region {
            img[p] = 230.0;
        }
        let model = region_model(&region, 0.25, 3.0);
        let cfg = LimeConfig { samples: 1000, superpixels: 40, fill, seed: 5, ..LimeConfig::default() };
        let exp = explain(&img, [1, 28, 28], &[0], &cfg, &mut |b| lime::probabilities(&model, &norm, b, [1, 28, 28])).unwrap();
        let ce = &exp.classes[0];
        assert_eq!(ce.class, 0);
        let inside = |j: usize| -> f64 {
            let px: Vec<usize> = (0..784).filter(|&p| exp.segments.labels[p] == j as u32).collect();
            px.iter().filter(|p| region.contains(p)).count() as f64 / px.len() as f64
        };
        let top = ce.top_positive(1)[0];
        assert!(inside(top) >= 0.5, "image {id} ({fill}): the top superpixel {top} has only {:.0}% of its pixels in the region", 100.0 * inside(top));
        // superpixels that do not touch the region get (almost) no weight
        let outside_max = (0..exp.segments.count).filter(|&j| inside(j) == 0.0).map(|j| ce.weights[j].abs()).fold(0.0, f64::max);
        assert!(outside_max < 0.2 * ce.weights[top], "image {id}: |w| up to {outside_max:.4} outside the region vs {:.4} on top", ce.weights[top]);
        // class 1 is the complement: its weights are the negatives of class 0's
        let exp1 = explain(&img, [1, 28, 28], &[1], &cfg, &mut |b| lime::probabilities(&model, &norm, b, [1, 28, 28])).unwrap();
        assert_eq!(exp1.classes[0].top_negative(1)[0], top);
    }
}

#[test]
fn lime_is_seeded_and_resolves_the_predicted_class() {
    let test = embedded_sample(Split::Test).unwrap();
    let region: Vec<usize> = (10..20).flat_map(|y| (10..20).map(move |x| y * 28 + x)).collect();
    let model = region_model(&region, 0.05, 1.0);
    let img: Vec<f32> = test.image(3).iter().map(|&v| v as f32).collect();
    let norm = Normalization::Scale255;
    let run = |seed: u64, classes: &[usize]| {
        let cfg = LimeConfig { samples: 300, seed, ..LimeConfig::default() };
        explain(&img, [1, 28, 28], classes, &cfg, &mut |b| lime::probabilities(&model, &norm, b, [1, 28, 28])).unwrap()
    };
    let a = run(1, &[]);
    assert_eq!(a, run(1, &[]), "same seed, same explanation");
    assert_ne!(a.classes[0].weights, run(2, &[]).classes[0].weights, "another seed draws other samples");
    let pred = a.predicted();
    assert_eq!(a.classes.iter().map(|c| c.class).collect::<Vec<_>>(), vec![pred]);
    let both = run(1, &[PREDICTED, 1 - pred, pred]);
    assert_eq!(both.classes.iter().map(|c| c.class).collect::<Vec<_>>(), vec![pred, 1 - pred], "repeats dropped, order kept");
    // the probabilities are the model's on the image itself
    let p = lime::probabilities(&model, &norm, &img, [1, 28, 28]).unwrap();
    assert_eq!(a.probabilities, p);
    // a class the model does not have is an error naming --classes
    let cfg = LimeConfig { samples: 10, ..LimeConfig::default() };
    let e = explain(&img, [1, 28, 28], &[5], &cfg, &mut |b| lime::probabilities(&model, &norm, b, [1, 28, 28])).unwrap_err();
    assert!(e.to_string().contains("--classes"), "{e}");
}

#[test]
fn lime_picture_and_csv() {
    let test = embedded_sample(Split::Test).unwrap();
    let region: Vec<usize> = (5..15).flat_map(|y| (5..15).map(move |x| y * 28 + x)).collect();
    let model = region_model(&region, 0.05, 1.0);
    let img: Vec<f32> = test.image(0).iter().map(|&v| v as f32).collect();
    let norm = Normalization::Scale255;
    let cfg = LimeConfig { samples: 200, ..LimeConfig::default() };
    let exp = explain(&img, [1, 28, 28], &[0, 1], &cfg, &mut |b| lime::probabilities(&model, &norm, b, [1, 28, 28])).unwrap();
    let names = vec!["in, region".to_string(), "out".to_string()];
    let canvas = pupil::viz::lime::render_explanation(&img, [1, 28, 28], &exp, &names, Some(0), 3, "test").unwrap();
    let png = canvas.encode_png().unwrap();
    let dec = png::Decoder::new(std::io::Cursor::new(png));
    let info = dec.read_info().unwrap().info().clone();
    // five tiles (image + 2 per class) of 28*7 pixels side by side
    assert!(info.width as usize >= 5 * 196 && info.height as usize >= 196, "{}x{}", info.width, info.height);
    let csv = pupil::viz::lime::weights_csv(0, &exp, &names);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "image,class,class_name,superpixel,pixels,centroid_y,centroid_x,weight");
    assert_eq!(lines.len(), 1 + 2 * exp.segments.count);
    assert!(lines[1].starts_with("0,0,\"in, region\","), "{}", lines[1]);
    let px: usize = lines[1..=exp.segments.count].iter().map(|l| l.rsplit(',').nth(3).unwrap().parse::<usize>().unwrap()).sum();
    assert_eq!(px, 784, "the superpixels of one class cover the image");
}
