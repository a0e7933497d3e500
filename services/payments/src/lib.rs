//! The payments gateway: `purse.payment.v1.PaymentsService`, the hosted checkout page and
//! provider webhooks.
//!
//! `provider.rs` holds the provider trait and the only type that ever holds a card number
//! ([`provider::CardInput`], in memory until tokenized); `simulator.rs` is the built-in test-mode
//! provider, and `simulator/pending.rs` keeps the webhooks it promised on disk until delivered;
//! `webhook.rs` the HMAC signature scheme; `http.rs` the checkout page and webhook
//! endpoint; `processor.rs` the reactions that charge stored cards, refund and cancel at the
//! provider; `grpc.rs` (handlers) and `convert.rs` (proto ↔ domain) the gRPC edge, whose errors
//! become statuses through the engine's one mapping (`purse_runtime::edge`); `app.rs` the
//! wiring. Rules live in `purse-domain`, machinery in `purse-runtime`.

pub mod app;
mod convert;
mod gateway;
pub mod grpc;
pub mod http;
pub mod processor;
pub mod provider;
pub mod simulator;
pub mod webhook;
