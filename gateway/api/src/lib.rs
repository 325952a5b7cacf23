//! Passerelle API: the generated messages and services of `proto/passerelle/v1`, with the
//! canonical proto3 JSON mapping (pbjson) shared by the gRPC and HTTP/JSON front ends.
#![forbid(unsafe_code)]

pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, clippy::unwrap_used, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/passerelle.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/passerelle.v1.serde.rs"));
}

/// Encoded `FileDescriptorSet` of the API, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/passerelle_descriptor.bin"));

pub use pbjson_types;
pub use prost;

#[cfg(test)]
mod tests {
    use super::v1::*;

    #[test]
    fn json_mapping_uses_camel_case_and_enum_names() {
        let t = Target {
            id: "t1".into(),
            channel: Channel::Mssante as i32,
            mss_address: "crip@cd93.mssante.test".into(),
            ..Default::default()
        };
        let j = serde_json::to_value(&t).expect("serialise");
        assert_eq!(j["channel"], "CHANNEL_MSSANTE");
        assert_eq!(j["mssAddress"], "crip@cd93.mssante.test");
        let back: Target = serde_json::from_value(j).expect("parse");
        assert_eq!(back, t);
    }
}
