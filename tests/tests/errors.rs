//! Every RPC of `pursed`, over the wire, with one bad field each: the status code, the
//! `google.rpc.ErrorInfo` reason and the wire (proto) field it names, for errors a handler raises
//! and for those the gRPC machinery raises (a request over `max_request_bytes`). Nothing a
//! refused call carried is applied.

use std::future::Future;
use std::pin::Pin;

use prost::Message;
use purse_e2e::requests::{balance, create_wallet, credit, debit};
use purse_e2e::{Pursed, WalletClient, bad_fields, now_ms, payments_client, reason, top_up_client};
use purse_proto::payment::v1 as pay;
use purse_proto::topup::v1 as tpb;
use purse_proto::wallet::v1 as pb;
use tonic::{Code, Status};

type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// One RPC with one bad field and what it must answer.
struct Case {
    rpc: &'static str,
    code: Code,
    reason: &'static str,
    /// The proto field named in ErrorInfo `field` and the BadRequest violation; None where the
    /// error is about no one field.
    field: Option<&'static str>,
    call: Call,
}

fn case(
    rpc: &'static str,
    code: Code,
    reason: &'static str,
    field: Option<&'static str>,
    call: impl Future<Output = Result<(), Status>> + Send + 'static,
) -> Case {
    Case {
        rpc,
        code,
        reason,
        field,
        call: Box::pin(call),
    }
}

/// GetBalance of `wallet` as of `as_of_ms`.
fn balance_as_of(
    client: &WalletClient,
    wallet: &str,
    as_of_ms: i64,
) -> impl Future<Output = Result<(), Status>> + Send + 'static {
    let (mut client, wallet_id) = (client.clone(), wallet.to_owned());
    async move {
        client
            .get_balance(pb::GetBalanceRequest {
                wallet_id,
                min_sequence: 0,
                as_of_ms: Some(as_of_ms),
            })
            .await
            .map(drop)
    }
}

const UNKNOWN_ENUM: i32 = 99;
const PAST_MS: i64 = 1_000;
/// Above the default `max_request_bytes` (4 MiB).
const OVERSIZE_BYTES: usize = 5 * 1024 * 1024;

// Every RPC includes ListTransactions, deprecated in favour of ListEntries but still served.
#[allow(deprecated)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_names_the_wire_field_and_reason_of_a_bad_request() {
    use Code::{InvalidArgument as Invalid, OutOfRange, ResourceExhausted};
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut setup = pursed.client().await;
    let wallet = create_wallet(&mut setup, "alice", "USD").await;
    let w = pursed.client().await;
    let t = top_up_client(&pursed.endpoint, &pursed.token).await;
    let p = payments_client(&pursed.endpoint, &pursed.token).await;
    let any_id = "0190f000-0000-7000-8000-000000000000".to_owned();

    let mut cases = vec![
        // purse.wallet.v1.WalletService
        case("CreateWallet", Invalid, "INVALID_ENUM", Some("kind"), {
            let mut c = w.clone();
            async move {
                c.create_wallet(pb::CreateWalletRequest {
                    idempotency_key: "bad-kind".into(),
                    owner: "bob".into(),
                    kind: UNKNOWN_ENUM,
                    asset: "USD".into(),
                    ..Default::default()
                })
                .await
                .map(drop)
            }
        }),
        case("OpenSystemWallet", Invalid, "INVALID_NAME", Some("name"), {
            let mut c = w.clone();
            async move {
                c.open_system_wallet(pb::OpenSystemWalletRequest {
                    name: "Fees".into(),
                    asset: "USD".into(),
                    asset_scale: None,
                })
                .await
                .map(drop)
            }
        }),
        case("CreateWallet", Invalid, "INVALID_ASSET", Some("asset"), {
            let mut c = w.clone();
            async move {
                c.create_wallet(pb::CreateWalletRequest {
                    idempotency_key: "bad-asset".into(),
                    owner: "bob".into(),
                    asset: "usd dollars".into(),
                    ..Default::default()
                })
                .await
                .map(drop)
            }
        }),
        case("GetWallet", Invalid, "INVALID_ID", Some("wallet_id"), {
            let mut c = w.clone();
            async move {
                c.get_wallet(pb::GetWalletRequest {
                    wallet_id: "not-a-uuid".into(),
                    min_sequence: 0,
                })
                .await
                .map(drop)
            }
        }),
        case(
            "ListWallets",
            OutOfRange,
            "PAGE_SIZE_TOO_LARGE",
            Some("page_size"),
            {
                let mut c = w.clone();
                async move {
                    c.list_wallets(pb::ListWalletsRequest {
                        owner: "alice".into(),
                        page_size: 1001,
                        page_token: String::new(),
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case(
            "ListWallets",
            Invalid,
            "INVALID_PAGE_TOKEN",
            Some("page_token"),
            {
                let mut c = w.clone();
                async move {
                    c.list_wallets(pb::ListWalletsRequest {
                        owner: "alice".into(),
                        page_size: 10,
                        page_token: "garbage".into(),
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case(
            "UpdateLimits",
            Invalid,
            "INVALID_AMOUNT",
            Some("limits.max_balance"),
            {
                let (mut c, wallet) = (w.clone(), wallet.clone());
                async move {
                    c.update_limits(pb::UpdateLimitsRequest {
                        wallet_id: wallet,
                        idempotency_key: "limits".into(),
                        limits: Some(pb::Limits {
                            max_balance: Some("1e3".into()),
                            ..Default::default()
                        }),
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case(
            "SuspendWallet",
            Invalid,
            "MISSING_IDEMPOTENCY_KEY",
            Some("idempotency_key"),
            {
                let (mut c, wallet) = (w.clone(), wallet.clone());
                async move {
                    c.suspend_wallet(pb::SuspendWalletRequest {
                        wallet_id: wallet,
                        idempotency_key: String::new(),
                        reason: "fraud check".into(),
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case(
            "ReactivateWallet",
            Invalid,
            "INVALID_ID",
            Some("wallet_id"),
            {
                let mut c = w.clone();
                async move {
                    c.reactivate_wallet(pb::ReactivateWalletRequest {
                        wallet_id: "x".into(),
                        idempotency_key: "reactivate".into(),
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case(
            "CloseWallet",
            Invalid,
            "INVALID_IDEMPOTENCY_KEY",
            Some("idempotency_key"),
            {
                let (mut c, wallet) = (w.clone(), wallet.clone());
                async move {
                    c.close_wallet(pb::CloseWalletRequest {
                        wallet_id: wallet,
                        idempotency_key: "k".repeat(1000),
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case("Credit", Invalid, "INVALID_ENUM", Some("source"), {
            let (mut c, wallet) = (w.clone(), wallet.clone());
            async move {
                let mut request = credit(&wallet, "credit-source", "1.00", pb::CreditSource::Paid);
                request.source = UNKNOWN_ENUM;
                c.credit(request).await.map(drop)
            }
        }),
        case(
            "Credit",
            Invalid,
            "EXPIRY_NOT_IN_FUTURE",
            Some("expires_at_ms"),
            {
                let (mut c, wallet) = (w.clone(), wallet.clone());
                async move {
                    let mut request =
                        credit(&wallet, "credit-past", "1.00", pb::CreditSource::Granted);
                    request.expires_at_ms = Some(PAST_MS);
                    c.credit(request).await.map(drop)
                }
            },
        ),
        case("Credit", ResourceExhausted, "REQUEST_TOO_LARGE", None, {
            let (mut c, wallet) = (w.clone(), wallet.clone());
            async move {
                let mut request = credit(&wallet, "credit-big", "1.00", pb::CreditSource::Paid);
                request.description = "x".repeat(OVERSIZE_BYTES);
                c.credit(request).await.map(drop)
            }
        }),
        case("Debit", Invalid, "INVALID_AMOUNT", Some("amount"), {
            let (mut c, wallet) = (w.clone(), wallet.clone());
            async move {
                c.debit(debit(&wallet, "debit-amount", "-1.00"))
                    .await
                    .map(drop)
            }
        }),
        case("Debit", Invalid, "INVALID_ENUM", Some("kind"), {
            let (mut c, wallet) = (w.clone(), wallet.clone());
            async move {
                let mut request = debit(&wallet, "debit-kind", "1.00");
                request.kind = UNKNOWN_ENUM;
                c.debit(request).await.map(drop)
            }
        }),
        case("Refund", Invalid, "INVALID_ID", Some("debit_id"), {
            let (mut c, wallet) = (w.clone(), wallet.clone());
            async move {
                c.refund(pb::RefundRequest {
                    wallet_id: wallet,
                    idempotency_key: "refund".into(),
                    debit_id: "x".into(),
                    amount: "1.00".into(),
                    ..Default::default()
                })
                .await
                .map(drop)
            }
        }),
        case(
            "PlaceHold",
            Invalid,
            "EXPIRY_NOT_IN_FUTURE",
            Some("expires_at_ms"),
            {
                let (mut c, wallet) = (w.clone(), wallet.clone());
                async move {
                    c.place_hold(pb::PlaceHoldRequest {
                        wallet_id: wallet,
                        idempotency_key: "hold-past".into(),
                        amount: "1.00".into(),
                        expires_at_ms: PAST_MS,
                        ..Default::default()
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case("CaptureHold", Invalid, "INVALID_ID", Some("hold_id"), {
            let (mut c, wallet) = (w.clone(), wallet.clone());
            async move {
                c.capture_hold(pb::CaptureHoldRequest {
                    wallet_id: wallet,
                    idempotency_key: "capture".into(),
                    hold_id: "x".into(),
                    amount: "1.00".into(),
                })
                .await
                .map(drop)
            }
        }),
        case("VoidHold", Invalid, "INVALID_ID", Some("hold_id"), {
            let (mut c, wallet) = (w.clone(), wallet.clone());
            async move {
                c.void_hold(pb::VoidHoldRequest {
                    wallet_id: wallet,
                    idempotency_key: "void".into(),
                    hold_id: String::new(),
                })
                .await
                .map(drop)
            }
        }),
        case("GetBalance", Invalid, "INVALID_ID", Some("wallet_id"), {
            let mut c = w.clone();
            async move {
                c.get_balance(pb::GetBalanceRequest {
                    wallet_id: String::new(),
                    min_sequence: 0,
                    as_of_ms: None,
                })
                .await
                .map(drop)
            }
        }),
        case(
            "GetBalance",
            Invalid,
            "AS_OF_NEGATIVE",
            Some("as_of_ms"),
            balance_as_of(&w, &wallet, -1),
        ),
        case(
            "GetBalance",
            Invalid,
            "AS_OF_IN_FUTURE",
            Some("as_of_ms"),
            // An hour ahead of the server's clock.
            balance_as_of(&w, &wallet, now_ms() + 3_600_000),
        ),
        // Before the wallet was opened: not a malformed field, so no field is named.
        case(
            "GetBalance",
            Code::NotFound,
            "WALLET_NOT_OPEN_AS_OF",
            None,
            balance_as_of(&w, &wallet, PAST_MS),
        ),
        case(
            "BatchExecute",
            Invalid,
            "TOO_MANY_OPERATIONS",
            Some("operations"),
            {
                let (mut c, wallet) = (w.clone(), wallet.clone());
                async move {
                    let operation = pb::BatchOperation {
                        operation: Some(pb::batch_operation::Operation::Debit(debit(
                            &wallet, "batch", "1.00",
                        ))),
                    };
                    c.batch_execute(pb::BatchExecuteRequest {
                        operations: vec![operation; 1001],
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        // purse.topup.v1.TopUpService
        case("CreateTopUp", Invalid, "INVALID_ENUM", Some("kind"), {
            let (mut c, wallet) = (t.clone(), wallet.clone());
            async move {
                c.create_top_up(tpb::CreateTopUpRequest {
                    idempotency_key: "top-up-kind".into(),
                    wallet_id: wallet,
                    kind: UNKNOWN_ENUM,
                    amount: "10.00".into(),
                    ..Default::default()
                })
                .await
                .map(drop)
            }
        }),
        case(
            "CreateTopUp",
            Invalid,
            "INVALID_AMOUNT",
            Some("wallet_amount"),
            {
                let (mut c, wallet) = (t.clone(), wallet.clone());
                async move {
                    c.create_top_up(tpb::CreateTopUpRequest {
                        idempotency_key: "top-up-amount".into(),
                        wallet_id: wallet,
                        kind: tpb::TopUpKind::Manual as i32,
                        amount: "10.00".into(),
                        wallet_amount: Some("ten".into()),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case("GetTopUp", Invalid, "INVALID_ID", Some("top_up_id"), {
            let mut c = t.clone();
            async move {
                c.get_top_up(tpb::GetTopUpRequest {
                    top_up_id: "x".into(),
                    min_sequence: 0,
                })
                .await
                .map(drop)
            }
        }),
        case(
            "ListTopUps",
            OutOfRange,
            "PAGE_SIZE_TOO_LARGE",
            Some("page_size"),
            {
                let (mut c, wallet) = (t.clone(), wallet.clone());
                async move {
                    c.list_top_ups(tpb::ListTopUpsRequest {
                        wallet_id: wallet,
                        page_size: 1001,
                        page_token: String::new(),
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case(
            "SetAutoTopUp",
            Invalid,
            "INVALID_AMOUNT",
            Some("threshold"),
            {
                let (mut c, wallet) = (t.clone(), wallet.clone());
                async move {
                    c.set_auto_top_up(tpb::SetAutoTopUpRequest {
                        idempotency_key: "auto".into(),
                        wallet_id: wallet,
                        threshold: "low".into(),
                        charge: Some(tpb::set_auto_top_up_request::Charge::Amount("10.00".into())),
                        payment_method_id: "0190f000-0000-7000-8000-000000000001".into(),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case("GetAutoTopUp", Invalid, "INVALID_ID", Some("wallet_id"), {
            let mut c = t.clone();
            async move {
                c.get_auto_top_up(tpb::GetAutoTopUpRequest {
                    wallet_id: "x".into(),
                    min_sequence: 0,
                })
                .await
                .map(drop)
            }
        }),
        case(
            "RemoveAutoTopUp",
            Invalid,
            "MISSING_IDEMPOTENCY_KEY",
            Some("idempotency_key"),
            {
                let (mut c, wallet) = (t.clone(), wallet.clone());
                async move {
                    c.remove_auto_top_up(tpb::RemoveAutoTopUpRequest {
                        idempotency_key: String::new(),
                        wallet_id: wallet,
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        // purse.payment.v1.PaymentsService
        case(
            "CreatePaymentIntent",
            Invalid,
            "INVALID_AMOUNT",
            Some("amount"),
            {
                let mut c = p.clone();
                async move {
                    c.create_payment_intent(pay::CreatePaymentIntentRequest {
                        idempotency_key: "intent".into(),
                        owner: "alice".into(),
                        asset: "USD".into(),
                        amount: "1,00".into(),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case(
            "GetPaymentIntent",
            Invalid,
            "INVALID_ID",
            Some("payment_id"),
            {
                let mut c = p.clone();
                async move {
                    c.get_payment_intent(pay::GetPaymentIntentRequest {
                        payment_id: "x".into(),
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case(
            "CancelPaymentIntent",
            Invalid,
            "INVALID_ENUM",
            Some("reason"),
            {
                let (mut c, id) = (p.clone(), any_id.clone());
                async move {
                    c.cancel_payment_intent(pay::CancelPaymentIntentRequest {
                        payment_id: id,
                        idempotency_key: "cancel".into(),
                        reason: UNKNOWN_ENUM,
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case(
            "RefundPayment",
            Invalid,
            "INVALID_AMOUNT",
            Some("amount"),
            {
                let (mut c, id) = (p.clone(), any_id.clone());
                async move {
                    c.refund_payment(pay::RefundPaymentRequest {
                        payment_id: id,
                        idempotency_key: "refund-payment".into(),
                        amount: "NaN".into(),
                        reason: pay::RefundReason::RequestedByCustomer as i32,
                    })
                    .await
                    .map(drop)
                }
            },
        ),
        case(
            "ListPaymentMethods",
            OutOfRange,
            "PAGE_SIZE_TOO_LARGE",
            Some("page_size"),
            {
                let mut c = p.clone();
                async move {
                    c.list_payment_methods(pay::ListPaymentMethodsRequest {
                        owner: "alice".into(),
                        page_size: 1001,
                        page_token: String::new(),
                    })
                    .await
                    .map(drop)
                }
            },
        ),
    ];

    // ListEntries and its deprecated alias ListTransactions, with the same bad fields: the
    // alias's request is the same bytes.
    let bad_listings = [
        (
            Invalid,
            "INVALID_ENUM",
            "entry_types",
            pb::ListEntriesRequest {
                wallet_id: wallet.clone(),
                entry_types: vec![UNKNOWN_ENUM],
                ..Default::default()
            },
        ),
        (
            OutOfRange,
            "PAGE_SIZE_TOO_LARGE",
            "page_size",
            pb::ListEntriesRequest {
                wallet_id: wallet.clone(),
                page_size: 1001,
                ..Default::default()
            },
        ),
    ];
    for (code, reason, field, request) in bad_listings {
        let old = pb::ListTransactionsRequest::decode(request.encode_to_vec().as_slice())
            .expect("the same message on the wire");
        let mut c = w.clone();
        let call = async move { c.list_entries(request).await.map(drop) };
        cases.push(case("ListEntries", code, reason, Some(field), call));
        let mut c = w.clone();
        let call = async move { c.list_transactions(old).await.map(drop) };
        cases.push(case("ListTransactions", code, reason, Some(field), call));
    }

    let mut wrong = Vec::new();
    for case in cases {
        let answered = match case.call.await {
            Ok(()) => {
                wrong.push(format!("{}: accepted", case.rpc));
                continue;
            }
            Err(status) => status,
        };
        let (got_reason, metadata) = reason(&answered);
        let got = (
            answered.code(),
            got_reason.as_str(),
            metadata.get("field").map(String::as_str),
            bad_fields(&answered),
        );
        let expected_violations: Vec<String> = case.field.iter().map(|f| f.to_string()).collect();
        if got != (case.code, case.reason, case.field, expected_violations) {
            wrong.push(format!(
                "{}: expected {:?} {} {:?}, got {:?} {:?} {:?} {:?} ({})",
                case.rpc,
                case.code,
                case.reason,
                case.field,
                got.0,
                got.1,
                got.2,
                got.3,
                answered.message().chars().take(200).collect::<String>()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Nothing any refused call carried was applied.
    let after = balance(&mut setup, &wallet, 0).await;
    assert_eq!((after.balance.as_str(), after.sequence), ("0.00", 1));
}
