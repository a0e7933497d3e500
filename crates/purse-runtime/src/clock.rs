//! The wall clock, read in one place: deciders get time only through commands.

use std::time::{SystemTime, UNIX_EPOCH};

use purse_domain::Timestamp;

/// Now, in milliseconds since the Unix epoch.
pub fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("system clock is after 1970");
    Timestamp::from_millis(i64::try_from(since_epoch.as_millis()).expect("millis fit i64"))
}
