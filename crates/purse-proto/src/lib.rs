//! Generated protobuf and gRPC code for Purse. Conversions to domain types live at the edges
//! (each service's `grpc.rs` and `purse-runtime`'s event codec), never here.

#![allow(unreachable_pub, clippy::all, missing_docs)]

/// `purse.wallet.v1`: the wallet service.
pub mod wallet {
    pub mod v1 {
        tonic::include_proto!("purse.wallet.v1");
    }
}

/// `purse.topup.v1`: the top-up service.
pub mod topup {
    pub mod v1 {
        tonic::include_proto!("purse.topup.v1");
    }
}

/// `purse.payment.v1`: the payments gateway.
pub mod payment {
    pub mod v1 {
        tonic::include_proto!("purse.payment.v1");
    }
}

/// `purse.event.v1`: the event contracts carried by the log.
pub mod event {
    pub mod v1 {
        tonic::include_proto!("purse.event.v1");
    }
}

/// Encoded file descriptor set of every Purse proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("purse_descriptor");
