//! Riding out transient log failures (a broker restarting) instead of stopping a worker.

use std::time::Duration;

use purse_log::LogError;
use tracing::warn;

/// First pause after a transient failure; doubled per failure up to [`MAX_RETRY_MS`].
pub(crate) const FIRST_RETRY_MS: u64 = 100;
/// Longest pause between attempts.
const MAX_RETRY_MS: u64 = 2_000;

/// Runs `attempt` until it succeeds or fails with a non-transient error, pausing (with capped
/// exponential back-off) after each transient failure. A caller blocked here is a caller whose
/// log is unreachable: its own callers time out and retry, which is what they do anyway.
pub(crate) async fn while_transient<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, LogError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LogError>>,
{
    let mut pause_ms = FIRST_RETRY_MS;
    loop {
        match attempt().await {
            Err(err) if err.is_transient() => {
                warn!(what, error = %err, retry_in_ms = pause_ms, "event log unavailable; retrying");
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                pause_ms = (pause_ms * 2).min(MAX_RETRY_MS);
            }
            result => return result,
        }
    }
}
