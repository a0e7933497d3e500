//! `purse.topup.v1.TopUpService`: proto ↔ domain conversion, authentication and tenancy.
//!
//! Facts the deciders cannot look up themselves arrive here from the read store: the wallet
//! (its tenant, owner, asset and status) and the owner's stored cards. The payer of a top-up is
//! always the wallet's owner, so a client can never charge someone else's card to a wallet.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use purse_domain::Timestamp;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::{Asset, parse_decimal};
use purse_domain::saga::{
    AutoTopUpAmount, AutoTopUpCommand, AutoTopUpInput, AutoTopUpRule,
    DEFAULT_AUTO_TOP_UP_BACKOFF_MS, DEFAULT_AUTO_TOP_UPS_PER_DAY, DailyCap,
};
use purse_domain::topup::{
    FeeRate, TopUpAction, TopUpCommand, TopUpKind, TopUpOutcome, TopUpStatus,
};
use purse_proto::topup::v1 as pb;
use purse_proto::topup::v1::top_up_service_server::TopUpService;
use purse_runtime::auth::{Principal, Scope, TokenKey, bearer};
use purse_runtime::bus::CommandBus;
use purse_store::{
    AutoTopUpRuleRow, MAX_PAGE_SIZE, PageRequest, ReadStore, StoreError, TopUpRow, WalletRow,
};
use purse_streams::auto_top_up::AutoTopUpStream;
use purse_streams::top_up::TopUpStream;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use tracing::warn;
use uuid::Uuid;

use crate::errors::ApiError;

/// How often a query re-checks the store while waiting for `min_sequence`: the projector runs
/// elsewhere (another task or process), so nothing wakes us.
const READ_YOUR_WRITES_POLL_MS: u64 = 20;
/// Most pages of an owner's stored cards read to find one: a bound on the work a request can
/// cause (1000 cards per page); an owner with more cards than this is not a real customer.
const PAYMENT_METHOD_PAGES_MAX: usize = 10;

/// What the service needs from the configuration.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// Longest wait for `min_sequence`.
    pub read_your_writes_timeout_ms: u64,
    /// The tenant's fee on the amount paid.
    pub fee_rate: FeeRate,
    /// How long a payer has to pay (`[topups] timeout_ms`).
    pub timeout_ms: i64,
    /// Where the hosted checkout page is served; a manual top-up's `url` is
    /// `{checkout_base_url}/checkout/{checkout_session_id}`.
    pub checkout_base_url: String,
}

/// The gRPC front of the top-ups service.
#[derive(Clone)]
pub struct TopUpGrpc {
    top_ups: Arc<dyn CommandBus<TopUpStream>>,
    auto_top_ups: Arc<dyn CommandBus<AutoTopUpStream>>,
    store: Arc<dyn ReadStore>,
    token_key: TokenKey,
    settings: Arc<ApiSettings>,
}

type ApiResult<T> = Result<T, ApiError>;

impl TopUpGrpc {
    /// A front over the top-up and auto top-up command buses and the read store.
    pub fn new(
        top_ups: Arc<dyn CommandBus<TopUpStream>>,
        auto_top_ups: Arc<dyn CommandBus<AutoTopUpStream>>,
        store: Arc<dyn ReadStore>,
        token_key: TokenKey,
        settings: ApiSettings,
    ) -> Self {
        Self {
            top_ups,
            auto_top_ups,
            store,
            token_key,
            settings: Arc::new(settings),
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

    /// The wallet if it exists for this tenant, with its asset.
    async fn wallet(
        &self,
        principal: &Principal,
        wallet_id: Uuid,
    ) -> ApiResult<(WalletRow, Asset)> {
        // A wallet created a moment ago may not be projected yet: wait for it (bounded), so that
        // "create a wallet, then top it up" works right after the first reply.
        let store = self.store.clone();
        let row = self
            .read_at_least(
                1,
                |row: &WalletRow| row.version,
                || {
                    let store = store.clone();
                    async move { store.get_wallet(wallet_id).await }
                },
            )
            .await;
        let row = match row {
            Ok(Some(row)) if row.tenant == principal.tenant => row,
            Ok(_) | Err(ApiError::NotVisibleYet { .. }) => return Err(ApiError::WalletNotFound),
            Err(err) => return Err(err),
        };
        let asset =
            Asset::parse(&row.asset, Some(row.asset_scale)).map_err(|_| ApiError::CorruptRow {
                what: "wallet asset",
            })?;
        Ok((row, asset))
    }

    /// Refuses a card that is not a stored card of `owner` (or not visible yet: the projection
    /// of a card saved a moment ago may lag; the client retries).
    async fn require_payment_method(
        &self,
        tenant: &str,
        owner: &str,
        payment_method_id: Uuid,
    ) -> ApiResult<()> {
        let mut page_token = None;
        for _ in 0..PAYMENT_METHOD_PAGES_MAX {
            let page = self
                .store
                .list_payment_methods(
                    tenant,
                    owner,
                    PageRequest {
                        page_size: MAX_PAGE_SIZE,
                        page_token,
                    },
                )
                .await?;
            if page
                .items
                .iter()
                .any(|m| m.payment_method_id == payment_method_id && !m.removed)
            {
                return Ok(());
            }
            match page.next_page_token {
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        Err(ApiError::PaymentMethodNotFound)
    }

    /// Polls `fetch` until it returns a row at `min_sequence` or later (bounded); with
    /// `min_sequence` 0 it reads once.
    async fn read_at_least<T, F, Fut>(
        &self,
        min_sequence: u64,
        version: impl Fn(&T) -> u64,
        fetch: F,
    ) -> ApiResult<Option<T>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, StoreError>>,
    {
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(self.settings.read_your_writes_timeout_ms);
        loop {
            let row = fetch().await?;
            if min_sequence == 0 || row.as_ref().is_some_and(|r| version(r) >= min_sequence) {
                return Ok(row);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::NotVisibleYet { min_sequence });
            }
            tokio::time::sleep(Duration::from_millis(READ_YOUR_WRITES_POLL_MS)).await;
        }
    }

    fn checkout_url(&self, checkout_session_id: Option<Uuid>) -> String {
        checkout_session_id
            .map(|session| checkout_url(&self.settings.checkout_base_url, session))
            .unwrap_or_default()
    }

    fn top_up_message(&self, row: TopUpRow) -> pb::TopUp {
        let kind = TopUpKind::parse(&row.kind).map_or(pb::TopUpKind::Unspecified, kind_message);
        let status =
            TopUpStatus::parse(&row.status).map_or(pb::TopUpStatus::Unspecified, status_message);
        pb::TopUp {
            top_up_id: row.top_up_id.to_string(),
            wallet_id: row.wallet_id.to_string(),
            owner: row.owner,
            kind: kind as i32,
            status: status as i32,
            asset: row.asset,
            amount: row.amount.to_string(),
            wallet_amount: row.wallet_amount.to_string(),
            fee: row.fee.to_string(),
            url: self.checkout_url(row.checkout_session_id),
            expires_at_ms: row.expires_at_ms,
            lots_expire_at_ms: row.lots_expire_at_ms,
            payment_id: row.payment_id.to_string(),
            payment_method_id: row
                .payment_method_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            credited: row.credited.to_string(),
            failure_reason: row.failure_reason.unwrap_or_default(),
            late_capture: row.late_capture.map(|d| d.to_string()).unwrap_or_default(),
            created_at_ms: row.created_at_ms,
            sequence: row.version,
        }
    }
}

#[tonic::async_trait]
impl TopUpService for TopUpGrpc {
    async fn create_top_up(
        &self,
        request: Request<pb::CreateTopUpRequest>,
    ) -> Result<Response<pb::CreateTopUpResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let r = request.into_inner();
        let key = parse_key(&r.idempotency_key)?;
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        let kind = parse_kind(r.kind)?;
        let amount = parse_amount(&r.amount, "amount")?;
        let wallet_amount = match &r.wallet_amount {
            Some(text) => parse_amount(text, "wallet_amount")?,
            None => amount,
        };
        let payment_method_id = parse_optional_uuid(&r.payment_method_id, "payment_method_id")?;
        let (wallet, asset) = self.wallet(&principal, wallet_id).await?;
        if wallet.status != "open" {
            return Err(ApiError::WalletNotOpen {
                status: wallet.status,
            }
            .into());
        }
        if let (true, Some(method)) = (kind.uses_stored_card(), payment_method_id) {
            self.require_payment_method(&principal.tenant, &wallet.owner, method)
                .await?;
        }
        let top_up_id = top_up_id_for(&principal.tenant, wallet_id, &key);
        let command = TopUpCommand {
            tenant: principal.tenant.clone(),
            top_up_id,
            action: TopUpAction::Create {
                wallet_id,
                owner: wallet.owner.clone(),
                kind,
                asset: asset.clone(),
                amount,
                wallet_amount,
                fee_rate: self.settings.fee_rate,
                timeout_ms: self.settings.timeout_ms,
                lots_expire_at: r.lots_expire_at_ms.map(Timestamp::from_millis),
                payment_method_id,
            },
        };
        let reply = self
            .top_ups
            .send(command, Some(key), Uuid::now_v7().to_string())
            .await
            .map_err(ApiError::from)?;
        let outcome: &TopUpOutcome = &reply.outcome;
        // The checkout page (another service) reads the top-up's row: wait until the projection
        // has it, so that the URL answers as soon as the client has it. A projection slower than
        // the read-your-writes bound still gets the reply (the page then says "not found" until
        // the row lands, and the client can poll GetTopUp with this reply's sequence).
        let store = self.store.clone();
        let projected = self
            .read_at_least(
                reply.sequence,
                |row: &TopUpRow| row.version,
                || {
                    let store = store.clone();
                    async move { store.get_top_up(top_up_id).await }
                },
            )
            .await;
        let created_at_ms = match projected {
            Ok(row) => row.map_or(0, |row| row.created_at_ms),
            Err(ApiError::NotVisibleYet { min_sequence }) => {
                warn!(%top_up_id, min_sequence, "top-up not projected within the read-your-writes bound");
                0
            }
            Err(err) => return Err(err.into()),
        };
        let top_up = pb::TopUp {
            top_up_id: top_up_id.to_string(),
            wallet_id: wallet_id.to_string(),
            owner: wallet.owner,
            kind: kind_message(kind) as i32,
            status: status_message(outcome.status) as i32,
            asset: asset.code().to_owned(),
            // The decider accepted them, so they fit the asset's scale: rendered at exactly it.
            amount: asset.format(amount),
            wallet_amount: asset.format(wallet_amount),
            fee: asset.format(outcome.fee),
            url: self.checkout_url(outcome.checkout_session_id),
            expires_at_ms: outcome.expires_at.as_millis(),
            lots_expire_at_ms: r.lots_expire_at_ms,
            payment_id: outcome.payment_id.to_string(),
            payment_method_id: payment_method_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            credited: asset.format(outcome.credited),
            failure_reason: String::new(),
            late_capture: String::new(),
            created_at_ms,
            sequence: reply.sequence,
        };
        Ok(Response::new(pb::CreateTopUpResponse {
            top_up: Some(top_up),
            replayed: reply.replayed,
        }))
    }

    async fn get_top_up(
        &self,
        request: Request<pb::GetTopUpRequest>,
    ) -> Result<Response<pb::TopUp>, Status> {
        let principal = self.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let top_up_id = parse_uuid(&r.top_up_id, "top_up_id")?;
        let store = self.store.clone();
        let row = self
            .read_at_least(
                r.min_sequence,
                |row: &TopUpRow| row.version,
                || {
                    let store = store.clone();
                    async move { store.get_top_up(top_up_id).await }
                },
            )
            .await?;
        match row {
            Some(row) if row.tenant == principal.tenant => {
                Ok(Response::new(self.top_up_message(row)))
            }
            // Another tenant's top-up is not revealed, whatever min_sequence said.
            _ => Err(ApiError::TopUpNotFound.into()),
        }
    }

    async fn list_top_ups(
        &self,
        request: Request<pb::ListTopUpsRequest>,
    ) -> Result<Response<pb::ListTopUpsResponse>, Status> {
        let principal = self.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        self.wallet(&principal, wallet_id).await?;
        let page = self
            .store
            .list_top_ups_by_wallet(
                wallet_id,
                PageRequest {
                    page_size: r.page_size,
                    page_token: (!r.page_token.is_empty()).then_some(r.page_token),
                },
            )
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListTopUpsResponse {
            top_ups: page
                .items
                .into_iter()
                // The wallet is the tenant's, so are its top-ups; checked again all the same.
                .filter(|row| row.tenant == principal.tenant)
                .map(|row| self.top_up_message(row))
                .collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn set_auto_top_up(
        &self,
        request: Request<pb::SetAutoTopUpRequest>,
    ) -> Result<Response<pb::SetAutoTopUpResponse>, Status> {
        let principal = self.authorize(&request, Scope::Admin)?;
        let r = request.into_inner();
        let key = parse_key(&r.idempotency_key)?;
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        let threshold = parse_amount(&r.threshold, "threshold")?;
        let amount = match &r.charge {
            Some(pb::set_auto_top_up_request::Charge::Amount(text)) => AutoTopUpAmount::Fixed {
                amount: parse_amount(text, "amount")?,
            },
            Some(pb::set_auto_top_up_request::Charge::TargetBalance(text)) => {
                AutoTopUpAmount::TargetBalance {
                    target: parse_amount(text, "target_balance")?,
                }
            }
            None => {
                return Err(ApiError::invalid(
                    "amount",
                    "MISSING_FIELD",
                    "one of amount or target_balance is required",
                )
                .into());
            }
        };
        let payment_method_id = parse_uuid(&r.payment_method_id, "payment_method_id")?;
        let daily_max_amount = r
            .daily_max_amount
            .as_deref()
            .map(|text| parse_amount(text, "daily_max_amount"))
            .transpose()?;
        let (wallet, asset) = self.wallet(&principal, wallet_id).await?;
        if wallet.status == "closed" {
            return Err(ApiError::WalletNotOpen {
                status: wallet.status,
            }
            .into());
        }
        self.require_payment_method(&principal.tenant, &wallet.owner, payment_method_id)
            .await?;
        let rule = AutoTopUpRule {
            threshold,
            amount,
            payment_method_id,
            daily_cap: DailyCap {
                max_count: r.daily_max_count.unwrap_or(DEFAULT_AUTO_TOP_UPS_PER_DAY),
                max_amount: daily_max_amount,
            },
            backoff_ms: r.backoff_ms.unwrap_or(DEFAULT_AUTO_TOP_UP_BACKOFF_MS),
            fee_rate: self.settings.fee_rate,
            timeout_ms: self.settings.timeout_ms,
        };
        let command = AutoTopUpCommand {
            wallet_id,
            input: AutoTopUpInput::SetRule {
                tenant: principal.tenant.clone(),
                owner: wallet.owner.clone(),
                asset: asset.clone(),
                rule,
            },
        };
        let reply = self
            .auto_top_ups
            .send(command, Some(key), Uuid::now_v7().to_string())
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::SetAutoTopUpResponse {
            rule: Some(rule_message(
                wallet_id,
                &wallet.owner,
                &asset,
                &rule,
                reply.sequence,
            )),
            replayed: reply.replayed,
        }))
    }

    async fn get_auto_top_up(
        &self,
        request: Request<pb::GetAutoTopUpRequest>,
    ) -> Result<Response<pb::AutoTopUpRule>, Status> {
        let principal = self.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        let store = self.store.clone();
        let row = self
            .read_at_least(
                r.min_sequence,
                |row: &AutoTopUpRuleRow| row.version,
                || {
                    let store = store.clone();
                    async move { store.get_auto_top_up_rule(wallet_id).await }
                },
            )
            .await?;
        match row {
            Some(row) if row.tenant == principal.tenant && !row.removed => Ok(Response::new(
                rule_row_message(row, purse_runtime::clock::now().as_millis()),
            )),
            _ => Err(ApiError::AutoTopUpNotFound.into()),
        }
    }

    async fn remove_auto_top_up(
        &self,
        request: Request<pb::RemoveAutoTopUpRequest>,
    ) -> Result<Response<pb::RemoveAutoTopUpResponse>, Status> {
        let principal = self.authorize(&request, Scope::Admin)?;
        let r = request.into_inner();
        let key = parse_key(&r.idempotency_key)?;
        let wallet_id = parse_uuid(&r.wallet_id, "wallet_id")?;
        self.wallet(&principal, wallet_id).await?;
        let command = AutoTopUpCommand {
            wallet_id,
            input: AutoTopUpInput::RemoveRule {
                tenant: principal.tenant.clone(),
            },
        };
        let reply = self
            .auto_top_ups
            .send(command, Some(key), Uuid::now_v7().to_string())
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::RemoveAutoTopUpResponse {
            wallet_id: wallet_id.to_string(),
            sequence: reply.sequence,
            replayed: reply.replayed,
        }))
    }
}

/// The id of a CreateTopUp: derived from the tenant, the wallet and the idempotency key, so a
/// retried creation addresses the same top-up stream and replays (the rule of docs/adr/0002 for
/// wallets). A UUID version 8, not 7: a time-ordered id would differ on every retry.
pub fn top_up_id_for(tenant: &str, wallet_id: Uuid, key: &IdempotencyKey) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"purse.top-up-id.v1\0")
        .chain_update(tenant.as_bytes())
        .chain_update(b"\0")
        .chain_update(wallet_id.as_bytes())
        .chain_update(key.as_str().as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

/// The hosted checkout page of a session, as the payments gateway serves it.
pub fn checkout_url(checkout_base_url: &str, checkout_session_id: Uuid) -> String {
    format!(
        "{}/checkout/{checkout_session_id}",
        checkout_base_url.trim_end_matches('/')
    )
}

fn parse_uuid(text: &str, field: &str) -> ApiResult<Uuid> {
    if text.is_empty() {
        return Err(ApiError::invalid(field, "MISSING_FIELD", "is required"));
    }
    Uuid::parse_str(text).map_err(|_| ApiError::invalid(field, "INVALID_ID", "must be a UUID"))
}

fn parse_optional_uuid(text: &str, field: &str) -> ApiResult<Option<Uuid>> {
    (!text.is_empty())
        .then(|| parse_uuid(text, field))
        .transpose()
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

/// The syntax only; sign, scale and range against the wallet's asset are the deciders' rules.
fn parse_amount(text: &str, field: &str) -> ApiResult<Decimal> {
    parse_decimal(text).map_err(|err| ApiError::invalid(field, "INVALID_AMOUNT", err))
}

fn parse_kind(value: i32) -> ApiResult<TopUpKind> {
    match pb::TopUpKind::try_from(value) {
        Ok(pb::TopUpKind::Unspecified | pb::TopUpKind::Manual) => Ok(TopUpKind::Manual),
        Ok(pb::TopUpKind::ManualWithPaymentMethod) => Ok(TopUpKind::ManualWithPaymentMethod),
        // The auto top-up saga starts these itself, one at a time; a client-made one would
        // bypass its daily cap and back-off.
        Ok(pb::TopUpKind::Auto) => Err(ApiError::invalid(
            "kind",
            "KIND_NOT_ALLOWED",
            "auto top-ups are started by the wallet's auto top-up rule (SetAutoTopUp)",
        )),
        Err(_) => Err(ApiError::invalid(
            "kind",
            "INVALID_ENUM",
            "unknown top-up kind",
        )),
    }
}

fn kind_message(kind: TopUpKind) -> pb::TopUpKind {
    match kind {
        TopUpKind::Manual => pb::TopUpKind::Manual,
        TopUpKind::ManualWithPaymentMethod => pb::TopUpKind::ManualWithPaymentMethod,
        TopUpKind::Auto => pb::TopUpKind::Auto,
    }
}

fn status_message(status: TopUpStatus) -> pb::TopUpStatus {
    match status {
        TopUpStatus::Created => pb::TopUpStatus::Created,
        TopUpStatus::Completed => pb::TopUpStatus::Completed,
        TopUpStatus::Expired => pb::TopUpStatus::Expired,
        TopUpStatus::Failed => pb::TopUpStatus::Failed,
    }
}

fn rule_message(
    wallet_id: Uuid,
    owner: &str,
    asset: &Asset,
    rule: &AutoTopUpRule,
    sequence: u64,
) -> pb::AutoTopUpRule {
    use pb::auto_top_up_rule::Charge;
    let charge = match rule.amount {
        AutoTopUpAmount::Fixed { amount } => Charge::Amount(asset.format(amount)),
        AutoTopUpAmount::TargetBalance { target } => Charge::TargetBalance(asset.format(target)),
    };
    pb::AutoTopUpRule {
        wallet_id: wallet_id.to_string(),
        owner: owner.to_owned(),
        asset: asset.code().to_owned(),
        threshold: asset.format(rule.threshold),
        charge: Some(charge),
        payment_method_id: rule.payment_method_id.to_string(),
        daily_max_count: rule.daily_cap.max_count,
        daily_max_amount: rule.daily_cap.max_amount.map(|d| asset.format(d)),
        backoff_ms: rule.backoff_ms,
        fee_percent: rule.fee_rate.as_percent().to_string(),
        timeout_ms: rule.timeout_ms,
        updated_at_ms: 0,
        sequence,
        // The saga's outcomes are in the read model only; GetAutoTopUp shows them.
        consecutive_failures: 0,
        backoff_until_ms: 0,
        last_failure: None,
        daily_cap_reached_until_ms: 0,
    }
}

/// The rule as GetAutoTopUp shows it at `now_ms`: a back-off or cap that has ended reads 0, so a
/// client need not compare instants with its own clock to know whether one holds now.
fn rule_row_message(row: AutoTopUpRuleRow, now_ms: i64) -> pb::AutoTopUpRule {
    use pb::auto_top_up_rule::Charge;
    let charge = match (row.amount, row.target_balance) {
        (Some(amount), _) => Some(Charge::Amount(amount.to_string())),
        (None, Some(target)) => Some(Charge::TargetBalance(target.to_string())),
        (None, None) => None,
    };
    pb::AutoTopUpRule {
        wallet_id: row.wallet_id.to_string(),
        owner: row.owner,
        asset: row.asset,
        threshold: row.threshold.to_string(),
        charge,
        payment_method_id: row.payment_method_id.to_string(),
        daily_max_count: row.daily_max_count,
        daily_max_amount: row.daily_max_amount.map(|d| d.to_string()),
        backoff_ms: row.backoff_ms,
        fee_percent: row.fee_rate.to_string(),
        timeout_ms: row.timeout_ms,
        updated_at_ms: row.updated_at_ms,
        sequence: row.version,
        consecutive_failures: row.activity.consecutive_failures,
        backoff_until_ms: still_ahead(row.activity.backoff_until_ms, now_ms),
        last_failure: row
            .activity
            .last_failure
            .map(|failure| pb::AutoTopUpFailure {
                top_up_id: failure.top_up_id.to_string(),
                reason: failure.reason,
                failed_at_ms: failure.failed_at_ms,
            }),
        daily_cap_reached_until_ms: still_ahead(row.activity.daily_cap_reached_until_ms, now_ms),
    }
}

/// `until_ms` if it is after `now_ms`, else 0 (over, or never set).
fn still_ahead(until_ms: Option<i64>, now_ms: i64) -> i64 {
    until_ms.filter(|&until| until > now_ms).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> IdempotencyKey {
        IdempotencyKey::parse(text).expect("key")
    }

    #[test]
    fn top_up_ids_are_stable_per_tenant_wallet_and_key() {
        let wallet = Uuid::now_v7();
        let id = top_up_id_for("acme", wallet, &key("k1"));
        assert_eq!(id, top_up_id_for("acme", wallet, &key("k1")));
        assert_eq!(id.get_version_num(), 8);
        assert_ne!(id, top_up_id_for("other", wallet, &key("k1")));
        assert_ne!(id, top_up_id_for("acme", Uuid::now_v7(), &key("k1")));
        assert_ne!(id, top_up_id_for("acme", wallet, &key("k2")));
    }

    #[test]
    fn checkout_urls_join_cleanly() {
        let session = Uuid::nil();
        assert_eq!(
            checkout_url("http://127.0.0.1:8080/", session),
            format!("http://127.0.0.1:8080/checkout/{session}")
        );
        assert_eq!(
            checkout_url("https://pay.example", session),
            format!("https://pay.example/checkout/{session}")
        );
    }

    fn rule_row(activity: purse_store::AutoTopUpActivityRow) -> AutoTopUpRuleRow {
        AutoTopUpRuleRow {
            wallet_id: Uuid::nil(),
            tenant: "acme".to_owned(),
            owner: "alice".to_owned(),
            asset: "USD".to_owned(),
            threshold: Decimal::new(500, 2),
            amount: Some(Decimal::new(2000, 2)),
            target_balance: None,
            payment_method_id: Uuid::nil(),
            daily_max_count: 3,
            daily_max_amount: None,
            backoff_ms: 3_600_000,
            fee_rate: Decimal::ZERO,
            timeout_ms: 300_000,
            removed: false,
            updated_at_ms: 1_000,
            activity,
            version: 4,
        }
    }

    #[test]
    fn a_back_off_or_cap_shows_only_while_it_holds() {
        let failure = purse_store::AutoTopUpFailureRow {
            top_up_id: Uuid::from_u128(7),
            reason: "declined:insufficient_funds".to_owned(),
            failed_at_ms: 1_000,
        };
        let row = rule_row(purse_store::AutoTopUpActivityRow {
            consecutive_failures: 2,
            backoff_until_ms: Some(5_000),
            last_failure: Some(failure),
            daily_cap_reached_until_ms: Some(9_000),
        });
        let now = rule_row_message(row.clone(), 4_999);
        assert_eq!(
            (
                now.consecutive_failures,
                now.backoff_until_ms,
                now.daily_cap_reached_until_ms
            ),
            (2, 5_000, 9_000)
        );
        assert_eq!(
            now.last_failure,
            Some(pb::AutoTopUpFailure {
                top_up_id: Uuid::from_u128(7).to_string(),
                reason: "declined:insufficient_funds".to_owned(),
                failed_at_ms: 1_000,
            })
        );
        // At its end the back-off is over; the failures in a row and the last failure stay.
        let later = rule_row_message(row, 5_000);
        assert_eq!(
            (
                later.consecutive_failures,
                later.backoff_until_ms,
                later.daily_cap_reached_until_ms
            ),
            (2, 0, 9_000)
        );
        assert!(later.last_failure.is_some());
        let fresh = rule_row_message(rule_row(Default::default()), 0);
        assert_eq!(
            (
                fresh.consecutive_failures,
                fresh.backoff_until_ms,
                fresh.last_failure,
                fresh.daily_cap_reached_until_ms
            ),
            (0, 0, None, 0)
        );
    }

    #[test]
    fn kinds_default_to_manual_and_refuse_auto() {
        assert_eq!(parse_kind(0).unwrap(), TopUpKind::Manual);
        assert_eq!(
            parse_kind(pb::TopUpKind::ManualWithPaymentMethod as i32).unwrap(),
            TopUpKind::ManualWithPaymentMethod
        );
        assert!(parse_kind(pb::TopUpKind::Auto as i32).is_err());
        assert!(parse_kind(42).is_err());
    }
}
