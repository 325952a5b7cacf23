//! Hardened reader of incoming XDM packages: bounded sizes, safe names, ebRS 3.0 only, no DTD,
//! hash/size checked, one patient per package (mssante.md §6.3). Every failure is a typed
//! [`DocumentError`] whose [`DocumentError::ans_code`] gives the ANS code (906 for most).

use std::collections::{HashMap, HashSet};
use std::io::Cursor;

use base64::Engine as _;
use roxmltree::{Document, Node, ParsingOptions};

use crate::codes::{INS_ROOTS, xds};
use crate::error::DocumentError;
use crate::metadata::{XdsCode, sha1_hex};
use crate::xdm::read_bounded;

const NS_CDA: &str = "urn:hl7-org:v3";

/// Limits of the reader (defaults: mssante.md §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdmLimits {
    /// Maximum number of entries in the central directory.
    pub max_entries: usize,
    /// Maximum total uncompressed size.
    pub max_total_size: u64,
    /// Maximum uncompressed/compressed ratio (per entry and overall).
    pub max_ratio: u64,
    /// Maximum XML element depth.
    pub max_xml_depth: usize,
    /// Maximum XML nodes per document.
    pub max_xml_nodes: u32,
}

impl Default for XdmLimits {
    fn default() -> Self {
        XdmLimits {
            max_entries: 1000,
            max_total_size: 200 * 1024 * 1024,
            max_ratio: 100,
            max_xml_depth: 128,
            max_xml_nodes: 1_000_000,
        }
    }
}

/// A package read from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdmPackage {
    /// The patient of the whole package (CX of the submission sets).
    pub patient_id: String,
    /// Every `IHE_XDM/SUBSETnn`, in archive order.
    pub subsets: Vec<XdmSubset>,
}

/// One submission set of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdmSubset {
    /// Directory inside the archive (`IHE_XDM/SUBSET01`, as written).
    pub path: String,
    /// The SubmissionSet.
    pub submission_set: ReadSubmissionSet,
    /// Its documents.
    pub documents: Vec<ReadDocument>,
}

/// The SubmissionSet attributes the inbox uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSubmissionSet {
    /// uniqueId.
    pub unique_id: Option<String>,
    /// sourceId.
    pub source_id: Option<String>,
    /// patientId CX.
    pub patient_id: String,
    /// submissionTime.
    pub submission_time: Option<String>,
    /// Limited Metadata marker present.
    pub limited_metadata: bool,
}

/// A document of a package, checked against its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadDocument {
    /// `URI` slot.
    pub uri: String,
    /// uniqueId.
    pub unique_id: String,
    /// mimeType.
    pub mime_type: String,
    /// Title.
    pub title: Option<String>,
    /// SHA-1 (checked).
    pub hash: String,
    /// Size (checked).
    pub size: u64,
    /// patientId CX.
    pub patient_id: String,
    /// typeCode.
    pub type_code: Option<XdsCode>,
    /// classCode.
    pub class_code: Option<XdsCode>,
    /// formatCode.
    pub format_code: Option<XdsCode>,
    /// confidentialityCode list.
    pub confidentiality: Vec<XdsCode>,
    /// The file bytes.
    pub content: Vec<u8>,
    /// The CDA header, when the file is a CDA.
    pub cda: Option<CdaHeader>,
    /// The N1 PDF, when the CDA has one.
    pub pdf: Option<Vec<u8>>,
}

/// Header fields of an incoming CDA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdaHeader {
    /// `id/@root`.
    pub id: Option<String>,
    /// `code`.
    pub code: Option<XdsCode>,
    /// `code/translation` (the local kind code for Passerelle's own documents).
    pub translations: Vec<XdsCode>,
    /// `title`.
    pub title: Option<String>,
    /// Every `patientRole/id` (root, extension).
    pub patient_ids: Vec<(String, String)>,
    /// The INS and its traits, when an INS root is present.
    pub ins: Option<ReadIns>,
    /// First author.
    pub author: Option<ReadAuthor>,
}

impl CdaHeader {
    /// 903 when no INS, 905 when a trait is missing (mssante.md §5.3).
    pub fn check_ins(&self, file: &str) -> Result<&ReadIns, DocumentError> {
        let ins = self.ins.as_ref().ok_or_else(|| DocumentError::NoIns {
            file: file.to_owned(),
        })?;
        let missing = if ins.birth_family_name.is_none() {
            Some("birth family name")
        } else if ins.first_given_name.is_none() {
            Some("first birth given name")
        } else if ins.gender.is_none() {
            Some("gender")
        } else if ins.birth_date.is_none() {
            Some("birth date")
        } else if ins.birthplace.is_none() {
            Some("birthplace")
        } else {
            None
        };
        match missing {
            Some(m) => Err(DocumentError::InsIncomplete {
                file: file.to_owned(),
                missing: m,
            }),
            None => Ok(ins),
        }
    }
}

/// INS and traits read from a CDA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadIns {
    /// INS root OID.
    pub root: String,
    /// Matricule.
    pub matricule: String,
    /// `family[@qualifier='BR']`.
    pub birth_family_name: Option<String>,
    /// `given[@qualifier='BR']`.
    pub first_given_name: Option<String>,
    /// Unqualified `given` (all birth given names).
    pub birth_given_names: Option<String>,
    /// administrativeGenderCode.
    pub gender: Option<String>,
    /// birthTime.
    pub birth_date: Option<String>,
    /// birthplace county (INSEE).
    pub birthplace: Option<String>,
}

/// Author read from a CDA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadAuthor {
    /// `assignedAuthor/id` (root, extension).
    pub id: Option<(String, String)>,
    /// Family name.
    pub family_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// `assignedAuthor/code`.
    pub specialty: Option<XdsCode>,
    /// Organisation id (Struct_IdNat).
    pub organization_id: Option<String>,
    /// Organisation name.
    pub organization_name: Option<String>,
}

struct CdEntry {
    name: String,
    method: u16,
    compressed: u64,
    size: u64,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn zip_err(reason: &str) -> DocumentError {
    DocumentError::ZipRead(reason.to_owned())
}

/// Walks the central directory ourselves: the zip crate silently keeps one of two entries with
/// the same name, so duplicates, names and declared sizes are checked here first.
fn scan_central_directory(bytes: &[u8], limits: &XdmLimits) -> Result<Vec<CdEntry>, DocumentError> {
    const EOCD: u32 = 0x0605_4b50;
    const CDH: u32 = 0x0201_4b50;
    if bytes.len() < 22 {
        return Err(zip_err("too short"));
    }
    let lowest = bytes.len().saturating_sub(22 + 65535);
    let eocd = (lowest..=bytes.len() - 22)
        .rev()
        .find(|&i| le32(bytes, i) == Some(EOCD))
        .ok_or_else(|| zip_err("no end of central directory"))?;
    let total = le16(bytes, eocd + 10).ok_or_else(|| zip_err("truncated"))? as usize;
    let cd_size = le32(bytes, eocd + 12).ok_or_else(|| zip_err("truncated"))? as usize;
    let cd_off = le32(bytes, eocd + 16).ok_or_else(|| zip_err("truncated"))? as usize;
    if total == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_off == 0xFFFF_FFFF {
        return Err(DocumentError::LimitExceeded {
            what: "zip64 archive",
        });
    }
    if total > limits.max_entries {
        return Err(DocumentError::LimitExceeded {
            what: "number of entries",
        });
    }
    let cd = bytes
        .get(cd_off..cd_off.saturating_add(cd_size))
        .ok_or_else(|| zip_err("central directory out of bounds"))?;
    let mut entries = Vec::with_capacity(total);
    let mut seen = HashSet::with_capacity(total);
    let mut pos = 0usize;
    let (mut sum_size, mut sum_compressed) = (0u64, 0u64);
    for index in 0..total {
        if le32(cd, pos) != Some(CDH) {
            return Err(zip_err("bad central directory entry"));
        }
        let made_by = le16(cd, pos + 4).ok_or_else(|| zip_err("truncated"))?;
        let flags = le16(cd, pos + 8).ok_or_else(|| zip_err("truncated"))?;
        let method = le16(cd, pos + 10).ok_or_else(|| zip_err("truncated"))?;
        let compressed = le32(cd, pos + 20).ok_or_else(|| zip_err("truncated"))? as u64;
        let size = le32(cd, pos + 24).ok_or_else(|| zip_err("truncated"))? as u64;
        let name_len = le16(cd, pos + 28).ok_or_else(|| zip_err("truncated"))? as usize;
        let extra_len = le16(cd, pos + 30).ok_or_else(|| zip_err("truncated"))? as usize;
        let comment_len = le16(cd, pos + 32).ok_or_else(|| zip_err("truncated"))? as usize;
        let ext_attr = le32(cd, pos + 38).ok_or_else(|| zip_err("truncated"))?;
        let raw_name = cd
            .get(pos + 46..pos + 46 + name_len)
            .ok_or_else(|| zip_err("truncated name"))?;
        pos += 46 + name_len + extra_len + comment_len;
        if flags & 1 != 0 {
            return Err(zip_err("encrypted entry"));
        }
        if compressed == 0xFFFF_FFFF || size == 0xFFFF_FFFF {
            return Err(DocumentError::LimitExceeded {
                what: "zip64 entry",
            });
        }
        if method != 0 && method != 8 {
            return Err(zip_err("compression method other than stored or deflate"));
        }
        let name = check_name(index, raw_name)?;
        // Unix symlinks: S_IFLNK in the high half of the external attributes.
        if made_by >> 8 == 3 && (ext_attr >> 16) & 0o170000 == 0o120000 {
            return Err(DocumentError::SpecialEntry { index });
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(DocumentError::DuplicateEntry { index });
        }
        // Declared compressed sizes must fit in the archive: this bounds every declared size
        // by max_ratio times the input length before anything is allocated or inflated.
        if compressed > bytes.len() as u64 {
            return Err(zip_err("entry larger than the archive"));
        }
        if size > compressed.max(1).saturating_mul(limits.max_ratio) {
            return Err(DocumentError::LimitExceeded {
                what: "compression ratio",
            });
        }
        sum_size = sum_size.saturating_add(size);
        sum_compressed = sum_compressed.saturating_add(compressed);
        if sum_size > limits.max_total_size {
            return Err(DocumentError::LimitExceeded {
                what: "total uncompressed size",
            });
        }
        entries.push(CdEntry {
            name,
            method,
            compressed,
            size,
        });
    }
    if sum_compressed > bytes.len() as u64 {
        return Err(zip_err("entries larger than the archive"));
    }
    if sum_size > sum_compressed.max(1).saturating_mul(limits.max_ratio) {
        return Err(DocumentError::LimitExceeded {
            what: "compression ratio",
        });
    }
    Ok(entries)
}

fn check_name(index: usize, raw: &[u8]) -> Result<String, DocumentError> {
    let bad = |reason| DocumentError::UnsafeEntryName { index, reason };
    let name = std::str::from_utf8(raw).map_err(|_| bad("not UTF-8"))?;
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.starts_with('/') {
        return Err(bad("absolute path"));
    }
    if name.contains('\\') {
        return Err(bad("backslash"));
    }
    if name.contains(':') {
        return Err(bad("drive letter or colon"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(bad("control character"));
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for part in trimmed.split('/') {
        if part.is_empty() {
            return Err(bad("empty path component"));
        }
        if part == ".." || part == "." {
            return Err(bad("dot path component"));
        }
    }
    Ok(name.to_owned())
}

/// Reads an XDM package. See the module documentation for what is checked.
pub fn read_package(bytes: &[u8], limits: &XdmLimits) -> Result<XdmPackage, DocumentError> {
    let cd = scan_central_directory(bytes, limits)?;
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_err(&e.to_string()))?;
    if archive.len() != cd.len() {
        return Err(zip_err("central directory inconsistent"));
    }
    // Case-insensitive index of the entries.
    let by_name: HashMap<String, usize> = cd
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.to_ascii_lowercase(), i))
        .collect();

    // Subsets: IHE_XDM/<dir>/METADATA.XML, any case, in archive order.
    let mut subsets = Vec::new();
    for e in &cd {
        let lower = e.name.to_ascii_lowercase();
        let mut parts = lower.split('/');
        if let (Some("ihe_xdm"), Some(dir), Some("metadata.xml"), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
            && !dir.is_empty()
        {
            subsets.push(e.name[..e.name.len() - "/METADATA.XML".len()].to_owned());
        }
    }
    if subsets.is_empty() {
        return Err(DocumentError::NoMetadata);
    }

    let mut read_entry = |index: usize| -> Result<Vec<u8>, DocumentError> {
        let entry = &cd[index];
        let mut f = archive
            .by_index(index)
            .map_err(|e| zip_err(&e.to_string()))?;
        if f.name_raw() != entry.name.as_bytes()
            || f.size() != entry.size
            || f.compressed_size() != entry.compressed
            || (entry.method == 0) != (f.compression() == zip::CompressionMethod::Stored)
        {
            return Err(zip_err("local header disagrees with central directory"));
        }
        let data = read_bounded(&mut f, entry.size).map_err(|e| zip_err(&e.to_string()))?;
        if data.len() as u64 != entry.size {
            return Err(DocumentError::LimitExceeded {
                what: "entry size differs from the declared size",
            });
        }
        Ok(data)
    };

    let mut out = Vec::with_capacity(subsets.len());
    let mut package_patient: Option<(String, String)> = None;
    for dir in subsets {
        let meta_name = format!("{dir}/METADATA.XML");
        let meta_idx = by_name
            .get(&meta_name.to_ascii_lowercase())
            .copied()
            .ok_or(DocumentError::NoMetadata)?;
        let meta_bytes = read_entry(meta_idx)?;
        let meta = parse_metadata(&meta_name, &meta_bytes, limits)?;
        let set_patient =
            parse_cx(&meta.set.patient_id).ok_or_else(|| DocumentError::InvalidMetadata {
                file: meta_name.clone(),
                reason: "submission set patientId is not a CX".to_owned(),
            })?;
        match &package_patient {
            None => package_patient = Some(set_patient.clone()),
            Some(p) if *p != set_patient => return Err(DocumentError::SeveralPatients),
            Some(_) => {}
        }
        let mut documents = Vec::with_capacity(meta.entries.len());
        for mut d in meta.entries {
            if parse_cx(&d.patient_id).as_ref() != Some(&set_patient) {
                return Err(DocumentError::SeveralPatients);
            }
            if d.uri.split('/').any(|p| p == ".." || p.is_empty()) || d.uri.contains('\\') {
                return Err(DocumentError::InvalidMetadata {
                    file: meta_name.clone(),
                    reason: "URI is not a relative file name".to_owned(),
                });
            }
            let path = format!("{dir}/{}", d.uri);
            let idx = by_name
                .get(&path.to_ascii_lowercase())
                .copied()
                .ok_or_else(|| DocumentError::MissingDocument { uri: d.uri.clone() })?;
            let content = read_entry(idx)?;
            if content.len() as u64 != d.size {
                return Err(DocumentError::SizeMismatch { uri: d.uri.clone() });
            }
            if !sha1_hex(&content).eq_ignore_ascii_case(&d.hash) {
                return Err(DocumentError::HashMismatch { uri: d.uri.clone() });
            }
            if looks_like_xml(&d.mime_type, &content) {
                let (header, pdf) = parse_cda(&path, &content, limits)?;
                if let Some(h) = &header {
                    check_cda_patient(h, &set_patient)?;
                }
                d.cda = header;
                d.pdf = pdf;
            }
            d.content = content;
            documents.push(d);
        }
        out.push(XdmSubset {
            path: dir,
            submission_set: meta.set,
            documents,
        });
    }
    let patient_id = out
        .first()
        .map(|s| s.submission_set.patient_id.clone())
        .unwrap_or_default();
    Ok(XdmPackage {
        patient_id,
        subsets: out,
    })
}

fn looks_like_xml(mime: &str, content: &[u8]) -> bool {
    mime.eq_ignore_ascii_case("text/xml")
        || mime.eq_ignore_ascii_case("application/xml")
        || content.starts_with(b"<?xml")
}

/// `id^^^&root&ISO^type` → (id, root).
fn parse_cx(cx: &str) -> Option<(String, String)> {
    let mut comps = cx.split('^');
    let id = comps.next()?.trim();
    let authority = comps.nth(2)?;
    let root = authority.split('&').nth(1)?.trim();
    if id.is_empty() || root.is_empty() {
        return None;
    }
    Some((id.to_owned(), root.to_owned()))
}

fn check_cda_patient(h: &CdaHeader, set: &(String, String)) -> Result<(), DocumentError> {
    if h.patient_ids.is_empty() {
        return Ok(());
    }
    let mut matched = false;
    for (root, ext) in &h.patient_ids {
        if *root == set.1 {
            if *ext != set.0 {
                return Err(DocumentError::SeveralPatients);
            }
            matched = true;
        } else if INS_ROOTS.contains(&root.as_str()) && INS_ROOTS.contains(&set.1.as_str()) {
            // Another INS of another kind (NIR vs NIA) cannot be checked: must be the same person.
            return Err(DocumentError::SeveralPatients);
        }
    }
    if matched {
        Ok(())
    } else {
        Err(DocumentError::SeveralPatients)
    }
}

// ---- XML ----

fn parse_xml<'a>(
    file: &str,
    bytes: &'a [u8],
    limits: &XdmLimits,
) -> Result<Document<'a>, DocumentError> {
    let invalid = |reason: &str| DocumentError::InvalidXml {
        file: file.to_owned(),
        reason: reason.to_owned(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // No DTD at all, not even an empty one: entities are refused before parsing.
    if text.contains("<!DOCTYPE") || text.contains("<!ENTITY") {
        return Err(invalid("DTD or entity declaration"));
    }
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.max_xml_nodes,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => invalid("too many nodes"),
        _ => invalid("malformed"),
    })?;
    // Depth of each node from its parent's, in document order: linear, no recursion.
    let mut depths = vec![0u16; doc.descendants().count() + 1];
    for n in doc.descendants().filter(|n| n.is_element()) {
        let parent = n.parent().map_or(0, |p| depths[p.id().get() as usize]);
        let d = parent.saturating_add(1);
        if d as usize > limits.max_xml_depth {
            return Err(invalid("nested too deeply"));
        }
        depths[n.id().get() as usize] = d;
    }
    Ok(doc)
}

fn children<'a, 'i>(
    n: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(move |c| {
        c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(ns)
    })
}

fn child<'a, 'i>(n: Node<'a, 'i>, ns: &'a str, name: &'a str) -> Option<Node<'a, 'i>> {
    children(n, ns, name).next()
}

fn path<'a, 'i>(n: Node<'a, 'i>, ns: &'a str, names: &[&'a str]) -> Option<Node<'a, 'i>> {
    names.iter().try_fold(n, |cur, name| child(cur, ns, name))
}

fn text_of(n: Option<Node<'_, '_>>) -> Option<String> {
    let t: String = n?.text()?.trim().to_owned();
    (!t.is_empty()).then_some(t)
}

struct Metadata {
    set: ReadSubmissionSet,
    entries: Vec<ReadDocument>,
}

fn parse_metadata(file: &str, bytes: &[u8], limits: &XdmLimits) -> Result<Metadata, DocumentError> {
    let doc = parse_xml(file, bytes, limits)?;
    let bad = |reason: &str| DocumentError::InvalidMetadata {
        file: file.to_owned(),
        reason: reason.to_owned(),
    };
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(xds::NS_LCM)
        || root.tag_name().name() != "SubmitObjectsRequest"
    {
        return Err(bad("root is not an ebRS 3.0 lcm:SubmitObjectsRequest"));
    }
    let list = child(root, xds::NS_RIM, "RegistryObjectList")
        .ok_or_else(|| bad("no rim:RegistryObjectList"))?;

    // Classifications and ExternalIdentifiers may be nested or top level: index them by target.
    let mut classifications: HashMap<&str, Vec<Node<'_, '_>>> = HashMap::new();
    let mut identifiers: HashMap<&str, Vec<Node<'_, '_>>> = HashMap::new();
    for n in list.descendants().filter(|n| n.is_element()) {
        if n.tag_name().namespace() != Some(xds::NS_RIM) {
            continue;
        }
        match n.tag_name().name() {
            "Classification" => {
                if let Some(t) = n.attribute("classifiedObject") {
                    classifications.entry(t).or_default().push(n);
                }
            }
            "ExternalIdentifier" => {
                if let Some(t) = n.attribute("registryObject") {
                    identifiers.entry(t).or_default().push(n);
                }
            }
            _ => {}
        }
    }
    let ext_id = |obj: &str, scheme: &str| -> Option<String> {
        identifiers
            .get(obj)?
            .iter()
            .find(|n| n.attribute("identificationScheme") == Some(scheme))
            .and_then(|n| n.attribute("value"))
            .map(|v| v.trim().to_owned())
    };
    let codes = |obj: &str, scheme: &str| -> Vec<XdsCode> {
        classifications
            .get(obj)
            .map(|v| {
                v.iter()
                    .filter(|n| n.attribute("classificationScheme") == Some(scheme))
                    .map(|n| XdsCode {
                        code: n.attribute("nodeRepresentation").unwrap_or("").to_owned(),
                        scheme: slot_values(*n, "codingScheme")
                            .into_iter()
                            .next()
                            .unwrap_or_default(),
                        display: path(*n, xds::NS_RIM, &["Name", "LocalizedString"])
                            .and_then(|l| l.attribute("value"))
                            .unwrap_or("")
                            .to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };

    let packages: Vec<Node<'_, '_>> = children(list, xds::NS_RIM, "RegistryPackage").collect();
    let is_set = |id: &str| {
        classifications.get(id).is_some_and(|v| {
            v.iter()
                .any(|n| n.attribute("classificationNode") == Some(xds::SUBMISSION_SET_NODE))
        })
    };
    let set_node = packages
        .iter()
        .find(|p| p.attribute("id").is_some_and(is_set))
        .or_else(|| packages.first())
        .ok_or_else(|| bad("no SubmissionSet RegistryPackage"))?;
    let set_id = set_node.attribute("id").unwrap_or("");
    let limited = classifications.get(set_id).is_some_and(|v| {
        v.iter().any(|n| {
            n.attribute("classificationNode")
                .is_some_and(|c| xds::LIMITED_METADATA.contains(&c))
        })
    });
    let set = ReadSubmissionSet {
        unique_id: ext_id(set_id, xds::SS_UNIQUE_ID),
        source_id: ext_id(set_id, xds::SS_SOURCE_ID),
        patient_id: ext_id(set_id, xds::SS_PATIENT_ID)
            .ok_or_else(|| bad("SubmissionSet without patientId"))?,
        submission_time: slot_values(*set_node, "submissionTime").into_iter().next(),
        limited_metadata: limited,
    };

    let mut entries = Vec::new();
    for eo in children(list, xds::NS_RIM, "ExtrinsicObject") {
        let id = eo
            .attribute("id")
            .ok_or_else(|| bad("ExtrinsicObject without id"))?;
        let one = |name: &str| slot_values(eo, name).into_iter().next();
        let uri = one("URI").ok_or_else(|| bad("DocumentEntry without URI"))?;
        let hash = one("hash").ok_or_else(|| bad("DocumentEntry without hash"))?;
        let size = one("size")
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("DocumentEntry without a numeric size"))?;
        entries.push(ReadDocument {
            uri,
            unique_id: ext_id(id, xds::DE_UNIQUE_ID)
                .ok_or_else(|| bad("DocumentEntry without uniqueId"))?,
            mime_type: eo.attribute("mimeType").unwrap_or("").to_owned(),
            title: path(eo, xds::NS_RIM, &["Name", "LocalizedString"])
                .and_then(|l| l.attribute("value"))
                .map(str::to_owned),
            hash,
            size,
            patient_id: ext_id(id, xds::DE_PATIENT_ID)
                .ok_or_else(|| bad("DocumentEntry without patientId"))?,
            type_code: codes(id, xds::DE_TYPE).into_iter().next(),
            class_code: codes(id, xds::DE_CLASS).into_iter().next(),
            format_code: codes(id, xds::DE_FORMAT).into_iter().next(),
            confidentiality: codes(id, xds::DE_CONFIDENTIALITY),
            content: Vec::new(),
            cda: None,
            pdf: None,
        });
    }
    if entries.is_empty() {
        return Err(bad("no DocumentEntry"));
    }
    Ok(Metadata { set, entries })
}

fn slot_values(n: Node<'_, '_>, name: &str) -> Vec<String> {
    children(n, xds::NS_RIM, "Slot")
        .filter(|s| s.attribute("name") == Some(name))
        .flat_map(|s| {
            child(s, xds::NS_RIM, "ValueList")
                .into_iter()
                .flat_map(|vl| children(vl, xds::NS_RIM, "Value"))
                .filter_map(|v| text_of(Some(v)))
        })
        .collect()
}

fn coded(n: Option<Node<'_, '_>>) -> Option<XdsCode> {
    let n = n?;
    Some(XdsCode {
        code: n.attribute("code")?.to_owned(),
        display: n.attribute("displayName").unwrap_or("").to_owned(),
        scheme: n.attribute("codeSystem").unwrap_or("").to_owned(),
    })
}

type ParsedCda = (Option<CdaHeader>, Option<Vec<u8>>);

fn parse_cda(file: &str, bytes: &[u8], limits: &XdmLimits) -> Result<ParsedCda, DocumentError> {
    let doc = parse_xml(file, bytes, limits)?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(NS_CDA) || root.tag_name().name() != "ClinicalDocument" {
        return Ok((None, None));
    }
    let code_node = child(root, NS_CDA, "code");
    let translations = code_node
        .map(|c| {
            children(c, NS_CDA, "translation")
                .filter_map(|t| coded(Some(t)))
                .collect()
        })
        .unwrap_or_default();
    let role = path(root, NS_CDA, &["recordTarget", "patientRole"]);
    let patient_ids: Vec<(String, String)> = role
        .map(|r| {
            children(r, NS_CDA, "id")
                .filter_map(|i| {
                    Some((
                        i.attribute("root")?.trim().to_owned(),
                        i.attribute("extension")?.trim().to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let patient = role.and_then(|r| child(r, NS_CDA, "patient"));
    let ins = patient_ids
        .iter()
        .find(|(root, _)| INS_ROOTS.contains(&root.as_str()))
        .map(|(root, m)| {
            let name = patient.and_then(|p| child(p, NS_CDA, "name"));
            let qualified = |tag: &'static str, q: Option<&'static str>| {
                name.and_then(|n| {
                    children(n, NS_CDA, tag)
                        .find(|e| e.attribute("qualifier") == q)
                        .and_then(|e| text_of(Some(e)))
                })
            };
            ReadIns {
                root: root.clone(),
                matricule: m.clone(),
                birth_family_name: qualified("family", Some("BR")),
                first_given_name: qualified("given", Some("BR")),
                birth_given_names: qualified("given", None),
                gender: patient
                    .and_then(|p| child(p, NS_CDA, "administrativeGenderCode"))
                    .and_then(|g| g.attribute("code"))
                    .map(str::to_owned),
                birth_date: patient
                    .and_then(|p| child(p, NS_CDA, "birthTime"))
                    .and_then(|b| b.attribute("value"))
                    .map(str::to_owned),
                birthplace: patient.and_then(|p| {
                    text_of(path(p, NS_CDA, &["birthplace", "place", "addr", "county"]))
                }),
            }
        });
    let author = path(root, NS_CDA, &["author", "assignedAuthor"]).map(|a| {
        let person = path(a, NS_CDA, &["assignedPerson", "name"]);
        let org = child(a, NS_CDA, "representedOrganization");
        ReadAuthor {
            id: child(a, NS_CDA, "id").and_then(|i| {
                Some((
                    i.attribute("root")?.to_owned(),
                    i.attribute("extension")?.to_owned(),
                ))
            }),
            family_name: person.and_then(|p| text_of(child(p, NS_CDA, "family"))),
            given_name: person.and_then(|p| text_of(child(p, NS_CDA, "given"))),
            specialty: coded(child(a, NS_CDA, "code")),
            organization_id: org
                .and_then(|o| child(o, NS_CDA, "id"))
                .and_then(|i| i.attribute("extension"))
                .map(str::to_owned),
            organization_name: org.and_then(|o| text_of(child(o, NS_CDA, "name"))),
        }
    });
    let header = CdaHeader {
        id: child(root, NS_CDA, "id")
            .and_then(|i| i.attribute("root"))
            .map(str::to_owned),
        code: coded(code_node),
        translations,
        title: text_of(child(root, NS_CDA, "title")),
        patient_ids,
        ins,
        author,
    };
    let pdf = match path(root, NS_CDA, &["component", "nonXMLBody", "text"]) {
        Some(t) if t.attribute("mediaType") == Some("application/pdf") => {
            if t.attribute("representation") != Some("B64") {
                return Err(DocumentError::InvalidBody {
                    file: file.to_owned(),
                    reason: "PDF body not in base64",
                });
            }
            let mut clean = Vec::with_capacity(t.text().map_or(0, str::len));
            for chunk in t.children().filter(|c| c.is_text()) {
                if let Some(s) = chunk.text() {
                    clean.extend(s.bytes().filter(|b| !b.is_ascii_whitespace()));
                }
            }
            let pdf = base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .map_err(|_| DocumentError::InvalidBody {
                    file: file.to_owned(),
                    reason: "invalid base64",
                })?;
            Some(pdf)
        }
        _ => None,
    };
    Ok((Some(header), pdf))
}
