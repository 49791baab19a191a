//! Pictures for reports, in pure Rust, written as PNG.
//!
//! - [`canvas`]: an RGB raster with rectangles, anti-aliased lines and text in the embedded
//!   DejaVu Sans font (no fontconfig: the same picture on every machine), saved atomically.
//! - [`colormap`]: viridis, inferno and a blue-white-red diverging map.
//! - [`plot`]: line charts ([`plot_curves`]) and the two-panel loss/accuracy figure of a
//!   training run ([`training_curves`] from [`EpochRecord`]s).
//! - [`confusion`]: a confusion matrix as counts and row-normalised fractions side by side.
//! - [`image`]: grayscale and heatmap images, overlays, and captioned image grids for saliency
//!   maps, filters and feature maps.
//! - [`explain`]: saliency grids (heatmap, overlay, masked face), gradient-ascent images and
//!   feature maps of the explanations.

pub mod axis;
pub mod canvas;
pub mod colormap;
pub mod confusion;
pub mod explain;
pub mod image;
pub mod lime;
pub mod plot;

pub use canvas::{Align, Canvas, VAlign};
pub use colormap::{blue_white_red, gray, inferno, viridis, Colormap};
pub use confusion::{confusion_png, render_confusion};
pub use image::{channel_tiles, gray_to_rgb, heatmap, heatmap_signed, image_grid, overlay, overlay_with, render_grid, save_rgb_png, upscale_nearest, Tile};
pub use plot::{plot_curves, render_curves, render_training_curves, training_curves, EpochRecord, Series};
