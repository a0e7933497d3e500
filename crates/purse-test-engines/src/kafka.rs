//! Apache Kafka in KRaft mode: every node a combined broker and controller, storage formatted at
//! start, the controllers a static quorum of all nodes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::process::{EngineDir, EngineError, JvmProcess, Signal, engine_lib, free_port, io};

/// The Kafka version `scripts/install-test-tools` installs (`tests/engines/kafka`).
pub const KAFKA_VERSION: &str = "4.4.0";

/// How long a node may take from launch to answering metadata requests.
const READY_TIMEOUT_MS: u64 = 90_000;

/// How long one metadata request of the readiness check may take.
const METADATA_TIMEOUT_MS: u64 = 1_000;

/// A fixed cluster id: every cluster lives in its own directory, so they need not differ.
const CLUSTER_ID: &str = "cHVyc2UtdGVzdC1rYWZrYQ";

/// The broker's own logging: warnings and errors to its log file.
const LOG4J2_PROPERTIES: &str = "\
rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=STDERR
appender.stderr.type=Console
appender.stderr.name=STDERR
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=[%d] %p %m (%c)%n
";

/// A small heap and a serial collector: two cores are shared with the code under test.
const JVM_ARGS: [&str; 5] = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
];

#[derive(Debug)]
struct Node {
    id: u32,
    broker_port: u16,
    properties: PathBuf,
    process: Option<JvmProcess>,
}

/// A Kafka cluster of one or three nodes on loopback, killed and removed on drop.
#[derive(Debug)]
pub struct KafkaCluster {
    // Dropped first: the processes go before their directory.
    nodes: Vec<Node>,
    lib: PathBuf,
    dir: EngineDir,
}

/// A single-node cluster: one combined broker and controller (replication factor 1).
pub type KafkaBroker = KafkaCluster;

impl KafkaCluster {
    /// Starts a single combined broker + controller with transactions available (transaction
    /// log replication 1) and waits until it answers metadata requests.
    pub async fn single() -> Result<KafkaCluster, EngineError> {
        KafkaCluster::start(1).await
    }

    /// Starts three brokers (each also a controller) whose topics default to replication
    /// factor 3 with `min.insync.replicas` 2, and waits until metadata names all three.
    pub async fn three_brokers() -> Result<KafkaCluster, EngineError> {
        KafkaCluster::start(3).await
    }

    async fn start(size: u32) -> Result<KafkaCluster, EngineError> {
        let lib = engine_lib("kafka", KAFKA_VERSION)?;
        let dir = EngineDir::create("purse-kafka-")?;
        std::fs::write(dir.path().join("log4j2.properties"), LOG4J2_PROPERTIES)
            .map_err(io("writing log4j2.properties"))?;
        let ports = (0..size)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<Result<Vec<(u16, u16)>, EngineError>>()?;
        let voters = ports
            .iter()
            .zip(1..)
            .map(|((_, controller), id)| format!("{id}@127.0.0.1:{controller}"))
            .collect::<Vec<_>>()
            .join(",");
        let replication = size.min(3);
        let min_insync = if size >= 3 { 2 } else { 1 };
        let mut nodes = Vec::new();
        for ((broker_port, controller_port), id) in ports.iter().copied().zip(1..) {
            let data = dir.path().join(format!("node-{id}"));
            let properties = dir.path().join(format!("node-{id}.properties"));
            let text = format!(
                "process.roles=broker,controller\n\
                 node.id={id}\n\
                 controller.quorum.voters={voters}\n\
                 listeners=PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{broker_port}\n\
                 controller.listener.names=CONTROLLER\n\
                 inter.broker.listener.name=PLAINTEXT\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
                 log.dirs={data}\n\
                 default.replication.factor={replication}\n\
                 min.insync.replicas={min_insync}\n\
                 offsets.topic.replication.factor={replication}\n\
                 offsets.topic.num.partitions=4\n\
                 transaction.state.log.replication.factor={replication}\n\
                 transaction.state.log.min.isr={min_insync}\n\
                 transaction.state.log.num.partitions=4\n\
                 auto.create.topics.enable=false\n\
                 # Tests start groups all the time; Kafka would wait 3 s for more members.\n\
                 group.initial.rebalance.delay.ms=0\n\
                 # Failover tests give members short sessions (Kafka's floor is 6 s).\n\
                 group.min.session.timeout.ms=1000\n\
                 # Fault tests: a killed broker leaves the ISR and loses leadership in seconds.\n\
                 replica.lag.time.max.ms=5000\n\
                 broker.heartbeat.interval.ms=500\n\
                 broker.session.timeout.ms=3000\n",
                data = data.display(),
            );
            std::fs::write(&properties, text)
                .map_err(io(format!("writing {}", properties.display())))?;
            format_storage(&lib, &dir, id, &properties).await?;
            nodes.push(Node {
                id,
                broker_port,
                properties,
                process: None,
            });
        }
        let mut cluster = KafkaCluster { nodes, lib, dir };
        for index in 0..cluster.nodes.len() {
            cluster.launch(index)?;
        }
        cluster.await_brokers(size as usize).await?;
        Ok(cluster)
    }

    /// Bootstrap addresses for clients: `127.0.0.1:PORT`, comma-separated, every node.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.broker_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// How many nodes the cluster has.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// The replication factor topics should have: 1 on one node, 3 on three.
    pub fn replication_factor(&self) -> u16 {
        self.nodes.len().min(3) as u16
    }

    /// Process id of node `index` (0-based) while it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].process.as_ref().and_then(JvmProcess::pid)
    }

    /// Sends `signal` to node `index` (pause, resume, kill -9).
    pub fn signal(&self, index: usize, signal: Signal) -> Result<(), EngineError> {
        let node = &self.nodes[index];
        node.process
            .as_ref()
            .ok_or_else(|| EngineError::NotRunning {
                name: format!("kafka node {}", node.id),
            })?
            .signal(signal)
    }

    /// Kills node `index` (SIGKILL) and reaps it. Idempotent.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut process) = self.nodes[index].process.take() {
            process.kill();
        }
    }

    /// Starts node `index` again (after [`KafkaCluster::kill`]) on the same ports and data, and
    /// waits until metadata names every node again.
    pub async fn restart(&mut self, index: usize) -> Result<(), EngineError> {
        self.kill(index);
        self.launch(index)?;
        self.await_brokers(self.nodes.len()).await
    }

    /// The end of node `index`'s log (warnings and errors), for failure messages.
    pub fn log_tail(&self, index: usize) -> String {
        crate::process::file_tail(&self.dir.path().join(format!("kafka-{}.log", index + 1)))
    }

    fn launch(&mut self, index: usize) -> Result<(), EngineError> {
        let node = &self.nodes[index];
        let mut jvm_args: Vec<String> = JVM_ARGS.iter().map(|arg| (*arg).to_owned()).collect();
        jvm_args.push(format!(
            "-Dlog4j2.configurationFile={}",
            self.dir.path().join("log4j2.properties").display()
        ));
        let process = JvmProcess::spawn(
            &format!("kafka-{}", node.id),
            self.dir.path(),
            &self.lib,
            &jvm_args,
            "kafka.Kafka",
            &[node.properties.display().to_string()],
        )?;
        self.nodes[index].process = Some(process);
        Ok(())
    }

    /// Waits until a metadata request through librdkafka names `expected` brokers, failing early
    /// when a node exits.
    async fn await_brokers(&mut self, expected: usize) -> Result<(), EngineError> {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(READY_TIMEOUT_MS);
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("socket.timeout.ms", "1000")
            .set("log_level", "0")
            .create()
            .map_err(|e| EngineError::Io {
                what: "creating a metadata client".to_owned(),
                source: std::io::Error::other(e),
            })?;
        let consumer = std::sync::Arc::new(consumer);
        let mut last;
        loop {
            for node in &mut self.nodes {
                if let Some(process) = node.process.as_mut() {
                    process.check_running()?;
                }
            }
            let probe = std::sync::Arc::clone(&consumer);
            let answer = tokio::task::spawn_blocking(move || {
                probe
                    .fetch_metadata(None, Duration::from_millis(METADATA_TIMEOUT_MS))
                    .map(|metadata| metadata.brokers().len())
            })
            .await
            .map_err(|e| EngineError::Io {
                what: "asking for metadata".to_owned(),
                source: std::io::Error::other(e),
            })?;
            match answer {
                Ok(brokers) if brokers >= expected => break,
                Ok(brokers) => last = format!("metadata names {brokers} of {expected} brokers"),
                Err(error) => last = error.to_string(),
            }
            if Instant::now() >= deadline {
                let waited_ms = started.elapsed().as_millis() as u64;
                let process = self
                    .nodes
                    .iter_mut()
                    .find_map(|node| node.process.as_mut())
                    .ok_or_else(|| EngineError::NotRunning {
                        name: "kafka".to_owned(),
                    })?;
                return Err(process.not_ready(waited_ms, last));
            }
        }
        // librdkafka's destructor blocks while it closes its connections.
        tokio::task::spawn_blocking(move || drop(consumer));
        Ok(())
    }
}

/// Formats node `id`'s storage directory (`kafka-storage.sh format`).
async fn format_storage(
    lib: &std::path::Path,
    dir: &EngineDir,
    id: u32,
    properties: &std::path::Path,
) -> Result<(), EngineError> {
    let mut command = tokio::process::Command::new(crate::process::java());
    command
        .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            dir.path().join("log4j2.properties").display()
        ))
        .arg("-cp")
        .arg(format!("{}/*", lib.display()))
        .args(["kafka.tools.StorageTool", "format", "-t", CLUSTER_ID, "-c"])
        .arg(properties)
        .current_dir(dir.path())
        .kill_on_drop(true);
    let output = command
        .output()
        .await
        .map_err(io("running the Kafka storage formatter"))?;
    if output.status.success() {
        Ok(())
    } else {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let tail_start = text.len().saturating_sub(4_096);
        Err(EngineError::ToolFailed {
            what: format!("formatting the storage of kafka node {id}"),
            status: output.status,
            output_tail: text[text.floor_char_boundary(tail_start)..].to_owned(),
        })
    }
}
