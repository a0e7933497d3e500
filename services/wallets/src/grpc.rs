//! `purse.wallet.v1.WalletService`: proto ↔ domain conversion, authentication and tenancy.

use std::collections::HashMap;
use std::sync::Arc;

use purse_domain::derived_uuid;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::wallet::{
    WalletAction, WalletCommand, WalletError, WalletOutcome, system_wallet_id,
};
use purse_proto::wallet::v1 as pb;
use purse_proto::wallet::v1::wallet_service_server::WalletService;
use purse_runtime::auth::{Principal, Scope, TokenKey};
use purse_runtime::bus::CommandBus;
use purse_runtime::clock;
use purse_runtime::edge::{ApiError, Authorizer, page_request, parse_uuid, required};
use purse_runtime::projector::ProjectionWatch;
use purse_runtime::shard::{CommandError, CommandReply};
use purse_runtime::status::error_info;
use purse_runtime::telemetry;
use purse_store::{Decimal, HistoryFilter, ReadStore, WalletRow};
use purse_streams::wallet::WalletStream;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::convert::{
    Mutation, Opening, SystemOpening, as_of, batch_wallet_id, entries_request, entry_type,
    mutation_response, transaction_message, transactions_response, wallet_message,
};

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
    auth: Authorizer,
    settings: ApiSettings,
}

type ApiResult<T> = Result<T, ApiError>;

/// No wallet of that id for the caller's tenant (another tenant's is never revealed).
const WALLET_NOT_FOUND: ApiError = ApiError::NotFound {
    what: "wallet",
    reason: "WALLET_NOT_FOUND",
};

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
            auth: Authorizer::new(token_key),
            settings,
        }
    }

    async fn execute(
        &self,
        principal: &Principal,
        wallet_id: Uuid,
        key: IdempotencyKey,
        action: WalletAction,
    ) -> ApiResult<CommandReply<WalletOutcome>> {
        self.send(principal, wallet_id, key, action)
            .await
            .map_err(ApiError::command::<WalletStream>)
    }

    /// `execute` with the decider's rejection as it is, for handlers that take one as an answer.
    async fn send(
        &self,
        principal: &Principal,
        wallet_id: Uuid,
        key: IdempotencyKey,
        action: WalletAction,
    ) -> Result<CommandReply<WalletOutcome>, CommandError<WalletError>> {
        let command = WalletCommand {
            tenant: principal.tenant.clone(),
            wallet_id,
            action,
        };
        self.bus
            .send(command, Some(key), Uuid::now_v7().to_string())
            .await
    }

    async fn mutate(
        &self,
        principal: &Principal,
        mutation: Mutation,
    ) -> ApiResult<pb::MutationResponse> {
        let Mutation {
            wallet_id,
            key,
            action,
        } = mutation;
        let reply = self.execute(principal, wallet_id, key, action).await?;
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
            _ => Err(WALLET_NOT_FOUND),
        }
    }

    /// A page of the wallet's history: ListEntries, and ListTransactions through it.
    async fn entries(
        &self,
        principal: &Principal,
        r: pb::ListEntriesRequest,
    ) -> ApiResult<pb::ListEntriesResponse> {
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        self.visible_wallet(principal, wallet_id, r.min_sequence)
            .await?;
        let entry_types = r
            .entry_types
            .iter()
            .map(|value| entry_type(*value))
            .collect::<ApiResult<Vec<_>>>()?;
        let filter = HistoryFilter {
            entry_types,
            from_ms: r.from_ms,
            to_ms: r.to_ms,
        };
        let page = self
            .store
            .list_history(wallet_id, filter, page_request(r.page_size, r.page_token))
            .await?;
        Ok(pb::ListEntriesResponse {
            entries: page.items.into_iter().map(transaction_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        })
    }

    /// Balance, held and the stream sequence the balance row reflects.
    async fn balance_now(&self, wallet_id: Uuid) -> ApiResult<(Decimal, Decimal, u64)> {
        let balance = self
            .store
            .get_balance(wallet_id)
            .await?
            .ok_or(WALLET_NOT_FOUND)?;
        let position = self
            .store
            .stream_positions(&[wallet_id.to_string()])
            .await?;
        let sequence = position
            .values()
            .next()
            .map_or(balance.version, |p| p.sequence);
        Ok((balance.balance, balance.held, sequence))
    }

    /// Balance, held and sequence right after the wallet's newest entry at or before
    /// `as_of_ms` (docs/adr/0019): zero (at the asset's scale) and sequence 0 when the wallet
    /// was open but had no entry yet, NOT_FOUND before it was opened.
    async fn balance_as_of(
        &self,
        wallet: &WalletRow,
        as_of_ms: i64,
    ) -> ApiResult<(Decimal, Decimal, u64)> {
        if as_of_ms < wallet.created_at_ms {
            return Err(ApiError::NotFound {
                what: "wallet at that instant",
                reason: "WALLET_NOT_OPEN_AS_OF",
            });
        }
        let Some(entry) = self.store.history_as_of(wallet.wallet_id, as_of_ms).await? else {
            let zero = Decimal::new(0, wallet.asset_scale);
            return Ok((zero, zero, 0));
        };
        let held = entry.held_after.ok_or_else(|| ApiError::NotRecorded {
            reason: "AS_OF_NOT_RECORDED",
            description: format!(
                "the entry at sequence {} was projected before held amounts were recorded; \
                 rebuild the read models to answer balances as of that instant",
                entry.sequence
            ),
        })?;
        Ok((entry.balance_after, held, entry.sequence))
    }

    async fn batch_operation(
        &self,
        principal: &Principal,
        operation: pb::BatchOperation,
    ) -> ApiResult<pb::MutationResponse> {
        self.mutate(principal, operation.try_into()?).await
    }
}

#[tonic::async_trait]
impl WalletService for WalletGrpc {
    async fn create_wallet(
        &self,
        request: Request<pb::CreateWalletRequest>,
    ) -> Result<Response<pb::CreateWalletResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Admin)?;
        let Opening { key, action } = request.into_inner().try_into()?;
        let wallet_id = wallet_id_for(&principal.tenant, &key);
        let reply = self.execute(&principal, wallet_id, key, action).await?;
        let row = self
            .visible_wallet(&principal, wallet_id, reply.sequence)
            .await?;
        Ok(Response::new(pb::CreateWalletResponse {
            wallet: Some(wallet_message(row)?),
            replayed: reply.replayed,
        }))
    }

    async fn open_system_wallet(
        &self,
        request: Request<pb::OpenSystemWalletRequest>,
    ) -> Result<Response<pb::CreateWalletResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Admin)?;
        let opening = SystemOpening::try_from(request.into_inner())?;
        let wallet_id = system_wallet_id(&principal.tenant, &opening.name, &opening.asset);
        let sent = self
            .send(&principal, wallet_id, opening.key()?, opening.action())
            .await;
        let (sequence, replayed) = match sent {
            Ok(reply) => (reply.sequence, reply.replayed),
            // Opened before its key's retention window: the same wallet, long visible.
            Err(CommandError::Rejected(WalletError::AlreadyExists)) => (0, true),
            Err(err) => return Err(ApiError::command::<WalletStream>(err).into()),
        };
        let row = self.visible_wallet(&principal, wallet_id, sequence).await?;
        Ok(Response::new(pb::CreateWalletResponse {
            wallet: Some(wallet_message(row)?),
            replayed,
        }))
    }

    async fn get_wallet(
        &self,
        request: Request<pb::GetWalletRequest>,
    ) -> Result<Response<pb::Wallet>, Status> {
        let principal = self.auth.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        let row = self
            .visible_wallet(&principal, wallet_id, r.min_sequence)
            .await?;
        Ok(Response::new(wallet_message(row)?))
    }

    async fn list_wallets(
        &self,
        request: Request<pb::ListWalletsRequest>,
    ) -> Result<Response<pb::ListWalletsResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let owner = required(&r.owner, "owner")?;
        let page = self
            .store
            .list_wallets_by_owner(
                &principal.tenant,
                owner,
                page_request(r.page_size, r.page_token),
            )
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListWalletsResponse {
            wallets: page
                .items
                .into_iter()
                .map(wallet_message)
                .collect::<ApiResult<_>>()?,
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn update_limits(
        &self,
        request: Request<pb::UpdateLimitsRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Admin)?;
        let mutation = request.into_inner().try_into()?;
        Ok(Response::new(self.mutate(&principal, mutation).await?))
    }

    async fn suspend_wallet(
        &self,
        request: Request<pb::SuspendWalletRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Admin)?;
        let mutation = request.into_inner().try_into()?;
        Ok(Response::new(self.mutate(&principal, mutation).await?))
    }

    async fn reactivate_wallet(
        &self,
        request: Request<pb::ReactivateWalletRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Admin)?;
        let mutation = request.into_inner().try_into()?;
        Ok(Response::new(self.mutate(&principal, mutation).await?))
    }

    async fn close_wallet(
        &self,
        request: Request<pb::CloseWalletRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Admin)?;
        let mutation = request.into_inner().try_into()?;
        Ok(Response::new(self.mutate(&principal, mutation).await?))
    }

    async fn credit(
        &self,
        request: Request<pb::CreditRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
        let mutation = request.into_inner().try_into()?;
        Ok(Response::new(self.mutate(&principal, mutation).await?))
    }

    async fn debit(
        &self,
        request: Request<pb::DebitRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
        let mutation = request.into_inner().try_into()?;
        Ok(Response::new(self.mutate(&principal, mutation).await?))
    }

    async fn refund(
        &self,
        request: Request<pb::RefundRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
        let mutation = request.into_inner().try_into()?;
        Ok(Response::new(self.mutate(&principal, mutation).await?))
    }

    async fn place_hold(
        &self,
        request: Request<pb::PlaceHoldRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
        let mutation = request.into_inner().try_into()?;
        Ok(Response::new(self.mutate(&principal, mutation).await?))
    }

    async fn capture_hold(
        &self,
        request: Request<pb::CaptureHoldRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
        let mutation = request.into_inner().try_into()?;
        Ok(Response::new(self.mutate(&principal, mutation).await?))
    }

    async fn void_hold(
        &self,
        request: Request<pb::VoidHoldRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
        let mutation = request.into_inner().try_into()?;
        Ok(Response::new(self.mutate(&principal, mutation).await?))
    }

    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::Balance>, Status> {
        let principal = self.auth.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        let as_of_ms = r.as_of_ms.map(|ms| as_of(ms, clock::now())).transpose()?;
        let wallet = self
            .visible_wallet(&principal, wallet_id, r.min_sequence)
            .await?;
        let (balance, held, sequence) = match as_of_ms {
            None => self.balance_now(wallet_id).await?,
            Some(as_of_ms) => self.balance_as_of(&wallet, as_of_ms).await?,
        };
        Ok(Response::new(pb::Balance {
            wallet_id: wallet_id.to_string(),
            asset: wallet.asset,
            balance: balance.to_string(),
            held: held.to_string(),
            available: (balance - held).to_string(),
            sequence,
        }))
    }

    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Read)?;
        let page = self.entries(&principal, request.into_inner()).await?;
        Ok(Response::new(page))
    }

    /// Deprecated alias of ListEntries: the same request and answer, under their old names.
    async fn list_transactions(
        &self,
        request: Request<pb::ListTransactionsRequest>,
    ) -> Result<Response<pb::ListTransactionsResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Read)?;
        let page = self
            .entries(&principal, entries_request(request.into_inner()))
            .await?;
        Ok(Response::new(transactions_response(page)))
    }

    async fn batch_execute(
        &self,
        request: Request<pb::BatchExecuteRequest>,
    ) -> Result<Response<pb::BatchExecuteResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
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
    derived_uuid(
        Sha256::new()
            .chain_update(b"purse.wallet-id.v1\0")
            .chain_update(tenant.as_bytes())
            .chain_update(b"\0")
            .chain_update(key.as_str().as_bytes()),
    )
}

/// The lane of a batch operation: its wallet, whatever the spelling of the id (a UUID in upper
/// case is the same wallet). An operation with no wallet fails on its own, in a lane of its own.
fn batch_lane(operation: &pb::BatchOperation) -> String {
    let Some(wallet_id) = batch_wallet_id(operation) else {
        return String::new();
    };
    Uuid::parse_str(wallet_id).map_or_else(|_| wallet_id.to_owned(), |id| id.to_string())
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
