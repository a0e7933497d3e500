//! Assets and exact amounts. Money is `rust_decimal::Decimal` everywhere: never a float.

use rust_decimal::Decimal;

/// 10^15 units: the largest amount accepted.
pub const MAX_AMOUNT_UNITS: i64 = 1_000_000_000_000_000;

/// The finest scale a tenant-defined unit may have (18 decimal places).
pub const MAX_UNIT_SCALE: u32 = 18;

/// Longest tenant-defined unit code, in bytes.
pub const MAX_UNIT_CODE_BYTES: usize = 32;

/// Digits a `Decimal` mantissa always holds exactly (it holds up to 2^96 - 1, about 7.9 * 10^28).
const EXACT_DIGITS: u32 = 28;

/// ISO 4217 codes with their minor units. Kept small and explicit: adding a currency is a
/// deliberate change, and an unknown code is rejected rather than guessed.
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("VND", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("ZAR", 2),
];

/// What a wallet holds: an ISO 4217 currency or a tenant-defined unit, with its scale.
///
/// Serialized as `{code, scale}` and validated again by [`Asset::parse`] when read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "AssetWire", into = "AssetWire")]
pub struct Asset {
    code: String,
    scale: u32,
    is_currency: bool,
}

/// The serialized form of an [`Asset`].
#[derive(serde::Serialize, serde::Deserialize)]
struct AssetWire {
    code: String,
    scale: u32,
}

impl TryFrom<AssetWire> for Asset {
    type Error = AssetError;

    fn try_from(wire: AssetWire) -> Result<Self, Self::Error> {
        Asset::parse(&wire.code, Some(wire.scale))
    }
}

impl From<Asset> for AssetWire {
    fn from(asset: Asset) -> Self {
        Self {
            code: asset.code,
            scale: asset.scale,
        }
    }
}

impl Asset {
    /// ISO 4217 code (3 upper-case letters, from a built-in table with minor units: at least USD
    /// EUR GBP CHF CAD AUD NZD SEK NOK DKK PLN CZK HUF JPY KRW CNY HKD SGD INR BRL MXN ZAR TRY AED
    /// SAR ILS THB IDR MYR PHP VND CLP ISK BHD KWD OMR JOD TND IQD LYD):
    /// scale from the table; `scale`, if given, must match. Otherwise a tenant-defined unit:
    /// lower-case `[a-z][a-z0-9_]{0,31}` ("points", "ride_credits") with a required scale 0..=18.
    pub fn parse(code: &str, scale: Option<u32>) -> Result<Asset, AssetError> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            let Some(&(_, expected)) = CURRENCIES.iter().find(|(known, _)| *known == code) else {
                return Err(AssetError::UnknownCurrency {
                    code: code.to_owned(),
                });
            };
            if let Some(given) = scale
                && given != expected
            {
                return Err(AssetError::ScaleMismatch { expected, given });
            }
            return Ok(Asset {
                code: code.to_owned(),
                scale: expected,
                is_currency: true,
            });
        }
        if !is_unit_code(code) {
            return Err(AssetError::InvalidCode);
        }
        let scale = scale.ok_or(AssetError::ScaleRequired)?;
        if scale > MAX_UNIT_SCALE {
            return Err(AssetError::ScaleOutOfRange { scale });
        }
        Ok(Asset {
            code: code.to_owned(),
            scale,
            is_currency: false,
        })
    }

    /// The ISO code ("USD") or the unit's name ("points").
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Decimal places an amount of this asset may have (USD 2, JPY 0, BHD 3).
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// Whether this is an ISO 4217 currency rather than a tenant-defined unit.
    pub fn is_currency(&self) -> bool {
        self.is_currency
    }

    /// The largest amount (and balance) of this asset: [`MAX_AMOUNT_UNITS`], lowered for scales
    /// above 13 to 10^(28 - scale) so that every amount, and the sum of any two, stays exact at
    /// the asset's full scale.
    pub fn max_amount(&self) -> Decimal {
        let digits = EXACT_DIGITS.saturating_sub(self.scale).min(15);
        Decimal::from_i128_with_scale(10i128.pow(digits), 0)
    }

    /// Renders an amount with exactly the asset's scale ("20.00").
    ///
    /// An amount finer than the scale (never produced by validated input) is rounded half to
    /// even rather than rendered with extra digits.
    pub fn format(&self, amount: Decimal) -> String {
        let rounded = amount.round_dp(self.scale);
        let mut text = rounded.to_string();
        let missing = self.scale.saturating_sub(rounded.scale());
        if missing > 0 {
            if rounded.scale() == 0 {
                text.push('.');
            }
            text.extend(std::iter::repeat_n('0', missing as usize));
        }
        text
    }
}

fn is_unit_code(code: &str) -> bool {
    let bytes = code.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            first.is_ascii_lowercase()
                && rest.len() < MAX_UNIT_CODE_BYTES
                && rest
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        }
        None => false,
    }
}

/// Why an asset was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum AssetError {
    /// Three upper-case letters that are not in the currency table.
    #[error("unknown currency {code}")]
    UnknownCurrency {
        /// The code as given.
        code: String,
    },
    /// Neither a currency code nor a valid unit name (`[a-z][a-z0-9_]{0,31}`).
    #[error("asset code must be an ISO 4217 currency or a unit name like \"points\"")]
    InvalidCode,
    /// A scale was given for a currency and differs from its minor units.
    #[error("currency scale is {expected}, not {given}")]
    ScaleMismatch {
        /// The currency's minor units.
        expected: u32,
        /// The scale given.
        given: u32,
    },
    /// A tenant-defined unit needs an explicit scale.
    #[error("a tenant-defined unit needs a scale")]
    ScaleRequired,
    /// A unit scale above [`MAX_UNIT_SCALE`].
    #[error("unit scale {scale} is above the maximum of 18")]
    ScaleOutOfRange {
        /// The scale given.
        scale: u32,
    },
}

/// Why an amount was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AmountError {
    /// Not a plain decimal number like "12.34".
    #[error("amount is not a decimal number like \"12.34\"")]
    Malformed,
    /// Zero or negative.
    #[error("amount must be positive")]
    NotPositive,
    /// More decimal places than the asset allows.
    #[error("amount has more than {max_scale} decimal places")]
    TooManyDecimals {
        /// The asset's scale.
        max_scale: u32,
    },
    /// Above the largest accepted amount.
    #[error("amount is too large")]
    TooLarge,
}

/// Parses a decimal string exactly ("12.34"; no exponent, no floats).
///
/// Accepts an optional leading `-` (so a negative amount is reported as such by
/// [`validate_amount`]), digits, and an optional fraction with at least one digit. Rejects
/// `+`, exponents, separators, whitespace and anything that would need rounding.
pub fn parse_decimal(text: &str) -> Result<Decimal, AmountError> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(AmountError::Malformed);
    }
    if whole.trim_start_matches('0').len() > EXACT_DIGITS as usize {
        return Err(AmountError::TooLarge);
    }
    Decimal::from_str_exact(text).map_err(|_| AmountError::Malformed)
}

/// Strictly positive, scale (trailing zeros ignored) <= asset scale, <= MAX_AMOUNT_UNITS
/// (see [`Asset::max_amount`] for the finest scales).
///
/// Returns the amount at exactly the asset's scale ("20" becomes "20.00" for USD), so every
/// amount in events and state shares one scale and sums stay exact.
pub fn validate_amount(asset: &Asset, amount: Decimal) -> Result<Decimal, AmountError> {
    if amount <= Decimal::ZERO {
        return Err(AmountError::NotPositive);
    }
    let mut exact = amount.normalize();
    if exact.scale() > asset.scale {
        return Err(AmountError::TooManyDecimals {
            max_scale: asset.scale,
        });
    }
    if exact > asset.max_amount() {
        return Err(AmountError::TooLarge);
    }
    exact.rescale(asset.scale);
    Ok(exact)
}

/// [`parse_decimal`] then [`validate_amount`]: the usual path for an amount from the wire.
pub fn parse_amount(asset: &Asset, text: &str) -> Result<Decimal, AmountError> {
    validate_amount(asset, parse_decimal(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        parse_decimal(text).expect("valid decimal")
    }

    #[test]
    fn currencies_take_their_scale_from_the_table() {
        let usd = Asset::parse("USD", None).unwrap();
        assert_eq!(
            (usd.code(), usd.scale(), usd.is_currency()),
            ("USD", 2, true)
        );
        assert_eq!(Asset::parse("JPY", None).unwrap().scale(), 0);
        assert_eq!(Asset::parse("BHD", Some(3)).unwrap().scale(), 3);
    }

    #[test]
    fn the_required_currencies_are_all_known() {
        let required = "USD EUR GBP CHF CAD AUD NZD SEK NOK DKK PLN CZK HUF JPY KRW CNY HKD SGD \
                        INR BRL MXN ZAR TRY AED SAR ILS THB IDR MYR PHP VND CLP ISK BHD KWD OMR \
                        JOD TND IQD LYD";
        for code in required.split_whitespace() {
            assert!(Asset::parse(code, None).is_ok(), "{code} missing");
        }
        let mut codes: Vec<_> = CURRENCIES.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CURRENCIES.len(), "duplicate currency");
    }

    #[test]
    fn unknown_currency_and_scale_mismatch_are_rejected() {
        assert_eq!(
            Asset::parse("XYZ", None),
            Err(AssetError::UnknownCurrency { code: "XYZ".into() })
        );
        assert_eq!(
            Asset::parse("USD", Some(3)),
            Err(AssetError::ScaleMismatch {
                expected: 2,
                given: 3
            })
        );
    }

    #[test]
    fn units_need_a_scale_within_range() {
        let points = Asset::parse("points", Some(0)).unwrap();
        assert_eq!(
            (points.code(), points.scale(), points.is_currency()),
            ("points", 0, false)
        );
        assert_eq!(Asset::parse("ride_credits", Some(18)).unwrap().scale(), 18);
        assert_eq!(Asset::parse("points", None), Err(AssetError::ScaleRequired));
        assert_eq!(
            Asset::parse("points", Some(19)),
            Err(AssetError::ScaleOutOfRange { scale: 19 })
        );
    }

    #[test]
    fn malformed_codes_are_rejected() {
        for code in [
            "",
            "Points",
            "1pts",
            "_x",
            "US",
            "USDT",
            "pts-x",
            "pts x",
            &"a".repeat(33),
        ] {
            assert_eq!(
                Asset::parse(code, Some(2)),
                Err(AssetError::InvalidCode),
                "{code}"
            );
        }
        assert!(Asset::parse(&"a".repeat(32), Some(2)).is_ok());
    }

    #[test]
    fn format_renders_exactly_the_scale() {
        let usd = Asset::parse("USD", None).unwrap();
        assert_eq!(usd.format(dec("20")), "20.00");
        assert_eq!(usd.format(dec("20.5")), "20.50");
        assert_eq!(usd.format(dec("0.01")), "0.01");
        assert_eq!(usd.format(dec("1.005")), "1.00");
        assert_eq!(
            Asset::parse("JPY", None).unwrap().format(dec("1500")),
            "1500"
        );
        let fine = Asset::parse("dust", Some(18)).unwrap();
        assert_eq!(
            fine.format(dec("10000000000")),
            "10000000000.000000000000000000"
        );
    }

    #[test]
    fn parse_decimal_is_strict() {
        assert_eq!(dec("12.34"), Decimal::new(1234, 2));
        assert_eq!(dec("-5"), Decimal::new(-5, 0));
        assert_eq!(dec("0.10").scale(), 2);
        for bad in [
            "", "-", "1.", ".5", "+1", "1e3", "1,5", " 1", "1 ", "0x10", "1.2.3", "NaN",
        ] {
            assert_eq!(parse_decimal(bad), Err(AmountError::Malformed), "{bad:?}");
        }
        assert_eq!(parse_decimal(&"9".repeat(29)), Err(AmountError::TooLarge));
    }

    #[test]
    fn validate_amount_rejects_zero_negative_fine_and_huge() {
        let usd = Asset::parse("USD", None).unwrap();
        assert_eq!(
            validate_amount(&usd, dec("0")),
            Err(AmountError::NotPositive)
        );
        assert_eq!(
            validate_amount(&usd, dec("-1")),
            Err(AmountError::NotPositive)
        );
        assert_eq!(
            validate_amount(&usd, dec("1.001")),
            Err(AmountError::TooManyDecimals { max_scale: 2 })
        );
        assert_eq!(
            validate_amount(&usd, dec("1000000000000000.01")),
            Err(AmountError::TooLarge)
        );
        assert_eq!(
            validate_amount(&usd, dec("1000000000000000")).unwrap(),
            dec("1000000000000000")
        );
    }

    #[test]
    fn validate_amount_returns_the_asset_scale() {
        let usd = Asset::parse("USD", None).unwrap();
        let amount = validate_amount(&usd, dec("1.5000")).unwrap();
        assert_eq!((amount, amount.scale()), (dec("1.50"), 2));
        assert_eq!(
            validate_amount(&usd, dec("20")).unwrap().to_string(),
            "20.00"
        );
    }

    #[test]
    fn finest_scales_lower_the_ceiling_to_stay_exact() {
        let dust = Asset::parse("dust", Some(18)).unwrap();
        assert_eq!(dust.max_amount(), dec("10000000000"));
        let max = validate_amount(&dust, dec("10000000000")).unwrap();
        assert_eq!(max.scale(), 18);
        assert_eq!(
            validate_amount(&dust, dec("10000000000.000000000000000001")),
            Err(AmountError::TooLarge)
        );
        assert_eq!(
            Asset::parse("points", Some(13)).unwrap().max_amount(),
            dec("1000000000000000")
        );
    }

    #[test]
    fn parse_amount_combines_both_steps() {
        let jpy = Asset::parse("JPY", None).unwrap();
        assert_eq!(parse_amount(&jpy, "100"), Ok(dec("100")));
        assert_eq!(
            parse_amount(&jpy, "100.5"),
            Err(AmountError::TooManyDecimals { max_scale: 0 })
        );
        assert_eq!(parse_amount(&jpy, "abc"), Err(AmountError::Malformed));
    }
}
