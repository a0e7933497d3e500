//! Generated protobuf and gRPC code for Purse, with serde impls in the proto3 JSON mapping
//! (pbjson). Conversions to domain types live at the edges (each service's `grpc.rs` and
//! `purse-streams`' event codecs), never here.

#![allow(unreachable_pub, clippy::all, missing_docs)]

/// `purse.wallet.v1`: the wallet service.
pub mod wallet {
    pub mod v1 {
        tonic::include_proto!("purse.wallet.v1");
        include!(concat!(env!("OUT_DIR"), "/purse.wallet.v1.serde.rs"));
    }
}

/// `purse.topup.v1`: the top-up service.
pub mod topup {
    pub mod v1 {
        tonic::include_proto!("purse.topup.v1");
        include!(concat!(env!("OUT_DIR"), "/purse.topup.v1.serde.rs"));
    }
}

/// `purse.payment.v1`: the payments gateway.
pub mod payment {
    pub mod v1 {
        tonic::include_proto!("purse.payment.v1");
        include!(concat!(env!("OUT_DIR"), "/purse.payment.v1.serde.rs"));
    }
}

/// `purse.event.v1`: the event contracts carried by the log.
pub mod event {
    pub mod v1 {
        tonic::include_proto!("purse.event.v1");
        include!(concat!(env!("OUT_DIR"), "/purse.event.v1.serde.rs"));
    }
}

/// Encoded file descriptor set of every Purse proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("purse_descriptor");

/// The canonical upper-case name of a gRPC status code (`FAILED_PRECONDITION`), as the gRPC
/// specification spells it; tonic only offers prose descriptions.
pub fn status_code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
