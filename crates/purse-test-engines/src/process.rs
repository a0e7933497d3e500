//! A JVM engine process: its directory, its guardian, its pid and its stderr.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

use tempfile::TempDir;

/// Environment variable naming the tools cache (default `~/.cache/purse/tools`), as in
/// `scripts/install-test-tools`.
const TOOLS_DIR_ENV: &str = "PURSE_TOOLS_DIR";

/// How much of an engine's stderr an error quotes.
const STDERR_TAIL_BYTES: u64 = 6_144;

/// Why an engine could not be started, signalled or stopped.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum EngineError {
    /// The engine's jars are not installed.
    #[error("{engine} jars not found in {}: run `scripts/install-test-tools`", lib.display())]
    NotInstalled {
        /// Which engine.
        engine: &'static str,
        /// The directory looked in.
        lib: PathBuf,
    },
    /// Neither `PURSE_TOOLS_DIR` nor `HOME` is set, so there is nowhere to look.
    #[error("neither {TOOLS_DIR_ENV} nor HOME is set: cannot locate the engines' jars")]
    NoHome,
    /// A file system or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A tool the engine needs (its storage formatter) failed.
    #[error("{what} failed ({status}); its output ends with:\n{output_tail}")]
    ToolFailed {
        /// What was being run.
        what: String,
        /// Its exit status.
        status: ExitStatus,
        /// The end of its output.
        output_tail: String,
    },
    /// The engine exited during start-up.
    #[error("{name} exited during start-up ({status}); its stderr ends with:\n{stderr_tail}")]
    Exited {
        /// Which process.
        name: String,
        /// Its exit status.
        status: ExitStatus,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// The engine did not answer its protocol in time.
    #[error(
        "{name} did not become ready within {waited_ms} ms ({last}); its stderr ends with:\n{stderr_tail}"
    )]
    NotReady {
        /// Which process.
        name: String,
        /// How long we waited.
        waited_ms: u64,
        /// The last failed readiness check.
        last: String,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// The process is not running (stopped, killed or never started).
    #[error("{name} is not running")]
    NotRunning {
        /// Which process.
        name: String,
    },
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
    move |source| EngineError::Io {
        what: what.into(),
        source,
    }
}

/// A signal for [`crate::KafkaBroker::signal`] and the like: fault tests pause, resume and kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// `SIGSTOP`: the process freezes (no heartbeats, no I/O) but keeps its sockets.
    Stop,
    /// `SIGCONT`: a stopped process resumes.
    Continue,
    /// `SIGKILL`: gone at once, nothing flushed beyond what it already made durable.
    Kill,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Stop => "STOP",
            Signal::Continue => "CONT",
            Signal::Kill => "KILL",
        }
    }
}

/// Sends `signal` to `pid` with `kill(1)` (the workspace forbids `unsafe`, so no libc call).
pub(crate) fn send_signal(pid: u32, signal: Signal) -> Result<(), EngineError> {
    let status = Command::new("kill")
        .arg(format!("-{}", signal.name()))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(io("running kill"))?;
    if status.success() {
        Ok(())
    } else {
        Err(EngineError::NotRunning {
            name: format!("pid {pid}"),
        })
    }
}

/// The installed jars of `engine` at `version`: `$PURSE_TOOLS_DIR` (or
/// `~/.cache/purse/tools`)`/<engine>-<version>/lib`.
pub(crate) fn engine_lib(engine: &'static str, version: &str) -> Result<PathBuf, EngineError> {
    let tools = match std::env::var_os(TOOLS_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").ok_or(EngineError::NoHome)?)
            .join(".cache/purse/tools"),
    };
    let lib = tools.join(format!("{engine}-{version}")).join("lib");
    if lib.is_dir() {
        Ok(lib)
    } else {
        Err(EngineError::NotInstalled { engine, lib })
    }
}

/// The `java` to run: `$JAVA_HOME/bin/java` when set, else `java` from `PATH`.
pub fn java() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) => PathBuf::from(home).join("bin/java"),
        None => PathBuf::from("java"),
    }
}

/// A loopback port nothing listens on right now.
pub(crate) fn free_port() -> Result<u16, EngineError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("finding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("finding a free port"))?
        .port())
}

/// The temporary directory of one engine (one or several processes), with a guardian: a shell
/// that waits on a pipe from this process and, when it closes (this process exited, however it
/// exited), kills every pid recorded under the directory and removes it. Dropping the directory
/// handle does the same from here.
#[derive(Debug)]
pub(crate) struct EngineDir {
    // Dropped first: the guardian then finds nothing left to do.
    dir: TempDir,
    guardian_stdin: Option<ChildStdin>,
    guardian: Option<Child>,
}

/// Pid files of an engine's processes end with this, so the guardian can find them.
const PID_SUFFIX: &str = ".pid";

impl EngineDir {
    pub(crate) fn create(prefix: &str) -> Result<EngineDir, EngineError> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(io("creating the engine directory"))?;
        // `read` returns at EOF, which comes when the last writer of the pipe, this process,
        // exits or drops it.
        let script = format!(
            "read -r _; for f in \"$0\"/*{PID_SUFFIX}; do [ -f \"$f\" ] && kill -9 \"$(cat \"$f\")\" 2>/dev/null; done; rm -rf \"$0\""
        );
        let mut guardian = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io("starting the engine's guardian"))?;
        let guardian_stdin = guardian.stdin.take();
        Ok(EngineDir {
            dir,
            guardian_stdin,
            guardian: Some(guardian),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for EngineDir {
    fn drop(&mut self) {
        drop(self.guardian_stdin.take());
        if let Some(mut guardian) = self.guardian.take() {
            // It exits as soon as it reads EOF; reap it so no zombie is left behind.
            let _ = guardian.wait();
        }
    }
}

/// One JVM process of an engine: killed (SIGKILL) and reaped on drop or [`JvmProcess::kill`].
#[derive(Debug)]
pub(crate) struct JvmProcess {
    name: String,
    child: Option<Child>,
    stderr_path: PathBuf,
    pid_path: PathBuf,
}

impl JvmProcess {
    /// Starts `java <jvm_args> -cp <lib>/* <main_class> <args>` in `dir`, with stdout and stderr
    /// appended to `<dir>/<name>.log`, and records its pid for the guardian.
    pub(crate) fn spawn(
        name: &str,
        dir: &Path,
        lib: &Path,
        jvm_args: &[String],
        main_class: &str,
        args: &[String],
    ) -> Result<JvmProcess, EngineError> {
        let stderr_path = dir.join(format!("{name}.log"));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .map_err(io(format!("opening {}", stderr_path.display())))?;
        let stdout = log.try_clone().map_err(io("duplicating the log handle"))?;
        let child = Command::new(java())
            .args(jvm_args)
            .arg("-cp")
            .arg(format!("{}/*", lib.display()))
            .arg(main_class)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .map_err(io(format!("starting {name} ({})", java().display())))?;
        let pid_path = dir.join(format!("{name}{PID_SUFFIX}"));
        std::fs::write(&pid_path, child.id().to_string())
            .map_err(io(format!("writing {}", pid_path.display())))?;
        Ok(JvmProcess {
            name: name.to_owned(),
            child: Some(child),
            stderr_path,
            pid_path,
        })
    }

    /// Its pid while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails with [`EngineError::Exited`] if it exited.
    pub(crate) fn check_running(&mut self) -> Result<(), EngineError> {
        let Some(child) = self.child.as_mut() else {
            return Err(EngineError::NotRunning {
                name: self.name.clone(),
            });
        };
        if let Some(status) = child.try_wait().map_err(io("checking a process"))? {
            self.child = None;
            return Err(EngineError::Exited {
                name: self.name.clone(),
                status,
                stderr_tail: self.stderr_tail(),
            });
        }
        Ok(())
    }

    pub(crate) fn signal(&self, signal: Signal) -> Result<(), EngineError> {
        let pid = self.pid().ok_or_else(|| EngineError::NotRunning {
            name: self.name.clone(),
        })?;
        send_signal(pid, signal)
    }

    /// SIGKILL and reap. Idempotent.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fails only if it already exited, which is what we want.
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&self.pid_path);
        }
    }

    pub(crate) fn not_ready(&mut self, waited_ms: u64, last: String) -> EngineError {
        self.kill();
        EngineError::NotReady {
            name: self.name.clone(),
            waited_ms,
            last,
            stderr_tail: self.stderr_tail(),
        }
    }

    /// The last few KiB of its output (empty if unreadable).
    pub(crate) fn stderr_tail(&self) -> String {
        file_tail(&self.stderr_path)
    }
}

impl Drop for JvmProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last few KiB of a file (empty if unreadable).
pub(crate) fn file_tail(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
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
