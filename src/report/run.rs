//! The report of a run directory: model, training, evaluation on a labelled set, explanations.
//! Each section comes from its own function; new sections (saliency grids per class, filter
//! grids, class images) are pushed in [`run_report`] at the marked place.

use super::{Figure, Report, Section, Table};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::explain::lime::{self, LimeConfig};
use crate::nn::{summary, thousands};
use crate::run::{RunDir, RunModel};
use crate::train::{check_data, evaluate_with, Confusion, EpochRecord, TrainConfig};
use crate::viz::{render_confusion, render_training_curves};
use std::path::Path;

/// What [`run_report`] includes besides the fixed sections.
#[derive(Clone, Debug)]
pub struct RunReportOptions {
    /// LIME settings for the examples.
    pub lime: LimeConfig,
    /// LIME examples: the first image of each class, at most this many (0: no LIME section).
    pub lime_images: usize,
    /// Superpixels outlined per sign and class.
    pub lime_top: usize,
    /// Images per batch when evaluating.
    pub batch: usize,
}

impl Default for RunReportOptions {
    fn default() -> Self {
        RunReportOptions { lime: LimeConfig::default(), lime_images: 10, lime_top: 5, batch: 256 }
    }
}

/// Builds the report of the run in `run_dir` on `data` (labelled data gives the confusion
/// matrix; `data_name` says what it is). `progress(stage, done, total)` is called as the slow
/// parts advance: images evaluated, rows of saliency, ascent steps, LIME images.
pub fn run_report(run_dir: &Path, data: &Dataset, data_name: &str, opts: &RunReportOptions, progress: &mut dyn FnMut(&str, usize, usize)) -> Result<Report> {
    opts.lime.validate()?;
    let run = RunDir::open(run_dir)?.load_model()?;
    let classes = run.meta.class_names.len();
    check_data(data, &run.meta.input, classes, data_name)?;
    let [c, h, w] = [run.meta.input[0], run.meta.input[1], run.meta.input[2]];
    let mut report = Report::new(format!("Run report: {}", run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| run_dir.display().to_string())))
        .meta(format!("Run directory {} \u{b7} data: {data_name} ({} images {h}x{w}x{c}) \u{b7} pupil {}", run_dir.display(), data.len(), env!("CARGO_PKG_VERSION")))
        .intro(format!(
            "A convolutional network trained with pupil, looked at from the outside (training curves, accuracy, confusion matrix) and from the inside (which parts of an image drive its decisions). Classes: {}.",
            run.meta.class_names.join(", ")
        ))
        .footer("Written by pupil report. Self-contained: every image is embedded, nothing is loaded from elsewhere.");
    report.push(model_section(&run)?);
    report.push(training_section(run_dir)?);
    progress("evaluating", 0, data.len());
    match data.labels {
        Some(_) => {
            let ev = evaluate_with(&run.model, data, &run.meta.normalization, opts.batch, &mut |done, total| progress("evaluating", done, total))?;
            let conf = Confusion::new(&run.meta.class_names, &ev.truth, &ev.predictions);
            report.push(evaluation_section(&conf, ev.loss, data_name)?);
        }
        None => {
            report.push(Section::new("Evaluation").text(format!("{data_name} has no labels, so there is no accuracy or confusion matrix here.")));
        }
    }
    progress("evaluating", data.len(), data.len());
    for s in super::inside::inside_sections(&run, data, progress)? {
        report.push(s);
    }
    if opts.lime_images > 0 {
        report.push(lime_section(&run, data, opts, progress)?);
    }
    Ok(report)
}

fn model_section(run: &RunModel) -> Result<Section> {
    let m = &run.meta;
    let text = format!(
        "{} parameters. Input {}x{}x{} (height x width x channels), normalised as {:?} exactly as in training; {} output classes. The layers, as `pupil summary` prints them:",
        thousands(run.model.num_params()),
        m.input[1],
        m.input[2],
        m.input[0],
        m.normalization.kind(),
        m.class_names.len()
    );
    Ok(Section::new("Model").text(text).pre(summary(&m.spec, &m.input)?))
}

/// The run's training settings as `(setting, value)` pairs, for a table.
fn train_settings(config: &TrainConfig) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(cfg)) = serde_json::to_value(config) else { return vec![] };
    fn show(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "none".into(),
            // {"kind":"adam","beta1":0.9,...} -> "adam (beta1 0.9, ...)"
            serde_json::Value::Object(o) => {
                let kind = o.get("kind").map(show);
                let rest: Vec<String> = o.iter().filter(|(k, _)| k.as_str() != "kind").map(|(k, v)| format!("{k} {}", show(v))).collect();
                match (kind, rest.is_empty()) {
                    (Some(k), true) => k,
                    (Some(k), false) => format!("{k} ({})", rest.join(", ")),
                    (None, _) => rest.join(", "),
                }
            }
            // settings are f32: print the shortest text that reads back as the same f32
            serde_json::Value::Number(n) if !(n.is_i64() || n.is_u64()) => n.as_f64().map(|f| (f as f32).to_string()).unwrap_or_else(|| n.to_string()),
            other => other.to_string(),
        }
    }
    let mut out = Vec::new();
    for (k, v) in &cfg {
        match (k.as_str(), v) {
            ("optimizer", serde_json::Value::Object(o)) => {
                for (ok, ov) in o {
                    out.push((format!("optimizer {ok}"), show(ov)));
                }
            }
            ("augment", serde_json::Value::Object(a)) => {
                let on: Vec<String> = a
                    .iter()
                    .filter(|(_, v)| !matches!(v, serde_json::Value::Bool(false)) && v.as_f64() != Some(0.0))
                    .map(|(k, v)| format!("{k}={}", show(v)))
                    .collect();
                out.push(("augmentation".into(), if on.is_empty() { "none".into() } else { on.join(", ") }));
            }
            _ => out.push((k.replace('_', " "), show(v))),
        }
    }
    out
}

fn training_section(run_dir: &Path) -> Result<Section> {
    let mut s = Section::new("Training");
    let Some(state) = RunDir::new(run_dir).train_state()? else {
        return Ok(s.text(format!("No training history: {} holds no checkpoint.", run_dir.display())));
    };
    let settings = train_settings(&state.config);
    let hist = state.history;
    if hist.is_empty() {
        return Ok(s.text("The training history is empty (no epoch finished)."));
    }
    let secs: f32 = hist.iter().map(|r| r.seconds).sum();
    let last = &hist[hist.len() - 1];
    let mut text =
        format!("{} epochs in {:.0} s; the last epoch ended at training accuracy {:.3} (loss {:.3})", hist.len(), secs, last.train_acc, last.train_loss);
    if let Some(best) = hist.iter().filter(|r| r.val_acc.is_some()).max_by(|a, b| a.val_acc.unwrap_or(0.0).total_cmp(&b.val_acc.unwrap_or(0.0))) {
        text.push_str(&format!(
            ". Best validation accuracy {:.3} at epoch {} (the saved model keeps the best epoch's weights when validating)",
            best.val_acc.unwrap_or(0.0),
            best.epoch
        ));
    }
    text.push('.');
    s = s.text(text);
    s = s.figure(Figure::from_canvas(&render_training_curves(&hist), "Loss and accuracy per epoch, training (blue) and validation (orange).")?);
    s = s.table(epoch_table(&hist));
    if !settings.is_empty() {
        let mut t = Table::new(&["setting", "value"]).caption("Training settings, from the run's checkpoint.");
        for (k, v) in settings {
            t = t.row([k, v]);
        }
        s = s.table(t);
    }
    Ok(s)
}

fn epoch_table(hist: &[EpochRecord]) -> Table {
    let opt = |v: Option<f32>, p: usize| v.map(|v| format!("{v:.p$}")).unwrap_or_else(|| "-".into());
    let shown: Vec<&EpochRecord> = if hist.len() <= 20 {
        hist.iter().collect()
    } else {
        let step = hist.len().div_ceil(19);
        let mut v: Vec<&EpochRecord> = hist.iter().step_by(step).collect();
        if v.last().map(|r| r.epoch) != hist.last().map(|r| r.epoch) {
            v.push(&hist[hist.len() - 1]);
        }
        v
    };
    let mut t = Table::new(&["epoch", "train loss", "train acc", "val loss", "val acc", "lr", "seconds"]);
    for r in &shown {
        t = t.row([
            r.epoch.to_string(),
            format!("{:.4}", r.train_loss),
            format!("{:.4}", r.train_acc),
            opt(r.val_loss, 4),
            opt(r.val_acc, 4),
            format!("{}", r.lr),
            format!("{:.1}", r.seconds),
        ]);
    }
    let note = if shown.len() < hist.len() { format!(" ({} of {} epochs shown)", shown.len(), hist.len()) } else { String::new() };
    t.caption(format!("The training history (history.csv){note}."))
}

fn evaluation_section(conf: &Confusion, loss: f64, data_name: &str) -> Result<Section> {
    let total = conf.total();
    let mut s = Section::new("Evaluation").text(format!(
        "On {data_name}: accuracy {:.4} ({} of {} images), mean cross-entropy {:.4}.",
        conf.accuracy(),
        (0..conf.counts.len()).map(|i| conf.counts[i][i]).sum::<u64>(),
        total,
        loss
    ));
    if conf.class_names.len() <= 50 {
        let canvas = render_confusion(&conf.counts, &conf.class_names, &format!("Confusion matrix (accuracy {:.3})", conf.accuracy()))?;
        s = s.figure(Figure::from_canvas(&canvas, "Confusion matrix: rows are true classes, columns predicted ones; counts and row-normalised fractions.")?);
    }
    let mut t = Table::new(&["class", "precision", "recall", "f1", "support"]).caption("Per-class scores.");
    for c in conf.per_class() {
        t = t.row([c.name.clone(), format!("{:.3}", c.precision), format!("{:.3}", c.recall), format!("{:.3}", c.f1), c.support.to_string()]);
    }
    s = s.table(t);
    let confused = conf.most_confused(5);
    if !confused.is_empty() {
        let mut t = Table::new(&["true class", "predicted as", "fraction of the true class", "images"]).caption("The most frequent confusions.");
        for (a, b, f, n) in confused {
            t = t.row([conf.class_names[a].clone(), conf.class_names[b].clone(), format!("{f:.3}"), n.to_string()]);
        }
        s = s.table(t);
    }
    Ok(s)
}

/// The images LIME explains: the first image of each class in class order (the first images
/// if the data has no labels), at most `n`.
pub(crate) fn lime_picks(data: &Dataset, classes: usize, n: usize) -> Vec<usize> {
    match &data.labels {
        Some(labels) => (0..classes).filter_map(|c| labels.iter().position(|&l| l as usize == c)).take(n).collect(),
        None => (0..data.len().min(n)).collect(),
    }
}

fn lime_section(run: &RunModel, data: &Dataset, opts: &RunReportOptions, progress: &mut dyn FnMut(&str, usize, usize)) -> Result<Section> {
    let cfg = &opts.lime;
    let names = run.meta.class_names.clone();
    let chw = [run.meta.input[0], run.meta.input[1], run.meta.input[2]];
    let picks = lime_picks(data, names.len(), opts.lime_images);
    let s = Section::new("Why the model decides: LIME").text(format!(
        "LIME (Ribeiro et al. 2016) explains one prediction at a time. The image is cut into about {} superpixels (SLIC on the grey levels); {} copies of it have random superpixels switched off (replaced by the image's {}); the model classifies every copy; a ridge regression weighted by closeness to the original (exponential kernel of width {} on the cosine distance) then tells how much each superpixel adds to the class probability.\n\n\
         Each row: the image with its superpixels; then, per explained class (the predicted one, and the true one when the prediction is wrong), the {} superpixels that raise the probability most (green) and lower it most (red), and every superpixel's weight (blue negative, red positive). R\u{b2} is how well the linear model fits the samples.",
        cfg.superpixels, cfg.samples, match cfg.fill { lime::Fill::Mean => "mean value", lime::Fill::Blur => "blurred version", lime::Fill::Segment => "superpixel means" }, cfg.kernel_width, opts.lime_top
    ));
    let mut figs = Vec::new();
    let mut stats = Table::new(&["image", "true", "explained class", "probability", "local R\u{b2}", "superpixels"]).caption("Fit of the local linear models.");
    for (done, &i) in picks.iter().enumerate() {
        progress("LIME", done, picks.len());
        let raw: Vec<f32> = data.image(i).iter().map(|&v| v as f32).collect();
        let label = data.label(i).map(|l| l as usize);
        // the predicted class, and the true one when it differs (explain drops repeats)
        let classes: Vec<usize> = std::iter::once(lime::PREDICTED).chain(label).collect();
        let mut lc = cfg.clone();
        lc.seed = lime::image_seed(cfg.seed, i);
        let (model, norm) = (&run.model, &run.meta.normalization);
        let exp = lime::explain(&raw, chw, &classes, &lc, &mut |batch| lime::probabilities(model, norm, batch, chw))?;
        let title = match label {
            Some(t) => format!("Image {i} ({})", names[t]),
            None => format!("Image {i}"),
        };
        let canvas = crate::viz::lime::render_explanation(&raw, chw, &exp, &names, label, opts.lime_top, &title)?;
        for ce in &exp.classes {
            stats = stats.row([
                i.to_string(),
                label.map(|t| names[t].clone()).unwrap_or_else(|| "-".into()),
                names[ce.class].clone(),
                format!("{:.3}", ce.probability),
                format!("{:.3}", ce.r2),
                exp.segments.count.to_string(),
            ]);
        }
        let what = match (label, exp.classes.len()) {
            (Some(t), 1) => format!("a {} image, predicted correctly", names[t]),
            (Some(t), _) => format!("a {} image, predicted as {}", names[t], names[exp.predicted()]),
            (None, _) => format!("predicted as {}", names[exp.predicted()]),
        };
        figs.push(Figure::from_canvas(&canvas, format!("LIME on image {i}: {what}."))?);
    }
    progress("LIME", picks.len(), picks.len());
    if figs.is_empty() {
        return Err(Error::invalid("report", "no images to explain with LIME"));
    }
    Ok(s.figures(figs).table(stats))
}
