//! A single Apache Cassandra node: the CQL store of the ScyllaDB store's contract suite and of the
//! cluster tests.

use std::path::Path;
use std::time::{Duration, Instant};

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

use crate::process::{EngineDir, EngineError, JvmProcess, Signal, engine_lib, free_port, io};

/// The Cassandra version `scripts/install-test-tools` installs (`tests/engines/cassandra`).
pub const CASSANDRA_VERSION: &str = "5.0.9";

/// How long the node may take from launch to answering CQL.
const READY_TIMEOUT_MS: u64 = 180_000;

/// How long one readiness probe (connect + query) may take.
const PROBE_TIMEOUT_MS: u64 = 2_000;

/// The module options of Cassandra 5.0's `conf/jvm17-server.options` (Java 17 refuses Cassandra's
/// reflective access without them), a small heap and a serial collector (two cores are shared
/// with the code under test), and start-up without the waits a real ring needs.
const JVM_ARGS: &[&str] = &[
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dcassandra-foreground=yes",
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=100",
];

/// Warnings and errors, and the daemon's own start-up lines, to the node's log file.
const LOGBACK_XML: &str = r#"<configuration>
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%d %level [%thread] %logger{20} %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDERR"/></root>
  <logger name="org.apache.cassandra.service.CassandraDaemon" level="INFO"/>
</configuration>
"#;

/// A single Cassandra node on loopback (one token, no JMX), killed and removed on drop.
#[derive(Debug)]
pub struct CassandraNode {
    // Dropped first: the process goes before its directory.
    process: JvmProcess,
    native_port: u16,
    release_version: String,
    _dir: EngineDir,
}

impl CassandraNode {
    /// Starts a node and waits until it answers CQL `SELECT release_version FROM system.local`.
    pub async fn start() -> Result<CassandraNode, EngineError> {
        let lib = engine_lib("cassandra", CASSANDRA_VERSION)?;
        let dir = EngineDir::create("purse-cassandra-")?;
        let native_port = free_port()?;
        let storage_port = free_port()?;
        let root = dir.path();
        let yaml = cassandra_yaml(root, native_port, storage_port);
        std::fs::write(root.join("cassandra.yaml"), yaml).map_err(io("writing cassandra.yaml"))?;
        std::fs::write(root.join("logback.xml"), LOGBACK_XML).map_err(io("writing logback.xml"))?;
        let mut jvm_args: Vec<String> = JVM_ARGS.iter().map(|arg| (*arg).to_owned()).collect();
        jvm_args.extend([
            format!(
                "-Dcassandra.config=file://{}/cassandra.yaml",
                root.display()
            ),
            format!("-Dcassandra.storagedir={}", root.display()),
            format!("-Dlogback.configurationFile={}/logback.xml", root.display()),
        ]);
        let process = JvmProcess::spawn(
            "cassandra",
            root,
            &lib,
            &jvm_args,
            "org.apache.cassandra.service.CassandraDaemon",
            &[],
        )?;
        let mut node = CassandraNode {
            process,
            native_port,
            release_version: String::new(),
            _dir: dir,
        };
        node.release_version = node.await_cql().await?;
        Ok(node)
    }

    /// `127.0.0.1:PORT` of the node's native transport (CQL).
    pub fn contact_point(&self) -> String {
        format!("127.0.0.1:{}", self.native_port)
    }

    /// What the node answered to `SELECT release_version FROM system.local`.
    pub fn release_version(&self) -> &str {
        &self.release_version
    }

    /// Process id of the node while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Sends `signal` to the node.
    pub fn signal(&self, signal: Signal) -> Result<(), EngineError> {
        self.process.signal(signal)
    }

    /// Polls CQL until the node answers its release version, failing early if it exits.
    async fn await_cql(&mut self) -> Result<String, EngineError> {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(READY_TIMEOUT_MS);
        let mut last;
        loop {
            self.process.check_running()?;
            match tokio::time::timeout(
                Duration::from_millis(PROBE_TIMEOUT_MS),
                release_version(&self.contact_point()),
            )
            .await
            {
                Ok(Ok(version)) => return Ok(version),
                Ok(Err(error)) => last = error,
                Err(_) => last = format!("no answer within {PROBE_TIMEOUT_MS} ms"),
            }
            if Instant::now() >= deadline {
                let waited_ms = started.elapsed().as_millis() as u64;
                return Err(self.process.not_ready(waited_ms, last));
            }
            // The native port opens late in start-up; until then each probe is refused at once.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One readiness probe: connect and ask for the release version.
async fn release_version(contact_point: &str) -> Result<String, String> {
    let session: Session = SessionBuilder::new()
        .known_node(contact_point)
        .connection_timeout(Duration::from_millis(PROBE_TIMEOUT_MS))
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let (version,): (String,) = session
        .query_unpaged("SELECT release_version FROM system.local", ())
        .await
        .map_err(|e| e.to_string())?
        .into_rows_result()
        .map_err(|e| e.to_string())?
        .single_row()
        .map_err(|e| e.to_string())?;
    Ok(version)
}

/// A one-node `cassandra.yaml`: everything under `root`, loopback only, one token, periodic
/// commit-log sync (tests do not survive power loss, and need not).
fn cassandra_yaml(root: &Path, native_port: u16, storage_port: u16) -> String {
    let root = root.display();
    format!(
        "cluster_name: purse-test\n\
         num_tokens: 1\n\
         initial_token: 0\n\
         partitioner: org.apache.cassandra.dht.Murmur3Partitioner\n\
         commitlog_sync: periodic\n\
         commitlog_sync_period: 10000ms\n\
         data_file_directories: [{root}/data]\n\
         commitlog_directory: {root}/commitlog\n\
         saved_caches_directory: {root}/saved_caches\n\
         hints_directory: {root}/hints\n\
         cdc_raw_directory: {root}/cdc\n\
         seed_provider:\n  \
           - class_name: org.apache.cassandra.locator.SimpleSeedProvider\n    \
             parameters:\n      \
               - seeds: \"127.0.0.1:{storage_port}\"\n\
         listen_address: 127.0.0.1\n\
         rpc_address: 127.0.0.1\n\
         storage_port: {storage_port}\n\
         native_transport_port: {native_port}\n\
         start_native_transport: true\n\
         endpoint_snitch: SimpleSnitch\n\
         # Small caches and memtables: the suite's data is tiny and the heap is small.\n\
         key_cache_size: 8MiB\n\
         memtable_heap_space: 64MiB\n\
         memtable_offheap_space: 64MiB\n"
    )
}
