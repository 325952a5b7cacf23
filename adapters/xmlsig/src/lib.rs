//! Pure XML signatures: exclusive c14n, enveloped XML-DSig, XAdES, the DMP VIHF assertion
#![forbid(unsafe_code)]
