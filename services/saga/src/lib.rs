//! The saga coordinator service.
