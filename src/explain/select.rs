//! Which images and which classes an explanation covers: the choices behind `--ids`,
//! `--per-class`, `--method` and LIME's `--classes`, as library calls (the CLI only parses
//! the flag strings into these).

use super::integrated::Quadrature;
use super::saliency::{Baseline, Method};
use super::{Explainer, LayerKind};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Most images per class `--per-class` accepts.
pub const MAX_PER_CLASS: usize = 1000;
/// Images explained when neither ids nor a per-class count is given and the data has no labels.
pub const DEFAULT_UNLABELLED: usize = 8;

/// The first `n` images of each class `0..classes`, class after class (a class with fewer
/// images gives what it has).
pub fn per_class_ids(labels: &[u8], classes: usize, n: usize) -> Vec<usize> {
    let mut ids = Vec::new();
    for c in 0..classes {
        ids.extend(labels.iter().enumerate().filter(|(_, &l)| l as usize == c).map(|(i, _)| i).take(n));
    }
    ids
}

/// The images to explain: `ids` when given (each checked against the data), else the first
/// `per_class` images of each true class (default 1), else, for data without labels, the first
/// [`DEFAULT_UNLABELLED`] images. Errors name the flag: `--per-class` on unlabelled data or
/// outside `1..=MAX_PER_CLASS`, an id beyond the data.
pub fn pick_ids(ds: &Dataset, ids: Option<&[usize]>, per_class: Option<usize>) -> Result<Vec<usize>> {
    if let Some(ids) = ids {
        if let Some(&bad) = ids.iter().find(|&&i| i >= ds.len()) {
            return Err(Error::invalid("--ids", format!("id {bad} is beyond the data ({} images, ids 0 to {})", ds.len(), ds.len().saturating_sub(1))));
        }
        return Ok(ids.to_vec());
    }
    match (&ds.labels, per_class) {
        (None, Some(_)) => Err(Error::invalid("--per-class", "the data has no labels; give --ids")),
        (None, None) => Ok((0..ds.len().min(DEFAULT_UNLABELLED)).collect()),
        (Some(labels), n) => {
            let n = n.unwrap_or(1);
            if n == 0 || n > MAX_PER_CLASS {
                return Err(Error::invalid("--per-class", format!("{n} is not from 1 to {MAX_PER_CLASS}")));
            }
            Ok(per_class_ids(labels, ds.num_classes(), n))
        }
    }
}

/// The settings every saliency method may need (the CLI's `--samples`, `--noise`, `--seed`,
/// `--baseline`, `--steps`, `--layer`).
#[derive(Clone, Debug, PartialEq)]
pub struct MethodSettings {
    /// SmoothGrad: noisy copies per image (1 to 10000).
    pub samples: usize,
    /// SmoothGrad: σ as a fraction of the image's value range (>= 0).
    pub noise: f32,
    /// SmoothGrad: seed of the noise.
    pub seed: u64,
    /// Integrated gradients: the reference image.
    pub baseline: Baseline,
    /// Integrated gradients: points on the path (1 to 10000).
    pub steps: usize,
    /// Integrated gradients: the quadrature rule.
    pub rule: Quadrature,
    /// Grad-CAM: a layer name or 1-based index (None: the last convolution).
    pub layer: Option<String>,
}

impl Default for MethodSettings {
    fn default() -> Self {
        MethodSettings { samples: 50, noise: 0.15, seed: 0, baseline: Baseline::Black, steps: 64, rule: Quadrature::GaussLegendre, layer: None }
    }
}

/// The methods named in `names` (`vanilla`, `smoothgrad`, `integrated`, `gradcam`, comma
/// separated, or `all`), in that order, repeats dropped, with `s`'s settings; Grad-CAM's layer
/// is resolved against `ex`'s model and must have spatial maps.
pub fn parse_methods(names: &str, s: &MethodSettings, ex: &Explainer) -> Result<Vec<Method>> {
    if s.samples == 0 || s.samples > 10_000 || !(s.noise.is_finite() && s.noise >= 0.0) || s.steps == 0 || s.steps > 10_000 {
        return Err(Error::invalid("saliency", "--samples and --steps must be from 1 to 10000 and --noise a number >= 0"));
    }
    let list: Vec<&str> =
        if names.trim() == "all" { vec!["vanilla", "smoothgrad", "integrated", "gradcam"] } else { names.split(',').map(str::trim).collect() };
    let mut out = Vec::new();
    for n in list {
        let m = match n.to_ascii_lowercase().as_str() {
            "vanilla" | "gradient" => Method::Vanilla,
            "smoothgrad" | "smooth" => Method::SmoothGrad { samples: s.samples, noise: s.noise, seed: s.seed },
            "integrated" | "ig" => Method::Integrated { baseline: s.baseline, steps: s.steps, rule: s.rule },
            "gradcam" | "grad-cam" => {
                let layer = match &s.layer {
                    Some(l) => ex.layer(l)?,
                    None => ex
                        .layers()
                        .into_iter()
                        .rev()
                        .find(|l| l.kind == LayerKind::Conv)
                        .ok_or_else(|| Error::invalid("--method", "gradcam: the model has no convolutional layer"))?,
                };
                super::require_spatial(&layer, "Grad-CAM")?;
                Method::GradCam { layer: Some(layer.index) }
            }
            _ => return Err(Error::invalid("--method", format!("{n:?} is not vanilla, smoothgrad, integrated, gradcam or all"))),
        };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    Ok(out)
}

/// A method's column title in a saliency grid: `vanilla`, `smoothgrad`, `IG (black)`,
/// `Grad-CAM conv3`.
pub fn method_label(m: &Method, ex: &Explainer) -> String {
    match m {
        Method::Integrated { baseline, .. } => format!("IG ({})", baseline.name()),
        Method::GradCam { layer: Some(i) } => ex.layers().get(i - 1).map(|l| format!("Grad-CAM {}", l.name)).unwrap_or_else(|| "Grad-CAM".into()),
        m => m.name().to_string(),
    }
}

/// The caption of image `id` in a saliency grid: its true class (`?` without labels), the
/// predicted class with its probability, and, when the map follows another class than the
/// predicted one, that class: `"#12 Happy\n→ Sad 0.61\nfor Happy"`.
pub fn saliency_caption(id: usize, truth: Option<&str>, predicted: &str, probability: f32, explained: Option<&str>) -> String {
    let explains = explained.map(|e| format!("\nfor {e}")).unwrap_or_default();
    format!("#{id} {}\n→ {predicted} {probability:.2}{explains}", truth.unwrap_or("?"))
}

/// [`saliency_caption`] for each image `n` of `ids`: `labels[n]` its true class, `probs` the
/// `[N, K]` probabilities, `explained[n]` the class its map follows (None: the predicted one,
/// not repeated in the caption).
pub fn saliency_captions(ids: &[usize], labels: Option<&[usize]>, probs: &[f32], explained: Option<&[usize]>, names: &[String]) -> Vec<String> {
    let k = names.len().max(1);
    ids.iter()
        .enumerate()
        .map(|(n, &id)| {
            let row = &probs[n * k..(n + 1) * k];
            let pred = row.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (c, &p)| if p > b.1 { (c, p) } else { b });
            let truth = labels.map(|l| names[l[n]].as_str());
            saliency_caption(id, truth, &names[pred.0], pred.1, explained.map(|e| names[e[n]].as_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(labels: Option<Vec<u8>>, n: usize) -> Dataset {
        Dataset { channels: 1, height: 2, width: 2, pixels: vec![0; n * 4], labels, ids: None, class_names: vec!["a".into(), "b".into(), "c".into()] }
    }

    #[test]
    fn per_class_takes_the_first_n_of_each_class_in_class_order() {
        let labels = [2u8, 0, 2, 1, 0, 2, 0];
        assert_eq!(per_class_ids(&labels, 3, 2), vec![1, 4, 3, 0, 2]);
        assert_eq!(per_class_ids(&labels, 3, 1), vec![1, 3, 0]);
        // a class without images gives none
        assert_eq!(per_class_ids(&labels, 4, 1), vec![1, 3, 0]);
    }

    #[test]
    fn pick_ids_follows_the_flags_and_names_the_bad_one() {
        let ds = data(Some(vec![2, 0, 2, 1, 0, 2, 0]), 7);
        assert_eq!(pick_ids(&ds, Some(&[6, 2]), None).unwrap(), vec![6, 2]);
        assert_eq!(pick_ids(&ds, None, None).unwrap(), vec![1, 3, 0]);
        assert_eq!(pick_ids(&ds, None, Some(3)).unwrap(), vec![1, 4, 6, 3, 0, 2, 5]);
        assert!(pick_ids(&ds, Some(&[7]), None).unwrap_err().to_string().contains("id 7 is beyond the data (7 images"));
        assert!(pick_ids(&ds, None, Some(0)).unwrap_err().to_string().contains("--per-class"));
        let unlabelled = data(None, 20);
        assert_eq!(pick_ids(&unlabelled, None, None).unwrap(), (0..DEFAULT_UNLABELLED).collect::<Vec<_>>());
        assert!(pick_ids(&unlabelled, None, Some(1)).unwrap_err().to_string().contains("no labels"));
    }

    #[test]
    fn captions_name_truth_prediction_and_the_explained_class() {
        let names: Vec<String> = ["Angry", "Happy", "Sad"].iter().map(|s| s.to_string()).collect();
        let probs = [0.1, 0.7, 0.2, 0.5, 0.2, 0.3];
        let c = saliency_captions(&[4, 9], Some(&[1, 2]), &probs, None, &names);
        assert_eq!(c, vec!["#4 Happy\n→ Happy 0.70", "#9 Sad\n→ Angry 0.50"]);
        let c = saliency_captions(&[4, 9], None, &probs, Some(&[2, 2]), &names);
        assert_eq!(c[1], "#9 ?\n→ Angry 0.50\nfor Sad");
    }

    #[test]
    fn methods_parse_in_order_without_repeats_and_resolve_the_gradcam_layer() {
        use crate::data::Normalization;
        use crate::nn::{preset, Sequential};
        let m = Sequential::build(&preset("keras-hw3", 7).unwrap(), &[1, 48, 48], 0).unwrap();
        let ex = Explainer::new(&m, &Normalization::Scale255).unwrap();
        let s = MethodSettings { steps: 16, ..MethodSettings::default() };
        let got = parse_methods("gradcam, IG,vanilla,ig", &s, &ex).unwrap();
        assert_eq!(
            got,
            vec![
                Method::GradCam { layer: Some(12) },
                Method::Integrated { baseline: Baseline::Black, steps: 16, rule: Quadrature::GaussLegendre },
                Method::Vanilla
            ]
        );
        assert_eq!(parse_methods("all", &s, &ex).unwrap().len(), 4);
        assert_eq!(method_label(&got[0], &ex), "Grad-CAM conv5");
        assert_eq!(method_label(&got[1], &ex), "IG (black)");
        let conv2 = MethodSettings { layer: Some("conv2".into()), ..s.clone() };
        assert_eq!(parse_methods("gradcam", &conv2, &ex).unwrap(), vec![Method::GradCam { layer: Some(5) }]);
        let dense = MethodSettings { layer: Some("dense1".into()), ..s.clone() };
        assert!(parse_methods("gradcam", &dense, &ex).is_err());
        assert!(parse_methods("occlusion", &s, &ex).unwrap_err().to_string().contains("--method"));
        assert!(parse_methods("vanilla", &MethodSettings { samples: 0, ..s }, &ex).is_err());
    }
}
