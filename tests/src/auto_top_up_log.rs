//! Counts what a wallet's auto top-ups left in the embedded event log, so an "exactly once" test
//! fails on a duplicate record even when the read model deduplicated it.

use std::collections::HashSet;
use std::path::Path;

use purse_proto::event::v1::wallet_event::Event as WalletEvent;
use purse_runtime::codec::{EventCodec, decode_record};
use purse_streams::top_up::TopUpStream;
use purse_streams::topics;

use crate::embedded_log;

/// What the log holds for one wallet's auto top-ups, every record counted (no deduplication).
#[derive(Debug, PartialEq, Eq)]
pub struct AutoTopUpLog {
    /// `TopUpCreated` events of kind `auto` for the wallet.
    pub created: usize,
    /// `FundsCredited` events on the wallet's stream referencing one of those top-ups.
    pub credits: usize,
}

/// Reads `data_dir`'s embedded log and counts `wallet_id`'s auto top-ups and their credits.
pub fn auto_top_up_log(data_dir: &Path, wallet_id: &str) -> AutoTopUpLog {
    let mut created = 0;
    let mut auto_ids = HashSet::new();
    for record in embedded_log::records(data_dir, topics::TOP_UPS.events) {
        for envelope in decode_record(&record.payload)
            .expect("top-up record")
            .events
        {
            let event = TopUpStream::from_envelope(&envelope).expect("top-up event");
            // The domain event's serde form names its fields whichever payload the log holds.
            let body = serde_json::to_value(&event.kind).expect("serialisable");
            let event = &body["TopUpCreated"];
            if event["wallet_id"] == wallet_id && event["kind"] == "auto" {
                created += 1;
                auto_ids.insert(event["top_up_id"].as_str().expect("top_up_id").to_owned());
            }
        }
    }
    let credits = embedded_log::wallet_events(data_dir, wallet_id)
        .into_iter()
        .filter(|event| {
            matches!(event, WalletEvent::FundsCredited(credit) if auto_ids.contains(&credit.reference))
        })
        .count();
    AutoTopUpLog { created, credits }
}
