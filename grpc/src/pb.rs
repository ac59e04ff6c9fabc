//! Generated protobuf types, clients and servers of the wire contract. The module tree
//! mirrors the proto packages, as the generated code refers across them by `super::`.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// `google.*` packages.
pub mod google {
    /// `google.api`: the HTTP body message streamed by `Logs.GetLog`.
    pub mod api {
        tonic::include_proto!("google.api");
    }
}

/// `tekton.*` packages.
pub mod tekton {
    /// `tekton.results.*` packages.
    pub mod results {
        /// `tekton.results.v1alpha2`: the Results and Logs services.
        pub mod v1alpha2 {
            tonic::include_proto!("tekton.results.v1alpha2");
        }
    }
}

pub use tekton::results::v1alpha2;

/// Encoded `FileDescriptorSet` of every proto file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/results_descriptor.bin"));
