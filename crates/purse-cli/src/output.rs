//! Rendering results and errors: short human lines by default, one JSON object per result with
//! `--json`. The JSON of a response is the proto3 JSON mapping generated from the protos
//! (lowerCamelCase names, int64 as strings, enums by name, amounts as the strings they are), so
//! any protobuf library parses it; `purse` adds only the key it sent (`idempotencyKey`).

use std::collections::{BTreeMap, HashMap};

use purse_proto::topup::v1::{AutoTopUpRule, TopUp, TopUpKind, TopUpStatus, auto_top_up_rule};
use purse_proto::wallet::v1::{
    BatchError, BatchResult, CreateWalletResponse, EntryType, MutationResponse, Transaction,
    Wallet, WalletKind, WalletStatus, batch_result,
};
use serde::Serialize;
use serde_json::{Value, json};
use tonic_types::StatusExt;

use crate::commands::{BatchItem, IdempotencyKey, Outcome};
use purse_proto::status_code_name as code_name;

use crate::error::CliError;

/// Characters of a lot id shown in the history table. UUIDv7 ids start with their creation
/// time, so lots made in the same minute share a prefix; the random tail tells them apart.
const LOT_ID_SHOWN_CHARS: usize = 8;

/// The lines to print on stdout for `outcome`.
pub(crate) fn render(outcome: &Outcome, json: bool) -> Result<Vec<String>, serde_json::Error> {
    if json {
        Ok(render_json(outcome)?
            .into_iter()
            .map(|value| value.to_string())
            .collect())
    } else {
        Ok(render_human(outcome))
    }
}

/// The single stderr line for `err`.
pub(crate) fn render_error(err: &CliError, json: bool) -> String {
    let report = ErrorReport::from(err);
    if json {
        json!({ "error": report }).to_string()
    } else {
        report.to_human()
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The parts of an error both renderings show; its JSON uses lowerCamelCase names like the
/// responses.
#[derive(Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorReport {
    /// gRPC code name; `None` for errors that never reached the network.
    code: Option<&'static str>,
    /// Machine-readable reason (`google.rpc.ErrorInfo.reason`, or a local one).
    reason: Option<String>,
    message: String,
    metadata: BTreeMap<String, String>,
    /// Field names from a `google.rpc.BadRequest`.
    fields: Vec<String>,
    /// Key to retry with when the outcome is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<String>,
}

impl From<&CliError> for ErrorReport {
    fn from(err: &CliError) -> Self {
        match err {
            CliError::Status {
                status,
                idempotency_key,
            } => {
                let details = status.get_error_details();
                let (reason, metadata) = match details.error_info() {
                    Some(info) if !info.reason.is_empty() => {
                        (Some(info.reason.clone()), sorted(&info.metadata))
                    }
                    Some(info) => (None, sorted(&info.metadata)),
                    None => (None, BTreeMap::new()),
                };
                let fields = details
                    .bad_request()
                    .map(|bad| {
                        bad.field_violations
                            .iter()
                            .map(|v| v.field.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                ErrorReport {
                    code: Some(code_name(status.code())),
                    reason,
                    message: status.message().to_owned(),
                    metadata,
                    fields,
                    idempotency_key: idempotency_key.clone(),
                }
            }
            CliError::Timeout {
                idempotency_key, ..
            } => ErrorReport {
                code: Some("DEADLINE_EXCEEDED"),
                reason: Some("CLIENT_TIMEOUT".to_owned()),
                message: err.to_string(),
                idempotency_key: idempotency_key.clone(),
                ..ErrorReport::default()
            },
            CliError::Connect(_) => ErrorReport {
                code: Some("UNAVAILABLE"),
                reason: Some("CONNECT_FAILED".to_owned()),
                message: err.to_string(),
                ..ErrorReport::default()
            },
            CliError::Usage(_) => local("USAGE", err),
            CliError::ReadInput { .. } | CliError::BadBatchLine { .. } | CliError::BadBatch(_) => {
                local("BAD_INPUT", err)
            }
            CliError::Output(_) => local("OUTPUT_FAILED", err),
            CliError::BatchFailures { failed, total, .. } => ErrorReport {
                metadata: BTreeMap::from([
                    ("failed".to_owned(), failed.to_string()),
                    ("total".to_owned(), total.to_string()),
                ]),
                ..local("BATCH_OPERATIONS_FAILED", err)
            },
        }
    }
}

fn local(reason: &str, err: &CliError) -> ErrorReport {
    ErrorReport {
        reason: Some(reason.to_owned()),
        message: err.to_string(),
        ..ErrorReport::default()
    }
}

impl ErrorReport {
    /// `error: FAILED_PRECONDITION INSUFFICIENT_FUNDS: insufficient funds (available=20.00)`
    fn to_human(&self) -> String {
        let mut line = String::from("error: ");
        let label: Vec<&str> = self
            .code
            .into_iter()
            .chain(self.reason.as_deref().filter(|_| self.code.is_some()))
            .collect();
        if !label.is_empty() {
            line.push_str(&label.join(" "));
            line.push_str(": ");
        }
        line.push_str(&one_line(&self.message));
        if !self.metadata.is_empty() {
            line.push_str(&format!(" ({})", key_values(&self.metadata)));
        }
        if !self.fields.is_empty() {
            line.push_str(&format!(" (fields: {})", self.fields.join(", ")));
        }
        if let Some(key) = &self.idempotency_key {
            line.push_str(&format!(
                "; outcome unknown, retry with --idempotency-key {key}"
            ));
        }
        line
    }
}

fn sorted(map: &HashMap<String, String>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn key_values(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={}", one_line(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Server messages may contain line breaks; the error contract is one line.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// JSON

fn render_json(outcome: &Outcome) -> Result<Vec<Value>, serde_json::Error> {
    let value = match outcome {
        Outcome::WalletCreated { response, key } => with_key(response, key, None)?,
        Outcome::SystemWallet(response) => serde_json::to_value(response)?,
        Outcome::Wallet(wallet) => serde_json::to_value(wallet)?,
        Outcome::Wallets(page) => serde_json::to_value(page)?,
        Outcome::Mutation {
            response,
            key,
            computed_expires_at_ms,
        } => with_key(
            response,
            key,
            computed_expires_at_ms.map(|at| ("expiresAtMs", at)),
        )?,
        Outcome::Balance(balance) => serde_json::to_value(balance)?,
        Outcome::History(page) => serde_json::to_value(page)?,
        Outcome::Batch(items) => return items.iter().map(batch_item_json).collect(),
        Outcome::TopUpCreated {
            response,
            key,
            computed_lots_expire_at_ms,
        } => with_key(
            response,
            key,
            computed_lots_expire_at_ms.map(|at| ("lotsExpireAtMs", at)),
        )?,
        Outcome::TopUp(top_up) => serde_json::to_value(top_up)?,
        Outcome::TopUps(page) => serde_json::to_value(page)?,
        Outcome::AutoTopUpSet { response, key } => with_key(response, key, None)?,
        Outcome::AutoTopUp(rule) => serde_json::to_value(rule)?,
        Outcome::AutoTopUpRemoved { response, key } => with_key(response, key, None)?,
        Outcome::PaymentMethods(page) => serde_json::to_value(page)?,
    };
    Ok(vec![value])
}

/// A mutation's response with the key it was sent with and, when `purse` computed a time from
/// a relative flag, that time (an int64, so a string like the message's own).
fn with_key(
    response: &impl Serialize,
    key: &IdempotencyKey,
    computed: Option<(&str, i64)>,
) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(response)?;
    if let Value::Object(map) = &mut value {
        map.insert("idempotencyKey".to_owned(), json!(key.value));
        if let Some((name, at)) = computed {
            map.insert(name.to_owned(), json!(at.to_string()));
        }
    }
    Ok(value)
}

/// One batch operation's `BatchResult` (`ok` or `error`) with its line and key. A missing
/// result is shown as an error, so it cannot pass for a success.
fn batch_item_json(item: &BatchItem) -> Result<Value, serde_json::Error> {
    let result = BatchResult {
        result: Some(item.result.clone().unwrap_or_else(|| {
            batch_result::Result::Error(BatchError {
                code: tonic::Code::Unknown as i32,
                reason: "NO_RESULT".to_owned(),
                message: MISSING_RESULT.to_owned(),
                metadata: HashMap::new(),
            })
        })),
    };
    let mut value = serde_json::to_value(&result)?;
    if let Value::Object(map) = &mut value {
        map.insert("line".to_owned(), json!(item.source.line));
        map.insert(
            "idempotencyKey".to_owned(),
            json!(item.source.idempotency_key),
        );
    }
    Ok(value)
}

const MISSING_RESULT: &str =
    "the server returned no result for this operation; retry with the same idempotency key";

// ---------------------------------------------------------------------------------------------
// Human

fn render_human(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Outcome::WalletCreated { response, key } => {
            let mut lines = opened_human(response);
            push_key(&mut lines, key);
            lines
        }
        Outcome::SystemWallet(response) => opened_human(response),
        Outcome::Wallet(wallet) => wallet_human(wallet),
        Outcome::Wallets(page) => {
            let mut lines = if page.wallets.is_empty() {
                vec!["no wallets".to_owned()]
            } else {
                let rows = page
                    .wallets
                    .iter()
                    .map(|w| {
                        vec![
                            w.wallet_id.clone(),
                            w.owner.clone(),
                            w.asset.clone(),
                            wallet_kind_name(w.kind),
                            wallet_status_name(w.status),
                            format_time_ms(w.created_at_ms),
                        ]
                    })
                    .collect();
                table(
                    &["WALLET", "OWNER", "ASSET", "KIND", "STATUS", "CREATED"],
                    &[Align::Left; 6],
                    rows,
                )
            };
            push_next_page(&mut lines, &page.next_page_token);
            lines
        }
        Outcome::Mutation {
            response,
            key,
            computed_expires_at_ms,
        } => {
            let mut lines = vec![mutation_line(response)];
            match (response.entry_id.is_empty(), response.replayed) {
                (false, replayed) => lines.push(format!(
                    "entry {}{}",
                    response.entry_id,
                    if replayed { " (replayed)" } else { "" }
                )),
                (true, true) => lines.push("(replayed)".to_owned()),
                (true, false) => {}
            }
            if let Some(at) = computed_expires_at_ms {
                lines.push(format!(
                    "expires at {} (--expires-at-ms {at})",
                    format_time_ms(*at)
                ));
            }
            push_key(&mut lines, key);
            lines
        }
        Outcome::Balance(b) => vec![format!(
            "wallet {} balance {} held {} available {} {} (sequence {})",
            b.wallet_id, b.balance, b.held, b.available, b.asset, b.sequence
        )],
        Outcome::History(page) => {
            let mut lines = history_table(&page.entries);
            push_next_page(&mut lines, &page.next_page_token);
            lines
        }
        Outcome::Batch(items) => items.iter().map(batch_item_human).collect(),
        Outcome::TopUpCreated {
            response,
            key,
            computed_lots_expire_at_ms,
        } => {
            let mut lines = match &response.top_up {
                Some(top_up) => top_up_human(top_up),
                None => vec!["top-up created (the server sent no top-up)".to_owned()],
            };
            if response.replayed {
                lines.push("(replayed)".to_owned());
            }
            if let Some(at) = computed_lots_expire_at_ms {
                lines.push(format!(
                    "lots expire at {} (--lots-expire-at-ms {at})",
                    format_time_ms(*at)
                ));
            }
            push_key(&mut lines, key);
            lines
        }
        Outcome::TopUp(top_up) => top_up_human(top_up),
        Outcome::TopUps(page) => {
            let mut lines = top_ups_table(&page.top_ups);
            push_next_page(&mut lines, &page.next_page_token);
            lines
        }
        Outcome::AutoTopUpSet { response, key } => {
            let mut lines = match &response.rule {
                Some(rule) => rule_human(rule),
                None => vec!["auto top-up rule set (the server sent no rule)".to_owned()],
            };
            if response.replayed {
                lines.push("(replayed)".to_owned());
            }
            push_key(&mut lines, key);
            lines
        }
        Outcome::AutoTopUp(rule) => rule_human(rule),
        Outcome::AutoTopUpRemoved { response, key } => {
            let mut lines = vec![format!(
                "auto top-up rule of wallet {} removed (sequence {}){}",
                response.wallet_id,
                response.sequence,
                if response.replayed { " (replayed)" } else { "" }
            )];
            push_key(&mut lines, key);
            lines
        }
        Outcome::PaymentMethods(page) => {
            let mut lines = if page.payment_methods.is_empty() {
                vec!["no payment methods".to_owned()]
            } else {
                let rows = page
                    .payment_methods
                    .iter()
                    .map(|m| {
                        vec![
                            m.payment_method_id.clone(),
                            m.brand.clone(),
                            m.last4.clone(),
                            format!("{:02}/{}", m.exp_month, m.exp_year),
                            format_time_ms(m.created_at_ms),
                        ]
                    })
                    .collect();
                table(
                    &["PAYMENT METHOD", "BRAND", "LAST4", "EXPIRES", "SAVED"],
                    &[Align::Left; 5],
                    rows,
                )
            };
            push_next_page(&mut lines, &page.next_page_token);
            lines
        }
    }
}

fn top_up_human(t: &TopUp) -> Vec<String> {
    let mut lines = vec![
        format!("top-up   {}", t.top_up_id),
        format!("wallet   {}", t.wallet_id),
        format!("owner    {}", t.owner),
        format!("kind     {}", top_up_kind_name(t.kind)),
        format!("status   {}", top_up_status_name(t.status)),
        format!(
            "amount   {} {} (wallet receives {}, fee {})",
            t.amount, t.asset, t.wallet_amount, t.fee
        ),
        format!("credited {}", t.credited),
    ];
    let mut put = |label: &str, value: &str| {
        if !value.is_empty() {
            lines.push(format!("{label:<8} {value}"));
        }
    };
    put("url", &t.url);
    put("expires", &format_time_ms(t.expires_at_ms));
    if let Some(at) = t.lots_expire_at_ms {
        put("lots exp", &format_time_ms(at));
    }
    put("payment", &t.payment_id);
    put("card", &t.payment_method_id);
    put("failure", &t.failure_reason);
    put("late", &t.late_capture);
    if t.created_at_ms != 0 {
        put("created", &format_time_ms(t.created_at_ms));
    }
    lines.push(format!("sequence {}", t.sequence));
    lines
}

fn top_ups_table(top_ups: &[TopUp]) -> Vec<String> {
    if top_ups.is_empty() {
        return vec!["no top-ups".to_owned()];
    }
    let rows = top_ups
        .iter()
        .map(|t| {
            vec![
                t.top_up_id.clone(),
                top_up_kind_name(t.kind),
                top_up_status_name(t.status),
                t.amount.clone(),
                t.wallet_amount.clone(),
                t.credited.clone(),
                t.asset.clone(),
                format_time_ms(t.created_at_ms),
            ]
        })
        .collect();
    table(
        &[
            "TOP-UP", "KIND", "STATUS", "AMOUNT", "WALLET", "CREDITED", "ASSET", "CREATED",
        ],
        &[
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Left,
            Align::Left,
        ],
        rows,
    )
}

fn rule_human(rule: &AutoTopUpRule) -> Vec<String> {
    let charge = match &rule.charge {
        Some(auto_top_up_rule::Charge::Amount(amount)) => format!("{amount} {}", rule.asset),
        Some(auto_top_up_rule::Charge::TargetBalance(target)) => {
            format!("up to a balance of {target} {}", rule.asset)
        }
        None => "-".to_owned(),
    };
    let cap = match &rule.daily_max_amount {
        Some(amount) => format!("{} per day, at most {amount}", rule.daily_max_count),
        None => format!("{} per day", rule.daily_max_count),
    };
    let mut lines = vec![
        format!("wallet    {}", rule.wallet_id),
        format!("owner     {}", rule.owner),
        format!("threshold {} {}", rule.threshold, rule.asset),
        format!("charge    {charge}"),
        format!("card      {}", rule.payment_method_id),
        format!("cap       {cap}"),
        format!("backoff   {} ms", rule.backoff_ms),
        format!("fee       {} %", rule.fee_percent),
    ];
    if rule.updated_at_ms != 0 {
        lines.push(format!("updated   {}", format_time_ms(rule.updated_at_ms)));
    }
    // Why no auto top-up fires: shown only when there is something to say, so a healthy rule
    // stays as short as before.
    if rule.backoff_until_ms != 0 {
        lines.push(format!(
            "backing off until {} ({} failed in a row)",
            format_time_ms(rule.backoff_until_ms),
            rule.consecutive_failures
        ));
    } else if rule.consecutive_failures != 0 {
        lines.push(format!(
            "failures  {} in a row (back-off over)",
            rule.consecutive_failures
        ));
    }
    if let Some(failure) = &rule.last_failure {
        lines.push(format!(
            "last failure {} at {} (top-up {})",
            failure.reason,
            format_time_ms(failure.failed_at_ms),
            failure.top_up_id
        ));
    }
    if rule.daily_cap_reached_until_ms != 0 {
        lines.push(format!(
            "daily cap reached: none before {}",
            format_time_ms(rule.daily_cap_reached_until_ms)
        ));
    }
    lines.push(format!("sequence  {}", rule.sequence));
    lines
}

fn mutation_line(r: &MutationResponse) -> String {
    format!(
        "wallet {} balance {} held {} available {} (sequence {})",
        r.wallet_id, r.balance, r.held, r.available, r.sequence
    )
}

fn push_key(lines: &mut Vec<String>, key: &IdempotencyKey) {
    if key.generated {
        lines.push(format!("idempotency key: {}", key.value));
    }
}

fn push_next_page(lines: &mut Vec<String>, token: &str) {
    if !token.is_empty() {
        lines.push(format!("next page: --page-token {token}"));
    }
}

/// A wallet just opened (or whose opening was replayed).
fn opened_human(response: &CreateWalletResponse) -> Vec<String> {
    let mut lines = Vec::new();
    match &response.wallet {
        Some(wallet) => lines.push(format!(
            "wallet {} owner {} asset {} (scale {}) {} {} (sequence {})",
            wallet.wallet_id,
            wallet.owner,
            wallet.asset,
            wallet.asset_scale,
            wallet_kind_name(wallet.kind),
            wallet_status_name(wallet.status),
            wallet.sequence
        )),
        None => lines.push("wallet created (the server sent no wallet)".to_owned()),
    }
    if response.replayed {
        lines.push("(replayed)".to_owned());
    }
    lines
}

fn wallet_human(w: &Wallet) -> Vec<String> {
    let limits = w.limits.clone().unwrap_or_default();
    let mut limit_parts = Vec::new();
    let mut put = |name: &str, value: &Option<String>| {
        if let Some(v) = value {
            limit_parts.push(format!("{name}={v}"));
        }
    };
    put("max_balance", &limits.max_balance);
    put("daily_debit_limit", &limits.daily_debit_limit);
    put("per_transaction_max", &limits.per_transaction_max);
    put("low_balance_threshold", &limits.low_balance_threshold);
    if let Some(v) = &limits.velocity {
        limit_parts.push(format!("velocity={}/{}ms", v.max_operations, v.window_ms));
    }
    let mut lines = vec![
        format!("wallet   {}", w.wallet_id),
        format!("owner    {}", w.owner),
        format!("tenant   {}", w.tenant),
        format!("kind     {}", wallet_kind_name(w.kind)),
        format!("asset    {} (scale {})", w.asset, w.asset_scale),
        format!("status   {}", wallet_status_name(w.status)),
        format!(
            "limits   {}",
            if limit_parts.is_empty() {
                "none".to_owned()
            } else {
                limit_parts.join(" ")
            }
        ),
    ];
    if !w.metadata.is_empty() {
        lines.push(format!("metadata {}", key_values(&sorted(&w.metadata))));
    }
    lines.push(format!("created  {}", format_time_ms(w.created_at_ms)));
    lines.push(format!("sequence {}", w.sequence));
    lines
}

fn history_table(transactions: &[Transaction]) -> Vec<String> {
    if transactions.is_empty() {
        return vec!["no entries".to_owned()];
    }
    // Newest first whatever order the page came in; the stable sort keeps ties as sent.
    let mut sorted_txs: Vec<&Transaction> = transactions.iter().collect();
    sorted_txs.sort_by_key(|tx| std::cmp::Reverse(tx.sequence));
    let rows = sorted_txs
        .into_iter()
        .map(|tx| {
            vec![
                format_time_ms(tx.occurred_at_ms),
                entry_type_name(tx.entry_type),
                tx.amount.clone(),
                tx.balance_after.clone(),
                tx.detail.clone(),
                tx.lots
                    .iter()
                    .map(|lot| format!("{}:{}", short_id(&lot.lot_id), lot.amount))
                    .collect::<Vec<_>>()
                    .join(" "),
                tx.reference.clone(),
                tx.entry_id.clone(),
            ]
        })
        .collect();
    table(
        &[
            "TIME",
            "TYPE",
            "AMOUNT",
            "BALANCE",
            "DETAIL",
            "LOTS",
            "REFERENCE",
            "ENTRY",
        ],
        &[
            Align::Left,
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
        ],
        rows,
    )
}

fn short_id(id: &str) -> &str {
    let chars = id.chars().count();
    match id
        .char_indices()
        .nth(chars.saturating_sub(LOT_ID_SHOWN_CHARS))
    {
        Some((start, _)) => &id[start..],
        None => id,
    }
}

fn batch_item_human(item: &BatchItem) -> String {
    let prefix = format!("line {}:", item.source.line);
    match &item.result {
        Some(batch_result::Result::Ok(r)) => {
            let mut line = format!("{prefix} ok {}", mutation_line(r));
            if !r.entry_id.is_empty() {
                line.push_str(&format!(" entry {}", r.entry_id));
            }
            if r.replayed {
                line.push_str(" (replayed)");
            }
            line
        }
        Some(batch_result::Result::Error(e)) => {
            let mut line = format!(
                "{prefix} error {}",
                code_name(tonic::Code::from_i32(e.code))
            );
            if !e.reason.is_empty() {
                line.push(' ');
                line.push_str(&e.reason);
            }
            line.push_str(": ");
            line.push_str(&one_line(&e.message));
            if !e.metadata.is_empty() {
                line.push_str(&format!(" ({})", key_values(&sorted(&e.metadata))));
            }
            line
        }
        None => format!("{prefix} error: {MISSING_RESULT}"),
    }
}

#[derive(Debug, Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Aligns columns by character count; the last column is not padded, so lines carry no
/// trailing spaces.
fn table(headers: &[&str], align: &[Align], rows: Vec<Vec<String>>) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    std::iter::once(header_row)
        .chain(rows)
        .map(|row| {
            let last = row.len().saturating_sub(1);
            row.iter()
                .enumerate()
                .map(|(i, cell)| {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    match (align[i], i == last) {
                        (Align::Right, _) => format!("{}{cell}", " ".repeat(pad)),
                        (Align::Left, true) => cell.clone(),
                        (Align::Left, false) => format!("{cell}{}", " ".repeat(pad)),
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// `WALLET_KIND_CUSTOMER` → `customer`, matching the CLI's flag values.
fn short_name(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix)
        .unwrap_or(full)
        .to_ascii_lowercase()
        .replace('_', "-")
}

fn enum_name<E: TryFrom<i32>>(
    value: i32,
    prefix: &str,
    name: impl Fn(E) -> &'static str,
) -> String {
    match E::try_from(value) {
        Ok(known) => short_name(name(known), prefix),
        Err(_) => format!("unknown({value})"),
    }
}

fn wallet_kind_name(kind: i32) -> String {
    enum_name(kind, "WALLET_KIND_", |k: WalletKind| k.as_str_name())
}

fn wallet_status_name(status: i32) -> String {
    enum_name(status, "WALLET_STATUS_", |s: WalletStatus| s.as_str_name())
}

fn top_up_kind_name(kind: i32) -> String {
    enum_name(kind, "TOP_UP_KIND_", |k: TopUpKind| k.as_str_name())
}

fn top_up_status_name(status: i32) -> String {
    enum_name(status, "TOP_UP_STATUS_", |s: TopUpStatus| s.as_str_name())
}

fn entry_type_name(entry: i32) -> String {
    enum_name(entry, "ENTRY_TYPE_", |t: EntryType| t.as_str_name())
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds
/// (`2025-01-02T03:04:05.678Z`); 0, the proto default, means "not set" and shows as `-`.
pub(crate) fn format_time_ms(ms: i64) -> String {
    if ms == 0 {
        return "-".to_owned();
    }
    let days = ms.div_euclid(86_400_000);
    let ms_of_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (second, milli) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`),
/// so the CLI needs no date crate for one format.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let day_of_year = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use purse_proto::payment::v1::PaymentMethod;
    use purse_proto::wallet::v1::{Limits, LotAmount, VelocityLimit};
    use tonic::Code;
    use tonic_types::{ErrorDetails, FieldViolation};

    fn generated(value: &str) -> IdempotencyKey {
        IdempotencyKey {
            value: value.to_owned(),
            generated: true,
        }
    }

    fn response(replayed: bool) -> MutationResponse {
        MutationResponse {
            wallet_id: "w1".into(),
            entry_id: "e1".into(),
            balance: "120.00".into(),
            held: "0.00".into(),
            available: "120.00".into(),
            sequence: 4,
            replayed,
        }
    }

    #[test]
    fn times() {
        assert_eq!(format_time_ms(1), "1970-01-01T00:00:00.001Z");
        assert_eq!(format_time_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            format_time_ms(1_735_689_599_999),
            "2024-12-31T23:59:59.999Z"
        );
        assert_eq!(format_time_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_time_ms(0), "-");
    }

    #[test]
    fn mutation_human() {
        let outcome = Outcome::Mutation {
            response: response(true),
            key: generated("k1"),
            computed_expires_at_ms: None,
        };
        assert_eq!(
            render(&outcome, false).unwrap(),
            vec![
                "wallet w1 balance 120.00 held 0.00 available 120.00 (sequence 4)",
                "entry e1 (replayed)",
                "idempotency key: k1",
            ]
        );
    }

    #[test]
    fn mutation_json_keeps_amounts_as_strings() {
        let outcome = Outcome::Mutation {
            response: response(false),
            key: generated("k1"),
            computed_expires_at_ms: Some(5),
        };
        let lines = render(&outcome, true).unwrap();
        assert_eq!(lines.len(), 1);
        let value: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(value["balance"], json!("120.00"));
        assert_eq!(value["available"], json!("120.00"));
        assert_eq!(value["sequence"], json!("4"));
        assert_eq!(value["replayed"], json!(false));
        assert_eq!(value["idempotencyKey"], json!("k1"));
        assert_eq!(value["expiresAtMs"], json!("5"));
    }

    #[test]
    fn wallet_json_uses_proto_names() {
        let wallet = Wallet {
            wallet_id: "w1".into(),
            owner: "alice".into(),
            kind: WalletKind::Customer as i32,
            asset: "USD".into(),
            asset_scale: 2,
            status: WalletStatus::Open as i32,
            limits: Some(Limits {
                max_balance: Some("500.00".into()),
                velocity: Some(VelocityLimit {
                    max_operations: 10,
                    window_ms: 60_000,
                }),
                ..Limits::default()
            }),
            ..Wallet::default()
        };
        let value = serde_json::to_value(&wallet).unwrap();
        assert_eq!(value["kind"], json!("WALLET_KIND_CUSTOMER"));
        assert_eq!(value["status"], json!("WALLET_STATUS_OPEN"));
        assert_eq!(value["limits"]["maxBalance"], json!("500.00"));
        assert_eq!(value["limits"]["velocity"]["windowMs"], json!("60000"));
        assert!(value["limits"].get("dailyDebitLimit").is_none());
        let human = wallet_human(&wallet).join("\n");
        assert!(human.contains("status   open"), "{human}");
        assert!(
            human.contains("limits   max_balance=500.00 velocity=10/60000ms"),
            "{human}"
        );
    }

    #[test]
    fn history_is_newest_first_and_aligned() {
        let tx = |seq: u64, entry: EntryType, amount: &str, lots: Vec<LotAmount>| Transaction {
            entry_id: format!("e{seq}"),
            entry_type: entry as i32,
            amount: amount.into(),
            balance_after: "100.00".into(),
            lots,
            occurred_at_ms: 1_735_689_600_000 + seq as i64,
            sequence: seq,
            detail: "purchase".into(),
            ..Transaction::default()
        };
        let lots = vec![LotAmount {
            lot_id: "0193f000-0000-7000-8000-00000000abcd".into(),
            amount: "5.00".into(),
        }];
        let lines = history_table(&[
            tx(1, EntryType::Credit, "100.00", vec![]),
            tx(2, EntryType::HoldPlaced, "5.00", lots),
        ]);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("TIME"));
        assert!(lines[1].contains("hold-placed"), "{}", lines[1]);
        assert!(lines[1].contains("0000abcd:5.00"), "{}", lines[1]);
        assert!(lines[2].contains("credit"));
        // Right-aligned amounts end in the same column.
        let end = |line: &str, amount: &str| line.find(amount).unwrap() + amount.len();
        assert_eq!(end(&lines[1], " 5.00"), end(&lines[2], "100.00"));
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn status_error_human_has_code_reason_metadata_and_fields() {
        let details = ErrorDetails::with_error_info(
            "INSUFFICIENT_FUNDS",
            "purse.wallet",
            HashMap::from([("available".to_owned(), "20.00".to_owned())]),
        );
        let status = tonic::Status::with_error_details(
            Code::FailedPrecondition,
            "insufficient funds",
            details,
        );
        let err = CliError::Status {
            status: Box::new(status),
            idempotency_key: None,
        };
        assert_eq!(
            render_error(&err, false),
            "error: FAILED_PRECONDITION INSUFFICIENT_FUNDS: insufficient funds (available=20.00)"
        );

        let mut details =
            ErrorDetails::with_bad_request(vec![FieldViolation::new("amount", "must be positive")]);
        details.set_error_info("INVALID_AMOUNT", "purse.wallet", HashMap::new());
        let status =
            tonic::Status::with_error_details(Code::InvalidArgument, "bad\namount", details);
        let err = CliError::Status {
            status: Box::new(status),
            idempotency_key: None,
        };
        assert_eq!(
            render_error(&err, false),
            "error: INVALID_ARGUMENT INVALID_AMOUNT: bad amount (fields: amount)"
        );
        let value: Value = serde_json::from_str(&render_error(&err, true)).unwrap();
        assert_eq!(
            value,
            json!({"error": {
                "code": "INVALID_ARGUMENT",
                "reason": "INVALID_AMOUNT",
                "message": "bad\namount",
                "metadata": {},
                "fields": ["amount"],
            }})
        );
    }

    #[test]
    fn plain_status_and_retry_hint() {
        let err = CliError::Status {
            status: Box::new(tonic::Status::unavailable("shard moving")),
            idempotency_key: Some("k9".into()),
        };
        assert_eq!(
            render_error(&err, false),
            "error: UNAVAILABLE: shard moving; outcome unknown, retry with --idempotency-key k9"
        );
        let value: Value = serde_json::from_str(&render_error(&err, true)).unwrap();
        assert_eq!(value["error"]["reason"], Value::Null);
        assert_eq!(value["error"]["idempotencyKey"], json!("k9"));
    }

    #[test]
    fn local_errors_have_no_code() {
        let err = CliError::BadBatchLine {
            line: 3,
            detail: "expected value".into(),
        };
        assert_eq!(render_error(&err, false), "error: line 3: expected value");
        let value: Value = serde_json::from_str(&render_error(&err, true)).unwrap();
        assert_eq!(value["error"]["code"], Value::Null);
        assert_eq!(value["error"]["reason"], json!("BAD_INPUT"));
    }

    #[test]
    fn batch_items_render_one_line_each() {
        use crate::commands::BatchLine;
        let items = vec![
            BatchItem {
                source: BatchLine {
                    line: 1,
                    idempotency_key: "k1".into(),
                },
                result: Some(batch_result::Result::Ok(response(false))),
            },
            BatchItem {
                source: BatchLine {
                    line: 2,
                    idempotency_key: "k2".into(),
                },
                result: Some(batch_result::Result::Error(BatchError {
                    code: Code::FailedPrecondition as i32,
                    reason: "INSUFFICIENT_FUNDS".into(),
                    message: "insufficient funds".into(),
                    metadata: HashMap::from([("available".into(), "0.00".into())]),
                })),
            },
        ];
        let outcome = Outcome::Batch(items);
        assert_eq!(
            render(&outcome, false).unwrap(),
            vec![
                "line 1: ok wallet w1 balance 120.00 held 0.00 available 120.00 (sequence 4) entry e1",
                "line 2: error FAILED_PRECONDITION INSUFFICIENT_FUNDS: insufficient funds (available=0.00)",
            ]
        );
        let json_lines = render(&outcome, true).unwrap();
        let second: Value = serde_json::from_str(&json_lines[1]).unwrap();
        assert_eq!(second["line"], json!(2));
        assert_eq!(
            second["error"]["code"],
            json!(Code::FailedPrecondition as i32)
        );
        assert_eq!(second["error"]["metadata"]["available"], json!("0.00"));
        let first: Value = serde_json::from_str(&json_lines[0]).unwrap();
        assert_eq!(first["ok"]["entryId"], json!("e1"));
    }

    fn top_up() -> TopUp {
        TopUp {
            top_up_id: "t1".into(),
            wallet_id: "w1".into(),
            owner: "alice".into(),
            kind: TopUpKind::Manual as i32,
            status: TopUpStatus::Created as i32,
            asset: "USD".into(),
            amount: "20.00".into(),
            wallet_amount: "22.00".into(),
            fee: "0.58".into(),
            url: "http://127.0.0.1:8080/checkout/s1".into(),
            expires_at_ms: 1_735_689_600_000,
            payment_id: "p1".into(),
            credited: "0.00".into(),
            sequence: 1,
            ..TopUp::default()
        }
    }

    #[test]
    fn top_up_created_shows_the_page_and_the_key() {
        use purse_proto::topup::v1::CreateTopUpResponse;
        let outcome = Outcome::TopUpCreated {
            response: CreateTopUpResponse {
                top_up: Some(top_up()),
                replayed: true,
            },
            key: generated("k1"),
            computed_lots_expire_at_ms: Some(1_735_689_600_000),
        };
        let lines = render(&outcome, false).unwrap();
        assert!(lines.contains(&"top-up   t1".to_owned()), "{lines:?}");
        assert!(lines.contains(&"kind     manual".to_owned()), "{lines:?}");
        assert!(
            lines.contains(&"amount   20.00 USD (wallet receives 22.00, fee 0.58)".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"url      http://127.0.0.1:8080/checkout/s1".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"expires  2025-01-01T00:00:00.000Z".to_owned()),
            "{lines:?}"
        );
        assert!(
            !lines.iter().any(|l| l.starts_with("failure")),
            "empty fields are left out"
        );
        assert!(lines.contains(&"(replayed)".to_owned()));
        assert!(lines.contains(&"idempotency key: k1".to_owned()));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("--lots-expire-at-ms 1735689600000"))
        );

        let json_lines = render(&outcome, true).unwrap();
        let value: Value = serde_json::from_str(&json_lines[0]).unwrap();
        assert_eq!(value["topUp"]["kind"], json!("TOP_UP_KIND_MANUAL"));
        assert_eq!(value["topUp"]["status"], json!("TOP_UP_STATUS_CREATED"));
        assert_eq!(value["topUp"]["amount"], json!("20.00"));
        assert_eq!(value["topUp"]["walletAmount"], json!("22.00"));
        assert_eq!(
            value["topUp"]["url"],
            json!("http://127.0.0.1:8080/checkout/s1")
        );
        assert_eq!(value["replayed"], json!(true));
        assert_eq!(value["idempotencyKey"], json!("k1"));
        assert_eq!(value["lotsExpireAtMs"], json!("1735689600000"));
    }

    #[test]
    fn top_up_lists_are_tables() {
        use purse_proto::topup::v1::ListTopUpsResponse;
        let mut completed = top_up();
        completed.top_up_id = "t2".into();
        completed.status = TopUpStatus::Completed as i32;
        completed.credited = "22.00".into();
        let outcome = Outcome::TopUps(ListTopUpsResponse {
            top_ups: vec![completed, top_up()],
            next_page_token: "next".into(),
        });
        let lines = render(&outcome, false).unwrap();
        assert!(lines[0].starts_with("TOP-UP"));
        assert!(
            lines[1].contains("completed") && lines[1].contains("22.00"),
            "{lines:?}"
        );
        assert!(lines[2].contains("created"), "{lines:?}");
        assert_eq!(lines[3], "next page: --page-token next");
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
        let empty = Outcome::TopUps(ListTopUpsResponse::default());
        assert_eq!(render(&empty, false).unwrap(), vec!["no top-ups"]);
    }

    #[test]
    fn auto_top_up_rules_render_their_charge() {
        let rule = AutoTopUpRule {
            wallet_id: "w1".into(),
            owner: "alice".into(),
            asset: "USD".into(),
            threshold: "5.00".into(),
            charge: Some(auto_top_up_rule::Charge::TargetBalance("50.00".into())),
            payment_method_id: "pm1".into(),
            daily_max_count: 3,
            daily_max_amount: Some("100.00".into()),
            backoff_ms: 3_600_000,
            fee_percent: "2.9".into(),
            timeout_ms: 300_000,
            updated_at_ms: 0,
            sequence: 2,
            ..AutoTopUpRule::default()
        };
        let lines = render(&Outcome::AutoTopUp(rule.clone()), false).unwrap();
        assert!(
            lines.contains(&"charge    up to a balance of 50.00 USD".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"cap       3 per day, at most 100.00".to_owned()),
            "{lines:?}"
        );
        assert!(!lines.iter().any(|l| l.starts_with("updated")));
        assert!(
            !lines.iter().any(|l| l.contains("backing off")
                || l.contains("failure")
                || l.contains("cap reached")),
            "nothing failed: {lines:?}"
        );
        let value = serde_json::to_value(&rule).unwrap();
        assert_eq!(value["targetBalance"], json!("50.00"));
        assert_eq!(value["amount"], Value::Null);
        assert_eq!(value["dailyMaxAmount"], json!("100.00"));
        assert_eq!(value["backoffUntilMs"], json!("0"));
        assert_eq!(value["lastFailure"], Value::Null);
    }

    #[test]
    fn auto_top_up_rules_show_why_they_do_not_fire() {
        use purse_proto::topup::v1::AutoTopUpFailure;
        let rule = AutoTopUpRule {
            wallet_id: "w1".into(),
            asset: "USD".into(),
            threshold: "5.00".into(),
            charge: Some(auto_top_up_rule::Charge::Amount("20.00".into())),
            daily_max_count: 3,
            sequence: 9,
            consecutive_failures: 2,
            // 2025-01-01T01:00:00Z
            backoff_until_ms: 1_735_693_200_000,
            last_failure: Some(AutoTopUpFailure {
                top_up_id: "t7".into(),
                reason: "declined:insufficient_funds".into(),
                failed_at_ms: 1_735_689_600_000,
            }),
            daily_cap_reached_until_ms: 1_735_776_000_000,
            ..AutoTopUpRule::default()
        };
        let lines = render(&Outcome::AutoTopUp(rule.clone()), false).unwrap();
        for expected in [
            "backing off until 2025-01-01T01:00:00.000Z (2 failed in a row)",
            "last failure declined:insufficient_funds at 2025-01-01T00:00:00.000Z (top-up t7)",
            "daily cap reached: none before 2025-01-02T00:00:00.000Z",
        ] {
            assert!(
                lines.contains(&expected.to_owned()),
                "{expected}: {lines:?}"
            );
        }
        assert_eq!(lines.last().map(String::as_str), Some("sequence  9"));
        // The back-off over, the failures in a row still show.
        let over = AutoTopUpRule {
            backoff_until_ms: 0,
            daily_cap_reached_until_ms: 0,
            ..rule.clone()
        };
        let lines = render(&Outcome::AutoTopUp(over), false).unwrap();
        assert!(
            lines.contains(&"failures  2 in a row (back-off over)".to_owned()),
            "{lines:?}"
        );
        let value: Value =
            serde_json::from_str(&render(&Outcome::AutoTopUp(rule), true).unwrap()[0])
                .expect("JSON");
        assert_eq!(value["consecutiveFailures"], json!(2));
        assert_eq!(value["backoffUntilMs"], json!("1735693200000"));
        assert_eq!(value["lastFailure"]["topUpId"], json!("t7"));
        assert_eq!(
            value["lastFailure"]["reason"],
            json!("declined:insufficient_funds")
        );
        assert_eq!(value["lastFailure"]["failedAtMs"], json!("1735689600000"));
        assert_eq!(value["dailyCapReachedUntilMs"], json!("1735776000000"));
    }

    #[test]
    fn payment_methods_never_show_more_than_last4() {
        use purse_proto::payment::v1::ListPaymentMethodsResponse;
        let outcome = Outcome::PaymentMethods(ListPaymentMethodsResponse {
            payment_methods: vec![PaymentMethod {
                payment_method_id: "pm1".into(),
                owner: "alice".into(),
                brand: "visa".into(),
                last4: "4242".into(),
                exp_month: 4,
                exp_year: 2030,
                created_at_ms: 1_735_689_600_000,
            }],
            next_page_token: String::new(),
        });
        let lines = render(&outcome, false).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1].contains("visa") && lines[1].contains("4242") && lines[1].contains("04/2030")
        );
        let value: Value = serde_json::from_str(&render(&outcome, true).unwrap()[0]).unwrap();
        assert_eq!(value["paymentMethods"][0]["last4"], json!("4242"));
        assert_eq!(value["paymentMethods"][0]["expMonth"], json!(4));
    }

    #[test]
    fn enum_short_names() {
        assert_eq!(wallet_kind_name(WalletKind::System as i32), "system");
        assert_eq!(
            entry_type_name(EntryType::HoldReleased as i32),
            "hold-released"
        );
        assert_eq!(entry_type_name(99), "unknown(99)");
        assert_eq!(
            top_up_kind_name(TopUpKind::ManualWithPaymentMethod as i32),
            "manual-with-payment-method"
        );
        assert_eq!(top_up_status_name(TopUpStatus::Expired as i32), "expired");
    }
}
