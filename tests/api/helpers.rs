//! Spawns the server for one test and builds clients for it.

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::Connection;
use switchboard::app::Application;
use switchboard::auth::{Authenticator, Role, unix_now};
use switchboard::config::{ServeArgs, Settings};
use switchboard::proto::v1::{
    SubscribeRequest, SubscribeResponse, event_service_client::EventServiceClient,
    state_service_client::StateServiceClient,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

#[path = "../common/tools.rs"]
mod tools;
pub use tools::{repo_root, require_tool};

pub const SECRET: &str = "integration-test-secret-0123456789";

/// A running server and what a test needs to reach it.
pub struct TestApp {
    pub address: SocketAddr,
    stop: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Starts a server with `configure` applied to default test settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = ServeArgs {
        socket_port: Some("0".into()),
        jwt_secret: Some(SECRET.into()),
        database_url: Some(format!("sqlite://{}", dir.path().join("test.db").display())),
        stats_interval_seconds: Some("3600".into()),
        ..ServeArgs::default()
    };
    configure(&mut args);
    if args.redis_url.is_some() && args.cluster_name.is_none() {
        // Tests share one Redis: each server its own keys.
        args.cluster_name = Some(unique_cluster_name());
    }
    let settings = Settings::resolve(&args).expect("test settings");
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .try_init();
    }
    let application = Application::build(settings).await.expect("server builds");
    let address = application.local_addr().expect("bound");
    let stop = CancellationToken::new();
    let server = tokio::spawn(application.run_until_stopped(stop.clone()));
    TestApp {
        address,
        stop,
        server: Some(server),
        _dir: dir,
    }
}

/// A deployment name no other test uses, for keys in the shared Redis.
pub fn unique_cluster_name() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// The test Redis that `.ci/services` starts.
pub fn test_redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .expect("TEST_REDIS_URL is not set: run `make test` (it starts Redis with .ci/services)")
}

/// Starts a server with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

impl TestApp {
    /// A handle on a server running elsewhere (another process) at
    /// `address`, for the clients below; stopping it does nothing.
    pub fn detached(address: SocketAddr) -> TestApp {
        TestApp {
            address,
            stop: CancellationToken::new(),
            server: None,
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("grpc connects")
    }

    pub async fn events(&self) -> EventServiceClient<Channel> {
        EventServiceClient::new(self.channel().await)
    }

    pub async fn state(&self) -> StateServiceClient<Channel> {
        StateServiceClient::new(self.channel().await)
    }

    /// Opens an event stream with `token`.
    pub async fn subscribe(
        &self,
        request: SubscribeRequest,
        token: &str,
    ) -> tonic::Streaming<SubscribeResponse> {
        self.events()
            .await
            .subscribe(authed(request, token))
            .await
            .expect("subscribed")
            .into_inner()
    }

    /// `GET path` as a supervisor: the status and the JSON body.
    pub async fn get_as_supervisor(&self, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.url()))
            .bearer_auth(token(Role::Supervisor, None, None))
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// The server's metrics, as an admin reads them (`GET /metrics`).
    pub async fn metrics(&self) -> String {
        reqwest::Client::new()
            .get(format!("{}/metrics", self.url()))
            .bearer_auth(token(Role::Admin, None, None))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text")
    }

    /// An admin sets the system mode over gRPC: one `system-mode-update`
    /// event, as live traffic any test can cause.
    pub async fn set_system_mode(&self, mode: &str) {
        self.state()
            .await
            .set_system_mode(authed(
                switchboard::proto::v1::SetSystemModeRequest { mode: mode.into() },
                &token(Role::Admin, None, None),
            ))
            .await
            .expect("an admin sets the mode");
    }

    /// The system state, as an admin reads it (`StateService/GetSystemState`).
    pub async fn system_state(&self) -> switchboard::proto::v1::GetSystemStateResponse {
        self.state()
            .await
            .get_system_state(authed(
                switchboard::proto::v1::GetSystemStateRequest::default(),
                &token(Role::Admin, None, None),
            ))
            .await
            .expect("the state answers")
            .into_inner()
    }

    /// Runs `clients/socketio/watch.mjs` against this server with `token` and
    /// `args`, and returns the `{event, data}` lines it printed.
    pub async fn watch_socket(&self, token: &str, args: &[&str]) -> Vec<serde_json::Value> {
        let node = require_tool("node", "install Node.js 20");
        let output = tokio::process::Command::new(node)
            .arg(repo_root().join("clients/socketio/watch.mjs"))
            .arg(self.url())
            .args(["--token", token])
            .args(args)
            .output()
            .await
            .expect("node runs");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// Starts `clients/socketio/watch.mjs` with `token` and `args`, and hands
    /// over its lines as they come, so a test can wait for a socket to be ready
    /// (an acknowledged join, say) instead of sleeping a guessed time, and
    /// steer it while it runs.
    pub fn start_socket_watcher(&self, token: &str, args: &[&str]) -> SocketWatcher {
        use tokio::io::AsyncBufReadExt;
        let node = require_tool("node", "install Node.js 20");
        let mut child = tokio::process::Command::new(node)
            .arg(repo_root().join("clients/socketio/watch.mjs"))
            .arg(self.url())
            .args(["--token", token, "--stdin"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let commands = child.stdin.take();
        let (lines, _) = tokio::sync::watch::channel(Vec::new());
        let reader = {
            let lines = lines.clone();
            tokio::spawn(async move {
                let mut stdout = tokio::io::BufReader::new(stdout).lines();
                while let Ok(Some(line)) = stdout.next_line().await {
                    let value: serde_json::Value =
                        serde_json::from_str(&line).expect("a JSON line");
                    lines.send_modify(|seen| seen.push(value));
                }
            })
        };
        SocketWatcher {
            child,
            commands,
            lines,
            reader,
        }
    }

    /// Waits until `count` Socket.IO clients are connected (a watcher's
    /// Node.js start-up takes a while on a busy machine).
    pub async fn wait_for_sockets(&self, count: i64) {
        for _ in 0..300 {
            let metrics = self.metrics().await;
            let connected = metrics
                .lines()
                .find_map(|l| l.strip_prefix("switchboard_connections{transport=\"socketio\"} "))
                .and_then(|value| value.trim().parse::<i64>().ok())
                .unwrap_or(0);
            if connected >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{count} sockets did not connect: {}", self.metrics().await);
    }

    /// Stops the server and waits for it, as SIGTERM would.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.halt().await
    }

    /// As [`TestApp::stop`], keeping the handle (a test may still read it).
    pub async fn halt(&mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        match self.server.take() {
            Some(server) => tokio::time::timeout(Duration::from_secs(15), server)
                .await
                .expect("server stops within its grace period")
                .expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A running `watch.mjs`, its lines readable while it runs.
pub struct SocketWatcher {
    child: tokio::process::Child,
    commands: Option<tokio::process::ChildStdin>,
    lines: tokio::sync::watch::Sender<Vec<serde_json::Value>>,
    reader: JoinHandle<()>,
}

impl SocketWatcher {
    /// Waits (at most 30 s) until the watcher has printed `count` lines for `event`.
    pub async fn wait_for(&self, event: &str, count: usize) {
        self.wait_until(&format!("{count} × {event}"), |lines| {
            lines.iter().filter(|l| l["event"] == event).count() >= count
        })
        .await;
    }

    /// Waits (at most 30 s) until the lines printed so far satisfy `done`.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[serde_json::Value]) -> bool) {
        let mut lines = self.lines.subscribe();
        let seen =
            tokio::time::timeout(Duration::from_secs(30), lines.wait_for(|lines| done(lines)))
                .await;
        assert!(
            matches!(seen, Ok(Ok(_))),
            "{what} did not come: {:?}",
            self.lines.borrow()
        );
    }

    /// Sends the client a command: `["emit", EVENT, PAYLOAD]` or `["quiet"]`.
    pub async fn command(&mut self, command: serde_json::Value) {
        use tokio::io::AsyncWriteExt;
        let stdin = self.commands.as_mut().expect("the watcher is running");
        let line = format!("{command}\n");
        stdin
            .write_all(line.as_bytes())
            .await
            .expect("command sent");
        stdin.flush().await.expect("command sent");
    }

    /// Every line the watcher has printed so far.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.lines.borrow().clone()
    }

    /// How many lines for `event` the watcher has printed so far.
    pub fn count(&self, event: &str) -> usize {
        self.lines
            .borrow()
            .iter()
            .filter(|l| l["event"] == event)
            .count()
    }

    /// Waits for the watcher to end by itself (`--until`, `--count`,
    /// `--seconds`); kills it after 90 s. Returns every line it printed.
    pub async fn exited(mut self) -> Vec<serde_json::Value> {
        if tokio::time::timeout(Duration::from_secs(90), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
        }
        self.finish().await
    }

    /// Ends the watcher (if it has not ended itself): its socket closes as a
    /// client's would, or after 10 s the process is killed. Returns every
    /// line it printed.
    pub async fn finish(mut self) -> Vec<serde_json::Value> {
        drop(self.commands.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
        let _ = (&mut self.reader).await;
        self.lines.borrow().clone()
    }
}

/// Waits until `condition` holds, looking every 20 ms: what a test asserts
/// of something that happens soon, instead of sleeping a guessed time.
/// Fails naming `what` when it does not hold within `within`.
pub async fn eventually(what: &str, within: Duration, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asks `probe` every 20 ms until it answers: what a test waits for that
/// takes a request to see (the server's state, its health). Fails naming
/// `what` when no answer came within `within`.
pub async fn until<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(answer) = probe().await {
            return answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A token for `role` signed with the test secret.
pub fn token(role: Role, extension: Option<&str>, client_id: Option<&str>) -> String {
    Authenticator::new(SECRET.as_bytes(), false)
        .mint(
            "tester",
            role,
            extension.map(str::to_owned),
            client_id.map(str::to_owned),
            Duration::from_secs(600),
            unix_now(),
        )
        .expect("token")
}

/// A token for `role` with subject `sub` signed with the test secret.
pub fn token_for(role: Role, sub: &str, extension: Option<&str>) -> String {
    Authenticator::new(SECRET.as_bytes(), false)
        .mint(
            sub,
            role,
            extension.map(str::to_owned),
            None,
            Duration::from_secs(600),
            unix_now(),
        )
        .expect("token")
}

/// Attaches a bearer token to a gRPC request.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("metadata"),
    );
    request
}

/// The shared fixtures, read in place: `$SWITCHBOARD_FIXTURES`, else `../shared/fixtures`
/// beside the checkout.
pub fn fixtures_root() -> std::path::PathBuf {
    let root = std::env::var_os("SWITCHBOARD_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/fixtures"));
    assert!(
        root.join("README.md").exists(),
        "fixtures not found at {}: check out beside ../shared or set SWITCHBOARD_FIXTURES",
        root.display()
    );
    root
}

/// A fresh Postgres database for one test, on the server of `TEST_DATABASE_URL`.
pub struct Postgres {
    admin_url: String,
    name: String,
}

impl Postgres {
    pub async fn create() -> (Postgres, String) {
        let admin_url = std::env::var("TEST_DATABASE_URL").expect(
            "TEST_DATABASE_URL is not set: run `make test` (it starts Postgres with .ci/services)",
        );
        let name = format!("switchboard_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("postgres reachable");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create db");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        (Postgres { admin_url, name }, url)
    }

    pub async fn drop_database(self) {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .expect("postgres reachable");
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .expect("drop db");
    }
}

/// Asserts that `payload` validates against the generated JSON Schema of the
/// server→client event `event` (any of its catalog entries, since a name may
/// carry two shapes in different rooms).
pub fn assert_matches_schema(event: &str, payload: &serde_json::Value) {
    use switchboard::gateway::catalog::{Direction, lookup};
    let entries: Vec<_> = lookup(event, Direction::ServerToClient).collect();
    assert!(
        !entries.is_empty(),
        "{event} is not in the Socket.IO catalog"
    );
    let mut failures = Vec::new();
    for entry in entries {
        let path = repo_root().join("gen/jsonschema").join(entry.schema_file());
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run `make gen`)", path.display()));
        let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        let validator = jsonschema::validator_for(&schema).expect("schema compiles");
        match validator.validate(payload) {
            Ok(()) => return,
            Err(error) => failures.push(format!("{}: {error}", entry.schema_file())),
        }
    }
    panic!("{event} payload {payload} matches no schema: {failures:?}");
}

/// Asserts every `{event, data}` line a Socket.IO client printed matches its schema.
pub fn assert_lines_match_schemas(lines: &[serde_json::Value]) {
    for line in lines {
        let event = line["event"].as_str().expect("event name");
        if event.starts_with("ack:") || event == "connect_error" || event == "disconnect" {
            continue;
        }
        assert_matches_schema(event, &line["data"]);
    }
}
