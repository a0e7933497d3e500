//! Turns on the ScyllaDB contract suite (`tests/contract_scylla.rs`) only when `PURSE_TEST_SCYLLA`
//! names a node at build time, so that without a node those tests do not exist at all instead of
//! passing vacuously; and says so, once per build, since a test runner prints nothing for tests
//! that do not exist (the crate docs explain the design).

const ENV_TEST_NODE: &str = "PURSE_TEST_SCYLLA";

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed={ENV_TEST_NODE}");
    println!("cargo::rustc-check-cfg=cfg(purse_test_scylla)");
    let node = std::env::var(ENV_TEST_NODE).unwrap_or_default();
    if !node.trim().is_empty() {
        println!("cargo::rustc-cfg=purse_test_scylla");
    } else if std::env::var("PROFILE").as_deref() != Ok("release") {
        // Cargo shows this line on every dev/test build of the workspace (cached builds too),
        // so `cargo nextest run` and `cargo test` state it once. Release builds (images) run no
        // tests and stay quiet.
        println!("cargo::warning=skipped: no ScyllaDB node (set {ENV_TEST_NODE})");
    }
}
