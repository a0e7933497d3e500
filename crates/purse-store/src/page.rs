//! Page sizes and page tokens, shared by every [`ReadStore`](crate::ReadStore) implementation so
//! that clients see the same rules whichever store answers.
//!
//! A token is the URL-safe base64 of a tag naming the list, a format version, and the last key
//! returned. It is opaque to clients and checked on the way back in: a token from another list
//! or another wallet is refused rather than silently returning the wrong page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, StoreError};

const WALLETS_TAG: u8 = b'W';
const HISTORY_TAG: u8 = b'H';
const TOP_UPS_TAG: u8 = b'T';
const PAYMENT_METHODS_TAG: u8 = b'M';
/// Bumped if the layout after the tag changes, so old tokens are refused instead of misread.
const FORMAT: u8 = 1;
/// The top-ups list's own format: 2 since it pages by (creation time, id) rather than by id, so a
/// token issued before that change is refused rather than misread.
const TOP_UPS_FORMAT: u8 = 2;

/// Where the next page of a list starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageToken {
    /// After this wallet in a by-owner listing (ordered by wallet id).
    WalletsAfter {
        /// Last wallet id returned.
        wallet_id: Uuid,
    },
    /// Before this sequence in one wallet's history (newest first).
    HistoryBefore {
        /// The wallet listed.
        wallet_id: Uuid,
        /// Last sequence returned.
        sequence: u64,
    },
    /// Before this top-up in one wallet's top-ups (newest first: creation time, then id, both
    /// descending).
    TopUpsBefore {
        /// The wallet listed.
        wallet_id: Uuid,
        /// Creation time of the last top-up returned.
        created_at_ms: i64,
        /// Last top-up id returned.
        top_up_id: Uuid,
    },
    /// After this payment method in a by-owner listing (ordered by payment method id).
    PaymentMethodsAfter {
        /// Last payment method id returned.
        payment_method_id: Uuid,
    },
}

impl PageToken {
    /// The opaque string handed to clients.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(42);
        match self {
            PageToken::WalletsAfter { wallet_id } => {
                bytes.extend([WALLETS_TAG, FORMAT]);
                bytes.extend(wallet_id.as_bytes());
            }
            PageToken::HistoryBefore {
                wallet_id,
                sequence,
            } => {
                bytes.extend([HISTORY_TAG, FORMAT]);
                bytes.extend(wallet_id.as_bytes());
                bytes.extend(sequence.to_be_bytes());
            }
            PageToken::TopUpsBefore {
                wallet_id,
                created_at_ms,
                top_up_id,
            } => {
                bytes.extend([TOP_UPS_TAG, TOP_UPS_FORMAT]);
                bytes.extend(wallet_id.as_bytes());
                bytes.extend(created_at_ms.to_be_bytes());
                bytes.extend(top_up_id.as_bytes());
            }
            PageToken::PaymentMethodsAfter { payment_method_id } => {
                bytes.extend([PAYMENT_METHODS_TAG, FORMAT]);
                bytes.extend(payment_method_id.as_bytes());
            }
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses a token produced by [`PageToken::encode`]; anything else is
    /// [`StoreError::InvalidPageToken`].
    pub fn decode(token: &str) -> Result<PageToken, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| StoreError::InvalidPageToken)?;
        match bytes.as_slice() {
            [WALLETS_TAG, FORMAT, id @ ..] if id.len() == 16 => Ok(PageToken::WalletsAfter {
                wallet_id: uuid_from(id)?,
            }),
            [HISTORY_TAG, FORMAT, rest @ ..] if rest.len() == 24 => {
                let (id, sequence) = rest.split_at(16);
                let sequence: [u8; 8] = sequence
                    .try_into()
                    .map_err(|_| StoreError::InvalidPageToken)?;
                Ok(PageToken::HistoryBefore {
                    wallet_id: uuid_from(id)?,
                    sequence: u64::from_be_bytes(sequence),
                })
            }
            [TOP_UPS_TAG, TOP_UPS_FORMAT, rest @ ..] if rest.len() == 40 => {
                let (wallet_id, rest) = rest.split_at(16);
                let (created_at_ms, top_up_id) = rest.split_at(8);
                let created_at_ms: [u8; 8] = created_at_ms
                    .try_into()
                    .map_err(|_| StoreError::InvalidPageToken)?;
                Ok(PageToken::TopUpsBefore {
                    wallet_id: uuid_from(wallet_id)?,
                    created_at_ms: i64::from_be_bytes(created_at_ms),
                    top_up_id: uuid_from(top_up_id)?,
                })
            }
            [PAYMENT_METHODS_TAG, FORMAT, id @ ..] if id.len() == 16 => {
                Ok(PageToken::PaymentMethodsAfter {
                    payment_method_id: uuid_from(id)?,
                })
            }
            _ => Err(StoreError::InvalidPageToken),
        }
    }

    /// The wallet id a by-owner listing continues after, from an optional token.
    pub fn wallets_after(token: Option<&str>) -> Result<Option<Uuid>, StoreError> {
        match token.map(PageToken::decode).transpose()? {
            None => Ok(None),
            Some(PageToken::WalletsAfter { wallet_id }) => Ok(Some(wallet_id)),
            Some(_) => Err(StoreError::InvalidPageToken),
        }
    }

    /// The sequence a history listing of `wallet_id` continues before, from an optional token.
    pub fn history_before(token: Option<&str>, wallet_id: Uuid) -> Result<Option<u64>, StoreError> {
        match token.map(PageToken::decode).transpose()? {
            None => Ok(None),
            Some(PageToken::HistoryBefore {
                wallet_id: listed,
                sequence,
            }) if listed == wallet_id => Ok(Some(sequence)),
            Some(_) => Err(StoreError::InvalidPageToken),
        }
    }

    /// The (creation time, top-up id) a listing of `wallet_id`'s top-ups continues before, from
    /// an optional token.
    pub fn top_ups_before(
        token: Option<&str>,
        wallet_id: Uuid,
    ) -> Result<Option<(i64, Uuid)>, StoreError> {
        match token.map(PageToken::decode).transpose()? {
            None => Ok(None),
            Some(PageToken::TopUpsBefore {
                wallet_id: listed,
                created_at_ms,
                top_up_id,
            }) if listed == wallet_id => Ok(Some((created_at_ms, top_up_id))),
            Some(_) => Err(StoreError::InvalidPageToken),
        }
    }

    /// The payment method id a by-owner listing continues after, from an optional token.
    pub fn payment_methods_after(token: Option<&str>) -> Result<Option<Uuid>, StoreError> {
        match token.map(PageToken::decode).transpose()? {
            None => Ok(None),
            Some(PageToken::PaymentMethodsAfter { payment_method_id }) => {
                Ok(Some(payment_method_id))
            }
            Some(_) => Err(StoreError::InvalidPageToken),
        }
    }
}

fn uuid_from(bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| StoreError::InvalidPageToken)
}

/// The page size to use for a requested one: 0 means [`DEFAULT_PAGE_SIZE`], above
/// [`MAX_PAGE_SIZE`] is [`StoreError::PageSizeTooLarge`].
pub fn resolve_page_size(requested: u32) -> Result<u32, StoreError> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n <= MAX_PAGE_SIZE => Ok(n),
        _ => Err(StoreError::PageSizeTooLarge { max: MAX_PAGE_SIZE }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let wallet_id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        for token in [
            PageToken::WalletsAfter { wallet_id },
            PageToken::HistoryBefore {
                wallet_id,
                sequence: u64::MAX,
            },
            PageToken::TopUpsBefore {
                wallet_id,
                created_at_ms: -1,
                top_up_id: Uuid::from_u128(u128::MAX),
            },
            PageToken::TopUpsBefore {
                wallet_id,
                created_at_ms: i64::MAX,
                top_up_id: Uuid::nil(),
            },
            PageToken::PaymentMethodsAfter {
                payment_method_id: wallet_id,
            },
        ] {
            let encoded = token.encode();
            assert!(
                encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{encoded} is not URL-safe"
            );
            assert_eq!(PageToken::decode(&encoded).expect("decode"), token);
        }
    }

    #[test]
    fn foreign_tokens_are_refused() {
        let wallet_id = Uuid::from_u128(1);
        let history = PageToken::HistoryBefore {
            wallet_id,
            sequence: 3,
        }
        .encode();
        let wallets = PageToken::WalletsAfter { wallet_id }.encode();
        fn invalid<T>(result: Result<T, StoreError>) -> bool {
            matches!(result, Err(StoreError::InvalidPageToken))
        }
        assert!(invalid(PageToken::wallets_after(Some(&history))));
        assert!(invalid(PageToken::history_before(
            Some(&wallets),
            wallet_id
        )));
        assert!(invalid(PageToken::history_before(
            Some(&history),
            Uuid::from_u128(2)
        )));
        assert!(invalid(PageToken::decode("not base64!")));
        assert!(invalid(PageToken::decode("")));
        // The right tag with a truncated key.
        assert!(invalid(PageToken::decode(&wallets[..wallets.len() - 4])));
        assert_eq!(
            PageToken::history_before(Some(&history), wallet_id).expect("valid"),
            Some(3)
        );
        assert_eq!(PageToken::wallets_after(None).expect("none"), None);

        let top_ups = PageToken::TopUpsBefore {
            wallet_id,
            created_at_ms: 1_700_000_000_000,
            top_up_id: Uuid::from_u128(9),
        }
        .encode();
        let methods = PageToken::PaymentMethodsAfter {
            payment_method_id: Uuid::from_u128(9),
        }
        .encode();
        assert!(invalid(PageToken::top_ups_before(
            Some(&history),
            wallet_id
        )));
        assert!(invalid(PageToken::top_ups_before(
            Some(&methods),
            wallet_id
        )));
        assert!(invalid(PageToken::top_ups_before(
            Some(&top_ups),
            Uuid::from_u128(2)
        )));
        assert!(invalid(PageToken::payment_methods_after(Some(&wallets))));
        assert!(invalid(PageToken::payment_methods_after(Some(&top_ups))));
        assert!(invalid(PageToken::wallets_after(Some(&methods))));
        assert!(invalid(PageToken::history_before(
            Some(&top_ups),
            wallet_id
        )));
        assert_eq!(
            PageToken::top_ups_before(Some(&top_ups), wallet_id).expect("valid"),
            Some((1_700_000_000_000, Uuid::from_u128(9)))
        );
        // A token of the list's first format (paged by id alone) is refused, not misread.
        let mut by_id = vec![TOP_UPS_TAG, FORMAT];
        by_id.extend(wallet_id.as_bytes());
        by_id.extend(Uuid::from_u128(9).as_bytes());
        assert!(invalid(PageToken::top_ups_before(
            Some(&URL_SAFE_NO_PAD.encode(by_id)),
            wallet_id
        )));
        assert_eq!(
            PageToken::payment_methods_after(Some(&methods)).expect("valid"),
            Some(Uuid::from_u128(9))
        );
    }

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(resolve_page_size(0).expect("default"), DEFAULT_PAGE_SIZE);
        assert_eq!(resolve_page_size(1).expect("one"), 1);
        assert_eq!(
            resolve_page_size(MAX_PAGE_SIZE).expect("max"),
            MAX_PAGE_SIZE
        );
        assert!(matches!(
            resolve_page_size(MAX_PAGE_SIZE + 1),
            Err(StoreError::PageSizeTooLarge { max: MAX_PAGE_SIZE })
        ));
    }
}
