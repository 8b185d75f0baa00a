//! Compiles every contract with the vendored `protoc` (no system protoc needed).
use std::path::PathBuf;

const PROTOS: &[&str] = &["strato/embedder/v1/embedder.proto", "strato/errors/v1/errors.proto", "strato/index/v1/index.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // prost-build runs the protoc named by PROTOC; the vendored one needs no system install.
    unsafe_set_protoc(&protoc);
    let include = protoc_bin_vendored::include_path()?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // tonic-prost-build no longer emits rerun-if-changed for inputs; do it per file.
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("strato_descriptor.bin"))
        .compile_protos(&PROTOS.iter().map(PathBuf::from).collect::<Vec<_>>(), &[PathBuf::from("."), include])?;
    Ok(())
}

#[allow(unsafe_code)]
fn unsafe_set_protoc(path: &std::path::Path) {
    // Setting an env var is unsafe in edition 2024 because of other threads; a build script has none.
    unsafe { std::env::set_var("PROTOC", path) };
}
