//! Generates the tonic/prost code from `passer/v1/*.proto` with the protoc
//! binary shipped by the `protoc-bin-vendored` crate, so a fresh clone builds
//! with cargo alone. Every `bytes` field is generated as `bytes::Bytes`.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "passer/v1/common.proto",
    "passer/v1/scheduler.proto",
    "passer/v1/node_monitor.proto",
    "passer/v1/task_source.proto",
    "passer/v1/executor.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // Every `bytes` field (payloads, outputs) is a `bytes::Bytes`: a
        // decoded message's fields are views of the receive buffer, and a
        // clone (a retry, an offer, a kept result) is a refcount bump.
        .bytes(".")
        .file_descriptor_set_path(out_dir.join("passer_descriptor.bin"))
        .compile_protos(PROTOS, &["."])?;
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
