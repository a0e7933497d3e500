//! Retrying a call whose outcome is unknown. Every mutating request carries its idempotency
//! key, so sending the same request again either does the work once or replays the first
//! outcome; a definite answer (success or rejection) is never retried.

use std::future::Future;
use std::time::Duration;

use tonic::{Code, Status};

/// Whether a status code leaves the outcome unknown: the server was not reached
/// (UNAVAILABLE: a starting or restarting instance, a cluster still settling its consumer
/// groups) or did not finish in time (DEADLINE_EXCEEDED). Every other code is an answer.
pub fn outcome_unknown(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::DeadlineExceeded)
}

/// An error that may go away when the same request is sent again.
pub trait Retryable {
    /// Whether sending the same request again is safe and may succeed.
    fn is_retryable(&self) -> bool;
}

impl Retryable for Status {
    fn is_retryable(&self) -> bool {
        outcome_unknown(self.code())
    }
}

/// How often and how patiently [`retry`] sends a call again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts_max: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub backoff_initial: Duration,
    /// Ceiling of the doubled wait.
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// A few quick retries, for tools that report a failure rather than wait: 4 attempts,
    /// 200 ms, 400 ms and 800 ms apart.
    pub const BRIEF: RetryPolicy = RetryPolicy {
        attempts_max: 4,
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_millis(800),
    };

    /// The wait after failed attempt `attempt` (1-based).
    fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.backoff_initial
            .saturating_mul(1 << doublings)
            .min(self.backoff_max)
    }
}

/// Makes `call` until it succeeds, fails with an error that is not [`Retryable`], or
/// `policy.attempts_max` attempts are spent; returns the last outcome. `call` must send the
/// same request each time (same idempotency key): that is what makes the retry safe.
pub async fn retry<T, E, F, Fut>(policy: &RetryPolicy, mut call: F) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(err) if err.is_retryable() && attempt < policy.attempts_max => {
                tokio::time::sleep(policy.backoff(attempt)).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientError;

    const QUICK: RetryPolicy = RetryPolicy {
        attempts_max: 3,
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(2),
    };

    #[test]
    fn unknown_outcomes_are_unavailable_and_deadline_exceeded_only() {
        for code in [Code::Unavailable, Code::DeadlineExceeded] {
            assert!(outcome_unknown(code), "{code:?}");
            assert!(ClientError::from(Status::new(code, "x")).is_retryable());
        }
        for code in [
            Code::Ok,
            Code::Cancelled,
            Code::Unknown,
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::ResourceExhausted,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::Internal,
            Code::Unauthenticated,
        ] {
            assert!(!outcome_unknown(code), "{code:?}");
            assert!(!Status::new(code, "x").is_retryable(), "{code:?}");
        }
        assert!(ClientError::Timeout { timeout_ms: 1 }.is_retryable());
        assert!(!ClientError::InvalidToken.is_retryable());
    }

    #[tokio::test]
    async fn retries_unknown_outcomes_boundedly_with_the_same_request() {
        let mut keys = Vec::new();
        let request = "key-1".to_owned();
        let result: Result<(), Status> = retry(&QUICK, || {
            keys.push(request.clone());
            async { Err(Status::unavailable("starting")) }
        })
        .await;
        assert_eq!(result.unwrap_err().code(), Code::Unavailable);
        assert_eq!(keys, ["key-1", "key-1", "key-1"]);
    }

    #[tokio::test]
    async fn stops_at_an_answer() {
        let mut attempts = 0;
        let result: Result<(), Status> = retry(&QUICK, || {
            attempts += 1;
            async { Err(Status::failed_precondition("insufficient funds")) }
        })
        .await;
        assert_eq!(result.unwrap_err().code(), Code::FailedPrecondition);
        assert_eq!(attempts, 1);

        let mut attempts = 0;
        let result = retry(&QUICK, || {
            attempts += 1;
            let outcome = if attempts == 1 {
                Err(Status::deadline_exceeded("slow"))
            } else {
                Ok(attempts)
            };
            async move { outcome }
        })
        .await;
        assert_eq!(result.unwrap(), 2);
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let waits: Vec<_> = (1..=5).map(|a| RetryPolicy::BRIEF.backoff(a)).collect();
        assert_eq!(
            waits,
            [200, 400, 800, 800, 800]
                .map(Duration::from_millis)
                .to_vec()
        );
    }
}
