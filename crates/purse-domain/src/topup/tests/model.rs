//! Property test: random saga commands and captures against a small reference model of one
//! top-up. Checks that a final status never changes, a top-up completes at most once and then
//! credits exactly `wallet_amount` (or `amount` when the granted part was refused), an expired
//! top-up is never credited, a late capture is recorded exactly once, rejected commands change
//! nothing, and replaying the events rebuilds the state.

use proptest::prelude::*;

use super::*;
use crate::decider::{Context, Decider, MAX_IDS_PER_COMMAND};

#[derive(Clone, Debug)]
enum Op {
    Capture,
    Complete { granted: u8 },
    Expire,
    Decline,
    RefuseCredit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Capture),
        2 => (0u8..3).prop_map(|granted| Op::Complete { granted }),
        2 => Just(Op::Expire),
        1 => Just(Op::Decline),
        1 => Just(Op::RefuseCredit),
    ]
}

#[derive(Default)]
struct Model {
    status: Option<TopUpStatus>,
    captured: bool,
    late_captures: u32,
    completions: u32,
}

struct Run {
    state: TopUpState,
    events: Vec<TopUpEvent>,
    model: Model,
    now: Timestamp,
    next_id: u128,
    excess: bool,
}

impl Run {
    fn new(excess: bool) -> Self {
        let mut run = Run {
            state: TopUpState::default(),
            events: Vec::new(),
            model: Model::default(),
            now: created_at(),
            next_id: 1,
            excess,
        };
        run.decide(TopUpAction::Create(CreateTopUp {
            wallet_id: wallet_id(),
            owner: "customer-1".into(),
            kind: TopUpKind::Manual,
            asset: usd(),
            amount: d("20"),
            wallet_amount: d(if excess { "25" } else { "20" }),
            fee_rate: rate("2.9"),
            timeout_ms: DEFAULT_TOP_UP_TIMEOUT_MS,
            lots_expire_at: None,
            payment_method_id: None,
            facts: Some(ON_FILE),
        }))
        .expect("create");
        run.model.status = Some(TopUpStatus::Created);
        run
    }

    fn decide(&mut self, action: TopUpAction) -> Result<Vec<TopUpEvent>, TopUpError> {
        let ids = (0..MAX_IDS_PER_COMMAND as u128)
            .map(|n| Uuid::from_u128(self.next_id + n))
            .collect();
        self.next_id += MAX_IDS_PER_COMMAND as u128;
        let before = self.state.clone();
        let result =
            TopUpDecider::decide(&self.state, &command(action), &Context::new(self.now, ids));
        assert_eq!(self.state, before, "deciding never changes the state");
        if let Ok(events) = &result {
            for event in events {
                self.state = TopUpDecider::evolve(self.state.clone(), event);
                self.events.push(event.clone());
            }
        }
        result
    }

    fn payment_id(&self) -> Uuid {
        top_up(&self.state).payment_id()
    }

    fn status(&self) -> TopUpStatus {
        self.model.status.expect("created")
    }

    fn step(&mut self, op: &Op) {
        let status = self.status();
        let final_before = status.is_final();
        match op {
            Op::Capture => {
                let payment_id = self.payment_id();
                let events = self
                    .decide(TopUpAction::RecordPaymentCaptured {
                        payment_id,
                        amount: d("20"),
                    })
                    .expect("a capture of the top-up's payment is always recorded");
                let known = self.model.captured || self.model.late_captures > 0;
                match (known, status) {
                    (true, _) => assert!(events.is_empty(), "a known capture changes nothing"),
                    (false, TopUpStatus::Created) => self.model.captured = true,
                    (false, _) => self.model.late_captures += 1,
                }
            }
            Op::Complete { granted } => {
                let granted = match (granted, self.excess) {
                    (_, false) => GrantedCredit::NotNeeded,
                    (0, true) => GrantedCredit::Credited {
                        lot_id: Uuid::from_u128(7),
                    },
                    (_, true) => GrantedCredit::Rejected {
                        reason: CreditRejection::MaxBalanceExceeded,
                    },
                };
                let result = self.decide(TopUpAction::Complete {
                    paid_lot_id: Uuid::from_u128(6),
                    granted,
                });
                if status == TopUpStatus::Created && self.model.captured {
                    result.expect("completion after a capture");
                    self.model.completions += 1;
                    self.model.status = Some(TopUpStatus::Completed);
                } else {
                    assert!(result.is_err());
                }
            }
            Op::Expire => {
                let result = self.decide(TopUpAction::Expire);
                let due = self.now >= deadline();
                if status == TopUpStatus::Created && !self.model.captured && due {
                    result.expect("expiry at the deadline");
                    self.model.status = Some(TopUpStatus::Expired);
                } else {
                    assert!(result.is_err());
                }
            }
            Op::Decline | Op::RefuseCredit => {
                let declined = matches!(op, Op::Decline);
                let reason = if declined {
                    declined_reason()
                } else {
                    TopUpFailureReason::CreditRejected {
                        reason: CreditRejection::WalletSuspended,
                    }
                };
                let result = self.decide(TopUpAction::Fail { reason });
                if status == TopUpStatus::Created && self.model.captured != declined {
                    result.expect("failure");
                    self.model.status = Some(TopUpStatus::Failed);
                } else {
                    assert!(result.is_err());
                }
            }
        }
        if final_before {
            assert_eq!(self.status(), status, "a final status never changes");
        }
    }

    fn check_invariants(&self) {
        let top_up = top_up(&self.state);
        assert_eq!(top_up.status(), self.status());
        assert!(self.model.completions <= 1, "completes at most once");
        assert!(
            self.model.late_captures <= 1,
            "a late capture is recorded once"
        );
        match top_up.status() {
            TopUpStatus::Completed => {
                let expected = match top_up.granted() {
                    Some(GrantedCredit::Rejected { .. }) => top_up.amount(),
                    _ => top_up.wallet_amount(),
                };
                assert_eq!(top_up.credited(), expected, "credits exactly wallet_amount");
            }
            _ => assert_eq!(
                top_up.credited(),
                zero(),
                "nothing credited unless completed"
            ),
        }
        if top_up.status() == TopUpStatus::Expired {
            assert!(
                !top_up.captured(),
                "an expired top-up was never captured in time"
            );
        }
        let expect_deadline = top_up.status() == TopUpStatus::Created && !top_up.captured();
        assert_eq!(self.state.next_deadline().is_some(), expect_deadline);
        let replayed = self
            .events
            .iter()
            .fold(TopUpState::default(), |state, event| {
                TopUpDecider::evolve(state, event)
            });
        assert_eq!(
            replayed, self.state,
            "replaying the events rebuilds the state"
        );
    }
}

fn declined_reason() -> TopUpFailureReason {
    declined()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn top_up_matches_the_reference_model(
        excess in any::<bool>(),
        steps in prop::collection::vec((0i64..3 * MINUTE_MS, op()), 1..25),
    ) {
        let mut run = Run::new(excess);
        for (advance_ms, op) in &steps {
            run.now = run.now.plus_millis(*advance_ms);
            run.step(op);
            run.check_invariants();
        }
    }
}
