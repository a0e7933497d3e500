//! System wallets: the tenant's own wallets (`fees`, `revenue`, `promotions`, …), which belong to
//! no customer. There is one per tenant, name and asset, and its id is derived from the three,
//! so opening it again (or on first use, from any service) finds the same stream without a lookup
//! (docs/adr/0020-system-wallets.md).

use uuid::Uuid;

use crate::money::Asset;
use crate::support::derived_id;

/// Longest system wallet name, in bytes.
pub const MAX_SYSTEM_WALLET_NAME_BYTES: usize = 64;

/// The name of a system wallet: 1 to [`MAX_SYSTEM_WALLET_NAME_BYTES`] of lower-case ASCII
/// letters, digits, `_` and `-`, starting with a letter. Narrow on purpose: it is an identifier
/// that people type and that other services name in their configuration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SystemWalletName(String);

/// Why a text is not a system wallet name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SystemWalletNameError {
    /// Empty, or longer than [`MAX_SYSTEM_WALLET_NAME_BYTES`].
    #[error("a system wallet name has 1 to {MAX_SYSTEM_WALLET_NAME_BYTES} bytes")]
    Length,
    /// A character outside `a-z`, `0-9`, `_`, `-`, or a first character that is not a letter.
    #[error(
        "a system wallet name is lower-case letters, digits, '_' and '-', starting with a letter"
    )]
    Character,
}

impl SystemWalletName {
    /// Checks `text` against the rules above.
    pub fn parse(text: &str) -> Result<Self, SystemWalletNameError> {
        if text.is_empty() || text.len() > MAX_SYSTEM_WALLET_NAME_BYTES {
            return Err(SystemWalletNameError::Length);
        }
        let allowed =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        if !text.starts_with(|c: char| c.is_ascii_lowercase()) || !text.chars().all(allowed) {
            return Err(SystemWalletNameError::Character);
        }
        Ok(Self(text.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of `tenant`'s system wallet `name` in `asset`: a UUID version 8 from the SHA-256 of a
/// length-prefixed encoding of the four (the asset's scale included, so a tenant unit redefined
/// with another scale is another wallet). Tagged apart from the ids of customer wallets, which
/// derive from a creation key (ADR 0002), so the two never meet.
pub fn system_wallet_id(tenant: &str, name: &SystemWalletName, asset: &Asset) -> Uuid {
    derived_id(
        b"purse.system-wallet-id.v1\0",
        &[
            tenant.as_bytes(),
            name.as_str().as_bytes(),
            asset.code().as_bytes(),
            &asset.scale().to_be_bytes(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> SystemWalletName {
        SystemWalletName::parse(text).expect("valid name")
    }

    fn asset(code: &str, scale: Option<u32>) -> Asset {
        Asset::parse(code, scale).expect("asset")
    }

    #[test]
    fn names_are_short_lower_case_identifiers() {
        for ok in ["fees", "revenue", "promotions", "a", "fees_2026-q1"] {
            assert_eq!(name(ok).as_str(), ok);
        }
        assert_eq!(
            SystemWalletName::parse(""),
            Err(SystemWalletNameError::Length)
        );
        assert_eq!(
            SystemWalletName::parse(&"a".repeat(MAX_SYSTEM_WALLET_NAME_BYTES + 1)),
            Err(SystemWalletNameError::Length)
        );
        assert!(SystemWalletName::parse(&"a".repeat(MAX_SYSTEM_WALLET_NAME_BYTES)).is_ok());
        for bad in ["Fees", "fees ", "1fees", "_fees", "fées", "fees/usd", "-"] {
            assert_eq!(
                SystemWalletName::parse(bad),
                Err(SystemWalletNameError::Character),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn one_id_per_tenant_name_and_asset() {
        let usd = asset("USD", None);
        let fees = system_wallet_id("acme", &name("fees"), &usd);
        assert_eq!(fees, system_wallet_id("acme", &name("fees"), &usd));
        assert_eq!(fees.get_version_num(), 8);
        let others = [
            system_wallet_id("globex", &name("fees"), &usd),
            system_wallet_id("acme", &name("revenue"), &usd),
            system_wallet_id("acme", &name("fees"), &asset("EUR", None)),
            system_wallet_id("acme", &name("fees"), &asset("points", Some(0))),
            system_wallet_id("acme", &name("fees"), &asset("points", Some(2))),
            // Length prefixes: moving a byte from one part to the next is another wallet.
            system_wallet_id("acmef", &name("ees"), &usd),
        ];
        for (i, other) in others.iter().enumerate() {
            assert_ne!(fees, *other, "case {i}");
        }
    }
}
