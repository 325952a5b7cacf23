//! The two embedded faces (DejaVu Sans, regular and bold), parsed once per process.
//!
//! Metrics are read from the font itself so that line breaking measures exactly what krilla
//! draws: we place glyphs ourselves (no shaping, no kerning), one advance per character.

use std::collections::HashMap;
use std::sync::OnceLock;

use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

use crate::PdfError;

static REGULAR_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// Replacement drawn for characters neither face has (kept visible rather than dropped).
pub(crate) const REPLACEMENT: char = '\u{FFFD}';

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Style {
    Regular,
    Bold,
}

pub(crate) struct Face {
    pub(crate) krilla: krilla::text::Font,
    /// char -> (glyph id, advance in em).
    glyphs: HashMap<char, (u32, f32)>,
    /// Advance of the replacement glyph, used for unmapped characters.
    fallback: (u32, f32),
}

impl Face {
    fn load(name: &'static str, data: &'static [u8]) -> Result<Face, PdfError> {
        let font = FontRef::new(data).map_err(|_| PdfError::Font {
            font: name,
            reason: "not a parsable TrueType font",
        })?;
        let upem = f32::from(
            font.metrics(Size::unscaled(), LocationRef::default())
                .units_per_em,
        );
        if upem <= 0.0 {
            return Err(PdfError::Font {
                font: name,
                reason: "units per em is zero",
            });
        }
        let metrics = font.glyph_metrics(Size::unscaled(), LocationRef::default());
        let mut glyphs = HashMap::new();
        for (cp, gid) in font.charmap().mappings() {
            if let Some(ch) = char::from_u32(cp) {
                let adv = metrics.advance_width(gid).unwrap_or(0.0) / upem;
                glyphs.insert(ch, (gid.to_u32(), adv));
            }
        }
        let fallback = glyphs
            .get(&REPLACEMENT)
            .or_else(|| glyphs.get(&'?'))
            .copied()
            .ok_or(PdfError::Font {
                font: name,
                reason: "no replacement glyph",
            })?;
        let krilla =
            krilla::text::Font::new(krilla::Data::from(data), 0).ok_or(PdfError::Font {
                font: name,
                reason: "rejected by the PDF writer",
            })?;
        Ok(Face {
            krilla,
            glyphs,
            fallback,
        })
    }

    pub(crate) fn has(&self, ch: char) -> bool {
        self.glyphs.contains_key(&ch)
    }

    /// Glyph id and advance (em) of a character; unmapped characters use the replacement glyph
    /// (text is sanitised beforehand so this only guards against a face mismatch).
    pub(crate) fn glyph(&self, ch: char) -> (u32, f32) {
        self.glyphs.get(&ch).copied().unwrap_or(self.fallback)
    }

    /// Width of `text` at `size` points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1).sum::<f32>() * size
    }
}

pub(crate) struct Fonts {
    pub(crate) regular: Face,
    pub(crate) bold: Face,
}

impl Fonts {
    pub(crate) fn face(&self, style: Style) -> &Face {
        match style {
            Style::Regular => &self.regular,
            Style::Bold => &self.bold,
        }
    }
}

static FONTS: OnceLock<Result<Fonts, PdfError>> = OnceLock::new();

/// The parsed faces; parsing happens once (the data is compiled in, so this is not I/O).
pub(crate) fn fonts() -> Result<&'static Fonts, PdfError> {
    FONTS
        .get_or_init(|| {
            Ok(Fonts {
                regular: Face::load("DejaVuSans", REGULAR_TTF)?,
                bold: Face::load("DejaVuSans-Bold", BOLD_TTF)?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}
