//! The command-line surface of `purse`: clap derive types and the value parsers that reject
//! malformed input before anything is sent, so a typo is a usage error (exit 2), not a server
//! round trip.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use purse_proto::topup::v1::TopUpKind;
use purse_proto::wallet::v1::{CreditSource, DebitKind, EntryType, VelocityLimit, WalletKind};
use rust_decimal::Decimal;

/// Endpoint used when neither `--endpoint` nor `PURSE_ENDPOINT` is given: `pursed`'s default.
pub(crate) const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";
/// Environment variable naming the server endpoint.
pub(crate) const ENV_ENDPOINT: &str = "PURSE_ENDPOINT";
/// Environment variable holding the bearer token.
pub(crate) const ENV_TOKEN: &str = "PURSE_TOKEN";
/// Default bound on connecting and on each call.
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Longest idempotency key the API accepts (DESIGN §3).
pub(crate) const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;
/// Largest page the API serves (DESIGN §8).
pub(crate) const PAGE_SIZE_MAX: u32 = 1000;
/// Largest scale a tenant-defined unit may have (DESIGN §2).
pub(crate) const ASSET_SCALE_MAX: u32 = 18;
/// Longest `--expires-in` / velocity window accepted: far beyond any rule (holds ≤ 30 days), but
/// small enough that adding it to "now" can never overflow.
pub(crate) const DURATION_MAX_MS: u64 = 100 * 365 * 24 * 60 * 60 * 1000;
/// Most auto top-ups a rule may allow per UTC day (the server's rule, checked early).
pub(crate) const AUTO_TOP_UPS_PER_DAY_MAX: u32 = 24;

const LONG_ABOUT: &str = "\
Command-line client for Purse's gRPC APIs: wallets, top-ups and stored payment methods.

Amounts are decimal strings (\"12.34\"), never floating point. Every mutating command carries an
idempotency key; when --idempotency-key is omitted one is generated (UUIDv7) and shown, so the
same command can be retried safely with --idempotency-key <KEY>.

Output: short human-readable lines by default; with --json one JSON object per result on stdout:
the response message in the proto3 JSON mapping (lowerCamelCase names, 64-bit integers and
amounts as strings, enums by name), plus the idempotencyKey sent. Errors are one line on
stderr (a JSON object with --json).

Exit codes:
  0  success
  1  rejected by the server (any gRPC error except UNAVAILABLE and DEADLINE_EXCEEDED);
     for `batch`, at least one operation was rejected
  2  usage error (bad flags or arguments)
  3  could not reach the server, UNAVAILABLE, or DEADLINE_EXCEEDED (the outcome of a mutation
     is unknown: retry it with the same idempotency key)
  4  bad local input (unreadable batch file, bad JSON)";

/// `purse`: one subcommand per RPC of `purse.wallet.v1.WalletService` and
/// `purse.topup.v1.TopUpService`, and the owner's stored cards of `purse.payment.v1`.
#[derive(Debug, Parser)]
#[command(name = "purse", version, about = "Command-line client for Purse's gRPC APIs", long_about = LONG_ABOUT)]
pub(crate) struct Cli {
    /// Server endpoint (http://host:port).
    #[arg(long, env = ENV_ENDPOINT, default_value = DEFAULT_ENDPOINT, global = true)]
    pub(crate) endpoint: String,

    /// Bearer token, sent as `authorization: Bearer <token>` on every call.
    #[arg(long, env = ENV_TOKEN, hide_env_values = true, global = true)]
    pub(crate) token: Option<String>,

    /// Machine output: one JSON object per result on stdout, errors as JSON on stderr.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Bound on connecting and on each call, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub(crate) timeout_ms: u64,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Open, inspect, limit and change the status of wallets.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Add funds: creates a credit lot (Credit).
    Credit(CreditArgs),
    /// Spend funds (Debit).
    Debit(DebitArgs),
    /// Refund an earlier debit in whole or in part (Refund).
    Refund(RefundArgs),
    /// Reserve funds, then capture or void them.
    #[command(subcommand)]
    Hold(HoldCommand),
    /// Show balance, held and available (GetBalance).
    Balance(BalanceArgs),
    /// List a wallet's entries, newest first (ListEntries).
    History(HistoryArgs),
    /// Send up to 1000 operations from a JSON-lines file in one call (BatchExecute).
    ///
    /// Each line is one operation object, e.g.
    /// {"debit": {"wallet_id": "...", "idempotency_key": "...", "amount": "1.00"}}
    /// with one of the keys credit, debit, place_hold, capture_hold, void_hold, refund and the
    /// request fields in snake_case. Every line must carry its idempotency_key so the same file
    /// can be sent again safely. Blank lines are skipped. Prints one result per operation, in
    /// order; exits 1 if any operation was rejected.
    Batch(BatchArgs),
    /// Add funds paid by the wallet's owner, on the hosted page or with a stored card.
    #[command(subcommand)]
    Topup(TopupCommand),
    /// A wallet's automatic top-up rule.
    #[command(subcommand)]
    AutoTopup(AutoTopupCommand),
    /// An owner's stored cards.
    #[command(subcommand)]
    PaymentMethod(PaymentMethodCommand),
}

/// `purse topup ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TopupCommand {
    /// Create a top-up (CreateTopUp). A manual one prints the payment page URL to give the payer.
    Create(TopupCreateArgs),
    /// Show a top-up (GetTopUp).
    Get(TopupGetArgs),
    /// List a wallet's top-ups, newest first (ListTopUps).
    List(TopupListArgs),
}

/// `purse auto-topup ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AutoTopupCommand {
    /// Set or replace a wallet's rule (SetAutoTopUp).
    Set(AutoTopupSetArgs),
    /// Show a wallet's rule and why it is not firing: back-off after failures, the last failure,
    /// the daily cap (GetAutoTopUp).
    Get(AutoTopupGetArgs),
    /// Remove a wallet's rule; an auto top-up in flight still finishes (RemoveAutoTopUp).
    Remove(AutoTopupRemoveArgs),
}

/// `purse payment-method ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PaymentMethodCommand {
    /// List an owner's stored cards (ListPaymentMethods).
    List(PaymentMethodListArgs),
}

/// `purse wallet ...`
#[derive(Debug, Subcommand)]
pub(crate) enum WalletCommand {
    /// Open a wallet (CreateWallet).
    Create(WalletCreateArgs),
    /// Open the tenant's system wallet NAME in an asset, or show the one already open
    /// (OpenSystemWallet). One per name and asset: `fees`, `revenue`, `promotions`, ...
    OpenSystem(WalletOpenSystemArgs),
    /// Show a wallet (GetWallet).
    Get(WalletGetArgs),
    /// List wallets, optionally of one owner (ListWallets).
    List(WalletListArgs),
    /// Replace a wallet's limits (UpdateLimits). A limit flag left out removes that limit.
    UpdateLimits(WalletUpdateLimitsArgs),
    /// Suspend a wallet: no credits or debits until reactivated (SuspendWallet).
    Suspend(WalletSuspendArgs),
    /// Reopen a suspended wallet (ReactivateWallet).
    Reactivate(WalletIdKeyArgs),
    /// Close a wallet with zero balance and no open holds; final (CloseWallet).
    Close(WalletIdKeyArgs),
}

/// `purse hold ...`
#[derive(Debug, Subcommand)]
pub(crate) enum HoldCommand {
    /// Reserve funds until captured, voided or expired (PlaceHold).
    Place(HoldPlaceArgs),
    /// Debit up to the held amount; the rest is released (CaptureHold).
    Capture(HoldCaptureArgs),
    /// Release a hold (VoidHold).
    Void(HoldVoidArgs),
}

/// The idempotency key of a mutating command.
#[derive(Debug, Clone, Args)]
pub(crate) struct KeyArg {
    /// Idempotency key (1-255 visible ASCII characters). Generated (UUIDv7) and shown when
    /// omitted; pass the shown key to retry without applying twice.
    #[arg(long, value_parser = parse_idempotency_key)]
    pub(crate) idempotency_key: Option<String>,
}

/// Optional wallet limits, shared by `wallet create` and `wallet update-limits`.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct LimitArgs {
    /// Largest balance the wallet may reach through credits.
    #[arg(long, value_parser = parse_limit_amount)]
    pub(crate) max_balance: Option<Decimal>,
    /// Most that debits and hold placements may total in one UTC day.
    #[arg(long, value_parser = parse_limit_amount)]
    pub(crate) daily_debit_limit: Option<Decimal>,
    /// Largest single debit or hold.
    #[arg(long, value_parser = parse_limit_amount)]
    pub(crate) per_transaction_max: Option<Decimal>,
    /// At most N mutating operations per window: N/WINDOW_MS, e.g. 10/60000 (the window may
    /// also carry a unit: 10/1m).
    #[arg(long, value_parser = parse_velocity)]
    pub(crate) velocity: Option<VelocityLimit>,
    /// Balance below which a low-balance notice is raised.
    #[arg(long, value_parser = parse_limit_amount)]
    pub(crate) low_balance_threshold: Option<Decimal>,
}

/// Wallet kind flag values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum WalletKindArg {
    /// An integrator's customer.
    Customer,
    /// A tenant's own wallet (fees, revenue, promotions).
    System,
}

impl From<WalletKindArg> for WalletKind {
    fn from(kind: WalletKindArg) -> Self {
        match kind {
            WalletKindArg::Customer => WalletKind::Customer,
            WalletKindArg::System => WalletKind::System,
        }
    }
}

/// Credit sources a client may name; `refund` is only produced by Refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CreditSourceArg {
    /// Paid for by the customer.
    Paid,
    /// Promotional or discounted credit.
    Granted,
    /// Received from another wallet.
    Transfer,
    /// Operator correction.
    Adjustment,
}

impl From<CreditSourceArg> for CreditSource {
    fn from(source: CreditSourceArg) -> Self {
        match source {
            CreditSourceArg::Paid => CreditSource::Paid,
            CreditSourceArg::Granted => CreditSource::Granted,
            CreditSourceArg::Transfer => CreditSource::Transfer,
            CreditSourceArg::Adjustment => CreditSource::Adjustment,
        }
    }
}

/// Debit kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DebitKindArg {
    /// A purchase.
    Purchase,
    /// A redemption of credit for goods or services.
    Redemption,
    /// A fee charged by the tenant.
    Fee,
    /// Sent to another wallet.
    TransferOut,
    /// Paid out of the platform.
    Payout,
}

impl From<DebitKindArg> for DebitKind {
    fn from(kind: DebitKindArg) -> Self {
        match kind {
            DebitKindArg::Purchase => DebitKind::Purchase,
            DebitKindArg::Redemption => DebitKind::Redemption,
            DebitKindArg::Fee => DebitKind::Fee,
            DebitKindArg::TransferOut => DebitKind::TransferOut,
            DebitKindArg::Payout => DebitKind::Payout,
        }
    }
}

/// History entry types for `--type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EntryTypeArg {
    /// Funds credited.
    Credit,
    /// Funds debited.
    Debit,
    /// Hold placed.
    HoldPlaced,
    /// Hold captured.
    HoldCaptured,
    /// Hold released (voided or expired).
    HoldReleased,
    /// Lot expired.
    LotExpired,
    /// Refund of a debit.
    Refund,
}

impl From<EntryTypeArg> for EntryType {
    fn from(entry: EntryTypeArg) -> Self {
        match entry {
            EntryTypeArg::Credit => EntryType::Credit,
            EntryTypeArg::Debit => EntryType::Debit,
            EntryTypeArg::HoldPlaced => EntryType::HoldPlaced,
            EntryTypeArg::HoldCaptured => EntryType::HoldCaptured,
            EntryTypeArg::HoldReleased => EntryType::HoldReleased,
            EntryTypeArg::LotExpired => EntryType::LotExpired,
            EntryTypeArg::Refund => EntryType::Refund,
        }
    }
}

/// How a top-up is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TopupKindArg {
    /// On the hosted payment page (the top-up's URL).
    Manual,
    /// With a stored card (--payment-method), no page.
    ManualWithPaymentMethod,
}

impl From<TopupKindArg> for TopUpKind {
    fn from(kind: TopupKindArg) -> Self {
        match kind {
            TopupKindArg::Manual => TopUpKind::Manual,
            TopupKindArg::ManualWithPaymentMethod => TopUpKind::ManualWithPaymentMethod,
        }
    }
}

/// `purse topup create`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("lots_expiry").args(["lots_expire_in", "lots_expire_at_ms"]).multiple(false)))]
pub(crate) struct TopupCreateArgs {
    /// Wallet credited; its owner pays.
    #[arg(long)]
    pub(crate) wallet: String,
    /// Amount charged to the payer, e.g. 20.00.
    #[arg(long, value_parser = parse_amount)]
    pub(crate) amount: Decimal,
    /// Amount credited to the wallet, at least --amount (default: --amount); the excess is
    /// granted credit.
    #[arg(long, value_parser = parse_amount)]
    pub(crate) wallet_amount: Option<Decimal>,
    /// How the payer pays (default: manual-with-payment-method with --payment-method, manual
    /// otherwise).
    #[arg(long, value_enum)]
    pub(crate) kind: Option<TopupKindArg>,
    /// The owner's stored card to charge (see `purse payment-method list`).
    #[arg(long, required_if_eq("kind", "manual-with-payment-method"))]
    pub(crate) payment_method: Option<String>,
    /// The credited lots expire this long from now (e.g. 30d). The time is computed now and
    /// shown; retry with --lots-expire-at-ms to send the same request again.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub(crate) lots_expire_in: Option<u64>,
    /// The credited lots expire at this time, in milliseconds since the Unix epoch.
    #[arg(long, visible_alias = "lots-expire-at", value_name = "MS")]
    pub(crate) lots_expire_at_ms: Option<i64>,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse topup get`
#[derive(Debug, Args)]
pub(crate) struct TopupGetArgs {
    /// Top-up id.
    pub(crate) top_up_id: String,
    /// Wait (bounded by the server) until the view reflects at least this sequence.
    #[arg(long, default_value_t = 0)]
    pub(crate) min_sequence: u64,
}

/// `purse topup list`
#[derive(Debug, Args)]
pub(crate) struct TopupListArgs {
    /// Wallet id.
    #[arg(long)]
    pub(crate) wallet: String,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

/// `purse auto-topup set`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("charge").args(["amount", "target_balance"]).required(true).multiple(false)))]
pub(crate) struct AutoTopupSetArgs {
    /// Wallet id.
    #[arg(long)]
    pub(crate) wallet: String,
    /// Available balance under which a top-up starts.
    #[arg(long, value_parser = parse_limit_amount)]
    pub(crate) threshold: Decimal,
    /// Charge this fixed amount each time.
    #[arg(long, value_parser = parse_amount)]
    pub(crate) amount: Option<Decimal>,
    /// Or charge what brings the available balance back to this (above the threshold).
    #[arg(long, value_parser = parse_amount)]
    pub(crate) target_balance: Option<Decimal>,
    /// The owner's stored card to charge.
    #[arg(long)]
    pub(crate) payment_method: String,
    /// Auto top-ups per UTC day, failed ones included (1-24; server default 3).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(AUTO_TOP_UPS_PER_DAY_MAX)))]
    pub(crate) daily_max_count: Option<u32>,
    /// Most that auto top-ups may charge per UTC day.
    #[arg(long, value_parser = parse_amount)]
    pub(crate) daily_max_amount: Option<Decimal>,
    /// Wait after a failed auto top-up (1m to 7d; server default 1h), e.g. 2h.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub(crate) backoff: Option<u64>,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse auto-topup get`
#[derive(Debug, Args)]
pub(crate) struct AutoTopupGetArgs {
    /// Wallet id.
    #[arg(long)]
    pub(crate) wallet: String,
    /// Wait (bounded by the server) until the view reflects at least this sequence.
    #[arg(long, default_value_t = 0)]
    pub(crate) min_sequence: u64,
}

/// `purse auto-topup remove`
#[derive(Debug, Args)]
pub(crate) struct AutoTopupRemoveArgs {
    /// Wallet id.
    #[arg(long)]
    pub(crate) wallet: String,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse payment-method list`
#[derive(Debug, Args)]
pub(crate) struct PaymentMethodListArgs {
    /// The integrator's customer id.
    #[arg(long)]
    pub(crate) owner: String,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

/// `purse wallet create`
#[derive(Debug, Args)]
pub(crate) struct WalletCreateArgs {
    /// The integrator's customer id (opaque).
    #[arg(long)]
    pub(crate) owner: String,
    /// ISO 4217 code (USD) or a tenant-defined unit (points).
    #[arg(long)]
    pub(crate) asset: String,
    /// Decimal places: required for tenant-defined units (0-18), must match for ISO currencies.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i64::from(ASSET_SCALE_MAX)))]
    pub(crate) asset_scale: Option<u32>,
    /// Wallet kind.
    #[arg(long, value_enum, default_value_t = WalletKindArg::Customer)]
    pub(crate) kind: WalletKindArg,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// Metadata entry KEY=VALUE; repeat for more.
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = parse_metadata_entry)]
    pub(crate) metadata: Vec<(String, String)>,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse wallet open-system`
#[derive(Debug, Args)]
pub(crate) struct WalletOpenSystemArgs {
    /// The wallet's name: 1-64 of a-z, 0-9, '_' and '-', starting with a letter.
    #[arg(long)]
    pub(crate) name: String,
    /// ISO 4217 code (USD) or a tenant-defined unit (points).
    #[arg(long)]
    pub(crate) asset: String,
    /// Decimal places: required for tenant-defined units (0-18), must match for ISO currencies.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i64::from(ASSET_SCALE_MAX)))]
    pub(crate) asset_scale: Option<u32>,
}

/// `purse wallet get`
#[derive(Debug, Args)]
pub(crate) struct WalletGetArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    /// Wait (bounded by the server) until the view reflects at least this sequence.
    #[arg(long, default_value_t = 0)]
    pub(crate) min_sequence: u64,
}

/// `purse wallet list`
#[derive(Debug, Args)]
pub(crate) struct WalletListArgs {
    /// Only this owner's wallets.
    #[arg(long)]
    pub(crate) owner: Option<String>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

/// Paging flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct PageArgs {
    /// Entries per page (1-1000; server default when omitted).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(PAGE_SIZE_MAX)))]
    pub(crate) page_size: Option<u32>,
    /// Token from the previous page's output.
    #[arg(long)]
    pub(crate) page_token: Option<String>,
}

/// `purse wallet update-limits`
#[derive(Debug, Args)]
pub(crate) struct WalletUpdateLimitsArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse wallet suspend`
#[derive(Debug, Args)]
pub(crate) struct WalletSuspendArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    /// Why, for the audit trail.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse wallet reactivate` and `purse wallet close`
#[derive(Debug, Args)]
pub(crate) struct WalletIdKeyArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// Free-text fields of money movements.
#[derive(Debug, Clone, Args)]
pub(crate) struct ReferenceArgs {
    /// The integrator's reference (order id, ...).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub(crate) reference: String,
    /// Human-readable description.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub(crate) description: String,
}

/// When a credit lot or hold expires: relative or absolute.
#[derive(Debug, Clone, Args)]
pub(crate) struct ExpiryArgs {
    /// Expire this long from now: 1d, 2h, 30m, 90s, 500ms or combined (1h30m). The time is
    /// computed now and shown; retry with --expires-at-ms to send the same request again.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub(crate) expires_in: Option<u64>,
    /// Expire at this time, in milliseconds since the Unix epoch.
    #[arg(long, value_name = "MS")]
    pub(crate) expires_at_ms: Option<i64>,
}

/// `purse credit`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("expiry").args(["expires_in", "expires_at_ms"]).multiple(false)))]
pub(crate) struct CreditArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    /// Amount, e.g. 12.34.
    #[arg(value_parser = parse_amount)]
    pub(crate) amount: Decimal,
    /// Where the funds come from.
    #[arg(long, value_enum, default_value_t = CreditSourceArg::Paid)]
    pub(crate) source: CreditSourceArg,
    #[command(flatten)]
    pub(crate) expiry: ExpiryArgs,
    #[command(flatten)]
    pub(crate) text: ReferenceArgs,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse debit`
#[derive(Debug, Args)]
pub(crate) struct DebitArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    /// Amount, e.g. 12.34.
    #[arg(value_parser = parse_amount)]
    pub(crate) amount: Decimal,
    /// What the debit is for.
    #[arg(long, value_enum, default_value_t = DebitKindArg::Purchase)]
    pub(crate) kind: DebitKindArg,
    #[command(flatten)]
    pub(crate) text: ReferenceArgs,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse refund`
#[derive(Debug, Args)]
pub(crate) struct RefundArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    /// The debit's entry id (shown by `debit` and `history`).
    pub(crate) debit_id: String,
    /// Amount to refund, at most what remains unrefunded.
    #[arg(value_parser = parse_amount)]
    pub(crate) amount: Decimal,
    #[command(flatten)]
    pub(crate) text: ReferenceArgs,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse hold place`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("expiry").args(["expires_in", "expires_at_ms"]).required(true).multiple(false)))]
pub(crate) struct HoldPlaceArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    /// Amount to reserve.
    #[arg(value_parser = parse_amount)]
    pub(crate) amount: Decimal,
    #[command(flatten)]
    pub(crate) expiry: ExpiryArgs,
    #[command(flatten)]
    pub(crate) text: ReferenceArgs,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse hold capture`
#[derive(Debug, Args)]
pub(crate) struct HoldCaptureArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    /// Hold id (shown by `hold place`).
    pub(crate) hold_id: String,
    /// Amount to debit, at most the held amount.
    #[arg(value_parser = parse_amount)]
    pub(crate) amount: Decimal,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse hold void`
#[derive(Debug, Args)]
pub(crate) struct HoldVoidArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    /// Hold id.
    pub(crate) hold_id: String,
    #[command(flatten)]
    pub(crate) key: KeyArg,
}

/// `purse balance`
#[derive(Debug, Args)]
pub(crate) struct BalanceArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    /// Wait (bounded by the server) until the view reflects at least this sequence.
    #[arg(long, default_value_t = 0)]
    pub(crate) min_sequence: u64,
    /// The balance as it was at this instant (ms since the Unix epoch, inclusive), from the
    /// wallet's history; default: now.
    #[arg(long, value_name = "MS")]
    pub(crate) as_of_ms: Option<i64>,
}

/// `purse history`
#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Wallet id.
    pub(crate) wallet_id: String,
    #[command(flatten)]
    pub(crate) page: PageArgs,
    /// Only entries of this type; repeat for more (default: every type).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub(crate) types: Vec<EntryTypeArg>,
    /// Only entries at or after this time (ms since the Unix epoch).
    #[arg(long)]
    pub(crate) from_ms: Option<i64>,
    /// Only entries before this time (ms since the Unix epoch).
    #[arg(long)]
    pub(crate) to_ms: Option<i64>,
    /// Wait (bounded by the server) until the view reflects at least this sequence.
    #[arg(long, default_value_t = 0)]
    pub(crate) min_sequence: u64,
}

/// `purse batch`
#[derive(Debug, Args)]
pub(crate) struct BatchArgs {
    /// JSON-lines file of operations, or - for standard input.
    pub(crate) file: PathBuf,
}

/// Parses an operation amount: a plain decimal, strictly positive (DESIGN §2).
pub(crate) fn parse_amount(text: &str) -> Result<Decimal, String> {
    let amount = parse_decimal(text)?;
    if amount.is_zero() {
        return Err("amount must be greater than zero".to_owned());
    }
    Ok(amount)
}

/// Parses a limit or threshold: a plain decimal, zero allowed (the server decides whether zero
/// makes sense for each limit).
pub(crate) fn parse_limit_amount(text: &str) -> Result<Decimal, String> {
    parse_decimal(text)
}

/// Accepts only `digits[.digits]`: `Decimal::from_str` alone would also take signs, underscores
/// and other spellings the server may read differently, and money must mean one thing.
fn parse_decimal(text: &str) -> Result<Decimal, String> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return Err(format!(
            "`{text}` is not a decimal amount (expected digits with an optional fraction, e.g. 12.34)"
        ));
    }
    Decimal::from_str(text).map_err(|err| format!("`{text}` is not a decimal amount: {err}"))
}

/// Parses an idempotency key: 1-255 visible ASCII characters (DESIGN §3).
pub(crate) fn parse_idempotency_key(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > IDEMPOTENCY_KEY_LEN_MAX {
        return Err(format!(
            "must be 1-{IDEMPOTENCY_KEY_LEN_MAX} characters, got {}",
            text.len()
        ));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must contain only visible ASCII characters (no spaces)".to_owned());
    }
    Ok(text.to_owned())
}

/// Parses a duration like `1d`, `2h`, `30m`, `90s`, `500ms` or `1h30m` into milliseconds.
/// A unit is required: a bare number would be ambiguous between seconds and milliseconds.
pub(crate) fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a duration (examples: 1d, 2h, 30m, 90s, 500ms, 1h30m)");
    let mut rest = text;
    let mut total_ms: u64 = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits_len == 0 {
            return Err(bad());
        }
        let (number, after) = rest.split_at(digits_len);
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        let unit_ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let value: u64 = number.parse().map_err(|_| bad())?;
        total_ms = value
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .filter(|ms| *ms <= DURATION_MAX_MS)
            .ok_or_else(|| format!("`{text}` is longer than the 100-year maximum"))?;
        rest = after;
    }
    if total_ms == 0 {
        return Err("duration must be greater than zero".to_owned());
    }
    Ok(total_ms)
}

/// Parses `N/WINDOW`: N operations per window, the window in milliseconds or with a unit.
pub(crate) fn parse_velocity(text: &str) -> Result<VelocityLimit, String> {
    let bad =
        || format!("`{text}` is not a velocity limit (expected OPS/WINDOW_MS, e.g. 10/60000)");
    let (ops, window) = text.split_once('/').ok_or_else(bad)?;
    let max_operations: u32 = ops.parse().map_err(|_| bad())?;
    if max_operations == 0 {
        return Err("velocity limit must allow at least one operation".to_owned());
    }
    let window_ms = if !window.is_empty() && window.bytes().all(|b| b.is_ascii_digit()) {
        window.parse::<u64>().map_err(|_| bad())?
    } else {
        parse_duration_ms(window)?
    };
    if window_ms == 0 || window_ms > DURATION_MAX_MS {
        return Err(bad());
    }
    Ok(VelocityLimit {
        max_operations,
        window_ms,
    })
}

/// Parses a `KEY=VALUE` metadata entry; the value may contain `=`.
pub(crate) fn parse_metadata_entry(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("purse").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_have_defaults_and_go_anywhere() {
        let cli = parse(&["balance", "w1"]).unwrap();
        assert_eq!(cli.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert!(!cli.json);
        let cli = parse(&["balance", "w1", "--json", "--timeout-ms", "250"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.timeout_ms, 250);
        assert!(parse(&["--timeout-ms", "0", "balance", "w1"]).is_err());
    }

    #[test]
    fn wallet_create_takes_limits_metadata_and_key() {
        let cli = parse(&[
            "wallet",
            "create",
            "--owner",
            "alice",
            "--asset",
            "USD",
            "--kind",
            "system",
            "--max-balance",
            "500.00",
            "--velocity",
            "10/60000",
            "--metadata",
            "tier=gold",
            "--metadata",
            "note=a=b",
            "--idempotency-key",
            "k-1",
        ])
        .unwrap();
        let Command::Wallet(WalletCommand::Create(args)) = cli.command else {
            panic!("expected wallet create");
        };
        assert_eq!(args.owner, "alice");
        assert_eq!(args.kind, WalletKindArg::System);
        assert_eq!(args.limits.max_balance.unwrap().to_string(), "500.00");
        assert_eq!(
            args.limits.velocity,
            Some(VelocityLimit {
                max_operations: 10,
                window_ms: 60_000
            })
        );
        assert_eq!(
            args.metadata,
            vec![
                ("tier".to_owned(), "gold".to_owned()),
                ("note".to_owned(), "a=b".to_owned())
            ]
        );
        assert_eq!(args.key.idempotency_key.as_deref(), Some("k-1"));
    }

    #[test]
    fn debit_kind_is_kebab_case_and_defaults_to_purchase() {
        let cli = parse(&["debit", "w1", "1.00"]).unwrap();
        let Command::Debit(args) = cli.command else {
            panic!("expected debit");
        };
        assert_eq!(args.kind, DebitKindArg::Purchase);
        let cli = parse(&["debit", "w1", "1.00", "--kind", "transfer-out"]).unwrap();
        let Command::Debit(args) = cli.command else {
            panic!("expected debit");
        };
        assert_eq!(DebitKind::from(args.kind), DebitKind::TransferOut);
    }

    #[test]
    fn credit_source_cannot_be_refund() {
        assert!(parse(&["credit", "w1", "1.00", "--source", "refund"]).is_err());
        assert!(parse(&["credit", "w1", "1.00", "--source", "granted"]).is_ok());
    }

    #[test]
    fn credit_expiry_flags_are_exclusive() {
        assert!(parse(&["credit", "w1", "1", "--expires-in", "1d"]).is_ok());
        assert!(
            parse(&[
                "credit",
                "w1",
                "1",
                "--expires-in",
                "1d",
                "--expires-at-ms",
                "5"
            ])
            .is_err()
        );
    }

    #[test]
    fn hold_place_requires_an_expiry() {
        assert!(parse(&["hold", "place", "w1", "5.00"]).is_err());
        let cli = parse(&["hold", "place", "w1", "5.00", "--expires-in", "1h"]).unwrap();
        let Command::Hold(HoldCommand::Place(args)) = cli.command else {
            panic!("expected hold place");
        };
        assert_eq!(args.expiry.expires_in, Some(3_600_000));
    }

    #[test]
    fn history_types_repeat() {
        let cli = parse(&[
            "history",
            "w1",
            "--type",
            "debit",
            "--type",
            "hold-placed",
            "--page-size",
            "50",
        ])
        .unwrap();
        let Command::History(args) = cli.command else {
            panic!("expected history");
        };
        assert_eq!(
            args.types,
            vec![EntryTypeArg::Debit, EntryTypeArg::HoldPlaced]
        );
        assert_eq!(args.page.page_size, Some(50));
        assert!(parse(&["history", "w1", "--page-size", "1001"]).is_err());
    }

    #[test]
    fn bad_amounts_are_usage_errors() {
        for bad in [
            "", "abc", "-1", "+1", "1e3", "1_000", ".5", "5.", "1.2.3", "0", "0.00",
        ] {
            assert!(parse(&["debit", "w1", bad]).is_err(), "accepted {bad:?}");
        }
        assert_eq!(parse_amount("0.01").unwrap().to_string(), "0.01");
        // The scale the user typed is kept: the server checks it against the asset.
        assert_eq!(parse_amount("12.340").unwrap().to_string(), "12.340");
        assert_eq!(parse_limit_amount("0").unwrap(), Decimal::ZERO);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_duration_ms("2h"), Ok(7_200_000));
        assert_eq!(parse_duration_ms("30m"), Ok(1_800_000));
        assert_eq!(parse_duration_ms("90s"), Ok(90_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        for bad in [
            "",
            "10",
            "h",
            "1w",
            "1h 30m",
            "0s",
            "-1h",
            "99999999999999999999d",
        ] {
            assert!(parse_duration_ms(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn velocity() {
        assert_eq!(
            parse_velocity("10/1m"),
            Ok(VelocityLimit {
                max_operations: 10,
                window_ms: 60_000
            })
        );
        for bad in ["10", "0/1000", "10/0", "a/1000", "10/", "10/1x"] {
            assert!(parse_velocity(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn idempotency_keys() {
        assert!(parse_idempotency_key("order-42").is_ok());
        assert!(parse_idempotency_key(&"k".repeat(255)).is_ok());
        assert!(parse_idempotency_key(&"k".repeat(256)).is_err());
        assert!(parse_idempotency_key("").is_err());
        assert!(parse_idempotency_key("has space").is_err());
        assert!(parse_idempotency_key("café").is_err());
    }

    #[test]
    fn metadata_entries() {
        assert_eq!(
            parse_metadata_entry("k="),
            Ok(("k".to_owned(), String::new()))
        );
        assert!(parse_metadata_entry("=v").is_err());
        assert!(parse_metadata_entry("kv").is_err());
    }

    #[test]
    fn topup_create_takes_amounts_kind_card_and_lot_expiry() {
        let cli = parse(&[
            "topup",
            "create",
            "--wallet",
            "w1",
            "--amount",
            "20.00",
            "--wallet-amount",
            "22.00",
            "--lots-expire-at",
            "5000",
        ])
        .unwrap();
        let Command::Topup(TopupCommand::Create(args)) = cli.command else {
            panic!("expected topup create");
        };
        assert_eq!(args.amount.to_string(), "20.00");
        assert_eq!(args.wallet_amount.unwrap().to_string(), "22.00");
        assert_eq!(args.kind, None);
        assert_eq!(args.lots_expire_at_ms, Some(5000));
        let cli = parse(&[
            "topup",
            "create",
            "--wallet",
            "w1",
            "--amount",
            "5",
            "--kind",
            "manual-with-payment-method",
            "--payment-method",
            "pm1",
            "--lots-expire-in",
            "30d",
        ])
        .unwrap();
        let Command::Topup(TopupCommand::Create(args)) = cli.command else {
            panic!("expected topup create");
        };
        assert_eq!(args.kind, Some(TopupKindArg::ManualWithPaymentMethod));
        assert_eq!(
            TopUpKind::from(TopupKindArg::ManualWithPaymentMethod),
            TopUpKind::ManualWithPaymentMethod
        );
        assert_eq!(args.payment_method.as_deref(), Some("pm1"));
        assert_eq!(args.lots_expire_in, Some(30 * 86_400_000));
    }

    #[test]
    fn topup_create_usage_errors() {
        let base = ["topup", "create", "--wallet", "w1"];
        let with = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            parse(&args)
        };
        // A stored-card top-up needs its card.
        assert!(with(&["--amount", "5", "--kind", "manual-with-payment-method"]).is_err());
        // Auto top-ups are started by the rule, never by hand.
        assert!(with(&["--amount", "5", "--kind", "auto"]).is_err());
        for bad in ["0", "-5", "1e3", "abc", ""] {
            assert!(with(&["--amount", bad]).is_err(), "accepted {bad:?}");
            assert!(
                with(&["--amount", "5", "--wallet-amount", bad]).is_err(),
                "accepted wallet amount {bad:?}"
            );
        }
        assert!(with(&[]).is_err(), "--amount is required");
        assert!(
            parse(&["topup", "create", "--amount", "5"]).is_err(),
            "--wallet is required"
        );
        assert!(
            with(&[
                "--amount",
                "5",
                "--lots-expire-in",
                "1d",
                "--lots-expire-at-ms",
                "5"
            ])
            .is_err()
        );
    }

    #[test]
    fn topup_get_and_list() {
        let cli = parse(&["topup", "get", "t1", "--min-sequence", "3"]).unwrap();
        let Command::Topup(TopupCommand::Get(args)) = cli.command else {
            panic!("expected topup get");
        };
        assert_eq!((args.top_up_id.as_str(), args.min_sequence), ("t1", 3));
        let cli = parse(&["topup", "list", "--wallet", "w1", "--page-size", "10"]).unwrap();
        let Command::Topup(TopupCommand::List(args)) = cli.command else {
            panic!("expected topup list");
        };
        assert_eq!(args.page.page_size, Some(10));
        assert!(parse(&["topup", "list"]).is_err(), "--wallet is required");
        assert!(parse(&["topup", "list", "--wallet", "w1", "--page-size", "1001"]).is_err());
    }

    #[test]
    fn auto_topup_set_needs_exactly_one_charge() {
        let base = [
            "auto-topup",
            "set",
            "--wallet",
            "w1",
            "--threshold",
            "0",
            "--payment-method",
            "pm1",
        ];
        let with = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            parse(&args)
        };
        assert!(with(&[]).is_err(), "a charge is required");
        assert!(with(&["--amount", "10", "--target-balance", "50"]).is_err());
        let cli = with(&[
            "--target-balance",
            "50.00",
            "--daily-max-count",
            "24",
            "--daily-max-amount",
            "100",
            "--backoff",
            "2h",
        ])
        .unwrap();
        let Command::AutoTopup(AutoTopupCommand::Set(args)) = cli.command else {
            panic!("expected auto-topup set");
        };
        assert_eq!(args.threshold, Decimal::ZERO);
        assert_eq!(args.target_balance.unwrap().to_string(), "50.00");
        assert_eq!(args.daily_max_count, Some(24));
        assert_eq!(args.backoff, Some(7_200_000));
        for bad in ["0", "25"] {
            assert!(
                with(&["--amount", "10", "--daily-max-count", bad]).is_err(),
                "accepted daily max count {bad}"
            );
        }
        assert!(with(&["--amount", "0"]).is_err());
        assert!(
            parse(&[
                "auto-topup",
                "set",
                "--wallet",
                "w1",
                "--threshold",
                "5",
                "--amount",
                "10"
            ])
            .is_err(),
            "--payment-method is required"
        );
    }

    #[test]
    fn auto_topup_get_remove_and_payment_methods() {
        assert!(parse(&["auto-topup", "get", "--wallet", "w1"]).is_ok());
        assert!(parse(&["auto-topup", "get"]).is_err());
        let cli = parse(&[
            "auto-topup",
            "remove",
            "--wallet",
            "w1",
            "--idempotency-key",
            "k",
        ])
        .unwrap();
        let Command::AutoTopup(AutoTopupCommand::Remove(args)) = cli.command else {
            panic!("expected auto-topup remove");
        };
        assert_eq!(args.key.idempotency_key.as_deref(), Some("k"));
        let cli = parse(&["payment-method", "list", "--owner", "alice"]).unwrap();
        let Command::PaymentMethod(PaymentMethodCommand::List(args)) = cli.command else {
            panic!("expected payment-method list");
        };
        assert_eq!(args.owner, "alice");
        assert!(
            parse(&["payment-method", "list"]).is_err(),
            "--owner is required"
        );
    }

    #[test]
    fn help_documents_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        for line in [
            "0  success",
            "1  rejected",
            "2  usage",
            "3  could not reach",
            "4  bad local",
        ] {
            assert!(help.contains(line), "missing {line:?} in help");
        }
    }
}
