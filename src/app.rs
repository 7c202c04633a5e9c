//! The application: one listener serving gRPC (HTTP/2), grpc-web and
//! Socket.IO and plain HTTP (HTTP/1.1), composed as one axum stack.
//! [`Application::build`] binds (port 0 in tests) and exposes the address;
//! [`Application::run_until_stopped`] serves until the token fires, then drains
//! within the configured grace period.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::Authenticator;
use crate::commands::agents::AgentAdmin;
use crate::commands::calls::CallControl;
use crate::commands::chat::{Chat, ChatDesk};
use crate::commands::supervision::Supervision;
use crate::commands::transfers::TransferDesk;
use crate::config::{CorsOrigins, Settings};
use crate::directory::{AgentDirectory, AgentEntry};
use crate::ledger::Input;
use crate::ledger::Ledger;
use crate::log::EventLog;
use crate::log::journal::Journal;
use crate::metrics::Metrics;
use crate::presence::TenantPresence;
use crate::socketio::engine::EngineConfig;
use crate::socketio::server::ServerOptions;
use crate::sources::ami::client::{AmiHandle, AmiInbox, AmiSettings};
use crate::sources::ari::bridge::{BridgeHandle, CommandInbox};
use crate::sources::ari::events::AriEventSettings;
use crate::sources::webhooks::Webhooks;
use crate::sources::{ami, ari};
use crate::stats::StatsSampler;
use crate::store::Store;
use crate::{gateway, grpc, stats, store, web};

/// Largest Socket.IO message accepted, in bytes; bigger ones close only that client.
pub const MAX_SOCKET_PAYLOAD: u64 = 256 * 1024;

/// Messages a socket may have waiting to be written before it loses events
/// (`events-dropped`): a greeting and the events that came while it was
/// built, or a burst of a busy PBX, fit; a reader that stopped does not
/// hold memory without bound.
pub const SOCKET_BUFFER_PACKETS: usize = 4096;

/// The parts under the surfaces, for the dev tools that drive a server from
/// the inside (the demo's stand-in supervisor, the load command): nothing in
/// the server's own modules takes this, and the tests reach the server only
/// through its surfaces and a PBX peer.
#[derive(Clone)]
pub struct Internals {
    /// The ledger and the log.
    pub log: Arc<EventLog>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The store.
    pub store: Store,
    /// The agent directory.
    pub directory: Arc<AgentDirectory>,
    /// Commands to the ARI agent bridge.
    pub calls: CallControl,
    /// The chat service.
    pub chat: Arc<Chat>,
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    io: Arc<gateway::Io>,
    internals: Internals,
    presence: Arc<TenantPresence>,
    stats: Arc<StatsSampler>,
    chat: Arc<Chat>,
    health: tonic_health::server::HealthReporter,
    shutdown: CancellationToken,
    settings: Settings,
    outputs: OutputFeeds,
    ami: Option<(AmiSettings, AmiHandle, AmiInbox)>,
    ari: Option<(AriEventSettings, CommandInbox)>,
    journaling: Option<Journaling>,
    role: Arc<crate::cluster::NodeRole>,
}

/// The log's journal in Redis, and the entries this node writes to it.
struct Journaling {
    journal: Journal,
    entries: tokio::sync::mpsc::UnboundedReceiver<crate::log::journal::Entry>,
}

/// The event log: in memory, or kept in Redis's journal when `REDIS_URL`
/// is set (restored from it, this node writing it).
async fn open_log(
    settings: &Settings,
    ledger: Ledger,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<(Arc<EventLog>, Option<Journaling>)> {
    let Some(url) = &settings.redis_url else {
        let log = EventLog::new(ledger, settings.log.clone(), Arc::clone(metrics));
        return Ok((Arc::new(log), None));
    };
    let journal = Journal::connect(url, &settings.deployment.name, settings.log.window_events)
        .await
        .context("the log's journal")?;
    let fresh = crate::log::new_epoch();
    let mut stored = journal.load(&fresh).await.context("the log's journal")?;
    // A cluster's node never restarts the shared history: it waits for the
    // node that ingests to save a checkpoint its entries go on from.
    let mut waits = 0;
    while settings.deployment.cluster && !crate::log::journal::restorable(&stored) && waits < 4 {
        tracing::info!("waiting for a checkpoint of the log to start from");
        tokio::time::sleep(crate::log::journal::CHECKPOINT_EVERY).await;
        stored = journal.load(&fresh).await.context("the log's journal")?;
        waits += 1;
    }
    let log = EventLog::journaled(
        stored,
        &fresh,
        ledger,
        settings.log.clone(),
        Arc::clone(metrics),
    );
    if !log.restored_ledger() {
        journal.restart_epoch(&log.epoch()).await?;
    }
    tracing::info!(
        head = log.head(),
        oldest = log.oldest(),
        restored = log.restored_ledger(),
        "the log is kept in Redis ({}:log)",
        settings.deployment.name
    );
    let (writes, entries) = tokio::sync::mpsc::unbounded_channel();
    if !settings.deployment.cluster {
        // A cluster's node writes only while it holds the lease.
        log.start_writing(writes);
    }
    Ok((Arc::new(log), Some(Journaling { journal, entries })))
}

/// Applies the directory's agents to the ledger (as configured: names,
/// extensions, how many calls each takes).
fn configure_agents(log: &EventLog, directory: &AgentDirectory) {
    log.apply_all(
        directory
            .list()
            .into_iter()
            .map(|agent| Input::AgentConfigured {
                agent_id: agent.agent_id,
                extension: agent.extension,
                name: agent.name,
                max_calls: agent.max_calls,
            }),
        chrono::Utc::now(),
    );
}

/// The log subscriptions of the outputs, taken at build time so that no event
/// published between `build` and `run_until_stopped` is missed.
struct OutputFeeds {
    gateway: tokio::sync::broadcast::Receiver<Arc<crate::proto::v1::Event>>,
    gateway_joiners: gateway::JoinerInbox,
    store: tokio::sync::mpsc::UnboundedReceiver<Arc<crate::proto::v1::Event>>,
}

impl Application {
    /// Connects the store, builds every surface and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        if settings.auth_disabled {
            tracing::warn!(
                "AUTH IS DISABLED: every client is treated as an admin; never run like this in production"
            );
        }
        let metrics = Arc::new(Metrics::new());
        let store = Store::connect(&settings.database_url)
            .await
            .with_context(|| {
                format!(
                    "cannot open the store at {}",
                    redact_url(&settings.database_url)
                )
            })?;
        // The system mode an admin set last outlives a restart.
        let system_mode = store
            .setting(crate::commands::chat::SYSTEM_MODE_SETTING)
            .await?
            .unwrap_or_else(|| settings.system_mode.clone());
        let (log, journaling) = open_log(&settings, Ledger::new(system_mode), &metrics).await?;
        // One node ingests always; a cluster's node when it holds the lease.
        let role = Arc::new(if settings.deployment.cluster {
            crate::cluster::NodeRole::new(settings.deployment.node.clone())
        } else {
            crate::cluster::NodeRole::single(settings.deployment.node.clone())
        });
        let (ami_handle, ami) = match &settings.ami {
            Some(config) => {
                let ami_settings = ami::source::settings(config);
                let (handle, inbox) = ami::client::handle(&ami_settings);
                (Some(handle.clone()), Some((ami_settings, handle, inbox)))
            }
            None => (None, None),
        };
        let (bridge_handle, ari) = match &settings.ari {
            Some(config) => {
                let (handle, inbox) = BridgeHandle::new();
                (Some(handle), Some((ari::source::settings(config), inbox)))
            }
            None => (None, None),
        };
        // The configured agents, with what admins stored since laid over them.
        let mut agents: std::collections::BTreeMap<String, AgentEntry> = settings
            .agents
            .iter()
            .map(|a| (a.extension.clone(), a.clone()))
            .collect();
        for stored in store.stored_agents().await? {
            match stored.validated() {
                Ok(agent) => {
                    agents.insert(agent.extension.clone(), agent);
                }
                Err(error) => tracing::warn!(%error, "a stored agent is not valid; skipped"),
            }
        }
        let agents: Vec<AgentEntry> = agents.into_values().collect();
        let directory = Arc::new(AgentDirectory::new(agents.clone()));
        if log.writes() {
            // A cluster's node does this when it begins to ingest.
            configure_agents(&log, &directory);
        }
        let profiles = crate::profiles::ProfileCache::connect(settings.redis_url.as_deref())
            .await
            .context("cannot reach REDIS_URL")?;
        let (gateway_joiners, joiner_inbox) = gateway::joiners();
        let auth = Authenticator::new(settings.jwt_secret.as_bytes(), settings.auth_disabled);
        let stats = Arc::new(StatsSampler::new());
        let shutdown = CancellationToken::new();
        let presence = Arc::new(TenantPresence::default());
        let calls = CallControl::new(bridge_handle);

        // The commands, each owning what it needs.
        let chat = Arc::new(Chat::new(
            Arc::clone(&log),
            store.clone(),
            auth.clone(),
            ChatDesk::new(settings.chat_heartbeat_timeout),
        ));
        let supervision = Arc::new(Supervision::new(
            Arc::clone(&log),
            store.clone(),
            ami_handle.clone(),
            calls.bridge().cloned(),
            settings.supervisor_extension.clone(),
        ));
        let transfers = Arc::new(TransferDesk::new(
            Arc::clone(&log),
            profiles,
            settings.twilio.clone(),
            store.clone(),
        ));
        let agents = Arc::new(AgentAdmin::new(
            Arc::clone(&directory),
            store.clone(),
            Arc::clone(&log),
        ));

        // The surfaces, each holding the services it calls.
        let recovery = settings
            .socketio_recovery
            .map(|lasts| Arc::new(gateway::recovery::Recovery::new(Arc::clone(&log), lasts)));
        // A cluster's nodes know each other's online chat agents.
        if let (Some(url), true) = (&settings.redis_url, settings.deployment.cluster) {
            let (news, outgoing) = tokio::sync::mpsc::unbounded_channel();
            chat.desk().share_with(news);
            let chat = Arc::clone(&chat);
            tokio::spawn(crate::cluster::news::relay(
                url.clone(),
                format!("{}:chat", settings.deployment.name),
                outgoing,
                move |news| chat.desk().learn(news),
                shutdown.clone(),
            ));
        }
        // A cluster's nodes know the tenants watching on each other, for
        // their figures.
        if let (Some(url), true) = (&settings.redis_url, settings.deployment.cluster) {
            tokio::spawn(crate::cluster::tenants::share_tenants(
                url.clone(),
                settings.deployment.name.clone(),
                settings.deployment.node.clone(),
                Arc::clone(&presence),
                Arc::clone(&metrics),
                settings
                    .stats_interval
                    .min(std::time::Duration::from_secs(5)),
                shutdown.clone(),
            ));
        }
        // A cluster's nodes restore each other's dropped sockets.
        if let (Some(recovery), Some(url), true) =
            (&recovery, &settings.redis_url, settings.deployment.cluster)
        {
            let (news, outgoing) = tokio::sync::mpsc::unbounded_channel();
            recovery.share_with(news);
            tokio::spawn(gateway::recovery::share_kept_sockets(
                url.clone(),
                settings.deployment.name.clone(),
                Arc::clone(recovery),
                outgoing,
                shutdown.clone(),
            ));
        }
        let (io, engine) = gateway::Io::start_with(
            gateway::Gateway::new(Arc::new(gateway::Services {
                auth: auth.clone(),
                metrics: Arc::clone(&metrics),
                presence: Arc::clone(&presence),
                joiners: gateway_joiners,
                chat: Arc::clone(&chat),
                supervision: Arc::clone(&supervision),
                calls: calls.clone(),
                recovery: recovery.clone(),
            })),
            EngineConfig {
                max_payload: MAX_SOCKET_PAYLOAD as usize,
                max_buffered: SOCKET_BUFFER_PACKETS,
                ..EngineConfig::default()
            },
            ServerOptions {
                offers_recovery: recovery.is_some(),
                ..ServerOptions::default()
            },
        );
        let socket_io = axum::routing::any(move |request: axum::extract::Request| {
            let engine = Arc::clone(&engine);
            async move { engine.handle(request).await }
        });

        let cors = match &settings.cors {
            CorsOrigins::Any => AllowOrigin::any(),
            CorsOrigins::List(origins) => AllowOrigin::list(
                origins
                    .iter()
                    .filter_map(|o| http::HeaderValue::from_str(o).ok()),
            ),
        };
        let cors = CorsLayer::new()
            .allow_origin(cors)
            .allow_methods([
                http::Method::GET,
                http::Method::POST,
                http::Method::PUT,
                http::Method::OPTIONS,
            ])
            .allow_headers([
                http::header::AUTHORIZATION,
                http::header::CONTENT_TYPE,
                http::HeaderName::from_static("x-grpc-web"),
                http::HeaderName::from_static("x-user-agent"),
                http::HeaderName::from_static("grpc-timeout"),
                http::HeaderName::from_static("connect-protocol-version"),
            ])
            .expose_headers([
                http::HeaderName::from_static("grpc-status"),
                http::HeaderName::from_static("grpc-message"),
                http::HeaderName::from_static("grpc-status-details-bin"),
            ]);
        let (grpc, health) = grpc::routes(grpc::Services {
            authenticate: grpc::Authenticate::new(auth.clone(), Arc::clone(&metrics)),
            events: grpc::events::Events::new(
                Arc::clone(&log),
                Arc::clone(&metrics),
                Arc::clone(&presence),
                shutdown.clone(),
            ),
            state: grpc::state::StateQueries::new(
                Arc::clone(&log),
                Arc::clone(&metrics),
                Arc::clone(&presence),
                Arc::clone(&stats),
                Arc::clone(&chat),
            ),
            supervisor: grpc::supervision::Supervisor::new(supervision),
            calls: grpc::calls::Calls::new(calls.clone()),
            agents: grpc::agents::Agents::new(agents),
            chat: grpc::chat::Conversations::new(Arc::clone(&chat)),
            customers: grpc::customers::Customers::new(Arc::clone(&transfers)),
        })?;
        let http = Arc::new(web::Http {
            log: Arc::clone(&log),
            store: store.clone(),
            metrics: Arc::clone(&metrics),
            gate: web::Gatekeeper::new(auth.clone(), Arc::clone(&metrics), "http"),
            chat: Arc::clone(&chat),
            transfers: Arc::clone(&transfers),
            role: Arc::clone(&role),
        });
        let webhooks = Arc::new(Webhooks {
            log: Arc::clone(&log),
            metrics: Arc::clone(&metrics),
            store: store.clone(),
            voice_ai: settings.voice_ai.clone(),
            twilio: settings.twilio.clone(),
            call_status: transfers,
        });
        let router = grpc
            .merge(web::router(http))
            .merge(crate::sources::webhooks::router(webhooks))
            .route("/socket.io/", socket_io)
            // Not found is a plain 404 (tonic's router would answer
            // gRPC UNIMPLEMENTED to every path).
            .fallback(|| async { http::StatusCode::NOT_FOUND })
            .layer(cors)
            // A request body that stalls (half a body, then nothing) ends
            // the request instead of holding its connection.
            .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
                settings.connection_timeout,
            ));

        let address = SocketAddr::new(settings.bind_addr, settings.port);
        let listener = listen(address).with_context(|| format!("cannot listen on {address}"))?;
        let outputs = OutputFeeds {
            gateway: log.subscribe_live(),
            gateway_joiners: joiner_inbox,
            store: log.subscribe_durable(store::recorder::is_recorded),
        };
        Ok(Application {
            listener,
            router,
            io,
            internals: Internals {
                log,
                metrics,
                store,
                directory,
                calls,
                chat: Arc::clone(&chat),
            },
            presence,
            stats,
            chat,
            health,
            shutdown,
            settings,
            outputs,
            ami,
            ari,
            journaling,
            role,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The parts under the surfaces, for the dev tools (the demo's stand-in
    /// supervisor, the load command).
    pub fn internals(&self) -> Internals {
        self.internals.clone()
    }

    /// Serves until `stop` fires, then ends streams, closes sockets, lets the
    /// store writer drain, all within the grace period.
    pub async fn run_until_stopped(self, stop: CancellationToken) -> anyhow::Result<()> {
        let Application {
            listener,
            router,
            io,
            internals,
            presence,
            stats,
            chat,
            health,
            shutdown,
            settings,
            outputs,
            ami,
            ari,
            journaling,
            role,
        } = self;
        let Internals {
            log,
            metrics,
            store,
            directory,
            calls,
            chat: _,
        } = internals;
        let address = listener.local_addr()?;
        tracing::info!(%address, "switchboard listening (grpc, grpc-web, socket.io, http; the console at /)");

        let tasks: [JoinHandle<()>; 4] = [
            tokio::spawn(crate::log::flush_lists_every(
                Arc::clone(&log),
                shutdown.clone(),
            )),
            tokio::spawn(chat.expire_silent_agents(shutdown.clone())),
            tokio::spawn(gateway::run_fanout(
                Arc::clone(&io),
                Arc::clone(&log),
                Arc::clone(&metrics),
                outputs.gateway,
                outputs.gateway_joiners,
                shutdown.clone(),
            )),
            tokio::spawn(stats::publish_every(
                settings.stats_interval,
                stats,
                Arc::clone(&log),
                Arc::clone(&metrics),
                presence,
                shutdown.clone(),
            )),
        ];
        // In a cluster, a standby's agent-bridge commands go to the leader.
        let command_queue = match (&settings.redis_url, settings.deployment.cluster) {
            (Some(url), true) => Some(crate::cluster::commands::CommandQueue::new(
                url,
                &settings.deployment.name,
            )?),
            _ => None,
        };
        let mut relays = Vec::new();
        if let (Some(queue), Some((_, inbox))) = (&command_queue, &ari) {
            relays.push(tokio::spawn(crate::cluster::commands::relay_while_standby(
                queue.clone(),
                Arc::clone(inbox),
                Arc::clone(&role),
                shutdown.clone(),
            )));
        }
        if let (Some(queue), Some((_, _, inbox))) = (&command_queue, &ami) {
            relays.push(tokio::spawn(
                crate::cluster::commands::relay_ami_while_standby(
                    queue.clone(),
                    inbox.clone(),
                    Arc::clone(&role),
                    shutdown.clone(),
                ),
            ));
        }
        // The sources of one ingest term: for the whole run on one node; in a
        // cluster, for each term this node holds the lease.
        let start_sources: crate::cluster::StartSources = {
            let (log, metrics) = (Arc::clone(&log), Arc::clone(&metrics));
            // With the agent bridge on the same PBX, its Stasis calls are its
            // own: the AMI source links its identifiers to them instead.
            let stasis_app = settings.ari.as_ref().map(|ari| ari.app.clone());
            let cluster = settings.deployment.cluster;
            let command_queue = command_queue.clone();
            let bridge = calls.bridge().cloned();
            Box::new(move |term: CancellationToken| {
                let mut tasks = Vec::new();
                if cluster {
                    configure_agents(&log, &directory);
                }
                if let Some(queue) = &command_queue {
                    // The standby nodes' commands, carried out here.
                    tasks.push(tokio::spawn(crate::cluster::commands::serve_queued(
                        queue.clone(),
                        bridge.clone(),
                        ami.as_ref().map(|(_, handle, _)| handle.clone()),
                        term.clone(),
                    )));
                }
                if let Some((ami_settings, handle, inbox)) = &ami {
                    tasks.push(tokio::spawn(ami::source::run(
                        ami::source::AmiSourceParts {
                            log: Arc::clone(&log),
                            metrics: Arc::clone(&metrics),
                        },
                        handle.clone(),
                        ami_settings.clone(),
                        inbox.clone(),
                        stasis_app.clone(),
                        term.clone(),
                    )));
                }
                if let Some((ari_settings, inbox)) = &ari {
                    tasks.push(tokio::spawn(ari::source::run(
                        ari::source::AriSourceParts {
                            log: Arc::clone(&log),
                            metrics: Arc::clone(&metrics),
                            directory: Arc::clone(&directory),
                        },
                        ari_settings.clone(),
                        Arc::clone(inbox),
                        term,
                    )));
                }
                tasks
            })
        };
        // The journal's tasks stop after the sources, once what they wrote is read back.
        let journal_stop = CancellationToken::new();
        let mut journal_tasks: Vec<JoinHandle<()>> = Vec::new();
        let mut journal_kept = None;
        let sources: Vec<JoinHandle<()>> = match journaling {
            Some(Journaling { journal, entries }) => {
                journal_kept = Some(journal.clone());
                journal_tasks.push(tokio::spawn(crate::log::journal::read_back(
                    journal.clone(),
                    Arc::clone(&log),
                    Arc::clone(&metrics),
                    journal_stop.clone(),
                )));
                journal_tasks.push(tokio::spawn(crate::log::journal::save_checkpoints(
                    journal.clone(),
                    Arc::clone(&log),
                    journal_stop.clone(),
                )));
                if settings.deployment.cluster {
                    let (forward, forwarded) = tokio::sync::mpsc::unbounded_channel();
                    log.forward_to(forward);
                    journal_tasks.push(tokio::spawn(crate::log::journal::forward_appends(
                        journal.clone(),
                        forwarded,
                        journal_stop.clone(),
                    )));
                    vec![tokio::spawn(crate::cluster::run_ingest_role(
                        journal,
                        Arc::clone(&log),
                        Arc::clone(&role),
                        Arc::clone(&metrics),
                        settings.deployment.lease,
                        start_sources,
                        shutdown.clone(),
                    ))]
                } else {
                    // One node with Redis writes the journal unfenced.
                    journal_tasks.push(tokio::spawn(crate::log::journal::write_entries(
                        journal,
                        Arc::clone(&log),
                        entries,
                        String::new(),
                        journal_stop.clone(),
                    )));
                    metrics.cluster_role(true);
                    start_sources(shutdown.clone())
                }
            }
            None => start_sources(shutdown.clone()),
        };
        // The recorder stops only after the sources have, so that it sees their last events.
        let recorder_stop = CancellationToken::new();
        let recorder = tokio::spawn(store::recorder::record(
            store.clone(),
            outputs.store,
            recorder_stop.clone(),
        ));

        let serve = crate::connections::serve(
            listener,
            router,
            crate::connections::Limits {
                header_read_timeout: settings.connection_timeout,
                idle_timeout: settings.connection_timeout * 3,
            },
            shutdown.clone(),
        );
        let mut server = tokio::spawn(serve);

        tokio::select! {
            () = stop.cancelled() => {}
            result = &mut server => {
                result.context("server task failed")?;
                anyhow::bail!("the server stopped accepting connections");
            }
        }
        tracing::info!("shutting down");
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        shutdown.cancel();
        io.close();
        let grace = settings.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            let _ = (&mut server).await;
            for source in sources.into_iter().chain(relays) {
                let _ = source.await;
            }
            if let Some(journal) = &journal_kept {
                // What this node wrote last is read back before the outputs stop.
                let last = match journal.last_id().await {
                    Ok(last) => last,
                    Err(error) => {
                        tracing::warn!(%error, "the journal's last entry could not be read");
                        None
                    }
                };
                while last.is_some_and(|last| log.read_through() < last)
                    && !journal_tasks.iter().any(JoinHandle::is_finished)
                {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            journal_stop.cancel();
            for task in journal_tasks {
                let _ = task.await;
            }
            recorder_stop.cancel();
            let _ = recorder.await;
            // In a cluster the calls go on under the next node to ingest.
            if !settings.deployment.cluster {
                let now = chrono::Utc::now();
                let open_calls = log.read(|ledger, _| ledger.snapshot(now).calls);
                let stored =
                    store::recorder::record_open_calls(&store, &open_calls, now.timestamp_millis())
                        .await;
                if stored > 0 {
                    tracing::info!(calls = stored, "calls still up stored as open records");
                }
            }
            for task in tasks {
                if let Err(error) = task.await
                    && error.is_panic()
                {
                    tracing::error!(%error, "an output task crashed before the stop");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                grace_seconds = grace.as_secs(),
                "connections still open after the grace period; closing them"
            );
            server.abort();
        }
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Connections the kernel may hold waiting to be accepted (capped by
/// `net.core.somaxconn`). A thousand dashboards reconnecting at once after a
/// restart fit; with the usual 1,024 the last ones lose their SYN and retry
/// only seconds later.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `address` with [`LISTEN_BACKLOG`] (and `SO_REUSEADDR`, so a restart
/// does not wait for the old connections' `TIME_WAIT`).
fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
