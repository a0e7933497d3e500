//! Payment providers behind one trait: tokenize a card, charge a token, cancel, refund.
//!
//! A card number enters the gateway only as a [`CardInput`] on its way to [`PaymentProvider::tokenize`]:
//! it has no `Debug` or `Display` that shows the number, is never serialized, and is dropped as
//! soon as the provider answered. Everything after that works on [`CardDetails`] (brand, last 4,
//! expiry and the provider's token), which cannot hold a number.

use std::fmt;

use purse_domain::payment::{
    CardDetails, CardError, DeclineReason, ProviderEventId, RefundFailureReason,
};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Shortest and longest card numbers accepted (ISO/IEC 7812).
pub const PAN_DIGITS: std::ops::RangeInclusive<usize> = 12..=19;

/// A card as the payer typed it. Lives in memory only until it is tokenized.
pub struct CardInput {
    number: String,
    exp_month: u32,
    exp_year: u32,
    cvc: String,
}

// Hand-written so that no log line, panic message or error can ever show the number or CVC.
impl fmt::Debug for CardInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardInput")
            .field("last4", &self.last4())
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .finish_non_exhaustive()
    }
}

/// Why what the payer typed is not a card. The messages are shown on the checkout page and
/// never repeat the number.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CardInputError {
    /// Not 12 to 19 digits (spaces and dashes between groups are allowed).
    #[error("the card number must have 12 to 19 digits")]
    NumberLength,
    /// The check digit is wrong: a typo.
    #[error("the card number is not valid; please check it")]
    NumberChecksum,
    /// Not `MM/YY` (or `MM/YYYY`) with a month 1..=12.
    #[error("the expiry date must be MM/YY")]
    Expiry,
    /// Not 3 or 4 digits.
    #[error("the security code (CVC) must be 3 or 4 digits")]
    Cvc,
}

impl CardInput {
    /// Parses the checkout form's fields: the number (digits, optionally grouped by spaces or
    /// dashes), the expiry `MM/YY` or `MM/YYYY`, and the CVC.
    pub fn parse(number: &str, expiry: &str, cvc: &str) -> Result<Self, CardInputError> {
        let mut digits = String::with_capacity(19);
        for c in number.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(CardInputError::NumberLength),
            }
            if digits.len() > *PAN_DIGITS.end() {
                return Err(CardInputError::NumberLength);
            }
        }
        if !PAN_DIGITS.contains(&digits.len()) {
            return Err(CardInputError::NumberLength);
        }
        if !luhn_valid(&digits) {
            return Err(CardInputError::NumberChecksum);
        }
        let (month, year) = expiry
            .trim()
            .split_once('/')
            .ok_or(CardInputError::Expiry)?;
        let month: u32 = parse_digits(month.trim(), 1..=2).ok_or(CardInputError::Expiry)?;
        let year_text = year.trim();
        let year: u32 = match year_text.len() {
            2 => 2000 + parse_digits::<u32>(year_text, 2..=2).ok_or(CardInputError::Expiry)?,
            4 => parse_digits(year_text, 4..=4).ok_or(CardInputError::Expiry)?,
            _ => return Err(CardInputError::Expiry),
        };
        if !(1..=12).contains(&month) {
            return Err(CardInputError::Expiry);
        }
        let cvc = cvc.trim();
        if parse_digits::<u32>(cvc, 3..=4).is_none() {
            return Err(CardInputError::Cvc);
        }
        Ok(Self {
            number: digits,
            exp_month: month,
            exp_year: year,
            cvc: cvc.to_owned(),
        })
    }

    /// The number's digits, for the provider only.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The last four digits.
    pub fn last4(&self) -> &str {
        &self.number[self.number.len() - 4..]
    }

    /// Expiry month, 1..=12.
    pub fn exp_month(&self) -> u32 {
        self.exp_month
    }

    /// Expiry year, four digits.
    pub fn exp_year(&self) -> u32 {
        self.exp_year
    }

    /// The security code, for the provider only.
    pub fn cvc(&self) -> &str {
        &self.cvc
    }
}

fn parse_digits<T: std::str::FromStr>(
    text: &str,
    len: std::ops::RangeInclusive<usize>,
) -> Option<T> {
    if len.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// The Luhn check digit test every card number passes.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (index, byte) in digits.bytes().rev().enumerate() {
        let mut digit = u32::from(byte - b'0');
        if index % 2 == 1 {
            digit *= 2;
            if digit > 9 {
                digit -= 9;
            }
        }
        sum += digit;
    }
    sum.is_multiple_of(10)
}

/// A charge of a tokenized card.
#[derive(Clone, Debug)]
pub struct ChargeRequest {
    /// The intent's tenant (echoed in webhooks, which need it to address the intent).
    pub tenant: String,
    /// The intent: also the provider's idempotency key, so a repeated charge is the same charge.
    pub payment_id: Uuid,
    /// The provider's token of the card.
    pub token: String,
    /// How much.
    pub amount: Decimal,
    /// The currency code.
    pub asset: String,
    /// Whether the payer is present. Providers (and card issuers behind them) treat a charge
    /// the payer makes differently from one the merchant makes later with a stored card.
    pub initiator: ChargeInitiator,
}

/// Who starts a charge: the card networks' customer-initiated / merchant-initiated split
/// (Stripe's `off_session`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ChargeInitiator {
    /// The payer is on the hosted checkout page and typed the card: on-session.
    Payer,
    /// Purse charges a stored payment method with no payer present (`manual_with_payment_method`
    /// and `auto` top-ups): off-session, merchant-initiated.
    Merchant,
}

/// What the provider answered to a charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Captured at once.
    Succeeded {
        /// The provider's id of the capture (the webhook for it carries the same id).
        provider_event_id: ProviderEventId,
    },
    /// Declined.
    Declined {
        /// The provider's id of the answer.
        provider_event_id: ProviderEventId,
        /// Why.
        reason: DeclineReason,
    },
    /// Accepted; the result arrives later by webhook.
    Pending,
}

/// A refund of (part of) a captured charge.
#[derive(Clone, Debug)]
pub struct RefundRequest {
    /// The intent's tenant.
    pub tenant: String,
    /// The intent charged.
    pub payment_id: Uuid,
    /// Purse's id of the refund: the provider's idempotency key for it.
    pub refund_id: Uuid,
    /// How much.
    pub amount: Decimal,
}

/// What the provider answered to a refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundOutcome {
    /// The money went back.
    Succeeded {
        /// The provider's id of the answer.
        provider_event_id: ProviderEventId,
    },
    /// The provider could not return it.
    Failed {
        /// The provider's id of the answer.
        provider_event_id: ProviderEventId,
        /// Why.
        reason: RefundFailureReason,
    },
}

/// Why a provider call failed (the outcome is unknown; calls are idempotent, so a retry is safe).
#[derive(thiserror::Error, Debug)]
pub enum ProviderError {
    /// The provider gave back card details Purse refuses (a token that looks like a number...).
    #[error("provider returned an unusable card: {0}")]
    InvalidCard(#[from] CardError),
    /// The provider does not know this token.
    #[error("unknown card token")]
    UnknownToken,
    /// The provider could not be reached or failed.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

/// A payment provider adapter. Every call is idempotent: charges by payment id, refunds by
/// refund id.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// The name in `POST /webhooks/{name}` and in the `payments.provider` setting.
    fn name(&self) -> &'static str;

    /// Exchanges a card for the provider's token at once; only brand, last 4, expiry and the
    /// token come back.
    async fn tokenize(&self, card: &CardInput) -> Result<CardDetails, ProviderError>;

    /// Charges a token (captured at once when it succeeds).
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, ProviderError>;

    /// Drops a charge that was not captured, if the provider holds one.
    async fn cancel(&self, tenant: &str, payment_id: Uuid) -> Result<(), ProviderError>;

    /// Returns money of a captured charge.
    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_input_accepts_grouped_numbers_and_both_expiry_forms() {
        let card = CardInput::parse("4242 4242 4242 4242", "12/34", "123").expect("valid");
        assert_eq!(
            (card.last4(), card.exp_month(), card.exp_year()),
            ("4242", 12, 2034)
        );
        let card = CardInput::parse("4000-0000-0000-0002", "01/2031", "1234").expect("valid");
        assert_eq!(
            (card.last4(), card.exp_month(), card.exp_year()),
            ("0002", 1, 2031)
        );
    }

    #[test]
    fn card_input_rejects_what_is_not_a_card() {
        let parse = |n: &str, e: &str, c: &str| CardInput::parse(n, e, c).map(|_| ());
        assert_eq!(
            parse("4242", "12/34", "123"),
            Err(CardInputError::NumberLength)
        );
        assert_eq!(
            parse("4242424242424241", "12/34", "123"),
            Err(CardInputError::NumberChecksum)
        );
        assert_eq!(
            parse("4242x424242424242", "12/34", "123"),
            Err(CardInputError::NumberLength)
        );
        assert_eq!(
            parse("4242424242424242", "13/34", "123"),
            Err(CardInputError::Expiry)
        );
        assert_eq!(
            parse("4242424242424242", "1234", "123"),
            Err(CardInputError::Expiry)
        );
        assert_eq!(
            parse("4242424242424242", "12/34", "12"),
            Err(CardInputError::Cvc)
        );
    }

    #[test]
    fn card_input_debug_never_shows_the_number_or_cvc() {
        let card = CardInput::parse("4242424242424242", "12/34", "987").expect("valid");
        let debug = format!("{card:?}");
        assert!(
            !debug.contains("4242424242424242") && !debug.contains("987"),
            "{debug}"
        );
        assert!(debug.contains("4242"));
    }
}
