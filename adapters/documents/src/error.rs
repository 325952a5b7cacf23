//! The crate's single error type. Messages name the field and the reason, never personal data.

/// ANS `applicationErrorCondition` code an error maps to when it is reported back to an MSSanté
/// sender (mssante.md §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnsErrorCode {
    /// 903: the document carries no INS.
    NoIns,
    /// 905: the INS is incomplete (traits missing).
    InsIncomplete,
    /// 906: anything else (zip, metadata, hash, several patients...).
    Other,
}

impl AnsErrorCode {
    /// The numeric code as written in an MDN (`906^...`).
    pub fn code(self) -> u16 {
        match self {
            AnsErrorCode::NoIns => 903,
            AnsErrorCode::InsIncomplete => 905,
            AnsErrorCode::Other => 906,
        }
    }
}

/// Every failure of the document layer, for building and for reading.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    // ---- building ----
    /// A required input field is empty or malformed.
    #[error("invalid input field `{field}`: {reason}")]
    InvalidInput {
        /// Dotted path of the field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The document kind cannot be rendered for this channel profile.
    #[error("document kind {kind} not allowed for profile {profile}: {reason}")]
    KindNotAllowed {
        /// Local code of the kind.
        kind: &'static str,
        /// `MSSANTE` or `DMP`.
        profile: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// Building the zip archive failed.
    #[error("zip writing failed: {0}")]
    ZipWrite(String),

    // ---- reading an incoming XDM package (all map to ANS 906 unless stated) ----
    /// The archive is not a readable zip.
    #[error("xdm: not a readable zip archive: {0}")]
    ZipRead(String),
    /// An archive limit was exceeded (entries, total size, ratio, entry size).
    #[error("xdm: limit exceeded: {what}")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
    },
    /// An entry name is unsafe (absolute, `..`, backslash, drive letter, control character).
    #[error("xdm: unsafe entry name at index {index}: {reason}")]
    UnsafeEntryName {
        /// Index of the entry in the central directory.
        index: usize,
        /// Why.
        reason: &'static str,
    },
    /// Two entries with the same name (case-insensitively).
    #[error("xdm: duplicate entry name at index {index}")]
    DuplicateEntry {
        /// Index of the second occurrence.
        index: usize,
    },
    /// Symbolic link or other special entry.
    #[error("xdm: special entry (symlink) at index {index}")]
    SpecialEntry {
        /// Index of the entry.
        index: usize,
    },
    /// No `IHE_XDM/SUBSETnn/METADATA.XML` in the archive.
    #[error("xdm: no IHE_XDM/SUBSETnn/METADATA.XML")]
    NoMetadata,
    /// A metadata or CDA document is not acceptable XML (DTD, entities, too deep, malformed).
    #[error("xdm: {file}: invalid XML: {reason}")]
    InvalidXml {
        /// Which file (entry name inside the package, never a user path).
        file: String,
        /// Why.
        reason: String,
    },
    /// The metadata is not ebRS 3.0 or misses a required element.
    #[error("xdm: {file}: invalid metadata: {reason}")]
    InvalidMetadata {
        /// Which file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A document named by the metadata is missing from the archive.
    #[error("xdm: document {uri} named by the metadata is missing")]
    MissingDocument {
        /// The URI slot value.
        uri: String,
    },
    /// The SHA-1 of a document differs from its `hash` slot.
    #[error("xdm: hash mismatch for {uri}")]
    HashMismatch {
        /// The URI slot value.
        uri: String,
    },
    /// The size of a document differs from its `size` slot.
    #[error("xdm: size mismatch for {uri}")]
    SizeMismatch {
        /// The URI slot value.
        uri: String,
    },
    /// Several patients in one package (set, entries and CDA must name one person).
    #[error("xdm: more than one patient in the package")]
    SeveralPatients,
    /// A CDA names no INS.
    #[error("xdm: {file}: no INS in the CDA recordTarget")]
    NoIns {
        /// Which file.
        file: String,
    },
    /// A CDA names an INS without the traits it requires.
    #[error("xdm: {file}: INS traits incomplete: {missing}")]
    InsIncomplete {
        /// Which file.
        file: String,
        /// Which trait is missing.
        missing: &'static str,
    },
    /// The CDA body is not an N1 PDF (missing or not base64).
    #[error("xdm: {file}: no readable N1 PDF body: {reason}")]
    InvalidBody {
        /// Which file.
        file: String,
        /// Why.
        reason: &'static str,
    },
}

impl DocumentError {
    /// The ANS error code to report to the sender of an incoming package.
    pub fn ans_code(&self) -> AnsErrorCode {
        match self {
            DocumentError::NoIns { .. } => AnsErrorCode::NoIns,
            DocumentError::InsIncomplete { .. } => AnsErrorCode::InsIncomplete,
            _ => AnsErrorCode::Other,
        }
    }

    pub(crate) fn input(field: &'static str, reason: impl Into<String>) -> Self {
        DocumentError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
