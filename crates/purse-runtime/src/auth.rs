//! Bearer tokens: a tenant and its scopes, signed with HMAC-SHA256 by the deployment's key.
//!
//! Token text: `purse1.<base64url(tenant|scope,scope)>.<base64url(hmac)>`. Stateless to verify,
//! so every service instance checks every call without a lookup (docs/adr/0004).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const TOKEN_PREFIX: &str = "purse1";
const KEY_BYTES: usize = 32;
/// Longest tenant name.
pub const MAX_TENANT_BYTES: usize = 64;

/// What a caller may do: read, move money, or administer (open, suspend, close, set limits).
/// Tokens name them `wallets:read`, `wallets:write` and `wallets:admin`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Read accounts, balances and history.
    Read,
    /// Move money: credit, debit, refund, holds, top-ups.
    Write,
    /// Open, suspend, reactivate and close accounts; change limits.
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    /// Name in tokens ("wallets:read").
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "wallets:read",
            Scope::Write => "wallets:write",
            Scope::Admin => "wallets:admin",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == text)
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The tenant every call of this caller is confined to.
    pub tenant: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Whether the caller holds `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Why a token or key was refused.
#[derive(thiserror::Error, Debug)]
pub enum AuthError {
    /// No `authorization: Bearer …` metadata.
    #[error("missing bearer token")]
    Missing,
    /// Not a token of this format.
    #[error("malformed bearer token")]
    Malformed,
    /// Signed with another key, or altered.
    #[error("bearer token signature does not verify")]
    BadSignature,
    /// The tenant name is empty, too long or has characters other than [a-z0-9_-].
    #[error("invalid tenant name")]
    InvalidTenant,
    /// The key file could not be read or written.
    #[error("token key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The system random source failed.
    #[error("random source: {0}")]
    Random(getrandom::Error),
}

/// The deployment's token signing key.
#[derive(Clone)]
pub struct TokenKey([u8; KEY_BYTES]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// Reads the key at `path`, creating it (random, mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, AuthError> {
        let key_error = |source| AuthError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() == KEY_BYTES => {
                let mut key = [0u8; KEY_BYTES];
                key.copy_from_slice(&bytes);
                Ok(Self(key))
            }
            Ok(_) => Err(key_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "token key file must hold exactly 32 bytes",
            ))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_BYTES];
                getrandom::fill(&mut key).map_err(AuthError::Random)?;
                write_private(path, &key).map_err(key_error)?;
                Ok(Self(key))
            }
            Err(err) => Err(key_error(err)),
        }
    }

    /// Issues a token for `principal`.
    pub fn issue(&self, principal: &Principal) -> Result<String, AuthError> {
        validate_tenant(&principal.tenant)?;
        let scopes: Vec<&str> = principal.scopes.iter().map(|s| s.as_str()).collect();
        let payload = format!("{}|{}", principal.tenant, scopes.join(","));
        let signature = self.sign(payload.as_bytes());
        Ok(format!(
            "{TOKEN_PREFIX}.{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// Verifies a token and returns its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let mut parts = token.split('.');
        let (Some(TOKEN_PREFIX), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| AuthError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AuthError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&signature)
            .map_err(|_| AuthError::BadSignature)?;
        let payload = String::from_utf8(payload).map_err(|_| AuthError::Malformed)?;
        let (tenant, scopes) = payload.split_once('|').ok_or(AuthError::Malformed)?;
        validate_tenant(tenant)?;
        let scopes = scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| Scope::parse(s).ok_or(AuthError::Malformed))
            .collect::<Result<_, _>>()?;
        Ok(Principal {
            tenant: tenant.to_owned(),
            scopes,
        })
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }

    fn sign(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }
}

fn validate_tenant(tenant: &str) -> Result<(), AuthError> {
    let valid = !tenant.is_empty()
        && tenant.len() <= MAX_TENANT_BYTES
        && tenant
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(AuthError::InvalidTenant)
    }
}

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

/// Reads the bearer token of a request's metadata.
pub fn bearer(metadata: &tonic::metadata::MetadataMap) -> Result<&str, AuthError> {
    let value = metadata.get("authorization").ok_or(AuthError::Missing)?;
    let text = value.to_str().map_err(|_| AuthError::Malformed)?;
    text.strip_prefix("Bearer ").ok_or(AuthError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey([7u8; KEY_BYTES])
    }

    #[test]
    fn an_issued_token_verifies_to_its_principal() {
        let principal = Principal {
            tenant: "acme".into(),
            scopes: vec![Scope::Read, Scope::Write],
        };
        let token = key().issue(&principal).unwrap();
        assert_eq!(key().verify(&token).unwrap(), principal);
    }

    #[test]
    fn a_token_signed_by_another_key_or_altered_is_refused() {
        let principal = Principal {
            tenant: "acme".into(),
            scopes: vec![Scope::Admin],
        };
        let token = key().issue(&principal).unwrap();
        assert!(matches!(
            TokenKey([8u8; KEY_BYTES]).verify(&token),
            Err(AuthError::BadSignature)
        ));
        let forged = format!(
            "{TOKEN_PREFIX}.{}.{}",
            URL_SAFE_NO_PAD.encode("evil|wallets:admin"),
            token.rsplit('.').next().unwrap()
        );
        assert!(matches!(
            key().verify(&forged),
            Err(AuthError::BadSignature)
        ));
        assert!(matches!(
            key().verify("nonsense"),
            Err(AuthError::Malformed)
        ));
    }

    #[test]
    fn tenant_names_are_restricted() {
        let principal = Principal {
            tenant: "Acme Corp".into(),
            scopes: vec![],
        };
        assert!(matches!(
            key().issue(&principal),
            Err(AuthError::InvalidTenant)
        ));
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.key");
        let first = TokenKey::load_or_create(&path).unwrap();
        let second = TokenKey::load_or_create(&path).unwrap();
        assert_eq!(first.0, second.0);
    }
}
