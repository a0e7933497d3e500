//! docs/event-catalogue.md names every event of the protos by its message, and only messages that
//! exist: an event added to a `.proto` without a catalogue entry, or a catalogue entry left behind
//! by a rename, fails here.

use std::collections::BTreeSet;
use std::path::Path;

const EVENT_PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/purse/event/v1");
const CATALOGUE: &str = include_str!("../../../docs/event-catalogue.md");
const PREFIX: &str = "purse.event.v1.";

/// Every message declared in the event protos, and the message types of the `oneof event`
/// fields (the events themselves).
fn proto_messages_and_events() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut messages = BTreeSet::new();
    let mut events = BTreeSet::new();
    for entry in std::fs::read_dir(Path::new(EVENT_PROTOS)).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_none_or(|extension| extension != "proto")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut in_event_oneof = false;
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix("message ") {
                let name = name.split_whitespace().next().unwrap_or_default();
                messages.insert(name.to_owned());
            } else if line == "oneof event {" {
                in_event_oneof = true;
            } else if in_event_oneof && line == "}" {
                in_event_oneof = false;
            } else if in_event_oneof && !line.is_empty() && !line.starts_with("//") {
                let message = line.split_whitespace().next().unwrap();
                events.insert(message.to_owned());
            }
        }
    }
    (messages, events)
}

/// Every `purse.event.v1.Name` the catalogue writes.
fn catalogue_names() -> BTreeSet<String> {
    CATALOGUE
        .match_indices(PREFIX)
        .map(|(at, _)| {
            CATALOGUE[at + PREFIX.len()..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect()
        })
        .collect()
}

#[test]
fn the_catalogue_names_every_event_message_and_only_messages_that_exist() {
    let (messages, events) = proto_messages_and_events();
    assert!(events.contains("FundsCredited") && events.contains("PaymentMethodSaved"));
    let named = catalogue_names();
    let missing: Vec<_> = events.difference(&named).collect();
    assert!(
        missing.is_empty(),
        "events missing from the catalogue: {missing:?}"
    );
    let unknown: Vec<_> = named.difference(&messages).collect();
    assert!(
        unknown.is_empty(),
        "catalogue names no such message: {unknown:?}"
    );
}
