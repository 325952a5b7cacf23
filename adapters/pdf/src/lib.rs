//! Pure PDF/A-1b renderer for the structured child-protection documents.
//!
//! [`render`] turns a [`Document`] with structured content (every `content` variant except the
//! DUI-supplied PDF) into a PDF/A-1b file: French labels, a first-page header (child, structure,
//! author, dates), a confidentiality banner on every page chosen from the sensitivity, and
//! "Page i / N" footers. Output is deterministic: same input, same bytes (creation date is a
//! parameter; the document ID is derived from a SHA-256 of the input).
//!
//! [`inspect_supplied_pdf`] checks a DUI-supplied PDF without modifying it.
//!
//! Library choice and PDF/A notes: `docs/pdf.md`.
#![forbid(unsafe_code)]

mod content;
mod draw;
mod fonts;
mod labels;
mod layout;
mod supplied;

use passerelle_api::v1::document::Content;
use passerelle_api::v1::{Actor, ChildContext, Document, Sensitivity};

pub use labels::{banner, default_sensitivity, is_health_kind, kind_label};
pub use supplied::{PdfAClaim, SuppliedPdfInfo, inspect_supplied_pdf};

/// Errors of this crate. Messages name the field and the reason, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("document.content: no structured content to render")]
    NoStructuredContent,
    #[error("document.content.pdf: a supplied PDF is kept as is, never rendered")]
    SuppliedPdfNotRendered,
    #[error("created_at: {reason}")]
    InvalidCreationDate { reason: &'static str },
    #[error("embedded font {font}: {reason}")]
    Font {
        font: &'static str,
        reason: &'static str,
    },
    #[error("PDF/A-1b validation failed: {0}")]
    Validation(String),
    #[error("PDF writer: {0}")]
    Writer(String),
    #[error("supplied pdf: empty")]
    SuppliedEmpty,
    #[error("supplied pdf: {size} bytes exceeds the limit of {max} bytes")]
    SuppliedTooLarge { size: usize, max: usize },
    #[error("supplied pdf: does not start with the %PDF- header")]
    SuppliedNotPdf,
    #[error("supplied pdf: encrypted (/Encrypt in the trailer); PDF/A forbids encryption")]
    SuppliedEncrypted,
}

/// Everything one rendering needs. Strings may be empty (the header line is then left out).
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// The document; its `content` must be a structured variant.
    pub document: &'a Document,
    pub child: &'a ChildContext,
    /// Issuing structure, e.g. "MECS Les Tilleuls".
    pub structure_name: &'a str,
    /// Its identifiers as printed, e.g. "FINESS ET 930004130".
    pub structure_ids: &'a str,
    pub author_name: &'a str,
    /// Role or title of the author, e.g. "éducateur spécialisé".
    pub author_role: &'a str,
    /// Title printed on the first page and stored in the metadata; empty = `document.title`,
    /// else the kind's French label.
    pub title: &'a str,
    /// Creation date written in the header, the Info dictionary and XMP (never the clock).
    pub created_at: time::OffsetDateTime,
}

/// Header strings derived from an [`Actor`] (the document's author or the sender), for callers
/// that do not format them themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActorLabels {
    pub structure_name: String,
    pub structure_ids: String,
    pub author_name: String,
    pub author_role: String,
}

impl ActorLabels {
    pub fn from_actor(actor: &Actor) -> ActorLabels {
        let mut out = ActorLabels::default();
        if let Some(s) = &actor.structure {
            out.structure_name = match (s.name.trim(), s.service.trim()) {
                (n, "") => n.to_string(),
                (n, svc) => format!("{n} — {svc}"),
            };
            let mut ids = Vec::new();
            if !s.finess_et.trim().is_empty() {
                ids.push(format!("FINESS ET {}", s.finess_et.trim()));
            } else if !s.finess_ej.trim().is_empty() {
                ids.push(format!("FINESS EJ {}", s.finess_ej.trim()));
            }
            if !s.siret.trim().is_empty() {
                ids.push(format!("SIRET {}", s.siret.trim()));
            }
            out.structure_ids = ids.join(", ");
        }
        if let Some(p) = &actor.person {
            out.author_name = content::person_name(&p.given_name, &p.family_name);
            out.author_role = if p.title.trim().is_empty() {
                p.professions
                    .first()
                    .map(|c| c.display.trim().to_string())
                    .unwrap_or_default()
            } else {
                p.title.trim().to_string()
            };
        }
        out
    }
}

/// Values computed once per rendering and shared by the header, the decorations and metadata.
pub(crate) struct Prepared {
    pub(crate) title: String,
    pub(crate) kind_label: &'static str,
    pub(crate) child_name: String,
    pub(crate) sensitivity: Sensitivity,
    pub(crate) banner: String,
}

/// Renders a structured document to PDF/A-1b bytes.
pub fn render(ctx: &RenderContext<'_>) -> Result<Vec<u8>, PdfError> {
    let content = match &ctx.document.content {
        None => return Err(PdfError::NoStructuredContent),
        Some(Content::Pdf(_)) => return Err(PdfError::SuppliedPdfNotRendered),
        Some(c) => c,
    };
    let fonts = fonts::fonts()?;
    let kind = ctx.document.kind();
    let kind_label = kind_label(kind);
    let title = [ctx.title, ctx.document.title.as_str()]
        .into_iter()
        .map(str::trim)
        .find(|t| !t.is_empty())
        .map_or_else(|| kind_label.to_string(), |t| layout::clean(fonts, t))
        .replace('\n', " ");
    let sensitivity = match ctx.document.sensitivity() {
        Sensitivity::Unspecified => default_sensitivity(kind),
        s => s,
    };
    let prepared = Prepared {
        banner: banner(sensitivity, is_health_kind(kind)),
        child_name: layout::clean(fonts, &content::child_name(ctx.child)).replace('\n', " "),
        title,
        kind_label,
        sensitivity,
    };
    let blocks = content::blocks(fonts, ctx, &prepared, content);
    let digest = input_digest(ctx);
    draw::document(fonts, ctx, &prepared, &blocks, &digest)
}

/// SHA-256 over the whole input: the PDF document ID derives from it, so two renderings of the
/// same input carry the same ID and any change gives another one.
fn input_digest(ctx: &RenderContext<'_>) -> [u8; 32] {
    use passerelle_api::prost::Message;
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    field(b"passerelle-pdf/1");
    field(&ctx.document.encode_to_vec());
    field(&ctx.child.encode_to_vec());
    for s in [
        ctx.structure_name,
        ctx.structure_ids,
        ctx.author_name,
        ctx.author_role,
        ctx.title,
    ] {
        field(s.as_bytes());
    }
    field(&ctx.created_at.unix_timestamp_nanos().to_be_bytes());
    field(&ctx.created_at.offset().whole_seconds().to_be_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_api::v1::{Code, Person, Structure};

    #[test]
    fn actor_labels_prefer_finess_et_and_title() {
        let actor = Actor {
            person: Some(Person {
                family_name: "Haddad".into(),
                given_name: "Karim".into(),
                professions: vec![Code {
                    system: "1.2.250.1.213.1.1.4.6".into(),
                    code: "326".into(),
                    display: "Éducateur spécialisé".into(),
                }],
                ..Default::default()
            }),
            structure: Some(Structure {
                name: "MECS Les Tilleuls".into(),
                finess_ej: "930004122".into(),
                finess_et: "930004130".into(),
                service: "Groupe des grands".into(),
                ..Default::default()
            }),
            missions: vec![],
        };
        let l = ActorLabels::from_actor(&actor);
        assert_eq!(l.structure_name, "MECS Les Tilleuls — Groupe des grands");
        assert_eq!(l.structure_ids, "FINESS ET 930004130");
        assert_eq!(l.author_name, "Karim HADDAD");
        assert_eq!(l.author_role, "Éducateur spécialisé");

        let mut a2 = actor.clone();
        if let Some(p) = a2.person.as_mut() {
            p.title = "Chef de service".into();
        }
        if let Some(s) = a2.structure.as_mut() {
            s.finess_et.clear();
            s.siret = "22930008200018".into();
        }
        let l2 = ActorLabels::from_actor(&a2);
        assert_eq!(l2.author_role, "Chef de service");
        assert_eq!(
            l2.structure_ids,
            "FINESS EJ 930004122, SIRET 22930008200018"
        );
        assert_eq!(
            ActorLabels::from_actor(&Actor::default()),
            ActorLabels::default()
        );
    }

    #[test]
    fn input_digest_covers_every_header_string() {
        let doc = Document::default();
        let child = ChildContext::default();
        let base = RenderContext {
            document: &doc,
            child: &child,
            structure_name: "S",
            structure_ids: "I",
            author_name: "A",
            author_role: "R",
            title: "T",
            created_at: time::macros::datetime!(2026-01-01 00:00 UTC),
        };
        let d0 = input_digest(&base);
        assert_eq!(d0, input_digest(&base));
        let variants = [
            RenderContext {
                structure_name: "S2",
                ..base
            },
            RenderContext {
                structure_ids: "I2",
                ..base
            },
            RenderContext {
                author_name: "A2",
                ..base
            },
            RenderContext {
                author_role: "R2",
                ..base
            },
            RenderContext {
                title: "T2",
                ..base
            },
            // Length-prefixed fields: moving a character between fields changes the digest.
            RenderContext {
                structure_name: "SI",
                structure_ids: "",
                ..base
            },
            RenderContext {
                created_at: time::macros::datetime!(2026-01-01 01:00 +01:00),
                ..base
            },
        ];
        for v in variants {
            assert_ne!(input_digest(&v), d0);
        }
    }
}
