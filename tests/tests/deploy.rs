//! The deployment files stay valid: the compose file parses (Debian's `docker-compose`, offline),
//! and the image builds where a Docker engine runs.

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

/// Builds the image when a Docker engine answers. Without one (these development and CI machines
/// have the client but no daemon) it says so on stderr, which `scripts/test` repeats at the end
/// of its output, rather than passing on a look at the Dockerfile.
#[test]
fn the_image_builds_when_docker_is_present() {
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    let reason = match &info {
        Err(err) => Some(format!("docker: {err}")),
        Ok(output) if !output.status.success() => Some(
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .next()
                .unwrap_or("docker info failed")
                .to_owned(),
        ),
        Ok(_) => None,
    };
    if let Some(reason) = reason {
        eprintln!("skipped: no docker ({reason}); the image was not built");
        return;
    }
    let output = Command::new("docker")
        .current_dir(workspace())
        .args(["build", "--tag", "purse:test", "."])
        .output()
        .expect("docker runs");
    assert!(
        output.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let binaries = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--entrypoint",
            "ls",
            "purse:test",
            "/usr/local/bin",
        ])
        .output()
        .expect("docker runs");
    let binaries = String::from_utf8_lossy(&binaries.stdout);
    for binary in ["pursed", "purse-wallets", "purse-projector", "purse"] {
        assert!(
            binaries.lines().any(|line| line == binary),
            "the image holds {binary}"
        );
    }
}
