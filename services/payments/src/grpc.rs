//! `purse.payment.v1.PaymentsService`: proto ↔ domain conversion, authentication and tenancy.
//!
//! Scopes: reads need `wallets:read`, changes `wallets:write` (the token format has no payment
//! scopes yet; payments move money into wallets, so they share the wallet scopes).

use std::sync::Arc;

use purse_domain::Timestamp;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::{Asset, AssetError, parse_decimal};
use purse_domain::payment::{
    CancelReason, PaymentAction, PaymentOutcome, PaymentStatus, RefundReason,
};
use purse_proto::payment::v1 as pb;
use purse_proto::payment::v1::payments_service_server::PaymentsService;
use purse_runtime::auth::{Principal, Scope, TokenKey, bearer};
use purse_runtime::shard::CommandReply;
use purse_store::{PageRequest, PaymentMethodRow, PaymentRow, ReadStore};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::errors::ApiError;
use crate::gateway::Gateway;

type ApiResult<T> = Result<T, ApiError>;

/// The gRPC front of the payments gateway.
#[derive(Clone)]
pub struct PaymentsGrpc {
    gateway: Gateway,
    store: Arc<dyn ReadStore>,
    token_key: TokenKey,
}

impl PaymentsGrpc {
    pub(crate) fn new(gateway: Gateway, store: Arc<dyn ReadStore>, token_key: TokenKey) -> Self {
        Self {
            gateway,
            store,
            token_key,
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
        payment_id: Uuid,
        key: IdempotencyKey,
        action: PaymentAction,
    ) -> ApiResult<pb::PaymentIntentResponse> {
        let reply = self
            .gateway
            .send(
                &principal.tenant,
                payment_id,
                action,
                key,
                Uuid::now_v7().to_string(),
            )
            .await?;
        Ok(intent_response(payment_id, &reply))
    }

    /// The intent's row if it exists for this tenant (another tenant's is never revealed).
    async fn visible_payment(
        &self,
        principal: &Principal,
        payment_id: &str,
    ) -> ApiResult<PaymentRow> {
        let payment_id = parse_uuid(payment_id, "payment_id")?;
        match self.store.get_payment(payment_id).await? {
            Some(row) if row.tenant == principal.tenant => Ok(row),
            _ => Err(ApiError::PaymentNotFound),
        }
    }
}

#[tonic::async_trait]
impl PaymentsService for PaymentsGrpc {
    async fn create_payment_intent(
        &self,
        request: Request<pb::CreatePaymentIntentRequest>,
    ) -> Result<Response<pb::PaymentIntentResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let r = request.into_inner();
        let key = parse_key(&r.idempotency_key)?;
        let asset = Asset::parse(&r.asset, r.asset_scale).map_err(asset_error)?;
        let payment_method_id = if r.payment_method_id.is_empty() {
            None
        } else {
            Some(parse_uuid(&r.payment_method_id, "payment_method_id")?)
        };
        let action = PaymentAction::Create {
            owner: r.owner,
            asset,
            amount: parse_amount(&r.amount, "amount")?,
            top_up_id: None,
            payment_method_id,
            expires_at: r.expires_at_ms.map(Timestamp::from_millis),
        };
        let payment_id = payment_id_for(&principal.tenant, &key);
        Ok(Response::new(
            self.execute(&principal, payment_id, key, action).await?,
        ))
    }

    async fn get_payment_intent(
        &self,
        request: Request<pb::GetPaymentIntentRequest>,
    ) -> Result<Response<pb::PaymentIntent>, Status> {
        let principal = self.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let row = self.visible_payment(&principal, &r.payment_id).await?;
        Ok(Response::new(intent_message(row)))
    }

    async fn cancel_payment_intent(
        &self,
        request: Request<pb::CancelPaymentIntentRequest>,
    ) -> Result<Response<pb::PaymentIntentResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let r = request.into_inner();
        let payment_id = parse_uuid(&r.payment_id, "payment_id")?;
        let key = parse_key(&r.idempotency_key)?;
        let reason = match pb::CancelReason::try_from(r.reason) {
            Ok(pb::CancelReason::Unspecified | pb::CancelReason::RequestedByCustomer) => {
                CancelReason::RequestedByCustomer
            }
            Ok(pb::CancelReason::Abandoned) => CancelReason::Abandoned,
            Err(_) => {
                return Err(
                    ApiError::invalid("reason", "INVALID_ENUM", "unknown cancel reason").into(),
                );
            }
        };
        let action = PaymentAction::Cancel { reason };
        Ok(Response::new(
            self.execute(&principal, payment_id, key, action).await?,
        ))
    }

    async fn refund_payment(
        &self,
        request: Request<pb::RefundPaymentRequest>,
    ) -> Result<Response<pb::PaymentIntentResponse>, Status> {
        let principal = self.authorize(&request, Scope::Write)?;
        let r = request.into_inner();
        let payment_id = parse_uuid(&r.payment_id, "payment_id")?;
        let key = parse_key(&r.idempotency_key)?;
        let reason = match pb::RefundReason::try_from(r.reason) {
            Ok(pb::RefundReason::Unspecified | pb::RefundReason::RequestedByCustomer) => {
                RefundReason::RequestedByCustomer
            }
            Ok(pb::RefundReason::Duplicate) => RefundReason::Duplicate,
            Ok(pb::RefundReason::Fraudulent) => RefundReason::Fraudulent,
            Err(_) => {
                return Err(
                    ApiError::invalid("reason", "INVALID_ENUM", "unknown refund reason").into(),
                );
            }
        };
        let action = PaymentAction::RequestRefund {
            amount: parse_amount(&r.amount, "amount")?,
            reason,
        };
        Ok(Response::new(
            self.execute(&principal, payment_id, key, action).await?,
        ))
    }

    async fn list_payment_methods(
        &self,
        request: Request<pb::ListPaymentMethodsRequest>,
    ) -> Result<Response<pb::ListPaymentMethodsResponse>, Status> {
        let principal = self.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        if r.owner.is_empty() {
            return Err(ApiError::invalid("owner", "MISSING_FIELD", "owner is required").into());
        }
        let page = self
            .store
            .list_payment_methods(
                &principal.tenant,
                &r.owner,
                PageRequest {
                    page_size: r.page_size,
                    page_token: (!r.page_token.is_empty()).then_some(r.page_token),
                },
            )
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListPaymentMethodsResponse {
            payment_methods: page.items.into_iter().map(method_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }
}

/// The payment id of a CreatePaymentIntent: derived from the tenant and the idempotency key, so
/// a retried creation addresses the same stream and replays.
pub fn payment_id_for(tenant: &str, key: &IdempotencyKey) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"purse.payment-id.v1\0")
        .chain_update((tenant.len() as u64).to_be_bytes())
        .chain_update(tenant.as_bytes())
        .chain_update(key.as_str().as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
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

fn asset_error(err: AssetError) -> ApiError {
    let field = match err {
        AssetError::ScaleMismatch { .. }
        | AssetError::ScaleRequired
        | AssetError::ScaleOutOfRange { .. } => "asset_scale",
        AssetError::UnknownCurrency { .. } | AssetError::InvalidCode => "asset",
    };
    ApiError::invalid(field, "INVALID_ASSET", err)
}

fn status_message(status: &str) -> pb::PaymentStatus {
    match PaymentStatus::parse(status) {
        Some(PaymentStatus::RequiresPaymentMethod) => pb::PaymentStatus::RequiresPaymentMethod,
        Some(PaymentStatus::Processing) => pb::PaymentStatus::Processing,
        Some(PaymentStatus::Succeeded) => pb::PaymentStatus::Succeeded,
        Some(PaymentStatus::Failed) => pb::PaymentStatus::Failed,
        Some(PaymentStatus::Canceled) => pb::PaymentStatus::Canceled,
        None => pb::PaymentStatus::Unspecified,
    }
}

fn intent_response(
    payment_id: Uuid,
    reply: &CommandReply<PaymentOutcome>,
) -> pb::PaymentIntentResponse {
    let outcome = &reply.outcome;
    pb::PaymentIntentResponse {
        payment_id: payment_id.to_string(),
        status: status_message(outcome.status.as_str()) as i32,
        captured: outcome.captured.to_string(),
        refunded: outcome.refunded.to_string(),
        refund_id: outcome
            .refund_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        sequence: reply.sequence,
        replayed: reply.replayed,
    }
}

fn intent_message(row: PaymentRow) -> pb::PaymentIntent {
    let card = match (
        row.card_brand,
        row.card_last4,
        row.card_exp_month,
        row.card_exp_year,
    ) {
        (Some(brand), Some(last4), Some(exp_month), Some(exp_year)) => Some(pb::CardSummary {
            brand,
            last4,
            exp_month,
            exp_year,
        }),
        _ => None,
    };
    let zero = Decimal::new(0, row.amount.scale());
    pb::PaymentIntent {
        payment_id: row.payment_id.to_string(),
        owner: row.owner,
        asset: row.asset,
        amount: row.amount.to_string(),
        status: status_message(&row.status) as i32,
        top_up_id: row.top_up_id.map(|id| id.to_string()).unwrap_or_default(),
        payment_method_id: row
            .payment_method_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        card,
        decline_reason: row.decline_reason.unwrap_or_default(),
        cancel_reason: row.cancel_reason.unwrap_or_default(),
        captured: row.captured.unwrap_or(zero).to_string(),
        refunded: row.refunded.unwrap_or(zero).to_string(),
        created_at_ms: row.created_at_ms,
        updated_at_ms: row.updated_at_ms,
        version: row.version,
    }
}

fn method_message(row: PaymentMethodRow) -> pb::PaymentMethod {
    pb::PaymentMethod {
        payment_method_id: row.payment_method_id.to_string(),
        owner: row.owner,
        brand: row.brand,
        last4: row.last4,
        exp_month: row.exp_month,
        exp_year: row.exp_year,
        created_at_ms: row.created_at_ms,
    }
}
