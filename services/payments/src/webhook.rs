//! Provider webhooks: the signature scheme (HMAC-SHA256 over `{timestamp}.{body}`), the
//! signing secret, and the JSON body the gateway understands.
//!
//! Header: `Purse-Provider-Signature: t=<ms since the Unix epoch>,v1=<hex HMAC>`; several `v1`
//! entries may be present (a provider rotating its secret signs with both), one must match.
//! The timestamp is inside the signed text, so a replayed request cannot be made fresh again,
//! and one older (or newer) than the tolerance is refused.

use std::path::Path;

use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use sha2::Sha256;
use uuid::Uuid;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "purse-provider-signature";
/// Bytes of a generated secret.
const SECRET_BYTES: usize = 32;
/// Most `v1=` entries looked at in one header (bounds the work a forged header can cause).
const MAX_SIGNATURES: usize = 4;

type HmacSha256 = Hmac<Sha256>;

/// The webhook signing secret shared with the provider.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// Why the secret file could not be used.
#[derive(thiserror::Error, Debug)]
pub enum SecretError {
    /// Reading or writing the file failed.
    #[error("webhook secret file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file holds fewer than 16 bytes of secret.
    #[error("webhook secret file {path} holds a secret shorter than 16 bytes")]
    TooShort {
        /// The file.
        path: String,
    },
    /// The system random source failed.
    #[error("random source: {0}")]
    Random(getrandom::Error),
}

impl WebhookSecret {
    /// A secret from bytes (tests, or a secret handed over by a provider).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// Reads the secret (surrounding whitespace trimmed), or creates a random one (64 hex
    /// characters, mode 0600 where supported) when the file does not exist: in test mode the
    /// simulator signs with the same file, so nothing has to be configured.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let file_error = |source| SecretError::File {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let secret = text.trim().as_bytes().to_vec();
                if secret.len() < 16 {
                    return Err(SecretError::TooShort {
                        path: path.display().to_string(),
                    });
                }
                Ok(Self(secret))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = [0u8; SECRET_BYTES];
                getrandom::fill(&mut raw).map_err(SecretError::Random)?;
                let text = hex(&raw);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(file_error)?;
                }
                write_private(path, text.as_bytes()).map_err(file_error)?;
                Ok(Self(text.into_bytes()))
            }
            Err(err) => Err(file_error(err)),
        }
    }

    fn mac(&self, timestamp_ms: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(timestamp_ms.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The header value signing `body` at `timestamp_ms`.
    pub fn sign(&self, timestamp_ms: i64, body: &[u8]) -> String {
        let tag = self.mac(timestamp_ms, body).finalize().into_bytes();
        format!("t={timestamp_ms},v1={}", hex(&tag))
    }

    /// Checks a header against `body`: well-formed, within `tolerance_ms` of `now_ms`, and one
    /// `v1` signature matching (compared in constant time).
    pub fn verify(
        &self,
        header: &str,
        body: &[u8],
        now_ms: i64,
        tolerance_ms: i64,
    ) -> Result<(), SignatureError> {
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            let (name, value) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed)?;
            match name {
                "t" => {
                    timestamp = Some(
                        value
                            .parse::<i64>()
                            .map_err(|_| SignatureError::Malformed)?,
                    )
                }
                "v1" if signatures.len() < MAX_SIGNATURES => {
                    signatures.push(unhex(value).ok_or(SignatureError::Malformed)?)
                }
                // Other schemes (and signatures past the bound) are ignored, as providers do.
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
        if signatures.is_empty() {
            return Err(SignatureError::Malformed);
        }
        // The signature first: a forged request learns nothing about the clock check.
        let matched = signatures
            .iter()
            .any(|signature| self.mac(timestamp, body).verify_slice(signature).is_ok());
        if !matched {
            return Err(SignatureError::Mismatch);
        }
        if now_ms.abs_diff(timestamp) > tolerance_ms.unsigned_abs() {
            return Err(SignatureError::Stale {
                age_ms: now_ms.saturating_sub(timestamp),
            });
        }
        Ok(())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Why a webhook's signature was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// No header, or not `t=…,v1=…`. HTTP 400.
    #[error("malformed or missing signature header")]
    Malformed,
    /// No signature matches. HTTP 401.
    #[error("signature does not match")]
    Mismatch,
    /// Signed too long ago (or in the future). HTTP 401.
    #[error("signature timestamp outside the tolerance (age {age_ms} ms)")]
    Stale {
        /// Now minus the signed timestamp.
        age_ms: i64,
    },
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    // A SHA-256 tag is 64 hex characters; anything longer is not ours.
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A provider webhook as the gateway understands it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WebhookEvent {
    /// The provider's event id: repeats of one id change nothing.
    pub id: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: WebhookKind,
}

/// What a webhook reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum WebhookKind {
    /// A charge was captured.
    #[serde(rename = "charge.succeeded")]
    ChargeSucceeded {
        /// The intent's tenant.
        tenant: String,
        /// The intent.
        payment_id: Uuid,
        /// What was captured.
        amount: Decimal,
    },
    /// A charge was declined.
    #[serde(rename = "charge.failed")]
    ChargeFailed {
        /// The intent's tenant.
        tenant: String,
        /// The intent.
        payment_id: Uuid,
        /// The decline reason's name (`declined`, `insufficient_funds`, ...).
        reason: String,
    },
    /// A refund went through.
    #[serde(rename = "refund.succeeded")]
    RefundSucceeded {
        /// The intent's tenant.
        tenant: String,
        /// The intent.
        payment_id: Uuid,
        /// Purse's refund id.
        refund_id: Uuid,
    },
    /// A refund failed.
    #[serde(rename = "refund.failed")]
    RefundFailed {
        /// The intent's tenant.
        tenant: String,
        /// The intent.
        payment_id: Uuid,
        /// Purse's refund id.
        refund_id: Uuid,
        /// The failure reason's name.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    const TOLERANCE: i64 = 300_000;

    fn secret() -> WebhookSecret {
        WebhookSecret::from_bytes(b"whsec_test_0123456789abcdef".to_vec())
    }

    #[test]
    fn a_signature_verifies_against_its_body_and_time() {
        let header = secret().sign(NOW, b"{\"id\":\"evt_1\"}");
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(
            secret().verify(&header, b"{\"id\":\"evt_1\"}", NOW, TOLERANCE),
            Ok(())
        );
        // Within the tolerance either way.
        assert_eq!(
            secret().verify(&header, b"{\"id\":\"evt_1\"}", NOW + TOLERANCE, TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256(key = "key", "1.body"), computed independently.
        let secret = WebhookSecret::from_bytes(b"key".to_vec());
        let header = secret.sign(1, b"body");
        let expected = {
            let mut mac = HmacSha256::new_from_slice(b"key").expect("key");
            mac.update(b"1.body");
            hex(&mac.finalize().into_bytes())
        };
        assert_eq!(header, format!("t=1,v1={expected}"));
    }

    #[test]
    fn forged_altered_or_stale_webhooks_are_refused() {
        let body = b"{\"id\":\"evt_1\"}";
        let header = secret().sign(NOW, body);
        assert_eq!(
            secret().verify(&header, b"{\"id\":\"evt_2\"}", NOW, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        let other = WebhookSecret::from_bytes(b"another-secret-entirely".to_vec());
        assert_eq!(
            other.verify(&header, body, NOW, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        // Moving the timestamp breaks the signature.
        let moved = header.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1);
        assert_eq!(
            secret().verify(&moved, body, NOW, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            secret().verify(&header, body, NOW + TOLERANCE + 1, TOLERANCE),
            Err(SignatureError::Stale {
                age_ms: TOLERANCE + 1
            })
        );
        for malformed in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "nonsense"] {
            assert_eq!(
                secret().verify(malformed, body, NOW, TOLERANCE),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let body = b"x";
        let good = secret().sign(NOW, body);
        let tag = good.split_once(",v1=").expect("v1").1;
        let header = format!("t={NOW},v1={},v1={tag}", "00".repeat(32));
        assert_eq!(secret().verify(&header, body, NOW, TOLERANCE), Ok(()));
    }

    #[test]
    fn the_secret_file_is_created_once_and_reread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("webhook.key");
        let first = WebhookSecret::load_or_create(&path).expect("created");
        let again = WebhookSecret::load_or_create(&path).expect("read");
        assert_eq!(first.0, again.0);
        assert_eq!(first.0.len(), 64);
        std::fs::write(dir.path().join("short.key"), "abc").expect("write");
        assert!(matches!(
            WebhookSecret::load_or_create(&dir.path().join("short.key")),
            Err(SecretError::TooShort { .. })
        ));
    }

    #[test]
    fn webhook_bodies_round_trip() {
        let event = WebhookEvent {
            id: "evt_1".into(),
            kind: WebhookKind::ChargeSucceeded {
                tenant: "acme".into(),
                payment_id: Uuid::nil(),
                amount: Decimal::new(2000, 2),
            },
        };
        let json = serde_json::to_string(&event).expect("json");
        assert!(json.contains("\"type\":\"charge.succeeded\""), "{json}");
        assert!(json.contains("\"amount\":\"20.00\""), "{json}");
        assert_eq!(
            serde_json::from_str::<WebhookEvent>(&json).expect("parse"),
            event
        );
    }
}
