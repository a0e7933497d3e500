//! The wallets service: `purse.wallet.v1.WalletService`.
//!
//! `grpc.rs` converts protocol messages to domain commands and every error to one precise
//! `tonic::Status`; `app.rs` wires the shard workers, projector and queries together. Rules live in
//! `purse-domain`, machinery in `purse-runtime`.

pub mod app;
mod errors;
pub mod grpc;
