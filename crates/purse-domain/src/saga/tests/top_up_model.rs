//! Property test of the whole top-up flow: the saga drives the real top-up and payment deciders
//! (behind an idempotency ledger, as the runtime runs them) and a model wallet, while a random
//! provider captures, declines and answers refunds, time passes, the saga lags behind its
//! inputs, and inputs are delivered again.
//!
//! Checked after every step: a top-up completes at most once and then credits exactly
//! `wallet_amount` (only `amount` when the wallet refused the granted part); an expired top-up
//! is never credited; the payment has at most one refund; the top-up decider never rejects what
//! the saga sends; replaying each stream's events rebuilds its state. Checked once everything
//! has settled: the saga is finished, the top-up final, a late capture yielded exactly one
//! refund and was recorded on the top-up, and every captured payment was either credited or
//! refunded.

use std::collections::{BTreeMap, VecDeque};

use proptest::prelude::*;

use super::*;
use crate::decider::{Context, Decider, MAX_IDS_PER_COMMAND};
use crate::idempotency::Fingerprint;
use crate::payment::{
    CardBrand, CardDetails, DeclineReason, PaymentAction, PaymentCommand, PaymentDecider,
    PaymentError, PaymentEvent, PaymentOutcome, PaymentState, PaymentStatus, ProviderEventId,
    RefundFailureReason, RefundReason, RefundStatus,
};
use crate::topup::{
    CreateTopUp, CreditRejection, DEFAULT_TOP_UP_TIMEOUT_MS, FeeRate, GrantedCredit, TopUpAction,
    TopUpCommand, TopUpDecider, TopUpEvent, TopUpOutcome, TopUpState, TopUpStatus,
};
use crate::wallet::CreditSource;

/// How the model wallet answers credits in one run.
#[derive(Clone, Copy, Debug)]
enum WalletMode {
    Accept,
    RefusePaid(CreditRejection),
    RefuseGranted(CreditRejection),
    /// Refuses the first `n` credits with the velocity limit, then accepts.
    Velocity(u32),
}

fn wallet_mode() -> impl Strategy<Value = WalletMode> {
    prop_oneof![
        4 => Just(WalletMode::Accept),
        1 => Just(WalletMode::RefusePaid(CreditRejection::WalletClosed)),
        1 => Just(WalletMode::RefuseGranted(CreditRejection::MaxBalanceExceeded)),
        1 => (1u32..4).prop_map(WalletMode::Velocity),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    /// The saga takes its next input.
    Deliver,
    /// One of the commands the saga wants is executed.
    Execute { pick: usize },
    /// The payer submits a card on the hosted page.
    Submit,
    /// The provider reports a capture (few event ids, so repeats happen).
    Capture { event: u8 },
    /// The provider reports a decline.
    Decline { event: u8 },
    /// The provider answers the pending refunds.
    AnswerRefunds { succeed: bool },
    /// An input already delivered arrives again.
    Redeliver { pick: usize },
    /// Time passes; a due timer is queued.
    Advance { ms: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Deliver),
        5 => any::<usize>().prop_map(|pick| Op::Execute { pick }),
        1 => Just(Op::Submit),
        2 => (0u8..3).prop_map(|event| Op::Capture { event }),
        1 => (3u8..5).prop_map(|event| Op::Decline { event }),
        1 => any::<bool>().prop_map(|succeed| Op::AnswerRefunds { succeed }),
        1 => any::<usize>().prop_map(|pick| Op::Redeliver { pick }),
        3 => (0i64..3 * MINUTE_MS).prop_map(|ms| Op::Advance { ms }),
    ]
}

struct World {
    now: Timestamp,
    next_id: u128,
    saga: TopUpSagaState,
    saga_events: Vec<TopUpSagaEvent>,
    inbox: VecDeque<TopUpSagaInput>,
    delivered: Vec<TopUpSagaInput>,
    top_up: TopUpState,
    top_up_events: Vec<TopUpEvent>,
    top_up_ledger: BTreeMap<String, (Fingerprint, TopUpOutcome)>,
    payment: PaymentState,
    payment_events: Vec<PaymentEvent>,
    payment_ledger: BTreeMap<String, (Fingerprint, PaymentOutcome)>,
    wallet_mode: WalletMode,
    /// Credits the model wallet accepted, by idempotency key: (source, amount, lot).
    credits: BTreeMap<String, (CreditSource, Decimal, Uuid)>,
    refusals: u32,
    top_up_id: Uuid,
}

impl World {
    fn new(granted: bool, wallet_mode: WalletMode) -> Self {
        let mut world = World {
            now: created_at(),
            next_id: 1,
            saga: TopUpSagaState::default(),
            saga_events: Vec::new(),
            inbox: VecDeque::new(),
            delivered: Vec::new(),
            top_up: TopUpState::default(),
            top_up_events: Vec::new(),
            top_up_ledger: BTreeMap::new(),
            payment: PaymentState::default(),
            payment_events: Vec::new(),
            payment_ledger: BTreeMap::new(),
            wallet_mode,
            credits: BTreeMap::new(),
            refusals: 0,
            top_up_id: top_up_id(),
        };
        let create = TopUpCommand {
            tenant: TENANT.into(),
            top_up_id: world.top_up_id,
            action: TopUpAction::Create(CreateTopUp {
                wallet_id: wallet_id(),
                owner: "customer-1".into(),
                kind: TopUpKind::Manual,
                asset: usd(),
                amount: d("20"),
                wallet_amount: d(if granted { "25" } else { "20" }),
                fee_rate: FeeRate::percent(d("2.9")).expect("rate"),
                timeout_ms: DEFAULT_TOP_UP_TIMEOUT_MS,
                lots_expire_at: None,
                payment_method_id: None,
                facts: None,
            }),
        };
        world
            .run_top_up("client:create", create)
            .expect("the client's create");
        world
    }

    fn ctx(&mut self) -> Context {
        let ids = (0..MAX_IDS_PER_COMMAND as u128)
            .map(|n| Uuid::from_u128(0x1_0000 + self.next_id + n))
            .collect();
        self.next_id += MAX_IDS_PER_COMMAND as u128;
        Context::new(self.now, ids)
    }

    /// Runs a top-up command as the runtime does: a known key replays its first outcome.
    fn run_top_up(
        &mut self,
        key: &str,
        command: TopUpCommand,
    ) -> Result<TopUpOutcome, crate::topup::TopUpError> {
        let fingerprint = command.fingerprint();
        if let Some((known, outcome)) = self.top_up_ledger.get(key) {
            assert_eq!(*known, fingerprint, "one key, one request");
            return Ok(outcome.clone());
        }
        let ctx = self.ctx();
        let events = TopUpDecider::decide(&self.top_up, &command, &ctx)?;
        for event in &events {
            self.top_up = TopUpDecider::evolve(self.top_up.clone(), event);
            self.top_up_events.push(event.clone());
            let input = TopUpSagaCommand::from_top_up_event(self.top_up_id, event);
            self.inbox.push_back(input.input);
        }
        let outcome = TopUpDecider::outcome(&self.top_up, &events);
        self.top_up_ledger
            .insert(key.to_owned(), (fingerprint, outcome.clone()));
        Ok(outcome)
    }

    /// Runs a payment command; `key` is None for what the provider reports.
    fn run_payment(
        &mut self,
        key: Option<&str>,
        command: PaymentCommand,
    ) -> Result<PaymentOutcome, PaymentError> {
        let fingerprint = command.fingerprint();
        if let Some(key) = key
            && let Some((known, outcome)) = self.payment_ledger.get(key)
        {
            assert_eq!(*known, fingerprint, "one key, one request");
            return Ok(outcome.clone());
        }
        let ctx = self.ctx();
        let events = PaymentDecider::decide(&self.payment, &command, &ctx)?;
        for event in &events {
            self.payment = PaymentDecider::evolve(self.payment.clone(), event);
            self.payment_events.push(event.clone());
            let intent = self.payment.intent().expect("intent");
            if let Some(input) = TopUpSagaCommand::from_payment_event(intent, event) {
                assert_eq!(input.top_up_id, self.top_up_id);
                self.inbox.push_back(input.input);
            }
        }
        let outcome = PaymentDecider::outcome(&self.payment, &events);
        if let Some(key) = key {
            self.payment_ledger
                .insert(key.to_owned(), (fingerprint, outcome.clone()));
        }
        Ok(outcome)
    }

    fn credit(&mut self, key: &str, credit: &WalletCredit) {
        let part = match credit.source {
            CreditSource::Paid => CreditPart::Paid,
            CreditSource::Granted => CreditPart::Granted,
            other => panic!("the saga credits {other}"),
        };
        if let Some((_, _, lot)) = self.credits.get(key) {
            let lot = *lot;
            self.inbox
                .push_back(TopUpSagaInput::WalletCredited { part, lot_id: lot });
            return;
        }
        let refusal = match self.wallet_mode {
            WalletMode::RefusePaid(reason) if part == CreditPart::Paid => Some(reason),
            WalletMode::RefuseGranted(reason) if part == CreditPart::Granted => Some(reason),
            WalletMode::Velocity(n) if self.refusals < n => {
                self.refusals += 1;
                Some(CreditRejection::VelocityLimited)
            }
            _ => None,
        };
        let input = match refusal {
            Some(reason) => TopUpSagaInput::WalletCreditRejected { part, reason },
            None => {
                let lot = Uuid::from_u128(0x10_0000 + self.credits.len() as u128);
                self.credits
                    .insert(key.to_owned(), (credit.source, credit.amount, lot));
                TopUpSagaInput::WalletCredited { part, lot_id: lot }
            }
        };
        self.inbox.push_back(input);
    }

    fn deliver(&mut self, input: TopUpSagaInput) {
        let command = TopUpSagaCommand {
            top_up_id: self.top_up_id,
            input: input.clone(),
        };
        let ctx = self.ctx();
        let before = self.saga.clone();
        let events = match TopUpSagaDecider::decide(&self.saga, &command, &ctx) {
            Ok(events) => events,
            Err(error) => panic!("saga refused {input:?}: {error}"),
        };
        assert_eq!(self.saga, before, "deciding never changes the state");
        for event in &events {
            self.saga = TopUpSagaDecider::evolve(self.saga.clone(), event);
            self.saga_events.push(event.clone());
        }
        self.delivered.push(input);
    }

    fn execute(&mut self, dispatch: Dispatch) {
        let key = dispatch.idempotency_key.as_str().to_owned();
        match dispatch.command {
            DispatchCommand::TopUp(command) => {
                if let Err(error) = self.run_top_up(&key, command.clone()) {
                    panic!("the top-up refused the saga's {command:?}: {error}");
                }
            }
            DispatchCommand::Payment(command) => {
                let result = self.run_payment(Some(&key), command.clone());
                match (&command.action, result) {
                    (_, Ok(_)) => {}
                    // Sent after the deadline: the saga expires the top-up without a payment.
                    (PaymentAction::Create { .. }, Err(PaymentError::ExpiryNotInFuture)) => {}
                    // The provider's capture or decline won the race: its event tells the saga.
                    (PaymentAction::Cancel { .. }, Err(PaymentError::InvalidTransition { .. })) => {
                    }
                    (_, Err(error)) => {
                        panic!("the payment refused the saga's {command:?}: {error}")
                    }
                }
            }
            DispatchCommand::WalletCredit(credit) => self.credit(&key, &credit),
            DispatchCommand::PaymentMethods(command) => {
                panic!("the top-up saga stores no cards: {command:?}")
            }
        }
    }

    fn provider(&mut self, action: PaymentAction) {
        if self.payment.intent().is_some() {
            let _ = self.run_payment(
                None,
                PaymentCommand {
                    tenant: TENANT.into(),
                    payment_id: self.payment_id(),
                    action,
                },
            );
        }
    }

    fn payment_id(&self) -> Uuid {
        self.top_up.top_up().expect("top-up").payment_id()
    }

    fn answer_refunds(&mut self, succeed: bool) {
        let pending: Vec<Uuid> = self
            .payment
            .intent()
            .map(|intent| {
                intent
                    .refunds()
                    .iter()
                    .filter(|refund| refund.status() == RefundStatus::Pending)
                    .map(|refund| refund.id())
                    .collect()
            })
            .unwrap_or_default();
        for refund_id in pending {
            let provider_event_id =
                ProviderEventId::parse(&format!("evt_refund_{refund_id}")).expect("id");
            self.provider(if succeed {
                PaymentAction::RecordRefundSucceeded {
                    provider_event_id,
                    refund_id,
                }
            } else {
                PaymentAction::RecordRefundFailed {
                    provider_event_id,
                    refund_id,
                    reason: RefundFailureReason::ProcessingError,
                }
            });
        }
    }

    fn queue_due_timer(&mut self) {
        if self.saga.next_deadline().is_some_and(|at| at <= self.now) {
            self.inbox.push_back(TopUpSagaInput::Timer);
        }
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Deliver => {
                if let Some(input) = self.inbox.pop_front() {
                    self.deliver(input);
                }
            }
            Op::Execute { pick } => {
                let dispatches = self.saga.dispatches();
                if !dispatches.is_empty() {
                    let dispatch = dispatches[pick % dispatches.len()].clone();
                    self.execute(dispatch);
                }
            }
            Op::Submit => self.provider(PaymentAction::Submit {
                card: CardDetails::new(CardBrand::Visa, "4242", 12, 2030, "tok_visa")
                    .expect("card"),
                payment_method_id: None,
                save_card: false,
            }),
            Op::Capture { event } => self.provider(PaymentAction::RecordSucceeded {
                provider_event_id: ProviderEventId::parse(&format!("evt_{event}")).expect("id"),
                amount: d("20"),
            }),
            Op::Decline { event } => self.provider(PaymentAction::RecordFailed {
                provider_event_id: ProviderEventId::parse(&format!("evt_{event}")).expect("id"),
                reason: DeclineReason::InsufficientFunds,
            }),
            Op::AnswerRefunds { succeed } => self.answer_refunds(*succeed),
            Op::Redeliver { pick } => {
                if !self.delivered.is_empty() {
                    let input = self.delivered[pick % self.delivered.len()].clone();
                    self.inbox.push_back(input);
                }
            }
            Op::Advance { ms } => {
                self.now = self.now.plus_millis(*ms);
                self.queue_due_timer();
            }
        }
    }

    /// Lets everything settle: the saga catches up, its commands run, the provider answers
    /// refunds, and timers fire, with no new payer or provider activity.
    fn settle(&mut self) {
        for _ in 0..500 {
            if let Some(input) = self.inbox.pop_front() {
                self.deliver(input);
                continue;
            }
            // An overdue timer fires before commands are sent again (a create sent after the
            // deadline keeps failing until the deadline is acted on).
            if self.saga.next_deadline().is_some_and(|at| at <= self.now) {
                self.inbox.push_back(TopUpSagaInput::Timer);
                continue;
            }
            let dispatches = self.saga.dispatches();
            if !dispatches.is_empty() {
                for dispatch in dispatches {
                    self.execute(dispatch);
                }
                continue;
            }
            let refunds_pending = self
                .payment
                .intent()
                .is_some_and(|intent| !intent.refund_pending().is_zero());
            if refunds_pending {
                self.answer_refunds(true);
                continue;
            }
            if let Some(at) = self.saga.next_deadline() {
                self.now = self.now.max(at);
                self.inbox.push_back(TopUpSagaInput::Timer);
                continue;
            }
            return;
        }
        panic!("the flow did not settle");
    }

    fn credited(&self) -> Decimal {
        self.credits.values().map(|(_, amount, _)| *amount).sum()
    }

    fn check_invariants(&self) {
        let top_up = self.top_up.top_up().expect("top-up");
        let completions = self
            .top_up_events
            .iter()
            .filter(|event| event.event_type() == "TopUpCompleted")
            .count();
        assert!(completions <= 1, "a top-up completes at most once");
        if top_up.status() == TopUpStatus::Expired {
            assert!(
                self.credits.is_empty(),
                "an expired top-up is never credited"
            );
        }
        if let Some(intent) = self.payment.intent() {
            assert!(intent.refunds().len() <= 1, "at most one refund");
            if intent.captured_late() {
                assert!(self.credits.is_empty(), "a late capture is never credited");
            }
        }
        if !self.credits.is_empty() {
            let intent = self.payment.intent().expect("credited after a payment");
            assert_eq!(intent.status(), PaymentStatus::Succeeded);
            assert!(!intent.captured_late());
        }
        if top_up.status() == TopUpStatus::Completed {
            assert_eq!(
                top_up.credited(),
                self.credited(),
                "credits exactly what it reports"
            );
            let expected = match top_up.granted() {
                Some(GrantedCredit::Rejected { .. }) => top_up.amount(),
                _ => top_up.wallet_amount(),
            };
            assert_eq!(top_up.credited(), expected, "credits exactly wallet_amount");
        }
        let saga = self
            .saga_events
            .iter()
            .fold(TopUpSagaState::default(), |state, event| {
                TopUpSagaDecider::evolve(state, event)
            });
        assert_eq!(saga, self.saga, "replaying the saga rebuilds it");
        let top_up_state = self
            .top_up_events
            .iter()
            .fold(TopUpState::default(), |state, event| {
                TopUpDecider::evolve(state, event)
            });
        assert_eq!(
            top_up_state, self.top_up,
            "replaying the top-up rebuilds it"
        );
        let payment = self
            .payment_events
            .iter()
            .fold(PaymentState::default(), |state, event| {
                PaymentDecider::evolve(state, event)
            });
        assert_eq!(payment, self.payment, "replaying the payment rebuilds it");
    }

    fn check_settled(&self) {
        assert!(
            self.saga.is_finished(),
            "the saga finishes: {:?}",
            self.saga
        );
        let top_up = self.top_up.top_up().expect("top-up");
        assert!(top_up.status().is_final(), "the top-up ends");
        let Some(intent) = self.payment.intent() else {
            assert_eq!(
                top_up.status(),
                TopUpStatus::Expired,
                "no payment, no money"
            );
            return;
        };
        let refunds: Vec<_> = intent
            .refunds()
            .iter()
            .map(|refund| refund.reason())
            .collect();
        if intent.captured_late() {
            assert_eq!(
                refunds,
                vec![RefundReason::LateCapture],
                "one refund per late capture"
            );
            assert_eq!(
                top_up.late_capture(),
                Some(d("20")),
                "the late capture is reported"
            );
            assert_ne!(top_up.status(), TopUpStatus::Completed);
        } else if intent.status() == PaymentStatus::Succeeded {
            match top_up.status() {
                TopUpStatus::Completed => assert!(refunds.is_empty()),
                TopUpStatus::Failed => {
                    assert_eq!(refunds, vec![RefundReason::CreditRejected]);
                    assert!(self.credits.is_empty());
                }
                status => panic!("a captured payment left the top-up {status}"),
            }
        } else {
            assert!(refunds.is_empty());
            assert!(self.credits.is_empty());
            assert_ne!(top_up.status(), TopUpStatus::Completed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_top_up_flow_keeps_its_promises(
        granted in any::<bool>(),
        wallet_mode in wallet_mode(),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let mut world = World::new(granted, wallet_mode);
        for op in &ops {
            world.step(op);
            world.check_invariants();
        }
        world.settle();
        world.check_invariants();
        world.check_settled();
    }
}
