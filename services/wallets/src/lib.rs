//! The wallets service: `purse.wallet.v1.WalletService`.
//!
//! `grpc.rs` holds the handlers (authorize → convert → send → convert back), `convert.rs` the
//! proto ↔ domain conversions; errors become statuses through the engine's one mapping
//! (`purse_runtime::edge`). `app.rs` wires the shard workers, projector and queries together.
//! Rules live in `purse-domain`, machinery in `purse-runtime`.

pub mod app;
mod convert;
pub mod grpc;
