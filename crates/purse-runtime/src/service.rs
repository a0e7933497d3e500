//! What every Purse binary's `main` shares: the common flags, configuration layering with the
//! documented exit code, the runtime, the announcement lines scripts read, and `/metrics`.

use std::fmt::Display;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Config, EXIT_CONFIG, Sections};
use crate::{env, metrics, telemetry};

/// Flags every service binary accepts; they override the file and the environment.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, env = env::PURSE_CONFIG)]
    pub config: Option<PathBuf>,
    /// Directory of the embedded log and store and of the token key.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// gRPC listen address (port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

/// Loads the configuration (defaults → file → environment → flags), starts telemetry (logs, and
/// trace export when the OTel environment asks for it, as service `program`'s first word) and
/// runs `body` on a multi-threaded runtime; then flushes the spans still queued, whatever `body`
/// returned. Invalid configuration, telemetry's included, exits 64 with one line on stderr; a
/// failure of `body` exits 1 with its message.
pub fn run<S, F, E>(program: &str, args: CommonArgs, body: impl FnOnce(Config<S>) -> F) -> ExitCode
where
    S: Sections,
    F: Future<Output = Result<(), E>>,
    E: Display,
{
    let config = match Config::<S>::load(args.config.as_deref(), |name| std::env::var(name).ok()) {
        Ok(mut config) => {
            config.data_dir = args.data_dir.unwrap_or(config.data_dir);
            config.listen = args.listen.unwrap_or(config.listen);
            config
        }
        Err(err) => {
            eprintln!("{program}: {err}");
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    let service_name = program.split(' ').next().unwrap_or(program);
    let telemetry = match telemetry::init(service_name, &config.log, runtime.handle().clone()) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("{program}: {err}");
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    let served = runtime.block_on(body(config));
    // From this thread, with the runtime still running: the export requests run on it.
    telemetry.shutdown();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{program}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints one `name: value` line on stdout, flushed: how people and scripts (the end-to-end
/// tests) learn a port chosen at start.
pub fn announce(name: &str, value: impl Display) -> std::io::Result<()> {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{name}: {value}")?;
    stdout.flush()
}

/// Serves `/metrics` in the background when the configuration asks for it, and announces it.
pub async fn start_metrics<S>(config: &Config<S>) -> std::io::Result<()> {
    let Some(address) = config.metrics_listen else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(address).await?;
    announce(
        "metrics endpoint",
        format_args!("http://{}/metrics", listener.local_addr()?),
    )?;
    // Metrics are served until the process exits: a scrape during the drain is still useful.
    tokio::spawn(metrics::serve(listener, std::future::pending()));
    Ok(())
}
