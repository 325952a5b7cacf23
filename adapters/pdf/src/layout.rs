//! Line breaking and pagination: blocks of styled text become positioned lines on A4 pages.
//!
//! Greedy, hyphen-free line breaking on spaces, measured with the embedded fonts' advances;
//! a word longer than a line is cut between characters (no hyphen is added, so the extracted
//! text keeps the word intact apart from a line break).

use crate::fonts::{Fonts, REPLACEMENT, Style};

/// A4 portrait, in points.
pub(crate) const PAGE_W: f32 = 595.28;
pub(crate) const PAGE_H: f32 = 841.89;
pub(crate) const MARGIN_X: f32 = 56.0;
pub(crate) const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;
/// Lowest position a content line may reach (the footer lies below).
pub(crate) const CONTENT_BOTTOM: f32 = PAGE_H - 56.0;

pub(crate) const BODY_SIZE: f32 = 10.0;
const BODY_LEADING: f32 = 13.5;
const HEADING_SIZE: f32 = 12.0;
const HEADING_LEADING: f32 = 16.0;
const TITLE_SIZE: f32 = 16.0;
const TITLE_LEADING: f32 = 21.0;
const SUBTITLE_SIZE: f32 = 10.5;
const LIST_INDENT: f32 = 14.0;
/// Baseline below the top of a line box, as a fraction of the font size (DejaVu ascent ≈ 0.93).
const ASCENT: f32 = 0.93;

/// An inline piece of text with one style.
#[derive(Clone, Debug)]
pub(crate) struct Span {
    pub(crate) style: Style,
    pub(crate) text: String,
}

impl Span {
    pub(crate) fn regular(text: impl Into<String>) -> Span {
        Span {
            style: Style::Regular,
            text: text.into(),
        }
    }
    pub(crate) fn bold(text: impl Into<String>) -> Span {
        Span {
            style: Style::Bold,
            text: text.into(),
        }
    }
}

/// The document model the content builders produce.
#[derive(Clone, Debug)]
pub(crate) enum Block {
    Title(String),
    Subtitle(String),
    Heading(String),
    Paragraph(Vec<Span>),
    /// A bulleted item (`level` 0 or 1).
    Bullet(Vec<Span>, u8),
    /// A numbered item.
    Numbered(usize, Vec<Span>),
    Spacer(f32),
    Rule,
}

/// A run of one style on one line, already positioned.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TextItem {
    pub(crate) x: f32,
    pub(crate) baseline: f32,
    pub(crate) size: f32,
    pub(crate) style: Style,
    pub(crate) text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Item {
    Text(TextItem),
    Rule {
        x1: f32,
        x2: f32,
        y: f32,
        width: f32,
    },
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PageLayout {
    pub(crate) items: Vec<Item>,
}

/// One wrapped line: runs with x offsets relative to the line start.
#[derive(Clone, Debug, Default)]
pub(crate) struct Line {
    pub(crate) runs: Vec<(Style, String, f32)>,
    pub(crate) width: f32,
}

/// Normalises caller text for drawing: line breaks to `\n`, tabs and other blanks to spaces,
/// invisible or forbidden characters dropped, and characters missing from the fonts replaced by
/// U+FFFD so that every drawn glyph maps back to the text (PDF/A ToUnicode).
pub(crate) fn clean(fonts: &Fonts, s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\u{2028}' | '\u{2029}' | '\u{85}' => out.push('\n'),
            // Soft hyphens and zero-width characters would draw as nothing or as boxes.
            '\u{AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{FFFE}' => {}
            c if c.is_control() => out.push(' '),
            c if c.is_whitespace() && !is_nbsp(c) => out.push(' '),
            c if is_nbsp(c) => out.push('\u{A0}'),
            c if fonts.regular.has(c) && fonts.bold.has(c) && !is_private_use(c) => out.push(c),
            _ => out.push(REPLACEMENT),
        }
    }
    out
}

fn is_nbsp(c: char) -> bool {
    matches!(c, '\u{A0}' | '\u{202F}' | '\u{2007}')
}

fn is_private_use(c: char) -> bool {
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{10FFFF}')
}

/// Drawn text: no-break spaces become plain spaces (they only matter for line breaking, and one
/// glyph mapped to two characters would make text extraction ambiguous).
fn drawn(text: &str) -> String {
    text.replace('\u{A0}', " ")
}

enum Tok {
    Word(Vec<(Style, String)>),
    Space,
    Newline,
}

fn tokenize(spans: &[Span]) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut word: Vec<(Style, String)> = Vec::new();
    let flush = |word: &mut Vec<(Style, String)>, toks: &mut Vec<Tok>| {
        if !word.is_empty() {
            toks.push(Tok::Word(std::mem::take(word)));
        }
    };
    for span in spans {
        for c in span.text.chars() {
            match c {
                '\n' => {
                    flush(&mut word, &mut toks);
                    toks.push(Tok::Newline);
                }
                ' ' => {
                    flush(&mut word, &mut toks);
                    if !matches!(toks.last(), Some(Tok::Space)) {
                        toks.push(Tok::Space);
                    }
                }
                c => match word.last_mut() {
                    Some((style, text)) if *style == span.style => text.push(c),
                    _ => word.push((span.style, c.to_string())),
                },
            }
        }
    }
    flush(&mut word, &mut toks);
    toks
}

impl Line {
    fn push(&mut self, fonts: &Fonts, style: Style, text: &str, size: f32) {
        let w = fonts.face(style).width(text, size);
        match self.runs.last_mut() {
            Some((s, t, _)) if *s == style => t.push_str(text),
            _ => self.runs.push((style, text.to_string(), self.width)),
        }
        self.width += w;
    }
    fn last_style(&self) -> Style {
        self.runs.last().map_or(Style::Regular, |r| r.0)
    }
}

/// Greedy line breaking of styled text into lines no wider than `avail` points.
pub(crate) fn wrap(fonts: &Fonts, spans: &[Span], size: f32, avail: f32) -> Vec<Line> {
    const EPS: f32 = 0.01;
    let mut lines = Vec::new();
    let mut line = Line::default();
    let mut pending_space = false;
    for tok in tokenize(spans) {
        match tok {
            Tok::Newline => {
                lines.push(std::mem::take(&mut line));
                pending_space = false;
            }
            Tok::Space => pending_space = !line.runs.is_empty(),
            Tok::Word(pieces) => {
                let word_w: f32 = pieces
                    .iter()
                    .map(|(s, t)| fonts.face(*s).width(t, size))
                    .sum();
                let space_w = if pending_space {
                    fonts.face(line.last_style()).width(" ", size)
                } else {
                    0.0
                };
                if line.width + space_w + word_w <= avail + EPS {
                    if pending_space {
                        line.push(fonts, line.last_style(), " ", size);
                    }
                    for (s, t) in &pieces {
                        line.push(fonts, *s, t, size);
                    }
                } else {
                    if !line.runs.is_empty() {
                        lines.push(std::mem::take(&mut line));
                    }
                    if word_w <= avail + EPS {
                        for (s, t) in &pieces {
                            line.push(fonts, *s, t, size);
                        }
                    } else {
                        // Longer than a whole line: cut between characters.
                        for (s, t) in &pieces {
                            let face = fonts.face(*s);
                            for c in t.chars() {
                                let cw = face.glyph(c).1 * size;
                                if line.width + cw > avail + EPS && !line.runs.is_empty() {
                                    lines.push(std::mem::take(&mut line));
                                }
                                let mut buf = [0u8; 4];
                                line.push(fonts, *s, c.encode_utf8(&mut buf), size);
                            }
                        }
                    }
                }
                pending_space = false;
            }
        }
    }
    if !line.runs.is_empty() {
        lines.push(line);
    }
    lines
}

/// Page geometry that depends on the decorations (banner height, running header).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    pub(crate) first_top: f32,
    pub(crate) next_top: f32,
}

struct Flow<'f> {
    fonts: &'f Fonts,
    frame: Frame,
    pages: Vec<PageLayout>,
    y: f32,
}

impl Flow<'_> {
    fn page(&mut self) -> &mut PageLayout {
        if self.pages.is_empty() {
            self.pages.push(PageLayout::default());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn top(&self) -> f32 {
        if self.pages.len() <= 1 {
            self.frame.first_top
        } else {
            self.frame.next_top
        }
    }

    fn at_top(&self) -> bool {
        self.pages.last().is_none_or(|p| p.items.is_empty())
    }

    /// Starts a new page unless `h` points still fit (an empty page always accepts).
    fn ensure(&mut self, h: f32) {
        if self.y + h > CONTENT_BOTTOM && !self.at_top() {
            self.pages.push(PageLayout::default());
            self.y = self.frame.next_top;
        }
    }

    fn space(&mut self, h: f32) {
        if !self.at_top() {
            self.y += h;
        }
    }

    fn lines(&mut self, lines: &[Line], x: f32, size: f32, leading: f32, marker: Option<&str>) {
        for (i, line) in lines.iter().enumerate() {
            self.ensure(leading);
            let baseline = self.y + size * ASCENT;
            if i == 0
                && let Some(m) = marker
            {
                self.page().items.push(Item::Text(TextItem {
                    x: x - LIST_INDENT,
                    baseline,
                    size,
                    style: Style::Regular,
                    text: m.to_string(),
                }));
            }
            for (style, text, dx) in &line.runs {
                let text = drawn(text);
                if text.trim().is_empty() {
                    continue;
                }
                self.page().items.push(Item::Text(TextItem {
                    x: x + dx,
                    baseline,
                    size,
                    style: *style,
                    text,
                }));
            }
            self.y += leading;
        }
    }

    fn block(&mut self, block: &Block) {
        let fonts = self.fonts;
        match block {
            Block::Title(t) => {
                let lines = wrap(fonts, &[Span::bold(t.as_str())], TITLE_SIZE, CONTENT_W);
                self.space(6.0);
                self.lines(&lines, MARGIN_X, TITLE_SIZE, TITLE_LEADING, None);
            }
            Block::Subtitle(t) => {
                let lines = wrap(
                    fonts,
                    &[Span::regular(t.as_str())],
                    SUBTITLE_SIZE,
                    CONTENT_W,
                );
                self.lines(&lines, MARGIN_X, SUBTITLE_SIZE, BODY_LEADING + 1.0, None);
            }
            Block::Heading(t) => {
                let lines = wrap(fonts, &[Span::bold(t.as_str())], HEADING_SIZE, CONTENT_W);
                self.space(9.0);
                // Keep the heading with at least two lines of what follows.
                let h = lines.len() as f32 * HEADING_LEADING + 2.0 * BODY_LEADING + 4.0;
                self.ensure(h);
                self.lines(&lines, MARGIN_X, HEADING_SIZE, HEADING_LEADING, None);
                if let Some(last) = self.pages.last_mut() {
                    let y = self.y - 2.0;
                    last.items.push(Item::Rule {
                        x1: MARGIN_X,
                        x2: MARGIN_X + CONTENT_W,
                        y,
                        width: 0.4,
                    });
                }
                self.y += 4.0;
            }
            Block::Paragraph(spans) => {
                let lines = wrap(fonts, spans, BODY_SIZE, CONTENT_W);
                self.lines(&lines, MARGIN_X, BODY_SIZE, BODY_LEADING, None);
                self.y += 3.0;
            }
            Block::Bullet(spans, level) => {
                let x = MARGIN_X + LIST_INDENT * (f32::from(*level) + 1.0);
                let lines = wrap(fonts, spans, BODY_SIZE, MARGIN_X + CONTENT_W - x);
                let marker = if *level == 0 { "•" } else { "–" };
                self.lines(&lines, x, BODY_SIZE, BODY_LEADING, Some(marker));
                self.y += 1.5;
            }
            Block::Numbered(n, spans) => {
                let x = MARGIN_X + LIST_INDENT + 6.0;
                let lines = wrap(fonts, spans, BODY_SIZE, MARGIN_X + CONTENT_W - x);
                let marker = format!("{n}.");
                self.lines(&lines, x, BODY_SIZE, BODY_LEADING, Some(&marker));
                self.y += 1.5;
            }
            Block::Spacer(h) => self.space(*h),
            Block::Rule => {
                self.ensure(8.0);
                self.y += 4.0;
                let y = self.y;
                self.page().items.push(Item::Rule {
                    x1: MARGIN_X,
                    x2: MARGIN_X + CONTENT_W,
                    y,
                    width: 0.8,
                });
                self.y += 6.0;
            }
        }
    }
}

/// Lays the blocks out on as many pages as needed (at least one).
pub(crate) fn paginate(fonts: &Fonts, blocks: &[Block], frame: Frame) -> Vec<PageLayout> {
    let mut flow = Flow {
        fonts,
        frame,
        pages: vec![PageLayout::default()],
        y: frame.first_top,
    };
    for b in blocks {
        flow.block(b);
    }
    debug_assert!(flow.top() > 0.0);
    flow.pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fonts::fonts;

    fn text_of(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.runs.iter().map(|r| r.1.as_str()).collect::<String>())
            .collect()
    }

    #[test]
    fn wrap_respects_width_and_keeps_words() -> Result<(), crate::PdfError> {
        let f = fonts()?;
        let text =
            "L'enfant a été accueilli à la maison d'enfants à caractère social le lundi matin.";
        let lines = wrap(f, &[Span::regular(text)], 10.0, 120.0);
        assert!(lines.len() > 2, "{lines:?}");
        for l in &lines {
            assert!(l.width <= 120.01, "line too wide: {l:?}");
        }
        // Hyphen-free: joining the lines with spaces gives the text back.
        assert_eq!(text_of(&lines).join(" "), text);
        Ok(())
    }

    #[test]
    fn wrap_cuts_overlong_words_and_honours_newlines() -> Result<(), crate::PdfError> {
        let f = fonts()?;
        let long = "x".repeat(200);
        let lines = wrap(f, &[Span::regular(format!("a\n\n{long}"))], 10.0, 100.0);
        let t = text_of(&lines);
        assert_eq!(t[0], "a");
        assert_eq!(t[1], "");
        assert!(t.len() > 3);
        assert_eq!(t[2..].concat(), long);
        for l in &lines {
            assert!(l.width <= 100.01);
        }
        Ok(())
    }

    #[test]
    fn mixed_styles_share_a_line() -> Result<(), crate::PdfError> {
        let f = fonts()?;
        let lines = wrap(
            f,
            &[Span::bold("Qui\u{a0}: "), Span::regular("la référente")],
            10.0,
            400.0,
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].runs.len(), 2);
        assert_eq!(lines[0].runs[0].0, Style::Bold);
        assert!(lines[0].runs[1].2 > 0.0);
        Ok(())
    }

    #[test]
    fn clean_replaces_unknown_and_control_characters() -> Result<(), crate::PdfError> {
        let f = fonts()?;
        assert_eq!(clean(f, "a\r\nb\tc\u{0}d\u{AD}e"), "a\nb c de");
        assert_eq!(clean(f, "\u{E000}"), "\u{FFFD}");
        assert_eq!(clean(f, "œuvre « élève »"), "œuvre « élève »");
        Ok(())
    }
}
