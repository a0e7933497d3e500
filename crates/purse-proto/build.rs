//! Generates the gRPC and event types from `proto/` with a vendored `protoc`, so a fresh machine
//! needs no system protobuf compiler.

use std::path::PathBuf;

const PROTO_ROOT: &str = "../../proto";
const PROTO_FILES: &[&str] = &[
    "../../proto/purse/wallet/v1/wallet.proto",
    "../../proto/purse/event/v1/event.proto",
    "../../proto/purse/event/v1/payment_method_events.proto",
    "../../proto/purse/event/v1/top_up_events.proto",
    "../../proto/purse/event/v1/payment_events.proto",
    "../../proto/purse/event/v1/top_up_saga_events.proto",
    "../../proto/purse/event/v1/auto_top_up_events.proto",
    "../../proto/purse/event/v1/transaction_events.proto",
    "../../proto/purse/topup/v1/topup.proto",
    "../../proto/purse/payment/v1/payment.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut prost_config = tonic_prost_build::Config::new();
    prost_config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("purse_descriptor.bin"))
        .compile_with_config(prost_config, PROTO_FILES, &[PROTO_ROOT])?;
    // Proto3 JSON mapping (lowerCamelCase names, 64-bit integers as strings, enums by name) from
    // the same descriptors, so every JSON form of a message follows the schema. Fields at their
    // default value are written too: a script reading `replayed` or `next_page_token` finds them.
    let descriptors = std::fs::read(out_dir.join("purse_descriptor.bin"))?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .emit_fields()
        .build(&[".purse"])?;
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    Ok(())
}
