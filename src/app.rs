//! The application: one listener serving gRPC (HTTP/2), grpc-web and
//! Socket.IO and plain HTTP (HTTP/1.1), composed as one axum stack.
//! [`Application::build`] binds (port 0 in tests) and exposes the address;
//! [`Application::run_until_stopped`] serves until the token fires, then drains
//! within the configured grace period.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::ami::client::{AmiHandle, AmiInbox, AmiSettings};
use crate::ari::bridge::{BridgeHandle, CommandInbox};
use crate::ari::events::AriEventSettings;
use crate::auth::Authenticator;
use crate::config::{CorsOrigins, Settings};
use crate::directory::{AgentDirectory, AgentEntry};
use crate::ledger::Input;
use crate::ledger::Ledger;
use crate::log::EventLog;
use crate::metrics::Metrics;
use crate::presence::TenantPresence;
use crate::socketio::engine::EngineConfig;
use crate::stats::StatsSampler;
use crate::store::Store;
use crate::{ami, ari, gateway, grpc, stats, store, web};

/// Largest Socket.IO message accepted, in bytes; bigger ones close only that client.
pub const MAX_SOCKET_PAYLOAD: u64 = 256 * 1024;

/// Messages a socket may have waiting to be written before it loses events
/// (`events-dropped`): a greeting and the events that came while it was
/// built, or a burst of a busy PBX, fit; a reader that stopped does not
/// hold memory without bound.
pub const SOCKET_BUFFER_PACKETS: usize = 4096;

/// What every surface shares.
pub struct Core {
    /// The ledger and the log.
    pub log: Arc<EventLog>,
    /// Token verification.
    pub auth: Authenticator,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The store.
    pub store: Store,
    /// Process figures.
    pub stats: Arc<StatsSampler>,
    /// Fires when the server stops.
    pub shutdown: CancellationToken,
    /// Tenants with clients connected.
    pub presence: Arc<TenantPresence>,
    /// Actions to the PBX, when the AMI source is configured.
    pub ami: Option<AmiHandle>,
    /// The phone a supervisor's spy call rings when their token names none.
    pub supervisor_extension: Option<String>,
    /// The agent directory.
    pub directory: Arc<AgentDirectory>,
    /// Commands to the ARI agent bridge, when the ARI source is configured.
    pub agent_bridge: Option<BridgeHandle>,
    /// The chat's online agents.
    pub chat: crate::chat::ChatDesk,
    /// The voice-AI provider's tenants (webhook keys and agents).
    pub voice_ai: Vec<crate::config::VoiceAiTenant>,
    /// Twilio's webhook settings, when configured.
    pub twilio: Option<crate::config::TwilioConfig>,
    /// Customer profiles for transfers: Redis when `REDIS_URL` is set, else in process.
    pub profiles: crate::profiles::ProfileCache,
    /// Transfers to human agents in progress.
    pub transfers: crate::transfers::Transfers,
    /// Connecting sockets waiting for the gateway's greeting.
    pub gateway_joiners: gateway::Joiners,
    health: Mutex<Option<tonic_health::server::HealthReporter>>,
}

impl Core {
    /// Keeps the gRPC health reporter, to report NOT_SERVING at shutdown.
    pub fn set_health_reporter(&self, reporter: tonic_health::server::HealthReporter) {
        *self.health.lock() = Some(reporter);
    }
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    io: Arc<gateway::Io>,
    core: Arc<Core>,
    settings: Settings,
    outputs: OutputFeeds,
    ami: Option<(AmiSettings, AmiInbox)>,
    ari: Option<(AriEventSettings, CommandInbox)>,
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
            .setting(crate::chat::SYSTEM_MODE_SETTING)
            .await?
            .unwrap_or_else(|| settings.system_mode.clone());
        let log = Arc::new(EventLog::new(
            Ledger::new(system_mode),
            settings.log.clone(),
            Arc::clone(&metrics),
        ));
        let (ami_handle, ami) = match &settings.ami {
            Some(config) => {
                let ami_settings = ami::source::settings(config);
                let (handle, inbox) = ami::client::handle(&ami_settings);
                (Some(handle), Some((ami_settings, inbox)))
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
        let now = chrono::Utc::now();
        log.apply_all(
            agents.iter().map(|agent| Input::AgentConfigured {
                agent_id: agent.agent_id.clone(),
                extension: agent.extension.clone(),
                name: agent.name.clone(),
                max_calls: agent.max_calls,
            }),
            now,
        );
        let profiles = crate::profiles::ProfileCache::connect(settings.redis_url.as_deref())
            .await
            .context("cannot reach REDIS_URL")?;
        let (gateway_joiners, joiner_inbox) = gateway::joiners();
        let core = Arc::new(Core {
            log,
            auth: Authenticator::new(settings.jwt_secret.as_bytes(), settings.auth_disabled),
            metrics,
            store,
            stats: Arc::new(StatsSampler::new()),
            shutdown: CancellationToken::new(),
            presence: Arc::new(TenantPresence::default()),
            ami: ami_handle,
            supervisor_extension: settings.supervisor_extension.clone(),
            directory,
            agent_bridge: bridge_handle,
            chat: crate::chat::ChatDesk::new(settings.chat_heartbeat_timeout),
            voice_ai: settings.voice_ai.clone(),
            twilio: settings.twilio.clone(),
            profiles,
            transfers: crate::transfers::Transfers::default(),
            gateway_joiners,
            health: Mutex::new(None),
        });

        let (io, engine) = gateway::Io::start(
            gateway::Gateway::new(Arc::clone(&core)),
            EngineConfig {
                max_payload: MAX_SOCKET_PAYLOAD as usize,
                max_buffered: SOCKET_BUFFER_PACKETS,
                ..EngineConfig::default()
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
        let router = web::router(Arc::clone(&core))
            .merge(grpc::router(Arc::clone(&core))?)
            .route("/socket.io/", socket_io)
            .layer(cors)
            // A request body that stalls (half a body, then nothing) ends
            // the request instead of holding its connection.
            .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
                settings.connection_timeout,
            ));

        let address = SocketAddr::new(settings.bind_addr, settings.port);
        let listener = listen(address).with_context(|| format!("cannot listen on {address}"))?;
        let outputs = OutputFeeds {
            gateway: core.log.subscribe_live(),
            gateway_joiners: joiner_inbox,
            store: core.log.subscribe_durable(store::recorder::is_recorded),
        };
        Ok(Application {
            listener,
            router,
            io,
            core,
            settings,
            outputs,
            ami,
            ari,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared core, for in-process callers (tests, benches, the demo).
    pub fn core(&self) -> Arc<Core> {
        Arc::clone(&self.core)
    }

    /// Serves until `stop` fires, then ends streams, closes sockets, lets the
    /// store writer drain, all within the grace period.
    pub async fn run_until_stopped(self, stop: CancellationToken) -> anyhow::Result<()> {
        let Application {
            listener,
            router,
            io,
            core,
            settings,
            outputs,
            ami,
            ari,
        } = self;
        let address = listener.local_addr()?;
        tracing::info!(%address, "switchboard listening (grpc, grpc-web, socket.io, http)");

        let tasks: [JoinHandle<()>; 4] = [
            tokio::spawn(crate::log::flush_lists_every(
                Arc::clone(&core.log),
                core.shutdown.clone(),
            )),
            tokio::spawn(crate::chat::expire_silent_agents(
                Arc::clone(&core),
                core.shutdown.clone(),
            )),
            tokio::spawn(gateway::run_fanout(
                Arc::clone(&io),
                Arc::clone(&core),
                outputs.gateway,
                outputs.gateway_joiners,
                core.shutdown.clone(),
            )),
            tokio::spawn(stats::publish_every(
                settings.stats_interval,
                Arc::clone(&core.stats),
                Arc::clone(&core.log),
                Arc::clone(&core.metrics),
                Arc::clone(&core.presence),
                core.shutdown.clone(),
            )),
        ];
        // With the agent bridge on the same PBX, its Stasis calls are its own:
        // the AMI source links its identifiers to them instead.
        let stasis_app = settings.ari.as_ref().map(|ari| ari.app.clone());
        let ami_source = match (ami, core.ami.clone()) {
            (Some((ami_settings, inbox)), Some(handle)) => Some(tokio::spawn(ami::source::run(
                Arc::clone(&core),
                handle,
                ami_settings,
                inbox,
                stasis_app,
                core.shutdown.clone(),
            ))),
            _ => None,
        };
        let ari_source = ari.map(|(ari_settings, inbox)| {
            tokio::spawn(ari::source::run(
                ari::source::AriSourceParts {
                    log: Arc::clone(&core.log),
                    metrics: Arc::clone(&core.metrics),
                    directory: Arc::clone(&core.directory),
                },
                ari_settings,
                inbox,
                core.shutdown.clone(),
            ))
        });
        // The recorder stops only after the sources have, so that it sees their last events.
        let recorder_stop = CancellationToken::new();
        let recorder = tokio::spawn(store::recorder::record(
            core.store.clone(),
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
            core.shutdown.clone(),
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
        let reporter = core.health.lock().take();
        if let Some(reporter) = reporter {
            reporter
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
        }
        core.shutdown.cancel();
        io.close();
        let grace = settings.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            let _ = (&mut server).await;
            for source in [ami_source, ari_source].into_iter().flatten() {
                let _ = source.await;
            }
            recorder_stop.cancel();
            let _ = recorder.await;
            let now = chrono::Utc::now();
            let open_calls = core.log.read(|ledger, _| ledger.snapshot(now).calls);
            let stored = store::recorder::record_open_calls(
                &core.store,
                &open_calls,
                now.timestamp_millis(),
            )
            .await;
            if stored > 0 {
                tracing::info!(calls = stored, "calls still up stored as open records");
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
        core.store.close().await;
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
