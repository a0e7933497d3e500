//! The services' configuration sections (`[topups]`, `[payments]`) and their `PURSE_*`
//! variables: the engine loads and validates them as [`ServiceSections`] without naming them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use purse_runtime::config::{ConfigError, Sections};
use purse_runtime::env::ValueKind;
use rust_decimal::Decimal;
use serde::Deserialize;

/// A Purse node's whole configuration: the engine's settings and the services' sections.
pub type Config = purse_runtime::config::Config<ServiceSections>;

/// How long a payer has to pay a top-up.
pub const PURSE_TOPUPS_TIMEOUT_MS: &str = "PURSE_TOPUPS_TIMEOUT_MS";
/// Top-up fee, a percentage of the amount paid (`"2.5"`).
pub const PURSE_TOPUPS_FEE_PERCENT: &str = "PURSE_TOPUPS_FEE_PERCENT";
/// Public base URL of the hosted checkout pages.
pub const PURSE_TOPUPS_CHECKOUT_BASE_URL: &str = "PURSE_TOPUPS_CHECKOUT_BASE_URL";
/// Address of the payments HTTP listener (checkout pages, webhooks).
pub const PURSE_PAYMENTS_HTTP_LISTEN: &str = "PURSE_PAYMENTS_HTTP_LISTEN";
/// Provider adapter of the payments service (`simulator`).
pub const PURSE_PAYMENTS_PROVIDER: &str = "PURSE_PAYMENTS_PROVIDER";
/// File holding the provider's webhook signing secret.
pub const PURSE_PAYMENTS_WEBHOOK_SECRET_FILE: &str = "PURSE_PAYMENTS_WEBHOOK_SECRET_FILE";
/// Webhook timestamp tolerance.
pub const PURSE_PAYMENTS_WEBHOOK_TOLERANCE_MS: &str = "PURSE_PAYMENTS_WEBHOOK_TOLERANCE_MS";
/// How long the simulator's delayed test card takes to succeed.
pub const PURSE_PAYMENTS_SIMULATOR_DELAY_MS: &str = "PURSE_PAYMENTS_SIMULATOR_DELAY_MS";

/// The sections of the services in this workspace.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSections {
    /// The `[topups]` section.
    pub topups: TopUpsConfig,
    /// The `[payments]` section.
    pub payments: PaymentsConfig,
}

impl Sections for ServiceSections {
    const TABLES: &'static [&'static str] = &["topups", "payments"];
    const ENVIRONMENT: &'static [(&'static str, &'static str, ValueKind)] = &[
        (
            PURSE_TOPUPS_TIMEOUT_MS,
            "topups.timeout_ms",
            ValueKind::DurationMs,
        ),
        (
            PURSE_TOPUPS_FEE_PERCENT,
            "topups.fee_percent",
            ValueKind::Decimal,
        ),
        (
            PURSE_TOPUPS_CHECKOUT_BASE_URL,
            "topups.checkout_base_url",
            ValueKind::Text,
        ),
        (
            PURSE_PAYMENTS_HTTP_LISTEN,
            "payments.http_listen",
            ValueKind::Text,
        ),
        (
            PURSE_PAYMENTS_PROVIDER,
            "payments.provider",
            ValueKind::Text,
        ),
        (
            PURSE_PAYMENTS_WEBHOOK_SECRET_FILE,
            "payments.webhook_secret_file",
            ValueKind::Text,
        ),
        (
            PURSE_PAYMENTS_WEBHOOK_TOLERANCE_MS,
            "payments.webhook_tolerance_ms",
            ValueKind::DurationMs,
        ),
        (
            PURSE_PAYMENTS_SIMULATOR_DELAY_MS,
            "payments.simulator_delay_ms",
            ValueKind::DurationMs,
        ),
    ];

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem| Err(ConfigError::Invalid { key, problem });
        if !(1_000..=86_400_000).contains(&self.topups.timeout_ms) {
            return invalid("topups.timeout_ms", "must be 1000..=86400000");
        }
        if !(Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&self.topups.fee_percent) {
            return invalid("topups.fee_percent", "must be a decimal 0..=100");
        }
        if self.payments.provider != "simulator" {
            return invalid(
                "payments.provider",
                "must be simulator (the only adapter built in)",
            );
        }
        if !(1_000..=3_600_000).contains(&self.payments.webhook_tolerance_ms) {
            return invalid("payments.webhook_tolerance_ms", "must be 1000..=3600000");
        }
        if self.payments.simulator_delay_ms > 3_600_000 {
            return invalid("payments.simulator_delay_ms", "must be at most 3600000");
        }
        Ok(())
    }
}

/// The `[topups]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopUpsConfig {
    /// How long a payer has to pay a top-up (its `expires_at` is this after creation).
    pub timeout_ms: i64,
    /// The fee, a percentage of the amount paid (`"2.5"`, `3`); recorded on the top-up for
    /// settlement, never deducted from the credit.
    #[serde(deserialize_with = "purse_runtime::config::decimal_setting")]
    pub fee_percent: Decimal,
    /// Public base URL of the hosted checkout pages (`https://pay.example.com`); empty means the
    /// payments HTTP listener's own address, which suits all-in-one and tests.
    pub checkout_base_url: String,
}

impl Default for TopUpsConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 5 * 60_000,
            fee_percent: Decimal::ZERO,
            checkout_base_url: String::new(),
        }
    }
}

/// The `[payments]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Address of the HTTP listener: hosted checkout pages, provider webhooks, health.
    pub http_listen: SocketAddr,
    /// Provider adapter; `simulator` (test mode, DESIGN §7) is the one built in.
    pub provider: String,
    /// File holding the provider's webhook signing secret; default `webhook.key` in the data
    /// directory, created on first start in test mode.
    pub webhook_secret_file: Option<PathBuf>,
    /// How old a webhook's signed timestamp may be (either way) before it is rejected.
    pub webhook_tolerance_ms: i64,
    /// How long the simulator's delayed test card takes to succeed.
    pub simulator_delay_ms: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            provider: "simulator".to_owned(),
            webhook_secret_file: None,
            webhook_tolerance_ms: 5 * 60_000,
            simulator_delay_ms: 10_000,
        }
    }
}

impl PaymentsConfig {
    /// The webhook signing secret file in effect: the configured one, or `webhook.key` in the
    /// data directory.
    pub fn webhook_secret_path(&self, data_dir: &Path) -> PathBuf {
        self.webhook_secret_file
            .clone()
            .unwrap_or_else(|| data_dir.join("webhook.key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use purse_runtime::config::fixed_environment;

    /// `Config::load` with only the given `PURSE_*` variables set.
    fn with_environment(variables: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load(None, fixed_environment(variables))
    }

    fn refused(variable: &str, value: &str) -> String {
        match with_environment(&[(variable, value)]) {
            Err(err @ ConfigError::Environment { .. }) => err.to_string(),
            other => panic!("{variable}={value:?} refused by kind, got {other:?}"),
        }
    }

    #[test]
    fn a_decimal_setting_takes_an_integer_looking_value() {
        let config = with_environment(&[("PURSE_TOPUPS_FEE_PERCENT", "3")]).unwrap();
        assert_eq!(config.services.topups.fee_percent, Decimal::from(3));
        let config = with_environment(&[("PURSE_TOPUPS_FEE_PERCENT", "2.5")]).unwrap();
        assert_eq!(config.services.topups.fee_percent, Decimal::new(25, 1));
        assert!(refused("PURSE_TOPUPS_FEE_PERCENT", "2,5").contains("decimal"));
        assert!(matches!(
            with_environment(&[("PURSE_TOPUPS_FEE_PERCENT", "101")]),
            Err(ConfigError::Invalid {
                key: "topups.fee_percent",
                ..
            })
        ));
        // And in the file, whichever way it is written.
        let dir = tempfile::tempdir().unwrap();
        for (written, expected) in [("3", 3), ("\"3\"", 3), ("2.5", 25), ("\"2.5\"", 25)] {
            let file = dir.path().join("purse.toml");
            std::fs::write(&file, format!("[topups]\nfee_percent = {written}\n")).unwrap();
            let config = Config::load(Some(&file), |_| None).unwrap();
            let expected = Decimal::new(expected, if expected == 3 { 0 } else { 1 });
            assert_eq!(config.services.topups.fee_percent, expected, "{written}");
        }
    }

    #[test]
    fn service_settings_take_their_kinds_and_sections_refuse_unknown_keys() {
        let config = with_environment(&[
            ("PURSE_TOPUPS_TIMEOUT_MS", "2m"),
            ("PURSE_TOPUPS_CHECKOUT_BASE_URL", "https://pay.example.com"),
            ("PURSE_PAYMENTS_SIMULATOR_DELAY_MS", "1500"),
        ])
        .unwrap();
        assert_eq!(config.services.topups.timeout_ms, 120_000);
        assert_eq!(
            config.services.topups.checkout_base_url,
            "https://pay.example.com"
        );
        assert_eq!(config.services.payments.simulator_delay_ms, 1_500);
        assert!(matches!(
            with_environment(&[("PURSE_PAYMENTS_PROVIDER", "stripe")]),
            Err(ConfigError::Invalid {
                key: "payments.provider",
                ..
            })
        ));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("purse.toml");
        for text in [
            "[topups]\ntimeout = 5\n",
            "[paymnets]\nprovider = \"simulator\"\n",
        ] {
            std::fs::write(&file, text).unwrap();
            assert!(
                matches!(
                    Config::load(Some(&file), |_| None),
                    Err(ConfigError::Parse(_))
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn the_webhook_secret_defaults_to_the_data_directory() {
        let config = Config::default();
        assert_eq!(
            config
                .services
                .payments
                .webhook_secret_path(Path::new("/var/lib/purse")),
            Path::new("/var/lib/purse/webhook.key")
        );
    }
}
