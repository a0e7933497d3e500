//! An in-process stand-in for the wallet service, on loopback, so the client's wire behaviour
//! (bearer token, deadline, error details, exit codes) is tested without `pursed`. It knows no
//! wallet rules: each answer is chosen by the amount sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

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
pub(crate) const TOKEN: &str = "test-token";
/// Debit amount answered with INSUFFICIENT_FUNDS.
pub(crate) const AMOUNT_REJECTED: &str = "99.00";
/// Debit amount answered only after [`SLOW_MS`].
pub(crate) const AMOUNT_SLOW: &str = "0.05";
/// How long a slow answer takes: far beyond the deadlines the tests set.
pub(crate) const SLOW_MS: u64 = 5_000;

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

fn debit_result(debit: &DebitRequest) -> Result<MutationResponse, BatchError> {
    if debit.amount == AMOUNT_REJECTED {
        return Err(BatchError {
            code: Code::FailedPrecondition as i32,
            reason: "INSUFFICIENT_FUNDS".into(),
            message: "insufficient funds".into(),
            metadata: HashMap::from([("available".into(), "20.00".into())]),
        });
    }
    Ok(MutationResponse {
        wallet_id: debit.wallet_id.clone(),
        // Echo the key so tests can see what was sent.
        entry_id: debit.idempotency_key.clone(),
        balance: "80.00".into(),
        held: "0.00".into(),
        available: "80.00".into(),
        sequence: 2,
        replayed: false,
    })
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
                wallet_id: "w-new".into(),
                owner: request.owner,
                asset: request.asset,
                asset_scale: 2,
                kind: request.kind,
                status: 1,
                sequence: 1,
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
        if request.metadata().get("grpc-timeout").is_none() {
            return Err(Status::invalid_argument("client sent no deadline"));
        }
        let debit = request.into_inner();
        if debit.amount == AMOUNT_SLOW {
            tokio::time::sleep(Duration::from_millis(SLOW_MS)).await;
        }
        debit_result(&debit).map(Response::new).map_err(|error| {
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
        let results = request
            .into_inner()
            .operations
            .into_iter()
            .map(|op| {
                let result = match op.operation {
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
