//! `pupil saliency`, `filters`, `features`, `classviz`: flags into library calls, progress
//! bars, pictures and files.

use super::{parse_ids, parse_list};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pupil::data::{Dataset, Split};
use pupil::error::{Error, Result};
use pupil::explain::{save_attributions, AscentOptions, AttributionSet, Baseline, ClassChoice, Explainer, LayerInfo, Method};
use pupil::run::{RunDir, RunModel};
use pupil::tensor::Tensor;
use pupil::viz::explain::{ascent_grid, features_grid, saliency_grid, SaliencyColumn};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the model and the data come from (shared by every explain command).
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run directory written by `pupil train` (default: the latest run, runs/latest).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Output directory (default: RUN/explain).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SaliencyArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub data: super::DataArgs,
    /// Image indices in the data, e.g. 0,5,9 or 0-7.
    #[arg(long, conflicts_with = "per_class")]
    pub ids: Option<String>,
    /// The first N images of each true class (default 1 when the data has labels).
    #[arg(long)]
    pub per_class: Option<usize>,
    /// Whose score to explain: predicted, true, or a class number.
    #[arg(long, default_value = "predicted")]
    pub class: String,
    /// vanilla, smoothgrad, integrated, gradcam; several separated by commas, or all.
    #[arg(long, default_value = "vanilla")]
    pub method: String,
    /// Grad-CAM layer, a name or index from `pupil summary` (default: the last conv layer).
    #[arg(long)]
    pub layer: Option<String>,
    /// SmoothGrad: noisy copies per image.
    #[arg(long, default_value_t = 50)]
    pub samples: usize,
    /// SmoothGrad: noise standard deviation as a fraction of the image's value range.
    #[arg(long, default_value_t = 0.15)]
    pub noise: f32,
    /// Integrated gradients: black, mean or blur.
    #[arg(long, default_value = "black")]
    pub baseline: String,
    /// Integrated gradients: points on the path.
    #[arg(long, default_value_t = 64)]
    pub steps: usize,
    /// Seed of SmoothGrad's noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Settings of gradient ascent shared by `filters` and `classviz`.
#[derive(Args, Debug)]
pub struct AscentArgs {
    /// Ascent steps.
    #[arg(long, default_value_t = 150)]
    pub steps: usize,
    /// Step size (normalised gradient step, as a fraction of the input range).
    #[arg(long, default_value_t = 0.01)]
    pub lr: f32,
    /// L2 decay weight.
    #[arg(long, default_value_t = 0.0)]
    pub l2: f32,
    /// Total-variation penalty weight.
    #[arg(long, default_value_t = 0.0)]
    pub tv: f32,
    /// Random shift of up to this many pixels per step.
    #[arg(long, default_value_t = 0)]
    pub jitter: usize,
    /// Seed of the start images and the jitter.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl AscentArgs {
    fn options(&self) -> AscentOptions {
        AscentOptions { steps: self.steps, lr: self.lr, l2: self.l2, tv: self.tv, jitter: self.jitter, seed: self.seed }
    }
}

#[derive(Args, Debug)]
pub struct FiltersArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Layer, a name (conv1) or index (1) from `pupil summary`.
    #[arg(long)]
    pub layer: String,
    /// Filters, e.g. 0-31 or 0,3,7 (default: all, at most the first 256).
    #[arg(long)]
    pub filters: Option<String>,
    #[command(flatten)]
    pub ascent: AscentArgs,
}

#[derive(Args, Debug)]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub data: super::DataArgs,
    /// The image's index in the data.
    #[arg(long)]
    pub id: usize,
    /// Layer, a name or index from `pupil summary`.
    #[arg(long)]
    pub layer: String,
}

#[derive(Args, Debug)]
pub struct ClassvizArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Classes: all, or numbers like 0,3 or 0-4.
    #[arg(long, default_value = "all")]
    pub classes: String,
    /// The score climbed: logprob (log-softmax, i.e. minus the cross-entropy toward the
    /// class) or logit.
    #[arg(long, default_value = "logprob")]
    pub objective: String,
    /// Ascent steps.
    #[arg(long, default_value_t = 150)]
    pub steps: usize,
    /// Step size (normalised gradient step, as a fraction of the input range).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    /// L2 decay weight.
    #[arg(long, default_value_t = 0.0)]
    pub l2: f32,
    /// Total-variation penalty weight (smoother images).
    #[arg(long, default_value_t = 0.1)]
    pub tv: f32,
    /// Random shift of up to this many pixels per step.
    #[arg(long, default_value_t = 1)]
    pub jitter: usize,
    /// Seed of the start images and the jitter.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The run (`--run`, else the latest), its model and, unless `split` is empty (commands that
/// need no images), its images: `--image` or `--data` when given, else the data the run was
/// evaluated on.
fn load(run: Option<&Path>, images: &[PathBuf], data_path: Option<&Path>, split: &str) -> Result<(RunDir, RunModel, Option<Dataset>)> {
    let dir = RunDir::resolve(run)?;
    let model = dir.load_model()?;
    let ds = match (data_path, split.is_empty()) {
        (None, true) => None,
        _ => Some(dir.data_for(images, data_path, if split.is_empty() { Split::Test } else { split.parse()? }, &model.meta)?.1),
    };
    Ok((dir, model, ds))
}

fn out_dir(a: &RunArgs, run: &RunDir) -> Result<PathBuf> {
    let dir = a.out.clone().unwrap_or_else(|| run.path().join("explain"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// A progress bar (hidden with --quiet) and the callback that moves it.
fn bar(quiet: bool, what: &str) -> ProgressBar {
    let b = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    b.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ETA {eta}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
    );
    b.set_prefix(what.to_string());
    b
}

fn tick(b: &ProgressBar) -> impl FnMut(usize, usize) + '_ {
    move |done, total| {
        b.set_length(total as u64);
        b.set_position(done as u64);
    }
}

fn parse_methods(a: &SaliencyArgs, ex: &Explainer) -> Result<Vec<Method>> {
    let names: Vec<&str> =
        if a.method.trim() == "all" { vec!["vanilla", "smoothgrad", "integrated", "gradcam"] } else { a.method.split(',').map(str::trim).collect() };
    let mut out = Vec::new();
    for n in names {
        let m = match n.to_ascii_lowercase().as_str() {
            "vanilla" | "gradient" => Method::Vanilla,
            "smoothgrad" | "smooth" => Method::SmoothGrad { samples: a.samples, noise: a.noise, seed: a.seed },
            "integrated" | "ig" => Method::Integrated { baseline: a.baseline.parse::<Baseline>()?, steps: a.steps },
            "gradcam" | "grad-cam" => {
                let layer = match &a.layer {
                    Some(l) => ex.layer(l)?,
                    None => ex
                        .layers()
                        .into_iter()
                        .rev()
                        .find(|l| l.kind == pupil::explain::LayerKind::Conv)
                        .ok_or_else(|| Error::invalid("--method", "gradcam: the model has no convolutional layer"))?,
                };
                pupil::explain::require_spatial(&layer, "Grad-CAM")?;
                Method::GradCam { layer: Some(layer.index) }
            }
            _ => return Err(Error::invalid("--method", format!("{n:?} is not vanilla, smoothgrad, integrated, gradcam or all"))),
        };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if a.samples == 0 || a.samples > 10_000 || !(a.noise.is_finite() && a.noise >= 0.0) || a.steps == 0 || a.steps > 10_000 {
        return Err(Error::invalid("saliency", "--samples and --steps must be from 1 to 10000 and --noise a number >= 0"));
    }
    Ok(out)
}

fn method_label(m: &Method, ex: &Explainer) -> String {
    match m {
        Method::Integrated { baseline, .. } => format!("IG ({})", baseline.name()),
        Method::GradCam { layer: Some(i) } => ex.layers().get(i - 1).map(|l| format!("Grad-CAM {}", l.name)).unwrap_or_else(|| "Grad-CAM".into()),
        m => m.name().to_string(),
    }
}

fn pick_ids(a: &SaliencyArgs, ds: &Dataset) -> Result<Vec<usize>> {
    if let Some(s) = &a.ids {
        return parse_ids(s, ds.len());
    }
    match (&ds.labels, a.per_class) {
        (None, Some(_)) => Err(Error::invalid("--per-class", "the data has no labels; give --ids")),
        (None, None) => Ok((0..ds.len().min(8)).collect()),
        (Some(labels), n) => {
            let n = n.unwrap_or(1);
            if n == 0 || n > 1000 {
                return Err(Error::invalid("--per-class", format!("{n} is not from 1 to 1000")));
            }
            let mut ids = Vec::new();
            for c in 0..ds.num_classes() {
                ids.extend(labels.iter().enumerate().filter(|(_, &l)| l as usize == c).map(|(i, _)| i).take(n));
            }
            Ok(ids)
        }
    }
}

/// Most images (rows) drawn in saliency.png.
const MAX_GRID_ROWS: usize = 64;

pub fn saliency(a: SaliencyArgs) -> Result<()> {
    let (dir, run, ds) = load(a.run.run.as_deref(), &a.data.image, a.data.data.as_deref(), &a.data.split)?;
    let ds = ds.expect("saliency always loads data");
    let mut ex = Explainer::new(&run.model, &run.meta.normalization)?;
    let choice: ClassChoice = a.class.parse()?;
    let methods = parse_methods(&a, &ex)?;
    let ids = pick_ids(&a, &ds)?;
    let out = out_dir(&a.run, &dir)?;
    let t0 = Instant::now();
    let raw = Explainer::raw_images(&ds, &ids)?;
    let x = ex.normalize(&raw)?;
    let labels: Option<Vec<usize>> = ds.labels.as_ref().map(|l| ids.iter().map(|&i| l[i] as usize).collect());
    let classes = ex.resolve_classes(&x, choice, labels.as_deref())?;
    let probs = ex.probabilities(&x)?;
    let names = &run.meta.class_names;
    let k = names.len();
    let mut maps = Vec::new();
    for m in &methods {
        let t = Instant::now();
        let b = bar(a.run.quiet, m.name());
        let attr = ex.saliency(&raw, &classes, m, &mut tick(&b))?;
        b.finish_and_clear();
        let secs = t.elapsed().as_secs_f64();
        let mut note = String::new();
        if let Method::Integrated { baseline, .. } = m {
            // completeness: sum of attributions vs. score(x) - score(baseline)
            let s_x = ex.scores(&x, &classes)?;
            let s_b = ex.scores(&ex.baseline(*baseline, &raw)?, &classes)?;
            let per = attr.len() / ids.len();
            let worst = attr.data().chunks(per).zip(s_x.iter().zip(&s_b)).map(|(c, (sx, sb))| (c.iter().sum::<f32>() - (sx - sb)).abs()).fold(0.0f32, f32::max);
            note = format!("; completeness: largest |sum - (S(x) - S(baseline))| = {worst:.4}");
        }
        println!("{}: {} images in {secs:.2}s ({:.0} images/s){note}", m.name(), ids.len(), ids.len() as f64 / secs.max(1e-9));
        maps.push((m.clone(), attr));
    }
    let captions: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(n, &id)| {
            let truth = labels.as_ref().map(|l| names[l[n]].clone()).unwrap_or_else(|| "?".into());
            let pred = probs.data()[n * k..(n + 1) * k].iter().enumerate().fold((0, f32::MIN), |b, (c, &p)| if p > b.1 { (c, p) } else { b });
            let explains = if choice == ClassChoice::Predicted { String::new() } else { format!("\nfor {}", names[classes[n]]) };
            format!("#{id} {truth}\n→ {} {:.2}{explains}", names[pred.0], pred.1)
        })
        .collect();
    let labels_col: Vec<String> = maps.iter().map(|(m, _)| method_label(m, &ex)).collect();
    let cols: Vec<SaliencyColumn> = maps.iter().zip(&labels_col).map(|((_, t), l)| SaliencyColumn { label: l.clone(), maps: t }).collect();
    // the picture shows at most MAX_GRID_ROWS images; attributions.safetensors has them all
    let shown = ids.len().min(MAX_GRID_ROWS);
    let more = if shown < ids.len() { format!(", first {shown} of {}", ids.len()) } else { String::new() };
    let title = format!("Saliency, {} class{more}", a.class);
    let cut: Vec<Tensor> = maps.iter().map(|(_, t)| t.slice_batch(0, shown)).collect::<Result<_>>()?;
    let cols: Vec<SaliencyColumn> = cols.iter().zip(&cut).map(|(c, t)| SaliencyColumn { label: c.label.clone(), maps: t }).collect();
    saliency_grid(out.join("saliency.png"), &raw.slice_batch(0, shown)?, &captions[..shown], &cols, &title)?;
    save_attributions(&out.join("attributions.safetensors"), &AttributionSet { ids: ids.clone(), classes, class_names: names.clone(), maps })?;
    println!("Wrote {}/saliency.png and attributions.safetensors ({} images) in {:.1}s", out.display(), ids.len(), t0.elapsed().as_secs_f64());
    Ok(())
}

fn layer_of(ex: &Explainer, key: &str) -> Result<LayerInfo> {
    ex.layer(key)
}

pub fn filters(a: FiltersArgs) -> Result<()> {
    let (dir, run, _) = load(a.run.run.as_deref(), &[], None, "")?;
    let mut ex = Explainer::new(&run.model, &run.meta.normalization)?;
    let layer = layer_of(&ex, &a.layer)?;
    pupil::explain::require_spatial(&layer, "filters")?;
    let filters = match &a.filters {
        Some(s) => parse_list(s, "--filters")?,
        None => (0..layer.channels().min(256)).collect(),
    };
    let out = out_dir(&a.run, &dir)?;
    let t0 = Instant::now();
    let b = bar(a.run.quiet, &format!("{} ascent", layer.name));
    let r = ex.visualize_filters(&layer, &filters, &a.ascent.options(), &mut tick(&b))?;
    b.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let captions: Vec<String> = r.targets.iter().zip(&r.end).map(|(f, v)| format!("filter {f}\nact {v:.3}")).collect();
    let title = format!("{} ({}): gradient ascent, {} steps", layer.name, layer.description, a.ascent.steps);
    let path = out.join(format!("filters_{}.png", layer.name));
    ascent_grid(&path, &r.images, &captions, 8, &title)?;
    let csv: String = std::iter::once("filter,start_activation,final_activation\n".to_string())
        .chain(r.targets.iter().zip(r.start.iter().zip(&r.end)).map(|(f, (s, e))| format!("{f},{s},{e}\n")))
        .collect();
    pupil::io::write_atomic(&out.join(format!("filters_{}.csv", layer.name)), csv.as_bytes())?;
    let raised = r.start.iter().zip(&r.end).filter(|(s, e)| e > s).count();
    println!("{} filters of {} x {} steps in {secs:.1}s; activation raised for {raised} of them", filters.len(), layer.name, a.ascent.steps);
    println!("Wrote {} and filters_{}.csv", path.display(), layer.name);
    Ok(())
}

pub fn features(a: FeaturesArgs) -> Result<()> {
    let (dir, run, ds) = load(a.run.run.as_deref(), &a.data.image, a.data.data.as_deref(), &a.data.split)?;
    let ds = ds.expect("features always loads data");
    let mut ex = Explainer::new(&run.model, &run.meta.normalization)?;
    let layer = layer_of(&ex, &a.layer)?;
    pupil::explain::require_spatial(&layer, "features")?;
    let raw = Explainer::raw_images(&ds, &[a.id]).map_err(|e| match e {
        Error::Invalid { msg, .. } => Error::invalid("--id", msg),
        e => e,
    })?;
    let maps = ex.features(&ex.normalize(&raw)?, &layer)?;
    let out = out_dir(&a.run, &dir)?;
    let path = out.join(format!("features_{}_id{}.png", layer.name, a.id));
    let truth = ds.label(a.id).map(|l| format!(" ({})", run.meta.class_names[l as usize])).unwrap_or_default();
    features_grid(&path, &raw, &maps, &format!("Feature maps of image #{}{truth} at layer {}", a.id, layer.label()))?;
    println!("Wrote {} ({} maps of {}x{})", path.display(), layer.output[0], layer.output[1], layer.output[2]);
    Ok(())
}

pub fn classviz(a: ClassvizArgs) -> Result<()> {
    let (dir, run, _) = load(a.run.run.as_deref(), &[], None, "")?;
    let mut ex = Explainer::new(&run.model, &run.meta.normalization)?;
    let names = &run.meta.class_names;
    let classes = if a.classes.trim() == "all" { (0..names.len()).collect() } else { parse_list(&a.classes, "--classes")? };
    if let Some(&bad) = classes.iter().find(|&&c| c >= names.len()) {
        return Err(Error::invalid("--classes", format!("class {bad} is out of range: the model has classes 0 to {}", names.len() - 1)));
    }
    let out = out_dir(&a.run, &dir)?;
    let t0 = Instant::now();
    let b = bar(a.run.quiet, "class ascent");
    let log_prob = match a.objective.as_str() {
        "logprob" | "log-prob" | "logsoftmax" => true,
        "logit" => false,
        o => return Err(Error::invalid("--objective", format!("{o:?} is not logprob or logit"))),
    };
    let opts = AscentOptions { steps: a.steps, lr: a.lr, l2: a.l2, tv: a.tv, jitter: a.jitter, seed: a.seed };
    let r = ex.visualize_classes(&classes, log_prob, &opts, &mut tick(&b))?;
    b.finish_and_clear();
    let probs: Tensor = ex.probabilities(&r.images)?;
    let k = names.len();
    let captions: Vec<String> = classes.iter().enumerate().map(|(n, &c)| format!("{}\np = {:.3}", names[c], probs.data()[n * k + c])).collect();
    let path = out.join("classviz.png");
    ascent_grid(
        &path,
        &r.images,
        &captions,
        classes.len().min(8),
        &format!("Class images: ascent on the {} from noise, {} steps", if log_prob { "log-probability" } else { "logit" }, a.steps),
    )?;
    println!("{} classes x {} steps in {:.1}s; wrote {}", classes.len(), a.steps, t0.elapsed().as_secs_f64(), path.display());
    Ok(())
}
