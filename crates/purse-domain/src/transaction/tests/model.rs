//! Property test: random batches of transfers (with some issues and redeems) among three real
//! wallets, driven through the coordinator and the wallets' prepare / commit / abort, with
//! answers delivered twice and the deadline sometimes firing mid-way. Checks against a
//! reference model that applies the operations in order on plain balances: the transaction
//! completes exactly when every step keeps every balance ≥ 0, then the balances are the
//! model's (transfers preserve the sum); otherwise no balance changes; no hold is left behind;
//! a reported failure index is never before the model's first failing step; and replaying each
//! wallet's events rebuilds its state.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::decider::{Context, Decider, MAX_IDS_PER_COMMAND};
use crate::wallet::{
    Limits, WalletAction, WalletCommand, WalletDecider, WalletError, WalletEvent, WalletEventKind,
    WalletKind, WalletState, WalletTransactionStatus,
};

const WALLETS: [u128; 3] = [0xA1, 0xA2, 0xA3];

#[derive(Clone, Debug)]
enum Op {
    Transfer { from: usize, to: usize, cents: i64 },
    Issue { wallet: usize, cents: i64 },
    Redeem { wallet: usize, cents: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..3, 1usize..3, 1i64..1_500).prop_map(|(from, offset, cents)| Op::Transfer {
            from,
            to: (from + offset) % 3,
            cents,
        }),
        1 => (0usize..3, 1i64..1_000).prop_map(|(wallet, cents)| Op::Issue { wallet, cents }),
        1 => (0usize..3, 1i64..1_000).prop_map(|(wallet, cents)| Op::Redeem { wallet, cents }),
    ]
}

fn cents(value: i64) -> Decimal {
    Decimal::new(value, 2)
}

fn wallet(n: usize) -> Uuid {
    id(WALLETS[n])
}

fn operation(op: &Op) -> Operation {
    match *op {
        Op::Transfer { from, to, cents: c } => Operation::Transfer {
            from: wallet(from),
            to: wallet(to),
            amount: cents(c),
        },
        Op::Issue {
            wallet: w,
            cents: c,
        } => Operation::Issue {
            wallet_id: wallet(w),
            amount: cents(c),
            source: None,
            expires_at: None,
        },
        Op::Redeem {
            wallet: w,
            cents: c,
        } => Operation::Redeem {
            wallet_id: wallet(w),
            amount: cents(c),
        },
    }
}

/// The reference: balances after the operations, or the first index that goes below zero.
fn reference(initial: &[i64; 3], ops: &[Op]) -> Result<[i64; 3], usize> {
    let mut balances = *initial;
    for (index, op) in ops.iter().enumerate() {
        match *op {
            Op::Transfer { from, to, cents } => {
                balances[from] -= cents;
                if balances[from] < 0 {
                    return Err(index);
                }
                balances[to] += cents;
            }
            Op::Issue { wallet, cents } => balances[wallet] += cents,
            Op::Redeem { wallet, cents } => {
                balances[wallet] -= cents;
                if balances[wallet] < 0 {
                    return Err(index);
                }
            }
        }
    }
    Ok(balances)
}

struct World {
    wallets: BTreeMap<Uuid, (WalletState, Vec<WalletEvent>)>,
    coordinator: TransactionState,
    now: Timestamp,
    next_id: u128,
}

impl World {
    fn new(initial: &[i64; 3]) -> Self {
        let mut world = Self {
            wallets: BTreeMap::new(),
            coordinator: TransactionState::default(),
            now: Timestamp::from_millis(DAY0),
            next_id: 0x10_0000,
        };
        for (n, balance) in initial.iter().enumerate() {
            world
                .wallet(&WalletCommand {
                    tenant: TENANT.into(),
                    wallet_id: wallet(n),
                    action: WalletAction::Open {
                        owner: format!("customer-{n}"),
                        kind: WalletKind::Customer,
                        asset: usd(),
                        limits: Limits::default(),
                        metadata: BTreeMap::new(),
                    },
                })
                .expect("open");
            if *balance > 0 {
                world
                    .wallet(&WalletCommand {
                        tenant: TENANT.into(),
                        wallet_id: wallet(n),
                        action: WalletAction::Credit {
                            amount: cents(*balance),
                            source: CreditSource::Paid,
                            expires_at: None,
                            reference: String::new(),
                            description: String::new(),
                        },
                    })
                    .expect("credit");
            }
        }
        world.now = NOW;
        world
    }

    fn ctx(&mut self) -> Context {
        let ids = (0..MAX_IDS_PER_COMMAND as u128)
            .map(|n| id(self.next_id + n))
            .collect();
        self.next_id += MAX_IDS_PER_COMMAND as u128;
        Context::new(self.now, ids)
    }

    fn wallet(&mut self, command: &WalletCommand) -> Result<Vec<WalletEvent>, WalletError> {
        let ctx = self.ctx();
        let (state, log) = self.wallets.entry(command.wallet_id).or_default();
        let events = WalletDecider::decide(state, command, &ctx)?;
        for event in &events {
            *state = WalletDecider::evolve(std::mem::take(state), event);
            log.push(event.clone());
        }
        Ok(events)
    }

    fn coordinate(&mut self, action: TransactionAction) -> TransactionOutcome {
        let ctx = self.ctx();
        let command = command(action);
        let events = TransactionDecider::decide(&self.coordinator, &command, &ctx)
            .unwrap_or_else(|error| panic!("coordinator refused {command:?}: {error}"));
        for event in &events {
            self.coordinator =
                TransactionDecider::evolve(std::mem::take(&mut self.coordinator), event);
        }
        TransactionDecider::outcome(&self.coordinator, &events)
    }

    /// Sends one dispatched command (twice when `again`) and returns the wallet's answer.
    fn deliver(&mut self, dispatch: &TransactionDispatch, again: bool) -> TransactionAction {
        let command = &dispatch.command;
        let wallet_id = command.wallet_id;
        let result = self.wallet(command);
        if again {
            assert_eq!(self.wallet(command), Ok(vec![]), "a resent step is a no-op");
        }
        match &command.action {
            WalletAction::PrepareTransaction { legs, .. } => {
                let known = self.wallets[&wallet_id]
                    .0
                    .wallet()
                    .and_then(|wallet| wallet.transaction(txn()).cloned());
                match (result, known) {
                    (Err(error), _) => TransactionAction::RecordPrepareFailed {
                        wallet_id,
                        index: legs[0].index,
                        reason: TransactionFailureReason::of(&error).expect("a prepare answer"),
                        available: None,
                    },
                    (Ok(events), Some(known))
                        if known.status() == WalletTransactionStatus::Failed =>
                    {
                        let failure = events.iter().find_map(|event| match &event.kind {
                            WalletEventKind::TransactionPrepareFailed {
                                index,
                                reason,
                                available,
                                ..
                            } => Some((index, reason, available)),
                            _ => None,
                        });
                        let (index, reason, available) = failure.expect("failure recorded");
                        TransactionAction::RecordPrepareFailed {
                            wallet_id,
                            index: *index,
                            reason: *reason,
                            available: *available,
                        }
                    }
                    (Ok(_), _) => TransactionAction::RecordPrepared { wallet_id },
                }
            }
            WalletAction::CommitTransaction { .. } => {
                result.expect("a commit never fails");
                TransactionAction::RecordCommitted { wallet_id }
            }
            WalletAction::AbortTransaction { .. } => {
                result.expect("an abort never fails");
                TransactionAction::RecordAborted { wallet_id }
            }
            other => panic!("unexpected dispatch {other:?}"),
        }
    }

    fn balances(&self) -> [Decimal; 3] {
        [0, 1, 2].map(|n| {
            let wallet = self.wallets[&wallet(n)].0.wallet().expect("wallet");
            assert!(wallet.held().is_zero(), "a hold was left behind");
            wallet.balance()
        })
    }
}

fn run(initial: [i64; 3], ops: Vec<Op>, again: bool, reverse: bool, expire_after: Option<usize>) {
    let mut world = World::new(&initial);
    let operations: Vec<Operation> = ops.iter().map(operation).collect();
    world.coordinate(TransactionAction::Start {
        reference_id: REFERENCE.into(),
        operations,
        wallet_assets: [0, 1, 2].map(|n| (wallet(n), "USD".to_owned())).into(),
        timeout_ms: DEFAULT_TRANSACTION_TIMEOUT_MS,
    });
    let mut answers = 0;
    let mut expired = false;
    // Prepares, then commits or aborts: two rounds suffice; the bound keeps a bug from looping.
    for _round in 0..4 {
        let mut dispatch = world
            .coordinator
            .transaction()
            .expect("transaction")
            .dispatch();
        if reverse {
            dispatch.reverse();
        }
        for step in &dispatch {
            let answer = world.deliver(step, again);
            world.coordinate(answer.clone());
            if again {
                assert!(
                    world.coordinate(answer).unchanged,
                    "a redelivered answer is a no-op"
                );
            }
            answers += 1;
            if expire_after == Some(answers) && !expired {
                world.now = deadline();
                expired = true;
                world.coordinate(TransactionAction::Expire);
            }
        }
    }
    let transaction = world.coordinator.transaction().expect("transaction");
    assert!(
        transaction.is_finished(),
        "every step resolved: {transaction:?}"
    );
    let balances = world.balances();
    let expected = reference(&initial, &ops);
    match (transaction.status(), &expected) {
        (TransactionStatus::Completed, Ok(after)) => {
            assert_eq!(balances, after.map(cents));
            let issued: i64 = ops
                .iter()
                .map(|op| match op {
                    Op::Issue { cents, .. } => *cents,
                    Op::Redeem { cents, .. } => -cents,
                    Op::Transfer { .. } => 0,
                })
                .sum();
            let sum: Decimal = balances.iter().sum();
            assert_eq!(sum, cents(initial.iter().sum::<i64>() + issued));
        }
        (TransactionStatus::Failed, _) => {
            assert_eq!(
                balances,
                initial.map(cents),
                "a failed transaction changes nothing"
            );
            let failure = transaction.failure().expect("failure");
            match (failure.reason, &expected) {
                (TransactionFailureReason::DeadlineExceeded, _) => assert!(expired),
                (TransactionFailureReason::InsufficientFunds, Err(first)) => {
                    let index = failure.index.expect("index") as usize;
                    assert!(index >= *first, "failed at {index}, before step {first}");
                }
                (reason, expected) => {
                    panic!("failed with {reason} while the model says {expected:?}")
                }
            }
        }
        (status, expected) => panic!("{status} while the model says {expected:?}"),
    }
    for (state, log) in world.wallets.values() {
        let rebuilt = log.iter().fold(WalletState::default(), |state, event| {
            WalletDecider::evolve(state, event)
        });
        assert_eq!(&rebuilt, state, "replaying the events rebuilds the wallet");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn transfer_batches_are_all_or_nothing(
        initial in [0i64..3_000, 0i64..3_000, 0i64..3_000],
        ops in prop::collection::vec(op(), 1..12),
        again in any::<bool>(),
        reverse in any::<bool>(),
        expire_after in prop::option::weighted(0.2, 1usize..4),
    ) {
        run(initial, ops, again, reverse, expire_after);
    }
}

#[test]
fn the_w1_w2_example_end_to_end() {
    // W1 holds 5, W2 holds 7 (in whole units: 500 and 700 cents).
    let w1_to_w2 = Op::Transfer {
        from: 0,
        to: 1,
        cents: 1_100,
    };
    let issue_w1 = Op::Issue {
        wallet: 0,
        cents: 600,
    };
    assert_eq!(
        reference(&[500, 700, 0], &[w1_to_w2.clone(), issue_w1.clone()]),
        Err(0)
    );
    assert_eq!(
        reference(&[500, 700, 0], &[issue_w1.clone(), w1_to_w2.clone()]),
        Ok([0, 1_800, 0])
    );
    run(
        [500, 700, 0],
        vec![w1_to_w2.clone(), issue_w1.clone()],
        false,
        false,
        None,
    );
    run([500, 700, 0], vec![issue_w1, w1_to_w2], false, false, None);
}
