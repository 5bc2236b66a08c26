use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("users.bin"))
        .compile_protos(&["proto/users.proto"], &["proto"])?;
    Ok(())
}
