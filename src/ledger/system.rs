//! The ledger's the system mode and the sources' connection states.

use super::*;

impl Ledger {
    /// Applies an input about the system mode and the sources' connection states;
    /// an input of another concern changes nothing here.
    pub(super) fn apply_system(&mut self, input: Input, now: Instant) -> Vec<Emitted> {
        match input {
            Input::SystemModeSet { mode } => {
                self.system_mode.clone_from(&mode);
                vec![Emitted::house(Payload::SystemModeUpdate(
                    pb::SystemModeUpdate { mode },
                ))]
            }
            Input::SourceChanged {
                source,
                link,
                host,
                message,
                retry_in_seconds,
            } => {
                let status = pb::SourceStatus {
                    source: views::source_kind(source) as i32,
                    state: views::source_state(link) as i32,
                    host,
                    message,
                    retry_in_seconds,
                    timestamp: Some(to_timestamp(now)),
                };
                self.sources.insert(source, (link, status.clone()));
                vec![Emitted::house(Payload::SourceStatus(status))]
            }
            // Another concern's input.
            _ => Vec::new(),
        }
    }
}
