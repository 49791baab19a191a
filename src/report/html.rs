//! HTML output of a [`Report`]: one self-contained page. Images are `data:image/png;base64`
//! URIs, the style sheet is inline, there is no script, and a Content-Security-Policy forbids
//! every other source, so the page opens offline and can make no request.

use super::{Block, Figure, Report, Table};
use std::fmt::Write;

/// The page's Content-Security-Policy: nothing may load except inline styles and `data:`
/// images (so a stray external reference shows as a console error, not a silent request).
pub const CSP: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

/// Text with `& < > " '` escaped for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, with `=` padding).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ABC[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A section id for links from the table of contents.
fn slug(i: usize) -> String {
    format!("s{}", i + 1)
}

const STYLE: &str = r#"
:root { --ink: #1f2328; --muted: #59636e; --rule: #d8dee4; --accent: #0a5fb4; --bg-soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 16px/1.6 "DejaVu Serif", Georgia, "Times New Roman", serif; }
main { max-width: 980px; margin: 0 auto; padding: 40px 28px 64px; }
h1, h2, h3, nav, figcaption, table, footer, .meta { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 30px; line-height: 1.25; margin: 0 0 6px; }
.meta { color: var(--muted); font-size: 14px; margin: 0 0 18px; }
h2 { font-size: 22px; margin: 44px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 17px; margin: 26px 0 8px; }
p { margin: 10px 0; }
a { color: var(--accent); text-decoration: none; }
nav.toc { background: var(--bg-soft); border: 1px solid var(--rule); border-radius: 6px; padding: 12px 20px; font-size: 15px; }
nav.toc ol { margin: 6px 0 0; padding-left: 22px; }
pre { background: var(--bg-soft); border: 1px solid var(--rule); border-radius: 6px; padding: 12px 14px;
  font: 12.5px/1.45 "DejaVu Sans Mono", Menlo, Consolas, monospace; overflow-x: auto; }
.figs { display: flex; flex-wrap: wrap; gap: 18px 26px; align-items: flex-end; justify-content: center; margin: 18px 0; }
figure { margin: 0; text-align: center; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); }
figure img.pixelated { image-rendering: pixelated; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 6px; max-width: 720px; margin-left: auto; margin-right: auto; }
figcaption b, caption b { color: var(--ink); }
table { border-collapse: collapse; margin: 16px auto; font-size: 14px; }
caption { caption-side: bottom; color: var(--muted); font-size: 13.5px; padding-top: 6px; }
th, td { padding: 4px 12px; border-bottom: 1px solid var(--rule); }
th { text-align: left; border-bottom: 2px solid var(--ink); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: var(--bg-soft); }
footer { margin-top: 56px; padding-top: 10px; border-top: 1px solid var(--rule); color: var(--muted); font-size: 13px; }
"#;

/// True if a table cell reads as a number (right-aligned).
fn numeric(s: &str) -> bool {
    let t = s.trim().trim_end_matches('%').replace(',', "");
    !t.is_empty() && t.parse::<f64>().is_ok()
}

struct Counters {
    figure: usize,
    table: usize,
}

fn write_figure(out: &mut String, f: &Figure, n: &mut Counters) {
    n.figure += 1;
    let (w, h) = match f.display_width {
        Some(dw) if dw > 0 => (dw, ((f.height as u64 * dw as u64) / f.width.max(1) as u64).max(1) as u32),
        _ => (f.width, f.height),
    };
    let class = if f.pixelated { " class=\"pixelated\"" } else { "" };
    let alt = if f.caption.is_empty() { format!("Figure {}", n.figure) } else { f.caption.clone() };
    let _ = write!(
        out,
        "<figure style=\"width:{w}px\"><img{class} width=\"{w}\" height=\"{h}\" alt=\"{}\" src=\"data:image/png;base64,{}\">",
        escape(&alt),
        base64(&f.png)
    );
    let _ = write!(out, "<figcaption><b>Figure {}.</b> {}</figcaption></figure>", n.figure, escape(&f.caption));
}

fn write_table(out: &mut String, t: &Table, n: &mut Counters) {
    n.table += 1;
    out.push_str("<table>");
    let _ = write!(out, "<caption><b>Table {}.</b> {}</caption>", n.table, escape(t.caption.as_deref().unwrap_or("")));
    // a column is numeric if all its non-empty body cells are
    let cols = t.header.len().max(t.rows.iter().map(|r| r.len()).max().unwrap_or(0));
    let num: Vec<bool> = (0..cols)
        .map(|c| {
            let cells: Vec<&String> = t.rows.iter().filter_map(|r| r.get(c)).filter(|s| !s.trim().is_empty()).collect();
            !cells.is_empty() && cells.iter().all(|s| numeric(s))
        })
        .collect();
    let cls = |c: usize| if num[c] { " class=\"num\"" } else { "" };
    if !t.header.is_empty() {
        out.push_str("<thead><tr>");
        for (c, h) in t.header.iter().enumerate() {
            let _ = write!(out, "<th{}>{}</th>", cls(c), escape(h));
        }
        out.push_str("</tr></thead>");
    }
    out.push_str("<tbody>");
    for r in &t.rows {
        out.push_str("<tr>");
        for (c, v) in r.iter().enumerate() {
            let _ = write!(out, "<td{}>{}</td>", cls(c), escape(v));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

/// The report as one HTML page.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&r.title)
    );
    let _ = writeln!(out, "<header><h1>{}</h1>", escape(&r.title));
    if let Some(m) = &r.meta {
        let _ = writeln!(out, "<p class=\"meta\">{}</p>", escape(m));
    }
    for p in &r.intro {
        let _ = writeln!(out, "<p>{}</p>", escape(p));
    }
    out.push_str("</header>\n");
    if r.sections.len() > 1 {
        out.push_str("<nav class=\"toc\"><b>Contents</b><ol>");
        for (i, s) in r.sections.iter().enumerate() {
            let _ = write!(out, "<li><a href=\"#{}\">{}</a></li>", slug(i), escape(&s.title));
        }
        out.push_str("</ol></nav>\n");
    }
    let mut n = Counters { figure: 0, table: 0 };
    for (i, s) in r.sections.iter().enumerate() {
        let _ = writeln!(out, "<section id=\"{}\">\n<h2>{}. {}</h2>", slug(i), i + 1, escape(&s.title));
        for b in &s.blocks {
            match b {
                Block::Text(t) => {
                    for para in t.split("\n\n").filter(|p| !p.trim().is_empty()) {
                        let _ = writeln!(out, "<p>{}</p>", escape(para.trim()));
                    }
                }
                Block::Heading(t) => {
                    let _ = writeln!(out, "<h3>{}</h3>", escape(t));
                }
                Block::Pre(t) => {
                    let _ = writeln!(out, "<pre>{}</pre>", escape(t.trim_end()));
                }
                Block::Figures(fs) => {
                    out.push_str("<div class=\"figs\">");
                    for f in fs {
                        write_figure(&mut out, f, &mut n);
                    }
                    out.push_str("</div>\n");
                }
                Block::Table(t) => write_table(&mut out, t, &mut n),
            }
        }
        out.push_str("</section>\n");
    }
    if let Some(f) = &r.footer {
        let _ = writeln!(out, "<footer>{}</footer>", escape(f));
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn numeric_cells() {
        assert!(numeric("4,631,559") && numeric("0.913") && numeric("12%") && !numeric("T-shirt") && !numeric(""));
    }
}
