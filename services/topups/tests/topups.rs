//! The top-ups service through its real gRPC server on a loopback port, in-process over the
//! embedded log and store (SQLite in a temporary directory), with the wallets service and the
//! shared projectors beside it as in `pursed`: input validation and its precise reasons,
//! tenancy, creation and idempotent retries, paging newest first, and the auto top-up rule round
//! trip with its back-off state.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use purse_log::EventLog;
use purse_proto::topup::v1 as pb;
use purse_proto::topup::v1::top_up_service_client::TopUpServiceClient;
use purse_proto::topup::v1::top_up_service_server::TopUpServiceServer;
use purse_proto::wallet::v1 as wpb;
use purse_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use purse_proto::wallet::v1::wallet_service_server::WalletServiceServer;
use purse_runtime::auth::{Principal, Scope, TokenKey};
use purse_runtime::projector::ProjectionWatch;
use purse_runtime::{backend, server};
use purse_store::{AutoTopUpFailureRow, PaymentMethodRow, ReadStore, RowWrite};
use purse_streams::buses::{Buses, EmbeddedShards};
use purse_streams::config::Config;
use purse_streams::projectors::{PaymentProjections, spawn_payment_projectors};
use purse_topups::app::TopUpApp;
use purse_topups::grpc::TopUpGrpc;
use purse_wallets::app::WalletApp;
use purse_wallets::grpc::WalletGrpc;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

const CHECKOUT_BASE: &str = "http://127.0.0.1:8080/";
const FEE_PERCENT: &str = "2.9";
const TENANT: &str = "acme";
const OTHER_TENANT: &str = "globex";

/// One running service pair, its clients and its store.
struct Harness {
    _dir: tempfile::TempDir,
    config: Config,
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    token: String,
    other_token: String,
    read_only_token: String,
    wallets: WalletServiceClient<Channel>,
    top_ups: TopUpServiceClient<Channel>,
    _stop: oneshot::Sender<()>,
    _shards: EmbeddedShards,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = Config {
            data_dir: dir.path().to_owned(),
            partitions: 2,
            ..Config::default()
        };
        config.services.topups.fee_percent = FEE_PERCENT.parse().expect("a decimal");
        let log = backend::open_embedded_log(&config).expect("log opens");
        let store = backend::open_store(&config).await.expect("store opens");
        let token_key =
            TokenKey::load_or_create(&config.token_key_path()).expect("token key is created");
        let (buses, shards) = Buses::start_embedded(&config, log.clone())
            .await
            .expect("shards start");
        let wallet_app = WalletApp::start_embedded(
            &config,
            buses.wallets.clone(),
            log.clone(),
            store.clone(),
            token_key.clone(),
        );
        let top_up_app = TopUpApp::start_embedded(
            &config,
            &buses,
            store.clone(),
            token_key.clone(),
            CHECKOUT_BASE.to_owned(),
        )
        .expect("top-ups start");
        // The top-up, payment, stored-card and auto top-up projectors, as `pursed` runs them.
        let (stop_projectors, projectors_stopped) = watch::channel(false);
        let mut projectors = JoinSet::new();
        spawn_payment_projectors(
            log.clone(),
            store.clone(),
            &PaymentProjections::new(config.partitions, 1_000, 50),
            Arc::new(ProjectionWatch::default()),
            &projectors_stopped,
            &mut projectors,
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let routes = Routes::new(WalletServiceServer::new(wallet_app.grpc()))
            .add_service(TopUpServiceServer::new(top_up_app.grpc()));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let names = [
                WalletServiceServer::<WalletGrpc>::NAME,
                TopUpServiceServer::<TopUpGrpc>::NAME,
            ];
            let shutdown = async {
                let _ = stopped.await;
            };
            server::serve(listener, routes, &names, shutdown, 1_000)
                .await
                .expect("server runs");
            // Keep the apps (and so the buses) and the projectors alive as long as the server.
            let _ = stop_projectors.send(true);
            drop((wallet_app, top_up_app, projectors));
        });
        let channel = Channel::from_shared(endpoint)
            .expect("endpoint")
            .connect()
            .await
            .expect("server accepts connections");
        let issue = |tenant: &str, scopes: Vec<Scope>| {
            token_key
                .issue(&Principal {
                    tenant: tenant.to_owned(),
                    scopes,
                })
                .expect("token")
        };
        Harness {
            token: issue(TENANT, Scope::ALL.to_vec()),
            other_token: issue(OTHER_TENANT, Scope::ALL.to_vec()),
            read_only_token: issue(TENANT, vec![Scope::Read]),
            _dir: dir,
            config,
            log,
            store,
            wallets: WalletServiceClient::new(channel.clone()),
            top_ups: TopUpServiceClient::new(channel),
            _stop: stop,
            _shards: shards,
        }
    }

    fn request<T>(&self, message: T) -> Request<T> {
        with_token(message, &self.token)
    }

    async fn wallet(&self, owner: &str, asset: &str) -> String {
        let response = self
            .wallets
            .clone()
            .create_wallet(self.request(wpb::CreateWalletRequest {
                idempotency_key: Uuid::now_v7().to_string(),
                owner: owner.to_owned(),
                asset: asset.to_owned(),
                ..Default::default()
            }))
            .await
            .expect("wallet is created")
            .into_inner();
        response.wallet.expect("wallet").wallet_id
    }

    /// Stores a card of `owner` as the payments projector would after a saved payment (the
    /// payment flow itself is not under test here).
    async fn save_card(&self, tenant: &str, owner: &str) -> Uuid {
        let payment_method_id = Uuid::now_v7();
        self.store
            .apply(
                vec![RowWrite::PaymentMethod(PaymentMethodRow {
                    tenant: tenant.to_owned(),
                    owner: owner.to_owned(),
                    payment_method_id,
                    brand: "visa".to_owned(),
                    last4: "4242".to_owned(),
                    exp_month: 12,
                    exp_year: 2099,
                    created_at_ms: now_ms(),
                    removed: false,
                    version: 1,
                })],
                vec![],
            )
            .await
            .expect("card row is written");
        payment_method_id
    }

    async fn create(
        &self,
        request: pb::CreateTopUpRequest,
    ) -> Result<pb::CreateTopUpResponse, Status> {
        self.top_ups
            .clone()
            .create_top_up(self.request(request))
            .await
            .map(|r| r.into_inner())
    }

    /// How many records the top-up event topic holds (all partitions).
    async fn top_up_records(&self) -> u64 {
        let mut total = 0;
        for partition in 0..self.config.partitions {
            total += self
                .log
                .end_offset("purse.topup.events", partition)
                .await
                .expect("end offset");
        }
        total
    }
}

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).expect("ascii token"),
    );
    request
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

fn manual(wallet_id: &str, key: &str, amount: &str) -> pb::CreateTopUpRequest {
    pb::CreateTopUpRequest {
        idempotency_key: key.to_owned(),
        wallet_id: wallet_id.to_owned(),
        kind: pb::TopUpKind::Manual as i32,
        amount: amount.to_owned(),
        ..Default::default()
    }
}

/// Asserts the code, the ErrorInfo reason and, for INVALID_ARGUMENT, the field named.
#[track_caller]
fn assert_rejected(
    result: Result<impl std::fmt::Debug, Status>,
    code: Code,
    reason: &str,
    field: Option<&str>,
) {
    let status = result.expect_err("the call is rejected");
    assert_eq!(status.code(), code, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo detail");
    assert_eq!(info.reason, reason, "{status:?}");
    if let Some(field) = field {
        let bad = status.get_details_bad_request().expect("BadRequest detail");
        assert_eq!(bad.field_violations[0].field, field, "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_precisely_and_creates_nothing() {
    let h = Harness::start().await;
    let wallet = h.wallet("alice", "USD").await;
    let other_wallet = {
        let mut wallets = h.wallets.clone();
        wallets
            .create_wallet(with_token(
                wpb::CreateWalletRequest {
                    idempotency_key: "other-wallet".into(),
                    owner: "mallory".into(),
                    asset: "USD".into(),
                    ..Default::default()
                },
                &h.other_token,
            ))
            .await
            .expect("other tenant's wallet")
            .into_inner()
            .wallet
            .expect("wallet")
            .wallet_id
    };
    let invalid = Code::InvalidArgument;

    let mut r = manual(&wallet, "k1", "20.00");
    r.wallet_amount = Some("19.99".into());
    assert_rejected(
        h.create(r).await,
        invalid,
        "WALLET_AMOUNT_BELOW_AMOUNT",
        Some("wallet_amount"),
    );
    for bad in ["12.3.4", "", "1e3", "+5", " 5", "abc"] {
        assert_rejected(
            h.create(manual(&wallet, "k1", bad)).await,
            invalid,
            "INVALID_AMOUNT",
            Some("amount"),
        );
    }
    // More decimals than USD has, zero and negative amounts: the decider's rules, same reason.
    for bad in ["1.234", "0", "0.00", "-5.00"] {
        assert_rejected(
            h.create(manual(&wallet, "k1", bad)).await,
            invalid,
            "INVALID_AMOUNT",
            Some("amount"),
        );
    }
    let mut r = manual(&wallet, "k1", "20.00");
    r.wallet_amount = Some("22.001".into());
    assert_rejected(
        h.create(r).await,
        invalid,
        "INVALID_AMOUNT",
        Some("wallet_amount"),
    );
    assert_rejected(
        h.create(manual(&wallet, "", "20.00")).await,
        invalid,
        "MISSING_IDEMPOTENCY_KEY",
        Some("idempotency_key"),
    );
    assert_rejected(
        h.create(manual(&wallet, "has space", "20.00")).await,
        invalid,
        "INVALID_IDEMPOTENCY_KEY",
        Some("idempotency_key"),
    );
    assert_rejected(
        h.create(manual("not-a-uuid", "k1", "20.00")).await,
        invalid,
        "INVALID_ID",
        Some("wallet_id"),
    );
    assert_rejected(
        h.create(manual(&Uuid::now_v7().to_string(), "k1", "20.00"))
            .await,
        Code::NotFound,
        "WALLET_NOT_FOUND",
        None,
    );
    // Another tenant's wallet is indistinguishable from a missing one.
    assert_rejected(
        h.create(manual(&other_wallet, "k1", "20.00")).await,
        Code::NotFound,
        "WALLET_NOT_FOUND",
        None,
    );

    let mut r = manual(&wallet, "k1", "20.00");
    r.kind = pb::TopUpKind::Auto as i32;
    assert_rejected(h.create(r).await, invalid, "KIND_NOT_ALLOWED", Some("kind"));
    let mut r = manual(&wallet, "k1", "20.00");
    r.kind = 99;
    assert_rejected(h.create(r).await, invalid, "INVALID_ENUM", Some("kind"));
    let mut r = manual(&wallet, "k1", "20.00");
    r.kind = pb::TopUpKind::ManualWithPaymentMethod as i32;
    assert_rejected(
        h.create(r.clone()).await,
        invalid,
        "PAYMENT_METHOD_REQUIRED",
        Some("payment_method_id"),
    );
    r.payment_method_id = Uuid::now_v7().to_string();
    assert_rejected(
        h.create(r.clone()).await,
        Code::NotFound,
        "PAYMENT_METHOD_NOT_FOUND",
        None,
    );
    // A card of someone else (same tenant) is never charged to this wallet.
    r.payment_method_id = h.save_card(TENANT, "bob").await.to_string();
    assert_rejected(
        h.create(r).await,
        Code::NotFound,
        "PAYMENT_METHOD_NOT_FOUND",
        None,
    );
    let mut r = manual(&wallet, "k1", "20.00");
    r.payment_method_id = h.save_card(TENANT, "alice").await.to_string();
    assert_rejected(
        h.create(r).await,
        invalid,
        "PAYMENT_METHOD_NOT_ALLOWED",
        Some("payment_method_id"),
    );
    let mut r = manual(&wallet, "k1", "20.00");
    r.lots_expire_at_ms = Some(now_ms() + 60_000);
    assert_rejected(
        h.create(r).await,
        invalid,
        "LOT_EXPIRY_TOO_SOON",
        Some("lots_expire_at_ms"),
    );

    let mut top_ups = h.top_ups.clone();
    let no_token = top_ups
        .create_top_up(Request::new(manual(&wallet, "k1", "20.00")))
        .await;
    assert_rejected(no_token, Code::Unauthenticated, "UNAUTHENTICATED", None);
    let read_only = top_ups
        .create_top_up(with_token(
            manual(&wallet, "k1", "20.00"),
            &h.read_only_token,
        ))
        .await;
    assert_rejected(read_only, Code::PermissionDenied, "MISSING_SCOPE", None);

    assert_eq!(
        h.top_up_records().await,
        0,
        "a rejected request wrote no event"
    );
    let listed = top_ups
        .list_top_ups(h.request(pb::ListTopUpsRequest {
            wallet_id: wallet.clone(),
            ..Default::default()
        }))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.top_ups.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_returns_the_page_url_and_deadline_and_retries_replay() {
    let h = Harness::start().await;
    let wallet = h.wallet("alice", "USD").await;
    let before_ms = now_ms();
    let mut request = manual(&wallet, "order-1", "20.00");
    request.wallet_amount = Some("22".into());
    let created = h.create(request.clone()).await.expect("created");
    let after_ms = now_ms();
    assert!(!created.replayed);
    let top_up = created.top_up.expect("top-up");
    assert_eq!(top_up.wallet_id, wallet);
    assert_eq!(top_up.owner, "alice");
    assert_eq!(top_up.kind, pb::TopUpKind::Manual as i32);
    assert_eq!(top_up.status, pb::TopUpStatus::Created as i32);
    assert_eq!(
        (top_up.amount.as_str(), top_up.wallet_amount.as_str()),
        ("20.00", "22.00")
    );
    assert_eq!(top_up.fee, "0.58", "2.9 % of 20.00");
    assert_eq!(top_up.credited, "0.00");
    assert_eq!(top_up.asset, "USD");
    let session = top_up
        .url
        .strip_prefix("http://127.0.0.1:8080/checkout/")
        .unwrap_or_else(|| panic!("url {} is on the checkout page", top_up.url));
    Uuid::parse_str(session).expect("the session is a UUID");
    // The default deadline: five minutes after creation.
    let timeout_ms = h.config.services.topups.timeout_ms;
    assert_eq!(timeout_ms, 300_000);
    assert!(
        (before_ms + timeout_ms..=after_ms + timeout_ms).contains(&top_up.expires_at_ms),
        "expires_at_ms {} is not five minutes after creation",
        top_up.expires_at_ms
    );
    Uuid::parse_str(&top_up.payment_id).expect("a payment id");
    assert_eq!(top_up.payment_method_id, "");

    // A retry is the same top-up, marked replayed; nothing new is written.
    let records = h.top_up_records().await;
    let retried = h.create(request.clone()).await.expect("replayed");
    assert!(retried.replayed);
    let again = retried.top_up.expect("top-up");
    assert_eq!(again.top_up_id, top_up.top_up_id);
    assert_eq!(again.url, top_up.url);
    assert_eq!(again.expires_at_ms, top_up.expires_at_ms);
    assert_eq!(again.payment_id, top_up.payment_id);
    assert_eq!(h.top_up_records().await, records);
    // The same key with another request is refused.
    let mut changed = request.clone();
    changed.amount = "21.00".into();
    assert_rejected(
        h.create(changed).await,
        Code::FailedPrecondition,
        "IDEMPOTENCY_KEY_REUSED",
        None,
    );

    // Read your writes: the sequence of the create is a valid min_sequence.
    let mut top_ups = h.top_ups.clone();
    let read = top_ups
        .get_top_up(h.request(pb::GetTopUpRequest {
            top_up_id: top_up.top_up_id.clone(),
            min_sequence: top_up.sequence,
        }))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(read.url, top_up.url);
    assert_eq!(read.expires_at_ms, top_up.expires_at_ms);
    assert_eq!(
        (
            read.amount.as_str(),
            read.wallet_amount.as_str(),
            read.fee.as_str()
        ),
        ("20.00", "22.00", "0.58")
    );
    assert_eq!(read.status, pb::TopUpStatus::Created as i32);
    assert!(read.created_at_ms >= before_ms);
    assert!(read.sequence >= top_up.sequence);
    // Another tenant cannot see it; an unknown id is not found.
    let hidden = top_ups
        .get_top_up(with_token(
            pb::GetTopUpRequest {
                top_up_id: top_up.top_up_id.clone(),
                min_sequence: 0,
            },
            &h.other_token,
        ))
        .await;
    assert_rejected(hidden, Code::NotFound, "TOP_UP_NOT_FOUND", None);
    let missing = top_ups
        .get_top_up(h.request(pb::GetTopUpRequest {
            top_up_id: Uuid::now_v7().to_string(),
            min_sequence: 0,
        }))
        .await;
    assert_rejected(missing, Code::NotFound, "TOP_UP_NOT_FOUND", None);

    // A stored card: no page, the card recorded.
    let card = h.save_card(TENANT, "alice").await;
    let mut stored = manual(&wallet, "order-2", "5.00");
    stored.kind = pb::TopUpKind::ManualWithPaymentMethod as i32;
    stored.payment_method_id = card.to_string();
    let top_up = h
        .create(stored)
        .await
        .expect("created")
        .top_up
        .expect("top-up");
    assert_eq!(top_up.kind, pb::TopUpKind::ManualWithPaymentMethod as i32);
    assert_eq!(top_up.url, "");
    assert_eq!(top_up.payment_method_id, card.to_string());
    assert_eq!(
        top_up.wallet_amount, "5.00",
        "wallet_amount defaults to amount"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_ups_list_by_wallet_in_pages() {
    let h = Harness::start().await;
    let wallet = h.wallet("alice", "USD").await;
    let other = h.wallet("alice", "EUR").await;
    let mut created = HashSet::new();
    let mut in_creation_order = Vec::new();
    let mut sequences = Vec::new();
    for n in 0..5 {
        if n > 0 {
            // Distinct creation times (milliseconds), so the expected order is exactly the
            // reverse of creation; the ids, derived from the keys, are in no such order.
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        let top_up = h
            .create(manual(&wallet, &format!("page-{n}"), "1.00"))
            .await
            .expect("created")
            .top_up
            .expect("top-up");
        sequences.push((top_up.top_up_id.clone(), top_up.sequence));
        in_creation_order.push(top_up.top_up_id.clone());
        created.insert(top_up.top_up_id);
    }
    // The same key on another wallet is another top-up.
    let elsewhere = h
        .create(manual(&other, "page-0", "1.00"))
        .await
        .expect("another wallet's")
        .top_up
        .expect("top-up");
    assert!(!created.contains(&elsewhere.top_up_id));
    let mut top_ups = h.top_ups.clone();
    // Read your writes: wait until every one is visible, then page.
    for (top_up_id, min_sequence) in sequences {
        top_ups
            .get_top_up(h.request(pb::GetTopUpRequest {
                top_up_id,
                min_sequence,
            }))
            .await
            .expect("visible");
    }
    let mut seen = HashSet::new();
    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = top_ups
            .list_top_ups(h.request(pb::ListTopUpsRequest {
                wallet_id: wallet.clone(),
                page_size: 2,
                page_token,
            }))
            .await
            .expect("page")
            .into_inner();
        sizes.push(page.top_ups.len());
        for top_up in page.top_ups {
            assert_eq!(top_up.wallet_id, wallet);
            listed.push((top_up.created_at_ms, top_up.top_up_id.clone()));
            assert!(seen.insert(top_up.top_up_id), "no top-up is listed twice");
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(seen, created);
    // Newest first, by creation time.
    let newest_first: Vec<String> = in_creation_order.iter().rev().cloned().collect();
    assert_eq!(
        listed.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(),
        newest_first,
        "{listed:?}"
    );
    assert!(listed.windows(2).all(|w| w[0].0 > w[1].0), "{listed:?}");

    let too_big = top_ups
        .list_top_ups(h.request(pb::ListTopUpsRequest {
            wallet_id: wallet.clone(),
            page_size: 1001,
            page_token: String::new(),
        }))
        .await;
    assert_rejected(
        too_big,
        Code::OutOfRange,
        "PAGE_SIZE_TOO_LARGE",
        Some("page_size"),
    );
    let bad_token = top_ups
        .list_top_ups(h.request(pb::ListTopUpsRequest {
            wallet_id: wallet.clone(),
            page_size: 2,
            page_token: "garbage".into(),
        }))
        .await;
    assert_rejected(
        bad_token,
        Code::InvalidArgument,
        "INVALID_PAGE_TOKEN",
        Some("page_token"),
    );
    let hidden = top_ups
        .list_top_ups(with_token(
            pb::ListTopUpsRequest {
                wallet_id: wallet.clone(),
                ..Default::default()
            },
            &h.other_token,
        ))
        .await;
    assert_rejected(hidden, Code::NotFound, "WALLET_NOT_FOUND", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_top_up_rules_round_trip() {
    let h = Harness::start().await;
    let wallet = h.wallet("alice", "USD").await;
    let card = h.save_card(TENANT, "alice").await;
    let mut top_ups = h.top_ups.clone();

    let none = top_ups
        .get_auto_top_up(h.request(pb::GetAutoTopUpRequest {
            wallet_id: wallet.clone(),
            min_sequence: 0,
        }))
        .await;
    assert_rejected(none, Code::NotFound, "AUTO_TOP_UP_NOT_FOUND", None);

    let set = |charge, key: &str| pb::SetAutoTopUpRequest {
        idempotency_key: key.to_owned(),
        wallet_id: wallet.clone(),
        threshold: "5".into(),
        charge: Some(charge),
        payment_method_id: card.to_string(),
        daily_max_count: None,
        daily_max_amount: None,
        backoff_ms: None,
    };
    use pb::set_auto_top_up_request::Charge;
    let response = top_ups
        .set_auto_top_up(h.request(set(Charge::Amount("20".into()), "rule-1")))
        .await
        .expect("rule is set")
        .into_inner();
    assert!(!response.replayed);
    let rule = response.rule.expect("rule");
    assert_eq!(rule.threshold, "5.00");
    assert_eq!(
        rule.charge,
        Some(pb::auto_top_up_rule::Charge::Amount("20.00".into()))
    );
    assert_eq!(rule.daily_max_count, 3, "the default daily cap");
    assert_eq!(rule.backoff_ms, 3_600_000, "the default back-off");
    assert_eq!(rule.fee_percent, FEE_PERCENT);
    assert_eq!(rule.timeout_ms, h.config.services.topups.timeout_ms);
    assert_eq!((rule.owner.as_str(), rule.asset.as_str()), ("alice", "USD"));

    let read = top_ups
        .get_auto_top_up(h.request(pb::GetAutoTopUpRequest {
            wallet_id: wallet.clone(),
            min_sequence: rule.sequence,
        }))
        .await
        .expect("rule is visible")
        .into_inner();
    assert_eq!(read.threshold, "5.00");
    assert_eq!(read.charge, rule.charge);
    assert_eq!(read.payment_method_id, card.to_string());
    assert_eq!(read.daily_max_count, 3);
    assert_eq!(read.backoff_ms, 3_600_000);
    assert!(read.updated_at_ms > 0);
    assert!(read.sequence >= rule.sequence);
    // Nothing has failed: no back-off, no cap.
    assert_eq!(
        (
            read.consecutive_failures,
            read.backoff_until_ms,
            read.last_failure.clone(),
            read.daily_cap_reached_until_ms
        ),
        (0, 0, None, 0)
    );
    let replayed = top_ups
        .set_auto_top_up(h.request(set(Charge::Amount("20".into()), "rule-1")))
        .await
        .expect("replayed")
        .into_inner();
    assert!(replayed.replayed);

    // Replaced by a target-balance rule with its own cap and back-off.
    let mut request = set(Charge::TargetBalance("50.00".into()), "rule-2");
    request.daily_max_count = Some(5);
    request.daily_max_amount = Some("200".into());
    request.backoff_ms = Some(120_000);
    let rule = top_ups
        .set_auto_top_up(h.request(request))
        .await
        .expect("replaced")
        .into_inner()
        .rule
        .expect("rule");
    let read = top_ups
        .get_auto_top_up(h.request(pb::GetAutoTopUpRequest {
            wallet_id: wallet.clone(),
            min_sequence: rule.sequence,
        }))
        .await
        .expect("visible")
        .into_inner();
    assert_eq!(
        read.charge,
        Some(pb::auto_top_up_rule::Charge::TargetBalance("50.00".into()))
    );
    assert_eq!(read.daily_max_count, 5);
    assert_eq!(read.daily_max_amount.as_deref(), Some("200.00"));
    assert_eq!(read.backoff_ms, 120_000);

    // Precise rejections.
    let mut missing = set(Charge::Amount("20".into()), "rule-3");
    missing.charge = None;
    let rejected = top_ups.set_auto_top_up(h.request(missing)).await;
    assert_rejected(
        rejected,
        Code::InvalidArgument,
        "MISSING_FIELD",
        Some("amount"),
    );
    let rejected = top_ups
        .set_auto_top_up(h.request(set(Charge::TargetBalance("5.00".into()), "rule-4")))
        .await;
    assert_rejected(
        rejected,
        Code::InvalidArgument,
        "TARGET_NOT_ABOVE_THRESHOLD",
        Some("target_balance"),
    );
    let mut request = set(Charge::Amount("20".into()), "rule-5");
    request.daily_max_count = Some(0);
    let rejected = top_ups.set_auto_top_up(h.request(request)).await;
    assert_rejected(
        rejected,
        Code::InvalidArgument,
        "INVALID_DAILY_CAP",
        Some("daily_max_count"),
    );
    let mut request = set(Charge::Amount("20".into()), "rule-6");
    request.payment_method_id = h.save_card(TENANT, "bob").await.to_string();
    let rejected = top_ups.set_auto_top_up(h.request(request)).await;
    assert_rejected(rejected, Code::NotFound, "PAYMENT_METHOD_NOT_FOUND", None);
    let rejected = top_ups
        .set_auto_top_up(with_token(
            set(Charge::Amount("20".into()), "rule-7"),
            &h.other_token,
        ))
        .await;
    assert_rejected(rejected, Code::NotFound, "WALLET_NOT_FOUND", None);
    let mut request = set(Charge::Amount("20".into()), "rule-8");
    request.threshold = "5.001".into();
    let rejected = top_ups.set_auto_top_up(h.request(request)).await;
    assert_rejected(
        rejected,
        Code::InvalidArgument,
        "INVALID_AMOUNT",
        Some("threshold"),
    );
    let rejected = top_ups
        .set_auto_top_up(with_token(
            set(Charge::Amount("20".into()), "rule-9"),
            &h.read_only_token,
        ))
        .await;
    assert_rejected(rejected, Code::PermissionDenied, "MISSING_SCOPE", None);

    // Another tenant cannot read it.
    let hidden = top_ups
        .get_auto_top_up(with_token(
            pb::GetAutoTopUpRequest {
                wallet_id: wallet.clone(),
                min_sequence: 0,
            },
            &h.other_token,
        ))
        .await;
    assert_rejected(hidden, Code::NotFound, "AUTO_TOP_UP_NOT_FOUND", None);

    // Removal: then nothing to remove.
    let removed = top_ups
        .remove_auto_top_up(h.request(pb::RemoveAutoTopUpRequest {
            idempotency_key: "remove-1".into(),
            wallet_id: wallet.clone(),
        }))
        .await
        .expect("removed")
        .into_inner();
    assert!(removed.sequence > rule.sequence);
    let gone = top_ups
        .get_auto_top_up(h.request(pb::GetAutoTopUpRequest {
            wallet_id: wallet.clone(),
            min_sequence: removed.sequence,
        }))
        .await;
    assert_rejected(gone, Code::NotFound, "AUTO_TOP_UP_NOT_FOUND", None);
    let again = top_ups
        .remove_auto_top_up(h.request(pb::RemoveAutoTopUpRequest {
            idempotency_key: "remove-2".into(),
            wallet_id: wallet.clone(),
        }))
        .await;
    assert_rejected(again, Code::NotFound, "AUTO_TOP_UP_NOT_FOUND", None);
}

/// GetAutoTopUp shows why auto top-ups are not firing: the failures in a row, the back-off's end
/// while it lasts, the last failure (kept after a completion) and the daily cap while it holds,
/// as the auto top-up projection records them from the saga's events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_auto_top_up_shows_the_back_off_and_the_cap() {
    let h = Harness::start().await;
    let wallet = h.wallet("alice", "USD").await;
    let wallet_id = Uuid::parse_str(&wallet).expect("wallet id");
    let card = h.save_card(TENANT, "alice").await;
    let mut top_ups = h.top_ups.clone();
    let rule = top_ups
        .set_auto_top_up(h.request(pb::SetAutoTopUpRequest {
            idempotency_key: "rule".into(),
            wallet_id: wallet.clone(),
            threshold: "5".into(),
            charge: Some(pb::set_auto_top_up_request::Charge::Amount("20".into())),
            payment_method_id: card.to_string(),
            ..Default::default()
        }))
        .await
        .expect("rule is set")
        .into_inner()
        .rule
        .expect("rule");
    assert_eq!(
        (
            rule.consecutive_failures,
            rule.backoff_until_ms,
            rule.last_failure,
            rule.daily_cap_reached_until_ms
        ),
        (0, 0, None, 0),
        "SetAutoTopUp does not report the saga's outcomes"
    );
    let get = |min_sequence| {
        let mut top_ups = top_ups.clone();
        let request = h.request(pb::GetAutoTopUpRequest {
            wallet_id: wallet.clone(),
            min_sequence,
        });
        async move {
            top_ups
                .get_auto_top_up(request)
                .await
                .expect("rule")
                .into_inner()
        }
    };
    get(rule.sequence).await;

    // The saga's outcomes, as its projection writes them (no balance moves in this test, so
    // the saga itself records nothing after the rule).
    let failed_top_up = Uuid::now_v7();
    let failed_at_ms = now_ms();
    let backoff_until_ms = failed_at_ms + 3_600_000;
    let outcome = |write| async {
        h.store
            .apply(vec![write], vec![])
            .await
            .expect("row is written");
    };
    outcome(RowWrite::AutoTopUpFailed {
        wallet_id,
        failure: AutoTopUpFailureRow {
            top_up_id: failed_top_up,
            reason: "declined:insufficient_funds".to_owned(),
            failed_at_ms,
        },
        consecutive_failures: 2,
        backoff_until_ms,
        version: rule.sequence + 10,
    })
    .await;
    // A cap of a day that is over shows as none.
    outcome(RowWrite::AutoTopUpCapReached {
        wallet_id,
        until_ms: failed_at_ms - 1,
        version: rule.sequence + 11,
    })
    .await;
    let read = get(rule.sequence + 11).await;
    assert_eq!(read.sequence, rule.sequence + 11);
    assert_eq!(read.consecutive_failures, 2);
    assert_eq!(read.backoff_until_ms, backoff_until_ms);
    assert_eq!(
        read.last_failure,
        Some(pb::AutoTopUpFailure {
            top_up_id: failed_top_up.to_string(),
            reason: "declined:insufficient_funds".to_owned(),
            failed_at_ms,
        })
    );
    assert_eq!(read.daily_cap_reached_until_ms, 0);

    // A cap that holds until the next midnight shows; a completion ends the back-off and keeps
    // the last failure.
    let midnight_ms = (now_ms() / 86_400_000 + 1) * 86_400_000;
    outcome(RowWrite::AutoTopUpCapReached {
        wallet_id,
        until_ms: midnight_ms,
        version: rule.sequence + 12,
    })
    .await;
    outcome(RowWrite::AutoTopUpCompleted {
        wallet_id,
        version: rule.sequence + 13,
    })
    .await;
    let read = get(rule.sequence + 13).await;
    assert_eq!(
        (
            read.consecutive_failures,
            read.backoff_until_ms,
            read.daily_cap_reached_until_ms
        ),
        (0, 0, midnight_ms)
    );
    assert_eq!(
        read.last_failure.map(|f| f.top_up_id),
        Some(failed_top_up.to_string())
    );
}
