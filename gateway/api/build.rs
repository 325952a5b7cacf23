//! Generates the prost/tonic code and the pbjson (canonical proto3 JSON) impls from proto/.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "passerelle/v1/common.proto",
        "passerelle/v1/child.proto",
        "passerelle/v1/documents.proto",
        "passerelle/v1/decision.proto",
        "passerelle/v1/transmission.proto",
        "passerelle/v1/inbox.proto",
        "passerelle/v1/admin.proto",
    ];
    let protos: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    // A protoc shipped in a crate keeps the build self-contained on a fresh machine; an explicit
    // PROTOC still wins.
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        let include = protoc_bin_vendored::include_path()?;
        return build(&[root, include], &protos, Some(protoc));
    }
    println!("cargo:rerun-if-env-changed=PROTOC");
    build(&[root], &protos, None)
}

fn build(
    includes: &[PathBuf],
    protos: &[PathBuf],
    protoc: Option<PathBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor = out.join("passerelle_descriptor.bin");
    let mut config = tonic_prost_build::Config::new();
    if let Some(p) = protoc {
        config.protoc_executable(p);
    }
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    tonic_prost_build::configure()
        .build_server(grpc)
        .build_client(grpc)
        .file_descriptor_set_path(&descriptor)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .bytes(".")
        .compile_with_config(config, protos, includes)?;
    let set = std::fs::read(&descriptor)?;
    pbjson_build::Builder::new()
        .register_descriptors(&set)?
        .build(&[".passerelle"])?;
    Ok(())
}
