//! Generates the KServe v2 gRPC client from `proto/kserve_v2.proto` with a pure-Rust protobuf
//! compiler (protox): nothing to install, nothing downloaded.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/kserve_v2.proto");
    let files = protox::compile(["proto/kserve_v2.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        // Tensor bytes as `Bytes`: a request reuses its conditions without copying them.
        .bytes(".inference")
        .compile_fds(files)?;
    Ok(())
}
