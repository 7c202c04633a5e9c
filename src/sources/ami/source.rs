//! The AMI source: runs the client, feeds every event through the
//! [`Translator`] into the log, and on every (re)connect rebuilds calls,
//! agents and queues from the PBX's own answers (`CoreShowChannels`,
//! `QueueStatus`, `Agents`) while holding live events back. What the rebuild
//! finds different is applied (ghost calls end with reason `Lost`, calls that
//! began appear), then the log starts a new epoch with a `Resync` event, then
//! `ami:connected` goes out and the held events follow in order.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant as Clock;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{self, AmiError, AmiHandle, AmiInbox, AmiNotice, AmiSettings};
use super::codec::AmiMessage;
use super::translate::{CALL_ID_PREFIX, Translator, extension_of};
use crate::config::AmiConfig;
use crate::ledger::model::{Input, Source, SourceLink};
use crate::log::EventLog;
use crate::metrics::Metrics;

/// The most events applied as one batch. Events queue up only when the
/// ledger falls behind the PBX, so a batch is one event when all is quiet.
const MAX_BATCH: usize = 256;

/// The client settings for a configured AMI source.
pub fn settings(config: &AmiConfig) -> AmiSettings {
    let mut settings = AmiSettings::new(
        format!("{}:{}", config.host, config.port),
        config.username.clone(),
        config.secret.clone(),
    );
    settings.md5 = config.md5;
    settings
}

/// What the PBX answered after a (re)connect.
#[derive(Debug, Default)]
pub struct PbxPicture {
    /// `CoreShowChannel` events.
    pub channels: Vec<AmiMessage>,
    /// `QueueParams`, `QueueMember` and `QueueEntry` events; `None` when `QueueStatus` failed.
    pub queues: Option<Vec<AmiMessage>>,
    /// `Agents` events; `None` when the PBX has no agent pool.
    pub agents: Option<Vec<AmiMessage>>,
}

/// Asks the PBX for its channels, queues and agents.
pub async fn ask_pbx(handle: &AmiHandle) -> Result<PbxPicture, AmiError> {
    let channels = handle.send("CoreShowChannels", &[]).await?;
    let queues = handle.send("QueueStatus", &[]).await?;
    let agents = handle.send("Agents", &[]).await?;
    Ok(PbxPicture {
        channels: channels
            .events
            .into_iter()
            .filter(|e| e.event() == Some("CoreShowChannel"))
            .collect(),
        queues: queues.is_success().then_some(queues.events),
        agents: agents.is_success().then_some(agents.events),
    })
}

/// What the ledger holds that came from AMI, to compare with the PBX's answers.
#[derive(Debug, Default)]
pub struct LedgerPicture {
    /// AMI calls in progress, `true` when answered.
    pub calls: HashMap<String, bool>,
    /// (queue, member interface).
    pub members: BTreeSet<(String, String)>,
    /// (queue, call id) of waiting callers.
    pub waiting: BTreeSet<(String, String)>,
    /// Extensions logged in.
    pub agents: BTreeSet<String>,
}

impl LedgerPicture {
    /// Reads it from the ledger.
    pub fn of(ledger: &crate::ledger::Ledger) -> LedgerPicture {
        LedgerPicture {
            calls: ledger
                .calls
                .values()
                .filter(|c| c.call_id.starts_with(CALL_ID_PREFIX))
                .map(|c| (c.call_id.clone(), c.answered_at.is_some()))
                .collect(),
            members: ledger
                .queues
                .values()
                .flat_map(|q| q.members.keys().map(|m| (q.name.clone(), m.clone())))
                .collect(),
            waiting: ledger
                .queues
                .values()
                .flat_map(|q| {
                    q.waiting
                        .iter()
                        .map(|w| (q.name.clone(), w.call_id.clone()))
                })
                .collect(),
            agents: ledger
                .agents
                .values()
                .filter(|a| a.logged_in)
                .map(|a| a.extension.clone())
                .collect(),
        }
    }
}

/// The inputs that bring the ledger from `known` to what the PBX answered.
/// The translator starts over from the PBX's channels.
pub fn reconcile(
    translator: &mut Translator,
    pbx: &PbxPicture,
    known: &LedgerPicture,
) -> Vec<Input> {
    let mut inputs = Vec::new();
    translator.rebuild(&pbx.channels, &known.calls, &mut inputs);
    let mut agents_seen = BTreeSet::new();
    if let Some(queue_events) = &pbx.queues {
        let mut members = BTreeSet::new();
        let mut waiting = BTreeSet::new();
        for event in queue_events {
            translator.translate(event, &mut inputs);
            let queue = event.get("Queue").unwrap_or_default().to_owned();
            match event.event() {
                Some("QueueMember") => {
                    if let Some(interface) =
                        event.get("Location").or_else(|| event.get("Interface"))
                    {
                        agents_seen.extend(extension_of(interface));
                        members.insert((queue, interface.to_owned()));
                    }
                }
                Some("QueueEntry") => {
                    if let Some(call_id) =
                        event.get("Uniqueid").and_then(|u| translator.call_id_of(u))
                    {
                        waiting.insert((queue, call_id));
                    }
                }
                _ => {}
            }
        }
        for (queue, interface) in known.members.difference(&members) {
            inputs.push(Input::QueueMemberRemoved {
                queue: queue.clone(),
                interface: interface.clone(),
            });
        }
        for (queue, call_id) in known.waiting.difference(&waiting) {
            inputs.push(Input::QueueCallerLeft {
                queue: queue.clone(),
                call_id: call_id.clone(),
            });
        }
    }
    if let Some(agent_events) = &pbx.agents {
        for event in agent_events {
            translator.translate(event, &mut inputs);
            if event.get("Status").is_some_and(|s| s != "AGENT_LOGGEDOFF")
                && let Some(agent) = event.get("Agent")
            {
                agents_seen.insert(agent.to_owned());
            }
        }
    }
    if pbx.queues.is_some() {
        // Only the agents AMI itself signed in: an agent-bridge agent's
        // presence is its phone's endpoint, which ARI reports.
        let gone: Vec<&String> = known
            .agents
            .iter()
            .filter(|e| translator.signed_in(e) && !agents_seen.contains(*e))
            .collect();
        for extension in gone {
            translator.sign_out(extension.clone(), &mut inputs);
        }
    }
    inputs
}

/// What the AMI source publishes to: the log, and the metrics.
pub struct AmiSourceParts {
    /// The log the translated inputs are applied to.
    pub log: Arc<EventLog>,
    /// Counters for ingested and skipped messages.
    pub metrics: Arc<Metrics>,
}

/// Runs the AMI source until `shutdown`: the client for `inbox`, and the
/// translation of what it reports into the log. `stasis_app` is the ARI
/// application of the agent bridge watching the same PBX, whose calls the
/// bridge reports (see [`Translator::handing_stasis_calls_to`]).
pub async fn run(
    parts: AmiSourceParts,
    handle: AmiHandle,
    settings: AmiSettings,
    inbox: AmiInbox,
    stasis_app: Option<String>,
    shutdown: CancellationToken,
) {
    let (notices_tx, mut notices) = mpsc::channel(4096);
    let host = settings.address.clone();
    let client = client::start(settings, inbox, notices_tx, shutdown.clone());
    let mut source = AmiSource {
        parts,
        host,
        translator: Translator::new().handing_stasis_calls_to(stasis_app),
        inputs: Vec::new(),
    };
    let mut pending = VecDeque::new();
    loop {
        let notice = match pending.pop_front() {
            Some(notice) => notice,
            None => tokio::select! {
                notice = notices.recv() => match notice {
                    Some(notice) => notice,
                    None => break,
                },
                () = shutdown.cancelled() => break,
            },
        };
        match notice {
            AmiNotice::Connected { greeting, .. } => {
                // Hold live events back until the rebuild is done.
                let asked = ask_pbx(&handle);
                tokio::pin!(asked);
                let answer = loop {
                    tokio::select! {
                        answer = &mut asked => break answer,
                        Some(notice) = notices.recv() => pending.push_back(notice),
                        () = shutdown.cancelled() => return,
                    }
                };
                source.connected(&greeting, answer);
            }
            AmiNotice::Event(event) => {
                // Events already waiting join this one in a batch, so that
                // whole lists are rebuilt once per batch, not once per event.
                let mut batch = vec![event];
                while batch.len() < MAX_BATCH {
                    let next = match pending.pop_front() {
                        Some(notice) => notice,
                        None => match notices.try_recv() {
                            Ok(notice) => notice,
                            Err(_) => break,
                        },
                    };
                    match next {
                        AmiNotice::Event(event) => batch.push(event),
                        other => {
                            pending.push_front(other);
                            break;
                        }
                    }
                }
                source.on_events(&batch);
            }
            other => source.on_notice(other),
        }
    }
    let _ = client.await;
}

/// The state of a running AMI source.
struct AmiSource {
    parts: AmiSourceParts,
    host: String,
    translator: Translator,
    inputs: Vec<Input>,
}

impl AmiSource {
    /// Translates a batch of events and applies their inputs together.
    fn on_events(&mut self, events: &[AmiMessage]) {
        let started = Clock::now();
        self.inputs.clear();
        for event in events {
            self.translator.translate(event, &mut self.inputs);
        }
        self.parts
            .log
            .apply_all(self.inputs.drain(..), chrono::Utc::now());
        self.parts
            .metrics
            .ingested("ami", events.len() as u64, started.elapsed());
    }

    fn on_notice(&mut self, notice: AmiNotice) {
        match notice {
            AmiNotice::Disconnected { reason, retry_in } => {
                self.source_changed(SourceLink::Disconnected, reason, retry_in.as_secs() as u32);
            }
            AmiNotice::LoginFailed { message, retry_in } => {
                self.source_changed(
                    SourceLink::Error,
                    format!("login failed: {message}"),
                    retry_in.as_secs() as u32,
                );
            }
            AmiNotice::Skipped { reason, bytes } => {
                tracing::warn!(
                    host = %self.host,
                    reason = reason.as_str(),
                    bytes,
                    "skipped an AMI frame; the connection goes on"
                );
                self.parts.metrics.source_skipped("ami", reason.as_str());
            }
            AmiNotice::Connected { .. } | AmiNotice::Event(_) => {
                // `run` rebuilds on every Connected (held ones included) and
                // batches events into `on_events`; neither is passed here.
            }
        }
    }

    fn connected(&mut self, greeting: &str, answer: Result<PbxPicture, AmiError>) {
        let now = chrono::Utc::now();
        match answer {
            Ok(pbx) => {
                let known = self.parts.log.read(|ledger, _| LedgerPicture::of(ledger));
                let inputs = reconcile(&mut self.translator, &pbx, &known);
                let calls = self.translator.call_ids().count();
                let lost = inputs
                    .iter()
                    .filter(|i| matches!(i, Input::CallEnded { .. }))
                    .count();
                self.parts.log.rebuild(inputs, now);
                tracing::info!(host = %self.host, calls, lost, "ami state rebuilt from the PBX");
                self.source_changed(
                    SourceLink::Connected,
                    format!("{greeting}; state rebuilt: {calls} calls in progress, {lost} closed"),
                    0,
                );
            }
            Err(error) => {
                tracing::warn!(host = %self.host, %error, "ami rebuild failed; events go on from here");
                self.translator.clear();
                self.source_changed(
                    SourceLink::Connected,
                    format!("{greeting}; state not rebuilt: {error}"),
                    0,
                );
            }
        }
    }

    fn source_changed(&self, link: SourceLink, message: String, retry_in_seconds: u32) {
        self.parts.log.apply(
            Input::SourceChanged {
                source: Source::Ami,
                link,
                host: self.host.clone(),
                message,
                retry_in_seconds,
            },
            chrono::Utc::now(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(pairs: &[(&str, &str)]) -> AmiMessage {
        AmiMessage::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn a_rebuild_signs_out_only_the_agents_ami_signed_in() {
        let mut translator = Translator::new();
        let mut inputs = Vec::new();
        translator.translate(
            &event(&[("Event", "AgentLogin"), ("Agent", "1001")]),
            &mut inputs,
        );
        // 1001 came in over AMI; 3001 is an agent-bridge agent whose phone's
        // endpoint (ARI) signed it in. The PBX's answer names neither.
        let known = LedgerPicture {
            agents: ["1001", "3001"].map(String::from).into(),
            ..LedgerPicture::default()
        };
        let pbx = PbxPicture {
            channels: Vec::new(),
            queues: Some(Vec::new()),
            agents: Some(Vec::new()),
        };
        let inputs = reconcile(&mut translator, &pbx, &known);
        let signed_out: Vec<&str> = inputs
            .iter()
            .filter_map(|input| match input {
                Input::AgentLoggedOut { extension } => Some(extension.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(signed_out, ["1001"]);
        assert!(
            !translator.signed_in("1001"),
            "signed out for the next rebuild too"
        );
    }
}
