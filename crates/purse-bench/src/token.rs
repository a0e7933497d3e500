//! `purse-bench token`: a bearer token for a cluster, which (unlike `pursed`) prints none. Signed
//! with the key file the services share, so any instance accepts it.

use purse_runtime::auth::{AuthError, Principal, Scope, TokenKey};

use crate::args::TokenArgs;
use crate::error::BenchError;

/// A token with every scope for `args.tenant`, signed with the key in `args.key_file` (created
/// if missing: start the services afterwards so they load the same key).
pub(crate) fn mint(args: &TokenArgs) -> Result<String, BenchError> {
    let key = TokenKey::load_or_create(&args.key_file).map_err(BenchError::TokenKey)?;
    let principal = Principal {
        tenant: args.tenant.clone(),
        scopes: Scope::ALL.to_vec(),
    };
    key.issue(&principal).map_err(|err| match err {
        AuthError::InvalidTenant => BenchError::Tenant {
            tenant: args.tenant.clone(),
        },
        other => BenchError::TokenKey(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_with_the_same_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("token.key");
        let args = TokenArgs {
            key_file: key_file.clone(),
            tenant: "bench".to_owned(),
        };
        let token = mint(&args).unwrap();
        let principal = TokenKey::load_or_create(&key_file)
            .unwrap()
            .verify(&token)
            .unwrap();
        assert_eq!(principal.tenant, "bench");
        assert_eq!(principal.scopes, Scope::ALL.to_vec());
        // The key is reused, not replaced.
        let again = mint(&args).unwrap();
        assert!(
            TokenKey::load_or_create(&key_file)
                .unwrap()
                .verify(&again)
                .is_ok()
        );

        let bad = mint(&TokenArgs {
            key_file,
            tenant: "Not Valid".to_owned(),
        })
        .unwrap_err();
        assert!(bad.is_usage(), "{bad}");
    }
}
