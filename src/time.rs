//! Conversions between `chrono` instants and protobuf `Timestamp`s, and the
//! ISO-8601 millisecond form every JSON payload uses (`2024-01-15T10:30:00.000Z`).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// An instant, UTC.
pub type Instant = DateTime<Utc>;

/// The protobuf form of an instant.
pub fn to_timestamp(instant: Instant) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: instant.timestamp_subsec_nanos() as i32,
    }
}

/// The instant a protobuf timestamp denotes, or `None` when out of range.
pub fn from_timestamp(timestamp: &prost_types::Timestamp) -> Option<Instant> {
    Utc.timestamp_opt(timestamp.seconds, u32::try_from(timestamp.nanos).ok()?)
        .single()
}

/// `2024-01-15T10:30:00.000Z`: what a browser's `Date.toISOString()` writes.
pub fn to_iso_millis(instant: Instant) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Whole seconds from `earlier` to `later`, 0 when negative.
pub fn whole_seconds_between(earlier: Instant, later: Instant) -> u32 {
    u32::try_from((later - earlier).num_seconds().max(0)).unwrap_or(u32::MAX)
}

/// Milliseconds from `earlier` to `later`, 0 when negative.
pub fn millis_between(earlier: Instant, later: Instant) -> u64 {
    u64::try_from((later - earlier).num_milliseconds()).unwrap_or(0)
}

/// The instant `millis` Unix milliseconds denote (the epoch when out of range).
pub fn from_millis(millis: i64) -> Instant {
    chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_millis_matches_javascript() {
        let instant = Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap();
        assert_eq!(to_iso_millis(instant), "2024-01-15T10:30:00.000Z");
    }

    #[test]
    fn timestamp_round_trips() {
        let instant = Utc.timestamp_millis_opt(1_705_312_215_123).unwrap();
        assert_eq!(from_timestamp(&to_timestamp(instant)), Some(instant));
    }
}
