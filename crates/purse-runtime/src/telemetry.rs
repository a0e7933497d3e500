//! Logging and traces: `tracing` with an env-style filter, to stderr (stdout is for what a
//! binary prints for people and scripts, such as the endpoint and development token).

use tracing_subscriber::EnvFilter;

/// Why telemetry could not start.
#[derive(thiserror::Error, Debug)]
pub enum TelemetryError {
    /// The filter does not parse.
    #[error("invalid log filter {filter:?}: {source}")]
    Filter {
        /// The filter text.
        filter: String,
        /// Why.
        source: tracing_subscriber::filter::ParseError,
    },
}

/// Installs the global subscriber with `filter` (e.g. `info,purse_runtime=debug`).
pub fn init(filter: &str) -> Result<(), TelemetryError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|source| TelemetryError::Filter {
        filter: filter.to_owned(),
        source,
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
