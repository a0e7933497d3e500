//! An in-process stand-in for the wallet service on loopback, so a whole benchmark run (setup,
//! both modes, failure counting) is tested without `pursed`. It keeps no balances: a debit
//! whose idempotency key ends in 7 is refused with INSUFFICIENT_FUNDS, so tests know exactly
//! how many failures to expect.

use std::collections::HashMap;
use std::net::SocketAddr;

use purse_proto::wallet::v1::wallet_service_server::{WalletService, WalletServiceServer};
use purse_proto::wallet::v1::{
    Balance, BatchError, BatchExecuteRequest, BatchExecuteResponse, BatchResult,
    CaptureHoldRequest, CloseWalletRequest, CreateWalletRequest, CreateWalletResponse,
    CreditRequest, DebitRequest, GetBalanceRequest, GetWalletRequest, ListTransactionsRequest,
    ListTransactionsResponse, ListWalletsRequest, ListWalletsResponse, MutationResponse,
    PlaceHoldRequest, ReactivateWalletRequest, RefundRequest, SuspendWalletRequest,
    UpdateLimitsRequest, VoidHoldRequest, Wallet, batch_operation::Operation, batch_result,
};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The only token the fake accepts.
pub(crate) const TOKEN: &str = "bench-test-token";

struct FakeWallet;

fn check_token<T>(request: &Request<T>) -> Result<(), Status> {
    let expected = format!("Bearer {TOKEN}");
    match request.metadata().get("authorization") {
        Some(value) if value.to_str().ok() == Some(expected.as_str()) => Ok(()),
        _ => Err(Status::unauthenticated("missing or bad bearer token")),
    }
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the fake"))
}

fn ok(wallet_id: &str, key: &str) -> MutationResponse {
    MutationResponse {
        wallet_id: wallet_id.to_owned(),
        entry_id: key.to_owned(),
        balance: "1.00".into(),
        held: "0.00".into(),
        available: "1.00".into(),
        sequence: 2,
        replayed: false,
    }
}

fn debit_result(debit: &DebitRequest) -> Result<MutationResponse, BatchError> {
    if debit.idempotency_key.ends_with('7') {
        return Err(BatchError {
            code: Code::FailedPrecondition as i32,
            reason: "INSUFFICIENT_FUNDS".into(),
            message: "insufficient funds".into(),
            metadata: HashMap::from([("available".into(), "0.00".into())]),
        });
    }
    Ok(ok(&debit.wallet_id, &debit.idempotency_key))
}

#[tonic::async_trait]
impl WalletService for FakeWallet {
    async fn create_wallet(
        &self,
        request: Request<CreateWalletRequest>,
    ) -> Result<Response<CreateWalletResponse>, Status> {
        check_token(&request)?;
        let request = request.into_inner();
        Ok(Response::new(CreateWalletResponse {
            wallet: Some(Wallet {
                wallet_id: format!("w-{}", request.owner),
                owner: request.owner,
                asset: request.asset,
                ..Wallet::default()
            }),
            replayed: false,
        }))
    }
    async fn get_wallet(&self, _: Request<GetWalletRequest>) -> Result<Response<Wallet>, Status> {
        unimplemented()
    }
    async fn list_wallets(
        &self,
        _: Request<ListWalletsRequest>,
    ) -> Result<Response<ListWalletsResponse>, Status> {
        unimplemented()
    }
    async fn update_limits(
        &self,
        _: Request<UpdateLimitsRequest>,
    ) -> Result<Response<MutationResponse>, Status> {
        unimplemented()
    }
    async fn suspend_wallet(
        &self,
        _: Request<SuspendWalletRequest>,
    ) -> Result<Response<MutationResponse>, Status> {
        unimplemented()
    }
    async fn reactivate_wallet(
        &self,
        _: Request<ReactivateWalletRequest>,
    ) -> Result<Response<MutationResponse>, Status> {
        unimplemented()
    }
    async fn close_wallet(
        &self,
        _: Request<CloseWalletRequest>,
    ) -> Result<Response<MutationResponse>, Status> {
        unimplemented()
    }
    async fn credit(
        &self,
        _: Request<CreditRequest>,
    ) -> Result<Response<MutationResponse>, Status> {
        unimplemented()
    }
    async fn debit(
        &self,
        request: Request<DebitRequest>,
    ) -> Result<Response<MutationResponse>, Status> {
        check_token(&request)?;
        debit_result(&request.into_inner())
            .map(Response::new)
            .map_err(|error| {
                Status::with_error_details(
                    Code::from_i32(error.code),
                    error.message,
                    ErrorDetails::with_error_info(error.reason, "purse.wallet", error.metadata),
                )
            })
    }
    async fn refund(
        &self,
        _: Request<RefundRequest>,
    ) -> Result<Response<MutationResponse>, Status> {
        unimplemented()
    }
    async fn place_hold(
        &self,
        _: Request<PlaceHoldRequest>,
    ) -> Result<Response<MutationResponse>, Status> {
        unimplemented()
    }
    async fn capture_hold(
        &self,
        _: Request<CaptureHoldRequest>,
    ) -> Result<Response<MutationResponse>, Status> {
        unimplemented()
    }
    async fn void_hold(
        &self,
        _: Request<VoidHoldRequest>,
    ) -> Result<Response<MutationResponse>, Status> {
        unimplemented()
    }
    async fn get_balance(
        &self,
        _: Request<GetBalanceRequest>,
    ) -> Result<Response<Balance>, Status> {
        unimplemented()
    }
    async fn list_transactions(
        &self,
        _: Request<ListTransactionsRequest>,
    ) -> Result<Response<ListTransactionsResponse>, Status> {
        unimplemented()
    }
    async fn batch_execute(
        &self,
        request: Request<BatchExecuteRequest>,
    ) -> Result<Response<BatchExecuteResponse>, Status> {
        check_token(&request)?;
        let operations = request.into_inner().operations;
        if operations.len() > 1000 {
            return Err(Status::invalid_argument("more than 1000 operations"));
        }
        let results = operations
            .into_iter()
            .map(|op| {
                let result = match op.operation {
                    Some(Operation::Credit(credit)) => {
                        batch_result::Result::Ok(ok(&credit.wallet_id, &credit.idempotency_key))
                    }
                    Some(Operation::Debit(debit)) => match debit_result(&debit) {
                        Ok(ok) => batch_result::Result::Ok(ok),
                        Err(error) => batch_result::Result::Error(error),
                    },
                    _ => batch_result::Result::Error(BatchError {
                        code: Code::Unimplemented as i32,
                        message: "not in the fake".into(),
                        ..BatchError::default()
                    }),
                };
                BatchResult {
                    result: Some(result),
                }
            })
            .collect();
        Ok(Response::new(BatchExecuteResponse { results }))
    }
}

/// Starts the fake on an ephemeral loopback port; it stops when the test's runtime ends.
pub(crate) async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    // Without TCP_NODELAY small answers wait on delayed ACKs (~40 ms on Linux).
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WalletServiceServer::new(FakeWallet))
            .serve_with_incoming(incoming),
    );
    addr
}
