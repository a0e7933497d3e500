//! Turning parsed arguments into requests, and sending them.
//!
//! Requests are built first ([`prepare`], pure and tested without a server) so that every local
//! mistake (bad batch file, duplicate metadata key) is reported before a connection is opened;
//! only then are they sent ([`execute`]).

use std::collections::HashMap;
use std::future::Future;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use purse_client::{Client, ClientError, outcome_unknown};
use purse_proto::payment::v1::{ListPaymentMethodsRequest, ListPaymentMethodsResponse};
use purse_proto::topup::v1::{
    AutoTopUpRule, CreateTopUpRequest, CreateTopUpResponse, GetAutoTopUpRequest, GetTopUpRequest,
    ListTopUpsRequest, ListTopUpsResponse, RemoveAutoTopUpRequest, RemoveAutoTopUpResponse,
    SetAutoTopUpRequest, SetAutoTopUpResponse, TopUp, TopUpKind, set_auto_top_up_request,
};
use purse_proto::wallet::v1::{Balance, ListEntriesResponse, ListWalletsResponse, Wallet};
use purse_proto::wallet::v1::{
    BatchExecuteRequest, BatchOperation, BatchResult, CaptureHoldRequest, CloseWalletRequest,
    CreateWalletRequest, CreateWalletResponse, CreditRequest, CreditSource, DebitKind,
    DebitRequest, EntryType, GetBalanceRequest, GetWalletRequest, Limits, ListEntriesRequest,
    ListWalletsRequest, MutationResponse, OpenSystemWalletRequest, PlaceHoldRequest,
    ReactivateWalletRequest, RefundRequest, SuspendWalletRequest, UpdateLimitsRequest,
    VoidHoldRequest, WalletKind, batch_operation::Operation, batch_result,
};
use serde::Deserialize;
use tonic::{Response, Status};

use crate::args::{
    self, AutoTopupCommand, Command, ExpiryArgs, HoldCommand, KeyArg, LimitArgs, PageArgs,
    PaymentMethodCommand, TopupCommand, TopupKindArg, WalletCommand,
};
use crate::error::CliError;

/// Most operations one BatchExecute call may carry (API contract).
pub(crate) const BATCH_OPERATIONS_MAX: usize = 1000;
/// Largest batch file read: 1000 operations of generous size. Bounds memory on a wrong file.
const BATCH_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// The idempotency key a mutation is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdempotencyKey {
    /// The key.
    pub(crate) value: String,
    /// Whether `purse` generated it (and so must show it for a safe retry).
    pub(crate) generated: bool,
}

impl IdempotencyKey {
    fn from_arg(arg: KeyArg) -> Self {
        match arg.idempotency_key {
            Some(value) => IdempotencyKey {
                value,
                generated: false,
            },
            None => IdempotencyKey {
                // UUIDv7: unique without coordination, and sorts by creation time in logs.
                value: uuid::Uuid::now_v7().to_string(),
                generated: true,
            },
        }
    }
}

/// A request ready to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Call {
    /// CreateWallet.
    CreateWallet(CreateWalletRequest, IdempotencyKey),
    /// OpenSystemWallet.
    OpenSystemWallet(OpenSystemWalletRequest),
    /// GetWallet.
    GetWallet(GetWalletRequest),
    /// ListWallets.
    ListWallets(ListWalletsRequest),
    /// Any RPC answering a `MutationResponse`.
    Mutation {
        /// The request.
        request: MutationRequest,
        /// Its idempotency key (also inside the request).
        key: IdempotencyKey,
        /// The expiry computed from `--expires-in`, shown so a retry can send the same time.
        computed_expires_at_ms: Option<i64>,
    },
    /// GetBalance.
    GetBalance(GetBalanceRequest),
    /// ListEntries.
    ListEntries(ListEntriesRequest),
    /// BatchExecute.
    Batch(BatchExecuteRequest, Vec<BatchLine>),
    /// CreateTopUp.
    CreateTopUp {
        /// The request.
        request: CreateTopUpRequest,
        /// Its idempotency key (also inside the request).
        key: IdempotencyKey,
        /// The lot expiry computed from `--lots-expire-in`, shown so a retry can send it again.
        computed_lots_expire_at_ms: Option<i64>,
    },
    /// GetTopUp.
    GetTopUp(GetTopUpRequest),
    /// ListTopUps.
    ListTopUps(ListTopUpsRequest),
    /// SetAutoTopUp.
    SetAutoTopUp(SetAutoTopUpRequest, IdempotencyKey),
    /// GetAutoTopUp.
    GetAutoTopUp(GetAutoTopUpRequest),
    /// RemoveAutoTopUp.
    RemoveAutoTopUp(RemoveAutoTopUpRequest, IdempotencyKey),
    /// ListPaymentMethods.
    ListPaymentMethods(ListPaymentMethodsRequest),
}

/// The requests answered by a `MutationResponse`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MutationRequest {
    /// UpdateLimits.
    UpdateLimits(UpdateLimitsRequest),
    /// SuspendWallet.
    Suspend(SuspendWalletRequest),
    /// ReactivateWallet.
    Reactivate(ReactivateWalletRequest),
    /// CloseWallet.
    Close(CloseWalletRequest),
    /// Credit.
    Credit(CreditRequest),
    /// Debit.
    Debit(DebitRequest),
    /// Refund.
    Refund(RefundRequest),
    /// PlaceHold.
    PlaceHold(PlaceHoldRequest),
    /// CaptureHold.
    CaptureHold(CaptureHoldRequest),
    /// VoidHold.
    VoidHold(VoidHoldRequest),
}

/// Where a batch operation came from, to label its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchLine {
    /// 1-based line number in the input.
    pub(crate) line: usize,
    /// The operation's idempotency key.
    pub(crate) idempotency_key: String,
}

/// What a successful call produced, for rendering.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// A wallet was opened (or the open was replayed).
    WalletCreated {
        /// The response.
        response: CreateWalletResponse,
        /// The key it was sent with.
        key: IdempotencyKey,
    },
    /// A system wallet, opened now or before (`replayed`).
    SystemWallet(CreateWalletResponse),
    /// One wallet.
    Wallet(Wallet),
    /// A page of wallets.
    Wallets(ListWalletsResponse),
    /// A mutation's result.
    Mutation {
        /// The response.
        response: MutationResponse,
        /// The key it was sent with.
        key: IdempotencyKey,
        /// The expiry computed from `--expires-in`.
        computed_expires_at_ms: Option<i64>,
    },
    /// A balance.
    Balance(Balance),
    /// A page of history.
    History(ListEntriesResponse),
    /// One result per batch operation, in input order.
    Batch(Vec<BatchItem>),
    /// A top-up was created (or the creation was replayed).
    TopUpCreated {
        /// The response.
        response: CreateTopUpResponse,
        /// The key it was sent with.
        key: IdempotencyKey,
        /// The lot expiry computed from `--lots-expire-in`.
        computed_lots_expire_at_ms: Option<i64>,
    },
    /// One top-up.
    TopUp(TopUp),
    /// A page of top-ups.
    TopUps(ListTopUpsResponse),
    /// An auto top-up rule was set (or the change was replayed).
    AutoTopUpSet {
        /// The response.
        response: SetAutoTopUpResponse,
        /// The key it was sent with.
        key: IdempotencyKey,
    },
    /// A wallet's auto top-up rule.
    AutoTopUp(AutoTopUpRule),
    /// An auto top-up rule was removed (or the removal was replayed).
    AutoTopUpRemoved {
        /// The response.
        response: RemoveAutoTopUpResponse,
        /// The key it was sent with.
        key: IdempotencyKey,
    },
    /// A page of stored cards.
    PaymentMethods(ListPaymentMethodsResponse),
}

/// One batch operation's result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BatchItem {
    /// Where the operation came from.
    pub(crate) source: BatchLine,
    /// Its result; `None` when the server sent fewer results than operations.
    pub(crate) result: Option<batch_result::Result>,
}

impl Outcome {
    /// The error to report after printing, for outcomes that are partly failures (a batch with
    /// rejected operations).
    pub(crate) fn failure(&self) -> Option<CliError> {
        let Outcome::Batch(items) = self else {
            return None;
        };
        let mut failed = 0;
        let mut retryable = false;
        for item in items {
            match &item.result {
                Some(batch_result::Result::Ok(_)) => {}
                Some(batch_result::Result::Error(error)) => {
                    failed += 1;
                    retryable |= outcome_unknown(tonic::Code::from_i32(error.code));
                }
                // No answer for this operation: it may or may not have been applied, so it is
                // treated like a timeout (retry with the same key to find out).
                None => {
                    failed += 1;
                    retryable = true;
                }
            }
        }
        (failed > 0).then_some(CliError::BatchFailures {
            failed,
            total: items.len(),
            retryable,
        })
    }
}

/// The current time in ms since the Unix epoch, for `--expires-in`.
pub(crate) fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Builds the request for `command` without sending anything. `now_ms` anchors `--expires-in`.
pub(crate) fn prepare(command: Command, now_ms: i64) -> Result<Call, CliError> {
    let call = match command {
        Command::Wallet(WalletCommand::Create(args)) => {
            let key = IdempotencyKey::from_arg(args.key);
            let request = CreateWalletRequest {
                idempotency_key: key.value.clone(),
                owner: args.owner,
                kind: WalletKind::from(args.kind).into(),
                asset: args.asset,
                asset_scale: args.asset_scale,
                limits: Some(limits(&args.limits)),
                metadata: metadata(args.metadata)?,
            };
            Call::CreateWallet(request, key)
        }
        Command::Wallet(WalletCommand::OpenSystem(args)) => {
            Call::OpenSystemWallet(OpenSystemWalletRequest {
                name: args.name,
                asset: args.asset,
                asset_scale: args.asset_scale,
            })
        }
        Command::Wallet(WalletCommand::Get(args)) => Call::GetWallet(GetWalletRequest {
            wallet_id: args.wallet_id,
            min_sequence: args.min_sequence,
        }),
        Command::Wallet(WalletCommand::List(args)) => {
            let (page_size, page_token) = page(args.page);
            Call::ListWallets(ListWalletsRequest {
                owner: args.owner.unwrap_or_default(),
                page_size,
                page_token,
            })
        }
        Command::Wallet(WalletCommand::UpdateLimits(args)) => {
            let key = IdempotencyKey::from_arg(args.key);
            mutation(
                MutationRequest::UpdateLimits(UpdateLimitsRequest {
                    wallet_id: args.wallet_id,
                    idempotency_key: key.value.clone(),
                    limits: Some(limits(&args.limits)),
                }),
                key,
                None,
            )
        }
        Command::Wallet(WalletCommand::Suspend(args)) => {
            let key = IdempotencyKey::from_arg(args.key);
            mutation(
                MutationRequest::Suspend(SuspendWalletRequest {
                    wallet_id: args.wallet_id,
                    idempotency_key: key.value.clone(),
                    reason: args.reason,
                }),
                key,
                None,
            )
        }
        Command::Wallet(WalletCommand::Reactivate(args)) => {
            let key = IdempotencyKey::from_arg(args.key);
            mutation(
                MutationRequest::Reactivate(ReactivateWalletRequest {
                    wallet_id: args.wallet_id,
                    idempotency_key: key.value.clone(),
                }),
                key,
                None,
            )
        }
        Command::Wallet(WalletCommand::Close(args)) => {
            let key = IdempotencyKey::from_arg(args.key);
            mutation(
                MutationRequest::Close(CloseWalletRequest {
                    wallet_id: args.wallet_id,
                    idempotency_key: key.value.clone(),
                }),
                key,
                None,
            )
        }
        Command::Credit(args) => {
            let key = IdempotencyKey::from_arg(args.key);
            let (expires_at_ms, computed) = expiry(&args.expiry, now_ms);
            mutation(
                MutationRequest::Credit(CreditRequest {
                    wallet_id: args.wallet_id,
                    idempotency_key: key.value.clone(),
                    amount: args.amount.to_string(),
                    source: CreditSource::from(args.source).into(),
                    expires_at_ms,
                    reference: args.text.reference,
                    description: args.text.description,
                }),
                key,
                computed,
            )
        }
        Command::Debit(args) => {
            let key = IdempotencyKey::from_arg(args.key);
            mutation(
                MutationRequest::Debit(DebitRequest {
                    wallet_id: args.wallet_id,
                    idempotency_key: key.value.clone(),
                    amount: args.amount.to_string(),
                    kind: DebitKind::from(args.kind).into(),
                    reference: args.text.reference,
                    description: args.text.description,
                }),
                key,
                None,
            )
        }
        Command::Refund(args) => {
            let key = IdempotencyKey::from_arg(args.key);
            mutation(
                MutationRequest::Refund(RefundRequest {
                    wallet_id: args.wallet_id,
                    idempotency_key: key.value.clone(),
                    debit_id: args.debit_id,
                    amount: args.amount.to_string(),
                    reference: args.text.reference,
                    description: args.text.description,
                }),
                key,
                None,
            )
        }
        Command::Hold(HoldCommand::Place(args)) => {
            let key = IdempotencyKey::from_arg(args.key);
            let (expires_at_ms, computed) = expiry(&args.expiry, now_ms);
            // clap requires one of the two expiry flags, so this only guards a future change.
            let expires_at_ms = expires_at_ms.ok_or_else(|| {
                CliError::Usage("hold place needs --expires-in or --expires-at-ms".to_owned())
            })?;
            mutation(
                MutationRequest::PlaceHold(PlaceHoldRequest {
                    wallet_id: args.wallet_id,
                    idempotency_key: key.value.clone(),
                    amount: args.amount.to_string(),
                    expires_at_ms,
                    reference: args.text.reference,
                    description: args.text.description,
                }),
                key,
                computed,
            )
        }
        Command::Hold(HoldCommand::Capture(args)) => {
            let key = IdempotencyKey::from_arg(args.key);
            mutation(
                MutationRequest::CaptureHold(CaptureHoldRequest {
                    wallet_id: args.wallet_id,
                    idempotency_key: key.value.clone(),
                    hold_id: args.hold_id,
                    amount: args.amount.to_string(),
                }),
                key,
                None,
            )
        }
        Command::Hold(HoldCommand::Void(args)) => {
            let key = IdempotencyKey::from_arg(args.key);
            mutation(
                MutationRequest::VoidHold(VoidHoldRequest {
                    wallet_id: args.wallet_id,
                    idempotency_key: key.value.clone(),
                    hold_id: args.hold_id,
                }),
                key,
                None,
            )
        }
        Command::Balance(args) => Call::GetBalance(GetBalanceRequest {
            wallet_id: args.wallet_id,
            min_sequence: args.min_sequence,
            as_of_ms: args.as_of_ms,
        }),
        Command::History(args) => {
            let (page_size, page_token) = page(args.page);
            Call::ListEntries(ListEntriesRequest {
                wallet_id: args.wallet_id,
                page_size,
                page_token,
                entry_types: args
                    .types
                    .into_iter()
                    .map(|t| EntryType::from(t).into())
                    .collect(),
                from_ms: args.from_ms,
                to_ms: args.to_ms,
                min_sequence: args.min_sequence,
            })
        }
        Command::Batch(args) => {
            let text = read_input(&args.file)?;
            let (operations, lines) = parse_batch(&text)?;
            Call::Batch(BatchExecuteRequest { operations }, lines)
        }
        Command::Topup(TopupCommand::Create(args)) => {
            let key = IdempotencyKey::from_arg(args.key);
            // With a card and no kind, the card is what the user means to pay with.
            let kind = match (args.kind, &args.payment_method) {
                (Some(kind), _) => kind,
                (None, Some(_)) => TopupKindArg::ManualWithPaymentMethod,
                (None, None) => TopupKindArg::Manual,
            };
            let (lots_expire_at_ms, computed) =
                at_or_in(args.lots_expire_at_ms, args.lots_expire_in, now_ms);
            Call::CreateTopUp {
                request: CreateTopUpRequest {
                    idempotency_key: key.value.clone(),
                    wallet_id: args.wallet,
                    kind: TopUpKind::from(kind).into(),
                    amount: args.amount.to_string(),
                    wallet_amount: args.wallet_amount.map(|d| d.to_string()),
                    lots_expire_at_ms,
                    payment_method_id: args.payment_method.unwrap_or_default(),
                },
                key,
                computed_lots_expire_at_ms: computed,
            }
        }
        Command::Topup(TopupCommand::Get(args)) => Call::GetTopUp(GetTopUpRequest {
            top_up_id: args.top_up_id,
            min_sequence: args.min_sequence,
        }),
        Command::Topup(TopupCommand::List(args)) => {
            let (page_size, page_token) = page(args.page);
            Call::ListTopUps(ListTopUpsRequest {
                wallet_id: args.wallet,
                page_size,
                page_token,
            })
        }
        Command::AutoTopup(AutoTopupCommand::Set(args)) => {
            use set_auto_top_up_request::Charge;
            let key = IdempotencyKey::from_arg(args.key);
            // clap requires exactly one of the two, so the last arm only guards a future change.
            let charge = match (args.amount, args.target_balance) {
                (Some(amount), None) => Charge::Amount(amount.to_string()),
                (None, Some(target)) => Charge::TargetBalance(target.to_string()),
                _ => {
                    return Err(CliError::Usage(
                        "auto-topup set needs exactly one of --amount and --target-balance"
                            .to_owned(),
                    ));
                }
            };
            let backoff_ms = args.backoff.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX));
            Call::SetAutoTopUp(
                SetAutoTopUpRequest {
                    idempotency_key: key.value.clone(),
                    wallet_id: args.wallet,
                    threshold: args.threshold.to_string(),
                    charge: Some(charge),
                    payment_method_id: args.payment_method,
                    daily_max_count: args.daily_max_count,
                    daily_max_amount: args.daily_max_amount.map(|d| d.to_string()),
                    backoff_ms,
                },
                key,
            )
        }
        Command::AutoTopup(AutoTopupCommand::Get(args)) => {
            Call::GetAutoTopUp(GetAutoTopUpRequest {
                wallet_id: args.wallet,
                min_sequence: args.min_sequence,
            })
        }
        Command::AutoTopup(AutoTopupCommand::Remove(args)) => {
            let key = IdempotencyKey::from_arg(args.key);
            Call::RemoveAutoTopUp(
                RemoveAutoTopUpRequest {
                    idempotency_key: key.value.clone(),
                    wallet_id: args.wallet,
                },
                key,
            )
        }
        Command::PaymentMethod(PaymentMethodCommand::List(args)) => {
            let (page_size, page_token) = page(args.page);
            Call::ListPaymentMethods(ListPaymentMethodsRequest {
                owner: args.owner,
                page_size,
                page_token,
            })
        }
    };
    Ok(call)
}

fn mutation(request: MutationRequest, key: IdempotencyKey, computed: Option<i64>) -> Call {
    Call::Mutation {
        request,
        key,
        computed_expires_at_ms: computed,
    }
}

/// Limits as sent: every flag left out is absent, which the API reads as "no limit".
fn limits(args: &LimitArgs) -> Limits {
    Limits {
        max_balance: args.max_balance.map(|d| d.to_string()),
        daily_debit_limit: args.daily_debit_limit.map(|d| d.to_string()),
        per_transaction_max: args.per_transaction_max.map(|d| d.to_string()),
        velocity: args.velocity,
        low_balance_threshold: args.low_balance_threshold.map(|d| d.to_string()),
    }
}

/// Collects `--metadata` entries; a repeated key is refused rather than silently overwritten.
fn metadata(entries: Vec<(String, String)>) -> Result<HashMap<String, String>, CliError> {
    let mut map = HashMap::with_capacity(entries.len());
    for (key, value) in entries {
        if map.contains_key(&key) {
            return Err(CliError::Usage(format!(
                "--metadata key `{key}` given more than once"
            )));
        }
        map.insert(key, value);
    }
    Ok(map)
}

fn page(args: PageArgs) -> (u32, String) {
    // 0 asks the server for its default page size.
    (
        args.page_size.unwrap_or(0),
        args.page_token.unwrap_or_default(),
    )
}

/// Returns (expires_at_ms to send, the same value if it was computed from `--expires-in`).
fn expiry(args: &ExpiryArgs, now_ms: i64) -> (Option<i64>, Option<i64>) {
    at_or_in(args.expires_at_ms, args.expires_in, now_ms)
}

/// An absolute time or one relative to `now_ms`: (the time to send, the same value if it was
/// computed from the relative one).
fn at_or_in(at_ms: Option<i64>, in_ms: Option<u64>, now_ms: i64) -> (Option<i64>, Option<i64>) {
    match (in_ms, at_ms) {
        (Some(in_ms), _) => {
            // parse_duration_ms bounds in_ms far below i64::MAX, so this cannot saturate in
            // practice; saturating keeps it total anyway.
            let at = now_ms.saturating_add(i64::try_from(in_ms).unwrap_or(i64::MAX));
            (Some(at), Some(at))
        }
        (None, Some(at)) => (Some(at), None),
        (None, None) => (None, None),
    }
}

fn read_input(path: &Path) -> Result<String, CliError> {
    let read_error = |source| CliError::ReadInput {
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(read_error)?)
    };
    // One byte past the limit tells "exactly at the limit" from "too large".
    reader
        .take(BATCH_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > BATCH_FILE_BYTES_MAX {
        return Err(CliError::BadBatch(format!(
            "batch input is larger than {BATCH_FILE_BYTES_MAX} bytes"
        )));
    }
    Ok(text)
}

/// One line of a batch file: `{"<operation>": {<request fields>}}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum BatchLineJson {
    Credit(CreditJson),
    Debit(DebitJson),
    PlaceHold(PlaceHoldJson),
    CaptureHold(CaptureHoldJson),
    VoidHold(VoidHoldJson),
    Refund(RefundJson),
}

// The field sets mirror the proto requests; amounts must be JSON strings so no float ever
// touches money.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditJson {
    wallet_id: String,
    idempotency_key: String,
    amount: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    expires_at_ms: Option<i64>,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DebitJson {
    wallet_id: String,
    idempotency_key: String,
    amount: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceHoldJson {
    wallet_id: String,
    idempotency_key: String,
    amount: String,
    expires_at_ms: i64,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptureHoldJson {
    wallet_id: String,
    idempotency_key: String,
    hold_id: String,
    amount: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoidHoldJson {
    wallet_id: String,
    idempotency_key: String,
    hold_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundJson {
    wallet_id: String,
    idempotency_key: String,
    debit_id: String,
    amount: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    description: String,
}

/// Parses a JSON-lines batch. Every operation must name its idempotency key: generated keys
/// would make re-sending the same file apply it twice.
pub(crate) fn parse_batch(text: &str) -> Result<(Vec<BatchOperation>, Vec<BatchLine>), CliError> {
    let mut operations = Vec::new();
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        if operations.len() == BATCH_OPERATIONS_MAX {
            return Err(CliError::BadBatch(format!(
                "more than {BATCH_OPERATIONS_MAX} operations (one call carries at most \
                 {BATCH_OPERATIONS_MAX}); split the file"
            )));
        }
        let bad = |detail: String| CliError::BadBatchLine { line, detail };
        let parsed: BatchLineJson =
            serde_json::from_str(raw).map_err(|err| bad(json_error(&err)))?;
        let (operation, key) = batch_operation(parsed).map_err(bad)?;
        args::parse_idempotency_key(&key)
            .map_err(|reason| bad(format!("idempotency_key {reason}")))?;
        operations.push(BatchOperation {
            operation: Some(operation),
        });
        lines.push(BatchLine {
            line,
            idempotency_key: key,
        });
    }
    if operations.is_empty() {
        return Err(CliError::BadBatch(
            "batch input has no operations".to_owned(),
        ));
    }
    Ok((operations, lines))
}

/// serde_json's message ends in "at line 1 column N"; within a one-line document only the
/// column means anything, and the file line is reported separately.
fn json_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    format!("{message} (column {})", err.column())
}

fn batch_operation(parsed: BatchLineJson) -> Result<(Operation, String), String> {
    let amount = |text: &str| args::parse_amount(text).map(|d| d.to_string());
    Ok(match parsed {
        BatchLineJson::Credit(c) => {
            let source = match c.source.as_deref() {
                None => CreditSource::Paid,
                Some(name) => credit_source(name)?,
            };
            let op = Operation::Credit(CreditRequest {
                wallet_id: c.wallet_id,
                idempotency_key: c.idempotency_key.clone(),
                amount: amount(&c.amount)?,
                source: source.into(),
                expires_at_ms: c.expires_at_ms,
                reference: c.reference,
                description: c.description,
            });
            (op, c.idempotency_key)
        }
        BatchLineJson::Debit(d) => {
            let kind = match d.kind.as_deref() {
                None => DebitKind::Purchase,
                Some(name) => debit_kind(name)?,
            };
            let op = Operation::Debit(DebitRequest {
                wallet_id: d.wallet_id,
                idempotency_key: d.idempotency_key.clone(),
                amount: amount(&d.amount)?,
                kind: kind.into(),
                reference: d.reference,
                description: d.description,
            });
            (op, d.idempotency_key)
        }
        BatchLineJson::PlaceHold(h) => {
            let op = Operation::PlaceHold(PlaceHoldRequest {
                wallet_id: h.wallet_id,
                idempotency_key: h.idempotency_key.clone(),
                amount: amount(&h.amount)?,
                expires_at_ms: h.expires_at_ms,
                reference: h.reference,
                description: h.description,
            });
            (op, h.idempotency_key)
        }
        BatchLineJson::CaptureHold(c) => {
            let op = Operation::CaptureHold(CaptureHoldRequest {
                wallet_id: c.wallet_id,
                idempotency_key: c.idempotency_key.clone(),
                hold_id: c.hold_id,
                amount: amount(&c.amount)?,
            });
            (op, c.idempotency_key)
        }
        BatchLineJson::VoidHold(v) => {
            let op = Operation::VoidHold(VoidHoldRequest {
                wallet_id: v.wallet_id,
                idempotency_key: v.idempotency_key.clone(),
                hold_id: v.hold_id,
            });
            (op, v.idempotency_key)
        }
        BatchLineJson::Refund(r) => {
            let op = Operation::Refund(RefundRequest {
                wallet_id: r.wallet_id,
                idempotency_key: r.idempotency_key.clone(),
                debit_id: r.debit_id,
                amount: amount(&r.amount)?,
                reference: r.reference,
                description: r.description,
            });
            (op, r.idempotency_key)
        }
    })
}

/// Normalises `transfer-out`, `transfer_out`, `TRANSFER_OUT` and `DEBIT_KIND_TRANSFER_OUT` to
/// the proto name, so batch files may use the CLI's spelling or the proto's.
fn proto_enum_name(name: &str, prefix: &str) -> String {
    let upper = name.trim().to_ascii_uppercase().replace('-', "_");
    if upper.starts_with(prefix) {
        upper
    } else {
        format!("{prefix}{upper}")
    }
}

fn credit_source(name: &str) -> Result<CreditSource, String> {
    match CreditSource::from_str_name(&proto_enum_name(name, "CREDIT_SOURCE_")) {
        // Refund credits only come from Refund; unspecified is never a valid choice.
        Some(CreditSource::Unspecified | CreditSource::Refund) | None => Err(format!(
            "unknown credit source `{name}` (expected paid, granted, transfer or adjustment)"
        )),
        Some(source) => Ok(source),
    }
}

fn debit_kind(name: &str) -> Result<DebitKind, String> {
    match DebitKind::from_str_name(&proto_enum_name(name, "DEBIT_KIND_")) {
        Some(DebitKind::Unspecified) | None => Err(format!(
            "unknown debit kind `{name}` (expected purchase, redemption, fee, transfer_out or \
             payout)"
        )),
        Some(kind) => Ok(kind),
    }
}

/// Awaits `call` within the client's deadline. When the outcome is unknown (no answer in time,
/// UNAVAILABLE, DEADLINE_EXCEEDED) and `purse` generated the key, the error carries the key so
/// the user can retry with it.
async fn finish<T>(
    client: &Client,
    key: Option<&IdempotencyKey>,
    call: impl Future<Output = Result<Response<T>, Status>>,
) -> Result<T, CliError> {
    let retry_key = || key.filter(|k| k.generated).map(|k| k.value.clone());
    client.call(call).await.map_err(|err| match err {
        ClientError::Timeout { timeout_ms } => CliError::Timeout {
            timeout_ms,
            idempotency_key: retry_key(),
        },
        ClientError::Status(status) => CliError::Status {
            idempotency_key: retry_key().filter(|_| outcome_unknown(status.code())),
            status,
        },
        other => CliError::from(other),
    })
}

/// Sends a prepared call.
pub(crate) async fn execute(client: &Client, call: Call) -> Result<Outcome, CliError> {
    let mut rpc = client.wallets();
    let mut top_ups = client.top_ups();
    let outcome = match call {
        Call::CreateWallet(request, key) => {
            let response = finish(client, Some(&key), rpc.create_wallet(request)).await?;
            Outcome::WalletCreated { response, key }
        }
        Call::OpenSystemWallet(request) => {
            Outcome::SystemWallet(finish(client, None, rpc.open_system_wallet(request)).await?)
        }
        Call::GetWallet(request) => {
            Outcome::Wallet(finish(client, None, rpc.get_wallet(request)).await?)
        }
        Call::ListWallets(request) => {
            Outcome::Wallets(finish(client, None, rpc.list_wallets(request)).await?)
        }
        Call::Mutation {
            request,
            key,
            computed_expires_at_ms,
        } => {
            let k = Some(&key);
            let response = match request {
                MutationRequest::UpdateLimits(r) => finish(client, k, rpc.update_limits(r)).await,
                MutationRequest::Suspend(r) => finish(client, k, rpc.suspend_wallet(r)).await,
                MutationRequest::Reactivate(r) => finish(client, k, rpc.reactivate_wallet(r)).await,
                MutationRequest::Close(r) => finish(client, k, rpc.close_wallet(r)).await,
                MutationRequest::Credit(r) => finish(client, k, rpc.credit(r)).await,
                MutationRequest::Debit(r) => finish(client, k, rpc.debit(r)).await,
                MutationRequest::Refund(r) => finish(client, k, rpc.refund(r)).await,
                MutationRequest::PlaceHold(r) => finish(client, k, rpc.place_hold(r)).await,
                MutationRequest::CaptureHold(r) => finish(client, k, rpc.capture_hold(r)).await,
                MutationRequest::VoidHold(r) => finish(client, k, rpc.void_hold(r)).await,
            }?;
            Outcome::Mutation {
                response,
                key,
                computed_expires_at_ms,
            }
        }
        Call::GetBalance(request) => {
            Outcome::Balance(finish(client, None, rpc.get_balance(request)).await?)
        }
        Call::ListEntries(request) => {
            Outcome::History(finish(client, None, rpc.list_entries(request)).await?)
        }
        Call::Batch(request, lines) => {
            let response = finish(client, None, rpc.batch_execute(request)).await?;
            Outcome::Batch(batch_items(lines, response.results))
        }
        Call::CreateTopUp {
            request,
            key,
            computed_lots_expire_at_ms,
        } => {
            let response = finish(client, Some(&key), top_ups.create_top_up(request)).await?;
            Outcome::TopUpCreated {
                response,
                key,
                computed_lots_expire_at_ms,
            }
        }
        Call::GetTopUp(request) => {
            Outcome::TopUp(finish(client, None, top_ups.get_top_up(request)).await?)
        }
        Call::ListTopUps(request) => {
            Outcome::TopUps(finish(client, None, top_ups.list_top_ups(request)).await?)
        }
        Call::SetAutoTopUp(request, key) => {
            let response = finish(client, Some(&key), top_ups.set_auto_top_up(request)).await?;
            Outcome::AutoTopUpSet { response, key }
        }
        Call::GetAutoTopUp(request) => {
            Outcome::AutoTopUp(finish(client, None, top_ups.get_auto_top_up(request)).await?)
        }
        Call::RemoveAutoTopUp(request, key) => {
            let response = finish(client, Some(&key), top_ups.remove_auto_top_up(request)).await?;
            Outcome::AutoTopUpRemoved { response, key }
        }
        Call::ListPaymentMethods(request) => {
            let mut payments = client.payments();
            Outcome::PaymentMethods(
                finish(client, None, payments.list_payment_methods(request)).await?,
            )
        }
    };
    Ok(outcome)
}

/// Pairs results with their operations by position (the API answers in request order). A
/// missing result stays visible as `None` rather than shifting the others.
fn batch_items(lines: Vec<BatchLine>, results: Vec<BatchResult>) -> Vec<BatchItem> {
    let mut results = results.into_iter();
    lines
        .into_iter()
        .map(|source| BatchItem {
            source,
            result: results.next().and_then(|r| r.result),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cli;
    use clap::Parser;

    fn prepared(args: &[&str]) -> Result<Call, CliError> {
        let cli = Cli::try_parse_from(std::iter::once("purse").chain(args.iter().copied()))
            .expect("arguments parse");
        prepare(cli.command, 1_000_000)
    }

    #[test]
    fn generated_keys_are_uuid_v7_and_marked() {
        let Call::Mutation { request, key, .. } = prepared(&["debit", "w1", "2.50"]).unwrap()
        else {
            panic!("expected a mutation");
        };
        assert!(key.generated);
        let uuid = uuid::Uuid::parse_str(&key.value).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        let MutationRequest::Debit(debit) = request else {
            panic!("expected a debit");
        };
        assert_eq!(debit.idempotency_key, key.value);
        assert_eq!(debit.amount, "2.50");
        assert_eq!(debit.kind, DebitKind::Purchase as i32);
    }

    #[test]
    fn given_keys_are_sent_as_is() {
        let Call::Mutation { key, .. } =
            prepared(&["wallet", "close", "w1", "--idempotency-key", "close-w1"]).unwrap()
        else {
            panic!("expected a mutation");
        };
        assert_eq!(
            key,
            IdempotencyKey {
                value: "close-w1".into(),
                generated: false
            }
        );
    }

    #[test]
    fn expires_in_is_computed_from_now_and_reported() {
        let Call::Mutation {
            request,
            computed_expires_at_ms,
            ..
        } = prepared(&[
            "credit",
            "w1",
            "10",
            "--expires-in",
            "90s",
            "--source",
            "granted",
        ])
        .unwrap()
        else {
            panic!("expected a mutation");
        };
        assert_eq!(computed_expires_at_ms, Some(1_090_000));
        let MutationRequest::Credit(credit) = request else {
            panic!("expected a credit");
        };
        assert_eq!(credit.expires_at_ms, Some(1_090_000));
        assert_eq!(credit.source, CreditSource::Granted as i32);

        let Call::Mutation {
            request,
            computed_expires_at_ms,
            ..
        } = prepared(&["hold", "place", "w1", "10", "--expires-at-ms", "5000"]).unwrap()
        else {
            panic!("expected a mutation");
        };
        assert_eq!(computed_expires_at_ms, None);
        let MutationRequest::PlaceHold(hold) = request else {
            panic!("expected a hold");
        };
        assert_eq!(hold.expires_at_ms, 5000);
    }

    #[test]
    fn create_wallet_sends_only_given_limits() {
        let Call::CreateWallet(request, _) = prepared(&[
            "wallet",
            "create",
            "--owner",
            "alice",
            "--asset",
            "points",
            "--asset-scale",
            "0",
            "--per-transaction-max",
            "100",
            "--metadata",
            "a=1",
        ])
        .unwrap() else {
            panic!("expected create");
        };
        assert_eq!(request.kind, WalletKind::Customer as i32);
        assert_eq!(request.asset_scale, Some(0));
        let limits = request.limits.unwrap();
        assert_eq!(limits.per_transaction_max.as_deref(), Some("100"));
        assert_eq!(limits.max_balance, None);
        assert_eq!(limits.velocity, None);
        assert_eq!(request.metadata.get("a").map(String::as_str), Some("1"));
    }

    #[test]
    fn duplicate_metadata_keys_are_refused() {
        let err = prepared(&[
            "wallet",
            "create",
            "--owner",
            "a",
            "--asset",
            "USD",
            "--metadata",
            "k=1",
            "--metadata",
            "k=2",
        ])
        .unwrap_err();
        assert!(matches!(err, CliError::Usage(_)));
    }

    #[test]
    fn history_filters() {
        let Call::ListEntries(request) = prepared(&[
            "history",
            "w1",
            "--type",
            "credit",
            "--type",
            "refund",
            "--from-ms",
            "10",
            "--page-token",
            "abc",
        ])
        .unwrap() else {
            panic!("expected history");
        };
        assert_eq!(
            request.entry_types,
            vec![EntryType::Credit as i32, EntryType::Refund as i32]
        );
        assert_eq!(request.from_ms, Some(10));
        assert_eq!(request.to_ms, None);
        assert_eq!(request.page_size, 0);
        assert_eq!(request.page_token, "abc");
    }

    #[test]
    fn batch_lines_become_operations() {
        let text = r#"{"debit": {"wallet_id": "w1", "idempotency_key": "k1", "amount": "1.00"}}

{"credit": {"wallet_id": "w2", "idempotency_key": "k2", "amount": "5", "source": "granted", "expires_at_ms": 99}}
{"place_hold": {"wallet_id": "w1", "idempotency_key": "k3", "amount": "2.00", "expires_at_ms": 1000}}
{"capture_hold": {"wallet_id": "w1", "idempotency_key": "k4", "hold_id": "h", "amount": "1.00"}}
{"void_hold": {"wallet_id": "w1", "idempotency_key": "k5", "hold_id": "h"}}
{"refund": {"wallet_id": "w1", "idempotency_key": "k6", "debit_id": "d", "amount": "0.50"}}
{"debit": {"wallet_id": "w1", "idempotency_key": "k7", "amount": "1.00", "kind": "transfer-out"}}
"#;
        let (operations, lines) = parse_batch(text).unwrap();
        assert_eq!(operations.len(), 7);
        assert_eq!(lines[0].line, 1);
        assert_eq!(lines[1].line, 3);
        assert_eq!(lines[1].idempotency_key, "k2");
        let Some(Operation::Credit(credit)) = &operations[1].operation else {
            panic!("expected a credit");
        };
        assert_eq!(credit.source, CreditSource::Granted as i32);
        assert_eq!(credit.expires_at_ms, Some(99));
        let Some(Operation::Debit(debit)) = &operations[6].operation else {
            panic!("expected a debit");
        };
        assert_eq!(debit.kind, DebitKind::TransferOut as i32);
        assert!(matches!(
            operations[5].operation,
            Some(Operation::Refund(_))
        ));
    }

    #[test]
    fn bad_batch_lines_name_the_line() {
        let cases = [
            // Money as a JSON number is refused: it would pass through a float.
            r#"{"debit": {"wallet_id": "w1", "idempotency_key": "k", "amount": 1.5}}"#,
            r#"{"debit": {"wallet_id": "w1", "amount": "1.00"}}"#,
            r#"{"debit": {"wallet_id": "w1", "idempotency_key": "", "amount": "1.00"}}"#,
            r#"{"debit": {"wallet_id": "w1", "idempotency_key": "k", "amount": "-1"}}"#,
            r#"{"debit": {"wallet_id": "w1", "idempotency_key": "k", "amount": "1", "x": 1}}"#,
            r#"{"debit": {"wallet_id": "w1", "idempotency_key": "k", "amount": "1", "kind": "gift"}}"#,
            r#"{"credit": {"wallet_id": "w1", "idempotency_key": "k", "amount": "1", "source": "refund"}}"#,
            r#"{"transfer": {"wallet_id": "w1"}}"#,
            r#"not json"#,
        ];
        for case in cases {
            let text = format!("\n{case}\n");
            match parse_batch(&text) {
                Err(CliError::BadBatchLine { line: 2, .. }) => {}
                other => panic!("{case}: expected a bad line 2, got {other:?}"),
            }
        }
    }

    #[test]
    fn batch_size_is_bounded() {
        let line = r#"{"void_hold": {"wallet_id": "w", "idempotency_key": "k", "hold_id": "h"}}"#;
        let full = format!("{line}\n").repeat(BATCH_OPERATIONS_MAX);
        assert_eq!(parse_batch(&full).unwrap().0.len(), BATCH_OPERATIONS_MAX);
        let over = format!("{full}{line}\n");
        assert!(matches!(parse_batch(&over), Err(CliError::BadBatch(_))));
        assert!(matches!(parse_batch("\n \n"), Err(CliError::BadBatch(_))));
    }

    #[test]
    fn unreadable_batch_file_is_local_input_error() {
        let err = prepared(&["batch", "/nonexistent/purse-batch.jsonl"]).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_LOCAL_INPUT);
    }

    #[test]
    fn batch_failures_decide_the_exit_code() {
        use purse_proto::wallet::v1::BatchError;
        let line = |n| BatchLine {
            line: n,
            idempotency_key: format!("k{n}"),
        };
        let ok = Some(batch_result::Result::Ok(MutationResponse::default()));
        let rejected = Some(batch_result::Result::Error(BatchError {
            code: tonic::Code::FailedPrecondition as i32,
            ..BatchError::default()
        }));
        let all_ok = Outcome::Batch(vec![BatchItem {
            source: line(1),
            result: ok.clone(),
        }]);
        assert!(all_ok.failure().is_none());
        let some_rejected = Outcome::Batch(vec![
            BatchItem {
                source: line(1),
                result: ok,
            },
            BatchItem {
                source: line(2),
                result: rejected,
            },
        ]);
        assert_eq!(some_rejected.failure().unwrap().exit_code(), 1);
        let missing = Outcome::Batch(batch_items(vec![line(1), line(2)], vec![]));
        assert_eq!(missing.failure().unwrap().exit_code(), 3);
    }

    #[test]
    fn topup_create_infers_the_kind_from_the_card() {
        let Call::CreateTopUp {
            request,
            key,
            computed_lots_expire_at_ms,
        } = prepared(&["topup", "create", "--wallet", "w1", "--amount", "20.00"]).unwrap()
        else {
            panic!("expected a top-up");
        };
        assert!(key.generated);
        assert_eq!(request.idempotency_key, key.value);
        assert_eq!(request.kind, TopUpKind::Manual as i32);
        assert_eq!(request.amount, "20.00");
        assert_eq!(
            request.wallet_amount, None,
            "the server defaults it to the amount"
        );
        assert_eq!(request.payment_method_id, "");
        assert_eq!(
            (request.lots_expire_at_ms, computed_lots_expire_at_ms),
            (None, None)
        );

        let Call::CreateTopUp {
            request,
            computed_lots_expire_at_ms,
            ..
        } = prepared(&[
            "topup",
            "create",
            "--wallet",
            "w1",
            "--amount",
            "5",
            "--wallet-amount",
            "6",
            "--payment-method",
            "pm1",
            "--lots-expire-in",
            "1d",
        ])
        .unwrap()
        else {
            panic!("expected a top-up");
        };
        assert_eq!(request.kind, TopUpKind::ManualWithPaymentMethod as i32);
        assert_eq!(request.payment_method_id, "pm1");
        assert_eq!(request.wallet_amount.as_deref(), Some("6"));
        assert_eq!(request.lots_expire_at_ms, Some(1_000_000 + 86_400_000));
        assert_eq!(computed_lots_expire_at_ms, request.lots_expire_at_ms);

        // An explicit kind is sent as given; the server refuses a manual top-up with a card.
        let Call::CreateTopUp { request, .. } = prepared(&[
            "topup",
            "create",
            "--wallet",
            "w1",
            "--amount",
            "5",
            "--kind",
            "manual",
            "--payment-method",
            "pm1",
        ])
        .unwrap() else {
            panic!("expected a top-up");
        };
        assert_eq!(request.kind, TopUpKind::Manual as i32);
    }

    #[test]
    fn auto_topup_set_sends_the_charge_and_limits() {
        let Call::SetAutoTopUp(request, key) = prepared(&[
            "auto-topup",
            "set",
            "--wallet",
            "w1",
            "--threshold",
            "5.00",
            "--amount",
            "20.00",
            "--payment-method",
            "pm1",
            "--backoff",
            "90m",
            "--idempotency-key",
            "rule-1",
        ])
        .unwrap() else {
            panic!("expected a rule");
        };
        assert!(!key.generated);
        assert_eq!(request.idempotency_key, "rule-1");
        assert_eq!(request.threshold, "5.00");
        assert_eq!(
            request.charge,
            Some(set_auto_top_up_request::Charge::Amount("20.00".into()))
        );
        assert_eq!(request.backoff_ms, Some(5_400_000));
        assert_eq!(
            request.daily_max_count, None,
            "the server's default applies"
        );
        assert_eq!(request.daily_max_amount, None);

        let Call::SetAutoTopUp(request, _) = prepared(&[
            "auto-topup",
            "set",
            "--wallet",
            "w1",
            "--threshold",
            "5",
            "--target-balance",
            "50",
            "--payment-method",
            "pm1",
            "--daily-max-count",
            "2",
            "--daily-max-amount",
            "60",
        ])
        .unwrap() else {
            panic!("expected a rule");
        };
        assert_eq!(
            request.charge,
            Some(set_auto_top_up_request::Charge::TargetBalance("50".into()))
        );
        assert_eq!(request.daily_max_count, Some(2));
        assert_eq!(request.daily_max_amount.as_deref(), Some("60"));
    }

    #[test]
    fn topup_reads_and_payment_methods_page() {
        let Call::ListTopUps(request) = prepared(&[
            "topup",
            "list",
            "--wallet",
            "w1",
            "--page-size",
            "5",
            "--page-token",
            "t",
        ])
        .unwrap() else {
            panic!("expected a list");
        };
        assert_eq!((request.page_size, request.page_token.as_str()), (5, "t"));
        let Call::RemoveAutoTopUp(request, key) =
            prepared(&["auto-topup", "remove", "--wallet", "w1"]).unwrap()
        else {
            panic!("expected a removal");
        };
        assert_eq!(request.idempotency_key, key.value);
        let Call::ListPaymentMethods(request) =
            prepared(&["payment-method", "list", "--owner", "alice"]).unwrap()
        else {
            panic!("expected payment methods");
        };
        assert_eq!((request.owner.as_str(), request.page_size), ("alice", 0));
    }
}
