//! Pure MSSanté protocol code: MIME build, DSN/MDN parsing, notification correlation
#![forbid(unsafe_code)]
