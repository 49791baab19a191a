//! The user's own pictures: PNG, JPEG and BMP files (read with the `image` crate, the format
//! found from the content, not the extension) become grayscale images of one size.
//!
//! * **Colour to gray**: ITU-R BT.601 luma, `Y = 0.299 R + 0.587 G + 0.114 B`, computed in
//!   integers as `(299 R + 587 G + 114 B + 500) / 1000` (rounded to nearest), so a gray pixel
//!   (`R = G = B = v`) stays exactly `v`. 16-bit images are first scaled to 8 bits by the
//!   `image` crate; an alpha channel is dropped (not composited).
//! * **Size**: an image whose aspect ratio differs from the target's is first **centre-cropped**
//!   to the target aspect (the middle of the picture is kept, nothing is stretched), then
//!   resized with the `image` crate's `Triangle` filter (bilinear when enlarging; when
//!   shrinking, the triangle is widened to the scale, averaging every source pixel it covers).
//!   An image already of the target size is used as it is.

use super::Dataset;
use crate::error::{Error, Result};
use image::imageops::{self, FilterType};
use image::{GrayImage, ImageReader};
use std::path::{Path, PathBuf};

/// File extensions taken as images when scanning a directory (lower case; as torchvision's
/// ImageFolder, other files are skipped). A file given by name is read whatever its name.
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Largest width or height accepted (a bigger picture is refused before it is decoded).
pub const MAX_SIDE: u32 = 16384;

/// ITU-R BT.601 luma of one RGB pixel, rounded to nearest:
/// `(299 R + 587 G + 114 B + 500) / 1000`.
pub fn luma601(r: u8, g: u8, b: u8) -> u8 {
    ((299 * r as u32 + 587 * g as u32 + 114 * b as u32 + 500) / 1000) as u8
}

/// True if `path`'s extension is one of [`IMAGE_EXTENSIONS`] (any case).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Reads a PNG, JPEG or BMP file as 8-bit grayscale ([`luma601`] of its RGB). The error names
/// the file and says what is wrong with it.
pub fn read_gray(path: &Path) -> Result<GrayImage> {
    let bad = |msg: String| Error::parse(path, 0, "image", msg);
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let format = match image::guess_format(&bytes) {
        Ok(f @ (image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::Bmp)) => f,
        Ok(f) => return Err(bad(format!("a {f:?} image; pupil reads PNG, JPEG and BMP"))),
        Err(_) => return Err(bad("not a PNG, JPEG or BMP image (unrecognised content)".into())),
    };
    let mut reader = ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| bad(format!("cannot decode: {e}")))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(bad("the image is empty (0 pixels)".into()));
    }
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let gray: Vec<u8> = rgb.pixels().map(|p| luma601(p[0], p[1], p[2])).collect();
    Ok(GrayImage::from_raw(w, h, gray).expect("one gray value per pixel"))
}

/// `img` brought to `height` x `width`: centre-cropped to that aspect ratio, then resized with
/// the `Triangle` filter (see the module doc). Returns the `height * width` pixels, row-major.
pub fn fit(img: &GrayImage, height: usize, width: usize) -> Vec<u8> {
    let (w, h) = (img.width() as u64, img.height() as u64);
    let (tw, th) = (width as u64, height as u64);
    if (w, h) == (tw, th) {
        return img.as_raw().clone();
    }
    // the largest centred window of aspect tw:th: the full height when the source is wider
    let (cw, ch) = if w * th > h * tw { (((h * tw + th / 2) / th).max(1), h) } else { (w, ((w * th + tw / 2) / tw).max(1)) };
    let (x, y) = ((w - cw) / 2, (h - ch) / 2);
    let cropped = imageops::crop_imm(img, x as u32, y as u32, cw as u32, ch as u32).to_image();
    if (cw, ch) == (tw, th) {
        return cropped.into_raw();
    }
    imageops::resize(&cropped, width as u32, height as u32, FilterType::Triangle).into_raw()
}

/// Reads the images at `paths` into one unlabelled dataset (`1 x H x W`, in the given order):
/// each is made gray and brought to `size` = `(height, width)` ([`fit`]); without `size`, to
/// the size of the first image. `class_names` is left empty.
pub fn load_images(paths: &[PathBuf], size: Option<(usize, usize)>) -> Result<Dataset> {
    let Some(first) = paths.first() else {
        return Err(Error::invalid("images", "no image files given"));
    };
    let first_img = read_gray(first)?;
    let (height, width) = size.unwrap_or((first_img.height() as usize, first_img.width() as usize));
    if height == 0 || width == 0 {
        return Err(Error::invalid("images", format!("cannot bring images to {height}x{width}")));
    }
    let mut pixels = Vec::with_capacity(paths.len() * height * width);
    pixels.extend(fit(&first_img, height, width));
    for p in &paths[1..] {
        pixels.extend(fit(&read_gray(p)?, height, width));
    }
    Ok(Dataset { channels: 1, height, width, pixels, labels: None, ids: None, class_names: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_of_gray_is_the_gray_and_weights_sum_to_one() {
        for v in [0u8, 1, 127, 128, 254, 255] {
            assert_eq!(luma601(v, v, v), v);
        }
        assert_eq!(luma601(255, 0, 0), 76); // 76.245
        assert_eq!(luma601(0, 255, 0), 150); // 149.685
        assert_eq!(luma601(0, 0, 255), 29); // 29.07
    }

    #[test]
    fn fit_crops_the_middle_then_resizes() {
        // 6 wide, 2 high; columns 0..6 have values 0,10,...,50: a 2x2 target keeps columns 2,3
        let img = GrayImage::from_fn(6, 2, |x, _| image::Luma([(x * 10) as u8]));
        assert_eq!(fit(&img, 2, 2), vec![20, 30, 20, 30]);
        // same size: unchanged
        assert_eq!(fit(&img, 2, 6), img.as_raw().clone());
        // a constant picture stays constant whatever the size
        let flat = GrayImage::from_pixel(7, 5, image::Luma([99]));
        assert!(fit(&flat, 3, 4).iter().all(|&v| v == 99));
        assert_eq!(fit(&flat, 9, 11).len(), 99);
    }
}
