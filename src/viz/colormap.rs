//! Colour maps: `f32 in [0, 1] -> [u8; 3]`, linear interpolation between control points.
//!
//! The control points are samples of the published definitions: viridis and inferno from
//! matplotlib (van der Walt & Smith, BIDS), the diverging map from ColorBrewer's 11-class RdBu
//! (reversed, so negative is blue and positive is red). Inputs outside [0, 1] are clamped and
//! NaN maps to the low end.

/// A colour map: a function from [0, 1] to an RGB colour.
pub type Colormap = fn(f32) -> [u8; 3];

/// Viridis sampled at 21 evenly spaced points (t = 0, 0.05, ..., 1).
const VIRIDIS: [u32; 21] = [
    0x440154, 0x481467, 0x482576, 0x463480, 0x414487, 0x3b528b, 0x355f8d, 0x2f6c8e, 0x2a788e, 0x25848e, 0x21908c, 0x1e9c89, 0x22a884, 0x2fb47c, 0x44bf70,
    0x5dc863, 0x7ad151, 0x9ad93c, 0xbddf26, 0xdfe318, 0xfde725,
];

/// Inferno sampled at 11 evenly spaced points (t = 0, 0.1, ..., 1).
const INFERNO: [u32; 11] = [0x000004, 0x160b39, 0x420a68, 0x6a176e, 0x932667, 0xbc3754, 0xdd513a, 0xf37819, 0xfca50a, 0xf6d746, 0xfcffa4];

/// Blue - white - red (ColorBrewer RdBu, 11 classes, reversed).
const BLUE_WHITE_RED: [u32; 11] = [0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7, 0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f];

/// Greys from black to white (for completeness; `gray_to_rgb` does not need it).
const GRAY: [u32; 2] = [0x000000, 0xffffff];

fn split(c: u32) -> [f32; 3] {
    [((c >> 16) & 0xff) as f32, ((c >> 8) & 0xff) as f32, (c & 0xff) as f32]
}

/// Interpolates linearly in a table of evenly spaced `0xRRGGBB` control points.
fn interpolate(table: &[u32], t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (table.len() - 1) as f32;
    let i = (pos.floor() as usize).min(table.len() - 2);
    let f = pos - i as f32;
    let (a, b) = (split(table[i]), split(table[i + 1]));
    let mut out = [0u8; 3];
    for k in 0..3 {
        out[k] = (a[k] + (b[k] - a[k]) * f).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Viridis: dark purple (0) through teal to yellow (1). Perceptually uniform, the default for
/// heatmaps and the confusion matrix.
pub fn viridis(t: f32) -> [u8; 3] {
    interpolate(&VIRIDIS, t)
}

/// Inferno: black (0) through red and orange to pale yellow (1). Good for saliency maps.
pub fn inferno(t: f32) -> [u8; 3] {
    interpolate(&INFERNO, t)
}

/// Diverging blue (0) - white (0.5) - red (1), for signed maps: map `v` with
/// `0.5 + 0.5 * v / max_abs` so zero is white.
pub fn blue_white_red(t: f32) -> [u8; 3] {
    interpolate(&BLUE_WHITE_RED, t)
}

/// Black (0) to white (1).
pub fn gray(t: f32) -> [u8; 3] {
    interpolate(&GRAY, t)
}

/// Relative luminance (ITU-R BT.709 weights on the sRGB values, 0..=255) of a colour; used to
/// pick black or white text on a coloured cell.
pub fn luminance(c: [u8; 3]) -> f32 {
    0.2126 * c[0] as f32 + 0.7152 * c[1] as f32 + 0.0722 * c[2] as f32
}

/// Black or white, whichever reads better on `bg`.
pub fn text_colour_on(bg: [u8; 3]) -> [u8; 3] {
    if luminance(bg) > 140.0 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(viridis(0.0), [0x44, 0x01, 0x54]);
        assert_eq!(viridis(1.0), [0xfd, 0xe7, 0x25]);
        assert_eq!(inferno(0.0), [0x00, 0x00, 0x04]);
        assert_eq!(inferno(1.0), [0xfc, 0xff, 0xa4]);
        assert_eq!(blue_white_red(0.5), [0xf7, 0xf7, 0xf7]);
        assert_eq!(gray(0.0), [0, 0, 0]);
        assert_eq!(gray(1.0), [255, 255, 255]);
    }

    #[test]
    fn clamps_and_nan() {
        assert_eq!(viridis(-3.0), viridis(0.0));
        assert_eq!(viridis(7.0), viridis(1.0));
        assert_eq!(viridis(f32::NAN), viridis(0.0));
        assert_eq!(inferno(f32::INFINITY), inferno(1.0));
    }

    #[test]
    fn sequential_maps_have_increasing_luminance() {
        for cmap in [viridis as Colormap, inferno, gray] {
            let mut prev = -1.0;
            for i in 0..=200 {
                let l = luminance(cmap(i as f32 / 200.0));
                assert!(l >= prev - 0.5, "luminance dropped at {i}: {l} < {prev}");
                prev = l;
            }
        }
    }

    #[test]
    fn diverging_is_light_in_the_middle() {
        let mid = luminance(blue_white_red(0.5));
        assert!(mid > luminance(blue_white_red(0.0)) + 100.0);
        assert!(mid > luminance(blue_white_red(1.0)) + 100.0);
        assert!(blue_white_red(0.0)[2] > blue_white_red(0.0)[0]);
        assert!(blue_white_red(1.0)[0] > blue_white_red(1.0)[2]);
    }
}
