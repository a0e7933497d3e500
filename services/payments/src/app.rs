//! Wiring of the payments gateway.
//!
//! All-in-one (`pursed`): commands go through the process's shared buses; the HTTP server
//! (checkout, webhooks, health, metrics) and the processor's reactors run here; the gRPC service
//! value is served by `pursed`'s shared gRPC server. Cluster (the `purse-payments` binary):
//! command buses over the log, shard hosts for the payment and payment-method deciders, the same
//! HTTP server and reactors (one instance per deployment: see the reactor ADR).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use purse_log::{EventLog, LogError};
use purse_runtime::auth::TokenKey;
use purse_runtime::bus::CommandBus;
use purse_runtime::cluster::{HostError, LogBus, ShardHost};
use purse_runtime::reactor::{ReactorError, ReactorSettings, spawn_reactor};
use purse_store::ReadStore;
use purse_streams::buses::{Buses, cluster_settings, shard_settings};
use purse_streams::config::Config;
use purse_streams::payment::PaymentStream;
use purse_streams::payment_methods::PaymentMethodsStream;
use purse_streams::topics;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{info, warn};

use crate::gateway::Gateway;
use crate::grpc::PaymentsGrpc;
use crate::http::{HttpState, router};
use crate::processor::{PAYMENT_PROCESSOR, PaymentProcessor, STORED_CARDS, StoredCards};
use crate::provider::PaymentProvider;
use crate::simulator::pending::{PendingWebhookError, PendingWebhooks};
use crate::simulator::{SIMULATOR, Simulator, SimulatorSettings};
use crate::webhook::{SecretError, WebhookSecret};

/// Most records a reactor reads per call.
const REACTOR_READ_BATCH_MAX_RECORDS: usize = 4_096;
/// How long a reactor's read waits for new records before checking for shutdown.
const REACTOR_READ_WAIT_MS: u64 = 500;

/// Why the gateway did not start.
#[derive(thiserror::Error, Debug)]
pub enum StartError {
    /// The webhook signing secret could not be read or created.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The HTTP listener has no local address.
    #[error("payments HTTP listener: {0}")]
    Listener(#[from] std::io::Error),
    /// The simulator's pending webhooks could not be read (`{data_dir}/simulator-webhooks`).
    #[error(transparent)]
    SimulatorPending(#[from] PendingWebhookError),
    /// the `payments.provider` setting names no built-in adapter.
    #[error("unknown payment provider {0:?} (built in: simulator)")]
    UnknownProvider(String),
    /// Creating topics or starting a command bus failed (cluster mode).
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Where the payment shard workers run.
enum WriteSide {
    /// The process's in-process workers (`pursed`).
    Local,
    /// Shard hosts for the payment and payment-method deciders.
    Cluster {
        hosts: JoinSet<Result<(), HostError>>,
        stop: watch::Sender<bool>,
    },
}

/// A running payments gateway.
pub struct PaymentsApp {
    grpc: PaymentsGrpc,
    http_addr: SocketAddr,
    http: JoinHandle<std::io::Result<()>>,
    stop_http: watch::Sender<bool>,
    reactors: JoinSet<Result<(), ReactorError>>,
    stop_reactors: watch::Sender<bool>,
    write: WriteSide,
}

impl PaymentsApp {
    /// All-in-one: commands go through `buses` (the process's in-process workers); the HTTP
    /// server runs on `http_listener`; the processor's reactors follow `log` and checkpoint in
    /// `store`. Serve [`PaymentsApp::grpc`] on the process's gRPC server.
    pub fn start_embedded(
        config: &Config,
        buses: &Buses,
        log: Arc<dyn EventLog>,
        store: Arc<dyn ReadStore>,
        token_key: TokenKey,
        http_listener: TcpListener,
    ) -> Result<Self, StartError> {
        Self::start(
            config,
            buses.payments.clone(),
            buses.payment_methods.clone(),
            log,
            store,
            token_key,
            http_listener,
            WriteSide::Local,
        )
    }

    /// Cluster: command buses over `log`, shard hosts for the payment and payment-method
    /// deciders in their consumer groups, and everything [`PaymentsApp::start_embedded`] runs.
    pub async fn start_cluster(
        config: &Config,
        log: Arc<dyn EventLog>,
        store: Arc<dyn ReadStore>,
        token_key: TokenKey,
        http_listener: TcpListener,
    ) -> Result<Self, StartError> {
        let payments_settings = cluster_settings(config, topics::PAYMENTS);
        let methods_settings = cluster_settings(config, topics::PAYMENT_METHODS);
        payments_settings.create_topics(log.as_ref()).await?;
        methods_settings.create_topics(log.as_ref()).await?;
        let payments: LogBus<PaymentStream> =
            LogBus::start(log.clone(), payments_settings.clone()).await?;
        let methods: LogBus<PaymentMethodsStream> =
            LogBus::start(log.clone(), methods_settings.clone()).await?;
        let (stop, stopped) = watch::channel(false);
        let mut hosts = JoinSet::new();
        let shard = shard_settings(config);
        hosts.spawn(
            ShardHost::<PaymentStream>::new(log.clone(), payments_settings, shard.clone())
                .run(stopped.clone()),
        );
        hosts.spawn(
            ShardHost::<PaymentMethodsStream>::new(log.clone(), methods_settings, shard)
                .run(stopped),
        );
        Self::start(
            config,
            Arc::new(payments),
            Arc::new(methods),
            log,
            store,
            token_key,
            http_listener,
            WriteSide::Cluster { hosts, stop },
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        config: &Config,
        payments: Arc<dyn CommandBus<PaymentStream>>,
        payment_methods: Arc<dyn CommandBus<PaymentMethodsStream>>,
        log: Arc<dyn EventLog>,
        store: Arc<dyn ReadStore>,
        token_key: TokenKey,
        http_listener: TcpListener,
        write: WriteSide,
    ) -> Result<Self, StartError> {
        let http_addr = http_listener.local_addr()?;
        let secret = WebhookSecret::load_or_create(
            &config
                .services
                .payments
                .webhook_secret_path(&config.data_dir),
        )?;
        // Stops the reactors and the provider's background work (the simulator's webhooks).
        let (stop_reactors, reactors_stopped) = watch::channel(false);
        let provider: Arc<dyn PaymentProvider> = match config.services.payments.provider.as_str() {
            SIMULATOR => Arc::new(Simulator::start(
                SimulatorSettings {
                    secret: secret.clone(),
                    delay_ms: config.services.payments.simulator_delay_ms,
                    webhook_url: format!("http://{http_addr}/webhooks/{SIMULATOR}"),
                    pending_dir: PendingWebhooks::in_data_dir(&config.data_dir)
                        .dir()
                        .to_path_buf(),
                },
                reactors_stopped.clone(),
            )?),
            other => return Err(StartError::UnknownProvider(other.to_owned())),
        };
        let gateway = Gateway { payments, provider };

        let mut reactors = JoinSet::new();
        let cards = Arc::new(StoredCards::new(config.partitions));
        spawn_reactor::<PaymentMethodsStream>(
            log.clone(),
            store.clone(),
            reactor_settings(config, STORED_CARDS, topics::PAYMENT_METHODS.events),
            cards.clone(),
            &reactors_stopped,
            &mut reactors,
        );
        spawn_reactor::<PaymentStream>(
            log,
            store.clone(),
            reactor_settings(config, PAYMENT_PROCESSOR, topics::PAYMENTS.events),
            Arc::new(PaymentProcessor::new(
                gateway.clone(),
                payment_methods,
                cards,
            )),
            &reactors_stopped,
            &mut reactors,
        );

        let state = HttpState {
            gateway: gateway.clone(),
            store: store.clone(),
            secret,
            tolerance_ms: config.services.payments.webhook_tolerance_ms,
        };
        let (stop_http, mut http_stopped) = watch::channel(false);
        let http = tokio::spawn(async move {
            axum::serve(http_listener, router(state))
                .with_graceful_shutdown(async move {
                    let _ = http_stopped.wait_for(|stop| *stop).await;
                })
                .await
        });
        info!(%http_addr, "payments HTTP listening");
        Ok(Self {
            grpc: PaymentsGrpc::new(gateway, store, token_key),
            http_addr,
            http,
            stop_http,
            reactors,
            stop_reactors,
            write,
        })
    }

    /// The gRPC front (clone it into the server).
    pub fn grpc(&self) -> PaymentsGrpc {
        self.grpc.clone()
    }

    /// `http://{address}` of the HTTP listener: the checkout base when
    /// the `topups.checkout_base_url` setting is empty.
    pub fn checkout_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Waits until the HTTP server, a reactor or a shard host stops on its own, which only an
    /// error causes.
    pub async fn failed(&mut self) -> String {
        let write = async {
            match &mut self.write {
                WriteSide::Local => std::future::pending().await,
                WriteSide::Cluster { hosts, .. } => match hosts.join_next().await {
                    Some(host) => format!("shard host stopped: {host:?}"),
                    None => std::future::pending().await,
                },
            }
        };
        tokio::select! {
            failure = write => failure,
            http = &mut self.http => format!("payments HTTP server stopped: {http:?}"),
            Some(reactor) = self.reactors.join_next() => format!("payment reactor stopped: {reactor:?}"),
        }
    }

    /// Drains: the HTTP server stops accepting and finishes its requests, the reactors stop at
    /// their next checkpoint, the simulator's undelivered webhooks stay on disk for the next start, and in cluster mode the shard hosts answer what they hold, commit
    /// and leave their groups. Gives up after `grace_ms`.
    pub async fn drain(self, grace_ms: u64) {
        let Self {
            grpc,
            http_addr: _,
            http,
            stop_http,
            mut reactors,
            stop_reactors,
            write,
        } = self;
        drop(grpc);
        let drained = tokio::time::timeout(Duration::from_millis(grace_ms), async {
            let _ = stop_http.send(true);
            if let Ok(Err(err)) = http.await {
                warn!(error = %err, "payments HTTP server failed while draining");
            }
            let _ = stop_reactors.send(true);
            while reactors.join_next().await.is_some() {}
            if let WriteSide::Cluster { mut hosts, stop } = write {
                let _ = stop.send(true);
                while let Some(host) = hosts.join_next().await {
                    if let Ok(Err(err)) = host {
                        warn!(error = %err, "shard host failed while draining");
                    }
                }
            }
        })
        .await;
        match drained {
            Ok(()) => info!("payments drained"),
            Err(_) => warn!(grace_ms, "payments drain deadline passed; stopping anyway"),
        }
    }
}

fn reactor_settings(config: &Config, name: &str, topic: &str) -> ReactorSettings {
    ReactorSettings {
        name: name.to_owned(),
        topic: topic.to_owned(),
        partitions: config.partitions,
        read_batch_max_records: REACTOR_READ_BATCH_MAX_RECORDS,
        read_wait_ms: REACTOR_READ_WAIT_MS,
    }
}
