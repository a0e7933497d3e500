//! Proto ↔ domain for `purse.topup.v1`: requests become the fields of top-up and auto top-up
//! commands, read-model rows and replies become messages. An enum value the wire does not know is
//! INVALID_ARGUMENT naming the field; a stored row that no write produces is INTERNAL, never a
//! silent UNSPECIFIED.

use purse_domain::Timestamp;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::Asset;
use purse_domain::saga::{AutoTopUpAmount, AutoTopUpRule};
use purse_domain::topup::{TopUpKind, TopUpStatus};
use purse_domain::wallet::WalletStatus;
use purse_proto::topup::v1 as pb;
use purse_runtime::edge::{ApiError, parse_amount, parse_key, parse_required_uuid};
use purse_store::{AutoTopUpRuleRow, TopUpRow, WalletRow};
use rust_decimal::Decimal;
use uuid::Uuid;

type ApiResult<T> = Result<T, ApiError>;

/// A CreateTopUp request, parsed; the wallet's facts come from the read model.
pub(crate) struct TopUpRequest {
    /// The request's idempotency key.
    pub(crate) key: IdempotencyKey,
    /// The wallet credited.
    pub(crate) wallet_id: Uuid,
    /// How the payer pays.
    pub(crate) kind: TopUpKind,
    /// What the payer is charged.
    pub(crate) amount: Decimal,
    /// What the wallet is credited (the amount unless a discount grants more).
    pub(crate) wallet_amount: Decimal,
    /// The stored card charged, if any.
    pub(crate) payment_method_id: Option<Uuid>,
    /// When the credited lots expire, if ever.
    pub(crate) lots_expire_at: Option<Timestamp>,
}

impl TryFrom<pb::CreateTopUpRequest> for TopUpRequest {
    type Error = ApiError;

    fn try_from(r: pb::CreateTopUpRequest) -> ApiResult<Self> {
        let key = parse_key(&r.idempotency_key)?;
        let wallet_id = parse_required_uuid(&r.wallet_id, "wallet_id")?;
        let kind = kind(r.kind)?;
        let amount = parse_amount(&r.amount, "amount")?;
        let wallet_amount = match &r.wallet_amount {
            Some(text) => parse_amount(text, "wallet_amount")?,
            None => amount,
        };
        let payment_method_id = (!r.payment_method_id.is_empty())
            .then(|| parse_required_uuid(&r.payment_method_id, "payment_method_id"))
            .transpose()?;
        Ok(Self {
            key,
            wallet_id,
            kind,
            amount,
            wallet_amount,
            payment_method_id,
            lots_expire_at: r.lots_expire_at_ms.map(Timestamp::from_millis),
        })
    }
}

/// A SetAutoTopUp request, parsed; the configured fee and timeout complete the rule.
pub(crate) struct RuleRequest {
    /// The request's idempotency key.
    pub(crate) key: IdempotencyKey,
    /// The wallet whose rule it is.
    pub(crate) wallet_id: Uuid,
    /// Below this available balance an auto top-up starts.
    pub(crate) threshold: Decimal,
    /// What each auto top-up charges.
    pub(crate) amount: AutoTopUpAmount,
    /// The stored card charged.
    pub(crate) payment_method_id: Uuid,
    /// Most auto top-ups per UTC day, if not the default.
    pub(crate) daily_max_count: Option<u32>,
    /// Most charged per UTC day, if capped.
    pub(crate) daily_max_amount: Option<Decimal>,
    /// The wait after a decline, if not the default.
    pub(crate) backoff_ms: Option<i64>,
}

impl TryFrom<pb::SetAutoTopUpRequest> for RuleRequest {
    type Error = ApiError;

    fn try_from(r: pb::SetAutoTopUpRequest) -> ApiResult<Self> {
        use pb::set_auto_top_up_request::Charge;
        let key = parse_key(&r.idempotency_key)?;
        let wallet_id = parse_required_uuid(&r.wallet_id, "wallet_id")?;
        let threshold = parse_amount(&r.threshold, "threshold")?;
        let amount = match &r.charge {
            Some(Charge::Amount(text)) => AutoTopUpAmount::Fixed {
                amount: parse_amount(text, "amount")?,
            },
            Some(Charge::TargetBalance(text)) => AutoTopUpAmount::TargetBalance {
                target: parse_amount(text, "target_balance")?,
            },
            None => {
                return Err(ApiError::invalid(
                    "amount",
                    "MISSING_FIELD",
                    "one of amount or target_balance is required",
                ));
            }
        };
        let payment_method_id = parse_required_uuid(&r.payment_method_id, "payment_method_id")?;
        let daily_max_amount = r
            .daily_max_amount
            .as_deref()
            .map(|text| parse_amount(text, "daily_max_amount"))
            .transpose()?;
        Ok(Self {
            key,
            wallet_id,
            threshold,
            amount,
            payment_method_id,
            daily_max_count: r.daily_max_count,
            daily_max_amount,
            backoff_ms: r.backoff_ms,
        })
    }
}

/// The kind of a client's top-up; UNSPECIFIED is `manual`, as the proto documents.
pub(crate) fn kind(value: i32) -> ApiResult<TopUpKind> {
    match pb::TopUpKind::try_from(value) {
        Ok(pb::TopUpKind::Unspecified | pb::TopUpKind::Manual) => Ok(TopUpKind::Manual),
        Ok(pb::TopUpKind::ManualWithPaymentMethod) => Ok(TopUpKind::ManualWithPaymentMethod),
        // The auto top-up saga starts these itself, one at a time; a client-made one would
        // bypass its daily cap and back-off.
        Ok(pb::TopUpKind::Auto) => Err(ApiError::invalid(
            "kind",
            "KIND_NOT_ALLOWED",
            "auto top-ups are started by the wallet's auto top-up rule (SetAutoTopUp)",
        )),
        Err(_) => Err(ApiError::invalid(
            "kind",
            "INVALID_ENUM",
            "unknown top-up kind",
        )),
    }
}

/// The wallet's asset and status as the read model holds them; anything no write produces is a
/// corrupt row.
pub(crate) fn wallet_facts(row: &WalletRow) -> ApiResult<(Asset, WalletStatus)> {
    let asset =
        Asset::parse(&row.asset, Some(row.asset_scale)).map_err(|_| ApiError::CorruptRow {
            what: "wallet asset",
        })?;
    let status = WalletStatus::parse(&row.status).ok_or(ApiError::CorruptRow {
        what: "wallet status",
    })?;
    Ok((asset, status))
}

/// The message of a top-up kind.
pub(crate) fn kind_message(kind: TopUpKind) -> pb::TopUpKind {
    match kind {
        TopUpKind::Manual => pb::TopUpKind::Manual,
        TopUpKind::ManualWithPaymentMethod => pb::TopUpKind::ManualWithPaymentMethod,
        TopUpKind::Auto => pb::TopUpKind::Auto,
    }
}

/// The message of a top-up status.
pub(crate) fn status_message(status: TopUpStatus) -> pb::TopUpStatus {
    match status {
        TopUpStatus::Created => pb::TopUpStatus::Created,
        TopUpStatus::Completed => pb::TopUpStatus::Completed,
        TopUpStatus::Expired => pb::TopUpStatus::Expired,
        TopUpStatus::Failed => pb::TopUpStatus::Failed,
    }
}

/// The hosted checkout page of a session, as the payments gateway serves it.
pub(crate) fn checkout_url(checkout_base_url: &str, checkout_session_id: Uuid) -> String {
    format!(
        "{}/checkout/{checkout_session_id}",
        checkout_base_url.trim_end_matches('/')
    )
}

/// A top-up row as a message; its `url` is under `checkout_base_url`.
pub(crate) fn top_up_message(row: TopUpRow, checkout_base_url: &str) -> ApiResult<pb::TopUp> {
    let kind = TopUpKind::parse(&row.kind).ok_or(ApiError::CorruptRow {
        what: "top-up kind",
    })?;
    let status = TopUpStatus::parse(&row.status).ok_or(ApiError::CorruptRow {
        what: "top-up status",
    })?;
    Ok(pb::TopUp {
        top_up_id: row.top_up_id.to_string(),
        wallet_id: row.wallet_id.to_string(),
        owner: row.owner,
        kind: kind_message(kind) as i32,
        status: status_message(status) as i32,
        asset: row.asset,
        amount: row.amount.to_string(),
        wallet_amount: row.wallet_amount.to_string(),
        fee: row.fee.to_string(),
        url: row
            .checkout_session_id
            .map(|session| checkout_url(checkout_base_url, session))
            .unwrap_or_default(),
        expires_at_ms: row.expires_at_ms,
        lots_expire_at_ms: row.lots_expire_at_ms,
        payment_id: row.payment_id.to_string(),
        payment_method_id: row
            .payment_method_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        credited: row.credited.to_string(),
        failure_reason: row.failure_reason.unwrap_or_default(),
        late_capture: row.late_capture.map(|d| d.to_string()).unwrap_or_default(),
        created_at_ms: row.created_at_ms,
        sequence: row.version,
    })
}

/// The rule just set, as SetAutoTopUp replies with it.
pub(crate) fn rule_message(
    wallet_id: Uuid,
    owner: &str,
    asset: &Asset,
    rule: &AutoTopUpRule,
    sequence: u64,
) -> pb::AutoTopUpRule {
    use pb::auto_top_up_rule::Charge;
    let charge = match rule.amount {
        AutoTopUpAmount::Fixed { amount } => Charge::Amount(asset.format(amount)),
        AutoTopUpAmount::TargetBalance { target } => Charge::TargetBalance(asset.format(target)),
    };
    pb::AutoTopUpRule {
        wallet_id: wallet_id.to_string(),
        owner: owner.to_owned(),
        asset: asset.code().to_owned(),
        threshold: asset.format(rule.threshold),
        charge: Some(charge),
        payment_method_id: rule.payment_method_id.to_string(),
        daily_max_count: rule.daily_cap.max_count,
        daily_max_amount: rule.daily_cap.max_amount.map(|d| asset.format(d)),
        backoff_ms: rule.backoff_ms,
        fee_percent: rule.fee_rate.as_percent().to_string(),
        timeout_ms: rule.timeout_ms,
        updated_at_ms: 0,
        sequence,
        // The saga's outcomes are in the read model only; GetAutoTopUp shows them.
        consecutive_failures: 0,
        backoff_until_ms: 0,
        last_failure: None,
        daily_cap_reached_until_ms: 0,
    }
}

/// The rule as GetAutoTopUp shows it at `now_ms`: a back-off or cap that has ended reads 0, so a
/// client need not compare instants with its own clock to know whether one holds now.
pub(crate) fn rule_row_message(row: AutoTopUpRuleRow, now_ms: i64) -> pb::AutoTopUpRule {
    use pb::auto_top_up_rule::Charge;
    let charge = match (row.amount, row.target_balance) {
        (Some(amount), _) => Some(Charge::Amount(amount.to_string())),
        (None, Some(target)) => Some(Charge::TargetBalance(target.to_string())),
        (None, None) => None,
    };
    pb::AutoTopUpRule {
        wallet_id: row.wallet_id.to_string(),
        owner: row.owner,
        asset: row.asset,
        threshold: row.threshold.to_string(),
        charge,
        payment_method_id: row.payment_method_id.to_string(),
        daily_max_count: row.daily_max_count,
        daily_max_amount: row.daily_max_amount.map(|d| d.to_string()),
        backoff_ms: row.backoff_ms,
        fee_percent: row.fee_rate.to_string(),
        timeout_ms: row.timeout_ms,
        updated_at_ms: row.updated_at_ms,
        sequence: row.version,
        consecutive_failures: row.activity.consecutive_failures,
        backoff_until_ms: still_ahead(row.activity.backoff_until_ms, now_ms),
        last_failure: row
            .activity
            .last_failure
            .map(|failure| pb::AutoTopUpFailure {
                top_up_id: failure.top_up_id.to_string(),
                reason: failure.reason,
                failed_at_ms: failure.failed_at_ms,
            }),
        daily_cap_reached_until_ms: still_ahead(row.activity.daily_cap_reached_until_ms, now_ms),
    }
}

/// `until_ms` if it is after `now_ms`, else 0 (over, or never set).
fn still_ahead(until_ms: Option<i64>, now_ms: i64) -> i64 {
    until_ms.filter(|&until| until > now_ms).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_urls_join_cleanly() {
        let session = Uuid::nil();
        assert_eq!(
            checkout_url("http://127.0.0.1:8080/", session),
            format!("http://127.0.0.1:8080/checkout/{session}")
        );
        assert_eq!(
            checkout_url("https://pay.example", session),
            format!("https://pay.example/checkout/{session}")
        );
    }

    fn rule_row(activity: purse_store::AutoTopUpActivityRow) -> AutoTopUpRuleRow {
        AutoTopUpRuleRow {
            wallet_id: Uuid::nil(),
            tenant: "acme".to_owned(),
            owner: "alice".to_owned(),
            asset: "USD".to_owned(),
            threshold: Decimal::new(500, 2),
            amount: Some(Decimal::new(2000, 2)),
            target_balance: None,
            payment_method_id: Uuid::nil(),
            daily_max_count: 3,
            daily_max_amount: None,
            backoff_ms: 3_600_000,
            fee_rate: Decimal::ZERO,
            timeout_ms: 300_000,
            removed: false,
            updated_at_ms: 1_000,
            activity,
            version: 4,
        }
    }

    #[test]
    fn a_back_off_or_cap_shows_only_while_it_holds() {
        let failure = purse_store::AutoTopUpFailureRow {
            top_up_id: Uuid::from_u128(7),
            reason: "declined:insufficient_funds".to_owned(),
            failed_at_ms: 1_000,
        };
        let row = rule_row(purse_store::AutoTopUpActivityRow {
            consecutive_failures: 2,
            backoff_until_ms: Some(5_000),
            last_failure: Some(failure),
            daily_cap_reached_until_ms: Some(9_000),
        });
        let now = rule_row_message(row.clone(), 4_999);
        assert_eq!(
            (
                now.consecutive_failures,
                now.backoff_until_ms,
                now.daily_cap_reached_until_ms
            ),
            (2, 5_000, 9_000)
        );
        assert_eq!(
            now.last_failure,
            Some(pb::AutoTopUpFailure {
                top_up_id: Uuid::from_u128(7).to_string(),
                reason: "declined:insufficient_funds".to_owned(),
                failed_at_ms: 1_000,
            })
        );
        // At its end the back-off is over; the failures in a row and the last failure stay.
        let later = rule_row_message(row, 5_000);
        assert_eq!(
            (
                later.consecutive_failures,
                later.backoff_until_ms,
                later.daily_cap_reached_until_ms
            ),
            (2, 0, 9_000)
        );
        assert!(later.last_failure.is_some());
        let fresh = rule_row_message(rule_row(Default::default()), 0);
        assert_eq!(
            (
                fresh.consecutive_failures,
                fresh.backoff_until_ms,
                fresh.last_failure,
                fresh.daily_cap_reached_until_ms
            ),
            (0, 0, None, 0)
        );
    }

    #[test]
    fn kinds_default_to_manual_and_refuse_auto() {
        assert_eq!(kind(0).unwrap(), TopUpKind::Manual);
        assert_eq!(
            kind(pb::TopUpKind::ManualWithPaymentMethod as i32).unwrap(),
            TopUpKind::ManualWithPaymentMethod
        );
        assert!(kind(pb::TopUpKind::Auto as i32).is_err());
        assert!(kind(42).is_err());
    }

    fn top_up_row(kind: &str, status: &str) -> TopUpRow {
        TopUpRow {
            top_up_id: Uuid::nil(),
            tenant: "acme".to_owned(),
            wallet_id: Uuid::nil(),
            owner: "alice".to_owned(),
            kind: kind.to_owned(),
            asset: "USD".to_owned(),
            amount: Decimal::new(2000, 2),
            wallet_amount: Decimal::new(2000, 2),
            fee: Decimal::ZERO,
            status: status.to_owned(),
            failure_reason: None,
            payment_id: Uuid::nil(),
            checkout_session_id: Some(Uuid::nil()),
            payment_method_id: None,
            expires_at_ms: 0,
            lots_expire_at_ms: None,
            credited: Decimal::ZERO,
            late_capture: None,
            created_at_ms: 0,
            updated_at_ms: 0,
            version: 1,
        }
    }

    #[test]
    fn a_stored_kind_or_status_no_write_produces_is_corrupt_not_unspecified() {
        let message = top_up_message(top_up_row("manual", "completed"), "https://pay.example")
            .expect("valid row");
        assert_eq!(message.status, pb::TopUpStatus::Completed as i32);
        assert_eq!(
            message.url,
            format!("https://pay.example/checkout/{}", Uuid::nil())
        );
        for row in [
            top_up_row("manual", "paused"),
            top_up_row("barter", "created"),
        ] {
            assert!(matches!(
                top_up_message(row, "https://pay.example"),
                Err(ApiError::CorruptRow { .. })
            ));
        }
    }
}
