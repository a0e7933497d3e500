//! `purse.topup.v1.TopUpService`: proto ↔ domain conversion, authentication and tenancy.
//!
//! Facts the deciders cannot look up themselves arrive here from the read store and go with the
//! command: the wallet (its tenant, owner, asset and status) and whether the card named is one
//! of the owner's stored cards. The payer of a top-up is always the wallet's owner, and the
//! deciders refuse a card that is not theirs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use purse_domain::derived_uuid;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::Asset;
use purse_domain::saga::{
    AutoTopUpCommand, AutoTopUpInput, AutoTopUpRule, DEFAULT_AUTO_TOP_UP_BACKOFF_MS,
    DEFAULT_AUTO_TOP_UPS_PER_DAY, DailyCap,
};
use purse_domain::topup::{
    CreateTopUp, FeeRate, TopUpAction, TopUpCommand, TopUpOutcome, WalletFacts,
};
use purse_domain::wallet::WalletStatus;
use purse_proto::topup::v1 as pb;
use purse_proto::topup::v1::top_up_service_server::TopUpService;
use purse_runtime::auth::{Principal, Scope, TokenKey};
use purse_runtime::bus::CommandBus;
use purse_runtime::edge::{ApiError, Authorizer, page_request, parse_key, parse_required_uuid};
use purse_store::{
    AutoTopUpRuleRow, MAX_PAGE_SIZE, PageRequest, ReadStore, StoreError, TopUpRow, WalletRow,
};
use purse_streams::auto_top_up::AutoTopUpStream;
use purse_streams::top_up::TopUpStream;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use tracing::warn;
use uuid::Uuid;

use crate::convert::{
    RuleRequest, TopUpRequest, checkout_url, kind_message, rule_message, rule_row_message,
    status_message, top_up_message, wallet_facts,
};

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
    auth: Authorizer,
    settings: Arc<ApiSettings>,
}

type ApiResult<T> = Result<T, ApiError>;

/// No wallet of that id for the caller's tenant (another tenant's is never revealed).
const WALLET_NOT_FOUND: ApiError = ApiError::NotFound {
    what: "wallet",
    reason: "WALLET_NOT_FOUND",
};
/// No top-up of that id for the caller's tenant.
const TOP_UP_NOT_FOUND: ApiError = ApiError::NotFound {
    what: "top-up",
    reason: "TOP_UP_NOT_FOUND",
};
/// The wallet has no (or no longer a) rule.
const AUTO_TOP_UP_NOT_FOUND: ApiError = ApiError::NotFound {
    what: "auto top-up rule",
    reason: "AUTO_TOP_UP_NOT_FOUND",
};

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
            auth: Authorizer::new(token_key),
            settings: Arc::new(settings),
        }
    }

    /// The wallet if it exists for this tenant, with its asset and status.
    async fn wallet(
        &self,
        principal: &Principal,
        wallet_id: Uuid,
    ) -> ApiResult<(WalletRow, Asset, WalletStatus)> {
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
            Ok(_) | Err(ApiError::NotVisibleYet { .. }) => return Err(WALLET_NOT_FOUND),
            Err(err) => return Err(err),
        };
        let (asset, status) = wallet_facts(&row)?;
        Ok((row, asset, status))
    }

    /// Whether the card is a stored card of `owner`, not removed (false while not visible yet:
    /// the projection of a card saved a moment ago may lag; the client retries).
    async fn payment_method_on_file(
        &self,
        tenant: &str,
        owner: &str,
        payment_method_id: Uuid,
    ) -> ApiResult<bool> {
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
                return Ok(true);
            }
            match page.next_page_token {
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        Ok(false)
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
}

#[tonic::async_trait]
impl TopUpService for TopUpGrpc {
    async fn create_top_up(
        &self,
        request: Request<pb::CreateTopUpRequest>,
    ) -> Result<Response<pb::CreateTopUpResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
        let r: TopUpRequest = request.into_inner().try_into()?;
        let wallet_id = r.wallet_id;
        let (wallet, asset, wallet_status) = self.wallet(&principal, wallet_id).await?;
        let payment_method_on_file = match r.payment_method_id {
            Some(method) if r.kind.uses_stored_card() => {
                self.payment_method_on_file(&principal.tenant, &wallet.owner, method)
                    .await?
            }
            _ => false,
        };
        let top_up_id = top_up_id_for(&principal.tenant, wallet_id, &r.key);
        let command = TopUpCommand {
            tenant: principal.tenant.clone(),
            top_up_id,
            action: TopUpAction::Create(CreateTopUp {
                wallet_id,
                owner: wallet.owner.clone(),
                kind: r.kind,
                asset: asset.clone(),
                amount: r.amount,
                wallet_amount: r.wallet_amount,
                fee_rate: self.settings.fee_rate,
                timeout_ms: self.settings.timeout_ms,
                lots_expire_at: r.lots_expire_at,
                payment_method_id: r.payment_method_id,
                facts: Some(WalletFacts {
                    wallet_status,
                    payment_method_on_file,
                }),
            }),
        };
        let reply = self
            .top_ups
            .send(command, Some(r.key), Uuid::now_v7().to_string())
            .await
            .map_err(ApiError::command::<TopUpStream>)?;
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
            kind: kind_message(r.kind) as i32,
            status: status_message(outcome.status) as i32,
            asset: asset.code().to_owned(),
            // The decider accepted them, so they fit the asset's scale: rendered at exactly it.
            amount: asset.format(r.amount),
            wallet_amount: asset.format(r.wallet_amount),
            fee: asset.format(outcome.fee),
            url: self.checkout_url(outcome.checkout_session_id),
            expires_at_ms: outcome.expires_at.as_millis(),
            lots_expire_at_ms: r.lots_expire_at.map(|at| at.as_millis()),
            payment_id: outcome.payment_id.to_string(),
            payment_method_id: r
                .payment_method_id
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
        let principal = self.auth.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let top_up_id = parse_required_uuid(&r.top_up_id, "top_up_id")?;
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
            Some(row) if row.tenant == principal.tenant => Ok(Response::new(top_up_message(
                row,
                &self.settings.checkout_base_url,
            )?)),
            // Another tenant's top-up is not revealed, whatever min_sequence said.
            _ => Err(TOP_UP_NOT_FOUND.into()),
        }
    }

    async fn list_top_ups(
        &self,
        request: Request<pb::ListTopUpsRequest>,
    ) -> Result<Response<pb::ListTopUpsResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let wallet_id = parse_required_uuid(&r.wallet_id, "wallet_id")?;
        self.wallet(&principal, wallet_id).await?;
        let page = self
            .store
            .list_top_ups_by_wallet(wallet_id, page_request(r.page_size, r.page_token))
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListTopUpsResponse {
            top_ups: page
                .items
                .into_iter()
                // The wallet is the tenant's, so are its top-ups; checked again all the same.
                .filter(|row| row.tenant == principal.tenant)
                .map(|row| top_up_message(row, &self.settings.checkout_base_url))
                .collect::<ApiResult<_>>()?,
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn set_auto_top_up(
        &self,
        request: Request<pb::SetAutoTopUpRequest>,
    ) -> Result<Response<pb::SetAutoTopUpResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Admin)?;
        let RuleRequest {
            key,
            wallet_id,
            threshold,
            amount,
            payment_method_id,
            daily_max_count,
            daily_max_amount,
            backoff_ms,
        } = request.into_inner().try_into()?;
        let (wallet, asset, wallet_status) = self.wallet(&principal, wallet_id).await?;
        let payment_method_on_file = self
            .payment_method_on_file(&principal.tenant, &wallet.owner, payment_method_id)
            .await?;
        let rule = AutoTopUpRule {
            threshold,
            amount,
            payment_method_id,
            daily_cap: DailyCap {
                max_count: daily_max_count.unwrap_or(DEFAULT_AUTO_TOP_UPS_PER_DAY),
                max_amount: daily_max_amount,
            },
            backoff_ms: backoff_ms.unwrap_or(DEFAULT_AUTO_TOP_UP_BACKOFF_MS),
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
                facts: WalletFacts {
                    wallet_status,
                    payment_method_on_file,
                },
            },
        };
        let reply = self
            .auto_top_ups
            .send(command, Some(key), Uuid::now_v7().to_string())
            .await
            .map_err(ApiError::command::<AutoTopUpStream>)?;
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
        let principal = self.auth.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let wallet_id = parse_required_uuid(&r.wallet_id, "wallet_id")?;
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
            _ => Err(AUTO_TOP_UP_NOT_FOUND.into()),
        }
    }

    async fn remove_auto_top_up(
        &self,
        request: Request<pb::RemoveAutoTopUpRequest>,
    ) -> Result<Response<pb::RemoveAutoTopUpResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Admin)?;
        let r = request.into_inner();
        let key = parse_key(&r.idempotency_key)?;
        let wallet_id = parse_required_uuid(&r.wallet_id, "wallet_id")?;
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
            .map_err(ApiError::command::<AutoTopUpStream>)?;
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
    derived_uuid(
        Sha256::new()
            .chain_update(b"purse.top-up-id.v1\0")
            .chain_update(tenant.as_bytes())
            .chain_update(b"\0")
            .chain_update(wallet_id.as_bytes())
            .chain_update(key.as_str().as_bytes()),
    )
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
}
