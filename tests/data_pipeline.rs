//! Normalisation, augmentation and batching on the embedded Fashion-MNIST sample.

use pupil::data::{self, make_batch, Augment, Dataset, NormKind, Normalization, Split};
use pupil::{Rng, Tensor};

fn sample() -> Dataset {
    data::embedded_sample(Split::Training).unwrap()
}

fn as_f32(img: &[u8]) -> Vec<f32> {
    img.iter().map(|&v| v as f32).collect()
}

#[test]
fn featurewise_statistics_are_right() {
    let ds = sample();
    let norm = Normalization::fit(NormKind::FeatureWise, &ds);
    let Normalization::FeatureWise { mean, std } = &norm else { panic!("not feature-wise") };
    assert_eq!((mean.len(), std.len()), (784, 784));
    // Check a few pixels against a direct two-pass computation in f64.
    for p in [0usize, 100, 406, 783] {
        let xs: Vec<f64> = (0..ds.len()).map(|i| ds.image(i)[p] as f64 / 255.0).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let s = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!((mean[p] as f64 - m).abs() < 1e-6 && (std[p] as f64 - s).abs() < 1e-5, "pixel {p}");
    }
    // Normalised training data: each pixel with spread has mean ~0 and std ~1.
    let idx: Vec<usize> = (0..ds.len()).collect();
    let (x, labels) = make_batch(&ds, &idx, &norm, None).unwrap();
    assert_eq!(x.shape(), &[3000, 1, 28, 28]);
    assert_eq!(labels.len(), 3000);
    let p = 406;
    let col: Vec<f64> = x.data().chunks(784).map(|img| img[p] as f64).collect();
    let m = col.iter().sum::<f64>() / col.len() as f64;
    let v = col.iter().map(|c| (c - m).powi(2)).sum::<f64>() / col.len() as f64;
    assert!(m.abs() < 1e-4 && (v - 1.0).abs() < 1e-3, "mean {m} var {v}");
    // Saved with the model: serde round trip.
    let json = serde_json::to_string(&norm).unwrap();
    assert_eq!(serde_json::from_str::<Normalization>(&json).unwrap(), norm);
}

#[test]
fn scale255_and_none() {
    let mut out = [0f32; 3];
    Normalization::Scale255.apply(&[0, 51, 255], &mut out).unwrap();
    assert_eq!(out, [0.0, 0.2, 1.0]);
    Normalization::None.apply(&[0, 51, 255], &mut out).unwrap();
    assert_eq!(out, [0.0, 51.0, 255.0]);
    assert_eq!("featurewise".parse::<NormKind>().unwrap(), NormKind::FeatureWise);
    assert!("zscore".parse::<NormKind>().is_err());
}

#[test]
fn augmentation_is_deterministic_per_seed() {
    let ds = sample();
    let a = Augment::parse("flip,rot=20,shift=0.1,zoom=0.1,shear=5,brightness=0.1,contrast=0.1,crop=2").unwrap();
    let run = |seed: u64| {
        let mut img = as_f32(ds.image(7));
        a.apply(&mut img, 1, 28, 28, &mut Rng::new(seed)).unwrap();
        img
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    assert_ne!(run(1), as_f32(ds.image(7)));
    assert!(run(3).iter().all(|v| (0.0..=255.0).contains(v)));
}

#[test]
fn identity_augments_leave_images_unchanged() {
    let ds = sample();
    let orig = as_f32(ds.image(3));
    let zero_rot = Augment { rotation_deg: 0.0, zoom: 0.0, ..Augment::default() };
    for a in [Augment::default(), Augment::parse("none").unwrap(), zero_rot] {
        assert!(a.is_identity());
        let mut img = orig.clone();
        a.apply(&mut img, 1, 28, 28, &mut Rng::new(5)).unwrap();
        assert_eq!(img, orig);
    }
    // Through make_batch: an identity augment gives the un-augmented batch.
    let idx = [0usize, 5, 9];
    let plain = make_batch(&ds, &idx, &Normalization::Scale255, None).unwrap();
    let base = Rng::new(1);
    let ident = make_batch(&ds, &idx, &Normalization::Scale255, Some((&Augment::default(), &base, 0))).unwrap();
    assert_eq!(plain, ident);
    // Rotation/shear drawn as tiny non-zero angles still resample; a zero shift does not move pixels.
    let shift0 = Augment { shift_w: 0.0, shift_h: 0.0, ..Augment::default() };
    assert!(shift0.is_identity());
}

#[test]
fn hflip_twice_is_identity() {
    let ds = sample();
    let a = Augment { hflip: true, ..Augment::default() };
    let orig = as_f32(ds.image(11));
    let mut flipped_once = 0;
    for seed in 0..16 {
        let rng = Rng::new(seed);
        let mut img = orig.clone();
        a.apply(&mut img, 1, 28, 28, &mut rng.clone()).unwrap();
        if img != orig {
            flipped_once += 1;
            assert_eq!(img[..28].iter().rev().copied().collect::<Vec<_>>(), orig[..28].to_vec());
        }
        a.apply(&mut img, 1, 28, 28, &mut rng.clone()).unwrap();
        assert_eq!(img, orig, "seed {seed}");
    }
    assert!((4..=12).contains(&flipped_once), "flip probability: {flipped_once}/16");
}

#[test]
fn multichannel_augment_moves_channels_together() {
    // Three identical channels stay identical after a full augmentation.
    let ds = sample();
    let one = as_f32(ds.image(0));
    let mut img = [one.clone(), one.clone(), one].concat();
    Augment::standard().apply(&mut img, 3, 28, 28, &mut Rng::new(9)).unwrap();
    assert_eq!(img[..784], img[784..1568]);
    assert_eq!(img[..784], img[1568..]);
    assert!(Augment::standard().apply(&mut img, 2, 28, 28, &mut Rng::new(9)).is_err());
}

fn batch_with_threads(k: usize, ds: &Dataset, idx: &[usize], norm: &Normalization, aug: &Augment) -> Tensor {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(k).build().unwrap();
    let base = Rng::new(42);
    pool.install(|| make_batch(ds, idx, norm, Some((aug, &base, 3))).unwrap().0)
}

#[test]
fn batches_are_identical_for_any_thread_count() {
    let ds = sample();
    let norm = Normalization::fit(NormKind::FeatureWise, &ds);
    let aug = Augment::parse("standard,shear=5,brightness=0.2,contrast=0.2,crop=3").unwrap();
    let idx = data::shuffled(ds.len(), &mut Rng::new(1))[..256].to_vec();
    let one = batch_with_threads(1, &ds, &idx, &norm, &aug);
    let two = batch_with_threads(2, &ds, &idx, &norm, &aug);
    assert_eq!(one.shape(), &[256, 1, 28, 28]);
    assert_eq!(one, two);
    // An image gets the same augmentation whatever batch it is in...
    let single = batch_with_threads(1, &ds, &idx[5..6], &norm, &aug);
    assert_eq!(single.data(), &one.data()[5 * 784..6 * 784]);
    // ...and a different one for another stream (epoch).
    let base = Rng::new(42);
    let other = make_batch(&ds, &idx, &norm, Some((&aug, &base, 4))).unwrap().0;
    assert_ne!(other, one);
}

#[test]
fn batch_labels_and_errors() {
    let ds = sample();
    let (x, y) = make_batch(&ds, &[2, 0], &Normalization::Scale255, None).unwrap();
    assert_eq!(x.shape(), &[2, 1, 28, 28]);
    assert_eq!(y, vec![ds.label(2).unwrap() as usize, ds.label(0).unwrap() as usize]);
    let e = make_batch(&ds, &[0, 3000], &Normalization::Scale255, None).unwrap_err().to_string();
    assert!(e.contains("3000") && e.contains("out of range"), "{e}");
    let (x, y) = make_batch(&ds, &[], &Normalization::Scale255, None).unwrap();
    assert_eq!((x.shape(), y.len()), (&[0usize, 1, 28, 28][..], 0));
    let unlabeled = Dataset { labels: None, ..ds.subset(&[0, 1]) };
    assert!(make_batch(&unlabeled, &[1], &Normalization::Scale255, None).unwrap().1.is_empty());
    let (t, v) = data::split_validation(ds.len(), 0.1, 7);
    assert_eq!((t.len(), v.len()), (2700, 300));
}
