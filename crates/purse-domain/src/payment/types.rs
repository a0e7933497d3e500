//! Value types of the payments gateway: statuses, reasons, cards and provider event ids.

use std::fmt;

use crate::support::{first_invisible_byte, named_enum, utc_year_month};
use crate::time::Timestamp;

named_enum! {
    /// Where a payment intent is in its life.
    pub enum PaymentStatus {
        /// Created; waiting for a card (hosted page) or for the stored card to be charged.
        RequiresPaymentMethod => "requires_payment_method",
        /// A card was submitted; the provider has not answered yet.
        Processing => "processing",
        /// The provider captured the funds. Final, except for refunds.
        Succeeded => "succeeded",
        /// The provider declined. Final, except that a capture reported later is still recorded.
        Failed => "failed",
        /// Cancelled before capture. Final, except that a capture reported later is still
        /// recorded (and then refunded by the saga).
        Canceled => "canceled",
    }
}

impl PaymentStatus {
    /// Whether a card may still be charged: a capture, decline or cancel would be on time.
    pub fn is_open(self) -> bool {
        matches!(self, Self::RequiresPaymentMethod | Self::Processing)
    }
}

named_enum! {
    /// Why the provider declined a payment; what the payer is told in general terms.
    pub enum DeclineReason {
        /// Declined by the issuer without a more precise reason.
        Declined => "declined",
        /// Not enough funds or credit on the card.
        InsufficientFunds => "insufficient_funds",
        /// The card has expired.
        ExpiredCard => "expired_card",
        /// The security code was wrong.
        IncorrectCvc => "incorrect_cvc",
        /// The issuer demanded authentication that did not complete.
        AuthenticationRequired => "authentication_required",
        /// Refused as likely fraud.
        Fraudulent => "fraudulent",
        /// The provider or issuer failed to process the charge.
        ProcessingError => "processing_error",
    }
}

named_enum! {
    /// Why a payment intent was cancelled.
    pub enum CancelReason {
        /// The payer or the integrator abandoned it.
        RequestedByCustomer => "requested_by_customer",
        /// Its top-up reached its deadline without a capture.
        TopUpExpired => "top_up_expired",
        /// Nobody completed it in time.
        Abandoned => "abandoned",
    }
}

named_enum! {
    /// Why money was given back to the payer.
    pub enum RefundReason {
        /// Compensation: the capture arrived after the top-up had expired or failed.
        LateCapture => "late_capture",
        /// Compensation: the wallet refused the credit the payment was for.
        CreditRejected => "credit_rejected",
        /// The payer or the integrator asked for it.
        RequestedByCustomer => "requested_by_customer",
        /// The payer was charged twice for the same thing.
        Duplicate => "duplicate",
        /// The charge was fraudulent.
        Fraudulent => "fraudulent",
    }
}

named_enum! {
    /// Where a refund is in its life; it leaves `Pending` exactly once.
    pub enum RefundStatus {
        /// Requested; counts against what may still be refunded until the provider answers.
        Pending => "pending",
        /// The provider returned the money.
        Succeeded => "succeeded",
        /// The provider could not return the money; the amount is refundable again.
        Failed => "failed",
    }
}

named_enum! {
    /// Why the provider could not perform a refund.
    pub enum RefundFailureReason {
        /// The provider refused it.
        ProviderDeclined => "provider_declined",
        /// The card can no longer receive funds (closed or replaced).
        CardClosed => "card_closed",
        /// The provider failed to process it.
        ProcessingError => "processing_error",
    }
}

named_enum! {
    /// The card network, as the provider reports it.
    pub enum CardBrand {
        /// Visa.
        Visa => "visa",
        /// Mastercard.
        Mastercard => "mastercard",
        /// American Express.
        Amex => "amex",
        /// Discover.
        Discover => "discover",
        /// JCB.
        Jcb => "jcb",
        /// Diners Club.
        DinersClub => "diners_club",
        /// UnionPay.
        UnionPay => "unionpay",
        /// A network the provider did not name.
        Unknown => "unknown",
    }
}

/// Longest provider token or provider event id, in bytes.
pub const MAX_PROVIDER_ID_BYTES: usize = 255;

/// Shortest run of consecutive digits treated as a card number (PANs have 13 to 19 digits).
pub const PAN_MIN_DIGITS: usize = 13;

/// Earliest and latest accepted card expiry year.
pub const CARD_EXP_YEARS: std::ops::RangeInclusive<u32> = 2000..=2199;

/// What Purse keeps of a card: never its number.
///
/// The number is tokenized by the provider before anything reaches the domain; this type has no
/// field that could hold it, and its only constructor refuses a token that looks like one, so a
/// card number cannot enter an event by mistake. `Debug` redacts the token, which can charge
/// the card together with the provider credentials.
///
/// Serialized as `{brand, last4, exp_month, exp_year, provider_token}` and validated again by
/// [`CardDetails::new`] when read, so no card number enters through the wire either.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "CardWire", into = "CardWire")]
pub struct CardDetails {
    brand: CardBrand,
    last4: String,
    exp_month: u32,
    exp_year: u32,
    provider_token: String,
}

impl CardDetails {
    /// Validates every part: `last4` is exactly four ASCII digits, `exp_month` 1..=12,
    /// `exp_year` within [`CARD_EXP_YEARS`], and `provider_token` 1..=255 visible ASCII
    /// characters without a run of [`PAN_MIN_DIGITS`] or more digits.
    pub fn new(
        brand: CardBrand,
        last4: &str,
        exp_month: u32,
        exp_year: u32,
        provider_token: &str,
    ) -> Result<Self, CardError> {
        if last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::InvalidLast4);
        }
        if !(1..=12).contains(&exp_month) {
            return Err(CardError::InvalidExpMonth { month: exp_month });
        }
        if !CARD_EXP_YEARS.contains(&exp_year) {
            return Err(CardError::InvalidExpYear { year: exp_year });
        }
        if provider_token.is_empty() {
            return Err(CardError::TokenMissing);
        }
        if provider_token.len() > MAX_PROVIDER_ID_BYTES {
            return Err(CardError::TokenTooLong {
                max_bytes: MAX_PROVIDER_ID_BYTES,
            });
        }
        if let Some(position) = first_invisible_byte(provider_token) {
            return Err(CardError::TokenInvalidCharacter { position });
        }
        if longest_digit_run(provider_token) >= PAN_MIN_DIGITS {
            return Err(CardError::TokenLooksLikeCardNumber);
        }
        Ok(Self {
            brand,
            last4: last4.to_owned(),
            exp_month,
            exp_year,
            provider_token: provider_token.to_owned(),
        })
    }

    /// The card network.
    pub fn brand(&self) -> CardBrand {
        self.brand
    }

    /// The last four digits of the number, for display.
    pub fn last4(&self) -> &str {
        &self.last4
    }

    /// Expiry month, 1..=12.
    pub fn exp_month(&self) -> u32 {
        self.exp_month
    }

    /// Expiry year, four digits.
    pub fn exp_year(&self) -> u32 {
        self.exp_year
    }

    /// The provider's token standing for the card; what a charge of a stored card sends.
    pub fn provider_token(&self) -> &str {
        &self.provider_token
    }

    /// Whether the card has expired at `now`: cards are valid through the last day of their
    /// expiry month, in UTC.
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        let (year, month) = utc_year_month(now);
        (i64::from(self.exp_year), self.exp_month) < (year, month)
    }
}

/// The serialized form of [`CardDetails`].
#[derive(serde::Serialize, serde::Deserialize)]
struct CardWire {
    brand: CardBrand,
    last4: String,
    exp_month: u32,
    exp_year: u32,
    provider_token: String,
}

impl TryFrom<CardWire> for CardDetails {
    type Error = CardError;

    fn try_from(wire: CardWire) -> Result<Self, CardError> {
        CardDetails::new(
            wire.brand,
            &wire.last4,
            wire.exp_month,
            wire.exp_year,
            &wire.provider_token,
        )
    }
}

impl From<CardDetails> for CardWire {
    fn from(card: CardDetails) -> Self {
        CardWire {
            brand: card.brand,
            last4: card.last4,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            provider_token: card.provider_token,
        }
    }
}

impl fmt::Debug for CardDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardDetails")
            .field("brand", &self.brand)
            .field("last4", &self.last4)
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("provider_token", &"<redacted>")
            .finish()
    }
}

fn longest_digit_run(text: &str) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for byte in text.bytes() {
        if byte.is_ascii_digit() {
            current += 1;
            longest = longest.max(current);
        } else {
            current = 0;
        }
    }
    longest
}

/// Why card details were refused. INVALID_ARGUMENT `INVALID_CARD` with this as the detail.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CardError {
    /// `last4` is not exactly four digits.
    #[error("last4 must be exactly four digits")]
    InvalidLast4,
    /// The expiry month is outside 1..=12.
    #[error("expiry month {month} is not 1..=12")]
    InvalidExpMonth {
        /// The month given.
        month: u32,
    },
    /// The expiry year is outside [`CARD_EXP_YEARS`].
    #[error("expiry year {year} is out of range")]
    InvalidExpYear {
        /// The year given.
        year: u32,
    },
    /// The provider token is empty.
    #[error("provider token is required")]
    TokenMissing,
    /// The provider token is longer than `max_bytes`.
    #[error("provider token is longer than {max_bytes} bytes")]
    TokenTooLong {
        /// [`MAX_PROVIDER_ID_BYTES`].
        max_bytes: usize,
    },
    /// The byte at `position` is not visible ASCII.
    #[error("provider token has an invalid character at byte {position}")]
    TokenInvalidCharacter {
        /// Zero-based byte offset of the first offending byte.
        position: usize,
    },
    /// The token holds a run of 13 or more digits: possibly a card number, which Purse never
    /// accepts.
    #[error("provider token looks like a card number; send the provider's token instead")]
    TokenLooksLikeCardNumber,
}

/// The provider's id of one webhook event (or of one synchronous answer), used to ignore the
/// provider's retries: 1 to 255 visible ASCII characters.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderEventId(String);

impl ProviderEventId {
    /// Accepts 1..=255 visible ASCII bytes.
    pub fn parse(text: &str) -> Result<Self, ProviderEventIdError> {
        if text.is_empty() {
            return Err(ProviderEventIdError::Missing);
        }
        if text.len() > MAX_PROVIDER_ID_BYTES {
            return Err(ProviderEventIdError::TooLong {
                max_bytes: MAX_PROVIDER_ID_BYTES,
            });
        }
        if let Some(position) = first_invisible_byte(text) {
            return Err(ProviderEventIdError::InvalidCharacter { position });
        }
        Ok(Self(text.to_owned()))
    }

    /// The id as the provider sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderEventId {
    type Error = ProviderEventIdError;

    fn try_from(text: String) -> Result<Self, ProviderEventIdError> {
        Self::parse(&text)
    }
}

impl From<ProviderEventId> for String {
    fn from(id: ProviderEventId) -> Self {
        id.0
    }
}

/// Why a provider event id was refused. INVALID_ARGUMENT `INVALID_PROVIDER_EVENT_ID`.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProviderEventIdError {
    /// The id is empty.
    #[error("provider event id is required")]
    Missing,
    /// The id is longer than `max_bytes`.
    #[error("provider event id is longer than {max_bytes} bytes")]
    TooLong {
        /// [`MAX_PROVIDER_ID_BYTES`].
        max_bytes: usize,
    },
    /// The byte at `position` is not visible ASCII.
    #[error("provider event id has an invalid character at byte {position}")]
    InvalidCharacter {
        /// Zero-based byte offset of the first offending byte.
        position: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MILLIS_PER_DAY;

    fn card(token: &str) -> Result<CardDetails, CardError> {
        CardDetails::new(CardBrand::Visa, "4242", 12, 2030, token)
    }

    #[test]
    fn card_details_keep_only_brand_last4_expiry_and_token() {
        let card = card("tok_visa_1").expect("valid");
        assert_eq!(
            (
                card.brand(),
                card.last4(),
                card.exp_month(),
                card.exp_year()
            ),
            (CardBrand::Visa, "4242", 12, 2030)
        );
        assert_eq!(card.provider_token(), "tok_visa_1");
        let debug = format!("{card:?}");
        assert!(
            debug.contains("4242") && !debug.contains("tok_visa_1"),
            "{debug}"
        );
    }

    #[test]
    fn a_card_number_is_never_accepted_as_a_token() {
        for pan in [
            "4242424242424242",
            "tok_4000000000000002",
            "378282246310005",
            "4242424242424",
        ] {
            assert_eq!(card(pan), Err(CardError::TokenLooksLikeCardNumber), "{pan}");
        }
        // Spaces or dashes between groups are not visible ASCII-clean either way.
        assert_eq!(
            card("4242 4242 4242 4242"),
            Err(CardError::TokenInvalidCharacter { position: 4 })
        );
        // Twelve digits are not a card number.
        assert!(card("tok_424242424242").is_ok());
    }

    #[test]
    fn card_parts_are_validated() {
        let new = |last4: &str, month, year, token: &str| {
            CardDetails::new(CardBrand::Mastercard, last4, month, year, token)
        };
        assert_eq!(new("424", 1, 2030, "t"), Err(CardError::InvalidLast4));
        assert_eq!(new("42a2", 1, 2030, "t"), Err(CardError::InvalidLast4));
        assert_eq!(
            new("4242", 0, 2030, "t"),
            Err(CardError::InvalidExpMonth { month: 0 })
        );
        assert_eq!(
            new("4242", 13, 2030, "t"),
            Err(CardError::InvalidExpMonth { month: 13 })
        );
        assert_eq!(
            new("4242", 1, 1999, "t"),
            Err(CardError::InvalidExpYear { year: 1999 })
        );
        assert_eq!(new("4242", 1, 2030, ""), Err(CardError::TokenMissing));
        assert_eq!(
            new("4242", 1, 2030, &"t".repeat(256)),
            Err(CardError::TokenTooLong { max_bytes: 255 })
        );
        assert_eq!(
            new("4242", 1, 2030, "tok\n"),
            Err(CardError::TokenInvalidCharacter { position: 3 })
        );
    }

    #[test]
    fn a_card_is_valid_through_its_expiry_month() {
        // Day 20 000 is 2024-10-04.
        let october_2024 = Timestamp::from_millis(20_000 * MILLIS_PER_DAY);
        let expiring = |month, year| {
            CardDetails::new(CardBrand::Visa, "4242", month, year, "tok").expect("valid")
        };
        assert!(!expiring(10, 2024).is_expired_at(october_2024));
        assert!(expiring(9, 2024).is_expired_at(october_2024));
        assert!(expiring(12, 2023).is_expired_at(october_2024));
        assert!(!expiring(1, 2025).is_expired_at(october_2024));
    }

    #[test]
    fn the_wire_forms_are_validated_when_read() {
        let wire = |token: &str| CardWire {
            brand: CardBrand::Visa,
            last4: "4242".into(),
            exp_month: 12,
            exp_year: 2030,
            provider_token: token.into(),
        };
        assert_eq!(
            CardDetails::try_from(wire("4242424242424242")),
            Err(CardError::TokenLooksLikeCardNumber)
        );
        let card = CardDetails::try_from(wire("tok_1")).expect("valid");
        let back = CardWire::from(card.clone());
        assert_eq!(CardDetails::try_from(back), Ok(card));
        assert_eq!(
            ProviderEventId::try_from(String::new()),
            Err(ProviderEventIdError::Missing)
        );
        assert_eq!(
            String::from(ProviderEventId::try_from("evt_1".to_owned()).expect("valid")),
            "evt_1"
        );
    }

    #[test]
    fn provider_event_ids_are_visible_ascii() {
        assert_eq!(
            ProviderEventId::parse("evt_1").expect("valid").as_str(),
            "evt_1"
        );
        assert_eq!(
            ProviderEventId::parse(""),
            Err(ProviderEventIdError::Missing)
        );
        assert_eq!(
            ProviderEventId::parse(&"e".repeat(256)),
            Err(ProviderEventIdError::TooLong { max_bytes: 255 })
        );
        assert_eq!(
            ProviderEventId::parse("evt 1"),
            Err(ProviderEventIdError::InvalidCharacter { position: 3 })
        );
    }

    #[test]
    fn names_round_trip() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(*status));
        }
        for reason in DeclineReason::ALL {
            assert_eq!(DeclineReason::parse(reason.as_str()), Some(*reason));
        }
        for reason in CancelReason::ALL {
            assert_eq!(CancelReason::parse(reason.as_str()), Some(*reason));
        }
        for reason in RefundReason::ALL {
            assert_eq!(RefundReason::parse(reason.as_str()), Some(*reason));
        }
        for status in RefundStatus::ALL {
            assert_eq!(RefundStatus::parse(status.as_str()), Some(*status));
        }
        for reason in RefundFailureReason::ALL {
            assert_eq!(RefundFailureReason::parse(reason.as_str()), Some(*reason));
        }
        for brand in CardBrand::ALL {
            assert_eq!(CardBrand::parse(brand.as_str()), Some(*brand));
        }
        assert_eq!(
            PaymentStatus::RequiresPaymentMethod.as_str(),
            "requires_payment_method"
        );
        assert_eq!(
            DeclineReason::InsufficientFunds.to_string(),
            "insufficient_funds"
        );
    }
}
