//! Compiles the wire contract with `protox` (pure Rust, no system `protoc`) and generates
//! prost messages plus tonic clients and servers. The descriptor set is kept for gRPC
//! server reflection.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

const PROTOS: &[&str] = &[
    "tekton/results/v1alpha2/resources.proto",
    "tekton/results/v1alpha2/api.proto",
    "tekton/results/v1alpha2/logs.proto",
    "tekton/results/v1alpha2/watch.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("results_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::ProstCodec")
        .compile_fds(fds)?;
    Ok(())
}
