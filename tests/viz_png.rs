//! The pictures of `pupil::viz` decode as PNG with the expected size and content.

use pupil::viz::colormap::{inferno, luminance, viridis};
use pupil::viz::{confusion_png, gray_to_rgb, heatmap, image_grid, overlay, plot_curves, training_curves, upscale_nearest, EpochRecord, Series, Tile};
use std::path::{Path, PathBuf};

/// A fresh directory under the system temp dir for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-viz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Decoded {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Decoded {
    fn px(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.w + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
    fn count(&self, f: impl Fn([u8; 3]) -> bool) -> usize {
        self.rgb.chunks(3).filter(|c| f([c[0], c[1], c[2]])).count()
    }
    fn dark_in(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> usize {
        (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| luminance(self.px(x, y)) < 100.0).count()
    }
}

fn decode(path: &Path) -> Decoded {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    Decoded { w: info.width as usize, h: info.height as usize, rgb: buf }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const FER: [&str; 7] = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"];

#[test]
fn confusion_perfect_diagonal_is_top_of_viridis() {
    let d = scratch("conf-diag");
    let p = d.join("diag.png");
    let n = 3;
    let counts: Vec<Vec<u64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 40 } else { 0 }).collect()).collect();
    confusion_png(&p, &counts, &names(&["cat", "dog", "bird"]), "perfect").unwrap();
    let img = decode(&p);
    let top = viridis(1.0);
    let bottom = viridis(0.0);
    // The first pixel of the top colour in raster order is the top-left corner of the first
    // (top-left) diagonal cell; the cell is a solid square of that colour around it.
    let first = img.rgb.chunks(3).position(|c| c == top).expect("no cell has the top viridis colour");
    let (x, y) = (first % img.w, first / img.w);
    for (dx, dy) in [(5, 5), (20, 3), (3, 20)] {
        assert_eq!(img.px(x + dx, y + dy), top, "diagonal cell at ({x},{y})+({dx},{dy})");
    }
    // Off-diagonal cells are the bottom of viridis, and there are twice as many of them.
    let n_top = img.count(|c| c == top);
    let n_bottom = img.count(|c| c == bottom);
    assert!(n_top > 3 * 2 * 30 * 30, "diagonal area {n_top}");
    assert!(n_bottom > n_top, "{n_bottom} off-diagonal vs {n_top} diagonal pixels");
    // Cell numbers are black on the yellow diagonal (readable), white on dark purple cells.
    assert!(img.count(|c| c == [0, 0, 0]) > 50);
    assert!(img.count(|c| c == [255, 255, 255]) > 1000);
}

#[test]
fn confusion_zero_rows_and_sizes() {
    let d = scratch("conf-zero");
    let mut counts: Vec<Vec<u64>> = (0..7).map(|i| (0..7).map(|j| (i * 13 + j * 7) as u64 % 50).collect()).collect();
    counts[1] = vec![0; 7];
    let p = d.join("zero.png");
    confusion_png(&p, &counts, &names(&FER), "FER2013").unwrap();
    let img = decode(&p);
    assert!(img.w > 600 && img.h > 300);
    // All zero, all 20 x 20, and 2 x 2 work too.
    confusion_png(d.join("allzero.png"), &vec![vec![0; 7]; 7], &names(&FER), "empty").unwrap();
    for n in [2usize, 20] {
        let counts: Vec<Vec<u64>> = (0..n).map(|i| (0..n).map(|j| (i * 31 + j * 17) as u64 % 1000).collect()).collect();
        let cls: Vec<String> = (0..n).map(|i| format!("class {i}")).collect();
        let p = d.join(format!("n{n}.png"));
        confusion_png(&p, &counts, &cls, "sizes").unwrap();
        let img = decode(&p);
        assert!(img.w > 300 && img.h > 200);
    }
    // A counts matrix that does not match the class names is an error, not a panic.
    assert!(confusion_png(d.join("bad.png"), &[vec![1, 2, 3]], &names(&FER), "bad").is_err());
    assert!(!d.join("bad.png").exists());
}

#[test]
fn title_text_puts_dark_pixels_on_white() {
    let d = scratch("text");
    let s = vec![Series::new("train", vec![1.0, 0.5, 0.25])];
    let (a, b) = (d.join("titled.png"), d.join("untitled.png"));
    plot_curves(&a, "Training loss", &s, "epoch", "loss").unwrap();
    plot_curves(&b, "", &s, "epoch", "loss").unwrap();
    let (a, b) = (decode(&a), decode(&b));
    assert_eq!((a.w, a.h), (800, 520));
    // The title sits centred above the plot area; corners of the band stay white.
    assert!(a.dark_in(250, 0, 600, 40) > 100, "title ink");
    assert_eq!(b.dark_in(250, 0, 600, 12), 0);
    assert_eq!(a.dark_in(0, 0, 100, 40), 0);
    assert_eq!(a.px(2, 2), [255, 255, 255]);
    // The y label is drawn rotated in the left margin, the x label centred at the bottom.
    assert!(a.dark_in(0, 150, 30, 370) > 30, "y label ink");
    assert!(a.dark_in(300, 490, 560, 520) > 30, "x label ink");
}

#[test]
fn plots_survive_nan_single_and_flat_series() {
    let d = scratch("plots");
    let cases = [
        vec![Series::new("nan", vec![f32::NAN; 5])],
        vec![Series::new("one", vec![2.0])],
        vec![Series::new("flat", vec![0.5; 8]).dashed(), Series::new("", vec![])],
        vec![Series::new("gaps", vec![1.0, f32::NAN, f32::INFINITY, 0.4, f32::NEG_INFINITY, 0.2])],
        vec![],
    ];
    for (i, s) in cases.iter().enumerate() {
        let p = d.join(format!("c{i}.png"));
        plot_curves(&p, "case", s, "x", "y").unwrap();
        let img = decode(&p);
        assert_eq!((img.w, img.h), (800, 520));
    }
    // A series with colour keeps it: its pixels appear in the picture.
    let p = d.join("colour.png");
    let red = [200, 0, 0];
    plot_curves(&p, "c", &[Series::new("r", vec![0.0, 1.0, 0.0]).colour(red)], "x", "y").unwrap();
    assert!(decode(&p).count(|c| c == red) > 200);
}

#[test]
fn training_curves_one_epoch_nan_and_equal() {
    let d = scratch("train");
    let rec = |e: usize, l: f32, a: f32, v: Option<f32>| EpochRecord {
        epoch: e,
        train_loss: l,
        train_acc: a,
        val_loss: v,
        val_acc: v.map(|x| x / 4.0),
        lr: 1e-3,
        seconds: 1.0,
    };
    let runs: Vec<Vec<EpochRecord>> = vec![
        vec![rec(1, 1.9, 0.3, Some(2.0))],
        vec![rec(1, f32::NAN, 0.3, None), rec(2, 1.5, f32::NAN, Some(f32::NAN)), rec(3, 1.2, 0.5, Some(1.4))],
        (1..=5).map(|e| rec(e, 1.0, 0.5, Some(1.0))).collect(),
        vec![],
        (1..=60).map(|e| rec(e, 2.0 / e as f32, 1.0 - 1.0 / e as f32, None)).collect(),
    ];
    for (i, h) in runs.iter().enumerate() {
        let p = d.join(format!("run{i}.png"));
        training_curves(&p, h).unwrap();
        let img = decode(&p);
        assert_eq!((img.w, img.h), (1200, 480));
        // Both panels have a title.
        assert!(img.dark_in(250, 0, 350, 40) > 30 && img.dark_in(850, 0, 1000, 40) > 30);
    }
}

#[test]
fn unwritable_path_is_an_error_naming_it() {
    let d = scratch("missing");
    let p = d.join("no").join("such").join("dir").join("plot.png");
    let err = plot_curves(&p, "t", &[Series::new("a", vec![1.0, 2.0])], "x", "y").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&p.display().to_string()), "error does not name the path: {msg}");
    assert!(matches!(err, pupil::Error::Io { .. }));
    let err = confusion_png(&p, &[vec![1, 0], vec![0, 1]], &names(&["a", "b"]), "t").unwrap_err();
    assert!(err.to_string().contains("plot.png"));
}

#[test]
fn writes_are_atomic_and_overwrite() {
    let d = scratch("atomic");
    let p = d.join("grid.png");
    std::fs::write(&p, b"old content").unwrap();
    let tile = Tile::new([255, 0, 0].repeat(4), 2, 2).with_caption("red");
    image_grid(&p, &[tile], 1, 40, None).unwrap();
    decode(&p);
    let left: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("grid.png")], "temporary files left behind");
}

#[test]
fn image_grid_scales_tiles_and_captions_them() {
    let d = scratch("grid");
    let (h, w) = (48, 48);
    let face: Vec<f32> = (0..h * w).map(|i| (i % w) as f32).collect();
    let sal: Vec<f32> = (0..h * w).map(|i| (i / w) as f32).collect();
    let tiles = vec![
        Tile::new([255, 0, 0].repeat(4), 2, 2).with_caption("red"),
        Tile::new(gray_to_rgb(&face, h, w), h, w).with_caption("input\nHappy"),
        Tile::new(heatmap(&sal, h, w, inferno), h, w),
        Tile::new(overlay(&face, &sal, h, w, 0.6), h, w).with_caption("overlay"),
        Tile::new([0, 0, 255].repeat(2 * 6), 2, 6),
    ];
    let p = d.join("grid.png");
    image_grid(&p, &tiles, 3, 96, Some("Saliency")).unwrap();
    let img = decode(&p);
    // Two rows of three 96-px tiles plus margins, captions and the title.
    assert!(img.w >= 3 * 96 && img.w < 3 * 96 + 100, "width {}", img.w);
    assert!(img.h >= 2 * 96 + 40 && img.h < 2 * 96 + 200, "height {}", img.h);
    // The red 2x2 tile became a 96x96 red square (nearest neighbour, no blur).
    assert!(img.count(|c| c == [255, 0, 0]) >= 96 * 96);
    // The 2x6 blue tile keeps its aspect ratio: 32x96.
    assert_eq!(img.count(|c| c == [0, 0, 255]), 32 * 96);
    // Captions put ink under the first tile.
    let first_red = img.rgb.chunks(3).position(|c| c == [255, 0, 0]).unwrap();
    let (x, y) = (first_red % img.w, first_red / img.w);
    assert!(img.dark_in(x, y + 97, x + 96, y + 120) > 10, "caption ink");
    // Bad input is an error.
    assert!(image_grid(d.join("x.png"), &[], 3, 96, None).is_err());
}

#[test]
fn image_helpers() {
    let g = gray_to_rgb(&[0.0, 10.0], 1, 2);
    assert_eq!(g, vec![0, 0, 0, 255, 255, 255]);
    let up = upscale_nearest(&g, 1, 2, 3);
    assert_eq!(up.len(), 3 * 6 * 3);
    assert_eq!(&up[..3], &[0, 0, 0]);
    assert_eq!(&up[up.len() - 3..], &[255, 255, 255]);
    let hm = heatmap(&[1.0, 2.0, 3.0], 1, 3, viridis);
    assert_eq!(&hm[..3], &viridis(0.0));
    assert_eq!(&hm[6..], &viridis(1.0));
}

#[test]
fn colormap_endpoints_and_viridis_luminance() {
    assert_eq!(viridis(0.0), [68, 1, 84]);
    assert_eq!(viridis(1.0), [253, 231, 37]);
    assert_eq!(inferno(0.0), [0, 0, 4]);
    assert_eq!(inferno(1.0), [252, 255, 164]);
    let mut prev = f32::NEG_INFINITY;
    for i in 0..=1000 {
        let l = luminance(viridis(i as f32 / 1000.0));
        assert!(l >= prev - 0.5, "viridis luminance drops at {i}");
        prev = l;
    }
}
