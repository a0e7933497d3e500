//! Starting a transaction: validation, the stream id, replays and duplicate reference ids.

use super::*;

#[test]
fn start_records_the_transaction_and_prepares_every_wallet_in_id_order() {
    let (outcome, state) = given::<TransactionDecider>([])
        .when(start(example()))
        .then_outcome(vec![started_kind(example())]);
    assert_eq!(outcome.status, TransactionStatus::Pending);
    assert!(!outcome.unchanged);
    assert_eq!(
        wanted(&outcome),
        vec![("prepare".into(), w1()), ("prepare".into(), w2())]
    );
    let first = &outcome.dispatch[0];
    assert_eq!(
        first.idempotency_key.as_str(),
        format!("txn-{}-prepare-{}", txn(), w1())
    );
    let crate::wallet::WalletAction::PrepareTransaction {
        legs, expires_at, ..
    } = &first.command.action
    else {
        panic!("prepare");
    };
    assert_eq!(legs, &legs_by_wallet(&example())[&w1()]);
    assert_eq!(*expires_at, deadline().plus_millis(PREPARED_HOLD_GRACE_MS));
    assert_eq!(
        TransactionDecider::next_deadline(&state, &crate::TimerSettings::default()),
        Some(deadline())
    );
}

#[test]
fn the_same_request_again_is_a_replay_of_the_current_state() {
    let (outcome, _) = given::<TransactionDecider>([started(), prepared(w1())])
        .when(start(example()))
        .then_outcome(vec![]);
    assert!(outcome.unchanged);
    assert_eq!(outcome.transaction_id, txn());
    assert_eq!(outcome.status, TransactionStatus::Pending);
    // Reformatted amounts and another timeout are the same request.
    let mut retry = start(vec![issue(w1(), "6.00"), transfer(w1(), w2(), "11")]);
    if let TransactionAction::Start { timeout_ms, .. } = &mut retry.action {
        *timeout_ms = 5_000;
    }
    given::<TransactionDecider>([started()])
        .when(retry)
        .then(vec![]);
}

#[test]
fn a_different_request_with_the_same_reference_id_is_a_duplicate() {
    given::<TransactionDecider>([started()])
        .when(start(vec![issue(w1(), "7")]))
        .then_error(TransactionError::DuplicateReferenceId {
            transaction_id: txn(),
            status: TransactionStatus::Pending,
        });
}

#[test]
fn the_stream_id_derives_from_tenant_and_reference_id() {
    assert_ne!(transaction_id(TENANT, "a"), transaction_id(TENANT, "b"));
    assert_ne!(transaction_id("t1", "a"), transaction_id("t2", "a"));
    let mut elsewhere = start(example());
    elsewhere.transaction_id = id(9);
    given::<TransactionDecider>([])
        .when(elsewhere)
        .then_error(TransactionError::TransactionIdMismatch { expected: txn() });
}

#[test]
fn shapes_are_validated() {
    let refuse = |operations: Vec<Operation>, error: TransactionError| {
        given::<TransactionDecider>([])
            .when(start(operations))
            .then_error(error);
    };
    refuse(
        vec![],
        TransactionError::InvalidOperationCount { count: 0, max: 100 },
    );
    refuse(
        vec![issue(w1(), "1"); 101],
        TransactionError::InvalidOperationCount {
            count: 101,
            max: 100,
        },
    );
    refuse(
        vec![issue(w1(), "1"), transfer(w2(), w2(), "1")],
        TransactionError::SameWallet { index: 1 },
    );
    refuse(
        vec![issue(w1(), "0")],
        TransactionError::AmountNotPositive { index: 0 },
    );
    refuse(
        vec![Operation::Issue {
            wallet_id: w1(),
            amount: d("1"),
            source: Some(CreditSource::Refund),
            expires_at: None,
        }],
        TransactionError::SourceNotAllowed {
            index: 0,
            credit_source: CreditSource::Refund,
        },
    );
    refuse(
        vec![issue(id(0xBAD), "1")],
        TransactionError::WalletAssetMissing {
            wallet_id: id(0xBAD),
        },
    );
    let many: Vec<Operation> = (0..51).map(|n| issue(id(0x1000 + n), "1")).collect();
    let mut command = start(many);
    if let TransactionAction::Start { wallet_assets, .. } = &mut command.action {
        *wallet_assets = (0..51).map(|n| (id(0x1000 + n), "USD".into())).collect();
    }
    given::<TransactionDecider>([])
        .when(command)
        .then_error(TransactionError::TooManyWallets { count: 51, max: 50 });
}

#[test]
fn an_exchange_fails_at_its_index_until_quotes_exist() {
    let operations = vec![
        issue(w1(), "1"),
        Operation::Exchange {
            from: w1(),
            to: w2(),
            amount: d("1"),
            quote_id: id(0x0907),
        },
    ];
    let (outcome, _) = given::<TransactionDecider>([])
        .when(start(operations.clone()))
        .then_outcome(vec![
            started_kind(operations),
            TransactionEventKind::TransactionFailed {
                failure: TransactionFailure {
                    index: Some(1),
                    wallet_id: None,
                    reason: TransactionFailureReason::QuoteNotFound,
                    available: None,
                },
            },
        ]);
    assert_eq!(outcome.status, TransactionStatus::Failed);
    assert!(outcome.dispatch.is_empty(), "nothing was prepared");
}

#[test]
fn a_transfer_across_assets_fails_at_its_index() {
    let operations = vec![issue(w1(), "1"), transfer(w1(), w3(), "1")];
    let mut command = start(operations.clone());
    if let TransactionAction::Start { wallet_assets, .. } = &mut command.action {
        wallet_assets.insert(w3(), "EUR".into());
    }
    let (outcome, _) = given::<TransactionDecider>([])
        .when(command)
        .then_outcome_any();
    assert_eq!(
        outcome
            .failure
            .map(|failure| (failure.index, failure.reason)),
        Some((Some(1), TransactionFailureReason::AssetMismatch))
    );
}
