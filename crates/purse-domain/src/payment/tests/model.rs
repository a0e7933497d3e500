//! Property test: random provider reports and commands against a small reference model of one
//! intent. Checks that captures happen at most once and always for the whole amount, refunds
//! never exceed the capture, a provider event applies at most once (a repeat is accepted and
//! changes nothing), rejected commands change nothing, and replaying the events rebuilds the
//! state.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::decider::{Context, Decider, MAX_IDS_PER_COMMAND};

#[derive(Clone, Debug)]
enum Op {
    Submit,
    Capture { event: u8 },
    Decline { event: u8 },
    Cancel,
    Refund { cents: i64 },
    RefundSucceeded { pick: usize, event: u8 },
    RefundFailed { pick: usize, event: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    // Few provider event ids, so repeats are common.
    prop_oneof![
        2 => Just(Op::Submit),
        3 => (0u8..6).prop_map(|event| Op::Capture { event }),
        2 => (0u8..6).prop_map(|event| Op::Decline { event }),
        2 => Just(Op::Cancel),
        3 => (1i64..1_500).prop_map(|cents| Op::Refund { cents }),
        2 => (any::<usize>(), 0u8..12).prop_map(|(pick, event)| Op::RefundSucceeded { pick, event }),
        2 => (any::<usize>(), 0u8..12).prop_map(|(pick, event)| Op::RefundFailed { pick, event }),
    ]
}

#[derive(Default)]
struct Model {
    status: Option<PaymentStatus>,
    captures: u32,
    refunds: BTreeMap<Uuid, (Decimal, RefundStatus)>,
    order: Vec<Uuid>,
    seen: BTreeSet<String>,
}

impl Model {
    fn refundable(&self) -> Decimal {
        let captured = if self.captures > 0 { d("20") } else { zero() };
        captured
            - self
                .refunds
                .values()
                .filter(|(_, status)| *status != RefundStatus::Failed)
                .map(|(amount, _)| *amount)
                .sum::<Decimal>()
    }
}

struct Run {
    state: PaymentState,
    events: Vec<PaymentEvent>,
    model: Model,
    next_id: u128,
}

impl Run {
    fn new() -> Self {
        let mut run = Run {
            state: PaymentState::default(),
            events: Vec::new(),
            model: Model::default(),
            next_id: 1,
        };
        run.decide(PaymentAction::Create(CreatePayment {
            owner: "customer-1".into(),
            asset: usd(),
            amount: d("20"),
            top_up_id: None,
            payment_method_id: None,
            expires_at: None,
        }))
        .expect("create");
        run.model.status = Some(PaymentStatus::RequiresPaymentMethod);
        run
    }

    fn decide(&mut self, action: PaymentAction) -> Result<Vec<PaymentEvent>, PaymentError> {
        let ids = (0..MAX_IDS_PER_COMMAND as u128)
            .map(|n| Uuid::from_u128(self.next_id + n))
            .collect();
        self.next_id += MAX_IDS_PER_COMMAND as u128;
        let before = self.state.clone();
        let result = PaymentDecider::decide(&self.state, &command(action), &Context::new(NOW, ids));
        assert_eq!(self.state, before, "deciding never changes the state");
        if let Ok(events) = &result {
            for event in events {
                self.state = PaymentDecider::evolve(self.state.clone(), event);
                self.events.push(event.clone());
            }
        }
        result
    }

    fn status(&self) -> PaymentStatus {
        self.model.status.expect("created")
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Submit => {
                let result = self.decide(PaymentAction::Submit {
                    card: card(),
                    payment_method_id: None,
                    save_card: false,
                });
                if self.status() == PaymentStatus::RequiresPaymentMethod {
                    result.expect("first submission");
                    self.model.status = Some(PaymentStatus::Processing);
                } else {
                    assert!(result.is_err(), "a second submission is refused");
                }
            }
            Op::Capture { event } => {
                let name = format!("evt_c{event}");
                let result = self.decide(PaymentAction::RecordSucceeded {
                    provider_event_id: pe(&name),
                    amount: d("20"),
                });
                if self.model.seen.contains(&name) {
                    assert_eq!(result.expect("repeat"), vec![], "a repeat changes nothing");
                } else if self.status() == PaymentStatus::Succeeded {
                    assert_eq!(
                        result.expect_err("second capture"),
                        PaymentError::InvalidTransition {
                            from: PaymentStatus::Succeeded
                        }
                    );
                } else {
                    result.expect("a capture is recorded from every other status");
                    self.model.seen.insert(name);
                    self.model.captures += 1;
                    self.model.status = Some(PaymentStatus::Succeeded);
                }
            }
            Op::Decline { event } => {
                // Shares the capture ids' space on purpose: ids are unique per provider event,
                // whatever its kind.
                let name = format!("evt_c{event}");
                let result = self.decide(PaymentAction::RecordFailed {
                    provider_event_id: pe(&name),
                    reason: DeclineReason::Declined,
                });
                if self.model.seen.contains(&name) {
                    assert_eq!(result.expect("repeat"), vec![]);
                } else if self.status().is_open() {
                    result.expect("decline of an open intent");
                    self.model.seen.insert(name);
                    self.model.status = Some(PaymentStatus::Failed);
                } else {
                    assert!(result.is_err());
                }
            }
            Op::Cancel => {
                let result = self.decide(PaymentAction::Cancel {
                    reason: CancelReason::Abandoned,
                });
                if self.status().is_open() {
                    result.expect("cancel of an open intent");
                    self.model.status = Some(PaymentStatus::Canceled);
                } else {
                    assert!(result.is_err());
                }
            }
            Op::Refund { cents } => {
                let amount = Decimal::new(*cents, 2);
                let refund_id = Uuid::from_u128(self.next_id);
                let result = self.decide(PaymentAction::RequestRefund {
                    amount,
                    reason: RefundReason::RequestedByCustomer,
                });
                let refundable = self.model.refundable();
                if self.status() != PaymentStatus::Succeeded {
                    assert!(result.is_err(), "no refund before a capture");
                } else if self.model.refunds.len() >= MAX_REFUNDS_PER_PAYMENT {
                    assert!(result.is_err());
                } else if amount > refundable {
                    assert_eq!(
                        result.expect_err("above refundable"),
                        PaymentError::RefundExceedsCaptured { refundable }
                    );
                } else {
                    result.expect("refund within the capture");
                    self.model
                        .refunds
                        .insert(refund_id, (amount, RefundStatus::Pending));
                    self.model.order.push(refund_id);
                }
            }
            Op::RefundSucceeded { pick, event } | Op::RefundFailed { pick, event } => {
                let succeeded = matches!(op, Op::RefundSucceeded { .. });
                let refund_id = match self.model.order.len() {
                    0 => Uuid::from_u128(u128::MAX),
                    n => self.model.order[pick % n],
                };
                let name = format!("evt_r{event}");
                let provider_event_id = pe(&name);
                let result = self.decide(if succeeded {
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
                if self.model.seen.contains(&name) {
                    assert_eq!(result.expect("repeat"), vec![]);
                    return;
                }
                match self.model.refunds.get_mut(&refund_id) {
                    Some((_, status)) if *status == RefundStatus::Pending => {
                        result.expect("answer to a pending refund");
                        *status = if succeeded {
                            RefundStatus::Succeeded
                        } else {
                            RefundStatus::Failed
                        };
                        self.model.seen.insert(name);
                    }
                    _ => assert!(result.is_err(), "only a pending refund is answered"),
                }
            }
        }
    }

    fn check_invariants(&self) {
        let intent = intent(&self.state);
        assert!(self.model.captures <= 1, "captured at most once");
        assert_eq!(intent.status(), self.status());
        let captured = if self.model.captures == 1 {
            d("20")
        } else {
            zero()
        };
        assert_eq!(intent.captured(), captured, "captured the whole amount");
        assert!(intent.refunded() + intent.refund_pending() <= intent.captured());
        assert_eq!(intent.refundable(), self.model.refundable());
        let replayed = self
            .events
            .iter()
            .fold(PaymentState::default(), |state, event| {
                PaymentDecider::evolve(state, event)
            });
        assert_eq!(
            replayed, self.state,
            "replaying the events rebuilds the state"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn payment_matches_the_reference_model(ops in prop::collection::vec(op(), 1..40)) {
        let mut run = Run::new();
        for op in &ops {
            run.step(op);
            run.check_invariants();
        }
    }
}
