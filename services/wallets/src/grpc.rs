//! `purse.wallet.v1.WalletService`: proto ↔ domain conversion, authentication and tenancy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use purse_domain::Timestamp;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::{Asset, AssetError, parse_decimal};
use purse_domain::wallet::{
    CreditSource, DebitKind, Limits, VelocityLimit, WalletAction, WalletCommand, WalletKind,
    WalletOutcome,
};
use purse_proto::wallet::v1 as pb;
use purse_proto::wallet::v1::wallet_service_server::WalletService;
use purse_runtime::auth::{Principal, Scope, TokenKey, bearer};
use purse_runtime::bus::CommandBus;
use purse_runtime::projector::ProjectionWatch;
use purse_runtime::shard::CommandReply;
use purse_runtime::status::error_info;
use purse_runtime::telemetry;
use purse_store::{
    EntryType, HistoryFilter, HistoryRow, LimitsRow, PageRequest, ReadStore, WalletRow,
};
use purse_streams::wallet::WalletStream;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::errors::ApiError;

/// How often a query re-checks the store when no in-process projector wakes it.
const READ_YOUR_WRITES_POLL_MS: u64 = 20;

/// Limits of the query side and of BatchExecute.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// Longest wait for `min_sequence`.
    pub read_your_writes_timeout_ms: u64,
    /// Most operations in one BatchExecute.
    pub batch_execute_max_operations: usize,
}

/// The gRPC front of the wallets service.
#[derive(Clone)]
pub struct WalletGrpc {
    bus: Arc<dyn CommandBus<WalletStream>>,
    store: Arc<dyn ReadStore>,
    watch: Arc<ProjectionWatch>,
    token_key: TokenKey,
    settings: ApiSettings,
}

type ApiResult<T> = Result<T, ApiError>;

impl WalletGrpc {
    /// A front over a command bus and a read store.
    pub fn new(
        bus: Arc<dyn CommandBus<WalletStream>>,
        store: Arc<dyn ReadStore>,
        watch: Arc<ProjectionWatch>,
        token_key: TokenKey,
        settings: ApiSettings,
    ) -> Self {
        Self {
            bus,
            store,
            watch,
            token_key,
            settings,
        }
    }

    fn authorize<T>(&self, request: &Request<T>, scope: Scope) -> ApiResult<Principal> {
        let token = bearer(request.metadata()).map_err(ApiError::Unauthenticated)?;
        let principal = self
            .token_key
            .verify(token)
            .map_err(ApiError::Unauthenticated)?;
        if principal.has(scope) {
            Ok(principal)
        } else {
            Err(ApiError::PermissionDenied(scope))
        }
    }

    async fn execute(
        &self,
        principal: &Principal,
        wallet_id: Uuid,
        key: IdempotencyKey,
        action: WalletAction,
    ) -> ApiResult<CommandReply<WalletOutcome>> {
        let command = WalletCommand {
            tenant: principal.tenant.clone(),
            wallet_id,
            action,
        };
        let reply = self
            .bus
            .send(command, Some(key), Uuid::now_v7().to_string())
            .await?;
        Ok(reply)
    }

    async fn mutate(
        &self,
        principal: &Principal,
        wallet_id: &str,
        key: &str,
        action: impl FnOnce() -> ApiResult<WalletAction>,
    ) -> ApiResult<pb::MutationResponse> {
        let wallet_id = parse_uuid(wallet_id, "wallet_id")?;
        let key = parse_key(key)?;
        let reply = self.execute(principal, wallet_id, key, action()?).await?;
        Ok(mutation_response(wallet_id, &reply))
    }

    /// The wallet row if it exists for this tenant, after waiting for `min_sequence`.
    async fn visible_wallet(
        &self,
        principal: &Principal,
        wallet_id: Uuid,
        min_sequence: u64,
    ) -> ApiResult<WalletRow> {
        if min_sequence > 0 {
            let reached = self
                .watch
                .wait_for(
                    self.store.as_ref(),
                    wallet_id,
                    min_sequence,
                    self.settings.read_your_writes_timeout_ms,
                    READ_YOUR_WRITES_POLL_MS,
                )
                .await?;
            if !reached {
                return Err(ApiError::NotVisibleYet { min_sequence });
            }
        }
        match self.store.get_wallet(wallet_id).await? {
            Some(row) if row.tenant == principal.tenant => Ok(row),
            _ => Err(ApiError::WalletNotFound),
        }
    }

    async fn batch_operation(
        &self,
        principal: &Principal,
        operation: pb::BatchOperation,
    ) -> ApiResult<pb::MutationResponse> {
        use pb::batch_operation::Operation;
        match operation.operation {
            Some(Operation::Credit(r)) => {
                self.mutate(principal, &r.wallet_id, &r.idempotency_key, || {
                    credit_action(&r)
                })
                .await
            }
            Some(Operation::Debit(r)) => {
                self.mutate(principal, &r.wallet_id, &r.idempotency_key, || {
                    debit_action(&r)
                })
                .await
            }
            Some(Operation::PlaceHold(r)) => {
                self.mutate(principal, &r.wallet_id, &r.idempotency_key, || {
                    place_hold_action(&r)
                })
                .await
            }
            Some(Operation::CaptureHold(r)) => {
                self.mutate(principal, &r.wallet_id, &r.idempotency_key, || {
                    capture_hold_action(&r)
                })
                .await
            }
            Some(Operation::VoidHold(r)) => {
                self.mutate(principal, &r.wallet_id, &r.idempotency_key, || {
                    void_hold_action(&r)
                })
                .await
            }
            Some(Operation::Refund(r)) => {
                self.mutate(principal, &r.wallet_id, &r.idempotency_key, || {
                    refund_action(&r)
                })
                .await
            }
            None => Err(ApiError::invalid(
                "operation",
                "MISSING_FIELD",
                "one operation is required",
            )),
        }
    }
}

#[tonic::async_trait]
impl WalletService for WalletGrpc {
    async fn create_wallet(
        &self,
        request: Request<pb::CreateWalletRequest>,
    ) -> Result<Response<pb::CreateWalletResponse>, Status> {
        let principal = self.authorize(&request, Scope::Admin)?;
        let r = request.into_inner();
        let key = parse_key(&r.idempotency_key)?;
        let asset = Asset::parse(&r.asset, r.asset_scale).map_err(asset_error)?;
        let kind = match pb::WalletKind::try_from(r.kind) {
            Ok(pb::WalletKind::Customer | pb::WalletKind::Unspecified) => WalletKind::Customer,
            Ok(pb::WalletKind::System) => WalletKind::System,
            Err(_) => {
                return Err(
                    ApiError::invalid("kind", "INVALID_ENUM", "unknown wallet kind").into(),
                );
            }
        };
        let limits = parse_limits(r.limits.as_ref())?;
        let wallet_id = wallet_id_for(&principal.tenant, &key);
        let action = WalletAction::Open {
            owner: r.owner,
            kind,
            asset,
            limits,
            metadata: r.metadata.into_iter().collect::<BTreeMap<_, _>>(),
        };
        let reply = self.execute(&principal, wallet_id, key, action).await?;
        let row = self
            .visible_wallet(&principal, wallet_id, reply.sequence)
            .await?;
        Ok(Response::new(pb::CreateWalletResponse {
            wallet: Some(wallet_message(row)),
            replayed: reply.replayed,
        }))
    }

    async fn get_wallet(
        &self,
        request: Request<pb::GetWalletRequest>,
    ) -> Result<Response<pb::Wallet>, Status> {
        let principal = self.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        let row = self
            .visible_wallet(&principal, wallet_id, r.min_sequence)
            .await?;
        Ok(Response::new(wallet_message(row)))
    }

    async fn list_wallets(
        &self,
        request: Request<pb::ListWalletsRequest>,
    ) -> Result<Response<pb::ListWalletsResponse>, Status> {
        let principal = self.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        if r.owner.is_empty() {
            return Err(ApiError::invalid("owner", "MISSING_FIELD", "owner is required").into());
        }
        let page = self
            .store
            .list_wallets_by_owner(
                &principal.tenant,
                &r.owner,
                page_request(r.page_size, r.page_token),
            )
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListWalletsResponse {
            wallets: page.items.into_iter().map(wallet_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn update_limits(
        &self,
        request: Request<pb::UpdateLimitsRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.authorize(&request, Scope::Admin)?;
        let r = request.into_inner();
        let action = || {
            Ok(WalletAction::UpdateLimits {
                limits: parse_limits(r.limits.as_ref())?,
            })
        };
        Ok(Response::new(
            self.mutate(&principal, &r.wallet_id, &r.idempotency_key, action)
                .await?,
        ))
    }

    async fn suspend_wallet(
        &self,
        request: Request<pb::SuspendWalletRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.authorize(&request, Scope::Admin)?;
        let r = request.into_inner();
        let action = || {
            Ok(WalletAction::Suspend {
                reason: r.reason.clone(),
            })
        };
        Ok(Response::new(
            self.mutate(&principal, &r.wallet_id, &r.idempotency_key, action)
                .await?,
        ))
    }

    async fn reactivate_wallet(
        &self,
        request: Request<pb::ReactivateWalletRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.authorize(&request, Scope::Admin)?;
        let r = request.into_inner();
        let action = || Ok(WalletAction::Reactivate);
        Ok(Response::new(
            self.mutate(&principal, &r.wallet_id, &r.idempotency_key, action)
                .await?,
        ))
    }

    async fn close_wallet(
        &self,
        request: Request<pb::CloseWalletRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.authorize(&request, Scope::Admin)?;
        let r = request.into_inner();
        let action = || Ok(WalletAction::Close);
        Ok(Response::new(
            self.mutate(&principal, &r.wallet_id, &r.idempotency_key, action)
                .await?,
        ))
    }

    async fn credit(
        &self,
        request: Request<pb::CreditRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let r = request.into_inner();
        Ok(Response::new(
            self.mutate(&principal, &r.wallet_id, &r.idempotency_key, || {
                credit_action(&r)
            })
            .await?,
        ))
    }

    async fn debit(
        &self,
        request: Request<pb::DebitRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let r = request.into_inner();
        Ok(Response::new(
            self.mutate(&principal, &r.wallet_id, &r.idempotency_key, || {
                debit_action(&r)
            })
            .await?,
        ))
    }

    async fn refund(
        &self,
        request: Request<pb::RefundRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let r = request.into_inner();
        Ok(Response::new(
            self.mutate(&principal, &r.wallet_id, &r.idempotency_key, || {
                refund_action(&r)
            })
            .await?,
        ))
    }

    async fn place_hold(
        &self,
        request: Request<pb::PlaceHoldRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let r = request.into_inner();
        Ok(Response::new(
            self.mutate(&principal, &r.wallet_id, &r.idempotency_key, || {
                place_hold_action(&r)
            })
            .await?,
        ))
    }

    async fn capture_hold(
        &self,
        request: Request<pb::CaptureHoldRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let r = request.into_inner();
        Ok(Response::new(
            self.mutate(&principal, &r.wallet_id, &r.idempotency_key, || {
                capture_hold_action(&r)
            })
            .await?,
        ))
    }

    async fn void_hold(
        &self,
        request: Request<pb::VoidHoldRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let r = request.into_inner();
        Ok(Response::new(
            self.mutate(&principal, &r.wallet_id, &r.idempotency_key, || {
                void_hold_action(&r)
            })
            .await?,
        ))
    }

    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::Balance>, Status> {
        let principal = self.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        let wallet = self
            .visible_wallet(&principal, wallet_id, r.min_sequence)
            .await?;
        let balance = self
            .store
            .get_balance(wallet_id)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::WalletNotFound)?;
        let position = self
            .store
            .stream_positions(&[wallet_id.to_string()])
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::Balance {
            wallet_id: wallet_id.to_string(),
            asset: wallet.asset,
            balance: balance.balance.to_string(),
            held: balance.held.to_string(),
            available: (balance.balance - balance.held).to_string(),
            sequence: position
                .values()
                .next()
                .map_or(balance.version, |p| p.sequence),
        }))
    }

    async fn list_transactions(
        &self,
        request: Request<pb::ListTransactionsRequest>,
    ) -> Result<Response<pb::ListTransactionsResponse>, Status> {
        let principal = self.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        self.visible_wallet(&principal, wallet_id, r.min_sequence)
            .await?;
        let entry_types = r
            .entry_types
            .iter()
            .map(|value| entry_type_from_proto(*value))
            .collect::<ApiResult<Vec<_>>>()?;
        let filter = HistoryFilter {
            entry_types,
            from_ms: r.from_ms,
            to_ms: r.to_ms,
        };
        let page = self
            .store
            .list_history(wallet_id, filter, page_request(r.page_size, r.page_token))
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListTransactionsResponse {
            transactions: page.items.into_iter().map(transaction_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn batch_execute(
        &self,
        request: Request<pb::BatchExecuteRequest>,
    ) -> Result<Response<pb::BatchExecuteResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let operations = request.into_inner().operations;
        if operations.len() > self.settings.batch_execute_max_operations {
            let max = self.settings.batch_execute_max_operations;
            return Err(ApiError::invalid(
                "operations",
                "TOO_MANY_OPERATIONS",
                format!("at most {max} operations"),
            )
            .into());
        }
        // One lane per wallet: a wallet's operations apply one after another in the order listed
        // (each may depend on the one before), while lanes of different wallets run at once so
        // that shards batch them into few appends. Spawned tasks leave the call's task: each
        // takes the call's correlation id along.
        let correlation_id = telemetry::correlation_id_or(telemetry::new_correlation_id());
        let count = operations.len();
        let mut lanes: HashMap<String, Vec<(usize, pb::BatchOperation)>> = HashMap::new();
        for (index, operation) in operations.into_iter().enumerate() {
            lanes
                .entry(batch_lane(&operation))
                .or_default()
                .push((index, operation));
        }
        let mut tasks = JoinSet::new();
        for lane in lanes.into_values() {
            let api = self.clone();
            let principal = principal.clone();
            let lane = async move {
                let mut outcomes = Vec::with_capacity(lane.len());
                for (index, operation) in lane {
                    outcomes.push((index, api.batch_operation(&principal, operation).await));
                }
                outcomes
            };
            tasks.spawn(telemetry::with_correlation_id(correlation_id.clone(), lane));
        }
        let mut results = vec![None; count];
        while let Some(joined) = tasks.join_next().await {
            let outcomes =
                joined.map_err(|err| Status::internal(format!("batch task failed: {err}")))?;
            for (index, outcome) in outcomes {
                results[index] = Some(batch_result(outcome));
            }
        }
        Ok(Response::new(pb::BatchExecuteResponse {
            results: results
                .into_iter()
                .map(|r| r.expect("every index is filled"))
                .collect(),
        }))
    }
}

/// The wallet id of a CreateWallet: derived from the tenant and the idempotency key, so a retried
/// creation addresses the same stream and replays (docs/adr/0002).
pub fn wallet_id_for(tenant: &str, key: &IdempotencyKey) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"purse.wallet-id.v1\0")
        .chain_update(tenant.as_bytes())
        .chain_update(b"\0")
        .chain_update(key.as_str().as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

/// The lane of a batch operation: its wallet, whatever the spelling of the id (a UUID in upper
/// case is the same wallet). An operation with no wallet fails on its own, in a lane of its own.
fn batch_lane(operation: &pb::BatchOperation) -> String {
    use pb::batch_operation::Operation;
    let wallet_id = match &operation.operation {
        Some(Operation::Credit(r)) => &r.wallet_id,
        Some(Operation::Debit(r)) => &r.wallet_id,
        Some(Operation::PlaceHold(r)) => &r.wallet_id,
        Some(Operation::CaptureHold(r)) => &r.wallet_id,
        Some(Operation::VoidHold(r)) => &r.wallet_id,
        Some(Operation::Refund(r)) => &r.wallet_id,
        None => return String::new(),
    };
    Uuid::parse_str(wallet_id).map_or_else(|_| wallet_id.clone(), |id| id.to_string())
}

fn batch_result(outcome: ApiResult<pb::MutationResponse>) -> pb::BatchResult {
    use pb::batch_result::Result as R;
    let result = match outcome {
        Ok(response) => R::Ok(response),
        Err(err) => {
            let status = Status::from(err);
            let (reason, metadata) = error_info(&status).unwrap_or_default();
            R::Error(pb::BatchError {
                code: status.code() as i32,
                reason,
                message: status.message().to_owned(),
                metadata,
            })
        }
    };
    pb::BatchResult {
        result: Some(result),
    }
}

fn parse_uuid(text: &str, field: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| ApiError::invalid(field, "INVALID_ID", "must be a UUID"))
}

fn parse_key(text: &str) -> ApiResult<IdempotencyKey> {
    IdempotencyKey::parse(text).map_err(|err| {
        let reason = if text.is_empty() {
            "MISSING_IDEMPOTENCY_KEY"
        } else {
            "INVALID_IDEMPOTENCY_KEY"
        };
        ApiError::invalid("idempotency_key", reason, err)
    })
}

fn parse_amount(text: &str, field: &str) -> ApiResult<Decimal> {
    parse_decimal(text).map_err(|err| ApiError::invalid(field, "INVALID_AMOUNT", err))
}

fn parse_limits(limits: Option<&pb::Limits>) -> ApiResult<Limits> {
    let Some(limits) = limits else {
        return Ok(Limits::default());
    };
    let amount =
        |text: &Option<String>, field| text.as_deref().map(|t| parse_amount(t, field)).transpose();
    Ok(Limits {
        max_balance: amount(&limits.max_balance, "limits.max_balance")?,
        daily_debit_limit: amount(&limits.daily_debit_limit, "limits.daily_debit_limit")?,
        per_transaction_max: amount(&limits.per_transaction_max, "limits.per_transaction_max")?,
        velocity: limits.velocity.map(|v| VelocityLimit {
            max_operations: v.max_operations,
            window_ms: i64::try_from(v.window_ms).unwrap_or(i64::MAX),
        }),
        low_balance_threshold: amount(
            &limits.low_balance_threshold,
            "limits.low_balance_threshold",
        )?,
    })
}

fn asset_error(err: AssetError) -> ApiError {
    let field = match err {
        AssetError::ScaleMismatch { .. }
        | AssetError::ScaleRequired
        | AssetError::ScaleOutOfRange { .. } => "asset_scale",
        AssetError::UnknownCurrency { .. } | AssetError::InvalidCode => "asset",
    };
    ApiError::invalid(field, "INVALID_ASSET", err)
}

fn timestamp_ms(value: i64) -> Timestamp {
    Timestamp::from_millis(value)
}

fn credit_action(r: &pb::CreditRequest) -> ApiResult<WalletAction> {
    let source = match pb::CreditSource::try_from(r.source) {
        Ok(pb::CreditSource::Paid) => CreditSource::Paid,
        Ok(pb::CreditSource::Granted) => CreditSource::Granted,
        Ok(pb::CreditSource::Refund) => CreditSource::Refund,
        Ok(pb::CreditSource::Transfer) => CreditSource::Transfer,
        Ok(pb::CreditSource::Adjustment) => CreditSource::Adjustment,
        Ok(pb::CreditSource::Unspecified) | Err(_) => {
            return Err(ApiError::invalid(
                "source",
                "INVALID_ENUM",
                "source is required (paid, granted, transfer, adjustment)",
            ));
        }
    };
    Ok(WalletAction::Credit {
        amount: parse_amount(&r.amount, "amount")?,
        source,
        expires_at: r.expires_at_ms.map(timestamp_ms),
        reference: r.reference.clone(),
        description: r.description.clone(),
    })
}

fn debit_action(r: &pb::DebitRequest) -> ApiResult<WalletAction> {
    let kind = match pb::DebitKind::try_from(r.kind) {
        Ok(pb::DebitKind::Purchase) => DebitKind::Purchase,
        Ok(pb::DebitKind::Redemption) => DebitKind::Redemption,
        Ok(pb::DebitKind::Fee) => DebitKind::Fee,
        Ok(pb::DebitKind::TransferOut) => DebitKind::TransferOut,
        Ok(pb::DebitKind::Payout) => DebitKind::Payout,
        Ok(pb::DebitKind::Unspecified) | Err(_) => {
            return Err(ApiError::invalid(
                "kind",
                "INVALID_ENUM",
                "kind is required (purchase, redemption, fee, transfer_out, payout)",
            ));
        }
    };
    Ok(WalletAction::Debit {
        amount: parse_amount(&r.amount, "amount")?,
        kind,
        reference: r.reference.clone(),
        description: r.description.clone(),
    })
}

fn refund_action(r: &pb::RefundRequest) -> ApiResult<WalletAction> {
    Ok(WalletAction::Refund {
        debit_id: parse_uuid(&r.debit_id, "debit_id")?,
        amount: parse_amount(&r.amount, "amount")?,
        reference: r.reference.clone(),
        description: r.description.clone(),
    })
}

fn place_hold_action(r: &pb::PlaceHoldRequest) -> ApiResult<WalletAction> {
    Ok(WalletAction::PlaceHold {
        amount: parse_amount(&r.amount, "amount")?,
        expires_at: timestamp_ms(r.expires_at_ms),
        reference: r.reference.clone(),
        description: r.description.clone(),
    })
}

fn capture_hold_action(r: &pb::CaptureHoldRequest) -> ApiResult<WalletAction> {
    Ok(WalletAction::CaptureHold {
        hold_id: parse_uuid(&r.hold_id, "hold_id")?,
        amount: parse_amount(&r.amount, "amount")?,
    })
}

fn void_hold_action(r: &pb::VoidHoldRequest) -> ApiResult<WalletAction> {
    Ok(WalletAction::VoidHold {
        hold_id: parse_uuid(&r.hold_id, "hold_id")?,
    })
}

fn page_request(page_size: u32, page_token: String) -> PageRequest {
    PageRequest {
        page_size,
        page_token: (!page_token.is_empty()).then_some(page_token),
    }
}

fn mutation_response(wallet_id: Uuid, reply: &CommandReply<WalletOutcome>) -> pb::MutationResponse {
    let outcome = &reply.outcome;
    pb::MutationResponse {
        wallet_id: wallet_id.to_string(),
        entry_id: outcome
            .entry_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        balance: outcome.balance.to_string(),
        held: outcome.held.to_string(),
        available: (outcome.balance - outcome.held).to_string(),
        sequence: reply.sequence,
        replayed: reply.replayed,
    }
}

fn wallet_message(row: WalletRow) -> pb::Wallet {
    let status = match row.status.as_str() {
        "open" => pb::WalletStatus::Open,
        "suspended" => pb::WalletStatus::Suspended,
        "closed" => pb::WalletStatus::Closed,
        _ => pb::WalletStatus::Unspecified,
    };
    let kind = match row.kind.as_str() {
        "system" => pb::WalletKind::System,
        _ => pb::WalletKind::Customer,
    };
    pb::Wallet {
        wallet_id: row.wallet_id.to_string(),
        tenant: row.tenant,
        owner: row.owner,
        kind: kind as i32,
        asset: row.asset,
        asset_scale: row.asset_scale,
        status: status as i32,
        limits: Some(limits_message(&row.limits)),
        metadata: row.metadata.into_iter().collect(),
        created_at_ms: row.created_at_ms,
        sequence: row.version,
    }
}

fn limits_message(limits: &LimitsRow) -> pb::Limits {
    pb::Limits {
        max_balance: limits.max_balance.map(|d| d.to_string()),
        daily_debit_limit: limits.daily_debit_limit.map(|d| d.to_string()),
        per_transaction_max: limits.per_transaction_max.map(|d| d.to_string()),
        velocity: limits
            .velocity_max_operations
            .zip(limits.velocity_window_ms)
            .map(|(max_operations, window_ms)| pb::VelocityLimit {
                max_operations,
                window_ms: window_ms as u64,
            }),
        low_balance_threshold: limits.low_balance_threshold.map(|d| d.to_string()),
    }
}

fn entry_type_from_proto(value: i32) -> ApiResult<EntryType> {
    Ok(match pb::EntryType::try_from(value) {
        Ok(pb::EntryType::Credit) => EntryType::Credit,
        Ok(pb::EntryType::Debit) => EntryType::Debit,
        Ok(pb::EntryType::HoldPlaced) => EntryType::HoldPlaced,
        Ok(pb::EntryType::HoldCaptured) => EntryType::HoldCaptured,
        Ok(pb::EntryType::HoldReleased) => EntryType::HoldReleased,
        Ok(pb::EntryType::LotExpired) => EntryType::LotExpired,
        Ok(pb::EntryType::Refund) => EntryType::Refund,
        Ok(pb::EntryType::Unspecified) | Err(_) => {
            return Err(ApiError::invalid(
                "entry_types",
                "INVALID_ENUM",
                "unknown entry type",
            ));
        }
    })
}

fn entry_type_message(entry_type: EntryType) -> pb::EntryType {
    match entry_type {
        EntryType::Credit => pb::EntryType::Credit,
        EntryType::Debit => pb::EntryType::Debit,
        EntryType::HoldPlaced => pb::EntryType::HoldPlaced,
        EntryType::HoldCaptured => pb::EntryType::HoldCaptured,
        EntryType::HoldReleased => pb::EntryType::HoldReleased,
        EntryType::LotExpired => pb::EntryType::LotExpired,
        EntryType::Refund => pb::EntryType::Refund,
    }
}

fn transaction_message(row: HistoryRow) -> pb::Transaction {
    pb::Transaction {
        entry_id: row.entry_id.to_string(),
        entry_type: entry_type_message(row.entry_type) as i32,
        amount: row.amount.to_string(),
        balance_after: row.balance_after.to_string(),
        lots: row
            .lots
            .into_iter()
            .map(|(lot_id, amount)| pb::LotAmount {
                lot_id: lot_id.to_string(),
                amount: amount.to_string(),
            })
            .collect(),
        reference: row.reference,
        description: row.description,
        occurred_at_ms: row.occurred_at_ms,
        sequence: row.sequence,
        detail: row.detail,
        hold_id: row.hold_id.map(|id| id.to_string()).unwrap_or_default(),
    }
}
