//! The deployment files stay valid: the compose file parses (Debian's `docker-compose`, offline),
//! and the image builds the binaries with CI's own build command.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

#[test]
fn docker_compose_accepts_the_compose_file() {
    let output = Command::new("docker-compose")
        .current_dir(workspace())
        .args(["-f", "docker-compose.yml", "config", "-q"])
        .output()
        .expect("docker-compose is installed by scripts/install-test-tools");
    assert!(
        output.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let services = Command::new("docker-compose")
        .current_dir(workspace())
        .args(["-f", "docker-compose.yml", "config", "--services"])
        .output()
        .expect("docker-compose runs");
    let services = String::from_utf8_lossy(&services.stdout);
    for service in [
        "kafka",
        "scylla",
        "otel-collector",
        "purse-wallets",
        "purse-projector",
        "purse-topups",
        "purse-payments",
        "purse-saga",
    ] {
        assert!(
            services.lines().any(|s| s == service),
            "compose runs {service}"
        );
    }
}

#[test]
fn the_image_builds_with_the_ci_build_command() {
    let root = workspace();
    let test_script = std::fs::read_to_string(root.join("scripts/test")).unwrap();
    let ci_build = test_script
        .lines()
        .find(|line| line.starts_with("cargo build "))
        .expect("scripts/test builds the binaries")
        .trim();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("{ci_build} --release")),
        "the Dockerfile runs `{ci_build} --release`"
    );
}
