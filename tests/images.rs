//! The user's own pictures: PNG, JPEG and BMP files and ImageFolder trees written by the tests
//! with the `image` crate; gray conversion (ITU-R BT.601), centre-crop + resize, class names
//! from folders, from the content of IDX files and from `--class-names`, and the CLI's
//! `train` / `eval` / `predict` / `saliency` on them.

use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use pupil::data::{self, load_images, Split};
use pupil::run::{self, DataRef, RunDir, TrainPlan, TrainSession};
use pupil::train::TrainConfig;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-images-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn pupil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pupil")).args(args).output().unwrap()
}

/// The output of a command that succeeds; its stderr is piped, so no progress bar (nor
/// anything else) may be written there.
fn ok(args: &[&str]) -> String {
    let o = pupil(args);
    assert!(o.status.success(), "pupil {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "pupil {args:?} wrote to a piped stderr: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// A colourful picture: every pixel a different colour.
fn colour_image(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 37 + y * 11) as u8, (y * 53 + 7) as u8, (x * 19 + y * 29 + 101) as u8]))
}

/// BT.601 luma computed by hand, in floating point.
fn luma(p: &Rgb<u8>) -> f64 {
    0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64
}

/// A tree `root/<class>/<n>.<ext>` of 12x12 gray pictures: class `k` is dark with a bright
/// square at a place of its own, so a dense net can tell them apart; formats cycle through
/// PNG, BMP and JPEG, and every fourth picture is 18x12 (to be centre-cropped).
fn write_tree(root: &Path, classes: &[&str], per_class: usize) {
    for (k, c) in classes.iter().enumerate() {
        let dir = root.join(c);
        std::fs::create_dir_all(&dir).unwrap();
        for n in 0..per_class {
            let w = if n % 4 == 3 { 18 } else { 12 };
            let off = (w - 12) / 2;
            let img = GrayImage::from_fn(w, 12, |x, y| {
                let (x, y) = (x as i32 - off as i32, y as i32);
                let (cx, cy) = (2 + 4 * k as i32, 2 + 3 * (n % 3) as i32);
                Luma([if (x - cx).abs() <= 1 && (y - cy).abs() <= 1 { 230 } else { 20 + (n as u8 * 7) % 30 }])
            });
            let (ext, fmt) = [("png", ImageFormat::Png), ("bmp", ImageFormat::Bmp), ("jpg", ImageFormat::Jpeg)][n % 3];
            img.save_with_format(dir.join(format!("{n:03}.{ext}")), fmt).unwrap();
        }
    }
}

fn spec_file(dir: &Path, classes: usize) -> PathBuf {
    let p = dir.join("tiny.txt");
    std::fs::write(&p, format!("flatten\ndense 16 relu\ndense {classes}\n")).unwrap();
    p
}

#[test]
fn colour_pictures_become_bt601_gray_in_every_format() {
    let dir = tmp("gray");
    let img = colour_image(9, 7);
    for (name, fmt) in [("c.png", ImageFormat::Png), ("c.bmp", ImageFormat::Bmp)] {
        img.save_with_format(dir.join(name), fmt).unwrap();
        let ds = load_images(&[dir.join(name)], None).unwrap();
        assert_eq!((ds.channels, ds.height, ds.width, ds.len()), (1, 7, 9, 1));
        for (p, &g) in img.pixels().zip(&ds.pixels) {
            // rounded to nearest: within half a level of the exact luma
            assert!((g as f64 - luma(p)).abs() <= 0.5 + 1e-9, "{name}: {p:?} -> {g}, luma {}", luma(p));
        }
    }
    // JPEG is lossy: a flat colour comes back within a level or two; (200, 100, 50) by hand:
    // 0.299*200 + 0.587*100 + 0.114*50 = 59.8 + 58.7 + 5.7 = 124.2
    let flat = RgbImage::from_pixel(16, 16, Rgb([200, 100, 50]));
    flat.save_with_format(dir.join("flat.jpg"), ImageFormat::Jpeg).unwrap();
    let ds = load_images(&[dir.join("flat.jpg")], None).unwrap();
    assert!(ds.pixels.iter().all(|&g| (g as i32 - 124).abs() <= 2), "{:?}", &ds.pixels[..8]);
    // the format is found from the content, not the extension
    std::fs::copy(dir.join("c.png"), dir.join("really-a-png.bmp")).unwrap();
    assert_eq!(load_images(&[dir.join("really-a-png.bmp")], None).unwrap(), load_images(&[dir.join("c.png")], None).unwrap());
}

#[test]
fn pictures_are_centre_cropped_then_resized() {
    let dir = tmp("resize");
    // 40x20: black side quarters, white middle; a square crop keeps only the white middle
    let wide = GrayImage::from_fn(40, 20, |x, _| Luma([if (10..30).contains(&x) { 255 } else { 0 }]));
    wide.save(dir.join("wide.png")).unwrap();
    let ds = load_images(&[dir.join("wide.png")], Some((10, 10))).unwrap();
    assert_eq!((ds.height, ds.width), (10, 10));
    assert!(ds.pixels.iter().all(|&v| v == 255), "stretched, not cropped: {:?}", ds.pixels);
    // a vertical ramp shrunk 2:1 stays a ramp, top to bottom, averaged (no crop: same aspect)
    let tall = GrayImage::from_fn(8, 16, |_, y| Luma([(y * 16) as u8]));
    tall.save(dir.join("tall.png")).unwrap();
    let ds = load_images(&[dir.join("tall.png")], Some((8, 4))).unwrap();
    let col: Vec<u8> = (0..8).map(|r| ds.pixels[r * 4]).collect();
    assert!(col.windows(2).all(|w| w[0] < w[1]), "{col:?}");
    assert!(col[0] < 40 && col[7] > 200, "{col:?}");
    // pictures of different sizes: all brought to the first one's size
    let ds = load_images(&[dir.join("tall.png"), dir.join("wide.png")], None).unwrap();
    assert_eq!((ds.len(), ds.height, ds.width), (2, 16, 8));
}

#[test]
fn image_folders_name_classes_by_their_folders() {
    let root = tmp("folders");
    write_tree(&root, &["zebra", "Apple", "mango"], 4);
    std::fs::write(root.join("zebra").join("notes.txt"), "not a picture").unwrap();
    let ds = data::load(&root, Split::Training).unwrap();
    // sorted by byte, as torchvision: upper case first; the text file skipped
    assert_eq!(ds.class_names, ["Apple", "mango", "zebra"]);
    assert_eq!(ds.labels.as_deref().unwrap(), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    assert_eq!((ds.channels, ds.height, ds.width), (1, 12, 12));
    // given the model's classes, folders are matched by name
    let names: Vec<String> = ["mango", "zebra", "Apple", "kiwi"].iter().map(|s| s.to_string()).collect();
    let opts = data::LoadOptions { size: Some((6, 6)), class_names: Some(names.clone()), classes: None };
    let ds = data::load_with(&root, Split::Test, &opts).unwrap();
    assert_eq!(ds.class_names, names);
    assert_eq!(ds.labels.as_deref().unwrap(), [2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1]);
    assert_eq!((ds.height, ds.width), (6, 6));
    let opts = data::LoadOptions { size: None, class_names: Some(names[..2].to_vec()), classes: None };
    let e = data::load_with(&root, Split::Test, &opts).unwrap_err().to_string();
    assert!(e.contains("Apple") && e.contains("not one of the classes"), "{e}");
    // --classes: fewer than the folders is an error naming the folder's class; more adds classes
    let for_classes = |n| data::load_with(&root, Split::Training, &data::LoadOptions { classes: Some(n), ..Default::default() });
    let e = for_classes(2).unwrap_err().to_string();
    assert!(e.contains(&*root.to_string_lossy()) && e.contains("label 2 (class \"zebra\") of image 9 is not one of the 2 classes"), "{e}");
    assert_eq!(for_classes(5).unwrap().class_names, ["Apple", "mango", "zebra", "3", "4"]);
    // an empty class folder is named
    std::fs::create_dir_all(root.join("empty")).unwrap();
    let e = data::load(&root, Split::Training).unwrap_err().to_string();
    assert!(e.contains("empty") && e.contains("no .png"), "{e}");
}

#[test]
fn trees_of_splits_pick_their_folder() {
    let root = tmp("splits");
    write_tree(&root.join("train"), &["a", "b"], 3);
    write_tree(&root.join("val"), &["b"], 2);
    let count = |s: Split| data::load(&root, s).map(|d| (d.len(), d.labels.unwrap()));
    assert_eq!(count(Split::Training).unwrap(), (6, vec![0, 0, 0, 1, 1, 1]));
    // val/ stands in for a missing test/; its one folder is class "b" of the training data
    let opts = data::LoadOptions { size: None, class_names: Some(vec!["a".into(), "b".into()]), classes: None };
    assert_eq!(data::load_with(&root, Split::PublicTest, &opts).unwrap().labels.unwrap(), [1, 1]);
    assert_eq!(count(Split::Test).unwrap().0, 2);
    assert_eq!(count(Split::All).unwrap().0, 8);
    let e = count(Split::PrivateTest).unwrap_err().to_string();
    assert!(e.contains("PrivateTest"), "{e}");
    // a folder of class folders is one split: no PublicTest in it
    let e = data::load(&root.join("train"), Split::PublicTest).unwrap_err().to_string();
    assert!(e.contains("one split"), "{e}");
}

#[test]
fn a_bad_picture_is_named() {
    let root = tmp("bad");
    write_tree(&root, &["a", "b"], 2);
    std::fs::write(root.join("b").join("broken.png"), b"\x89PNG\r\n\x1a\nthis is not the rest of a PNG").unwrap();
    let e = data::load(&root, Split::Training).unwrap_err().to_string();
    assert!(e.contains("broken.png") && e.contains("decode"), "{e}");
    std::fs::write(root.join("text.png"), "label,feature\n").unwrap();
    let e = load_images(&[root.join("text.png")], None).unwrap_err().to_string();
    assert!(e.contains("text.png") && e.contains("not a PNG, JPEG or BMP"), "{e}");
    let e = load_images(&[root.join("missing.jpg")], None).unwrap_err().to_string();
    assert!(e.contains("missing.jpg"), "{e}");
}

#[test]
fn idx_sets_are_named_by_content_not_by_path() {
    let sample = data::embedded_sample(Split::Test).unwrap();
    let part = sample.subset(&(0..50).collect::<Vec<_>>());
    let write = |dir: &Path, pixels: &[u8]| {
        std::fs::create_dir_all(dir).unwrap();
        data::idx::write_images(&dir.join("t10k-images-idx3-ubyte"), 28, 28, pixels, false).unwrap();
        data::idx::write_labels(&dir.join("t10k-labels-idx1-ubyte"), part.labels.as_ref().unwrap(), false).unwrap();
    };
    // Fashion-MNIST's own first image, in a directory whose name says nothing
    let plain = tmp("idx-plain");
    write(&plain, &part.pixels);
    assert_eq!(data::load(&plain, Split::Test).unwrap().class_names[0], "T-shirt/top");
    // other images in a directory called fashion: numbered
    let mut other = part.pixels.clone();
    other[300] = other[300].wrapping_add(1);
    let fashion = tmp("idx-fashion-mnist");
    write(&fashion, &other);
    assert_eq!(data::load(&fashion, Split::Test).unwrap().class_names, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[test]
fn class_names_flag_renames_and_counts_must_match() {
    let dir = tmp("names");
    // a Kaggle train.csv of 4x4 pictures (FER's seven classes by default)
    let mut csv = String::from("label,feature\n");
    for i in 0..30 {
        let px: Vec<String> = (0..16).map(|p| ((p * 13 + i * 7) % 256).to_string()).collect();
        csv += &format!("{},{}\n", i % 3, px.join(" "));
    }
    std::fs::write(dir.join("train.csv"), csv).unwrap();
    let plan = |names: Option<&str>, data: &Path, out: &str| TrainPlan {
        out: Some(dir.join(out)),
        resume: false,
        overwrite: true,
        model: spec_file(&dir, 7).display().to_string(),
        epochs: Some(1),
        config: TrainConfig { batch_size: 8, val_split: 0.2, ..TrainConfig::default() },
        data: Some(data.to_path_buf()),
        val_data: None,
        test_data: None,
        class_names: names.map(|n| data::parse_class_names(n).unwrap()),
        classes: None,
    };
    let csv = dir.join("train.csv");
    let s = TrainSession::start(&plan(None, &csv, "fer")).unwrap();
    assert_eq!(s.trainer.meta().class_names, data::FER_CLASSES);
    let names = "an,ba,ce,di,eg,fo,gu";
    let mut s = TrainSession::start(&plan(Some(names), &csv, "named")).unwrap();
    assert_eq!(s.trainer.meta().class_names.join(","), names);
    s.fit(&mut |_| {}).unwrap();
    let json = std::fs::read_to_string(dir.join("named").join("model.json")).unwrap();
    assert!(json.contains("\"gu\""), "{json}");
    let e = TrainSession::start(&plan(Some("x,y,z"), &csv, "bad")).err().unwrap().to_string();
    assert!(e.contains("--class-names") && e.contains("3 names given") && e.contains("7 classes"), "{e}");
    // an image folder's classes are its folders
    let tree = dir.join("tree");
    write_tree(&tree, &["a", "b"], 2);
    let e = TrainSession::start(&plan(Some("x,y"), &tree, "tree")).err().unwrap().to_string();
    assert!(e.contains("rename the folders"), "{e}");
    // the CLI: a wrong count is an error naming the flag
    let o = pupil(&["train", "--data", csv.to_str().unwrap(), "--class-names", "x,y", "--quiet"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--class-names"));
}

#[test]
fn image_folder_train_eval_predict_end_to_end() {
    let root = tmp("e2e");
    let classes = ["circle", "cross", "square"];
    write_tree(&root.join("train"), &classes, 12);
    // the test split lacks "cross": its folders are matched to the model's classes by name
    write_tree(&root.join("test"), &["circle", "square"], 4);
    let run_dir = root.join("run");
    let spec = spec_file(&root, 3);
    let (r, t, s) = (run_dir.to_str().unwrap(), root.to_str().unwrap(), spec.to_str().unwrap());
    let out = ok(&["train", "--data", t, "--model", s, "--epochs", "1", "--batch", "8", "--normalize", "featurewise", "--out", r]);
    assert!(out.contains("36 images 12x12x1, 3 classes"), "{out}");
    let meta = RunDir::open(&run_dir).unwrap().load_model().unwrap().meta;
    assert_eq!(meta.class_names, classes);
    assert_eq!(meta.input, [1, 12, 12]);

    // eval on the test split (the default): 8 pictures, labels by folder name
    let test = DataRef::given(Some(&root), Split::Test).load_for(&meta).unwrap();
    assert_eq!(test.labels.as_deref().unwrap(), [0, 0, 0, 0, 2, 2, 2, 2]);
    let out = ok(&["eval", "--run", r, "--data", t]);
    assert!(out.contains("on 8 images") && out.contains("square") && out.contains("cross"), "{out}");

    // predict the tree: a submission line per picture
    let sub = root.join("sub.csv");
    ok(&["predict", "--run", r, "--data", t, "--out", sub.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&sub).unwrap().lines().count(), 1 + 8);

    // predict --image on each format: one line per picture, every class, the library's order
    let pics: Vec<PathBuf> = ["000.png", "001.bmp", "002.jpg"].iter().map(|f| root.join("test").join("square").join(f)).collect();
    let args: Vec<&str> = pics.iter().map(|p| p.to_str().unwrap()).collect();
    let out = ok(&[&["predict", "--run", r, "--image"][..], &args].concat());
    let (names, preds) = run::predict_images(&run_dir, &pics).unwrap();
    assert_eq!(out.lines().count(), 3, "{out}");
    for ((line, p), path) in out.lines().zip(&preds).zip(&pics) {
        assert!(line.starts_with(&format!("{}: ", path.display())), "{line}");
        assert!(classes.iter().all(|c| line.contains(c)), "{line}");
        let top = names[p.ranked()[0].0].clone();
        assert!(line[path.display().to_string().len() + 2..].starts_with(&top), "{line} vs {top}");
        let total: f64 = line.split(", ").map(|part| part.rsplit(' ').next().unwrap().trim_end_matches('%').parse::<f64>().unwrap()).sum();
        assert!((total - 100.0).abs() < 0.5, "{line}: {total}");
    }
    // the picture is normalised exactly as the data it came from (featurewise statistics)
    let m = RunDir::open(&run_dir).unwrap().load_model().unwrap();
    let probs = pupil::train::predict(&m.model, &test.subset(&[4]), &m.meta.normalization, 1).unwrap();
    for (a, b) in probs.data().iter().zip(&preds[0].probs) {
        assert!((a - b).abs() < 1e-6, "{:?} vs {:?}", probs.data(), preds[0].probs);
    }
    // a picture of another size is resized, not refused
    let big = root.join("big.png");
    image::imageops::resize(&image::open(&pics[0]).unwrap().to_luma8(), 30, 24, image::imageops::FilterType::Triangle).save(&big).unwrap();
    ok(&["predict", "--run", r, "--image", big.to_str().unwrap()]);
    // a bad picture: one error naming it
    let bad = root.join("bad.jpg");
    std::fs::write(&bad, "no picture").unwrap();
    let o = pupil(&["predict", "--run", r, "--image", big.to_str().unwrap(), bad.to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("bad.jpg"));

    // the explain commands take --image
    let ex = root.join("explain");
    ok(&["saliency", "--run", r, "--image", args[0], args[1], "--out", ex.to_str().unwrap()]);
    let pngs = std::fs::read_dir(&ex).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png")).count();
    assert!(pngs >= 1, "no saliency picture in {}", ex.display());
    let (dref, ds) = RunDir::open(&run_dir).unwrap().data_for(&pics[..2], None, Split::Test, &meta).unwrap();
    assert_eq!((ds.len(), ds.height, ds.width, ds.labels.is_none()), (2, 12, 12, true));
    assert!(dref.describe().contains("2 images"), "{}", dref.describe());
}
