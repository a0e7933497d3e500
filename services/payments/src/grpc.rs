//! `purse.payment.v1.PaymentsService`: proto ↔ domain conversion, authentication and tenancy.
//!
//! Scopes: reads need `wallets:read`, changes `wallets:write` (the token format has no payment
//! scopes yet; payments move money into wallets, so they share the wallet scopes).

use std::sync::Arc;

use purse_domain::derived_uuid;
use purse_domain::idempotency::IdempotencyKey;
use purse_proto::payment::v1 as pb;
use purse_proto::payment::v1::payments_service_server::PaymentsService;
use purse_runtime::auth::{Principal, Scope, TokenKey};
use purse_runtime::edge::{ApiError, Authorizer, page_request, parse_uuid, required};
use purse_store::{PaymentRow, ReadStore};
use purse_streams::payment::PaymentStream;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::convert::{Change, Creation, intent_message, intent_response, method_message};
use crate::gateway::Gateway;

type ApiResult<T> = Result<T, ApiError>;

/// No intent of that id in the read model for the caller's tenant.
const PAYMENT_NOT_FOUND: ApiError = ApiError::NotFound {
    what: "payment",
    reason: "PAYMENT_NOT_FOUND",
};

/// The gRPC front of the payments gateway.
#[derive(Clone)]
pub struct PaymentsGrpc {
    gateway: Gateway,
    store: Arc<dyn ReadStore>,
    auth: Authorizer,
}

impl PaymentsGrpc {
    pub(crate) fn new(gateway: Gateway, store: Arc<dyn ReadStore>, token_key: TokenKey) -> Self {
        Self {
            gateway,
            store,
            auth: Authorizer::new(token_key),
        }
    }

    async fn execute(
        &self,
        principal: &Principal,
        change: Change,
    ) -> ApiResult<pb::PaymentIntentResponse> {
        let Change {
            payment_id,
            key,
            action,
        } = change;
        let reply = self
            .gateway
            .send(
                &principal.tenant,
                payment_id,
                action,
                key,
                Uuid::now_v7().to_string(),
            )
            .await
            .map_err(ApiError::command::<PaymentStream>)?;
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
            _ => Err(PAYMENT_NOT_FOUND),
        }
    }
}

#[tonic::async_trait]
impl PaymentsService for PaymentsGrpc {
    async fn create_payment_intent(
        &self,
        request: Request<pb::CreatePaymentIntentRequest>,
    ) -> Result<Response<pb::PaymentIntentResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
        let Creation { key, action } = request.into_inner().try_into()?;
        let change = Change {
            payment_id: payment_id_for(&principal.tenant, &key),
            key,
            action,
        };
        Ok(Response::new(self.execute(&principal, change).await?))
    }

    async fn get_payment_intent(
        &self,
        request: Request<pb::GetPaymentIntentRequest>,
    ) -> Result<Response<pb::PaymentIntent>, Status> {
        let principal = self.auth.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let row = self.visible_payment(&principal, &r.payment_id).await?;
        Ok(Response::new(intent_message(row)?))
    }

    async fn cancel_payment_intent(
        &self,
        request: Request<pb::CancelPaymentIntentRequest>,
    ) -> Result<Response<pb::PaymentIntentResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
        let change = request.into_inner().try_into()?;
        Ok(Response::new(self.execute(&principal, change).await?))
    }

    async fn refund_payment(
        &self,
        request: Request<pb::RefundPaymentRequest>,
    ) -> Result<Response<pb::PaymentIntentResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Write)?;
        let change = request.into_inner().try_into()?;
        Ok(Response::new(self.execute(&principal, change).await?))
    }

    async fn list_payment_methods(
        &self,
        request: Request<pb::ListPaymentMethodsRequest>,
    ) -> Result<Response<pb::ListPaymentMethodsResponse>, Status> {
        let principal = self.auth.authorize(&request, Scope::Read)?;
        let r = request.into_inner();
        let owner = required(&r.owner, "owner")?;
        let page = self
            .store
            .list_payment_methods(
                &principal.tenant,
                owner,
                page_request(r.page_size, r.page_token),
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
    derived_uuid(
        Sha256::new()
            .chain_update(b"purse.payment-id.v1\0")
            .chain_update((tenant.len() as u64).to_be_bytes())
            .chain_update(tenant.as_bytes())
            .chain_update(key.as_str().as_bytes()),
    )
}
