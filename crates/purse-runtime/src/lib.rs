//! Shared service machinery for Purse: shard workers and the command bus (write path), the
//! projector (read path), the first-writer-wins guard, the event record codec, durable timers, auth,
//! configuration and telemetry. Services stay thin: they convert protocol to domain and call here.

pub mod auth;
pub mod backend;
pub mod bus;
pub mod clock;
pub mod cluster;
pub mod codec;
pub mod config;
pub mod edge;
pub mod env;
pub mod guard;
pub mod metrics;
pub mod projector;
pub mod reactor;
mod retry;
pub mod server;
pub mod service;
pub mod shard;
pub mod status;
pub mod telemetry;
pub mod topics;
