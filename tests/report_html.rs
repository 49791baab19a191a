//! The HTML report of a real (tiny) training run, checked in headless Chromium: the page loads
//! with no console message (its Content-Security-Policy turns any external request into one),
//! and every image decodes (naturalWidth > 0). Chromium must be installed: Debian's
//! `chromium` package (`apt-get install -y chromium`), as .ci/run does.

use pupil::data::{embedded_sample, Split};
use pupil::explain::lime::LimeConfig;
use pupil::nn::preset;
use pupil::report::{run_report, RunReportOptions};
use pupil::train::{TrainConfig, Trainer};
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Trains the small preset for two epochs on 400 images of the embedded sample into `dir`.
fn tiny_run(dir: &Path) {
    let train = embedded_sample(Split::Training).unwrap().subset(&(0..400).collect::<Vec<_>>());
    let cfg = TrainConfig { epochs: 2, batch_size: 64, val_split: 0.2, ..TrainConfig::default() };
    let mut t = Trainer::new(&preset("small", 10).unwrap(), &train, cfg).unwrap();
    let run = pupil::run::RunDir::new(dir);
    t.fit(&train, None, &mut run.clone(), &mut |_| {}).unwrap();
    // the data that lime and report default to: the sample's test split, as if evaluated on it
    let given = |split| pupil::run::DataRef::given(None, split);
    run.write_record(&pupil::run::RunRecord { train: given(Split::Training), validation: None, evaluated: Some(given(Split::Test)) }).unwrap();
    assert!(dir.join("model.safetensors").is_file() && dir.join("history.csv").is_file());
}

/// Runs headless Chromium on `html` with a checking script added in front of the page's
/// Content-Security-Policy (which therefore still governs everything the page itself loads).
/// Returns (the script's result line, Chromium's console lines).
fn check_in_chromium(html: &str, dir: &Path) -> (String, Vec<String>) {
    if !Path::new(CHROMIUM).exists() {
        panic!("{CHROMIUM} not found: the HTML report test needs headless Chromium; install it with `apt-get update && apt-get install -y chromium` (Debian) — .ci/run does this");
    }
    let script = "<script>window.__errs=0;window.addEventListener('error',function(){window.__errs++;},true);\
        window.addEventListener('load',function(){var im=Array.prototype.slice.call(document.images);\
        var ok=im.filter(function(i){return i.complete&&i.naturalWidth>0;}).length;\
        var d=document.createElement('pre');d.id='pupil-check';\
        d.textContent='images='+im.length+' decoded='+ok+' errors='+window.__errs;document.body.appendChild(d);});</script>";
    assert!(html.contains("<head>"));
    let checked = html.replacen("<head>", &format!("<head>{script}"), 1);
    let page = dir.join("checked.html");
    std::fs::write(&page, checked).unwrap();
    let profile = dir.join("chromium-profile");
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("running chromium");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed ({}): {stderr}", out.status);
    let result = dom
        .split("<pre id=\"pupil-check\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_else(|| panic!("the page's load handler never ran; chromium said: {stderr}"))
        .to_string();
    let console = stderr.lines().filter(|l| l.contains("CONSOLE")).map(String::from).collect();
    (result, console)
}

#[test]
fn run_report_is_self_contained_and_renders_in_chromium() {
    let dir = tmp("run");
    tiny_run(&dir);
    let test = embedded_sample(Split::Test).unwrap().subset(&(0..300).collect::<Vec<_>>());
    let opts = RunReportOptions { lime: LimeConfig { samples: 150, superpixels: 30, ..LimeConfig::default() }, lime_images: 3, ..RunReportOptions::default() };
    let mut stages = Vec::new();
    let report = run_report(&dir, &test, "300 test images", &opts, &mut |s, _, _| stages.push(s.to_string())).unwrap();
    assert!(stages.iter().any(|s| s == "LIME") && stages.iter().any(|s| s == "evaluating"));
    let titles: Vec<&str> = report.sections.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Model",
            "Training",
            "Evaluation",
            "Where the model looks: saliency",
            "What the filters respond to",
            "What the model thinks each class looks like",
            "Why the model decides: LIME"
        ]
    );
    assert!(stages.iter().any(|s| s == "saliency") && stages.iter().any(|s| s == "class images"));
    let path = dir.join("report.html");
    report.write(&path).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();

    // self-contained: every image is an embedded PNG, nothing points outside the file
    let imgs = html.matches("<img").count();
    // curves, confusion matrix, three LIME rows
    // curves, confusion, saliency grid, filters, class images, and the LIME rows
    assert_eq!(imgs, 8, "images in the report");
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), imgs);
    for bad in ["http://", "https://", "src=\"/", "src=\"file:", "<link rel=\"stylesheet\"", "@import", "url("] {
        assert!(!html.contains(bad), "the report contains {bad:?}");
    }
    assert!(html.contains("Content-Security-Policy"));
    for want in ["Total params", "Confusion matrix", "Per-class scores", "LIME on image", "The training history"] {
        assert!(html.contains(want), "the report lacks {want:?}");
    }

    let (result, console) = check_in_chromium(&html, &dir);
    assert_eq!(result, format!("images={imgs} decoded={imgs} errors=0"), "console: {console:?}");
    assert!(console.is_empty(), "console messages: {console:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_check_catches_external_requests_and_broken_images() {
    // the same check on a page that breaks the rules must fail: an external image (blocked by
    // the CSP, logged to the console) and a corrupt embedded one (never decodes)
    let dir = tmp("bad");
    let mut r = pupil::report::Report::new("bad");
    let c = pupil::viz::Canvas::new(4, 4, [0, 0, 0]);
    r.push(pupil::report::Section::new("s").figure(pupil::report::Figure::from_canvas(&c, "ok").unwrap()));
    let html = r.to_html().replace("</main>", "<img src=\"https://example.com/x.png\"><img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAA\"></main>");
    let (result, console) = check_in_chromium(&html, &dir);
    assert_eq!(result, "images=3 decoded=1 errors=2");
    assert!(console.iter().any(|l| l.contains("Content Security Policy")), "{console:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_report_and_lime_write_their_files_and_reject_bad_input() {
    let dir = tmp("cli");
    tiny_run(&dir);
    let exe = env!("CARGO_BIN_EXE_pupil");
    let run = |args: &[&str]| Command::new(exe).args(args).output().unwrap();
    let d = dir.to_str().unwrap();
    let out = run(&["report", "--run", d, "--lime-images", "2", "--lime-samples", "100", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("report.html").is_file());
    let lime_dir = dir.join("lime-out");
    let out = run(&[
        "lime",
        "--run",
        d,
        "--ids",
        "0,3",
        "--samples",
        "100",
        "--classes",
        "predicted,true",
        "--fill",
        "blur",
        "--out",
        lime_dir.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["lime_0.png", "lime_0.csv", "lime_3.png", "lime_3.csv", "lime_summary.csv"] {
        assert!(lime_dir.join(f).is_file(), "{f} missing");
    }
    let summary = std::fs::read_to_string(lime_dir.join("lime_summary.csv")).unwrap();
    assert!(summary.lines().count() >= 3, "{summary}");
    // bad input: one line naming the problem, exit status 1
    for (args, want) in [
        (vec!["lime", "--run", d, "--ids", "5000"], "beyond the data"),
        (vec!["lime", "--run", d, "--fill", "zero"], "--fill"),
        (vec!["lime", "--run", d, "--classes", "Unicorn"], "--classes"),
        (vec!["lime", "--run", d, "--samples", "1"], "--samples"),
        (vec!["lime", "--run", "/nonexistent/run"], "no such run directory"),
        (vec!["report", "--run", "/tmp"], "no trained model in this run directory"),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
