//! Pure document layer: CDA R2 N1, XDS ebRIM metadata, IHE XDM packages (writer and hardened reader)
#![forbid(unsafe_code)]
