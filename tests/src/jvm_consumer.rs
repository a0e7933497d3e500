//! The JVM consumer of `purse.wallet.events` (`tests/jvm`): a Java program on `kafka-clients` and
//! `protobuf-java` that reads the topic as a consumer outside Purse would and checks what
//! docs/event-catalogue.md promises. Its jar is built (once, cached) by `scripts/jvm-consumer-jar`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// How long the consumer may take to read the topic to its end offsets.
const READ_TIMEOUT_MS: u64 = 60_000;

/// What the consumer found: its one-line JSON summary, and every violation it printed.
#[derive(Debug)]
pub struct JvmConsumerReport {
    /// Exit status 0: no violation.
    pub passed: bool,
    /// `{"partitions", "records", "events", "streams", "losers", "duplicates", "gaps",
    /// "violations", "event_types": {type: count}}`.
    pub summary: serde_json::Value,
    /// Its output in full (violations first), for the failure message.
    pub output: String,
}

impl JvmConsumerReport {
    /// A count of the summary (0 when absent).
    pub fn count(&self, name: &str) -> u64 {
        self.summary[name].as_u64().unwrap_or(0)
    }

    /// How many accepted events of `event_type` it saw.
    pub fn events_of(&self, event_type: &str) -> u64 {
        self.summary["event_types"][event_type]
            .as_u64()
            .unwrap_or(0)
    }
}

/// The jar, built first when this checkout's consumer or event schema has no cached build.
fn jar() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let output = Command::new(workspace.join("scripts/jvm-consumer-jar"))
        .output()
        .expect("scripts/jvm-consumer-jar runs");
    assert!(
        output.status.success(),
        "scripts/jvm-consumer-jar failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
}

/// Reads `purse.wallet.events` at `bootstrap` from the beginning to its end offsets
/// (`read_committed`) and checks every record; `expect_streams` wallets must have opened.
/// Panics when the consumer cannot read the topic at all.
pub fn check_wallet_events(bootstrap: &str, expect_streams: usize) -> JvmConsumerReport {
    let output = Command::new(purse_test_engines::java())
        .arg("-jar")
        .arg(jar())
        .arg(bootstrap)
        .args(["--expect-streams", &expect_streams.to_string()])
        .args(["--timeout-ms", &READ_TIMEOUT_MS.to_string()])
        .output()
        .expect("java runs the consumer");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let output_text = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let summary = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .unwrap_or_else(|| panic!("the JVM consumer printed no summary: {output_text}"));
    JvmConsumerReport {
        passed: output.status.success(),
        summary,
        output: output_text,
    }
}
