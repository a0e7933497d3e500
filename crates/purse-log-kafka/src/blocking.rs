//! Keeping librdkafka's blocking calls (and its blocking destructors) off the async threads.

use std::ops::Deref;

use purse_log::LogError;

/// Runs `f` on tokio's blocking pool and waits for it.
///
/// A panic in `f` is a bug: it resumes here, where it can be seen. A task cancelled because the
/// runtime is shutting down reports [`LogError::Closed`].
pub(crate) async fn run<T, F>(f: F) -> Result<T, LogError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => Ok(value),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(LogError::Closed),
    }
}

/// Drops `value` on the blocking pool when called from a runtime (librdkafka clients flush,
/// close and join threads when dropped, which can take hundreds of milliseconds), inline
/// otherwise.
pub(crate) fn drop_off_runtime<T: Send + 'static>(value: T) {
    match tokio::runtime::Handle::try_current() {
        // If the runtime is shutting down the closure is dropped unrun, which drops the value
        // here: still dropped, only not off-thread.
        Ok(handle) => drop(handle.spawn_blocking(move || drop(value))),
        Err(_) => drop(value),
    }
}

/// A librdkafka client whose destructor runs off the async threads.
pub(crate) struct Offloaded<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> Offloaded<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(Some(value))
    }

    /// The value itself, for a caller that drops it where it wants (already off the runtime).
    pub(crate) fn into_inner(mut self) -> Option<T> {
        self.0.take()
    }
}

impl<T: Send + 'static> Deref for Offloaded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // Only `Drop` takes the value out.
        self.0
            .as_ref()
            .expect("an Offloaded value is present until dropped")
    }
}

impl<T: Send + 'static> Drop for Offloaded<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            drop_off_runtime(value);
        }
    }
}
