//! Read connections. In WAL mode readers never block the writer nor each other, so reads run on
//! their own connections, off the async threads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;

use super::configure_common;
use crate::LogError;

/// A small pool of read-only connections to the log file.
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Idle connections kept open; more may exist briefly under load and are closed on return.
    idle_max: usize,
}

impl Readers {
    pub(crate) fn new(path: PathBuf, idle_max: usize) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            idle_max,
        }
    }

    /// Runs `f` on a read connection in the blocking pool.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, LogError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, LogError> + Send + 'static,
    {
        let this = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let conn = this.take()?;
            let result = f(&conn);
            this.give_back(conn);
            result
        });
        match task.await {
            Ok(result) => result,
            // A panic in a query is a bug: surface it where it happened rather than as an error.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(LogError::Closed),
        }
    }

    fn take(&self) -> Result<Connection, LogError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => {
                let conn = Connection::open(&self.path)?;
                configure_common(&conn)?;
                // Readers must never write, even by mistake.
                conn.pragma_update(None, "query_only", true)?;
                Ok(conn)
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.idle_max {
            idle.push(conn);
        }
    }
}
