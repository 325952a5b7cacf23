//! Pure document layer: CDA R2 N1, XDS ebRIM metadata, IHE XDM packages (writer and hardened reader).
//!
//! - [`catalogue`]: document kinds (policy.md §3) and national code look-ups.
//! - [`render_document`]: one document → its CDA bytes + XDS DocumentEntry, for a [`Profile`]
//!   (MSSanté or DMP); the header values come from one resolver ([`header::resolve`]).
//! - [`metadata`]: SubmissionSet and `lcm:SubmitObjectsRequest` (METADATA.XML, ITI-41 body),
//!   DMP signature-document entry.
//! - [`xdm`]: `IHE_XDM.zip` writer (STORED) and hardened reader ([`read_xdm`]).
//!
//! No I/O, no clock, no randomness: time and ids are inputs; output bytes are deterministic.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalogue;
mod cda;
pub mod codes;
pub mod context;
pub mod error;
pub mod header;
pub mod metadata;
pub mod read;
mod tables;
pub mod xdm;
mod xml;

pub use context::{
    Address, Author, DmpVisibility, DocumentContext, DocumentIds, Profile, Replaced, Tenant,
    author_specialty,
};
pub use error::{AnsErrorCode, DocumentError};
pub use metadata::{
    DocumentEntry, IdStyle, RenderedDocument, SubmissionSet, XdsAuthor, XdsCode, build_cda,
    metadata_xml, render_document, signature_entry, submit_objects_request,
};
pub use read::{XdmLimits, XdmPackage};
pub use xdm::{XdmSender, build_xdm, read_xdm};
