//! The saga coordinator service: drives top-ups to completion, expiry or failure, compensates
//! late captures, and runs auto top-ups (DESIGN §7).
//!
//! The sagas are deciders in `purse_domain::saga`, hosted like any other by shard workers (which
//! also fire their durable timers); the coordinator that feeds them and sends what they want is
//! [`coordinator`]. This crate wires both for `pursed` ([`SagaApp::start_embedded`]) and
//! for the `purse-saga` binary ([`SagaApp::start_cluster`]).

pub mod app;
pub mod coordinator;

pub use app::SagaApp;
