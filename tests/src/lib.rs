//! Harness for end-to-end tests: builds and starts the real binaries on loopback ports they pick,
//! talks to them over gRPC or through the `purse` CLI, and stops them (or kills them -9).

pub mod auto_top_up_log;
pub mod browser;
pub mod cluster;
pub mod embedded_log;
pub mod http;
pub mod jvm_consumer;
pub mod otlp;
pub mod requests;
pub mod topups;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use tonic::Status;

/// How long a starting service may take to print its endpoint.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Path of a workspace binary, built (debug) on first use in this process.
pub fn binary(package: &str, name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .current_dir(workspace)
            .args([
                "build",
                "--quiet",
                "-p",
                "purse-pursed",
                "-p",
                "purse-cli",
                "-p",
                "purse-bench",
                "-p",
                "purse-wallets",
                "-p",
                "purse-projector",
                "-p",
                "purse-topups",
                "-p",
                "purse-payments",
                "-p",
                "purse-saga",
                "--bins",
            ])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {package} failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target.join("debug").join(name)
}

/// A running service binary and the `name: value` lines it announced on stdout at start.
pub struct Service {
    child: Child,
    announced: HashMap<String, String>,
}

impl Service {
    /// Starts `command` and waits until it has announced every line named in `wanted`.
    pub fn start(command: Command, wanted: &[&str]) -> Service {
        Service::start_with_stderr(command, wanted, Stdio::inherit())
    }

    /// Like [`Service::start`], with the service's stderr (its logs) going to `stderr`.
    pub fn start_with_stderr(mut command: Command, wanted: &[&str], stderr: Stdio) -> Service {
        command.stdout(Stdio::piped()).stderr(stderr);
        let mut child = command.spawn().expect("service starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut announced = HashMap::new();
        while !wanted.iter().all(|name| announced.contains_key(*name)) {
            let line = lines_rx
                .recv_timeout(START_TIMEOUT)
                .unwrap_or_else(|_| panic!("service announces {wanted:?}"));
            if let Some((name, value)) = line.split_once(": ") {
                announced.insert(name.to_owned(), value.trim().to_owned());
            }
        }
        Service { child, announced }
    }

    /// A value the service announced (`purse endpoint`, `metrics endpoint`, ...).
    pub fn announced(&self, name: &str) -> &str {
        &self.announced[name]
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`STOP`, `CONT`, `TERM`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks for a graceful stop (SIGTERM) and waits for the exit code.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().expect("service exits")
    }

    /// The value of a Prometheus counter (summed over label sets matching `labels`) from the
    /// service's `/metrics` endpoint.
    pub async fn counter(&self, name: &str, labels: &str) -> u64 {
        let url = self.announced("metrics endpoint").to_owned();
        let body = http_get(&url).await;
        body.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' '))
            .filter(|(series, _)| {
                let family = series.split('{').next().unwrap_or_default();
                family == name && series.contains(labels)
            })
            .map(|(_, value)| value.parse::<u64>().expect("counter value"))
            .sum()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // A paused child would ignore nothing but SIGKILL; resume it anyway so it can be reaped.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        self.kill9();
    }
}

/// A plain HTTP/1.1 GET over a fresh connection (enough for `/metrics`).
async fn http_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').expect("url with a path");
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .expect("metrics endpoint accepts connections");
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response read");
    let (head, body) = response.split_once("\r\n\r\n").expect("http response");
    assert!(head.starts_with("HTTP/1.1 200"), "metrics answered {head}");
    body.to_owned()
}

/// A gRPC client for `endpoint` that sends `token`.
pub async fn wallet_client(endpoint: &str, token: &str) -> WalletClient {
    connect(endpoint, token).await.wallets()
}

/// A top-up service client for `endpoint` that sends `token`.
pub async fn top_up_client(endpoint: &str, token: &str) -> TopUpClient {
    connect(endpoint, token).await.top_ups()
}

/// A payments service client for `endpoint` that sends `token`.
pub async fn payments_client(endpoint: &str, token: &str) -> PaymentsClient {
    connect(endpoint, token).await.payments()
}

async fn connect(endpoint: &str, token: &str) -> purse_client::Client {
    purse_client::Client::connect(endpoint, Some(token))
        .await
        .expect("service accepts connections")
}

/// Runs the `purse` CLI against `endpoint` and returns its output.
pub fn cli(endpoint: &str, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(binary("purse-cli", "purse"))
        .args(["--endpoint", endpoint, "--token", token])
        .args(args)
        .output()
        .expect("purse runs")
}

/// Runs `purse --json ARGS` against `endpoint`, asserts success and returns the JSON printed.
pub fn cli_json(endpoint: &str, token: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = cli(endpoint, token, &all);
    assert!(
        output.status.success(),
        "purse {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

/// A running `pursed`.
pub struct Pursed {
    service: Service,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Base URL of the hosted checkout pages and webhooks, `http://127.0.0.1:PORT`.
    pub checkout: String,
    /// Development token (tenant `dev`, every scope).
    pub token: String,
}

impl Pursed {
    /// Starts `pursed` over `data_dir` on free loopback ports, with extra environment.
    pub fn start(data_dir: &Path, environment: &[(&str, &str)]) -> Pursed {
        Pursed::start_with_stderr(data_dir, environment, Stdio::inherit())
    }

    /// Like [`Pursed::start`], with its logs going to `stderr`.
    pub fn start_with_stderr(
        data_dir: &Path,
        environment: &[(&str, &str)],
        stderr: Stdio,
    ) -> Pursed {
        let mut command = Command::new(binary("purse-pursed", "pursed"));
        command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("PURSE_LOG", "warn")
            .env("PURSE_PAYMENTS_HTTP_LISTEN", "127.0.0.1:0");
        for (name, value) in environment {
            command.env(name, value);
        }
        const TOKEN: &str = "development token (tenant dev)";
        const CHECKOUT: &str = "checkout endpoint";
        let service =
            Service::start_with_stderr(command, &["purse endpoint", CHECKOUT, TOKEN], stderr);
        Pursed {
            endpoint: service.announced("purse endpoint").to_owned(),
            checkout: service.announced(CHECKOUT).to_owned(),
            token: service.announced(TOKEN).to_owned(),
            service,
        }
    }

    /// A gRPC client that sends the development token.
    pub async fn client(&self) -> WalletClient {
        wallet_client(&self.endpoint, &self.token).await
    }

    /// A gRPC client that sends `token`.
    pub async fn client_with_token(&self, token: &str) -> WalletClient {
        wallet_client(&self.endpoint, token).await
    }

    /// Runs the `purse` CLI against this instance and returns its output.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        cli(&self.endpoint, &self.token, args)
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill9(&mut self) {
        self.service.kill9();
    }

    /// Asks for a graceful stop (SIGTERM) and waits for the exit code.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.service.terminate()
    }
}

/// The client types the tests use: the bearer token on every call, no deadline.
pub use purse_client::{PaymentsClient, TopUpClient, WalletClient};

/// A token of the deployment in `data_dir` (its `token.key`) for `tenant` with `scopes`.
pub fn token(data_dir: &Path, tenant: &str, scopes: Vec<purse_runtime::auth::Scope>) -> String {
    purse_runtime::auth::TokenKey::load_or_create(&data_dir.join("token.key"))
        .expect("token key")
        .issue(&purse_runtime::auth::Principal {
            tenant: tenant.into(),
            scopes,
        })
        .expect("token issued")
}

/// The wall clock in ms since the Unix epoch, as the services read it.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since_epoch.as_millis()).expect("fits")
}

/// The machine-readable reason and metadata of an error status.
pub fn reason(status: &Status) -> (String, std::collections::HashMap<String, String>) {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .map(|info| (info.reason, info.metadata))
        .unwrap_or_default()
}

/// The fields a BadRequest detail names.
pub fn bad_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
