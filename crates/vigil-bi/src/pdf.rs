//! A minimal PDF 1.4 writer: A4 pages with text in the built-in Helvetica and Helvetica-Bold (WinAnsi:
//! characters outside Latin-1 become `?`), lines and filled rectangles. Enough for a report with KPI
//! tables and bar charts; no fonts, images or compression.

/// A4 width in points.
pub const PAGE_W: f32 = 595.0;
/// A4 height in points.
pub const PAGE_H: f32 = 842.0;

/// A document being drawn; coordinates are points from the page's top-left corner (y down).
#[derive(Debug, Default)]
pub struct Pdf {
    pages: Vec<String>,
}

fn esc(text: &str) -> String {
    let mut s = String::new();
    for ch in text.chars() {
        match ch {
            '(' | ')' | '\\' => {
                s.push('\\');
                s.push(ch);
            }
            c if (' '..='~').contains(&c) => s.push(c),
            c if (c as u32) >= 0xA0 && (c as u32) <= 0xFF => s += &format!("\\{:03o}", c as u32),
            _ => s.push('?'),
        }
    }
    s
}

impl Pdf {
    /// An empty document.
    pub fn new() -> Pdf {
        Pdf::default()
    }

    /// Starts a new page; drawing goes to it.
    pub fn page(&mut self) {
        self.pages.push(String::new());
    }

    fn cur(&mut self) -> &mut String {
        if self.pages.is_empty() {
            self.pages.push(String::new());
        }
        let n = self.pages.len() - 1;
        &mut self.pages[n]
    }

    /// Writes `text` in black with its baseline at (`x`, `y`) in `size` points, bold or regular.
    pub fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        let font = if bold { "F2" } else { "F1" };
        let line = format!(
            "0 g BT /{font} {size:.1} Tf {x:.2} {:.2} Td ({}) Tj ET\n",
            PAGE_H - y,
            esc(text)
        );
        self.cur().push_str(&line);
    }

    /// Fills the rectangle with its top-left at (`x`, `y`) in the colour `rgb` (0..1 each).
    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, rgb: [f32; 3]) {
        let line = format!(
            "{:.3} {:.3} {:.3} rg {x:.2} {:.2} {w:.2} {h:.2} re f\n",
            rgb[0],
            rgb[1],
            rgb[2],
            PAGE_H - y - h
        );
        self.cur().push_str(&line);
    }

    /// Draws a line 0.5 points wide in grey level `grey`.
    pub fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, grey: f32) {
        let line = format!(
            "{grey:.2} G 0.5 w {x1:.2} {:.2} m {x2:.2} {:.2} l S\n",
            PAGE_H - y1,
            PAGE_H - y2
        );
        self.cur().push_str(&line);
    }

    /// The document's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        if self.pages.is_empty() {
            self.page();
        }
        let n = self.pages.len();
        // objects: 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold, then a page and its content each
        let mut objs: Vec<String> = vec![
            "<< /Type /Catalog /Pages 2 0 R >>".into(),
            format!(
                "<< /Type /Pages /Kids [{}] /Count {n} >>",
                (0..n)
                    .map(|i| format!("{} 0 R", 5 + 2 * i))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .into(),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
                .into(),
        ];
        for (i, content) in self.pages.iter().enumerate() {
            objs.push(format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                6 + 2 * i
            ));
            objs.push(format!(
                "<< /Length {} >>\nstream\n{content}endstream",
                content.len()
            ));
        }
        let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::with_capacity(objs.len());
        for (i, o) in objs.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes(),
        );
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objs.len() + 1
            )
            .as_bytes(),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_has_its_objects_and_a_valid_cross_reference_table() {
        let mut p = Pdf::new();
        p.text(50.0, 50.0, 12.0, true, "Footfall (in) 42 \u{e9}\u{2192}");
        p.rect(50.0, 60.0, 100.0, 10.0, [0.2, 0.4, 0.8]);
        p.line(50.0, 80.0, 150.0, 80.0, 0.5);
        let bytes = p.finish();
        let text = String::from_utf8_lossy(&bytes);
        assert!(bytes.starts_with(b"%PDF-1.4"));
        assert!(text.contains("(Footfall \\(in\\) 42 \\351?) Tj"));
        let xref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|t| t.parse().ok())
            .unwrap();
        assert!(bytes[xref..].starts_with(b"xref"));
    }
}
