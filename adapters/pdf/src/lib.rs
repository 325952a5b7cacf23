//! Pure PDF/A-1b renderer for the structured child-protection documents
#![forbid(unsafe_code)]
