//! IDX files (the MNIST / Fashion-MNIST format): a big-endian header — magic `0x00000803`
//! for `N x H x W` unsigned-byte images, `0x00000801` for `N` unsigned-byte labels — then the
//! raw bytes. Plain or gzipped (detected from the content). Writers are provided for tests
//! and for recreating the embedded sample.

use super::input::{find_beside, open_input};
use super::{classes::idx_class_names, Dataset, Split};
use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned-byte images `N x H x W`.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels `N`.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Images read from an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub height: usize,
    pub width: usize,
    /// `count * height * width` bytes.
    pub pixels: Vec<u8>,
}

fn read_header(r: &mut impl Read, path: &Path, magic: u32, ndim: usize) -> Result<Vec<usize>> {
    let mut head = Vec::with_capacity(4 + 4 * ndim);
    r.take(4 + 4 * ndim as u64).read_to_end(&mut head).map_err(|e| Error::io(path, e))?;
    if head.len() < 4 {
        return Err(Error::parse(path, 0, "magic", format!("truncated file: {} bytes, an IDX file starts with a 4-byte magic number", head.len())));
    }
    let found = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if found != magic {
        let what = |m: u32| match m {
            IMAGES_MAGIC => "images",
            LABELS_MAGIC => "labels",
            _ => "something else",
        };
        return Err(Error::parse(
            path,
            0,
            "magic",
            format!("wrong magic number 0x{found:08x} ({}), expected 0x{magic:08x} (IDX {})", what(found), what(magic)),
        ));
    }
    if head.len() < 4 + 4 * ndim {
        return Err(Error::parse(path, 0, "dimensions", format!("truncated file: header needs {} bytes, found {}", 4 + 4 * ndim, head.len())));
    }
    Ok((0..ndim).map(|d| u32::from_be_bytes([head[4 + 4 * d], head[5 + 4 * d], head[6 + 4 * d], head[7 + 4 * d]]) as usize).collect())
}

/// Reads exactly `len` payload bytes and checks that nothing follows them. The buffer starts
/// small and grows with the bytes really read, so a header that claims more than the file
/// holds costs no large allocation.
fn read_payload(r: &mut impl Read, path: &Path, len: usize, what: &str) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(len.min(1 << 16));
    r.take(len as u64).read_to_end(&mut data).map_err(|e| Error::io(path, e))?;
    if data.len() < len {
        return Err(Error::parse(path, 0, "data", format!("truncated file: expected {len} bytes of {what}, found {}", data.len())));
    }
    let mut extra = [0u8; 1];
    let more = r.read(&mut extra).map_err(|e| Error::io(path, e))?;
    if more > 0 {
        return Err(Error::parse(path, 0, "data", format!("unexpected data after the {len} bytes of {what}")));
    }
    Ok(data)
}

/// Reads an IDX images file from `r`; `path` is used in error messages.
pub fn read_images_from(mut r: impl Read, path: &Path) -> Result<IdxImages> {
    let dims = read_header(&mut r, path, IMAGES_MAGIC, 3)?;
    let (count, height, width) = (dims[0], dims[1], dims[2]);
    if height == 0 || width == 0 {
        return Err(Error::parse(path, 0, "dimensions", format!("image size {height}x{width} is empty")));
    }
    let len = count.checked_mul(height).and_then(|x| x.checked_mul(width)).filter(|&x| x <= isize::MAX as usize);
    let Some(len) = len else {
        return Err(Error::parse(path, 0, "dimensions", format!("{count} images of {height}x{width} is too large")));
    };
    let what = format!("pixels for {count} images of {height}x{width}");
    let pixels = read_payload(&mut r, path, len, &what)?;
    Ok(IdxImages { count, height, width, pixels })
}

/// Reads an IDX labels file from `r`; `path` is used in error messages.
pub fn read_labels_from(mut r: impl Read, path: &Path) -> Result<Vec<u8>> {
    let dims = read_header(&mut r, path, LABELS_MAGIC, 1)?;
    read_payload(&mut r, path, dims[0], &format!("labels for {} items", dims[0]))
}

/// Reads an IDX images file (plain or gzipped).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    read_images_from(open_input(path)?, path)
}

/// Reads an IDX labels file (plain or gzipped).
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    read_labels_from(open_input(path)?, path)
}

/// The labels file conventionally beside an images file: `X-images-idx3-ubyte[.gz]` ->
/// `X-labels-idx1-ubyte[.gz]` (also `X-images.idx3-ubyte` -> `X-labels.idx1-ubyte`), gzipped
/// or not, whichever exists.
pub fn labels_path_for(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    let base = name.strip_suffix(".gz").unwrap_or(name);
    if !base.contains("idx3") {
        return None;
    }
    let lab = base.replacen("images", "labels", 1).replacen("idx3", "idx1", 1);
    if lab == base {
        return None;
    }
    let dir = images.parent().unwrap_or(Path::new(""));
    [dir.join(format!("{lab}.gz")), dir.join(&lab)].into_iter().find(|p| p.is_file())
}

/// Builds a dataset from IDX images and optional labels; `path` names the images file.
/// `classes`: the number of classes the labels are read for (each label must be below it,
/// classes may lack examples); None: the labels' own, which must leave no class without an
/// example ([`check_classes`]).
pub fn dataset_from(images: IdxImages, labels: Option<(Vec<u8>, &Path)>, path: &Path, classes: Option<usize>) -> Result<Dataset> {
    if let Some((l, lpath)) = &labels {
        if l.len() != images.count {
            return Err(Error::parse(lpath, 0, "labels", format!("{} labels for {} images in {}", l.len(), images.count, path.display())));
        }
    }
    if let Some((l, lpath)) = &labels {
        match classes {
            Some(n) => check_below(l, lpath, n)?,
            None => check_classes(l, lpath)?,
        }
    }
    let labels = labels.map(|(l, _)| l);
    let max = labels.as_ref().and_then(|l| l.iter().copied().max());
    let first = &images.pixels[..(images.height * images.width).min(images.pixels.len())];
    let class_names = idx_class_names(first, images.height, images.width, max);
    Ok(Dataset { channels: 1, height: images.height, width: images.width, pixels: images.pixels, labels, ids: None, class_names })
}

/// Labels beyond the ten classes of MNIST make a model with one output per class up to the
/// largest label: one stray label (say 255 among 0..9) would silently make 256 classes. So when
/// the largest label is 10 or more, every class from 0 to it must have an example; the error
/// names the first class without one. (Not when the number of classes is given: [`dataset_from`].)
fn check_classes(labels: &[u8], lpath: &Path) -> Result<()> {
    let Some(&max) = labels.iter().max() else { return Ok(()) };
    if max < 10 {
        return Ok(());
    }
    let mut seen = [false; 256];
    for &l in labels {
        seen[l as usize] = true;
    }
    match (0..=max as usize).find(|&c| !seen[c]) {
        Some(c) => {
            let at = labels.iter().position(|&l| l == max).unwrap_or(0);
            Err(Error::parse(
                lpath,
                0,
                "labels",
                format!("the largest label is {max} (item {}) but class {c} has no example: labels must number the classes 0, 1, 2, ... without gaps, or the number of classes be given (--classes)", at + 1),
            ))
        }
        None => Ok(()),
    }
}

/// Every label below `n` (`--classes`); the error names the first item whose label is not.
fn check_below(labels: &[u8], lpath: &Path, n: usize) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= n) {
        Some(i) => {
            Err(Error::parse(lpath, 0, "labels", format!("label {} (item {}) is not one of the {n} classes 0 to {}", labels[i], i + 1, n.saturating_sub(1))))
        }
        None => Ok(()),
    }
}

/// Loads an IDX images file with its labels: from `labels` if given, else from the file
/// beside it ([`labels_path_for`]); unlabelled if there is none.
pub fn load_idx(images: &Path, labels: Option<&Path>) -> Result<Dataset> {
    load_idx_for(images, labels, None)
}

/// [`load_idx`] for `classes` classes ([`dataset_from`]).
fn load_idx_for(images: &Path, labels: Option<&Path>, classes: Option<usize>) -> Result<Dataset> {
    let img = read_images(images)?;
    let lpath = labels.map(Path::to_path_buf).or_else(|| labels_path_for(images));
    let lab = match &lpath {
        Some(p) => Some((read_labels(p)?, p.as_path())),
        None => None,
    };
    dataset_from(img, lab, images, classes)
}

/// Why a file that starts like an IDX file (a zero byte: no CSV does) cannot be read here:
/// a truncated magic number, or an element type or dimension count other than the unsigned
/// bytes of `N x H x W` images and `N` labels. None if the prefix does not start with a zero.
pub(crate) fn unsupported_idx(prefix: &[u8]) -> Option<String> {
    if prefix.first() != Some(&0) {
        return None;
    }
    if prefix.len() < 4 {
        return Some(format!("truncated IDX file: {} bytes, an IDX file starts with a 4-byte magic number", prefix.len()));
    }
    let kind = match prefix[2] {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "16-bit integer",
        0x0C => "32-bit integer",
        0x0D => "32-bit float",
        0x0E => "64-bit float",
        _ => return Some(format!("magic 0x{:02x}{:02x}{:02x}{:02x} is not an IDX magic number (00 00 TYPE DIMS)", prefix[0], prefix[1], prefix[2], prefix[3])),
    };
    Some(format!(
        "IDX file of {kind} elements in {} dimensions (magic 0x{:02x}{:02x}{:02x}{:02x}); only unsigned-byte images (0x00000803) and labels (0x00000801) are read",
        prefix[3], prefix[0], prefix[1], prefix[2], prefix[3]
    ))
}

/// The IDX magic number in a file's first four (decompressed) bytes, if it is one of the two
/// kinds read here ([`IMAGES_MAGIC`], [`LABELS_MAGIC`]).
pub(crate) fn magic_of(prefix: &[u8]) -> Option<u32> {
    let m = u32::from_be_bytes(prefix.get(..4)?.try_into().ok()?);
    [IMAGES_MAGIC, LABELS_MAGIC].contains(&m).then_some(m)
}

/// Loads a file that [`crate::data::load`] recognised by its magic number: an images file,
/// with its labels beside it; a labels file is an error that says to pass the images file.
/// One IDX file is one split already, so [`Split::PublicTest`] / [`Split::PrivateTest`] are
/// errors.
pub(crate) fn load_file(path: &Path, magic: u32, split: Split, classes: Option<usize>) -> Result<Dataset> {
    if magic == LABELS_MAGIC {
        return Err(Error::parse(
            path,
            0,
            "magic",
            "this is an IDX labels file (magic 0x00000801); pass the images file \
             (*-images-idx3-ubyte) and the labels are found beside it",
        ));
    }
    if let Split::PublicTest | Split::PrivateTest = split {
        return Err(Error::parse(path, 0, "split", format!("split {split:?} needs fer2013.csv with a Usage column; this file is one split already")));
    }
    load_idx_for(path, None, classes)
}

/// The images file of one MNIST split in `dir`: `{prefix}-images-idx3-ubyte` or
/// `{prefix}-images.idx3-ubyte`, plain or gzipped.
fn images_in(dir: &Path, prefix: &str) -> Option<PathBuf> {
    find_beside(dir, &[format!("{prefix}-images-idx3-ubyte"), format!("{prefix}-images.idx3-ubyte")])
}

/// Loads the MNIST-style IDX files of a directory: `train-*` for [`Split::Training`],
/// `t10k-*` for [`Split::Test`], both (train first) for [`Split::All`]. `Ok(None)` if the
/// directory holds neither. `classes`: as in [`dataset_from`].
pub fn load_dir(dir: &Path, split: Split, classes: Option<usize>) -> Result<Option<Dataset>> {
    let (train, test) = (images_in(dir, "train"), images_in(dir, "t10k"));
    if train.is_none() && test.is_none() {
        return Ok(None);
    }
    let need = |p: Option<PathBuf>, what: &str| p.ok_or_else(|| Error::parse(dir, 0, "directory", format!("no {what}-images-idx3-ubyte[.gz] in it")));
    let ds = match split {
        Split::Training => load_idx_for(&need(train, "train")?, None, classes)?,
        Split::Test => load_idx_for(&need(test, "t10k")?, None, classes)?,
        Split::All => load_idx_for(&need(train, "train")?, None, classes)?.concat(load_idx_for(&need(test, "t10k")?, None, classes)?)?,
        _ => {
            return Err(Error::parse(
                dir,
                0,
                "split",
                format!("split {split:?} is only for fer2013.csv; this directory holds IDX files (use Training or Test)"),
            ))
        }
    };
    Ok(Some(ds))
}

/// Writes `bytes` to `path` atomically ([`crate::io::write_atomic`]), gzipped if `gzip`.
fn write_file(path: &Path, bytes: &[u8], gzip: bool) -> Result<()> {
    if !gzip {
        return crate::io::write_atomic(path, bytes);
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 2), flate2::Compression::best());
    enc.write_all(bytes).map_err(|e| Error::io(path, e))?;
    let data = enc.finish().map_err(|e| Error::io(path, e))?;
    crate::io::write_atomic(path, &data)
}

/// Writes `count = pixels.len() / (height*width)` images as an IDX images file.
pub fn write_images(path: &Path, height: usize, width: usize, pixels: &[u8], gzip: bool) -> Result<()> {
    let per = height * width;
    if per == 0 || !pixels.len().is_multiple_of(per) || height > u32::MAX as usize || width > u32::MAX as usize {
        return Err(Error::invalid("idx::write_images", format!("{} bytes are not whole images of {height}x{width}", pixels.len())));
    }
    let count = u32::try_from(pixels.len() / per).map_err(|_| Error::invalid("idx::write_images", "more than 2^32 images"))?;
    let mut bytes = Vec::with_capacity(16 + pixels.len());
    for v in [IMAGES_MAGIC, count, height as u32, width as u32] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    write_file(path, &bytes, gzip)
}

/// Writes an IDX labels file.
pub fn write_labels(path: &Path, labels: &[u8], gzip: bool) -> Result<()> {
    let count = u32::try_from(labels.len()).map_err(|_| Error::invalid("idx::write_labels", "more than 2^32 labels"))?;
    let mut bytes = Vec::with_capacity(8 + labels.len());
    bytes.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    bytes.extend_from_slice(&count.to_be_bytes());
    bytes.extend_from_slice(labels);
    write_file(path, &bytes, gzip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x-images-idx3-ubyte")
    }

    #[test]
    fn header_errors() {
        let e = read_images_from(&[0u8, 0][..], p()).unwrap_err().to_string();
        assert!(e.contains("magic") && e.contains("truncated"), "{e}");
        let e = read_images_from(&[0u8, 0, 8, 1, 0, 0, 0, 0][..], p()).unwrap_err().to_string();
        assert!(e.contains("wrong magic number 0x00000801 (labels)"), "{e}");
        let e = read_images_from(&[0u8, 0, 8, 3, 0, 0, 0, 1, 0, 0][..], p()).unwrap_err().to_string();
        assert!(e.contains("dimensions") && e.contains("truncated"), "{e}");
        let mut f = vec![0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        f.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
        let e = read_images_from(&f[..], p()).unwrap_err().to_string();
        assert!(e.contains("expected 8 bytes") && e.contains("found 7"), "{e}");
        f.extend_from_slice(&[8, 9]);
        let e = read_images_from(&f[..], p()).unwrap_err().to_string();
        assert!(e.contains("unexpected data"), "{e}");
        f.pop();
        let img = read_images_from(&f[..], p()).unwrap();
        assert_eq!((img.count, img.height, img.width), (2, 2, 2));
        assert_eq!(img.pixels, (1..=8).collect::<Vec<u8>>());
        // Huge dimensions: an error, not an allocation failure.
        let f = [0u8, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255];
        assert!(read_images_from(&f[..], p()).is_err());
    }

    #[test]
    fn labels_path() {
        let dir = std::env::temp_dir().join(format!("pupil-idx-lp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), b"").unwrap();
        assert_eq!(labels_path_for(&dir.join("train-images-idx3-ubyte.gz")), Some(dir.join("train-labels-idx1-ubyte.gz")));
        assert_eq!(labels_path_for(&dir.join("t10k-images-idx3-ubyte")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        let mut rng = crate::Rng::new(5);
        for len in 0..400 {
            let mut f: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            if len >= 4 && rng.below(2) == 0 {
                f[..4].copy_from_slice(&IMAGES_MAGIC.to_be_bytes());
                for b in f.iter_mut().skip(4).take(12) {
                    *b = rng.below(4) as u8;
                }
            }
            let _ = read_images_from(&f[..], p());
            let _ = read_labels_from(&f[..], p());
        }
    }
}
