//! `pupil saliency`, `filters`, `features`, `classviz`: flags into library calls, progress
//! bars, pictures and files.

use super::{parse_ids, parse_list};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pupil::data::{Dataset, Split};
use pupil::error::{Error, Result};
use pupil::explain::{
    class_list, method_label, parse_methods, pick_ids, saliency_captions, save_attributions, AscentOptions, AttributionSet, ClassChoice, ClassObjective,
    Explainer, Integrated, MethodSettings,
};
use pupil::run::{RunDir, RunModel};
use pupil::tensor::Tensor;
use pupil::viz::explain::{ascent_grid, class_captions, features_grid, filter_captions, filters_csv, saliency_grid, SaliencyColumn};
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
    /// No progress bars (they are also hidden when stderr is not a terminal).
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
    /// Integrated gradients: quadrature rule, gauss-legendre, midpoint or trapezoid.
    #[arg(long, default_value = "gauss-legendre")]
    pub rule: String,
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
/// evaluated on. The library's bars are drawn while the images load (not with `quiet`).
fn load(run: Option<&Path>, images: &[PathBuf], data_path: Option<&Path>, split: &str, quiet: bool) -> Result<(RunDir, RunModel, Option<Dataset>)> {
    let dir = RunDir::resolve(run)?;
    let model = dir.load_model()?;
    let ds = match (data_path, split.is_empty()) {
        (None, true) => None,
        _ => {
            let split = if split.is_empty() { Split::Test } else { split.parse()? };
            super::progress::observe_library(quiet);
            let loaded = dir.data_for(images, data_path, split, &model.meta);
            pupil::progress::clear_observer();
            Some(loaded?.1)
        }
    };
    Ok((dir, model, ds))
}

fn out_dir(a: &RunArgs, run: &RunDir) -> Result<PathBuf> {
    let dir = a.out.clone().unwrap_or_else(|| run.path().join("explain"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// A progress bar (hidden with --quiet and when stderr is not a terminal) and the callback that
/// moves it.
fn bar(quiet: bool, what: &str) -> ProgressBar {
    let b = if super::progress::visible(quiet) { ProgressBar::new(0) } else { ProgressBar::hidden() };
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

/// Most images (rows) drawn in saliency.png.
const MAX_GRID_ROWS: usize = 64;

pub fn saliency(a: SaliencyArgs) -> Result<()> {
    let (dir, run, ds) = load(a.run.run.as_deref(), &a.data.image, a.data.data.as_deref(), &a.data.split, a.run.quiet)?;
    let ds = ds.expect("saliency always loads data");
    let mut ex = Explainer::new(&run.model, &run.meta.normalization)?;
    let choice: ClassChoice = a.class.parse()?;
    let settings = MethodSettings {
        samples: a.samples,
        noise: a.noise,
        seed: a.seed,
        baseline: a.baseline.parse()?,
        steps: a.steps,
        rule: a.rule.parse()?,
        layer: a.layer.clone(),
    };
    let methods = parse_methods(&a.method, &settings, &ex)?;
    let given = a.ids.as_deref().map(|s| parse_ids(s, ds.len())).transpose()?;
    let ids = pick_ids(&ds, given.as_deref(), a.per_class)?;
    let out = out_dir(&a.run, &dir)?;
    let t0 = Instant::now();
    let raw = Explainer::raw_images(&ds, &ids)?;
    let x = ex.normalize(&raw)?;
    let labels: Option<Vec<usize>> = ds.labels.as_ref().map(|l| ids.iter().map(|&i| l[i] as usize).collect());
    let classes = ex.resolve_classes(&x, choice, labels.as_deref())?;
    let probs = ex.probabilities(&x)?;
    let names = &run.meta.class_names;
    let mut maps = Vec::new();
    for m in &methods {
        let t = Instant::now();
        let b = bar(a.run.quiet, m.name());
        let attr = ex.attribute(&raw, &classes, m, &mut tick(&b))?;
        b.finish_and_clear();
        let secs = t.elapsed().as_secs_f64();
        println!("{}: {} images in {secs:.2}s ({:.0} images/s)", m.name(), ids.len(), ids.len() as f64 / secs.max(1e-9));
        if let Some(ig) = &attr.integrated {
            print_completeness(ig, &ids);
        }
        maps.push((m.clone(), attr));
    }
    let explained = (choice != ClassChoice::Predicted).then_some(&classes[..]);
    let captions = saliency_captions(&ids, labels.as_deref(), probs.data(), explained, names);
    // the picture shows at most MAX_GRID_ROWS images; attributions.safetensors has them all
    let shown = ids.len().min(MAX_GRID_ROWS);
    let more = if shown < ids.len() { format!(", first {shown} of {}", ids.len()) } else { String::new() };
    let title = format!("Saliency, {} class{more}", a.class);
    let cut: Vec<Tensor> = maps.iter().map(|(_, at)| at.map.slice_batch(0, shown)).collect::<Result<_>>()?;
    let cols: Vec<SaliencyColumn> = maps.iter().zip(&cut).map(|((m, _), t)| SaliencyColumn { label: method_label(m, &ex), maps: t }).collect();
    saliency_grid(out.join("saliency.png"), &raw.slice_batch(0, shown)?, &captions[..shown], &cols, &title)?;
    save_attributions(&out.join("attributions.safetensors"), &AttributionSet { ids: ids.clone(), classes, class_names: names.clone(), maps })?;
    println!("Wrote {}/saliency.png and attributions.safetensors ({} images) in {:.1}s", out.display(), ids.len(), t0.elapsed().as_secs_f64());
    Ok(())
}

/// Images whose completeness is printed one per line (above this: the worst only).
const MAX_DELTA_LINES: usize = 16;

/// Completeness of integrated gradients: the convergence delta per image (all of them are in
/// attributions.safetensors).
fn print_completeness(ig: &Integrated, ids: &[usize]) {
    println!("  completeness, δ = Σ IG − (S(x) − S(baseline)): largest |δ| is {:.2}% of |S(x) − S(baseline)|", 100.0 * ig.worst_relative_delta());
    if ids.len() <= MAX_DELTA_LINES {
        for (n, id) in ids.iter().enumerate() {
            let change = ig.score_input[n] - ig.score_baseline[n];
            println!(
                "  #{id}: S(x) = {:.4}, S(baseline) = {:.4}, Σ IG = {:.4}, δ = {:+.5}",
                ig.score_input[n],
                ig.score_baseline[n],
                change + ig.delta[n],
                ig.delta[n]
            );
        }
    }
}

pub fn filters(a: FiltersArgs) -> Result<()> {
    let (dir, run, _) = load(a.run.run.as_deref(), &[], None, "", a.run.quiet)?;
    let mut ex = Explainer::new(&run.model, &run.meta.normalization)?;
    let layer = ex.layer(&a.layer)?;
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
    let captions = filter_captions(&r);
    let title = format!("{} ({}): gradient ascent, {} steps", layer.name, layer.description, a.ascent.steps);
    let path = out.join(format!("filters_{}.png", layer.name));
    ascent_grid(&path, &r.images, &captions, 8, &title)?;
    pupil::io::write_atomic(&out.join(format!("filters_{}.csv", layer.name)), filters_csv(&r).as_bytes())?;
    let raised = r.start.iter().zip(&r.end).filter(|(s, e)| e > s).count();
    println!("{} filters of {} x {} steps in {secs:.1}s; activation raised for {raised} of them", filters.len(), layer.name, a.ascent.steps);
    println!("Wrote {} and filters_{}.csv", path.display(), layer.name);
    Ok(())
}

pub fn features(a: FeaturesArgs) -> Result<()> {
    let (dir, run, ds) = load(a.run.run.as_deref(), &a.data.image, a.data.data.as_deref(), &a.data.split, a.run.quiet)?;
    let ds = ds.expect("features always loads data");
    let mut ex = Explainer::new(&run.model, &run.meta.normalization)?;
    let layer = ex.layer(&a.layer)?;
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
    let (dir, run, _) = load(a.run.run.as_deref(), &[], None, "", a.run.quiet)?;
    let mut ex = Explainer::new(&run.model, &run.meta.normalization)?;
    let names = &run.meta.class_names;
    let chosen = if a.classes.trim() == "all" { None } else { Some(parse_list(&a.classes, "--classes")?) };
    let classes = class_list(chosen.as_deref(), names.len())?;
    let objective: ClassObjective = a.objective.parse()?;
    let out = out_dir(&a.run, &dir)?;
    let t0 = Instant::now();
    let b = bar(a.run.quiet, "class ascent");
    let opts = AscentOptions { steps: a.steps, lr: a.lr, l2: a.l2, tv: a.tv, jitter: a.jitter, seed: a.seed };
    let r = ex.visualize_classes(&classes, objective.log_prob(), &opts, &mut tick(&b))?;
    b.finish_and_clear();
    let probs: Tensor = ex.probabilities(&r.images)?;
    let captions = class_captions(&r, probs.data(), names);
    let path = out.join("classviz.png");
    ascent_grid(
        &path,
        &r.images,
        &captions,
        classes.len().min(8),
        &format!("Class images: ascent on the {} from noise, {} steps", objective.describe(), a.steps),
    )?;
    println!("{} classes x {} steps in {:.1}s; wrote {}", classes.len(), a.steps, t0.elapsed().as_secs_f64(), path.display());
    Ok(())
}
