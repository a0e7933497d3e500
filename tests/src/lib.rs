//! Harness for end-to-end tests: builds and starts the real binaries on loopback ports they pick,
//! talks to them over gRPC or through the `purse` CLI, and stops them (or kills them -9).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use purse_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// How long a starting `pursed` may take to print its endpoint.
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

/// A running `pursed`.
pub struct Pursed {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Development token (tenant `dev`, every scope).
    pub token: String,
}

impl Pursed {
    /// Starts `pursed` over `data_dir` on a free loopback port, with extra environment.
    pub fn start(data_dir: &Path, environment: &[(&str, &str)]) -> Pursed {
        let mut command = Command::new(binary("purse-pursed", "pursed"));
        command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("PURSE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in environment {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("pursed starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut endpoint = None;
        let mut token = None;
        while endpoint.is_none() || token.is_none() {
            let line = lines_rx
                .recv_timeout(START_TIMEOUT)
                .expect("pursed prints its endpoint and token");
            if let Some(rest) = line.strip_prefix("purse endpoint: ") {
                endpoint = Some(rest.trim().to_owned());
            } else if let Some((_, rest)) = line.split_once("): ") {
                token = Some(rest.trim().to_owned());
            }
        }
        Pursed {
            child,
            endpoint: endpoint.expect("endpoint"),
            token: token.expect("token"),
        }
    }

    /// A gRPC client that sends the development token.
    pub async fn client(&self) -> WalletClient {
        self.client_with_token(&self.token).await
    }

    /// A gRPC client that sends `token`.
    pub async fn client_with_token(&self, token: &str) -> WalletClient {
        let channel = Channel::from_shared(self.endpoint.clone())
            .expect("valid endpoint")
            .connect()
            .await
            .expect("pursed accepts connections");
        let bearer = Bearer(format!("Bearer {token}").parse().expect("ascii token"));
        WalletServiceClient::with_interceptor(channel, bearer)
    }

    /// Runs the `purse` CLI against this instance and returns its output.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary("purse-cli", "purse"))
            .args(["--endpoint", &self.endpoint, "--token", &self.token])
            .args(args)
            .output()
            .expect("purse runs")
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks for a graceful stop (SIGTERM) and waits for the exit code.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("pursed exits")
    }
}

impl Drop for Pursed {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The wallet client type the tests use.
pub type WalletClient = WalletServiceClient<InterceptedService<Channel, Bearer>>;

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
