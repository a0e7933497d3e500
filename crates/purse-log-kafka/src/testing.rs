//! Test support (cargo feature `testing`): a real Kafka-protocol broker ([nisshi]) in a child
//! process, for this crate's tests and the end-to-end tests.
//!
//! The broker keeps its data in a SQLite file in a temporary directory it owns, so a
//! [`NisshiBroker::restart`] finds everything acknowledged before it. Its stderr goes to a file
//! in that directory ([`NisshiBroker::stderr_path`]), quoted in start-up errors.
//!
//! nisshi has no transactions (TESTING.md): use it with `transactions = false`.
//!
//! [nisshi]: https://crates.io/crates/nisshi

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tempfile::TempDir;
use tokio::time::Instant;

use crate::context::LogContext;
use crate::settings::KafkaSettings;

/// The nisshi version the tests are written against (and `scripts/install-test-tools` installs).
pub const NISSHI_VERSION: &str = "0.8.1";

/// Environment variable naming the nisshi binary, overriding the default location.
pub const NISSHI_BIN_ENV: &str = "PURSE_NISSHI_BIN";

/// How long a broker may take to answer after it was started.
pub const BROKER_READY_TIMEOUT_MS: u64 = 30_000;

/// How many free ports `start` tries when another process takes the one it picked first.
const START_ATTEMPTS: usize = 3;

/// Name of the broker's SQLite file, relative to its directory (nisshi resolves `sqlite://` URLs
/// against its working directory).
const DATA_FILE: &str = "nisshi.db";

/// Name of the file the broker's stderr goes to, in its directory.
const STDERR_FILE: &str = "nisshi.stderr.log";

/// How much of the broker's stderr an error quotes.
const STDERR_TAIL_BYTES: u64 = 4_096;

/// Why a test broker could not be started or stopped.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum BrokerError {
    /// The nisshi binary is not where it was looked for.
    #[error(
        "nisshi broker binary not found at {}: run `scripts/install-test-tools` \
         (or set {NISSHI_BIN_ENV})",
        path.display()
    )]
    BinaryMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Neither `PURSE_NISSHI_BIN` nor `HOME` is set, so there is nowhere to look.
    #[error("neither {NISSHI_BIN_ENV} nor HOME is set: cannot locate the nisshi binary")]
    NoHome,
    /// A file system or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The broker exited during start-up.
    #[error("nisshi exited during start-up ({status}); its stderr ends with:\n{stderr_tail}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// The broker did not answer a metadata request in time.
    #[error("nisshi did not answer within {waited_ms} ms; its stderr ends with:\n{stderr_tail}")]
    NotReady {
        /// How long we waited.
        waited_ms: u64,
        /// The end of its stderr.
        stderr_tail: String,
    },
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> BrokerError {
    move |source| BrokerError::Io { what, source }
}

/// Where the nisshi binary is: `$PURSE_NISSHI_BIN`, else
/// `$HOME/.cache/purse/tools/nisshi-0.8.1/bin/nisshi`. Fails if it is not there.
pub fn nisshi_binary() -> Result<PathBuf, BrokerError> {
    let path = match std::env::var_os(NISSHI_BIN_ENV) {
        Some(path) => PathBuf::from(path),
        None => {
            let home = std::env::var_os("HOME").ok_or(BrokerError::NoHome)?;
            PathBuf::from(home)
                .join(".cache/purse/tools")
                .join(format!("nisshi-{NISSHI_VERSION}"))
                .join("bin/nisshi")
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(BrokerError::BinaryMissing { path })
    }
}

/// A nisshi broker on a loopback port, killed when dropped.
#[derive(Debug)]
pub struct NisshiBroker {
    binary: PathBuf,
    /// Working directory of the broker: its data file and stderr log. Removed on drop, after
    /// the child was killed.
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl NisshiBroker {
    /// Starts a broker on a free loopback port with its own empty data file, and waits until it
    /// answers metadata requests (at most [`BROKER_READY_TIMEOUT_MS`]).
    pub async fn start() -> Result<NisshiBroker, BrokerError> {
        let binary = nisshi_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("purse-nisshi-")
            .tempdir()
            .map_err(io("creating the broker directory"))?;
        let mut broker = NisshiBroker {
            binary,
            dir,
            port: free_port()?,
            child: None,
        };
        let mut attempt = 1;
        loop {
            match broker.launch().await {
                Ok(()) => return Ok(broker),
                // Another process may have taken the port between our probe and the broker's
                // bind: try another one.
                Err(BrokerError::Exited { .. }) if attempt < START_ATTEMPTS => {
                    attempt += 1;
                    broker.port = free_port()?;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Bootstrap address for clients: `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The loopback port the broker listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of the running broker, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The broker's working directory (data file and stderr log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The file the broker's stderr goes to.
    pub fn stderr_path(&self) -> PathBuf {
        self.dir.path().join(STDERR_FILE)
    }

    /// [`KafkaSettings`] for this broker: one replica, no transactions (nisshi has none), and
    /// the other defaults.
    pub fn settings(&self) -> KafkaSettings {
        KafkaSettings {
            replication_factor: 1,
            transactions: false,
            ..KafkaSettings::new(self.bootstrap())
        }
    }

    /// Kills the broker and starts it again on the same port with the same data file, waiting
    /// until it answers. Everything acknowledged before survives.
    pub async fn restart(&mut self) -> Result<(), BrokerError> {
        self.stop().await?;
        self.launch().await
    }

    /// Kills the broker (SIGKILL: nothing is flushed beyond what it already made durable) and
    /// waits for it to exit. Idempotent.
    pub async fn stop(&mut self) -> Result<(), BrokerError> {
        if let Some(mut child) = self.child.take() {
            tokio::task::spawn_blocking(move || {
                // Fails only if it already exited, which is what we want.
                let _ = child.kill();
                child.wait()
            })
            .await
            .map_err(|e| BrokerError::Io {
                what: "waiting for the broker to exit",
                source: std::io::Error::other(e),
            })?
            .map_err(io("waiting for the broker to exit"))?;
        }
        Ok(())
    }

    /// Starts the child process and waits until it answers.
    async fn launch(&mut self) -> Result<(), BrokerError> {
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .map_err(io("opening the broker's stderr log"))?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.binary)
            .arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", &format!("sqlite://{DATA_FILE}")])
            // Kafka waits 3 s for more members before a new group's first rebalance; tests
            // start groups all the time.
            .args(["--group-initial-rebalance-delay", "0s"])
            .current_dir(self.dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(io("starting nisshi"))?;
        self.child = Some(child);
        self.await_ready().await
    }

    /// Waits until the broker answers a metadata request, or exits, or the deadline passes.
    async fn await_ready(&mut self) -> Result<(), BrokerError> {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(BROKER_READY_TIMEOUT_MS);
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        // First the listener (cheap to probe), then a real Kafka request through librdkafka.
        loop {
            self.check_running()?;
            if tokio::net::TcpStream::connect(address).await.is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(self.not_ready(started));
            }
            // Nothing to wait on but the listener appearing: re-probe shortly.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let settings = self.settings();
        let mut config = crate::config::metadata(&settings);
        // Fail fast per attempt: the loop below retries until the deadline.
        config.set("socket.timeout.ms", "2000");
        let consumer: BaseConsumer<LogContext> =
            BaseConsumer::from_config_and_context(&config, LogContext).map_err(|e| {
                BrokerError::Io {
                    what: "creating a metadata client",
                    source: std::io::Error::other(e),
                }
            })?;
        let consumer = std::sync::Arc::new(consumer);
        loop {
            self.check_running()?;
            let probe = std::sync::Arc::clone(&consumer);
            let answered = tokio::task::spawn_blocking(move || {
                probe
                    .fetch_metadata(None, Duration::from_millis(2_000))
                    .is_ok()
            })
            .await
            .unwrap_or(false);
            if answered {
                tokio::task::spawn_blocking(move || drop(consumer));
                return Ok(());
            }
            if Instant::now() >= deadline {
                tokio::task::spawn_blocking(move || drop(consumer));
                return Err(self.not_ready(started));
            }
        }
    }

    fn check_running(&mut self) -> Result<(), BrokerError> {
        let Some(child) = self.child.as_mut() else {
            return Err(BrokerError::NotReady {
                waited_ms: 0,
                stderr_tail: "the broker is stopped".to_owned(),
            });
        };
        if let Some(status) = child
            .try_wait()
            .map_err(io("checking the broker process"))?
        {
            self.child = None;
            return Err(BrokerError::Exited {
                status,
                stderr_tail: self.stderr_tail(),
            });
        }
        Ok(())
    }

    fn not_ready(&mut self, started: Instant) -> BrokerError {
        self.kill();
        BrokerError::NotReady {
            waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            stderr_tail: self.stderr_tail(),
        }
    }

    /// The last few KiB of the broker's stderr (empty if unreadable).
    pub fn stderr_tail(&self) -> String {
        let Ok(mut file) = File::open(self.stderr_path()) else {
            return String::new();
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        if file
            .seek(SeekFrom::Start(length.saturating_sub(STDERR_TAIL_BYTES)))
            .is_err()
        {
            return String::new();
        }
        let mut bytes = Vec::new();
        if file.read_to_end(&mut bytes).is_err() {
            return String::new();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fails only if it already exited.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NisshiBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> Result<u16, BrokerError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("finding a free loopback port"))?;
    let port = listener
        .local_addr()
        .map_err(io("finding a free loopback port"))?
        .port();
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_says_how_to_install_it() {
        let message = BrokerError::BinaryMissing {
            path: PathBuf::from("/nowhere/nisshi"),
        }
        .to_string();
        assert!(message.contains("/nowhere/nisshi"), "{message}");
        assert!(message.contains("scripts/install-test-tools"), "{message}");
        assert!(message.contains(NISSHI_BIN_ENV), "{message}");
    }
}
