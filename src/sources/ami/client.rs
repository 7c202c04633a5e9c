//! The AMI client: one TCP connection to the PBX, kept alive.
//!
//! - Logs in with `Login` (plain secret) or, when configured, the MD5 challenge
//!   (`Challenge` then `Login` with `Key = md5(challenge + secret)`).
//! - Correlates every action's answer by `ActionID`; an event-list action
//!   (`CoreShowChannels`, `QueueStatus`, `QueueSummary`, `Agents`, …) is answered
//!   once its `EventList: Complete` event arrives. Each action has a timeout.
//! - Sends `Ping` on an interval; a connection that does not answer within the
//!   bound is declared dead.
//! - Reconnects with exponential backoff and jitter; a failed login backs off too,
//!   so the PBX is never hammered.
//!
//! What happens is reported on a channel of [`AmiNotice`]s: connected,
//! disconnected, login failed, skipped frames, and every unsolicited event.

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use md5::{Digest, Md5};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use super::codec::{AmiAction, AmiCodec, AmiFrame, AmiMessage, DEFAULT_MAX_FRAME, SkipReason};

/// How to reach and log in to the PBX.
#[derive(Debug, Clone)]
pub struct AmiSettings {
    /// `host:port` (port 5038 by default).
    pub address: String,
    /// AMI user.
    pub username: String,
    /// AMI secret.
    pub secret: String,
    /// Log in with the MD5 challenge instead of the plain secret.
    pub md5: bool,
    /// How long an action may wait for its answer.
    pub action_timeout: Duration,
    /// How often to send `Ping`.
    pub ping_interval: Duration,
    /// First reconnect delay; doubles up to `backoff_max`, with jitter.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Largest frame accepted.
    pub max_frame: usize,
}

impl AmiSettings {
    /// Settings with the defaults for timing and framing.
    pub fn new(
        address: impl Into<String>,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        AmiSettings {
            address: address.into(),
            username: username.into(),
            secret: secret.into(),
            md5: false,
            action_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(15),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

/// What the client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum AmiNotice {
    /// Logged in; `greeting` is the PBX's banner.
    Connected {
        /// The peer.
        address: String,
        /// The greeting line.
        greeting: String,
    },
    /// The connection ended; the client retries after `retry_in`.
    Disconnected {
        /// Why, in one line.
        reason: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The PBX refused the login; the client retries after `retry_in`.
    LoginFailed {
        /// The PBX's message.
        message: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// A frame was skipped (oversized or malformed); the connection goes on.
    Skipped {
        /// Why.
        reason: SkipReason,
        /// Bytes dropped.
        bytes: usize,
    },
    /// An event that answers no action.
    Event(AmiMessage),
}

/// An action's answer: the response, and the events of an event list.
#[derive(Debug, Clone, PartialEq)]
pub struct AmiReply {
    /// The `Response:` message.
    pub response: AmiMessage,
    /// The list's events, without the `*Complete` event.
    pub events: Vec<AmiMessage>,
}

impl AmiReply {
    /// Whether the PBX accepted the action.
    pub fn is_success(&self) -> bool {
        matches!(self.response.response(), Some(r) if r.eq_ignore_ascii_case("success") || r.eq_ignore_ascii_case("follows"))
    }
}

/// Why an action got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum AmiError {
    /// Not connected (or the connection dropped while waiting).
    #[error("the AMI connection is down")]
    NotConnected,
    /// No answer within the action timeout.
    #[error("the PBX did not answer {0} in time")]
    Timeout(String),
    /// The action cannot be sent (a field with a line break).
    #[error("invalid action: {0}")]
    Invalid(String),
}

struct Request {
    action: AmiAction,
    reply: oneshot::Sender<Result<AmiReply, AmiError>>,
}

/// Sends actions over the client's connection.
#[derive(Clone, Debug)]
pub struct AmiHandle {
    requests: mpsc::Sender<Request>,
    timeout: Duration,
}

impl AmiHandle {
    /// Sends `name` with `fields` and waits for its answer (and its event list).
    pub async fn send(&self, name: &str, fields: &[(&str, &str)]) -> Result<AmiReply, AmiError> {
        let mut action = AmiAction::new(name, String::new());
        for (key, value) in fields {
            action = action.field(*key, *value);
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { action, reply })
            .await
            .map_err(|_| AmiError::NotConnected)?;
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(AmiError::NotConnected),
            Err(_) => Err(AmiError::Timeout(name.to_owned())),
        }
    }
}

/// One action a handle sent, taken from the inbox by someone other than
/// the client (a cluster's standby relays it to the node that ingests).
pub struct TakenAction {
    /// The action's name (`Originate`, …).
    pub name: String,
    /// Its fields, in order.
    pub fields: Vec<(String, String)>,
    reply: oneshot::Sender<Result<AmiReply, AmiError>>,
}

impl TakenAction {
    /// Answers the handle that sent it.
    pub fn answer(self, outcome: Result<AmiReply, AmiError>) {
        let _ = self.reply.send(outcome);
    }
}

impl AmiInbox {
    /// The next action sent while no client reads this inbox, waiting up
    /// to `wait`; `None` when a client reads it or nothing came.
    pub async fn take_unread(&self, wait: Duration) -> Option<TakenAction> {
        let mut inbox = self.0.try_lock().ok()?;
        let request = tokio::time::timeout(wait, inbox.recv()).await.ok()??;
        Some(TakenAction {
            name: request.action.name,
            fields: request.action.fields,
            reply: request.reply,
        })
    }
}

/// Where a handle's actions wait until the client runs. Shared: one client
/// at a time reads it (the client of this node's current ingest term, in a
/// cluster), holding it while it runs.
#[derive(Clone)]
pub struct AmiInbox(std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<Request>>>);

/// A handle whose actions will be served by the client [`start`]ed with the
/// returned inbox (so the handle can be shared before the client runs).
pub fn handle(settings: &AmiSettings) -> (AmiHandle, AmiInbox) {
    let (requests, inbox) = mpsc::channel(64);
    let handle = AmiHandle {
        requests,
        timeout: settings.action_timeout,
    };
    (
        handle,
        AmiInbox(std::sync::Arc::new(tokio::sync::Mutex::new(inbox))),
    )
}

/// Runs the client for `inbox` until `shutdown`, reconnecting as needed.
pub fn start(
    settings: AmiSettings,
    inbox: AmiInbox,
    notices: mpsc::Sender<AmiNotice>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let inbox = inbox.0.lock_owned().await;
        run(settings, notices, inbox, shutdown).await;
    })
}

/// Starts the client; it runs until `shutdown`, reconnecting as needed.
pub fn spawn(
    settings: AmiSettings,
    notices: mpsc::Sender<AmiNotice>,
    shutdown: CancellationToken,
) -> (AmiHandle, tokio::task::JoinHandle<()>) {
    let (handle, inbox) = handle(&settings);
    let task = start(settings, inbox, notices, shutdown);
    (handle, task)
}

/// The delay before attempt `attempt` (0-based): doubling from `min`, capped at
/// `max`, then scaled by a random factor in [0.5, 1.0] so that many clients
/// restarting together do not reconnect together.
pub fn backoff(attempt: u32, min: Duration, max: Duration, jitter: f64) -> Duration {
    let exponential = min.saturating_mul(1_u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX));
    exponential
        .min(max)
        .mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

async fn run(
    settings: AmiSettings,
    notices: mpsc::Sender<AmiNotice>,
    mut inbox: tokio::sync::OwnedMutexGuard<mpsc::Receiver<Request>>,
    shutdown: CancellationToken,
) {
    let mut attempt = 0;
    loop {
        let outcome = tokio::select! {
            outcome = session(&settings, &notices, &mut inbox, &shutdown, &mut attempt) => outcome,
            () = shutdown.cancelled() => return,
        };
        if shutdown.is_cancelled() {
            return;
        }
        let retry_in = backoff(
            attempt,
            settings.backoff_min,
            settings.backoff_max,
            rand::random(),
        );
        attempt = attempt.saturating_add(1);
        let notice = match outcome {
            Ended::LoginFailed(message) => {
                tracing::error!(address = %settings.address, %message, retry_in_ms = retry_in.as_millis() as u64, "ami login failed; check AMI_USERNAME and AMI_SECRET");
                AmiNotice::LoginFailed { message, retry_in }
            }
            Ended::Lost(reason) => {
                tracing::warn!(address = %settings.address, %reason, retry_in_ms = retry_in.as_millis() as u64, "ami connection lost; reconnecting");
                AmiNotice::Disconnected { reason, retry_in }
            }
        };
        let _ = notices.send(notice).await;
        // Actions asked while down fail at once instead of waiting for a timeout.
        let wait = tokio::time::sleep(retry_in);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                Some(request) = inbox.recv() => {
                    let _ = request.reply.send(Err(AmiError::NotConnected));
                }
                () = shutdown.cancelled() => return,
            }
        }
    }
}

enum Ended {
    LoginFailed(String),
    Lost(String),
}

type Connection = Framed<TcpStream, AmiCodec>;

/// One connection: connect, log in, then serve actions and events until it ends.
async fn session(
    settings: &AmiSettings,
    notices: &mpsc::Sender<AmiNotice>,
    inbox: &mut mpsc::Receiver<Request>,
    shutdown: &CancellationToken,
    attempt: &mut u32,
) -> Ended {
    let stream = match tokio::time::timeout(
        settings.action_timeout,
        TcpStream::connect(&settings.address),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Ended::Lost(format!("connect to {}: {error}", settings.address)),
        Err(_) => return Ended::Lost(format!("connect to {} timed out", settings.address)),
    };
    let _ = stream.set_nodelay(true);
    let mut connection = Framed::new(stream, AmiCodec::new(settings.max_frame));
    let greeting = match next_message_or_greeting(&mut connection, settings.action_timeout).await {
        Ok(AmiFrame::Greeting(greeting)) => greeting,
        Ok(_) => return Ended::Lost("the peer sent no AMI greeting".into()),
        Err(reason) => return Ended::Lost(reason),
    };
    if let Err(ended) = login(&mut connection, settings).await {
        return ended;
    }
    *attempt = 0;
    tracing::info!(address = %settings.address, %greeting, "ami connected");
    let _ = notices
        .send(AmiNotice::Connected {
            address: settings.address.clone(),
            greeting,
        })
        .await;
    serve(connection, settings, notices, inbox, shutdown).await
}

async fn next_message_or_greeting(
    connection: &mut Connection,
    limit: Duration,
) -> Result<AmiFrame, String> {
    match tokio::time::timeout(limit, connection.next()).await {
        Ok(Some(Ok(frame))) => Ok(frame),
        Ok(Some(Err(error))) => Err(error.to_string()),
        Ok(None) => Err("the peer closed the connection".into()),
        Err(_) => Err("the peer did not answer in time".into()),
    }
}

/// Waits for the response to `action_id`, ignoring anything else (events before login).
async fn response_to(
    connection: &mut Connection,
    action_id: &str,
    limit: Duration,
) -> Result<AmiMessage, Ended> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_message_or_greeting(connection, left)
            .await
            .map_err(Ended::Lost)?
        {
            AmiFrame::Message(message)
                if message.response().is_some() && message.action_id() == Some(action_id) =>
            {
                return Ok(message);
            }
            _ => {}
        }
    }
}

async fn send_action(connection: &mut Connection, action: AmiAction) -> Result<(), Ended> {
    connection
        .send(action)
        .await
        .map_err(|e| Ended::Lost(e.to_string()))
}

async fn login(connection: &mut Connection, settings: &AmiSettings) -> Result<(), Ended> {
    let mut action = AmiAction::new("Login", "login").field("Username", &settings.username);
    if settings.md5 {
        send_action(
            connection,
            AmiAction::new("Challenge", "challenge").field("AuthType", "MD5"),
        )
        .await?;
        let answer = response_to(connection, "challenge", settings.action_timeout).await?;
        let challenge = answer.get("Challenge").ok_or_else(|| {
            Ended::LoginFailed(
                answer
                    .get("Message")
                    .unwrap_or("no MD5 challenge")
                    .to_owned(),
            )
        })?;
        let key = md5_key(challenge, &settings.secret);
        action = action.field("AuthType", "MD5").field("Key", key);
    } else {
        action = action.field("Secret", &settings.secret);
    }
    send_action(connection, action.field("Events", "on")).await?;
    let answer = response_to(connection, "login", settings.action_timeout).await?;
    if answer
        .response()
        .is_some_and(|r| r.eq_ignore_ascii_case("success"))
    {
        Ok(())
    } else {
        Err(Ended::LoginFailed(
            answer.get("Message").unwrap_or("login refused").to_owned(),
        ))
    }
}

/// An action waiting for its answer.
struct Pending {
    name: String,
    response: Option<AmiMessage>,
    events: Vec<AmiMessage>,
    reply: Option<oneshot::Sender<Result<AmiReply, AmiError>>>,
    deadline: tokio::time::Instant,
}

fn is_list_start(response: &AmiMessage) -> bool {
    response
        .get("EventList")
        .is_some_and(|v| v.eq_ignore_ascii_case("start"))
        || response
            .get("Message")
            .is_some_and(|m| m.ends_with("will follow"))
}

fn is_list_end(event: &AmiMessage) -> bool {
    event
        .get("EventList")
        .is_some_and(|v| v.eq_ignore_ascii_case("complete"))
        || event.event().is_some_and(|e| e.ends_with("Complete"))
}

/// Matches what the PBX sends to the actions waiting for an answer: by
/// `ActionID`, a response, and for an action answered with a list, the
/// list's events up to its end. Whatever answers no waiting action and is
/// an event is the caller's to forward. Pure and synchronous (the client's
/// loop owns it; the fuzz targets drive it with arbitrary frames).
#[derive(Default)]
pub struct ActionMatcher {
    pending: HashMap<String, Pending>,
}

impl ActionMatcher {
    /// A matcher with nothing waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for the answer to action `action_id` (`name`) until `deadline`;
    /// `reply` gets it (`None`: a keep-alive nobody waits on).
    pub fn await_answer(
        &mut self,
        action_id: String,
        name: &str,
        reply: Option<oneshot::Sender<Result<AmiReply, AmiError>>>,
        deadline: tokio::time::Instant,
    ) {
        self.pending.insert(
            action_id,
            Pending {
                name: name.to_owned(),
                response: None,
                events: Vec::new(),
                reply,
                deadline,
            },
        );
    }

    /// Takes one message: part of a waiting action's answer (completed and
    /// sent when whole), or returned to be forwarded as an event (`None`
    /// when it is neither, a stray response).
    pub fn route(&mut self, message: AmiMessage) -> Option<AmiMessage> {
        let waiting = message
            .action_id()
            .and_then(|id| self.pending.get_mut(id).map(|p| (id.to_owned(), p)));
        let Some((action_id, waiting)) = waiting else {
            return message.event().is_some().then_some(message);
        };
        let finished = if message.response().is_some() {
            let list = is_list_start(&message);
            waiting.response = Some(message);
            !list
        } else if is_list_end(&message) && waiting.response.is_some() {
            true
        } else {
            // A list's item, or (from a PBX out of order) its end before its
            // response: the action waits on, for its response or its deadline.
            waiting.events.push(message);
            false
        };
        if finished
            && let Some(done) = self.pending.remove(&action_id)
            && let (Some(reply), Some(response)) = (done.reply, done.response)
        {
            let _ = reply.send(Ok(AmiReply {
                response,
                events: done.events,
            }));
        }
        None
    }

    /// Whether a keep-alive `Ping` is still unanswered.
    pub fn ping_unanswered(&self) -> bool {
        self.pending
            .values()
            .any(|p| p.name == "Ping" && p.reply.is_none())
    }

    /// Ends, with a timeout, every action waited on past its deadline.
    pub fn expire(&mut self, now: tokio::time::Instant) {
        self.pending.retain(|_, p| {
            if p.deadline > now || p.reply.is_none() {
                return true;
            }
            if let Some(reply) = p.reply.take() {
                let _ = reply.send(Err(AmiError::Timeout(p.name.clone())));
            }
            false
        });
    }

    /// Ends every waiting action: the connection is gone.
    pub fn abandon(&mut self) {
        for (_, mut waiting) in self.pending.drain() {
            if let Some(reply) = waiting.reply.take() {
                let _ = reply.send(Err(AmiError::NotConnected));
            }
        }
    }

    /// How many actions wait.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }
}

async fn serve(
    mut connection: Connection,
    settings: &AmiSettings,
    notices: &mpsc::Sender<AmiNotice>,
    inbox: &mut mpsc::Receiver<Request>,
    shutdown: &CancellationToken,
) -> Ended {
    let mut pending = ActionMatcher::new();
    let mut next_id: u64 = 0;
    let mut pings = tokio::time::interval(settings.ping_interval);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    pings.tick().await;
    let mut sweep = tokio::time::interval(Duration::from_millis(250));
    let ended = loop {
        tokio::select! {
            frame = connection.next() => match frame {
                Some(Ok(AmiFrame::Message(message))) => {
                    if let Some(event) = pending.route(message) {
                        let _ = notices.send(AmiNotice::Event(event)).await;
                    }
                }
                Some(Ok(AmiFrame::Skipped { reason, bytes })) => {
                    tracing::warn!(reason = reason.as_str(), bytes, "ami frame skipped");
                    let _ = notices.send(AmiNotice::Skipped { reason, bytes }).await;
                }
                Some(Ok(AmiFrame::Greeting(_))) => {}
                Some(Err(error)) => break Ended::Lost(error.to_string()),
                None => break Ended::Lost("the PBX closed the connection".into()),
            },
            Some(request) = inbox.recv() => {
                next_id += 1;
                let action_id = format!("sb-{next_id}");
                let mut action = request.action;
                action.action_id.clone_from(&action_id);
                let name = action.name.clone();
                if let Err(error) = connection.send(action).await {
                    let invalid = matches!(error, super::codec::AmiCodecError::LineBreakInField(_));
                    let _ = request.reply.send(Err(if invalid {
                        AmiError::Invalid(error.to_string())
                    } else {
                        AmiError::NotConnected
                    }));
                    if invalid { continue; }
                    break Ended::Lost(error.to_string());
                }
                pending.await_answer(
                    action_id,
                    &name,
                    Some(request.reply),
                    tokio::time::Instant::now() + settings.action_timeout,
                );
            }
            _ = pings.tick() => {
                // A Ping still unanswered from the previous tick means the peer is dead.
                if pending.ping_unanswered() {
                    break Ended::Lost(format!("no answer to Ping within {:?}", settings.ping_interval));
                }
                next_id += 1;
                let action_id = format!("sb-{next_id}");
                if let Err(error) = connection.send(AmiAction::new("Ping", action_id.clone())).await {
                    break Ended::Lost(error.to_string());
                }
                pending.await_answer(
                    action_id,
                    "Ping",
                    None,
                    tokio::time::Instant::now() + settings.ping_interval,
                );
            }
            _ = sweep.tick() => pending.expire(tokio::time::Instant::now()),
            () = shutdown.cancelled() => {
                let _ = connection.send(AmiAction::new("Logoff", "logoff")).await;
                break Ended::Lost("shutting down".into());
            }
        }
    };
    pending.abandon();
    ended
}

/// The AMI's failures as the surfaces answer them.
impl crate::error::ServiceError for AmiError {
    fn error_code(&self) -> crate::error::ErrorCode {
        match self {
            AmiError::NotConnected => crate::error::ErrorCode::Unavailable,
            AmiError::Timeout(_) => crate::error::ErrorCode::DeadlineExceeded,
            AmiError::Invalid(_) => crate::error::ErrorCode::InvalidArgument,
        }
    }
}

/// The `Key` of an MD5 `Login`: the lower-case hex MD5 digest of the
/// `Challenge` Asterisk answered, followed by the secret.
pub fn md5_key(challenge: &str, secret: &str) -> String {
    Md5::digest(format!("{challenge}{secret}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {

    /// Found by the `ami_codec` fuzz target: a list's end before the
    /// action's response dropped the caller's answer (it saw "not connected").
    #[test]
    fn a_list_end_before_the_response_leaves_the_action_waiting_for_it() {
        let mut matcher = ActionMatcher::new();
        let (tx, mut rx) = oneshot::channel();
        let far = tokio::time::Instant::now() + Duration::from_secs(60);
        matcher.await_answer("sb-1".into(), "Status", Some(tx), far);
        let message = |pairs: &[(&str, &str)]| AmiMessage::from_pairs(pairs.iter().copied());
        matcher.route(message(&[
            ("Event", "StatusComplete"),
            ("ActionID", "sb-1"),
        ]));
        assert!(rx.try_recv().is_err(), "still waiting");
        assert_eq!(matcher.waiting(), 1);
        matcher.route(message(&[("Response", "Success"), ("ActionID", "sb-1")]));
        assert!(rx.try_recv().unwrap().is_ok(), "answered");
    }

    #[test]
    fn a_list_answer_is_gathered_and_everything_else_is_an_event() {
        let mut matcher = ActionMatcher::new();
        let (tx, mut rx) = oneshot::channel();
        let far = tokio::time::Instant::now() + Duration::from_secs(60);
        matcher.await_answer("sb-1".into(), "CoreShowChannels", Some(tx), far);
        let message = |pairs: &[(&str, &str)]| AmiMessage::from_pairs(pairs.iter().copied());
        let start = message(&[
            ("Response", "Success"),
            ("ActionID", "sb-1"),
            ("EventList", "start"),
        ]);
        assert_eq!(matcher.route(start), None);
        let item = message(&[("Event", "CoreShowChannel"), ("ActionID", "sb-1")]);
        assert_eq!(matcher.route(item), None);
        let other = message(&[("Event", "Newchannel"), ("Uniqueid", "1.1")]);
        assert!(
            matcher.route(other).is_some(),
            "an event of nobody's action"
        );
        assert!(rx.try_recv().is_err(), "not whole yet");
        let end = message(&[("Event", "CoreShowChannelsComplete"), ("ActionID", "sb-1")]);
        assert_eq!(matcher.route(end), None);
        let reply = rx.try_recv().unwrap().unwrap();
        assert_eq!(reply.events.len(), 1);
        assert_eq!(matcher.waiting(), 0);
        let stray = message(&[("Response", "Success"), ("ActionID", "sb-9")]);
        assert_eq!(matcher.route(stray), None, "a stray response is dropped");
    }

    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let min = Duration::from_millis(500);
        let max = Duration::from_secs(30);
        assert_eq!(backoff(0, min, max, 1.0), min);
        assert_eq!(backoff(3, min, max, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(20, min, max, 1.0), max);
        assert_eq!(
            backoff(3, min, max, 0.0),
            Duration::from_secs(2),
            "jitter halves at most"
        );
    }

    #[test]
    fn the_md5_key_is_the_hex_digest_of_challenge_then_secret() {
        // MD5("145769581secret"), as Python's hashlib computes it.
        assert_eq!(
            md5_key("145769581", "secret"),
            "6a8fac2af5537b85cbe39504089e0399"
        );
    }
}
