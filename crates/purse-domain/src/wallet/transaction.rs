//! The wallet's side of multi-wallet transactions (DESIGN §10, ADR 0017): the legs a coordinator
//! sends, the entries a commit posts, why a prepare fails, and the prepare / commit / abort rules.
//!
//! A prepare walks this wallet's legs in the transaction's order on its running balance and
//! either places one hold for the largest running drawdown (remembering the legs) or records the
//! first failing leg. A commit posts exactly the remembered legs from that hold; an abort releases
//! it; a hold nobody resolves is released at its deadline by the ordinary hold timer.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::decide::{Plan, Rules};
use super::error::WalletError;
use super::event::{LotDraw, WalletEventKind};
use super::state::Hold;
use super::types::{CreditSource, named_enum};
use super::{MAX_TRANSACTION_LEGS, WalletEvent};
use crate::support::{Encoder, derived_id};
use crate::time::Timestamp;

named_enum! {
    /// What a posted transaction entry did to the wallet; names the operation it came from.
    pub enum EntryType {
        /// `issue`: value created in this wallet.
        Issue => "issue",
        /// `redeem`: value removed from this wallet.
        Redeem => "redeem",
        /// The paying side of a `transfer`.
        TransferDebit => "transfer_debit",
        /// The receiving side of a `transfer`.
        TransferCredit => "transfer_credit",
        /// The paying side of an `exchange` (not produced until quotes exist).
        ExchangeDebit => "exchange_debit",
        /// The receiving side of an `exchange` (not produced until quotes exist).
        ExchangeCredit => "exchange_credit",
    }
}

impl EntryType {
    /// Whether the entry adds value to the wallet.
    pub fn is_credit(self) -> bool {
        matches!(
            self,
            Self::Issue | Self::TransferCredit | Self::ExchangeCredit
        )
    }
}

named_enum! {
    /// Why a transaction failed: the machine reason is the upper-case name
    /// (`INSUFFICIENT_FUNDS`).
    pub enum TransactionFailureReason {
        /// A debit above what the wallet may spend at that step.
        InsufficientFunds => "insufficient_funds",
        /// A wallet limit (balance, daily, per transaction, velocity) would be broken.
        LimitExceeded => "limit_exceeded",
        /// The wallet is suspended.
        WalletSuspended => "wallet_suspended",
        /// The wallet is closed.
        WalletClosed => "wallet_closed",
        /// No such wallet for the tenant.
        WalletNotFound => "wallet_not_found",
        /// A transfer between wallets of different assets.
        AssetMismatch => "asset_mismatch",
        /// An amount not valid at the wallet's asset scale.
        InvalidAmount => "invalid_amount",
        /// An issued lot's expiry not in the future.
        ExpiryNotInFuture => "expiry_not_in_future",
        /// An issued lot's source other than `paid` or `granted`.
        SourceNotAllowed => "source_not_allowed",
        /// A credit would take the balance above the asset's largest amount.
        BalanceCeilingExceeded => "balance_ceiling_exceeded",
        /// An exchange names a quote that does not exist (every quote, for now).
        QuoteNotFound => "quote_not_found",
        /// An exchange's quote expired before the transaction completed.
        QuoteExpired => "quote_expired",
        /// Not every wallet prepared before the transaction's deadline.
        DeadlineExceeded => "deadline_exceeded",
    }
}

impl TransactionFailureReason {
    /// The failure reason a wallet rejection stands for, if it is one a prepare can meet.
    ///
    /// A prepare on a missing or closed wallet cannot be recorded on that wallet's stream (there
    /// is none, or it is final), so it is a rejection; whoever drives the coordinator turns it
    /// into `RecordPrepareFailed` with this reason and the wallet's first leg index.
    /// Written out variant by variant, so a new wallet error forces a decision here.
    pub fn of(error: &WalletError) -> Option<Self> {
        Some(match error {
            WalletError::NotFound => Self::WalletNotFound,
            WalletError::Closed => Self::WalletClosed,
            WalletError::Suspended => Self::WalletSuspended,
            WalletError::InsufficientFunds { .. } => Self::InsufficientFunds,
            WalletError::LimitExceeded { .. } => Self::LimitExceeded,
            WalletError::InvalidAmount { .. } => Self::InvalidAmount,
            WalletError::ExpiryNotInFuture { .. } => Self::ExpiryNotInFuture,
            WalletError::SourceNotAllowed { .. } => Self::SourceNotAllowed,
            WalletError::BalanceCeilingExceeded { .. } => Self::BalanceCeilingExceeded,
            // Errors about the prepare's shape or other commands: the caller's bug, not an answer.
            WalletError::AlreadyExists
            | WalletError::InvalidVelocity
            | WalletError::InvalidText { .. }
            | WalletError::InvalidMetadata { .. }
            | WalletError::HoldTooLong { .. }
            | WalletError::HoldNotFound
            | WalletError::HoldNotActive { .. }
            | WalletError::CaptureExceedsHold { .. }
            | WalletError::DebitNotFound
            | WalletError::RefundExceedsDebit { .. }
            | WalletError::InvalidTransition { .. }
            | WalletError::BalanceNotZero { .. }
            | WalletError::OpenHolds { .. }
            | WalletError::HoldOwnedByTransaction { .. }
            | WalletError::InvalidTransactionLegs { .. }
            | WalletError::TransactionNotFound
            | WalletError::TransactionNotPrepared { .. } => return None,
        })
    }
}

/// One of this wallet's operations in a transaction, with its index in the whole transaction.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TransactionLeg {
    /// The operation's index in the transaction (0-based), named by entries and failures.
    pub index: u32,
    /// How much; validated at the wallet's asset scale by the prepare.
    pub amount: Decimal,
    /// What the operation does to this wallet.
    pub entry: LegEntry,
}

/// What a leg does to the wallet that receives it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegEntry {
    /// Create value as a new lot.
    Issue {
        /// `paid` or `granted`.
        source: CreditSource,
        /// When the lot's remainder expires, if ever.
        expires_at: Option<Timestamp>,
    },
    /// Remove value.
    Redeem,
    /// Send value to `to` (same asset).
    TransferDebit {
        /// The receiving wallet.
        to: Uuid,
    },
    /// Receive value from `from`, as a `transfer` lot without expiry.
    TransferCredit {
        /// The paying wallet.
        from: Uuid,
    },
}

impl TransactionLeg {
    /// The entry type the leg posts.
    pub fn entry_type(&self) -> EntryType {
        match self.entry {
            LegEntry::Issue { .. } => EntryType::Issue,
            LegEntry::Redeem => EntryType::Redeem,
            LegEntry::TransferDebit { .. } => EntryType::TransferDebit,
            LegEntry::TransferCredit { .. } => EntryType::TransferCredit,
        }
    }

    /// The other wallet of a transfer.
    pub fn counterparty(&self) -> Option<Uuid> {
        match self.entry {
            LegEntry::TransferDebit { to } => Some(to),
            LegEntry::TransferCredit { from } => Some(from),
            LegEntry::Issue { .. } | LegEntry::Redeem => None,
        }
    }

    /// The lot a credit leg creates: its source and expiry; None for debits.
    fn lot_terms(&self) -> Option<(CreditSource, Option<Timestamp>)> {
        match self.entry {
            LegEntry::Issue { source, expires_at } => Some((source, expires_at)),
            LegEntry::TransferCredit { .. } => Some((CreditSource::Transfer, None)),
            LegEntry::Redeem | LegEntry::TransferDebit { .. } => None,
        }
    }

    /// Canonical encoding, part of the wallet's and the coordinator's fingerprints.
    pub(crate) fn encode(&self, enc: &mut Encoder) {
        enc.u64(self.index.into());
        enc.decimal(self.amount);
        enc.str(self.entry_type().as_str());
        match self.entry {
            LegEntry::Issue { source, expires_at } => {
                enc.str(source.as_str());
                enc.option(expires_at, Encoder::timestamp);
            }
            LegEntry::Redeem => {}
            LegEntry::TransferDebit { to: other } | LegEntry::TransferCredit { from: other } => {
                enc.uuid(other)
            }
        }
    }
}

/// The lot a transaction credit creates. Its id is derived from the transaction and the
/// operation index ([`transaction_lot_id`]), because a commit may create up to
/// [`MAX_TRANSACTION_LEGS`] lots and a decision gets only a few fresh ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditedLot {
    /// The new lot.
    pub lot_id: Uuid,
    /// `paid`, `granted` or `transfer`.
    pub source: CreditSource,
    /// When its remainder expires, if ever.
    pub expires_at: Option<Timestamp>,
}

/// One posted entry of a committed transaction on this wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionEntry {
    /// The operation's index in the transaction.
    pub index: u32,
    /// What it did.
    pub entry_type: EntryType,
    /// How much.
    pub amount: Decimal,
    /// The other wallet of a transfer.
    pub counterparty: Option<Uuid>,
    /// For credits, the lot created.
    pub lot: Option<CreditedLot>,
    /// For debits, the lots drawn in consumption order (empty for credits).
    pub draws: Vec<LotDraw>,
    /// Balance after this entry.
    pub balance_after: Decimal,
}

named_enum! {
    /// Where a transaction stands on one wallet.
    pub enum WalletTransactionStatus {
        /// Its hold is placed and its legs remembered, awaiting commit or abort.
        Prepared => "prepared",
        /// The prepare failed; nothing was reserved.
        Failed => "failed",
        /// Its entries were posted.
        Committed => "committed",
        /// Its hold was released by the coordinator.
        Aborted => "aborted",
        /// Its hold reached its deadline unresolved and the wallet's timer released it.
        Expired => "expired",
    }
}

/// What a wallet remembers of one transaction. The legs are kept only while prepared, so that
/// the commit posts exactly what was validated; afterwards only the status is kept (as holds
/// keep only how they resolved), so a late prepare, commit or abort gets a stable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletTransaction {
    pub(crate) status: WalletTransactionStatus,
    pub(crate) hold_id: Option<Uuid>,
    pub(crate) legs: Vec<TransactionLeg>,
}

impl WalletTransaction {
    /// Where the transaction stands on this wallet.
    pub fn status(&self) -> WalletTransactionStatus {
        self.status
    }

    /// The hold placed by the prepare, if it succeeded.
    pub fn hold_id(&self) -> Option<Uuid> {
        self.hold_id
    }

    /// The prepared legs (empty once committed, aborted, expired or failed).
    pub fn legs(&self) -> &[TransactionLeg] {
        &self.legs
    }
}

/// The id of the lot created by operation `index` of `transaction_id` (unique per wallet: a
/// wallet receives at most one entry per operation, as a transfer's two sides differ).
pub fn transaction_lot_id(transaction_id: Uuid, index: u32) -> Uuid {
    derived_id(
        b"purse.transaction-lot-id.v1\0",
        &[transaction_id.as_bytes(), &index.to_be_bytes()],
    )
}

/// What a successful walk yields: the legs at the asset's scale and what to reserve.
struct Walk {
    legs: Vec<TransactionLeg>,
    drawdown: Decimal,
}

/// The first failing leg of a walk.
struct LegFailure {
    index: u32,
    reason: TransactionFailureReason,
    available: Option<Decimal>,
}

impl LegFailure {
    /// Leg `index` met `error`, one of the credit and debit rules (all have a reason).
    fn at(index: u32, error: WalletError) -> Self {
        let available = match error {
            WalletError::InsufficientFunds { available } => Some(available),
            _ => None,
        };
        let reason = match TransactionFailureReason::of(&error) {
            Some(reason) => reason,
            None => unreachable!("a leg rule returned {error:?}, which is no prepare answer"),
        };
        Self {
            index,
            reason,
            available,
        }
    }
}

impl Rules<'_> {
    /// Prepare: see the module documentation. A transaction this wallet already answered gets
    /// no new events (its first answer is in the stream, and a commit or abort may follow it).
    pub(super) fn prepare_transaction(
        &self,
        transaction_id: Uuid,
        asset: &str,
        legs: &[TransactionLeg],
        expires_at: Timestamp,
    ) -> Result<Vec<WalletEvent>, WalletError> {
        if self.wallet.transactions.contains_key(&transaction_id) {
            return Ok(Vec::new());
        }
        let ordered = legs.windows(2).all(|pair| pair[0].index < pair[1].index);
        if legs.is_empty() || legs.len() > MAX_TRANSACTION_LEGS || !ordered {
            return Err(WalletError::InvalidTransactionLegs {
                max: MAX_TRANSACTION_LEGS,
            });
        }
        self.check_hold_deadline(expires_at)?;
        let mut plan = Plan::new(self.wallet, self.ctx.now);
        plan.expire_due();
        let kind = match self.walk(&plan, asset, legs) {
            Ok(walk) => {
                let reservations = plan.reserve(walk.drawdown);
                plan.held += walk.drawdown;
                WalletEventKind::TransactionHoldPlaced {
                    transaction_id,
                    hold_id: self.ctx.id(0),
                    amount: walk.drawdown,
                    reservations,
                    legs: walk.legs,
                    expires_at,
                    balance_after: plan.balance,
                    held_after: plan.held,
                }
            }
            Err(failure) => WalletEventKind::TransactionPrepareFailed {
                transaction_id,
                index: failure.index,
                reason: failure.reason,
                available: failure.available,
            },
        };
        plan.emit(kind);
        Ok(plan.events)
    }

    /// Walks the legs in order on the running balance, with the checks a credit or debit of
    /// the same amount meets, and returns the largest running drawdown or the first failing
    /// leg's index and error. Limits count the transaction's debits together: the daily total
    /// and the per-transaction maximum see each debit leg after the earlier ones.
    fn walk(&self, plan: &Plan, asset: &str, legs: &[TransactionLeg]) -> Result<Walk, LegFailure> {
        let first = legs[0].index;
        self.require_open()
            .map_err(|error| LegFailure::at(first, error))?;
        // The coordinator matched transfer sides by the assets it was told; each wallet checks
        // its own, which never changes, so a stale read model cannot mix assets.
        if self.wallet.asset.code() != asset {
            return Err(LegFailure {
                index: first,
                reason: TransactionFailureReason::AssetMismatch,
                available: None,
            });
        }
        self.check_velocity()
            .map_err(|error| LegFailure::at(first, error))?;
        let available = plan.available();
        let mut net = Decimal::ZERO;
        let mut debited = Decimal::ZERO;
        let mut drawdown = Decimal::ZERO;
        let mut checked = Vec::with_capacity(legs.len());
        for leg in legs {
            let fail = |error| LegFailure::at(leg.index, error);
            let amount = self.amount("amount", leg.amount).map_err(fail)?;
            match leg.lot_terms() {
                Some((source, expires_at)) => {
                    if !matches!(source, CreditSource::Paid | CreditSource::Granted)
                        && leg.entry_type() == EntryType::Issue
                    {
                        return Err(fail(WalletError::SourceNotAllowed { source }));
                    }
                    if let Some(expires_at) = expires_at {
                        self.require_future("expires_at", expires_at)
                            .map_err(fail)?;
                    }
                    net += amount;
                    self.check_balance_after(plan.balance + net).map_err(fail)?;
                }
                None => {
                    self.check_spending_limits(amount, debited).map_err(fail)?;
                    if amount > available + net {
                        return Err(fail(WalletError::InsufficientFunds {
                            available: available + net,
                        }));
                    }
                    net -= amount;
                    debited += amount;
                    drawdown = drawdown.max(-net);
                }
            }
            checked.push(TransactionLeg {
                amount,
                ..leg.clone()
            });
        }
        Ok(Walk {
            legs: checked,
            drawdown,
        })
    }

    /// Commit: posts the remembered legs from the transaction's hold. Allowed while suspended:
    /// the prepare promised these funds, as a hold promises its capture. A second commit is a
    /// no-op; a commit of a transaction not prepared here is refused.
    pub(super) fn commit_transaction(
        &self,
        transaction_id: Uuid,
    ) -> Result<Vec<WalletEvent>, WalletError> {
        let record = self
            .wallet
            .transactions
            .get(&transaction_id)
            .ok_or(WalletError::TransactionNotFound)?;
        match record.status {
            WalletTransactionStatus::Committed => return Ok(Vec::new()),
            WalletTransactionStatus::Prepared => {}
            status => return Err(WalletError::TransactionNotPrepared { status }),
        }
        let hold = self.prepared_hold(record);
        // Past its deadline the hold is expired even before the timer releases it, as for any
        // hold: its funds were promised back then.
        if hold.expires_at <= self.ctx.now {
            return Err(WalletError::TransactionNotPrepared {
                status: WalletTransactionStatus::Expired,
            });
        }
        let mut plan = Plan::new(self.wallet, self.ctx.now);
        plan.expire_due();
        plan.unreserve(hold);
        let mut entries = Vec::with_capacity(record.legs.len());
        for leg in &record.legs {
            let (lot, draws) = match leg.lot_terms() {
                Some((source, expires_at)) => {
                    let lot_id = transaction_lot_id(transaction_id, leg.index);
                    plan.add_lot(lot_id, source, leg.amount, expires_at);
                    let lot = CreditedLot {
                        lot_id,
                        source,
                        expires_at,
                    };
                    (Some(lot), Vec::new())
                }
                None => {
                    // The walk at prepare guarantees the funds: the hold covered the largest
                    // drawdown and was reserved from lots that could not expire meanwhile.
                    let draws = plan.draw_unreserved(leg.amount);
                    plan.balance -= leg.amount;
                    (None, draws)
                }
            };
            entries.push(TransactionEntry {
                index: leg.index,
                entry_type: leg.entry_type(),
                amount: leg.amount,
                counterparty: leg.counterparty(),
                lot,
                draws,
                balance_after: plan.balance,
            });
        }
        let kind = WalletEventKind::TransactionPosted {
            transaction_id,
            hold_id: hold.id,
            entries,
            balance_after: plan.balance,
            held_after: plan.held,
        };
        plan.emit(kind);
        // What the hold released from lots already past expiry expires now, as after a capture.
        plan.expire_due();
        Ok(plan.events)
    }

    /// Abort: releases the transaction's hold. Aborting a transaction this wallet never
    /// prepared (it failed, or the prepare never arrived) or already released is a no-op, so the
    /// coordinator may abort without knowing what each wallet answered; aborting a committed one
    /// is refused.
    pub(super) fn abort_transaction(
        &self,
        transaction_id: Uuid,
    ) -> Result<Vec<WalletEvent>, WalletError> {
        let Some(record) = self.wallet.transactions.get(&transaction_id) else {
            return Ok(Vec::new());
        };
        match record.status {
            WalletTransactionStatus::Prepared => {}
            WalletTransactionStatus::Committed => {
                return Err(WalletError::TransactionNotPrepared {
                    status: WalletTransactionStatus::Committed,
                });
            }
            _ => return Ok(Vec::new()),
        }
        // Released even past its deadline: the timer would release it the same way.
        let hold = self.prepared_hold(record);
        let mut plan = Plan::new(self.wallet, self.ctx.now);
        plan.expire_due();
        plan.unreserve(hold);
        let kind = WalletEventKind::TransactionHoldReleased {
            transaction_id,
            hold_id: hold.id,
            amount: hold.amount,
            balance_after: plan.balance,
            held_after: plan.held,
        };
        plan.emit(kind);
        plan.expire_due();
        Ok(plan.events)
    }

    /// The active hold of a prepared transaction (a state invariant: evolve marks the
    /// transaction expired when its hold is released).
    fn prepared_hold(&self, record: &WalletTransaction) -> &Hold {
        match record.hold_id.and_then(|id| self.wallet.hold(id)) {
            Some(hold) => hold,
            None => panic!("a prepared transaction's hold is not active"),
        }
    }
}
