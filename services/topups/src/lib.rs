//! The top-ups service: `purse.topup.v1.TopUpService` over the top-up shards and read models.
//!
//! `grpc.rs` holds the handlers (authorize → read the facts → convert → send → convert back),
//! `convert.rs` the proto ↔ domain conversions; errors become statuses through the engine's one
//! mapping (`purse_runtime::edge`). `app.rs` wires the command buses, the top-up shard host
//! (cluster mode) and the read store together. Rules live in `purse-domain`, machinery in `purse-runtime`.

pub mod app;
mod convert;
pub mod grpc;
