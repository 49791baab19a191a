//! FER2013 CSV files: Kaggle `train.csv` (`label,feature`), Kaggle `test.csv` (`id,feature`)
//! and the original `fer2013.csv` (`emotion,pixels,Usage`); plus the Kaggle submission writer.
//!
//! The reader streams: it reads blocks of about 8 MB of whole lines, parses the lines of a
//! block in parallel (rayon) straight into the pixel buffer, and drops the text before reading
//! the next block. Bad input gives one error naming the file, the 1-based line and the field.

use super::{fer_class_names, open_input, Dataset, Split, FER_CLASSES};
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

const EXPECTED: &str =
    "expected label,feature (Kaggle train.csv), id,feature (Kaggle test.csv) or emotion,pixels,Usage (fer2013.csv)";

/// Shows at most 24 characters of a field in an error message.
fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > 24 {
        format!("{:?}...", s.chars().take(24).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

/// Trims ASCII whitespace and one pair of surrounding double quotes.
fn unquote(mut b: &[u8]) -> &[u8] {
    b = b.trim_ascii();
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        b = b[1..b.len() - 1].trim_ascii();
    }
    b
}

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
            Some(c) if cols.contains(&c) => {
                return Err(Error::parse(
                    path,
                    1,
                    "header",
                    format!("column {name:?} appears twice"),
                ))
            }
            Some(c) => {
                cols.push(c);
                names.push(name);
            }
            None => unknown.push(name),
        }
    }
    if cols.is_empty() {
        return Err(Error::parse(
            path,
            1,
            "header",
            format!("unknown header {}; {EXPECTED}", show(line)),
        ));
    }
    if let Some(u) = unknown.first() {
        return Err(Error::parse(
            path,
            1,
            "header",
            format!("unknown column {u:?}; {EXPECTED}"),
        ));
    }
    if !cols.contains(&Col::Pixels) {
        return Err(Error::parse(
            path,
            1,
            "header",
            format!("missing column feature (the pixels); {EXPECTED}"),
        ));
    }
    Ok(Header { cols, names })
}

/// Parses space-separated pixel values `0..=255` into `out`, which must receive exactly
/// `out.len()` values. Returns the error message (without file/line/field).
fn parse_pixels(s: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
    // Fast path: one pass, no detail; any problem re-parses with `pixel_error`.
    let n = out.len();
    let mut count = 0usize;
    let mut v: u32 = 0;
    let mut in_tok = false;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            v = (v * 10 + d as u32).min(1000);
            in_tok = true;
        } else if b == b' ' || b == b'\t' {
            if in_tok {
                if v > 255 || count >= n {
                    return Err(pixel_error(s, n));
                }
                out[count] = v as u8;
                count += 1;
                v = 0;
                in_tok = false;
            }
        } else {
            return Err(pixel_error(s, n));
        }
    }
    if in_tok {
        if v > 255 || count >= n {
            return Err(pixel_error(s, n));
        }
        out[count] = v as u8;
        count += 1;
    }
    if count != n {
        return Err(pixel_error(s, n));
    }
    Ok(())
}

/// The message for a pixel field that [`parse_pixels`] rejected.
fn pixel_error(s: &[u8], n: usize) -> String {
    match parse_pixels_detailed(s, &mut vec![0u8; n]) {
        Err(m) => m,
        Ok(()) => format!("cannot parse the {n} pixel values"),
    }
}

/// Like [`parse_pixels`], slower, with the position of the first bad value.
fn parse_pixels_detailed(s: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
    let n = out.len();
    let mut count = 0usize;
    let mut i = 0usize;
    let len = s.len();
    loop {
        while i < len && (s[i] == b' ' || s[i] == b'\t') {
            i += 1;
        }
        if i >= len {
            break;
        }
        let start = i;
        let mut v: u32 = 0;
        while i < len && s[i].is_ascii_digit() {
            v = (v * 10 + (s[i] - b'0') as u32).min(100_000);
            i += 1;
        }
        if i < len && s[i] != b' ' && s[i] != b'\t' || i == start {
            let mut end = i;
            while end < len && s[end] != b' ' && s[end] != b'\t' {
                end += 1;
            }
            let tok = &s[start..end];
            let negative =
                tok.len() > 1 && tok[0] == b'-' && tok[1..].iter().all(u8::is_ascii_digit);
            return Err(if negative {
                format!(
                    "value {} at position {} is outside 0..=255",
                    show_plain(tok),
                    count + 1
                )
            } else {
                format!("not a number: {} at position {}", show(tok), count + 1)
            });
        }
        if v > 255 {
            return Err(format!(
                "value {} at position {} is outside 0..=255",
                show_plain(&s[start..i]),
                count + 1
            ));
        }
        if count < n {
            out[count] = v as u8;
        }
        count += 1;
    }
    if count != n {
        return Err(format!("expected {n} pixel values, found {count}"));
    }
    Ok(())
}

/// A number token as text, shortened if very long.
fn show_plain(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 24 {
        format!("{}...", &s[..24])
    } else {
        s.into_owned()
    }
}

/// Counts whitespace-separated tokens.
fn count_tokens(s: &[u8]) -> usize {
    s.split(|&b| b == b' ' || b == b'\t')
        .filter(|t| !t.is_empty())
        .count()
}

fn parse_uint(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add((d - b'0') as u64)
    })
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
            let msg = format!(
                "missing: the line has {k} of the {n} columns {}",
                h.names.join(",")
            );
            return Err(self.err(line_no, &h.names[k], msg));
        }
        if k > n {
            return Err(self.err(
                line_no,
                "line",
                format!("{k} comma-separated fields, the header has {n}"),
            ));
        }
        let mut meta = Meta::default();
        for (c, (&col, name)) in h.cols.iter().zip(&h.names).enumerate() {
            let f = unquote(fields[c]);
            match col {
                Col::Pixels => parse_pixels(f, out).map_err(|m| self.err(line_no, name, m))?,
                Col::Label => {
                    let v = parse_uint(f).ok_or_else(|| {
                        self.err(line_no, name, format!("not a number: {}", show(f)))
                    })?;
                    if v >= FER_CLASSES.len() as u64 {
                        let k = FER_CLASSES.len();
                        return Err(self.err(
                            line_no,
                            name,
                            format!(
                                "{v} is not one of the {k} classes 0..={} ({})",
                                k - 1,
                                FER_CLASSES.join(", ")
                            ),
                        ));
                    }
                    meta.label = v as u8;
                }
                Col::Id => {
                    meta.id = parse_uint(f).ok_or_else(|| {
                        self.err(
                            line_no,
                            name,
                            format!("not a number (or above 2^64): {}", show(f)),
                        )
                    })?;
                }
                Col::Usage => {
                    meta.usage = match f {
                        b"Training" => 1,
                        b"PublicTest" => 2,
                        b"PrivateTest" => 3,
                        _ => {
                            let msg = format!(
                                "unknown value {}; expected Training, PublicTest or PrivateTest",
                                show(f)
                            );
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
                    return Err(self.err(
                        line_no,
                        "header",
                        format!("empty first line; {EXPECTED}"),
                    ));
                }
                self.header = Some(parse_header(line, self.path)?);
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
                let msg = format!(
                    "{n} pixel values do not make a square image (FER2013 has 48x48 = 2304)"
                );
                return Err(self.err(line_no, &h.names[pc], msg));
            }
            self.npix = n;
        }
        let npix = self.npix;
        // Parse straight into the tail of the pixel buffer.
        let mut pixels = std::mem::take(&mut self.pixels);
        let base = pixels.len();
        pixels.resize(base + rows.len() * npix, 0);
        let metas: Vec<Result<Meta>> = pixels[base..]
            .par_chunks_mut(npix)
            .zip(rows.par_iter())
            .map(|(out, &(line_no, line))| self.parse_row(h, line_no, line, out))
            .collect();
        self.pixels = pixels;
        let mut kept = base;
        for (r, m) in metas.into_iter().enumerate() {
            let m = m?;
            if self.keep(m.usage) {
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
        if h.pos(Col::Usage).is_none()
            && matches!(self.split, Split::PublicTest | Split::PrivateTest)
        {
            let msg = format!(
                "split {:?} needs fer2013.csv with a Usage column; this file has none",
                self.split
            );
            return Err(self.err(1, "header", msg));
        }
        if self.labels.is_empty() {
            let want = match self.split {
                Split::Test => "PublicTest or PrivateTest",
                Split::Training => "Training",
                Split::PublicTest => "PublicTest",
                _ => "PrivateTest",
            };
            return Err(self.err(
                0,
                "Usage",
                format!("no rows with Usage {want} (split {:?})", self.split),
            ));
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
    };
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + (1 << 16));
    let mut next_line = 1usize;
    let mut first = true;
    loop {
        let before = buf.len();
        (&mut reader)
            .take(BLOCK as u64)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(path, e))?;
        let eof = buf.len() - before < BLOCK;
        if first {
            first = false;
            if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                buf.drain(..3);
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
                        return Err(p.err(
                            next_line,
                            "line",
                            format!("longer than {} MB", MAX_LINE >> 20),
                        ));
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
        return Err(Error::invalid(
            "write_submission",
            format!("{} ids but {} labels", ids.len(), labels.len()),
        ));
    }
    let mut text = String::with_capacity(16 + ids.len() * 10);
    text.push_str("id,label\n");
    for (id, l) in ids.iter().zip(labels) {
        text.push_str(&format!("{id},{l}\n"));
    }
    super::idx::write_atomic(path, text.as_bytes(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(s: &str, n: usize) -> std::result::Result<Vec<u8>, String> {
        let mut out = vec![0u8; n];
        parse_pixels(s.as_bytes(), &mut out).map(|_| out)
    }

    #[test]
    fn pixel_parsing() {
        assert_eq!(px("1 2  255\t0", 4).unwrap(), vec![1, 2, 255, 0]);
        assert_eq!(
            px("1 2 3", 4).unwrap_err(),
            "expected 4 pixel values, found 3"
        );
        assert_eq!(
            px("1 2 3 4 5", 4).unwrap_err(),
            "expected 4 pixel values, found 5"
        );
        assert_eq!(
            px("1 256 3 4", 4).unwrap_err(),
            "value 256 at position 2 is outside 0..=255"
        );
        assert_eq!(
            px("1 -1 3 4", 4).unwrap_err(),
            "value -1 at position 2 is outside 0..=255"
        );
        assert_eq!(
            px("1 2 12a 4", 4).unwrap_err(),
            "not a number: \"12a\" at position 3"
        );
        assert_eq!(
            px("1 2 a 4", 4).unwrap_err(),
            "not a number: \"a\" at position 3"
        );
        let big = format!("1 {} 3 4", "9".repeat(100));
        assert!(px(&big, 4).unwrap_err().contains("is outside 0..=255"));
        assert_eq!(px("", 1).unwrap_err(), "expected 1 pixel values, found 0");
    }

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
}
