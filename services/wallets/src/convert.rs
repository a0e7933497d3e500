//! Proto ↔ domain for `purse.wallet.v1`: requests become wallet commands, read-model rows and
//! replies become messages. An enum value the wire does not know (or UNSPECIFIED where a value is
//! required) is INVALID_ARGUMENT naming the field; a stored row that no write produces is
//! INTERNAL, never a silent default.

use std::collections::BTreeMap;

use purse_domain::Timestamp;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::Asset;
use purse_domain::wallet::{
    CreditSource, DebitKind, Limits, SystemWalletName, VelocityLimit, WalletAction, WalletKind,
    WalletOutcome, WalletStatus,
};
use purse_proto::wallet::v1 as pb;
use purse_runtime::edge::{ApiError, asset_error, parse_amount, parse_key, parse_uuid};
use purse_runtime::shard::CommandReply;
use purse_store::{EntryType, HistoryRow, LimitsRow, WalletRow};
use uuid::Uuid;

type ApiResult<T> = Result<T, ApiError>;

/// A CreateWallet request as a command: the wallet id derives from the tenant and the key.
pub(crate) struct Opening {
    /// The request's idempotency key.
    pub(crate) key: IdempotencyKey,
    /// `WalletAction::Open`.
    pub(crate) action: WalletAction,
}

impl TryFrom<pb::CreateWalletRequest> for Opening {
    type Error = ApiError;

    fn try_from(r: pb::CreateWalletRequest) -> ApiResult<Self> {
        let key = parse_key(&r.idempotency_key)?;
        let asset = Asset::parse(&r.asset, r.asset_scale).map_err(asset_error)?;
        let kind = match pb::WalletKind::try_from(r.kind) {
            // The kind is optional on creation: most wallets are customers'.
            Ok(pb::WalletKind::Customer | pb::WalletKind::Unspecified) => WalletKind::Customer,
            Ok(pb::WalletKind::System) => WalletKind::System,
            Err(_) => {
                return Err(ApiError::invalid(
                    "kind",
                    "INVALID_ENUM",
                    "unknown wallet kind",
                ));
            }
        };
        let limits = limits(r.limits.as_ref())?;
        Ok(Self {
            key,
            action: WalletAction::Open {
                owner: r.owner,
                kind,
                asset,
                limits,
                metadata: r.metadata.into_iter().collect::<BTreeMap<_, _>>(),
            },
        })
    }
}

/// An OpenSystemWallet request: which of the tenant's system wallets.
pub(crate) struct SystemOpening {
    /// The wallet's name.
    pub(crate) name: SystemWalletName,
    /// Its asset.
    pub(crate) asset: Asset,
}

impl SystemOpening {
    /// The command's idempotency key, derived like the wallet id: a repeat within the retention
    /// window replays the opening, a later one meets the open wallet.
    pub(crate) fn key(&self) -> ApiResult<IdempotencyKey> {
        parse_key(&format!(
            "system-wallet/{}/{}/{}",
            self.name.as_str(),
            self.asset.code(),
            self.asset.scale()
        ))
    }

    /// `WalletAction::Open` of a system wallet: its owner is its name (it has no customer), no
    /// limits, no metadata.
    pub(crate) fn action(&self) -> WalletAction {
        WalletAction::Open {
            owner: self.name.as_str().to_owned(),
            kind: WalletKind::System,
            asset: self.asset.clone(),
            limits: Limits::default(),
            metadata: BTreeMap::new(),
        }
    }
}

impl TryFrom<pb::OpenSystemWalletRequest> for SystemOpening {
    type Error = ApiError;

    fn try_from(r: pb::OpenSystemWalletRequest) -> ApiResult<Self> {
        let name = SystemWalletName::parse(&r.name)
            .map_err(|err| ApiError::invalid("name", "INVALID_NAME", err))?;
        let asset = Asset::parse(&r.asset, r.asset_scale).map_err(asset_error)?;
        Ok(Self { name, asset })
    }
}

/// A request that changes one existing wallet, as a command.
pub(crate) struct Mutation {
    /// The wallet addressed.
    pub(crate) wallet_id: Uuid,
    /// The request's idempotency key.
    pub(crate) key: IdempotencyKey,
    /// What to do.
    pub(crate) action: WalletAction,
}

impl Mutation {
    /// The wallet and key first, then the action: errors name the first bad field in that order.
    fn new(
        wallet_id: &str,
        key: &str,
        action: impl FnOnce() -> ApiResult<WalletAction>,
    ) -> ApiResult<Self> {
        Ok(Self {
            wallet_id: parse_uuid(wallet_id, "wallet_id")?,
            key: parse_key(key)?,
            action: action()?,
        })
    }
}

impl TryFrom<pb::UpdateLimitsRequest> for Mutation {
    type Error = ApiError;

    fn try_from(r: pb::UpdateLimitsRequest) -> ApiResult<Self> {
        Mutation::new(&r.wallet_id, &r.idempotency_key, || {
            Ok(WalletAction::UpdateLimits {
                limits: limits(r.limits.as_ref())?,
            })
        })
    }
}

impl TryFrom<pb::SuspendWalletRequest> for Mutation {
    type Error = ApiError;

    fn try_from(r: pb::SuspendWalletRequest) -> ApiResult<Self> {
        Mutation::new(&r.wallet_id, &r.idempotency_key, || {
            Ok(WalletAction::Suspend { reason: r.reason })
        })
    }
}

impl TryFrom<pb::ReactivateWalletRequest> for Mutation {
    type Error = ApiError;

    fn try_from(r: pb::ReactivateWalletRequest) -> ApiResult<Self> {
        Mutation::new(&r.wallet_id, &r.idempotency_key, || {
            Ok(WalletAction::Reactivate)
        })
    }
}

impl TryFrom<pb::CloseWalletRequest> for Mutation {
    type Error = ApiError;

    fn try_from(r: pb::CloseWalletRequest) -> ApiResult<Self> {
        Mutation::new(&r.wallet_id, &r.idempotency_key, || Ok(WalletAction::Close))
    }
}

impl TryFrom<pb::CreditRequest> for Mutation {
    type Error = ApiError;

    fn try_from(r: pb::CreditRequest) -> ApiResult<Self> {
        Mutation::new(&r.wallet_id, &r.idempotency_key, || {
            let source = match pb::CreditSource::try_from(r.source) {
                Ok(pb::CreditSource::Paid) => CreditSource::Paid,
                Ok(pb::CreditSource::Granted) => CreditSource::Granted,
                Ok(pb::CreditSource::Refund) => CreditSource::Refund,
                Ok(pb::CreditSource::Transfer) => CreditSource::Transfer,
                Ok(pb::CreditSource::Adjustment) => CreditSource::Adjustment,
                Ok(pb::CreditSource::Unspecified) | Err(_) => {
                    return Err(ApiError::invalid(
                        "source",
                        "INVALID_ENUM",
                        "source is required (paid, granted, transfer, adjustment)",
                    ));
                }
            };
            Ok(WalletAction::Credit {
                amount: parse_amount(&r.amount, "amount")?,
                source,
                expires_at: r.expires_at_ms.map(Timestamp::from_millis),
                reference: r.reference,
                description: r.description,
            })
        })
    }
}

impl TryFrom<pb::DebitRequest> for Mutation {
    type Error = ApiError;

    fn try_from(r: pb::DebitRequest) -> ApiResult<Self> {
        Mutation::new(&r.wallet_id, &r.idempotency_key, || {
            let kind = match pb::DebitKind::try_from(r.kind) {
                Ok(pb::DebitKind::Purchase) => DebitKind::Purchase,
                Ok(pb::DebitKind::Redemption) => DebitKind::Redemption,
                Ok(pb::DebitKind::Fee) => DebitKind::Fee,
                Ok(pb::DebitKind::TransferOut) => DebitKind::TransferOut,
                Ok(pb::DebitKind::Payout) => DebitKind::Payout,
                Ok(pb::DebitKind::Unspecified) | Err(_) => {
                    return Err(ApiError::invalid(
                        "kind",
                        "INVALID_ENUM",
                        "kind is required (purchase, redemption, fee, transfer_out, payout)",
                    ));
                }
            };
            Ok(WalletAction::Debit {
                amount: parse_amount(&r.amount, "amount")?,
                kind,
                reference: r.reference,
                description: r.description,
            })
        })
    }
}

impl TryFrom<pb::RefundRequest> for Mutation {
    type Error = ApiError;

    fn try_from(r: pb::RefundRequest) -> ApiResult<Self> {
        Mutation::new(&r.wallet_id, &r.idempotency_key, || {
            Ok(WalletAction::Refund {
                debit_id: parse_uuid(&r.debit_id, "debit_id")?,
                amount: parse_amount(&r.amount, "amount")?,
                reference: r.reference,
                description: r.description,
            })
        })
    }
}

impl TryFrom<pb::PlaceHoldRequest> for Mutation {
    type Error = ApiError;

    fn try_from(r: pb::PlaceHoldRequest) -> ApiResult<Self> {
        Mutation::new(&r.wallet_id, &r.idempotency_key, || {
            Ok(WalletAction::PlaceHold {
                amount: parse_amount(&r.amount, "amount")?,
                expires_at: Timestamp::from_millis(r.expires_at_ms),
                reference: r.reference,
                description: r.description,
            })
        })
    }
}

impl TryFrom<pb::CaptureHoldRequest> for Mutation {
    type Error = ApiError;

    fn try_from(r: pb::CaptureHoldRequest) -> ApiResult<Self> {
        Mutation::new(&r.wallet_id, &r.idempotency_key, || {
            Ok(WalletAction::CaptureHold {
                hold_id: parse_uuid(&r.hold_id, "hold_id")?,
                amount: parse_amount(&r.amount, "amount")?,
            })
        })
    }
}

impl TryFrom<pb::VoidHoldRequest> for Mutation {
    type Error = ApiError;

    fn try_from(r: pb::VoidHoldRequest) -> ApiResult<Self> {
        Mutation::new(&r.wallet_id, &r.idempotency_key, || {
            Ok(WalletAction::VoidHold {
                hold_id: parse_uuid(&r.hold_id, "hold_id")?,
            })
        })
    }
}

impl TryFrom<pb::BatchOperation> for Mutation {
    type Error = ApiError;

    fn try_from(operation: pb::BatchOperation) -> ApiResult<Self> {
        use pb::batch_operation::Operation;
        match operation.operation {
            Some(Operation::Credit(r)) => r.try_into(),
            Some(Operation::Debit(r)) => r.try_into(),
            Some(Operation::PlaceHold(r)) => r.try_into(),
            Some(Operation::CaptureHold(r)) => r.try_into(),
            Some(Operation::VoidHold(r)) => r.try_into(),
            Some(Operation::Refund(r)) => r.try_into(),
            None => Err(ApiError::invalid(
                "operation",
                "MISSING_FIELD",
                "one operation is required",
            )),
        }
    }
}

/// The wallet a batch operation addresses, as sent (before any parsing).
pub(crate) fn batch_wallet_id(operation: &pb::BatchOperation) -> Option<&str> {
    use pb::batch_operation::Operation;
    Some(match operation.operation.as_ref()? {
        Operation::Credit(r) => &r.wallet_id,
        Operation::Debit(r) => &r.wallet_id,
        Operation::PlaceHold(r) => &r.wallet_id,
        Operation::CaptureHold(r) => &r.wallet_id,
        Operation::VoidHold(r) => &r.wallet_id,
        Operation::Refund(r) => &r.wallet_id,
    })
}

fn limits(limits: Option<&pb::Limits>) -> ApiResult<Limits> {
    let Some(limits) = limits else {
        return Ok(Limits::default());
    };
    let amount =
        |text: &Option<String>, field| text.as_deref().map(|t| parse_amount(t, field)).transpose();
    Ok(Limits {
        max_balance: amount(&limits.max_balance, "limits.max_balance")?,
        daily_debit_limit: amount(&limits.daily_debit_limit, "limits.daily_debit_limit")?,
        per_transaction_max: amount(&limits.per_transaction_max, "limits.per_transaction_max")?,
        velocity: limits.velocity.map(|v| VelocityLimit {
            max_operations: v.max_operations,
            window_ms: i64::try_from(v.window_ms).unwrap_or(i64::MAX),
        }),
        low_balance_threshold: amount(
            &limits.low_balance_threshold,
            "limits.low_balance_threshold",
        )?,
    })
}

/// The `entry_types` filter of ListEntries (and ListTransactions).
pub(crate) fn entry_type(value: i32) -> ApiResult<EntryType> {
    Ok(match pb::EntryType::try_from(value) {
        Ok(pb::EntryType::Credit) => EntryType::Credit,
        Ok(pb::EntryType::Debit) => EntryType::Debit,
        Ok(pb::EntryType::HoldPlaced) => EntryType::HoldPlaced,
        Ok(pb::EntryType::HoldCaptured) => EntryType::HoldCaptured,
        Ok(pb::EntryType::HoldReleased) => EntryType::HoldReleased,
        Ok(pb::EntryType::LotExpired) => EntryType::LotExpired,
        Ok(pb::EntryType::Refund) => EntryType::Refund,
        Ok(pb::EntryType::Unspecified) | Err(_) => {
            return Err(ApiError::invalid(
                "entry_types",
                "INVALID_ENUM",
                "unknown entry type",
            ));
        }
    })
}

/// The reply to a command on one wallet.
pub(crate) fn mutation_response(
    wallet_id: Uuid,
    reply: &CommandReply<WalletOutcome>,
) -> pb::MutationResponse {
    let outcome = &reply.outcome;
    pb::MutationResponse {
        wallet_id: wallet_id.to_string(),
        entry_id: outcome
            .entry_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        balance: outcome.balance.to_string(),
        held: outcome.held.to_string(),
        available: (outcome.balance - outcome.held).to_string(),
        sequence: reply.sequence,
        replayed: reply.replayed,
    }
}

/// A wallet row as a message; a status or kind no write produces is a corrupt row.
pub(crate) fn wallet_message(row: WalletRow) -> ApiResult<pb::Wallet> {
    let status = match WalletStatus::parse(&row.status) {
        Some(WalletStatus::Open) => pb::WalletStatus::Open,
        Some(WalletStatus::Suspended) => pb::WalletStatus::Suspended,
        Some(WalletStatus::Closed) => pb::WalletStatus::Closed,
        None => {
            return Err(ApiError::CorruptRow {
                what: "wallet status",
            });
        }
    };
    let kind = match WalletKind::parse(&row.kind) {
        Some(WalletKind::Customer) => pb::WalletKind::Customer,
        Some(WalletKind::System) => pb::WalletKind::System,
        None => {
            return Err(ApiError::CorruptRow {
                what: "wallet kind",
            });
        }
    };
    Ok(pb::Wallet {
        wallet_id: row.wallet_id.to_string(),
        tenant: row.tenant,
        owner: row.owner,
        kind: kind as i32,
        asset: row.asset,
        asset_scale: row.asset_scale,
        status: status as i32,
        limits: Some(limits_message(&row.limits)),
        metadata: row.metadata.into_iter().collect(),
        created_at_ms: row.created_at_ms,
        sequence: row.version,
    })
}

fn limits_message(limits: &LimitsRow) -> pb::Limits {
    pb::Limits {
        max_balance: limits.max_balance.map(|d| d.to_string()),
        daily_debit_limit: limits.daily_debit_limit.map(|d| d.to_string()),
        per_transaction_max: limits.per_transaction_max.map(|d| d.to_string()),
        velocity: limits
            .velocity_max_operations
            .zip(limits.velocity_window_ms)
            .map(|(max_operations, window_ms)| pb::VelocityLimit {
                max_operations,
                window_ms: window_ms as u64,
            }),
        low_balance_threshold: limits.low_balance_threshold.map(|d| d.to_string()),
    }
}

fn entry_type_message(entry_type: EntryType) -> pb::EntryType {
    match entry_type {
        EntryType::Credit => pb::EntryType::Credit,
        EntryType::Debit => pb::EntryType::Debit,
        EntryType::HoldPlaced => pb::EntryType::HoldPlaced,
        EntryType::HoldCaptured => pb::EntryType::HoldCaptured,
        EntryType::HoldReleased => pb::EntryType::HoldReleased,
        EntryType::LotExpired => pb::EntryType::LotExpired,
        EntryType::Refund => pb::EntryType::Refund,
    }
}

/// A history row as a message.
pub(crate) fn transaction_message(row: HistoryRow) -> pb::Transaction {
    pb::Transaction {
        entry_id: row.entry_id.to_string(),
        entry_type: entry_type_message(row.entry_type) as i32,
        amount: row.amount.to_string(),
        balance_after: row.balance_after.to_string(),
        lots: row
            .lots
            .into_iter()
            .map(|(lot_id, amount)| pb::LotAmount {
                lot_id: lot_id.to_string(),
                amount: amount.to_string(),
            })
            .collect(),
        reference: row.reference,
        description: row.description,
        occurred_at_ms: row.occurred_at_ms,
        sequence: row.sequence,
        detail: row.detail,
        hold_id: row.hold_id.map(|id| id.to_string()).unwrap_or_default(),
    }
}

/// GetBalance's `as_of_ms`: an instant at or before the server's clock `now` (a later one has
/// no settled answer: entries may still come).
pub(crate) fn as_of(as_of_ms: i64, now: Timestamp) -> ApiResult<i64> {
    if as_of_ms < 0 {
        return Err(ApiError::invalid(
            "as_of_ms",
            "AS_OF_NEGATIVE",
            "must be at or after the Unix epoch",
        ));
    }
    if as_of_ms > now.as_millis() {
        return Err(ApiError::invalid(
            "as_of_ms",
            "AS_OF_IN_FUTURE",
            format!(
                "{as_of_ms} is after the server's clock ({}); omit it for the balance now",
                now.as_millis()
            ),
        ));
    }
    Ok(as_of_ms)
}

/// The deprecated ListTransactions request as the ListEntries request it is, field for field
/// (the destructuring fails to compile when either gains a field the other lacks).
pub(crate) fn entries_request(r: pb::ListTransactionsRequest) -> pb::ListEntriesRequest {
    let pb::ListTransactionsRequest {
        wallet_id,
        page_size,
        page_token,
        entry_types,
        from_ms,
        to_ms,
        min_sequence,
    } = r;
    pb::ListEntriesRequest {
        wallet_id,
        page_size,
        page_token,
        entry_types,
        from_ms,
        to_ms,
        min_sequence,
    }
}

/// A ListEntries answer as the deprecated ListTransactions answer.
pub(crate) fn transactions_response(r: pb::ListEntriesResponse) -> pb::ListTransactionsResponse {
    let pb::ListEntriesResponse {
        entries,
        next_page_token,
    } = r;
    pb::ListTransactionsResponse {
        transactions: entries,
        next_page_token,
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// ListTransactions' messages are ListEntries' on the wire: each decodes as the other, and
    /// the conversions used by the alias agree with the bytes.
    #[test]
    fn list_transactions_messages_are_list_entries_messages_on_the_wire() {
        let old = pb::ListTransactionsRequest {
            wallet_id: Uuid::nil().to_string(),
            page_size: 7,
            page_token: "token".into(),
            entry_types: vec![pb::EntryType::Debit as i32, pb::EntryType::Refund as i32],
            from_ms: Some(5),
            to_ms: Some(0),
            min_sequence: 9,
        };
        let bytes = old.encode_to_vec();
        let new = pb::ListEntriesRequest::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(new, entries_request(old));
        assert_eq!(new.encode_to_vec(), bytes);

        let page = pb::ListEntriesResponse {
            entries: vec![pb::Transaction {
                entry_id: Uuid::nil().to_string(),
                amount: "1.00".into(),
                sequence: 3,
                ..Default::default()
            }],
            next_page_token: "next".into(),
        };
        let bytes = page.encode_to_vec();
        let old = pb::ListTransactionsResponse::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(old, transactions_response(page));
        assert_eq!(old.encode_to_vec(), bytes);
    }

    #[test]
    fn as_of_is_an_instant_from_the_epoch_to_now_inclusive() {
        let now = Timestamp::from_millis(1_000);
        assert_eq!(as_of(0, now).expect("epoch"), 0);
        assert_eq!(as_of(1_000, now).expect("now"), 1_000);
        for (ms, reason) in [
            (-1, "AS_OF_NEGATIVE"),
            (i64::MIN, "AS_OF_NEGATIVE"),
            (1_001, "AS_OF_IN_FUTURE"),
            (i64::MAX, "AS_OF_IN_FUTURE"),
        ] {
            let err = as_of(ms, now).expect_err("refused");
            assert_eq!(invalid_field(err), ("as_of_ms".into(), reason), "{ms}");
        }
    }

    fn invalid_field(err: ApiError) -> (String, &'static str) {
        match err {
            ApiError::InvalidArgument { field, reason, .. } => (field, reason),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn unknown_or_unspecified_required_enums_are_invalid_arguments_naming_the_field() {
        let credit = |source| pb::CreditRequest {
            wallet_id: Uuid::nil().to_string(),
            idempotency_key: "k".into(),
            amount: "1".into(),
            source,
            ..Default::default()
        };
        for source in [0, 42] {
            let err = Mutation::try_from(credit(source)).err().expect("refused");
            assert_eq!(invalid_field(err), ("source".into(), "INVALID_ENUM"));
        }
        assert!(Mutation::try_from(credit(pb::CreditSource::Paid as i32)).is_ok());
        let err = entry_type(42).expect_err("refused");
        assert_eq!(invalid_field(err), ("entry_types".into(), "INVALID_ENUM"));
    }

    #[test]
    fn a_stored_row_no_write_produces_is_corrupt_not_unspecified() {
        let row = WalletRow {
            wallet_id: Uuid::nil(),
            tenant: "acme".into(),
            owner: "alice".into(),
            kind: "customer".into(),
            asset: "USD".into(),
            asset_scale: 2,
            status: "frozen".into(),
            limits: LimitsRow::default(),
            metadata: BTreeMap::new(),
            created_at_ms: 0,
            version: 1,
        };
        assert!(matches!(
            wallet_message(row),
            Err(ApiError::CorruptRow { .. })
        ));
    }
}
