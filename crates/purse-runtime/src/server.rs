//! gRPC server scaffolding shared by every service: health, reflection, limits, graceful stop.

use std::future::Future;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tracing::{info, warn};

/// Why the server stopped with an error.
#[derive(thiserror::Error, Debug)]
pub enum ServeError {
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection descriptors are invalid.
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Serves `routes` plus `grpc.health.v1` (each of `service_names` reported SERVING) and reflection
/// on `listener` until `shutdown` completes. Then it stops accepting and lets in-flight calls
/// finish for up to `grace_ms`: idle client connections would otherwise hold the stop forever.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    service_names: &[&str],
    shutdown: impl Future<Output = ()>,
    grace_ms: u64,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in service_names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(purse_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = Server::builder()
        .add_routes(routes.add_service(health).add_service(reflection))
        // Small replies must not wait for delayed ACKs (Nagle): tens of ms per call otherwise.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async {
                let _ = stopped.await;
            },
        );
    tokio::pin!(serving);
    tokio::select! {
        served = &mut serving => return Ok(served?),
        () = shutdown => {}
    }
    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_millis(grace_ms), serving).await {
        Ok(served) => served?,
        Err(_) => warn!(
            grace_ms,
            "connections still open after the grace period; closing them"
        ),
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        _ = terminate.recv() => info!("SIGTERM: shutting down"),
    }
}
