//! One self-contained HTML page per trained run: the homework write-up (model, training,
//! evaluation, explanations) in a file that opens offline.
//!
//! A [`Report`] is a list of [`Section`]s; a section is a list of [`Block`]s: paragraphs,
//! sub-headings, preformatted text, rows of captioned [`Figure`]s (PNG bytes, embedded as
//! base64) and [`Table`]s. Figures and tables are numbered in page order. A new kind of
//! picture becomes part of the report in a few lines:
//!
//! ```
//! use pupil::report::{Figure, Report, Section, Table};
//! use pupil::viz::Canvas;
//!
//! let grid = Canvas::new(64, 32, [255, 255, 255]); // e.g. viz::render_grid(...)
//! let mut report = Report::new("Run report");
//! report.push(
//!     Section::new("Saliency")
//!         .text("Gradient of the class score with respect to the input pixels.")
//!         .figure(Figure::from_canvas(&grid, "Vanilla saliency, one image per class").unwrap())
//!         .table(Table::new(&["class", "mass in face"]).row(["Happy", "0.81"]).caption("Saliency statistics")),
//! );
//! let html = report.to_html();
//! assert!(html.contains("data:image/png;base64,"));
//! ```
//!
//! [`run_report`] builds the report of a run directory (model summary, training curves,
//! confusion matrix, LIME examples).

pub mod html;
mod inside;
mod run;

pub use run::{run_report, RunReportOptions};

use crate::error::{Error, Result};
use crate::viz::Canvas;
use std::path::Path;

/// A page: title, an optional line of metadata, introductory paragraphs, sections, footer.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub title: String,
    /// A small grey line under the title (run directory, date, data).
    pub meta: Option<String>,
    pub intro: Vec<String>,
    pub sections: Vec<Section>,
    pub footer: Option<String>,
}

impl Report {
    /// An empty report with a title.
    pub fn new(title: impl Into<String>) -> Self {
        Report { title: title.into(), ..Default::default() }
    }
    /// Sets the grey line under the title.
    pub fn meta(mut self, m: impl Into<String>) -> Self {
        self.meta = Some(m.into());
        self
    }
    /// Adds an introductory paragraph.
    pub fn intro(mut self, p: impl Into<String>) -> Self {
        self.intro.push(p.into());
        self
    }
    /// Sets the footer line.
    pub fn footer(mut self, f: impl Into<String>) -> Self {
        self.footer = Some(f.into());
        self
    }
    /// Appends a section.
    pub fn push(&mut self, s: Section) -> &mut Self {
        self.sections.push(s);
        self
    }
    /// The page as HTML (see [`html`]).
    pub fn to_html(&self) -> String {
        html::render(self)
    }
    /// Writes the page to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, self.to_html().as_bytes())
    }
}

/// A numbered section with its contents in order.
#[derive(Clone, Debug, Default)]
pub struct Section {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// One piece of a section.
#[derive(Clone, Debug)]
pub enum Block {
    /// Plain text (escaped); a blank line starts a new paragraph.
    Text(String),
    /// A sub-heading.
    Heading(String),
    /// Preformatted monospace text (model summaries, logs).
    Pre(String),
    /// Figures side by side (wrapping on narrow screens).
    Figures(Vec<Figure>),
    Table(Table),
}

impl Section {
    pub fn new(title: impl Into<String>) -> Self {
        Section { title: title.into(), blocks: vec![] }
    }
    /// Appends any block.
    pub fn push(&mut self, b: Block) -> &mut Self {
        self.blocks.push(b);
        self
    }
    /// Appends text (paragraphs separated by blank lines).
    pub fn text(mut self, t: impl Into<String>) -> Self {
        self.blocks.push(Block::Text(t.into()));
        self
    }
    /// Appends a sub-heading.
    pub fn heading(mut self, t: impl Into<String>) -> Self {
        self.blocks.push(Block::Heading(t.into()));
        self
    }
    /// Appends preformatted text.
    pub fn pre(mut self, t: impl Into<String>) -> Self {
        self.blocks.push(Block::Pre(t.into()));
        self
    }
    /// Appends one figure on its own row.
    pub fn figure(mut self, f: Figure) -> Self {
        self.blocks.push(Block::Figures(vec![f]));
        self
    }
    /// Appends figures side by side.
    pub fn figures(mut self, fs: Vec<Figure>) -> Self {
        if !fs.is_empty() {
            self.blocks.push(Block::Figures(fs));
        }
        self
    }
    /// Appends a table.
    pub fn table(mut self, t: Table) -> Self {
        self.blocks.push(Block::Table(t));
        self
    }
}

/// A PNG picture with a caption.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// Pixel size read from the PNG header.
    pub width: u32,
    pub height: u32,
    pub caption: String,
    /// Width on the page in CSS pixels (default: the PNG's own width, shrunk to fit the page).
    pub display_width: Option<u32>,
    /// Enlarge with hard pixel edges (for small images shown large).
    pub pixelated: bool,
}

impl Figure {
    /// A figure from PNG bytes; errors if they are not a PNG.
    pub fn png(bytes: Vec<u8>, caption: impl Into<String>) -> Result<Figure> {
        let (width, height) = png_size(&bytes).ok_or_else(|| Error::invalid("report figure", "the bytes are not a PNG image"))?;
        Ok(Figure { png: bytes, width, height, caption: caption.into(), display_width: None, pixelated: false })
    }
    /// A figure from a canvas (e.g. what `viz::render_grid` or `viz::render_confusion` return).
    pub fn from_canvas(c: &Canvas, caption: impl Into<String>) -> Result<Figure> {
        Figure::png(c.encode_png()?, caption)
    }
    /// A figure from a PNG file (errors name the file).
    pub fn from_file(path: &Path, caption: impl Into<String>) -> Result<Figure> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Figure::png(bytes, caption).map_err(|_| Error::parse(path, 0, "png", "not a PNG image"))
    }
    /// Shows the figure `css_px` wide (height in proportion).
    pub fn width(mut self, css_px: u32) -> Self {
        self.display_width = Some(css_px);
        self
    }
    /// Shows the figure enlarged with hard pixel edges.
    pub fn pixelated(mut self) -> Self {
        self.pixelated = true;
        self
    }
}

/// Width and height from a PNG's signature and IHDR chunk.
pub fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    const SIG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    if b.len() < 24 || b[..8] != SIG || &b[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
    (w > 0 && h > 0).then_some((w, h))
}

/// A table of text cells; columns whose cells are all numbers are right-aligned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub caption: Option<String>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table { header: header.iter().map(|s| s.to_string()).collect(), rows: vec![], caption: None }
    }
    /// Appends a row.
    pub fn row<S: Into<String>>(mut self, cells: impl IntoIterator<Item = S>) -> Self {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }
    pub fn caption(mut self, c: impl Into<String>) -> Self {
        self.caption = Some(c.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_renders_numbered_figures_tables_and_escapes_text() {
        let c = Canvas::new(3, 2, [10, 20, 30]);
        let mut r = Report::new("A <b> report").meta("run x").intro("intro & more");
        r.push(Section::new("One").text("para 1\n\npara <2>").figure(Figure::from_canvas(&c, "first").unwrap().width(30).pixelated()));
        r.push(
            Section::new("Two")
                .table(Table::new(&["class", "n"]).row(["a", "1,000"]).caption("counts"))
                .figures(vec![Figure::from_canvas(&c, "second").unwrap(), Figure::from_canvas(&c, "third").unwrap()]),
        );
        let h = r.to_html();
        assert!(h.contains("<title>A &lt;b&gt; report</title>"));
        assert!(h.contains("<p>para 1</p>") && h.contains("<p>para &lt;2&gt;</p>"));
        assert_eq!(h.matches("<img").count(), 3);
        assert!(h.contains("<b>Figure 1.</b> first") && h.contains("<b>Figure 3.</b> third") && h.contains("<b>Table 1.</b> counts"));
        assert!(h.contains("width=\"30\" height=\"20\""), "display size keeps the aspect ratio");
        assert!(h.contains("<td class=\"num\">1,000</td>"));
        assert!(h.contains("href=\"#s2\"") && h.contains("id=\"s2\""));
        assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("<script"));
    }

    #[test]
    fn figures_must_be_png() {
        assert!(Figure::png(b"GIF89a not a png at all.....".to_vec(), "x").is_err());
        let c = Canvas::new(7, 5, [0, 0, 0]);
        let f = Figure::from_canvas(&c, "x").unwrap();
        assert_eq!((f.width, f.height), (7, 5));
    }
}
