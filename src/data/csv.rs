//! FER2013 CSV files: Kaggle `train.csv` (`label,feature`), Kaggle `test.csv` (`id,feature`)
//! and the original `fer2013.csv` (`emotion,pixels,Usage`); plus the Kaggle submission writer.
//!
//! The reader streams: it reads blocks of at most 8 MB of whole lines (the text buffer grows
//! with the input, so a small file never reserves a whole block), parses the lines of a block
//! in parallel (rayon) straight into the pixel buffer, and drops the text before reading the
//! next block. Bad input gives one error naming the file, the 1-based line and the field.

use super::input::open_input;
use super::text::{count_tokens, parse_pixels, parse_uint, show, unquote};
use super::{fer_class_names, Dataset, Split, FER_CLASSES};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::io::Read;
use std::path::Path;

/// Bytes of text read per block.
const BLOCK: usize = 8 << 20;
/// Longest accepted line (a 1024x1024 image is about 4 MB of text).
const MAX_LINE: usize = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    Label,
    Pixels,
    Id,
    Usage,
}

/// Column layout from the header line.
struct Header {
    cols: Vec<Col>,
    names: Vec<String>,
}

impl Header {
    fn pos(&self, c: Col) -> Option<usize> {
        self.cols.iter().position(|&x| x == c)
    }
}

const EXPECTED: &str = "expected label,feature (Kaggle train.csv), id,feature (Kaggle test.csv) or emotion,pixels,Usage (fer2013.csv)";

fn parse_header(line: &[u8], path: &Path) -> Result<Header> {
    let mut cols = Vec::new();
    let mut names = Vec::new();
    let mut unknown = Vec::new();
    for raw in line.split(|&b| b == b',') {
        let f = unquote(raw);
        let name = String::from_utf8_lossy(f).into_owned();
        let col = match name.to_ascii_lowercase().as_str() {
            "label" | "emotion" => Some(Col::Label),
            "feature" | "features" | "pixels" => Some(Col::Pixels),
            "id" => Some(Col::Id),
            "usage" => Some(Col::Usage),
            _ => None,
        };
        match col {
            Some(c) if cols.contains(&c) => return Err(Error::parse(path, 1, "header", format!("column {name:?} appears twice"))),
            Some(c) => {
                cols.push(c);
                names.push(name);
            }
            None => unknown.push(name),
        }
    }
    if cols.is_empty() {
        return Err(Error::parse(path, 1, "header", format!("unknown header {}; {EXPECTED}", show(line))));
    }
    if let Some(u) = unknown.first() {
        return Err(Error::parse(path, 1, "header", format!("unknown column {u:?}; {EXPECTED}")));
    }
    if !cols.contains(&Col::Pixels) {
        return Err(Error::parse(path, 1, "header", format!("missing column feature (the pixels); {EXPECTED}")));
    }
    Ok(Header { cols, names })
}

/// Per-row values other than the pixels.
#[derive(Clone, Copy, Default)]
struct Meta {
    label: u8,
    id: u64,
    usage: u8, // 0 none, 1 Training, 2 PublicTest, 3 PrivateTest
}

/// Streaming parser state.
struct Parser<'a> {
    path: &'a Path,
    header: Option<Header>,
    split: Split,
    npix: usize,
    first_blank: Option<usize>,
    rows_total: usize,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    ids: Vec<u64>,
    /// Line of each id kept so far (files with an id column), to report a duplicate.
    id_lines: std::collections::HashMap<u64, usize>,
}

impl<'a> Parser<'a> {
    fn err(&self, line: usize, field: &str, msg: impl Into<String>) -> Error {
        Error::parse(self.path, line, field, msg)
    }

    fn keep(&self, usage: u8) -> bool {
        match self.split {
            Split::All => true,
            _ if usage == 0 => true,
            Split::Training => usage == 1,
            Split::PublicTest => usage == 2,
            Split::PrivateTest => usage == 3,
            Split::Test => usage == 2 || usage == 3,
        }
    }

    /// Parses one data line (without its line ending) into `out` (`npix` bytes).
    fn parse_row(&self, h: &Header, line_no: usize, line: &[u8], out: &mut [u8]) -> Result<Meta> {
        let mut fields: [&[u8]; 4] = [&[]; 4];
        let mut k = 0usize;
        let mut start = 0usize;
        for end in memchr::memchr_iter(b',', line).chain(std::iter::once(line.len())) {
            if k < 4 {
                fields[k] = &line[start..end];
            }
            start = end + 1;
            k += 1;
        }
        let n = h.cols.len();
        if k < n {
            let msg = format!("missing: the line has {k} of the {n} columns {}", h.names.join(","));
            return Err(self.err(line_no, &h.names[k], msg));
        }
        if k > n {
            return Err(self.err(line_no, "line", format!("{k} comma-separated fields, the header has {n}")));
        }
        let mut meta = Meta::default();
        for (c, (&col, name)) in h.cols.iter().zip(&h.names).enumerate() {
            let f = unquote(fields[c]);
            match col {
                Col::Pixels => parse_pixels(f, out).map_err(|m| self.err(line_no, name, m))?,
                Col::Label => {
                    let v = parse_uint(f).ok_or_else(|| self.err(line_no, name, format!("not a number: {}", show(f))))?;
                    if v >= FER_CLASSES.len() as u64 {
                        let k = FER_CLASSES.len();
                        return Err(self.err(line_no, name, format!("{v} is not one of the {k} classes 0..={} ({})", k - 1, FER_CLASSES.join(", "))));
                    }
                    meta.label = v as u8;
                }
                Col::Id => {
                    meta.id = parse_uint(f).ok_or_else(|| self.err(line_no, name, format!("not a number (or above 2^64): {}", show(f))))?;
                }
                Col::Usage => {
                    meta.usage = match f {
                        b"Training" => 1,
                        b"PublicTest" => 2,
                        b"PrivateTest" => 3,
                        _ => {
                            let msg = format!("unknown value {}; expected Training, PublicTest or PrivateTest", show(f));
                            return Err(self.err(line_no, name, msg));
                        }
                    }
                }
            }
        }
        Ok(meta)
    }

    /// Processes whole lines of text; `first_line` is the 1-based number of the first.
    /// Returns the number of lines processed.
    fn process(&mut self, text: &[u8], first_line: usize) -> Result<usize> {
        let mut rows: Vec<(usize, &[u8])> = Vec::new();
        let mut start = 0usize;
        let ends = memchr::memchr_iter(b'\n', text).chain(std::iter::once(text.len()));
        let mut lines = 0usize;
        for (k, end) in ends.enumerate() {
            let raw = &text[start..end];
            start = end + 1;
            lines = k + 1;
            let line_no = first_line + k;
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if self.header.is_none() {
                if line.trim_ascii().is_empty() {
                    return Err(self.err(line_no, "header", format!("empty first line; {EXPECTED}")));
                }
                let h = parse_header(line, self.path)?;
                // refused here, not after reading the whole file (eval tries the Kaggle splits of
                // any file it is given)
                if h.pos(Col::Usage).is_none() && matches!(self.split, Split::PublicTest | Split::PrivateTest) {
                    let msg = format!("split {:?} needs fer2013.csv with a Usage column; this file has none", self.split);
                    return Err(self.err(line_no, "header", msg));
                }
                self.header = Some(h);
                continue;
            }
            if line.trim_ascii().is_empty() {
                self.first_blank.get_or_insert(line_no);
                continue;
            }
            if let Some(b) = self.first_blank {
                return Err(self.err(b, "line", "blank line in the middle of the file"));
            }
            rows.push((line_no, line));
        }
        if rows.is_empty() {
            return Ok(lines);
        }
        let h = self.header.take().expect("header parsed above");
        let result = self.process_rows(&h, &rows);
        self.header = Some(h);
        result.map(|_| lines)
    }

    fn process_rows(&mut self, h: &Header, rows: &[(usize, &[u8])]) -> Result<()> {
        if self.npix == 0 {
            // Image size from the first data row: a square number of values.
            let (line_no, line) = rows[0];
            let pc = h.pos(Col::Pixels).expect("header has pixels");
            let field = line.split(|&b| b == b',').nth(pc).unwrap_or(&[]);
            let n = count_tokens(unquote(field));
            let side = (n as f64).sqrt().round() as usize;
            if n == 0 || side * side != n {
                // Report an earlier problem of the row (missing column, bad value) first.
                self.parse_row(h, line_no, line, &mut vec![0u8; n])?;
                let msg = format!("{n} pixel values do not make a square image (FER2013 has 48x48 = 2304)");
                return Err(self.err(line_no, &h.names[pc], msg));
            }
            self.npix = n;
        }
        let npix = self.npix;
        // Parse straight into the tail of the pixel buffer.
        let mut pixels = std::mem::take(&mut self.pixels);
        let base = pixels.len();
        pixels.resize(base + rows.len() * npix, 0);
        let metas: Vec<Result<Meta>> =
            pixels[base..].par_chunks_mut(npix).zip(rows.par_iter()).map(|(out, &(line_no, line))| self.parse_row(h, line_no, line, out)).collect();
        self.pixels = pixels;
        let mut kept = base;
        for (r, m) in metas.into_iter().enumerate() {
            let m = m?;
            if self.keep(m.usage) {
                if h.pos(Col::Id).is_some() {
                    let line_no = rows[r].0;
                    if let Some(first) = self.id_lines.insert(m.id, line_no) {
                        let name = &h.names[h.pos(Col::Id).expect("checked")];
                        return Err(self.err(line_no, name, format!("id {} appears twice: on line {first} and on line {line_no}", m.id)));
                    }
                }
                let from = base + r * npix;
                if from != kept {
                    self.pixels.copy_within(from..from + npix, kept);
                }
                kept += npix;
                self.labels.push(m.label);
                self.ids.push(m.id);
            }
        }
        self.pixels.truncate(kept);
        self.rows_total += rows.len();
        Ok(())
    }

    fn finish(mut self) -> Result<Dataset> {
        let Some(h) = self.header.take() else {
            return Err(self.err(0, "header", format!("empty file; {EXPECTED}")));
        };
        if self.rows_total == 0 {
            return Err(self.err(1, "data", "no image rows after the header"));
        }
        if h.pos(Col::Usage).is_none() && matches!(self.split, Split::PublicTest | Split::PrivateTest) {
            let msg = format!("split {:?} needs fer2013.csv with a Usage column; this file has none", self.split);
            return Err(self.err(1, "header", msg));
        }
        if self.labels.is_empty() {
            let want = match self.split {
                Split::Test => "PublicTest or PrivateTest",
                Split::Training => "Training",
                Split::PublicTest => "PublicTest",
                _ => "PrivateTest",
            };
            return Err(self.err(0, "Usage", format!("no rows with Usage {want} (split {:?})", self.split)));
        }
        let side = (self.npix as f64).sqrt().round() as usize;
        self.pixels.shrink_to_fit();
        Ok(Dataset {
            channels: 1,
            height: side,
            width: side,
            pixels: self.pixels,
            labels: h.pos(Col::Label).map(|_| self.labels),
            ids: h.pos(Col::Id).map(|_| self.ids),
            class_names: fer_class_names(),
        })
    }
}

/// Reads a FER2013 CSV (plain or gzipped); see [`read_csv_from`].
pub fn read_csv(path: &Path, split: Split) -> Result<Dataset> {
    read_csv_from(open_input(path)?, path, split)
}

/// Reads a FER2013 CSV from `reader` (`path` is used in error messages): Kaggle `train.csv`
/// (`label,feature`), Kaggle `test.csv` (`id,feature`) or `fer2013.csv`
/// (`emotion,pixels,Usage`, rows selected by `split`). Fields may be quoted; CRLF line endings,
/// a UTF-8 BOM and trailing blank lines are accepted. The image size is taken from the first
/// row (a square number of values) and must be the same on every row.
pub fn read_csv_from(mut reader: impl Read, path: &Path, split: Split) -> Result<Dataset> {
    let mut p = Parser {
        path,
        header: None,
        split,
        npix: 0,
        first_blank: None,
        rows_total: 0,
        pixels: Vec::new(),
        labels: Vec::new(),
        ids: Vec::new(),
        id_lines: Default::default(),
    };
    // No up-front reservation: `read_to_end` grows the buffer with the input (doubling), so
    // a small file costs a small buffer and a large one at most about one block (plus the
    // doubling slack), kept and reused from block to block.
    let mut buf: Vec<u8> = Vec::new();
    let mut next_line = 1usize;
    let mut first = true;
    loop {
        let before = buf.len();
        (&mut reader).take(BLOCK as u64).read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
        let eof = buf.len() - before < BLOCK;
        if first {
            first = false;
            if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                buf.drain(..3);
            }
            // CR-only line endings (classic Mac) make the whole file one line: say so
            let first_line = &buf[..memchr::memchr(b'\n', &buf).unwrap_or(buf.len())];
            if memchr::memchr(b'\r', first_line).is_some_and(|k| k + 1 < first_line.len()) {
                return Err(p.err(1, "line", "the lines end in CR only (classic Mac line endings); convert them to LF or CRLF"));
            }
        }
        let start = 0;
        let end = if eof {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf[start..]) {
                Some(k) => start + k + 1,
                None => {
                    if buf.len() > MAX_LINE {
                        return Err(p.err(next_line, "line", format!("longer than {} MB", MAX_LINE >> 20)));
                    }
                    continue;
                }
            }
        };
        let mut text = &buf[start..end];
        if let Some(t) = text.strip_suffix(b"\n") {
            text = t;
        }
        if !text.is_empty() || end > start {
            next_line += p.process(text, next_line)?;
        }
        if eof {
            break;
        }
        buf.drain(..end);
    }
    p.finish()
}

/// Writes a Kaggle submission `id,label` (one row per id) atomically: to a temporary file
/// beside `path`, then renamed over it.
pub fn write_submission(path: &Path, ids: &[u64], labels: &[usize]) -> Result<()> {
    if ids.len() != labels.len() {
        return Err(Error::invalid("write_submission", format!("{} ids but {} labels", ids.len(), labels.len())));
    }
    let mut text = String::with_capacity(16 + ids.len() * 10);
    text.push_str("id,label\n");
    for (id, l) in ids.iter().zip(labels) {
        text.push_str(&format!("{id},{l}\n"));
    }
    crate::io::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        let mut rng = crate::Rng::new(3);
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.below(6) {
                    0 => b',',
                    1 => b'\n',
                    2 => b' ',
                    3 => b'0' + rng.below(10) as u8,
                    _ => rng.below(256) as u8,
                })
                .collect();
            let mut text = b"label,feature\n".to_vec();
            text.extend_from_slice(&bytes);
            let _ = read_csv_from(&text[..], Path::new("fuzz.csv"), Split::All);
            let _ = read_csv_from(&bytes[..], Path::new("fuzz.csv"), Split::All);
        }
    }

    #[test]
    fn a_kaggle_split_of_a_file_without_usage_is_refused_at_the_header() {
        // the second row is malformed: refusing at the header means it is never read
        let text = b"label,feature\n0,1 2 3 4\n0,x\n";
        for split in [Split::PublicTest, Split::PrivateTest] {
            let e = read_csv_from(&text[..], Path::new("train.csv"), split).unwrap_err().to_string();
            assert_eq!(e, format!("train.csv:1: header: split {split:?} needs fer2013.csv with a Usage column; this file has none"));
        }
        assert!(read_csv_from(&text[..], Path::new("train.csv"), Split::All).unwrap_err().to_string().starts_with("train.csv:3:"));
    }
}
