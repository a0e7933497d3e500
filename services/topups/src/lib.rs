//! The top-ups service: `purse.topup.v1.TopUpService` over the top-up shards and read models.
//!
//! `grpc.rs` converts protocol messages to domain commands and every error to one precise
//! `tonic::Status`; `app.rs` wires the command buses, the top-up shard host (cluster mode) and
//! the read store together. Rules live in `purse-domain`, machinery in `purse-runtime`.

pub mod app;
mod errors;
pub mod grpc;
