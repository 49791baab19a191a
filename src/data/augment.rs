//! Random image augmentation, in the manner of Keras' `ImageDataGenerator`: one random
//! affine transform (horizontal flip, rotation, shift, zoom, shear) resampled bilinearly with
//! 'nearest' fill (edge pixels extended), then an optional pad-and-random-crop (zero padding),
//! then brightness and contrast jitter.
//!
//! Images are `f32`, channel-major `[c, h, w]`, on the raw `0..=255` scale: augmentation runs
//! before normalisation, and brightness/contrast clamp the result to `0..=255`.

use crate::error::{Error, Result};
use crate::Rng;
use serde::{Deserialize, Serialize};

/// Augmentation settings; the default does nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Flip left-right with probability 1/2.
    pub hflip: bool,
    /// Rotate by a uniform angle in `[-rotation_deg, rotation_deg]` degrees.
    pub rotation_deg: f32,
    /// Shift horizontally by a uniform fraction of the width in `[-shift_w, shift_w]`.
    pub shift_w: f32,
    /// Shift vertically by a uniform fraction of the height in `[-shift_h, shift_h]`.
    pub shift_h: f32,
    /// Scale each axis independently by a uniform factor in `[1 - zoom, 1 + zoom]`.
    pub zoom: f32,
    /// Shear by a uniform angle in `[-shear_deg, shear_deg]` degrees.
    pub shear_deg: f32,
    /// Multiply by a uniform factor in `[1 - brightness, 1 + brightness]`.
    pub brightness: f32,
    /// Scale the deviation from the image mean by a factor in `[1 - contrast, 1 + contrast]`.
    pub contrast: f32,
    /// Pad by `pad_crop` zero pixels on each side, then crop a random window of the original size.
    pub pad_crop: usize,
}

impl Augment {
    /// The `standard` preset: `flip,rot=15,shift=0.1,zoom=0.1`.
    pub fn standard() -> Augment {
        Augment { hflip: true, rotation_deg: 15.0, shift_w: 0.1, shift_h: 0.1, zoom: 0.1, ..Augment::default() }
    }

    /// True when [`Augment::apply`] leaves every image unchanged.
    pub fn is_identity(&self) -> bool {
        !self.hflip
            && self.rotation_deg == 0.0
            && self.shift_w == 0.0
            && self.shift_h == 0.0
            && self.zoom == 0.0
            && self.shear_deg == 0.0
            && self.brightness == 0.0
            && self.contrast == 0.0
            && self.pad_crop == 0
    }

    /// Parses a comma-separated spec such as
    /// `flip,rot=20,shift=0.1,zoom=0.1,shear=5,brightness=0.1,contrast=0.1,crop=4`.
    /// Items: `flip` (or `hflip`, `flip=false`), `rot`/`rotation` (degrees, 0..=180),
    /// `shift` (both axes), `shift_w`/`shift_x`, `shift_h`/`shift_y` (fractions, 0..1),
    /// `zoom` (0..1), `shear` (degrees, 0..90), `brightness`, `contrast` (0..=1),
    /// `crop`/`pad_crop` (pixels). `none` and the preset `standard` can start the list; later
    /// items override. Errors name the bad item.
    pub fn parse(spec: &str) -> Result<Augment> {
        let mut a = Augment::default();
        let spec = spec.trim();
        if spec.is_empty() {
            return Ok(a);
        }
        for item in spec.split(',') {
            let item = item.trim();
            let bad = |msg: &str| Error::invalid("augment", format!("bad item {item:?} in {spec:?}: {msg}"));
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
                None => (item.to_ascii_lowercase(), None),
            };
            let num = |lo: f32, hi: f32, hi_incl: bool| -> Result<f32> {
                let v = value.ok_or_else(|| bad("needs a value, like name=0.1"))?;
                let x: f32 = v.parse().map_err(|_| bad(&format!("{v:?} is not a number")))?;
                let ok = x.is_finite() && x >= lo && (x < hi || hi_incl && x == hi);
                if !ok {
                    let range = if hi_incl { format!("{lo}..={hi}") } else { format!("{lo}..{hi}") };
                    return Err(bad(&format!("{x} is outside {range}")));
                }
                Ok(x)
            };
            match key.as_str() {
                "" => return Err(bad("empty item")),
                "none" | "standard" if value.is_some() => return Err(bad("a preset takes no value")),
                "none" => a = Augment::default(),
                "standard" => a = Augment::standard(),
                "flip" | "hflip" => {
                    a.hflip = match value.map(|v| v.to_ascii_lowercase()) {
                        None => true,
                        Some(v) if v == "true" || v == "1" || v == "yes" => true,
                        Some(v) if v == "false" || v == "0" || v == "no" => false,
                        Some(_) => return Err(bad("expected flip, flip=true or flip=false")),
                    }
                }
                "rot" | "rotate" | "rotation" => a.rotation_deg = num(0.0, 180.0, true)?,
                "shift" => {
                    a.shift_w = num(0.0, 1.0, false)?;
                    a.shift_h = a.shift_w;
                }
                "shift_w" | "shiftw" | "shift_x" | "width_shift" => a.shift_w = num(0.0, 1.0, false)?,
                "shift_h" | "shifth" | "shift_y" | "height_shift" => a.shift_h = num(0.0, 1.0, false)?,
                "zoom" => a.zoom = num(0.0, 1.0, false)?,
                "shear" => a.shear_deg = num(0.0, 90.0, false)?,
                "brightness" => a.brightness = num(0.0, 1.0, true)?,
                "contrast" => a.contrast = num(0.0, 1.0, true)?,
                "crop" | "pad_crop" | "padcrop" => {
                    let v = value.ok_or_else(|| bad("needs a value, like crop=4"))?;
                    a.pad_crop = v.parse().map_err(|_| bad(&format!("{v:?} is not a whole number of pixels")))?;
                    if a.pad_crop > 4096 {
                        return Err(bad("padding above 4096 pixels"));
                    }
                }
                _ => {
                    return Err(bad("unknown name; expected flip, rot, shift, shift_w, shift_h, zoom, shear, brightness, contrast, \
                         crop, none or standard"))
                }
            }
        }
        Ok(a)
    }

    /// Augments one image in place (`img` is `[c, h, w]` on the `0..=255` scale) with random
    /// draws from `rng`.
    pub fn apply(&self, img: &mut [f32], c: usize, h: usize, w: usize, rng: &mut Rng) -> Result<()> {
        if img.len() != c * h * w {
            return Err(Error::shape("Augment::apply", &[img.len()], &[c, h, w]));
        }
        if self.is_identity() || img.is_empty() {
            return Ok(());
        }
        self.affine(img, c, h, w, rng);
        if self.pad_crop > 0 {
            let p = self.pad_crop as isize;
            let ox = rng.below(2 * self.pad_crop + 1) as isize - p;
            let oy = rng.below(2 * self.pad_crop + 1) as isize - p;
            translate_zero(img, c, h, w, ox, oy);
        }
        if self.brightness > 0.0 || self.contrast > 0.0 {
            let b = if self.brightness > 0.0 { rng.uniform(1.0 - self.brightness, 1.0 + self.brightness) } else { 1.0 };
            let k = if self.contrast > 0.0 { rng.uniform(1.0 - self.contrast, 1.0 + self.contrast) } else { 1.0 };
            for plane in img.chunks_exact_mut(h * w) {
                let mean = plane.iter().map(|&v| v as f64).sum::<f64>() as f32 / plane.len() as f32;
                for v in plane.iter_mut() {
                    *v = (((*v - mean) * k + mean) * b).clamp(0.0, 255.0);
                }
            }
        }
        Ok(())
    }

    /// The flip/rotation/shift/zoom/shear part: one inverse-mapped affine transform.
    fn affine(&self, img: &mut [f32], c: usize, h: usize, w: usize, rng: &mut Rng) {
        let sym = |rng: &mut Rng, r: f32| if r > 0.0 { rng.uniform(-r, r) } else { 0.0 };
        let flip = self.hflip && rng.next_f32() < 0.5;
        let theta = sym(rng, self.rotation_deg).to_radians();
        let tx = sym(rng, self.shift_w) * w as f32;
        let ty = sym(rng, self.shift_h) * h as f32;
        let (zx, zy) =
            if self.zoom > 0.0 { (rng.uniform(1.0 - self.zoom, 1.0 + self.zoom), rng.uniform(1.0 - self.zoom, 1.0 + self.zoom)) } else { (1.0, 1.0) };
        let shear = sym(rng, self.shear_deg).to_radians();
        let plane = h * w;
        if theta == 0.0 && shear == 0.0 && zx == 1.0 && zy == 1.0 && tx == 0.0 && ty == 0.0 {
            if flip {
                img.chunks_exact_mut(w).for_each(|row| row.reverse());
            }
            return;
        }
        // Output (x, y) samples input A * (x - cx, y - cy) + (cx + tx, cy + ty),
        // A = rotation * shear * zoom (Keras' order); x mirrored first when flipping.
        let (s, co) = (theta.sin(), theta.cos());
        let (ss, sc) = (shear.sin(), shear.cos());
        // shear matrix [[1, -ss], [0, sc]], zoom diag(zx, zy)
        let (b00, b01, b10, b11) = (zx, -ss * zy, 0.0, sc * zy);
        let a00 = co * b00 - s * b10;
        let a01 = co * b01 - s * b11;
        let a10 = s * b00 + co * b10;
        let a11 = s * b01 + co * b11;
        let (cx, cy) = ((w as f32 - 1.0) * 0.5, (h as f32 - 1.0) * 0.5);
        let (wm, hm) = ((w - 1) as f32, (h - 1) as f32);
        let mut out = vec![0f32; img.len()];
        for y in 0..h {
            let v = y as f32 - cy;
            for x in 0..w {
                let u = if flip { cx - x as f32 } else { x as f32 - cx };
                let sx = (a00 * u + a01 * v + cx + tx).clamp(0.0, wm);
                let sy = (a10 * u + a11 * v + cy + ty).clamp(0.0, hm);
                let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (w00, w01, w10, w11) = ((1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy);
                for ch in 0..c {
                    let p = &img[ch * plane..(ch + 1) * plane];
                    out[ch * plane + y * w + x] = w00 * p[y0 * w + x0] + w01 * p[y0 * w + x1] + w10 * p[y1 * w + x0] + w11 * p[y1 * w + x1];
                }
            }
        }
        img.copy_from_slice(&out);
    }
}

/// out[y][x] = in[y + oy][x + ox], zero outside.
fn translate_zero(img: &mut [f32], c: usize, h: usize, w: usize, ox: isize, oy: isize) {
    if ox == 0 && oy == 0 {
        return;
    }
    let plane = h * w;
    let src = img.to_vec();
    for ch in 0..c {
        for y in 0..h {
            let sy = y as isize + oy;
            for x in 0..w {
                let sx = x as isize + ox;
                img[ch * plane + y * w + x] =
                    if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize { src[ch * plane + sy as usize * w + sx as usize] } else { 0.0 };
            }
        }
    }
}

impl std::fmt::Display for Augment {
    /// The spec [`Augment::parse`] reads back (`none` for the identity).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut items: Vec<String> = Vec::new();
        if self.hflip {
            items.push("flip".into());
        }
        let mut num = |name: &str, v: f32| {
            if v != 0.0 {
                items.push(format!("{name}={v}"));
            }
        };
        num("rot", self.rotation_deg);
        if self.shift_w == self.shift_h {
            num("shift", self.shift_w);
        } else {
            num("shift_w", self.shift_w);
            num("shift_h", self.shift_h);
        }
        num("zoom", self.zoom);
        num("shear", self.shear_deg);
        num("brightness", self.brightness);
        num("contrast", self.contrast);
        if self.pad_crop > 0 {
            items.push(format!("crop={}", self.pad_crop));
        }
        if items.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", items.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let a = Augment::parse("flip,rot=20,shift=0.1,zoom=0.1,shear=5,brightness=0.1,contrast=0.1,crop=4").unwrap();
        assert!(a.hflip && a.rotation_deg == 20.0 && a.shift_w == 0.1 && a.shift_h == 0.1 && a.pad_crop == 4);
        assert_eq!(Augment::parse(&a.to_string()).unwrap(), a);
        assert_eq!(Augment::parse("standard").unwrap(), Augment::standard());
        assert_eq!(Augment::parse("standard,zoom=0.2").unwrap().zoom, 0.2);
        assert!(Augment::parse("none").unwrap().is_identity());
        assert_eq!(Augment::default().to_string(), "none");
        for (spec, needle) in [
            ("flip,rot=abc", "\"rot=abc\""),
            ("flip,spin=3", "\"spin=3\""),
            ("zoom=1.5", "outside"),
            ("rot", "needs a value"),
            ("crop=-1", "\"crop=-1\""),
            ("flip,,zoom=0.1", "empty item"),
            ("flip=maybe", "flip=maybe"),
        ] {
            let e = Augment::parse(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }

    #[test]
    fn pad_crop_shifts_with_zero_fill() {
        let mut img: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        translate_zero(&mut img, 1, 3, 3, 1, 0);
        assert_eq!(img, vec![2., 3., 0., 5., 6., 0., 8., 9., 0.]);
    }

    #[test]
    fn rotation_by_90_degrees_bounds() {
        // rot=90 exactly is not drawn by uniform, but a symmetric 2x2 image stays in range.
        let a = Augment { rotation_deg: 90.0, ..Augment::default() };
        let mut img = vec![0f32, 255.0, 255.0, 0.0];
        a.apply(&mut img, 1, 2, 2, &mut Rng::new(1)).unwrap();
        assert!(img.iter().all(|v| (0.0..=255.0).contains(v)));
    }
}
