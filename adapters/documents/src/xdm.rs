//! IHE XDM packages (`IHE_XDM.zip`): the writer (entries STORED) and a hardened reader for the
//! MSSanté inbox (mssante.md §3.5, §6.3).

use std::io::{Cursor, Read, Write};

use crate::context::Tenant;
use crate::error::DocumentError;
use crate::metadata::{IdStyle, RenderedDocument, SubmissionSet, metadata_xml};
use crate::read::{self, XdmPackage};

/// Who sends the package (INDEX.HTM and README.TXT; no personal data).
#[derive(Debug, Clone, Copy)]
pub struct XdmSender<'a> {
    /// The sending structure.
    pub tenant: &'a Tenant,
    /// Application name ("Passerelle").
    pub application: &'a str,
    /// Application version.
    pub version: &'a str,
    /// Editor.
    pub editor: &'a str,
}

/// Name of the archive attachment.
pub const XDM_FILE_NAME: &str = "IHE_XDM.zip";

/// Builds `IHE_XDM.zip` with one submission set (`IHE_XDM/SUBSET01`), entries STORED, in memory.
/// The DocumentEntries get their `URI` (`DOC0001.XML`...); hash and size are those of the CDA bytes.
pub fn build_xdm(
    set: &SubmissionSet,
    documents: &[RenderedDocument],
    sender: &XdmSender<'_>,
) -> Result<Vec<u8>, DocumentError> {
    if documents.is_empty() || documents.len() > 9999 {
        return Err(DocumentError::input(
            "documents",
            "between 1 and 9999 documents",
        ));
    }
    let mut entries = Vec::with_capacity(documents.len());
    for (i, d) in documents.iter().enumerate() {
        let mut e = d.entry.clone();
        e.uri = Some(doc_name(i));
        entries.push(e);
    }
    let metadata = metadata_xml(set, &entries, IdStyle::Uuid)?;
    let index = index_htm(sender, documents.len());
    let readme = readme_txt(sender, documents.len());

    let total: usize = documents.iter().map(|d| d.cda.len() + 200).sum::<usize>()
        + metadata.len()
        + index.len()
        + readme.len()
        + 4096;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(total)));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(dos_time(&set.submission_time))
        .unix_permissions(0o644);
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), DocumentError> {
        zip.start_file(name, options)
            .map_err(|e| DocumentError::ZipWrite(e.to_string()))?;
        zip.write_all(bytes)
            .map_err(|e| DocumentError::ZipWrite(e.to_string()))
    };
    put("INDEX.HTM", index.as_bytes())?;
    put("README.TXT", readme.as_bytes())?;
    put("IHE_XDM/SUBSET01/METADATA.XML", &metadata)?;
    for (i, d) in documents.iter().enumerate() {
        put(&format!("IHE_XDM/SUBSET01/{}", doc_name(i)), &d.cda)?;
    }
    let out = zip
        .finish()
        .map_err(|e| DocumentError::ZipWrite(e.to_string()))?;
    Ok(out.into_inner())
}

/// Reads an incoming package with the default limits.
pub fn read_xdm(bytes: &[u8]) -> Result<XdmPackage, DocumentError> {
    read::read_package(bytes, &read::XdmLimits::default())
}

fn doc_name(i: usize) -> String {
    format!("DOC{:04}.XML", i + 1)
}

/// DOS time from the XDS submission time (`YYYYMMDDhhmmss`): deterministic archive bytes.
fn dos_time(ts: &str) -> zip::DateTime {
    let n = |a: usize, b: usize| ts.get(a..b).and_then(|s| s.parse::<u16>().ok());
    match (n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14)) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) => {
            zip::DateTime::from_date_and_time(y, mo as u8, d as u8, h as u8, mi as u8, s as u8)
                .unwrap_or_default()
        }
        _ => zip::DateTime::default(),
    }
}

fn index_htm(sender: &XdmSender<'_>, n: usize) -> String {
    let t = sender.tenant;
    let mut s = String::with_capacity(1024 + n * 96);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n");
    s.push_str("<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"fr\">\r\n<head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\"/><title>Documents transmis</title></head>\r\n<body>\r\n");
    s.push_str("<h1>Documents transmis par ");
    s.push_str(&crate::xml::escape(&t.name));
    s.push_str("</h1>\r\n<ul>\r\n");
    for i in 0..n {
        let name = doc_name(i);
        s.push_str(&format!(
            "<li><a href=\"IHE_XDM/SUBSET01/{name}\">Document {} ({name})</a></li>\r\n",
            i + 1
        ));
    }
    s.push_str("</ul>\r\n<p><a href=\"README.TXT\">Lisez-moi</a></p>\r\n</body>\r\n</html>\r\n");
    s
}

fn readme_txt(sender: &XdmSender<'_>, n: usize) -> String {
    let t = sender.tenant;
    let mut s = String::with_capacity(1024 + n * 48);
    let mut line = |l: &str| {
        s.push_str(l);
        s.push_str("\r\n");
    };
    line("Emetteur");
    line(&format!("  Structure : {}", t.name));
    if let Some(a) = &t.address {
        line(&format!(
            "  Adresse : {}, {} {}",
            a.street, a.postal_code, a.city
        ));
    }
    if !t.phone.is_empty() {
        line(&format!("  Téléphone : {}", t.phone));
    }
    if !t.org_mailbox.is_empty() {
        line(&format!("  Messagerie sécurisée : {}", t.org_mailbox));
    }
    line("");
    line("Application de l'émetteur");
    line(&format!(
        "  {} version {}",
        sender.application, sender.version
    ));
    line(&format!("  Editeur : {}", sender.editor));
    line("");
    line("Instructions");
    line("  Cette archive IHE XDM contient des documents CDA R2 (PDF encapsulé).");
    line("  Ouvrez INDEX.HTM pour la liste des documents.");
    line("");
    line("Arborescence");
    line("  INDEX.HTM");
    line("  README.TXT");
    line("  IHE_XDM/SUBSET01/METADATA.XML");
    for i in 0..n {
        line(&format!("  IHE_XDM/SUBSET01/{}", doc_name(i)));
    }
    s
}

/// Reads one entry fully, bounded (used by the reader).
pub(crate) fn read_bounded(r: &mut impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(limit.min(16 * 1024 * 1024) as usize);
    r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    Ok(out)
}
