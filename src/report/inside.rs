//! The report's sections from the gradient-based explainers: a saliency grid (one image per
//! class), what the first convolution's filters respond to, and the image the model finds most
//! like each class. The same library calls as `pupil saliency`, `filters` and `classviz`.

use super::run::lime_picks;
use super::{Figure, Section};
use crate::data::Dataset;
use crate::error::Result;
use crate::explain::{last_conv, layers, saliency_captions, AscentOptions, ClassChoice, Explainer, LayerKind, Method, Progress};
use crate::run::RunModel;
use crate::tensor::Tensor;
use crate::viz::explain::{class_captions, filter_captions, render_ascent_grid, render_saliency_grid, SaliencyColumn};

/// Filters of the first convolution shown at most.
const MAX_FILTERS: usize = 32;

/// The three sections, in the order the report shows them.
pub(crate) fn inside_sections(run: &RunModel, data: &Dataset, progress: &mut dyn FnMut(&str, usize, usize)) -> Result<Vec<Section>> {
    let mut ex = Explainer::new(&run.model, &run.meta.normalization)?;
    let names = &run.meta.class_names;
    let mut out = Vec::new();
    out.push(saliency_section(&mut ex, data, names, &mut |done, total| progress("saliency", done, total))?);
    if let Some(s) = filters_section(&mut ex, &mut |done, total| progress("filters", done, total))? {
        out.push(s);
    }
    out.push(classes_section(&mut ex, names, &mut |done, total| progress("class images", done, total))?);
    Ok(out)
}

fn saliency_section(ex: &mut Explainer, data: &Dataset, names: &[String], progress: Progress) -> Result<Section> {
    let ids = lime_picks(data, names.len(), names.len());
    let raw = Explainer::raw_images(data, &ids)?;
    let x = ex.normalize(&raw)?;
    let classes = ex.resolve_classes(&x, ClassChoice::Predicted, None)?;
    let probs = ex.probabilities(&x)?;
    let mut methods = vec![(Method::Vanilla, "vanilla".to_string())];
    if let Some(l) = last_conv(ex.model()) {
        methods.push((Method::GradCam { layer: Some(l.index) }, format!("Grad-CAM {}", l.name)));
    }
    let mut maps: Vec<(Tensor, String)> = Vec::new();
    for (m, label) in &methods {
        maps.push((ex.saliency(&raw, &classes, m, &mut *progress)?, label.clone()));
    }
    let labels: Option<Vec<usize>> = data.labels.as_ref().map(|l| ids.iter().map(|&i| l[i] as usize).collect());
    let captions = saliency_captions(&ids, labels.as_deref(), probs.data(), None, names);
    let cols: Vec<SaliencyColumn> = maps.iter().map(|(t, l)| SaliencyColumn { label: l.clone(), maps: t }).collect();
    let canvas = render_saliency_grid(&raw, &captions, &cols, "Saliency of the predicted class")?;
    Ok(Section::new("Where the model looks: saliency")
        .text(
            "For the first image of each class: the gradient of the predicted class's score (the logit, before softmax) with respect to the input pixels \
             (vanilla saliency, Simonyan et al. 2014) and Grad-CAM on the last convolution (Selvaraju et al. 2017). Each method shows its heatmap, \
             the heatmap over the image, and the image keeping only its most salient quarter. `pupil saliency` adds SmoothGrad and integrated gradients.",
        )
        .figure(Figure::from_canvas(&canvas, "Saliency maps, one image per class (caption: true class, then predicted class and its probability).")?))
}

fn filters_section(ex: &mut Explainer, progress: Progress) -> Result<Option<Section>> {
    let Some(layer) = layers(ex.model()).into_iter().find(|l| l.kind == LayerKind::Conv) else { return Ok(None) };
    let filters: Vec<usize> = (0..layer.channels().min(MAX_FILTERS)).collect();
    let opts = AscentOptions::default();
    let r = ex.visualize_filters(&layer, &filters, &opts, progress)?;
    let captions = filter_captions(&r);
    let canvas = render_ascent_grid(&r.images, &captions, 8, &format!("{} ({})", layer.name, layer.description))?;
    Ok(Some(
        Section::new("What the filters respond to")
            .text(format!(
                "Gradient ascent from a small random image on the mean activation of each filter of the first convolution ({} steps of a normalised gradient step), \
                 as the homework reports did; under each filter its final mean activation. `pupil filters --layer NAME` does this for any convolution.",
                opts.steps
            ))
            .figure(Figure::from_canvas(&canvas, format!("The first {} filters of {}.", filters.len(), layer.name))?),
    ))
}

fn classes_section(ex: &mut Explainer, names: &[String], progress: Progress) -> Result<Section> {
    let classes: Vec<usize> = (0..names.len()).collect();
    // the settings of `pupil classviz`'s defaults
    let opts = AscentOptions { lr: 0.05, tv: 0.1, jitter: 1, ..AscentOptions::default() };
    let r = ex.visualize_classes(&classes, true, &opts, progress)?;
    let probs = ex.probabilities(&r.images)?;
    let captions = class_captions(&r, probs.data(), names);
    let canvas = render_ascent_grid(&r.images, &captions, 5, "Class images")?;
    Ok(Section::new("What the model thinks each class looks like")
        .text(format!(
            "Gradient ascent from noise on each class's log-probability ({} steps, with a total-variation penalty and jitter); under each image the probability the model gives it.",
            opts.steps
        ))
        .figure(Figure::from_canvas(&canvas, "One image per class, from noise.")?))
}
