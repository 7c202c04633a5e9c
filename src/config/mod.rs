//! Configuration: flags, then environment variables (the names users already
//! have in their `.env`), then an optional TOML file, then defaults. A bad
//! value stops start-up with one clear line.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod cluster;

pub use cluster::Deployment;

use crate::directory::{self, AgentEntry};
use crate::log::LogSettings;

/// Flags and environment variables of `switchboard serve` and `switchboard demo`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys in snake_case).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR")]
    pub bind_addr: Option<String>,
    /// Port for gRPC, grpc-web, Socket.IO and HTTP (0: any free port).
    #[arg(long, env = "SOCKET_PORT")]
    pub socket_port: Option<String>,
    /// Allowed browser origins, comma-separated, or `*`.
    #[arg(long, env = "CORS_ORIGIN")]
    pub cors_origin: Option<String>,
    /// `sqlite://FILE` (default `sqlite://switchboard.db`) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// `redis://…` for the shared cache and the log's journal; unset:
    /// in-process cache, and the log in memory only.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// The deployment's name: the prefix of its keys in Redis (`switchboard`).
    #[arg(long, env = "CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// Run as one node of several (needs `REDIS_URL` and a Postgres
    /// `DATABASE_URL`): one node at a time ingests, under a lease.
    #[arg(long, env = "CLUSTER", num_args = 0..=1, default_missing_value = "true")]
    pub cluster: Option<String>,
    /// This node's name, in `/healthz` and the lease (the host name and a random suffix).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,
    /// Seconds the ingest lease lasts unrenewed (5).
    #[arg(long, env = "LEASE_SECONDS")]
    pub lease_seconds: Option<String>,
    /// Secret for HS256 bearer tokens (at least 32 bytes).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Turn authentication off (development only; logged loudly).
    #[arg(long, env = "AUTH_DISABLED")]
    pub auth_disabled: Option<String>,
    /// Seconds between `system_stats` events.
    #[arg(long, env = "STATS_INTERVAL_SECONDS")]
    pub stats_interval_seconds: Option<String>,
    /// The most events kept for resuming subscribers.
    #[arg(long, env = "REPLAY_WINDOW_EVENTS")]
    pub replay_window_events: Option<String>,
    /// The oldest event kept for resuming subscribers, in seconds.
    #[arg(long, env = "REPLAY_WINDOW_SECONDS")]
    pub replay_window_seconds: Option<String>,
    /// Events a live subscriber may fall behind before losing some.
    #[arg(long, env = "SUBSCRIBER_BUFFER")]
    pub subscriber_buffer: Option<String>,
    /// Seconds allowed for a graceful shutdown.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS")]
    pub shutdown_grace_seconds: Option<String>,
    /// Seconds a client may take to send a request's headers, or go without
    /// sending the rest of its body; a connection with nothing in progress is
    /// closed after three times as long without a byte.
    #[arg(long, env = "CONNECTION_TIMEOUT_SECONDS")]
    pub connection_timeout_seconds: Option<String>,
    /// The system mode at start.
    #[arg(long, env = "SYSTEM_MODE")]
    pub system_mode: Option<String>,
    /// The Asterisk host; the AMI source runs when it is set.
    #[arg(long, env = "AMI_HOST")]
    pub ami_host: Option<String>,
    /// The AMI port (5038).
    #[arg(long, env = "AMI_PORT")]
    pub ami_port: Option<String>,
    /// The AMI user (`manager.conf` section).
    #[arg(long, env = "AMI_USERNAME")]
    pub ami_username: Option<String>,
    /// The AMI secret.
    #[arg(long, env = "AMI_SECRET", hide_env_values = true)]
    pub ami_secret: Option<String>,
    /// Log in with the MD5 challenge instead of the plain secret.
    #[arg(long, env = "AMI_MD5")]
    pub ami_md5: Option<String>,
    /// The phone a supervisor's spy call rings when their token names none.
    #[arg(long, env = "SUPERVISOR_EXTENSION")]
    pub supervisor_extension: Option<String>,
    /// The ARI base URL (`http://pbx:8088/ari`); the ARI source runs when it is set.
    #[arg(long, env = "ARI_URL")]
    pub ari_url: Option<String>,
    /// The ARI user (`ari.conf`).
    #[arg(long, env = "ARI_USERNAME")]
    pub ari_username: Option<String>,
    /// Its password.
    #[arg(long, env = "ARI_PASSWORD", hide_env_values = true)]
    pub ari_password: Option<String>,
    /// The Stasis application (`callcenter`).
    #[arg(long, env = "ARI_APP")]
    pub ari_app: Option<String>,
    /// A TOML file of `[[agents]]` (extension, agent_id, name, max_calls, endpoint).
    #[arg(long, env = "AGENTS_FILE")]
    pub agents_file: Option<PathBuf>,
    /// Seconds a Socket.IO client whose connection dropped may take to come
    /// back and recover what it missed (120; 0: no recovery, events carry no offset).
    #[arg(long, env = "SOCKETIO_RECOVERY_SECONDS")]
    pub socketio_recovery_seconds: Option<String>,
    /// Seconds without a heartbeat after which a chat agent is offline (45).
    #[arg(long, env = "CHAT_HEARTBEAT_TIMEOUT_SECONDS")]
    pub chat_heartbeat_timeout_seconds: Option<String>,
    /// The voice-AI provider's API key (signs its webhooks) for the agents of `RETELL_AGENT_CLIENTS`.
    #[arg(long, env = "RETELL_API_KEY", hide_env_values = true)]
    pub retell_api_key: Option<String>,
    /// Which tenant each voice-AI agent serves: `agent_id=client_id,…`.
    #[arg(long, env = "RETELL_AGENT_CLIENTS")]
    pub retell_agent_clients: Option<String>,
    /// The URL Twilio calls switchboard at (`https://hub.example.com`), as signed by Twilio.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The Twilio account's auth token (signs its webhooks).
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// The Twilio account SID (REST calls for transfers).
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// The number transfer calls come from.
    #[arg(long, env = "TWILIO_TRANSFER_CALLER_ID")]
    pub twilio_transfer_caller_id: Option<String>,
    /// Twilio's REST base URL (`https://api.twilio.com`; a local peer in tests).
    #[arg(long, env = "TWILIO_API_BASE")]
    pub twilio_api_base: Option<String>,
    /// The PBX's SIP domain agents' extensions are dialled at (`sip:{extension}@{domain}`).
    #[arg(long, env = "FREEPBX_DOMAIN")]
    pub freepbx_domain: Option<String>,
}

/// The optional TOML file: the same settings, snake_case keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind_addr: Option<String>,
    socket_port: Option<u16>,
    cors_origin: Option<String>,
    database_url: Option<String>,
    redis_url: Option<String>,
    cluster_name: Option<String>,
    cluster: Option<bool>,
    node_name: Option<String>,
    lease_seconds: Option<u64>,
    jwt_secret: Option<String>,
    auth_disabled: Option<bool>,
    stats_interval_seconds: Option<u64>,
    replay_window_events: Option<usize>,
    replay_window_seconds: Option<u64>,
    subscriber_buffer: Option<usize>,
    shutdown_grace_seconds: Option<u64>,
    connection_timeout_seconds: Option<u64>,
    system_mode: Option<String>,
    ami_host: Option<String>,
    ami_port: Option<u16>,
    ami_username: Option<String>,
    ami_secret: Option<String>,
    ami_md5: Option<bool>,
    supervisor_extension: Option<String>,
    ari_url: Option<String>,
    ari_username: Option<String>,
    ari_password: Option<String>,
    ari_app: Option<String>,
    agents_file: Option<PathBuf>,
    #[serde(default)]
    agents: Vec<AgentEntry>,
    chat_heartbeat_timeout_seconds: Option<u64>,
    socketio_recovery_seconds: Option<u64>,
    #[serde(default)]
    voice_ai_tenants: Vec<VoiceAiTenant>,
    public_url: Option<String>,
    twilio_auth_token: Option<String>,
    twilio_account_sid: Option<String>,
    twilio_transfer_caller_id: Option<String>,
    twilio_api_base: Option<String>,
    freepbx_domain: Option<String>,
}

/// How Twilio's webhooks are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioConfig {
    /// The public base URL (no trailing slash) Twilio requests, as it signs it.
    pub public_url: String,
    /// The account's auth token.
    pub auth_token: String,
    /// The account SID, for REST calls (transfers).
    pub account_sid: String,
    /// The number transfer calls come from.
    pub transfer_caller_id: String,
    /// The REST base URL.
    pub api_base: String,
    /// The PBX's SIP domain.
    pub freepbx_domain: String,
}

/// A tenant of the voice-AI provider: its API key (which signs its webhooks)
/// and the provider's agents that serve it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceAiTenant {
    /// The tenant (`client:{client_id}` room, tenant of its events).
    pub client_id: String,
    /// The tenant's API key at the provider.
    pub api_key: String,
    /// The provider's agent ids whose calls belong to this tenant.
    pub agent_ids: Vec<String>,
}

/// How to reach the Asterisk Manager Interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiConfig {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User.
    pub username: String,
    /// Secret.
    pub secret: String,
    /// MD5 challenge login.
    pub md5: bool,
}

/// How to reach the Asterisk REST Interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AriConfig {
    /// Base URL, without a trailing slash (`http://pbx:8088/ari`).
    pub url: String,
    /// User.
    pub username: String,
    /// Password.
    pub password: String,
    /// The Stasis application.
    pub app: String,
}

/// The Stasis application name when `ARI_APP` is not set.
pub const DEFAULT_ARI_APP: &str = "callcenter";

/// Which browser origins may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin.
    Any,
    /// Only these.
    List(Vec<String>),
}

/// The validated settings the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub bind_addr: IpAddr,
    /// Listen port (0: any).
    pub port: u16,
    /// Allowed browser origins.
    pub cors: CorsOrigins,
    /// The store's URL.
    pub database_url: String,
    /// Redis, when configured.
    pub redis_url: Option<String>,
    /// The deployment's name, this node's, and whether it is one of several.
    pub deployment: cluster::Deployment,
    /// The token secret.
    pub jwt_secret: String,
    /// Authentication off.
    pub auth_disabled: bool,
    /// Interval of `system_stats`.
    pub stats_interval: Duration,
    /// Replay window and fan-out bounds.
    pub log: LogSettings,
    /// Grace period of a shutdown.
    pub shutdown_grace: Duration,
    /// How long a client may take for a request's headers, or stall its
    /// body; a connection with nothing in progress closes after 3× as long idle.
    pub connection_timeout: Duration,
    /// The system mode at start.
    pub system_mode: String,
    /// The AMI source, when `AMI_HOST` is set.
    pub ami: Option<AmiConfig>,
    /// The ARI source, when `ARI_URL` is set.
    pub ari: Option<AriConfig>,
    /// The phone a supervisor's spy call rings when their token names none.
    pub supervisor_extension: Option<String>,
    /// The agent directory at start.
    pub agents: Vec<AgentEntry>,
    /// A chat agent silent this long is offline.
    pub chat_heartbeat_timeout: Duration,
    /// How long a dropped Socket.IO socket is kept for its client to recover
    /// it; `None`: connection state recovery is off.
    pub socketio_recovery: Option<Duration>,
    /// The voice-AI provider's tenants.
    pub voice_ai: Vec<VoiceAiTenant>,
    /// Twilio's webhooks, when `TWILIO_AUTH_TOKEN` is set.
    pub twilio: Option<TwilioConfig>,
}

/// A configuration error: one line saying which setting and why.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// A refused directory (in the file or the settings) is a configuration error.
impl From<crate::directory::DirectoryError> for ConfigError {
    fn from(error: crate::directory::DirectoryError) -> Self {
        ConfigError(error.to_string())
    }
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError(format!("{name}={value:?} is not a valid value")))
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError(format!(
            "{name}={value:?} is not true or false"
        ))),
    }
}

impl Settings {
    /// Resolves flags and environment over the TOML file over defaults, and validates.
    pub fn resolve(args: &ServeArgs) -> Result<Settings, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let bind_addr = match &args.bind_addr {
            Some(v) => parse("BIND_ADDR", v)?,
            None => parse(
                "bind_addr",
                file.bind_addr.as_deref().unwrap_or("127.0.0.1"),
            )?,
        };
        let port = match &args.socket_port {
            Some(v) => parse("SOCKET_PORT", v)?,
            None => file.socket_port.unwrap_or(3001),
        };
        let cors_text = args
            .cors_origin
            .clone()
            .or(file.cors_origin)
            .unwrap_or_else(|| "*".into());
        let cors = if cors_text.trim() == "*" {
            CorsOrigins::Any
        } else {
            let origins: Vec<String> = cors_text
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = origins.iter().find(|o| {
                !(o.starts_with("http://") || o.starts_with("https://"))
                    || http::HeaderValue::from_str(o).is_err()
            }) {
                return Err(ConfigError(format!(
                    "CORS_ORIGIN entry {bad:?} is not an origin like https://host:port"
                )));
            }
            CorsOrigins::List(origins)
        };
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| "sqlite://switchboard.db".into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError(
                "DATABASE_URL must start with sqlite: or postgres://".into(),
            ));
        }
        let redis_url = args
            .redis_url
            .clone()
            .or(file.redis_url)
            .filter(|u| !u.is_empty());
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ConfigError("REDIS_URL must start with redis://".into()));
        }
        let from_file = cluster::FromFile {
            name: file.cluster_name.clone(),
            cluster: file.cluster,
            node: file.node_name.clone(),
            lease_seconds: file.lease_seconds,
        };
        let deployment = cluster::Deployment::resolve(args, from_file, &database_url, &redis_url)?;
        let auth_disabled = match &args.auth_disabled {
            Some(v) => parse_bool("AUTH_DISABLED", v)?,
            None => file.auth_disabled.unwrap_or(false),
        };
        let jwt_secret = args
            .jwt_secret
            .clone()
            .or(file.jwt_secret)
            .unwrap_or_default();
        if !auth_disabled && jwt_secret.len() < 32 {
            return Err(ConfigError(if jwt_secret.is_empty() {
                "JWT_SECRET is not set (set it, or AUTH_DISABLED=true for development)".into()
            } else {
                "JWT_SECRET must be at least 32 bytes".into()
            }));
        }
        let seconds = |name: &str, arg: &Option<String>, file: Option<u64>, default: u64| {
            let value = match arg {
                Some(v) => parse::<u64>(name, v)?,
                None => file.unwrap_or(default),
            };
            Ok::<_, ConfigError>(value)
        };
        let stats = seconds(
            "STATS_INTERVAL_SECONDS",
            &args.stats_interval_seconds,
            file.stats_interval_seconds,
            30,
        )?;
        if stats == 0 {
            return Err(ConfigError(
                "STATS_INTERVAL_SECONDS must be at least 1".into(),
            ));
        }
        let window_events = match &args.replay_window_events {
            Some(v) => parse("REPLAY_WINDOW_EVENTS", v)?,
            None => file.replay_window_events.unwrap_or(10_000),
        };
        let live_buffer = match &args.subscriber_buffer {
            Some(v) => parse("SUBSCRIBER_BUFFER", v)?,
            None => file.subscriber_buffer.unwrap_or(8192),
        };
        if live_buffer == 0 {
            return Err(ConfigError("SUBSCRIBER_BUFFER must be at least 1".into()));
        }
        let window_seconds = seconds(
            "REPLAY_WINDOW_SECONDS",
            &args.replay_window_seconds,
            file.replay_window_seconds,
            900,
        )?;
        let grace = seconds(
            "SHUTDOWN_GRACE_SECONDS",
            &args.shutdown_grace_seconds,
            file.shutdown_grace_seconds,
            10,
        )?;
        let connection_timeout = seconds(
            "CONNECTION_TIMEOUT_SECONDS",
            &args.connection_timeout_seconds,
            file.connection_timeout_seconds,
            20,
        )?;
        if connection_timeout == 0 {
            return Err(ConfigError(
                "CONNECTION_TIMEOUT_SECONDS must be at least 1".into(),
            ));
        }
        let system_mode = args
            .system_mode
            .clone()
            .or(file.system_mode)
            .unwrap_or_else(|| "auto".into());
        let ami = match args
            .ami_host
            .clone()
            .or(file.ami_host)
            .filter(|h| !h.trim().is_empty())
        {
            None => None,
            Some(host) => {
                let port = match &args.ami_port {
                    Some(v) => parse("AMI_PORT", v)?,
                    None => file.ami_port.unwrap_or(5038),
                };
                let username = args
                    .ami_username
                    .clone()
                    .or(file.ami_username)
                    .unwrap_or_default();
                if username.is_empty() {
                    return Err(ConfigError(
                        "AMI_HOST is set but AMI_USERNAME is not".into(),
                    ));
                }
                let md5 = match &args.ami_md5 {
                    Some(v) => parse_bool("AMI_MD5", v)?,
                    None => file.ami_md5.unwrap_or(false),
                };
                Some(AmiConfig {
                    host: host.trim().to_owned(),
                    port,
                    username,
                    secret: args
                        .ami_secret
                        .clone()
                        .or(file.ami_secret)
                        .unwrap_or_default(),
                    md5,
                })
            }
        };
        let ari = match args
            .ari_url
            .clone()
            .or(file.ari_url)
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty())
        {
            None => None,
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError(format!(
                        "ARI_URL must start with http:// or https://, got {url:?}"
                    )));
                }
                let url = ari_base(&url);
                let username = args
                    .ari_username
                    .clone()
                    .or(file.ari_username)
                    .unwrap_or_default();
                if username.is_empty() {
                    return Err(ConfigError("ARI_URL is set but ARI_USERNAME is not".into()));
                }
                Some(AriConfig {
                    url,
                    username,
                    password: args
                        .ari_password
                        .clone()
                        .or(file.ari_password)
                        .unwrap_or_default(),
                    app: args
                        .ari_app
                        .clone()
                        .or(file.ari_app)
                        .filter(|a| !a.trim().is_empty())
                        .unwrap_or_else(|| DEFAULT_ARI_APP.into()),
                })
            }
        };
        let supervisor_extension = args
            .supervisor_extension
            .clone()
            .or(file.supervisor_extension)
            .filter(|e| !e.trim().is_empty());
        let mut agents = file.agents;
        if let Some(path) = args.agents_file.clone().or(file.agents_file) {
            agents.extend(directory::read(&path)?);
        }
        let agents = directory::validate(agents)?;
        let chat_timeout = seconds(
            "CHAT_HEARTBEAT_TIMEOUT_SECONDS",
            &args.chat_heartbeat_timeout_seconds,
            file.chat_heartbeat_timeout_seconds,
            45,
        )?;
        let recovery = seconds(
            "SOCKETIO_RECOVERY_SECONDS",
            &args.socketio_recovery_seconds,
            file.socketio_recovery_seconds,
            120,
        )?;
        let mut voice_ai = file.voice_ai_tenants;
        if let Some(pairs) = args
            .retell_agent_clients
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            let api_key = args.retell_api_key.clone().unwrap_or_default();
            if api_key.is_empty() {
                return Err(ConfigError(
                    "RETELL_AGENT_CLIENTS is set but RETELL_API_KEY is not".into(),
                ));
            }
            for pair in pairs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let Some((agent, client)) = pair.split_once('=') else {
                    return Err(ConfigError(format!(
                        "RETELL_AGENT_CLIENTS entry {pair:?} is not agent_id=client_id"
                    )));
                };
                voice_ai.push(VoiceAiTenant {
                    client_id: client.trim().to_owned(),
                    api_key: api_key.clone(),
                    agent_ids: vec![agent.trim().to_owned()],
                });
            }
        }
        if let Some(bad) = voice_ai
            .iter()
            .find(|t| t.client_id.is_empty() || t.api_key.is_empty())
        {
            return Err(ConfigError(format!(
                "voice-AI tenant {:?} needs a client_id and an api_key",
                bad.client_id
            )));
        }
        // A client id names rooms (`client:{id}`) and scopes the tenant's
        // call and conversation ids (`voice-{id}.{call_id}`).
        if let Some(bad) = voice_ai.iter().find(|t| {
            !t.client_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }) {
            return Err(ConfigError(format!(
                "voice-AI client id {:?} may use letters, digits, '-' and '_' only",
                bad.client_id
            )));
        }
        let twilio = match args
            .twilio_auth_token
            .clone()
            .or(file.twilio_auth_token)
            .filter(|t| !t.is_empty())
        {
            None => None,
            Some(auth_token) => {
                let public_url = args
                    .public_url
                    .clone()
                    .or(file.public_url)
                    .map(|u| u.trim().trim_end_matches('/').to_owned())
                    .unwrap_or_default();
                if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
                    return Err(ConfigError(
                        "TWILIO_AUTH_TOKEN is set but PUBLIC_URL (the URL Twilio calls, http(s)://…) is not"
                            .into(),
                    ));
                }
                let text = |arg: &Option<String>, file: Option<String>| {
                    arg.clone().or(file).unwrap_or_default().trim().to_owned()
                };
                Some(TwilioConfig {
                    public_url,
                    auth_token,
                    account_sid: text(&args.twilio_account_sid, file.twilio_account_sid),
                    transfer_caller_id: text(
                        &args.twilio_transfer_caller_id,
                        file.twilio_transfer_caller_id,
                    ),
                    api_base: Some(text(&args.twilio_api_base, file.twilio_api_base))
                        .filter(|b| !b.is_empty())
                        .unwrap_or_else(|| "https://api.twilio.com".into())
                        .trim_end_matches('/')
                        .to_owned(),
                    freepbx_domain: text(&args.freepbx_domain, file.freepbx_domain),
                })
            }
        };
        if chat_timeout == 0 {
            return Err(ConfigError(
                "CHAT_HEARTBEAT_TIMEOUT_SECONDS must be at least 1".into(),
            ));
        }
        Ok(Settings {
            bind_addr,
            port,
            cors,
            database_url,
            redis_url,
            deployment,
            jwt_secret,
            auth_disabled,
            stats_interval: Duration::from_secs(stats),
            log: LogSettings {
                window_events,
                window_age: Duration::from_secs(window_seconds),
                live_buffer,
            },
            shutdown_grace: Duration::from_secs(grace),
            connection_timeout: Duration::from_secs(connection_timeout),
            system_mode,
            ami,
            ari,
            supervisor_extension,
            agents,
            chat_heartbeat_timeout: Duration::from_secs(chat_timeout),
            socketio_recovery: (recovery > 0).then(|| Duration::from_secs(recovery)),
            voice_ai,
            twilio,
        })
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        ConfigError(format!(
            "{}: {}",
            path.display(),
            e.message().lines().next().unwrap_or("invalid TOML")
        ))
    })
}

/// The `tracing` filter: `RUST_LOG` if set, else `debug` when `DEBUG=true`, else
/// `LOG_LEVEL` (error, warn, info, debug, trace), else `info`.
pub fn log_filter(
    rust_log: Option<&str>,
    debug: Option<&str>,
    log_level: Option<&str>,
) -> Result<String, ConfigError> {
    if let Some(filter) = rust_log.filter(|f| !f.trim().is_empty()) {
        return Ok(filter.to_owned());
    }
    if let Some(flag) = debug
        && parse_bool("DEBUG", flag)?
    {
        return Ok("debug".into());
    }
    match log_level.map(|l| l.trim().to_ascii_lowercase()) {
        None => Ok("info".into()),
        Some(level) if ["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) => {
            Ok(level)
        }
        Some(level) => Err(ConfigError(format!(
            "LOG_LEVEL={level:?} is not one of error, warn, info, debug, trace"
        ))),
    }
}

/// The ARI base of an `ARI_URL` written either way ARI libraries take it:
/// the HTTP server (`http://pbx:8088`, as Node's `ari-client` is given it,
/// which adds `/ari` itself) or the ARI base (`http://pbx:8088/ari`, or behind
/// an http.conf `prefix`, `http://pbx:8088/asterisk/ari`). A path that does
/// not end in `/ari` gets it.
fn ari_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let authority = url.find("://").map_or(0, |scheme| scheme + 3);
    let path = url[authority..]
        .find('/')
        .map_or("", |slash| &url[authority + slash..]);
    if path.ends_with("/ari") {
        url.to_owned()
    } else {
        format!("{url}/ari")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            jwt_secret: Some("0123456789abcdef0123456789abcdef".into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_match_the_seed_watcher() {
        let settings = Settings::resolve(&args()).unwrap();
        assert_eq!(settings.port, 3001);
        assert_eq!(settings.bind_addr.to_string(), "127.0.0.1");
        assert_eq!(settings.stats_interval, Duration::from_secs(30));
        assert_eq!(settings.cors, CorsOrigins::Any);
    }

    #[test]
    fn bad_values_give_one_clear_line() {
        let mut bad = args();
        bad.socket_port = Some("http".into());
        let message = Settings::resolve(&bad).unwrap_err().to_string();
        assert_eq!(
            message,
            "configuration error: SOCKET_PORT=\"http\" is not a valid value"
        );
        let mut no_secret = args();
        no_secret.jwt_secret = None;
        assert!(
            Settings::resolve(&no_secret)
                .unwrap_err()
                .to_string()
                .contains("JWT_SECRET")
        );
        let mut cors = args();
        cors.cors_origin = Some("http://localhost:8080,bdl-pbx".into());
        assert!(
            Settings::resolve(&cors)
                .unwrap_err()
                .to_string()
                .contains("bdl-pbx")
        );
    }

    #[test]
    fn the_ari_source_is_configured_by_its_url() {
        assert_eq!(
            Settings::resolve(&args()).unwrap().ari,
            None,
            "off by default"
        );
        let mut ari = args();
        ari.ari_url = Some("http://pbx:8088/ari/".into());
        ari.ari_username = Some("switchboard".into());
        ari.ari_password = Some("secret".into());
        assert_eq!(
            Settings::resolve(&ari).unwrap().ari,
            Some(AriConfig {
                url: "http://pbx:8088/ari".into(),
                username: "switchboard".into(),
                password: "secret".into(),
                app: DEFAULT_ARI_APP.into(),
            })
        );
        // The HTTP server's URL, as Node's ari-client takes it, or the ARI
        // base, behind a prefix or not.
        for (given, base) in [
            ("http://pbx:8088", "http://pbx:8088/ari"),
            ("http://pbx:8088/", "http://pbx:8088/ari"),
            (
                "https://pbx.example.com/asterisk",
                "https://pbx.example.com/asterisk/ari",
            ),
            (
                "http://pbx:8088/asterisk/ari/",
                "http://pbx:8088/asterisk/ari",
            ),
        ] {
            let mut written = ari.clone();
            written.ari_url = Some(given.into());
            assert_eq!(Settings::resolve(&written).unwrap().ari.unwrap().url, base);
        }
        ari.ari_app = Some("agents".into());
        assert_eq!(Settings::resolve(&ari).unwrap().ari.unwrap().app, "agents");
        let mut no_user = ari.clone();
        no_user.ari_username = None;
        assert!(
            Settings::resolve(&no_user)
                .unwrap_err()
                .to_string()
                .contains("ARI_USERNAME")
        );
        let mut not_http = ari;
        not_http.ari_url = Some("pbx:8088".into());
        assert!(
            Settings::resolve(&not_http)
                .unwrap_err()
                .to_string()
                .contains("ARI_URL")
        );
    }

    #[test]
    fn the_toml_file_sits_under_flags_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchboard.toml");
        std::fs::write(&path, "socket_port = 4000\nsystem_mode = \"night\"\n").unwrap();
        let mut with_file = args();
        with_file.config = Some(path.clone());
        let settings = Settings::resolve(&with_file).unwrap();
        assert_eq!(
            (settings.port, settings.system_mode.as_str()),
            (4000, "night")
        );
        with_file.socket_port = Some("5000".into());
        assert_eq!(Settings::resolve(&with_file).unwrap().port, 5000);
        std::fs::write(&path, "sokcet_port = 1\n").unwrap();
        assert!(
            Settings::resolve(&with_file)
                .unwrap_err()
                .to_string()
                .contains("sokcet_port")
        );
    }

    #[test]
    fn log_level_names_and_debug_alias() {
        assert_eq!(
            log_filter(None, Some("true"), Some("warn")).unwrap(),
            "debug"
        );
        assert_eq!(log_filter(None, None, Some("WARN")).unwrap(), "warn");
        assert_eq!(
            log_filter(Some("switchboard=trace"), Some("true"), None).unwrap(),
            "switchboard=trace"
        );
        assert!(log_filter(None, None, Some("loud")).is_err());
    }
}
