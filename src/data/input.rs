//! Opening input files: gzip detected from the content (not the extension), a peek at the
//! first bytes for format detection, and finding `name` or `name.gz` in a directory.

use crate::error::{Error, Result};
use crate::progress::Counted;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// A boxed reader that is `Send`.
pub(crate) type Input = Box<dyn Read + Send>;

/// Opens `path`, transparently gunzipping it when it starts with the gzip magic bytes.
pub(crate) fn open_input(path: &Path) -> Result<Input> {
    let (_, r) = open_peek(path, 0)?;
    Ok(r)
}

/// Opens `path` (gunzipping if needed) and returns its first `n` (decompressed) bytes, or fewer
/// if the file is shorter, along with a reader that still yields them.
pub(crate) fn open_peek(path: &Path, n: usize) -> Result<(Vec<u8>, Input)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let file = Counted::new(file, format!("reading {}", path.display()), size);
    let mut raw = BufReader::with_capacity(1 << 16, file);
    let head = read_prefix(&mut raw, 2).map_err(|e| Error::io(path, e))?;
    let raw = std::io::Cursor::new(head.clone()).chain(raw);
    let mut reader: Input =
        if head == [0x1f, 0x8b] { Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(raw))) } else { Box::new(raw) };
    let prefix = read_prefix(&mut reader, n).map_err(|e| Error::io(path, e))?;
    Ok((prefix.clone(), Box::new(std::io::Cursor::new(prefix).chain(reader))))
}

fn read_prefix(r: &mut impl Read, n: usize) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut v)?;
    Ok(v)
}

/// The first of `names` found in `dir` as a file, plain (`name`) or gzipped (`name.gz`).
pub(crate) fn find_beside(dir: &Path, names: &[String]) -> Option<PathBuf> {
    for n in names {
        for cand in [dir.join(n), dir.join(format!("{n}.gz"))] {
            if cand.is_file() {
                return Some(cand);
            }
        }
    }
    None
}
