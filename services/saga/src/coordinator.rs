//! The saga coordinator: feeds observations to the top-up and auto top-up sagas and sends the
//! commands they want (DESIGN §7; the sagas themselves are deciders in `purse_domain::saga`).
//!
//! Five [reactors](purse_runtime::reactor):
//! - **inputs**: top-up events (to the top-up saga, and to the wallet's auto top-up saga for
//!   `auto` top-ups), payment events (to the top-up saga of the intent's top-up; a capture with
//!   "save this card" also stores the card) and wallet events (balance observations, only for
//!   wallets with an auto top-up rule);
//! - **dispatchers**: after every event of a saga, everything `state.dispatches()` still wants is
//!   sent with its derived idempotency key, and the replies the sagas need (wallet credits, auto
//!   top-up creates) are fed back. When a dispatcher partition has caught up after a restart, it
//!   re-sends the dispatches of every saga there that still wants something.
//!
//! Inputs are sent without idempotency keys: the shard worker then skips its idempotency check,
//! and a saga yields no events for an observation it already knows, so repeats are harmless.
//! Rejections (of inputs and of dispatches) are logged and counted, never retried: the saga's
//! design decides what they mean. Timeouts, unavailable shards and lost races are retried by the
//! reactor. Timers need nothing here: the saga shard workers fire them. See ADR 0009.

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use purse_domain::Decider;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::saga::{
    AutoTopUpCommand, AutoTopUpInput, CreditPart, Dispatch, DispatchCommand, TopUpSagaCommand,
};
use purse_domain::topup::TopUpAction;
use purse_domain::wallet::CreditSource;
use purse_log::EventLog;
use purse_store::ReadStore;
use rust_decimal::Decimal;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::field::Empty;
use tracing::{Instrument, error, warn};
use uuid::Uuid;

use purse_runtime::bus::CommandBus;
use purse_runtime::codec::EventCodec;
use purse_runtime::metrics::{self, Event, SagaOutcome};
use purse_runtime::reactor::{
    Reacted, Reaction, ReactionError, ReactorError, ReactorSettings, spawn_reactor,
};
use purse_runtime::shard::{CommandError, CommandReply, ShardDecider};
use purse_streams::auto_top_up::AutoTopUpStream;
use purse_streams::buses::Buses;
use purse_streams::config::Config;
use purse_streams::payment::PaymentStream;
use purse_streams::payment_methods::PaymentMethodsStream;
use purse_streams::top_up::TopUpStream;
use purse_streams::top_up_saga::TopUpSagaStream;
use purse_streams::topics;
use purse_streams::wallet::WalletStream;

/// Checkpoint name of the reactor feeding top-up events to sagas.
pub const TOP_UP_EVENTS_REACTOR: &str = "saga-top-up-events";
/// Checkpoint name of the reactor feeding payment events to sagas.
pub const PAYMENT_EVENTS_REACTOR: &str = "saga-payment-events";
/// Checkpoint name of the reactor feeding wallet balances to auto top-up sagas.
pub const WALLET_EVENTS_REACTOR: &str = "saga-wallet-events";
/// Checkpoint name of the top-up saga dispatcher.
pub const TOP_UP_SAGA_DISPATCHER: &str = "saga-top-up-dispatcher";
/// Checkpoint name of the auto top-up saga dispatcher.
pub const AUTO_TOP_UP_DISPATCHER: &str = "saga-auto-top-up-dispatcher";

/// Most records a coordinator reactor reads per call.
const READ_BATCH_MAX_RECORDS: usize = 1_024;
/// How long a coordinator read waits for new records before checking for shutdown.
const READ_WAIT_MS: u64 = 500;
/// How long the wallet reactor waits for the auto top-up rule index per attempt before the
/// reactor's back-off takes over (keeps shutdown responsive).
const RULES_READY_WAIT_MS: u64 = 1_000;

/// Sizes of the coordinator's reactors.
#[derive(Clone, Debug)]
pub struct CoordinatorSettings {
    /// Partitions of every topic followed (all decider topics share the configured count).
    pub partitions: u32,
    /// Most records per read.
    pub read_batch_max_records: usize,
    /// How long a read waits for new records before checking for shutdown.
    pub read_wait_ms: u64,
}

impl CoordinatorSettings {
    /// The coordinator's settings from the configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            partitions: config.partitions,
            read_batch_max_records: READ_BATCH_MAX_RECORDS,
            read_wait_ms: READ_WAIT_MS,
        }
    }

    fn reactor(&self, name: &str, topic: &str) -> ReactorSettings {
        ReactorSettings {
            name: name.to_owned(),
            topic: topic.to_owned(),
            partitions: self.partitions,
            read_batch_max_records: self.read_batch_max_records,
            read_wait_ms: self.read_wait_ms,
        }
    }
}

/// Starts the coordinator's five reactors in `tasks`; they stop once `stop` turns true. The
/// topics must exist (the buses create them). Run one coordinator per deployment (ADR 0009).
pub fn spawn_coordinator(
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    buses: &Buses,
    settings: &CoordinatorSettings,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<Result<(), ReactorError>>,
) {
    metrics::expose_saga_series(
        &[
            WalletStream::STREAM_KIND,
            TopUpStream::STREAM_KIND,
            PaymentStream::STREAM_KIND,
            PaymentMethodsStream::STREAM_KIND,
        ],
        &[TopUpSagaStream::STREAM_KIND, AutoTopUpStream::STREAM_KIND],
    );
    let sender = Arc::new(Sender {
        buses: buses.clone(),
    });
    let rules = Arc::new(RuleIndex::new(settings.partitions));
    spawn_reactor::<TopUpStream>(
        log.clone(),
        store.clone(),
        settings.reactor(TOP_UP_EVENTS_REACTOR, topics::TOP_UPS.events),
        Arc::new(TopUpEvents {
            sender: sender.clone(),
        }),
        stop,
        tasks,
    );
    spawn_reactor::<PaymentStream>(
        log.clone(),
        store.clone(),
        settings.reactor(PAYMENT_EVENTS_REACTOR, topics::PAYMENTS.events),
        Arc::new(PaymentEvents {
            sender: sender.clone(),
        }),
        stop,
        tasks,
    );
    spawn_reactor::<WalletStream>(
        log.clone(),
        store.clone(),
        settings.reactor(WALLET_EVENTS_REACTOR, topics::WALLETS.events),
        Arc::new(WalletEvents {
            sender: sender.clone(),
            rules: rules.clone(),
        }),
        stop,
        tasks,
    );
    spawn_reactor::<TopUpSagaStream>(
        log.clone(),
        store.clone(),
        settings.reactor(TOP_UP_SAGA_DISPATCHER, topics::TOP_UP_SAGAS.events),
        Arc::new(Dispatcher::<TopUpSagaStream> {
            sender: sender.clone(),
            wanted: Wanted::default(),
            rules: None,
            _kind: PhantomData,
        }),
        stop,
        tasks,
    );
    spawn_reactor::<AutoTopUpStream>(
        log,
        store,
        settings.reactor(AUTO_TOP_UP_DISPATCHER, topics::AUTO_TOP_UPS.events),
        Arc::new(Dispatcher::<AutoTopUpStream> {
            sender,
            wanted: Wanted::default(),
            rules: Some(rules),
            _kind: PhantomData,
        }),
        stop,
        tasks,
    );
}

/// Which saga a dispatch belongs to, for the replies fed back.
#[derive(Clone, Copy, Debug)]
enum SagaRef {
    /// A top-up saga (its id is the top-up id).
    TopUp(Uuid),
    /// An auto top-up saga (its id is the wallet id).
    Auto(Uuid),
}

/// Who a command the coordinator sends is for, for its metrics series.
#[derive(Clone, Copy, Debug)]
enum Recipient {
    /// A stream a saga acts on (a dispatch).
    Target,
    /// The saga itself (an observation fed back).
    Saga,
}

/// Sends saga inputs and dispatches over the process's buses.
struct Sender {
    buses: Buses,
}

impl Sender {
    /// Sends one command and sorts the result: the reply or the decider's rejection (logged and
    /// counted) to feed back, nothing for failures an operator must look at, and a transient
    /// error for the reactor to retry.
    async fn command<D: ShardDecider>(
        bus: &dyn CommandBus<D>,
        command: D::Command,
        key: Option<IdempotencyKey>,
        correlation_id: &str,
        recipient: Recipient,
    ) -> Result<Option<Result<CommandReply<D::Outcome>, D::Error>>, ReactionError> {
        let what = D::STREAM_KIND;
        let observed = |outcome| match recipient {
            Recipient::Target => Event::SagaDispatched {
                target: what,
                outcome,
            },
            Recipient::Saga => Event::SagaInput {
                saga: what,
                outcome,
            },
        };
        // A child of the reaction's span; the shard's `command` span carries the same id.
        let span = tracing::info_span!(
            "saga_command",
            otel.name = %format_args!("saga {what}"),
            what,
            command = purse_runtime::shard::command_type::<D>(),
            stream_id = %D::stream_id(&command),
            correlation_id,
            outcome = Empty,
        );
        let sent = bus
            .send(command, key, correlation_id.to_owned())
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        span.record(
            "outcome",
            match &sent {
                Ok(_) => "ok",
                Err(CommandError::Rejected(_)) => "rejected",
                Err(CommandError::IdempotencyKeyReused | CommandError::StreamHalted) => "failed",
                Err(_) => "retry",
            },
        );
        match sent {
            Ok(reply) => {
                metrics::record(observed(SagaOutcome::Ok));
                Ok(Some(Ok(reply)))
            }
            Err(CommandError::Rejected(rejection)) => {
                metrics::record(observed(SagaOutcome::Rejected));
                warn!(what, correlation_id, reason = %rejection, "saga command rejected; the saga decides what that means");
                Ok(Some(Err(rejection)))
            }
            Err(err @ (CommandError::IdempotencyKeyReused | CommandError::StreamHalted)) => {
                metrics::record(observed(SagaOutcome::Failed));
                error!(what, correlation_id, error = %err, "saga command cannot be executed; skipping it (an operator must look)");
                Ok(None)
            }
            Err(
                err @ (CommandError::Retry
                | CommandError::Unavailable(_)
                | CommandError::Timeout { .. }),
            ) => {
                metrics::record(observed(SagaOutcome::Retried));
                Err(ReactionError::Transient(format!("{what}: {err}")))
            }
        }
    }

    /// Feeds an observation to a saga; only a failure to deliver it matters here.
    async fn feed<D: ShardDecider>(
        bus: &dyn CommandBus<D>,
        input: D::Command,
        correlation_id: &str,
    ) -> Result<(), ReactionError> {
        Self::command(bus, input, None, correlation_id, Recipient::Saga)
            .await
            .map(drop)
    }

    /// Feeds an observation to a top-up saga.
    async fn top_up_saga(
        &self,
        input: TopUpSagaCommand,
        correlation_id: &str,
    ) -> Result<(), ReactionError> {
        Self::feed(self.buses.top_up_sagas.as_ref(), input, correlation_id).await
    }

    /// Feeds an observation to an auto top-up saga.
    async fn auto_saga(
        &self,
        input: AutoTopUpCommand,
        correlation_id: &str,
    ) -> Result<(), ReactionError> {
        Self::feed(self.buses.auto_top_ups.as_ref(), input, correlation_id).await
    }

    /// Sends one dispatch of `saga` and feeds back the replies the saga needs.
    async fn dispatch(
        &self,
        saga: SagaRef,
        dispatch: &Dispatch,
        correlation_id: &str,
    ) -> Result<(), ReactionError> {
        let key = Some(dispatch.idempotency_key.clone());
        match &dispatch.command {
            DispatchCommand::WalletCredit(credit) => {
                let reply = Self::command(
                    self.buses.wallets.as_ref(),
                    credit.to_command(),
                    key,
                    correlation_id,
                    Recipient::Target,
                )
                .await?;
                let (SagaRef::TopUp(top_up_id), Some(reply)) = (saga, reply) else {
                    return Ok(());
                };
                let part = match credit.source {
                    CreditSource::Paid => CreditPart::Paid,
                    CreditSource::Granted => CreditPart::Granted,
                    other => {
                        error!(%top_up_id, source = %other, "top-up saga asked for a credit of an unexpected source; no reply fed back");
                        return Ok(());
                    }
                };
                let reply = reply.as_ref().map(|reply| &reply.outcome);
                let Some(input) = TopUpSagaCommand::from_credit_reply(top_up_id, part, reply)
                else {
                    error!(%top_up_id, "wallet credit reply names no lot; no reply fed back");
                    return Ok(());
                };
                self.top_up_saga(input, correlation_id).await
            }
            DispatchCommand::TopUp(command) => {
                let creates = matches!(command.action, TopUpAction::Create(_));
                let top_up_id = command.top_up_id;
                let reply = Self::command(
                    self.buses.top_ups.as_ref(),
                    command.clone(),
                    key,
                    correlation_id,
                    Recipient::Target,
                )
                .await?;
                match (saga, reply) {
                    (SagaRef::Auto(wallet_id), Some(reply)) if creates => {
                        let reply = reply.as_ref().map(|reply| &reply.outcome);
                        let input =
                            AutoTopUpCommand::from_create_reply(wallet_id, top_up_id, reply);
                        self.auto_saga(input, correlation_id).await
                    }
                    _ => Ok(()),
                }
            }
            DispatchCommand::Payment(command) => Self::command(
                self.buses.payments.as_ref(),
                command.clone(),
                key,
                correlation_id,
                Recipient::Target,
            )
            .await
            .map(drop),
            DispatchCommand::PaymentMethods(command) => Self::command(
                self.buses.payment_methods.as_ref(),
                command.clone(),
                key,
                correlation_id,
                Recipient::Target,
            )
            .await
            .map(drop),
        }
    }
}

/// Top-up events: to the top-up's saga, and to its wallet's auto top-up saga.
struct TopUpEvents {
    sender: Arc<Sender>,
}

#[async_trait::async_trait]
impl Reaction<TopUpStream> for TopUpEvents {
    async fn react(&self, event: &Reacted<'_, TopUpStream>) -> Result<(), ReactionError> {
        let input = TopUpSagaCommand::from_top_up_event(event.stream_id, event.event);
        self.sender.top_up_saga(input, event.correlation_id).await?;
        let auto = event
            .state
            .top_up()
            .and_then(|top_up| AutoTopUpCommand::from_top_up_event(top_up, event.event));
        if let Some(input) = auto {
            self.sender.auto_saga(input, event.correlation_id).await?;
        }
        Ok(())
    }
}

/// Payment events: to the saga of the intent's top-up; a capture may store the card.
struct PaymentEvents {
    sender: Arc<Sender>,
}

#[async_trait::async_trait]
impl Reaction<PaymentStream> for PaymentEvents {
    async fn react(&self, event: &Reacted<'_, PaymentStream>) -> Result<(), ReactionError> {
        let Some(intent) = event.state.intent() else {
            return Ok(());
        };
        if let Some(input) = TopUpSagaCommand::from_payment_event(intent, event.event) {
            self.sender.top_up_saga(input, event.correlation_id).await?;
        }
        // Saving a card the payer asked to keep is the payments processor's job, not a saga's.
        Ok(())
    }
}

/// The latest balance observation of one wallet.
#[derive(Clone, Copy, Debug)]
struct Observed {
    partition: u32,
    wallet_sequence: u64,
    available: Decimal,
}

impl Observed {
    fn input(self, wallet_id: Uuid) -> AutoTopUpCommand {
        AutoTopUpCommand {
            wallet_id,
            input: AutoTopUpInput::BalanceObserved {
                wallet_sequence: self.wallet_sequence,
                available: self.available,
            },
        }
    }
}

#[derive(Default)]
struct RuleState {
    /// Wallets whose auto top-up saga has a rule.
    with_rule: HashSet<Uuid>,
    /// Auto top-up saga partitions replayed up to their checkpoint.
    caught_up: HashSet<u32>,
    /// Latest balance observation of every wallet (ADR 0009: closes the race between a rule
    /// being set and the balance moving).
    latest: HashMap<Uuid, Observed>,
}

/// Which wallets have an auto top-up rule, shared by the wallet reactor and the auto top-up
/// dispatcher, so that wallets without a rule cost no saga command.
struct RuleIndex {
    state: Mutex<RuleState>,
    partitions: u32,
    ready: watch::Sender<bool>,
}

impl RuleIndex {
    fn new(partitions: u32) -> Self {
        Self {
            state: Mutex::new(RuleState::default()),
            partitions,
            ready: watch::Sender::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RuleState> {
        // A panic while holding the lock leaves plain maps behind, still consistent enough to
        // serve: entries are only inserted or removed whole.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records whether a wallet has a rule; returns its latest balance when the rule is new.
    fn set_rule(&self, wallet_id: Uuid, has_rule: bool) -> Option<Observed> {
        let mut state = self.lock();
        if !has_rule {
            state.with_rule.remove(&wallet_id);
            return None;
        }
        let new = state.with_rule.insert(wallet_id);
        new.then(|| state.latest.get(&wallet_id).copied()).flatten()
    }

    fn mark_caught_up(&self, partition: u32) {
        let mut state = self.lock();
        state.caught_up.insert(partition);
        if state.caught_up.len() as u32 >= self.partitions {
            self.ready.send_replace(true);
        }
    }

    /// Waits (bounded) until every auto top-up partition is replayed; until then, a wallet
    /// without a known rule may just be one whose rule is not loaded yet.
    async fn wait_ready(&self) -> Result<(), ReactionError> {
        let mut ready = self.ready.subscribe();
        match tokio::time::timeout(
            Duration::from_millis(RULES_READY_WAIT_MS),
            ready.wait_for(|ready| *ready),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ReactionError::Transient(
                "auto top-up rules still loading".to_owned(),
            )),
        }
    }

    /// Records a wallet's balance; returns it when the wallet has a rule.
    fn observe(&self, wallet_id: Uuid, observed: Observed) -> Option<Observed> {
        let mut state = self.lock();
        let newer = state
            .latest
            .get(&wallet_id)
            .is_none_or(|known| known.wallet_sequence < observed.wallet_sequence);
        if newer {
            state.latest.insert(wallet_id, observed);
        }
        state.with_rule.contains(&wallet_id).then_some(observed)
    }

    /// The latest balances of the wallets with a rule on one wallet partition.
    fn with_rule_on(&self, partition: u32) -> Vec<(Uuid, Observed)> {
        let state = self.lock();
        state
            .with_rule
            .iter()
            .filter_map(|wallet_id| {
                state
                    .latest
                    .get(wallet_id)
                    .filter(|observed| observed.partition == partition)
                    .map(|observed| (*wallet_id, *observed))
            })
            .collect()
    }
}

/// Wallet events: balance observations for wallets with an auto top-up rule.
struct WalletEvents {
    sender: Arc<Sender>,
    rules: Arc<RuleIndex>,
}

impl WalletEvents {
    fn observed(event: &Reacted<'_, WalletStream>) -> Option<Observed> {
        let command =
            AutoTopUpCommand::from_wallet_event(event.stream_id, event.sequence, event.event)?;
        let AutoTopUpInput::BalanceObserved {
            wallet_sequence,
            available,
        } = command.input
        else {
            return None;
        };
        Some(Observed {
            partition: event.partition,
            wallet_sequence,
            available,
        })
    }
}

#[async_trait::async_trait]
impl Reaction<WalletStream> for WalletEvents {
    async fn react(&self, event: &Reacted<'_, WalletStream>) -> Result<(), ReactionError> {
        self.rules.wait_ready().await?;
        let Some(observed) = Self::observed(event) else {
            return Ok(());
        };
        match self.rules.observe(event.stream_id, observed) {
            Some(observed) => {
                self.sender
                    .auto_saga(observed.input(event.stream_id), event.correlation_id)
                    .await
            }
            None => Ok(()),
        }
    }

    fn replay(&self, event: &Reacted<'_, WalletStream>) {
        if let Some(observed) = Self::observed(event) {
            // Only the index: these were handled before the restart.
            let _ = self.rules.observe(event.stream_id, observed);
        }
    }

    async fn caught_up(&self, partition: u32) -> Result<(), ReactionError> {
        self.rules.wait_ready().await?;
        // A rule set while its wallet's events were only replayed here would otherwise miss the
        // balance until the wallet's next money event (ADR 0009).
        let correlation_id = format!("saga-resend-{}", Uuid::now_v7());
        for (wallet_id, observed) in self.rules.with_rule_on(partition) {
            self.sender
                .auto_saga(observed.input(wallet_id), &correlation_id)
                .await?;
        }
        Ok(())
    }
}

/// What a saga kind contributes to its dispatcher.
trait SagaKind: ShardDecider {
    /// The saga reference of a stream.
    fn saga_ref(stream_id: Uuid) -> SagaRef;
    /// The commands a saga still wants.
    fn dispatches(state: &<Self as Decider>::State) -> Vec<Dispatch>;
    /// Whether the saga has an auto top-up rule (auto top-up sagas only).
    fn has_rule(_state: &<Self as Decider>::State) -> bool {
        false
    }
}

impl SagaKind for TopUpSagaStream {
    fn saga_ref(stream_id: Uuid) -> SagaRef {
        SagaRef::TopUp(stream_id)
    }

    fn dispatches(state: &<Self as Decider>::State) -> Vec<Dispatch> {
        state.dispatches()
    }
}

impl SagaKind for AutoTopUpStream {
    fn saga_ref(stream_id: Uuid) -> SagaRef {
        SagaRef::Auto(stream_id)
    }

    fn dispatches(state: &<Self as Decider>::State) -> Vec<Dispatch> {
        state.dispatches()
    }

    fn has_rule(state: &<Self as Decider>::State) -> bool {
        state
            .auto_top_up()
            .is_some_and(|saga| saga.rule().is_some())
    }
}

/// The dispatches every saga still wants, by stream, with the partition it lives on: what a
/// restarted dispatcher re-sends once it has caught up.
#[derive(Default)]
struct Wanted {
    by_stream: Mutex<HashMap<Uuid, (u32, Vec<Dispatch>)>>,
}

impl Wanted {
    fn record(&self, stream_id: Uuid, partition: u32, dispatches: &[Dispatch]) {
        let mut by_stream = self
            .by_stream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if dispatches.is_empty() {
            by_stream.remove(&stream_id);
        } else {
            by_stream.insert(stream_id, (partition, dispatches.to_vec()));
        }
    }

    fn on(&self, partition: u32) -> Vec<(Uuid, Vec<Dispatch>)> {
        self.by_stream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, (p, _))| *p == partition)
            .map(|(stream_id, (_, dispatches))| (*stream_id, dispatches.clone()))
            .collect()
    }
}

/// Sends what a saga wants after each of its events.
struct Dispatcher<D: SagaKind> {
    sender: Arc<Sender>,
    wanted: Wanted,
    /// The auto top-up dispatcher keeps the rule index.
    rules: Option<Arc<RuleIndex>>,
    _kind: PhantomData<fn() -> D>,
}

#[async_trait::async_trait]
impl<D: SagaKind> Reaction<D> for Dispatcher<D> {
    async fn react(&self, event: &Reacted<'_, D>) -> Result<(), ReactionError> {
        let dispatches = D::dispatches(event.state);
        self.wanted
            .record(event.stream_id, event.partition, &dispatches);
        if let Some(rules) = &self.rules
            && let Some(latest) = rules.set_rule(event.stream_id, D::has_rule(event.state))
        {
            // A new rule learns the balance it may already be below.
            self.sender
                .auto_saga(latest.input(event.stream_id), event.correlation_id)
                .await?;
        }
        let saga = D::saga_ref(event.stream_id);
        for dispatch in &dispatches {
            self.sender
                .dispatch(saga, dispatch, event.correlation_id)
                .await?;
        }
        Ok(())
    }

    fn replay(&self, event: &Reacted<'_, D>) {
        self.wanted.record(
            event.stream_id,
            event.partition,
            &D::dispatches(event.state),
        );
        if let Some(rules) = &self.rules {
            // Replayed rules were announced before the restart; the wallet reactor re-sends
            // their latest balances once it has caught up.
            let _ = rules.set_rule(event.stream_id, D::has_rule(event.state));
        }
    }

    async fn caught_up(&self, partition: u32) -> Result<(), ReactionError> {
        if let Some(rules) = &self.rules {
            rules.mark_caught_up(partition);
        }
        let correlation_id = format!("saga-resend-{}", Uuid::now_v7());
        for (stream_id, dispatches) in self.wanted.on(partition) {
            let saga = D::saga_ref(stream_id);
            for dispatch in &dispatches {
                self.sender
                    .dispatch(saga, dispatch, &correlation_id)
                    .await?;
            }
        }
        Ok(())
    }
}
