//! Compiles `proto/` with protox (no protoc needed) into `OUT_DIR`: the prost
//! messages with `prost_reflect::ReflectMessage` derived, the tonic services,
//! and the encoded descriptor set served by gRPC reflection.

use std::{env, fs, path::PathBuf};

const PROTO_ROOT: &str = "proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let mut protos: Vec<PathBuf> = fs::read_dir("proto/switchboard/v1")?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    protos.retain(|p| p.extension().is_some_and(|ext| ext == "proto"));
    protos.sort();
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let mut compiler = protox::Compiler::new([PROTO_ROOT])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&protos)?;
    // The encoded form keeps custom options such as `(switchboard.v1.phone_number)`,
    // which the `prost_types` form would drop.
    let encoded = compiler.encode_file_descriptor_set();
    fs::write(out_dir.join("switchboard_descriptor.bin"), &encoded)?;
    let descriptor_set = compiler.file_descriptor_set();

    let pool = prost_reflect::DescriptorPool::decode(encoded.as_slice())?;
    let mut config = prost_build::Config::new();
    for message in pool.all_messages() {
        let full_name = message.full_name();
        if !full_name.starts_with("switchboard.") {
            continue;
        }
        config.type_attribute(full_name, "#[derive(::prost_reflect::ReflectMessage)]");
        config.type_attribute(
            full_name,
            format!(r#"#[prost_reflect(message_name = "{full_name}")]"#),
        );
        config.type_attribute(
            full_name,
            r#"#[prost_reflect(descriptor_pool = "crate::proto::DESCRIPTOR_POOL")]"#,
        );
    }

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .generate_default_stubs(true)
        .compile_fds_with_config(descriptor_set, config)?;
    Ok(())
}
