//! The ARI source: the events WebSocket and the agent bridge, run as one
//! task so that events and commands are handled one at a time, in order.
//! On every (re)connect it lists the PBX's channels and reconciles before it
//! reads another event (live events wait in the channel meanwhile): ARI
//! replays nothing, so this is what keeps ghost calls out. The log then
//! starts a new epoch whose first event tells clients the state was rebuilt.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::bridge::{AgentBridge, CommandInbox};
use super::events::{self, AriEventSettings, AriNotice};
use super::rest::AriRest;
use crate::config::AriConfig;
use crate::directory::AgentDirectory;
use crate::ledger::Input;
use crate::ledger::model::{Source, SourceLink};
use crate::log::EventLog;
use crate::metrics::Metrics;

/// How long one ARI REST call may take.
pub const REST_TIMEOUT: Duration = Duration::from_secs(5);

/// The events client's settings for `config`.
pub fn settings(config: &AriConfig) -> AriEventSettings {
    AriEventSettings {
        base: config.url.clone(),
        app: config.app.clone(),
        username: config.username.clone(),
        password: config.password.clone(),
        backoff_min: Duration::from_millis(500),
        backoff_max: Duration::from_secs(30),
    }
}

/// What the ARI source needs from the server.
pub struct AriSourceParts {
    /// The log the bridge records into.
    pub log: Arc<EventLog>,
    /// Counters for skipped messages.
    pub metrics: Arc<Metrics>,
    /// The agents and their endpoints.
    pub directory: Arc<AgentDirectory>,
}

/// Runs the ARI source until `shutdown`.
pub async fn run(
    parts: AriSourceParts,
    settings: AriEventSettings,
    commands: CommandInbox,
    shutdown: CancellationToken,
) {
    let mut commands = commands.lock_owned().await;
    let rest = AriRest::new(
        &settings.base,
        &settings.username,
        &settings.password,
        REST_TIMEOUT,
    );
    let host = settings.base.clone();
    let (notices_tx, mut notices) = mpsc::channel(4096);
    let client = tokio::spawn(events::run(settings.clone(), notices_tx, shutdown.clone()));
    let mut bridge = AgentBridge::new(
        Arc::clone(&parts.log),
        rest.clone(),
        Arc::clone(&parts.directory),
        &settings.app,
    );
    let source_changed = |link: SourceLink, message: String, retry_in_seconds: u32| {
        parts.log.apply(
            Input::SourceChanged {
                source: Source::Ari,
                link,
                host: host.clone(),
                message,
                retry_in_seconds,
            },
            chrono::Utc::now(),
        );
    };
    loop {
        tokio::select! {
            notice = notices.recv() => {
                let Some(notice) = notice else { break };
                match notice {
                    AriNotice::Connected => {
                        let now = chrono::Utc::now();
                        let listed = match rest.channels().await {
                            Ok(channels) => rest.bridges().await.map(|bridges| (channels, bridges)),
                            Err(error) => Err(error),
                        };
                        match listed {
                            Ok((channels, bridges)) => {
                                let (mut inputs, orphans) = bridge.reconcile(&channels, &bridges, now);
                                let lost = inputs
                                    .iter()
                                    .filter(|i| matches!(i, Input::CallEnded { .. }))
                                    .count();
                                bridge.destroy_orphans(orphans).await;
                                inputs.extend(bridge.sync_endpoints().await);
                                parts.log.rebuild(inputs, now);
                                tracing::info!(%host, app = %settings.app, lost, "ari state reconciled with the PBX");
                                source_changed(
                                    SourceLink::Connected,
                                    format!("application {} connected; state rebuilt: {lost} calls closed", settings.app),
                                    0,
                                );
                            }
                            Err(error) => {
                                tracing::warn!(%host, %error, "ari reconcile failed; events go on from here");
                                source_changed(
                                    SourceLink::Connected,
                                    format!("application {} connected; state not rebuilt: {error}", settings.app),
                                    0,
                                );
                            }
                        }
                    }
                    AriNotice::Event(message) => {
                        let at = message.at().unwrap_or_else(chrono::Utc::now);
                        bridge.on_event(message.event, at).await;
                    }
                    AriNotice::Undecodable { reason } => {
                        tracing::warn!(%host, %reason, "skipped an ARI message");
                        parts.metrics.source_skipped("ari", "undecodable");
                    }
                    AriNotice::Disconnected { reason, retry_in } => {
                        source_changed(SourceLink::Disconnected, reason, retry_in.as_secs() as u32);
                    }
                }
            }
            Some((command, reply)) = commands.recv() => {
                let outcome = bridge.on_command(command, chrono::Utc::now()).await;
                let _ = reply.send(outcome);
            }
            () = shutdown.cancelled() => break,
        }
    }
    let _ = client.await;
}
