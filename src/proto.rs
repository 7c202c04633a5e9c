//! The generated protobuf types and services of `switchboard.v1`, and the
//! descriptor pool they reflect on (used by gRPC reflection, the Socket.IO JSON
//! mapping and phone-number masking).

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;

/// The encoded `FileDescriptorSet` of every `.proto` in `proto/`, as compiled by `build.rs`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/switchboard_descriptor.bin"));

/// The descriptors of every switchboard message, decoded once.
pub static DESCRIPTOR_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(FILE_DESCRIPTOR_SET)
        .expect("the descriptor set compiled by build.rs decodes")
});

/// `switchboard.v1`: every message, enum and service of the contract.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/switchboard.v1.rs"));
}
