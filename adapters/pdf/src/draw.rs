//! Drawing the laid-out pages with krilla, under its PDF/A-1b validator.

use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder, ValidationError};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{GlyphId, KrillaGlyph};
use krilla::{Document as PdfDoc, SerializeSettings};

use crate::fonts::{Fonts, Style};
use crate::layout::{
    self, Block, CONTENT_W, Frame, Item, MARGIN_X, PAGE_H, PAGE_W, Span, TextItem, wrap,
};
use crate::{PdfError, Prepared, RenderContext};

const BANNER_TOP: f32 = 24.0;
const BANNER_SIZE: f32 = 8.5;
const BANNER_LEADING: f32 = 11.0;
const BANNER_PAD: f32 = 5.0;
const SMALL: f32 = 8.0;
const FOOTER_RULE: f32 = PAGE_H - 46.0;
const FOOTER_BASELINE: f32 = PAGE_H - 33.0;

fn black() -> Fill {
    Fill {
        paint: rgb::Color::new(0, 0, 0).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

fn grey_text() -> Fill {
    Fill {
        paint: rgb::Color::new(70, 70, 70).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

fn text(surface: &mut Surface<'_>, fonts: &Fonts, item: &TextItem) {
    let face = fonts.face(item.style);
    let mut glyphs = Vec::with_capacity(item.text.len());
    for (i, c) in item.text.char_indices() {
        let (gid, adv) = face.glyph(c);
        glyphs.push(KrillaGlyph {
            glyph_id: GlyphId::new(gid),
            text_range: i..i + c.len_utf8(),
            x_advance: adv,
            x_offset: 0.0,
            y_offset: 0.0,
            y_advance: 0.0,
            location: None,
        });
    }
    surface.draw_glyphs(
        Point::from_xy(item.x, item.baseline),
        &glyphs,
        face.krilla.clone(),
        &item.text,
        item.size,
        false,
    );
}

fn rule(surface: &mut Surface<'_>, x1: f32, x2: f32, y: f32, width: f32) {
    let mut pb = PathBuilder::new();
    pb.move_to(x1, y);
    pb.line_to(x2, y);
    if let Some(path) = pb.finish() {
        surface.set_fill(None);
        surface.set_stroke(Some(Stroke {
            paint: rgb::Color::new(0, 0, 0).into(),
            width,
            ..Default::default()
        }));
        surface.draw_path(&path);
        surface.set_stroke(None);
    }
}

/// Single line of small text, cut to `width` (footers and running headers must stay one line).
fn one_line(fonts: &Fonts, s: &str, style: Style, width: f32) -> String {
    let span = Span {
        style,
        text: s.to_string(),
    };
    wrap(fonts, &[span], SMALL, width)
        .into_iter()
        .next()
        .map(|l| l.runs.into_iter().map(|r| r.1).collect::<String>())
        .unwrap_or_default()
        .replace('\u{A0}', " ")
}

struct Decorations {
    banner_lines: Vec<String>,
    banner_bottom: f32,
    running: String,
    footer_left: String,
}

impl Decorations {
    fn new(fonts: &Fonts, p: &Prepared) -> Decorations {
        let banner_lines: Vec<String> = wrap(
            fonts,
            &[Span::bold(p.banner.as_str())],
            BANNER_SIZE,
            CONTENT_W - 2.0 * BANNER_PAD,
        )
        .into_iter()
        .map(|l| l.runs.into_iter().map(|r| r.1).collect())
        .collect();
        let banner_bottom =
            BANNER_TOP + banner_lines.len() as f32 * BANNER_LEADING + 2.0 * BANNER_PAD - 2.0;
        Decorations {
            banner_lines,
            banner_bottom,
            running: one_line(
                fonts,
                &format!("{} — {}", p.title, p.child_name),
                Style::Regular,
                CONTENT_W,
            ),
            footer_left: one_line(
                fonts,
                &format!("{} — {}", p.kind_label, p.child_name),
                Style::Regular,
                CONTENT_W - 90.0,
            ),
        }
    }

    fn frame(&self) -> Frame {
        Frame {
            first_top: self.banner_bottom + 14.0,
            next_top: self.banner_bottom + 34.0,
        }
    }

    fn draw(&self, s: &mut Surface<'_>, fonts: &Fonts, page: usize, pages: usize) {
        // Banner: light grey box, black frame, bold centred text.
        let (left, right) = (MARGIN_X - 4.0, PAGE_W - MARGIN_X + 4.0);
        if let Some(rect) = Rect::from_ltrb(left, BANNER_TOP, right, self.banner_bottom) {
            let mut pb = PathBuilder::new();
            pb.push_rect(rect);
            if let Some(path) = pb.finish() {
                s.set_fill(Some(Fill {
                    paint: rgb::Color::new(232, 232, 232).into(),
                    opacity: NormalizedF32::ONE,
                    rule: Default::default(),
                }));
                s.set_stroke(Some(Stroke {
                    paint: rgb::Color::new(0, 0, 0).into(),
                    width: 0.8,
                    ..Default::default()
                }));
                s.draw_path(&path);
                s.set_stroke(None);
            }
        }
        s.set_fill(Some(black()));
        for (i, line) in self.banner_lines.iter().enumerate() {
            let line = line.replace('\u{A0}', " ");
            let w = fonts.bold.width(&line, BANNER_SIZE);
            let item = TextItem {
                x: (PAGE_W - w) / 2.0,
                baseline: BANNER_TOP + BANNER_PAD + BANNER_SIZE * 0.93 + i as f32 * BANNER_LEADING
                    - 1.0,
                size: BANNER_SIZE,
                style: Style::Bold,
                text: line,
            };
            text(s, fonts, &item);
        }
        // Running header from the second page on.
        if page > 0 {
            s.set_fill(Some(grey_text()));
            let y = self.banner_bottom + 16.0;
            text(
                s,
                fonts,
                &TextItem {
                    x: MARGIN_X,
                    baseline: y,
                    size: SMALL,
                    style: Style::Regular,
                    text: self.running.clone(),
                },
            );
            rule(s, MARGIN_X, MARGIN_X + CONTENT_W, y + 5.0, 0.4);
        }
        // Footer.
        rule(s, MARGIN_X, MARGIN_X + CONTENT_W, FOOTER_RULE, 0.4);
        s.set_fill(Some(grey_text()));
        text(
            s,
            fonts,
            &TextItem {
                x: MARGIN_X,
                baseline: FOOTER_BASELINE,
                size: SMALL,
                style: Style::Regular,
                text: self.footer_left.clone(),
            },
        );
        let num = format!("Page {} / {}", page + 1, pages);
        let w = fonts.regular.width(&num, SMALL);
        text(
            s,
            fonts,
            &TextItem {
                x: MARGIN_X + CONTENT_W - w,
                baseline: FOOTER_BASELINE,
                size: SMALL,
                style: Style::Regular,
                text: num,
            },
        );
    }
}

fn creation_date(t: time::OffsetDateTime) -> Result<DateTime, PdfError> {
    let year = u16::try_from(t.year()).ok().filter(|y| *y <= 9999).ok_or(
        PdfError::InvalidCreationDate {
            reason: "year outside 0..=9999",
        },
    )?;
    let (oh, om, _) = t.offset().as_hms();
    Ok(DateTime::new(year)
        .month(u8::from(t.month()))
        .day(t.day())
        .hour(t.hour())
        .minute(t.minute())
        .second(t.second())
        .utc_offset_hour(oh)
        .utc_offset_minute(om.unsigned_abs()))
}

/// Names of krilla validation failures (never their payload, which may hold document text).
fn validation_names(errors: &[(ValidationError, krilla::configure::Validators)]) -> String {
    let names: Vec<&str> = errors
        .iter()
        .map(|(e, _)| match e {
            ValidationError::TooLongString => "too long string",
            ValidationError::TooLongName => "too long name",
            ValidationError::TooLongArray => "too long array",
            ValidationError::TooLongDictionary => "too long dictionary",
            ValidationError::TooLargeFloat => "too large float",
            ValidationError::TooManyIndirectObjects => "too many objects",
            ValidationError::ContainsNotDefGlyph(..) => "missing glyph",
            ValidationError::NoCodepointMapping(..) => "glyph without Unicode mapping",
            ValidationError::InvalidCodepointMapping(..) => "invalid Unicode mapping",
            ValidationError::Transparency(..) => "transparency",
            ValidationError::MissingDocumentDate => "missing document date",
            ValidationError::NoDocumentTitle => "missing title",
            _ => "other",
        })
        .collect();
    names.join(", ")
}

pub(crate) fn document(
    fonts: &Fonts,
    ctx: &RenderContext<'_>,
    p: &Prepared,
    blocks: &[Block],
    digest: &[u8; 32],
) -> Result<Vec<u8>, PdfError> {
    let deco = Decorations::new(fonts, p);
    let pages = layout::paginate(fonts, blocks, deco.frame());

    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A1_B)
        .finish()
        .map_err(|e| PdfError::Writer(format!("configuration: {e:?}")))?;
    let settings = SerializeSettings {
        configuration,
        enable_tagging: false,
        ..SerializeSettings::default()
    };
    let mut doc = PdfDoc::new_with(settings);
    let size = PageSettings::from_wh(PAGE_W, PAGE_H)
        .ok_or_else(|| PdfError::Writer("page size".to_string()))?;
    let count = pages.len();
    for (i, page) in pages.iter().enumerate() {
        let mut pg = doc.start_page_with(size.clone());
        let mut s = pg.surface();
        deco.draw(&mut s, fonts, i, count);
        s.set_fill(Some(black()));
        for item in &page.items {
            match item {
                Item::Text(t) => text(&mut s, fonts, t),
                Item::Rule { x1, x2, y, width } => {
                    rule(&mut s, *x1, *x2, *y, *width);
                    s.set_fill(Some(black()));
                }
            }
        }
        s.finish();
        pg.finish();
    }

    let mut meta = Metadata::new()
        .title(p.title.clone())
        .description(p.kind_label.to_string())
        .creator("Passerelle".to_string())
        .producer(format!("passerelle-pdf {}", env!("CARGO_PKG_VERSION")))
        .language("fr-FR".to_string())
        .creation_date(creation_date(ctx.created_at)?)
        .document_id(hex::encode(digest));
    let author = ctx.author_name.trim();
    if !author.is_empty() {
        meta = meta.authors(vec![layout::clean(fonts, author).replace('\n', " ")]);
    }
    doc.set_metadata(meta);
    doc.finish().map_err(|e| match e {
        krilla::error::KrillaError::Validation(v) => PdfError::Validation(validation_names(&v)),
        other => PdfError::Writer(other.to_string()),
    })
}
