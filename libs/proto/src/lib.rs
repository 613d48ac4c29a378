//! The gRPC contracts of every AX Valley service, generated from `proto/` at build time.
//!
//! Packages follow `axv.<domain>.v1`; `client`/`server` features keep each crate compiling
//! only the halves it uses.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// The encoded `FileDescriptorSet` of every proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/axv_descriptor.bin"));

pub mod common {
    pub mod v1 {
        tonic::include_proto!("axv.common.v1");
    }
}

pub mod vouchers {
    pub mod v1 {
        tonic::include_proto!("axv.vouchers.v1");
    }
}

pub mod pilots {
    pub mod v1 {
        tonic::include_proto!("axv.pilots.v1");
    }
}

pub mod outcomes {
    pub mod v1 {
        tonic::include_proto!("axv.outcomes.v1");
    }
}

pub mod onboarding {
    pub mod v1 {
        tonic::include_proto!("axv.onboarding.v1");
    }
}
