//! The ARI REST calls the agent bridge makes, against `ARI_URL` with basic
//! auth. Every call has a timeout, and every failure is a typed
//! [`AriError`] for that call alone: a channel that is gone (404), a
//! channel in the wrong state (409), a server error, a timeout. Nothing
//! here panics or ends the application.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::model::{Bridge, Channel, Endpoint};

/// Why one ARI call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum AriError {
    /// 404: the channel, bridge or application does not exist (any more).
    #[error("ari: not found: {0}")]
    NotFound(String),
    /// 409: the channel or bridge is not in a state that allows it.
    #[error("ari: conflict: {0}")]
    Conflict(String),
    /// 401/403: the credentials were refused.
    #[error("ari: credentials refused ({0})")]
    Refused(u16),
    /// 400/422 and other refusals of the request itself.
    #[error("ari: bad request ({status}): {message}")]
    BadRequest {
        /// The HTTP status.
        status: u16,
        /// Asterisk's message.
        message: String,
    },
    /// 5xx: Asterisk failed.
    #[error("ari: server error ({status}): {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// Asterisk's message.
        message: String,
    },
    /// No answer within the timeout.
    #[error("ari: no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed, or the answer was not what ARI sends.
    #[error("ari: {0}")]
    Transport(String),
}

/// The REST side of ARI.
#[derive(Debug, Clone)]
pub struct AriRest {
    http: reqwest::Client,
    base: String,
    username: String,
    password: String,
    timeout: Duration,
}

impl AriRest {
    /// A client for the ARI at `base` (`http://pbx:8088/ari`), with a
    /// `timeout` per call.
    pub fn new(base: &str, username: &str, password: &str, timeout: Duration) -> AriRest {
        AriRest {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            timeout,
        }
    }

    /// Answers a ringing channel.
    pub async fn answer(&self, channel: &str) -> Result<(), AriError> {
        self.call(Method::POST, &format!("/channels/{channel}/answer"), &[])
            .await
    }

    /// Indicates ringing to a channel.
    pub async fn ring(&self, channel: &str) -> Result<(), AriError> {
        self.call(Method::POST, &format!("/channels/{channel}/ring"), &[])
            .await
    }

    /// Hangs a channel up, with an ARI reason (`normal`, `busy`, `no_answer`, …).
    pub async fn hang_up(&self, channel: &str, reason: &str) -> Result<(), AriError> {
        self.call(
            Method::DELETE,
            &format!("/channels/{channel}"),
            &[("reason", reason)],
        )
        .await
    }

    /// Creates a mixing bridge named `name`.
    pub async fn create_bridge(&self, name: &str) -> Result<Bridge, AriError> {
        self.fetch(
            Method::POST,
            "/bridges",
            &[("type", "mixing"), ("name", name)],
        )
        .await
    }

    /// A bridge as it is now.
    pub async fn bridge(&self, bridge: &str) -> Result<Bridge, AriError> {
        self.fetch(Method::GET, &format!("/bridges/{bridge}"), &[])
            .await
    }

    /// Adds a channel to a bridge.
    pub async fn add_channel(&self, bridge: &str, channel: &str) -> Result<(), AriError> {
        self.call(
            Method::POST,
            &format!("/bridges/{bridge}/addChannel"),
            &[("channel", channel)],
        )
        .await
    }

    /// Removes a channel from a bridge.
    pub async fn remove_channel(&self, bridge: &str, channel: &str) -> Result<(), AriError> {
        self.call(
            Method::POST,
            &format!("/bridges/{bridge}/removeChannel"),
            &[("channel", channel)],
        )
        .await
    }

    /// Destroys a bridge.
    pub async fn destroy_bridge(&self, bridge: &str) -> Result<(), AriError> {
        self.call(Method::DELETE, &format!("/bridges/{bridge}"), &[])
            .await
    }

    /// Every channel Asterisk has (the reconcile after a reconnect).
    pub async fn channels(&self) -> Result<Vec<Channel>, AriError> {
        self.fetch(Method::GET, "/channels", &[]).await
    }

    /// One endpoint (`PJSIP/1001`), with its state.
    pub async fn endpoint(&self, endpoint: &str) -> Result<Endpoint, AriError> {
        let (tech, resource) = endpoint
            .split_once('/')
            .ok_or_else(|| AriError::BadRequest {
                status: 400,
                message: format!("{endpoint} is not TECH/resource"),
            })?;
        self.fetch(Method::GET, &format!("/endpoints/{tech}/{resource}"), &[])
            .await
    }

    /// Subscribes application `app` to `event_source` (`endpoint:PJSIP/1001`).
    pub async fn subscribe(&self, app: &str, event_source: &str) -> Result<(), AriError> {
        self.call(
            Method::POST,
            &format!("/applications/{app}/subscription"),
            &[("eventSource", event_source)],
        )
        .await
    }

    /// Every bridge Asterisk has.
    pub async fn bridges(&self) -> Result<Vec<Bridge>, AriError> {
        self.fetch(Method::GET, "/bridges", &[]).await
    }

    /// Rings `endpoint` (`PJSIP/1001`) for up to `timeout_seconds`; once
    /// answered, the channel enters the Stasis application `app` with
    /// `app_args`. `variables` are set on the new channel (e.g. a header that
    /// makes the phone answer by itself).
    pub async fn originate(
        &self,
        endpoint: &str,
        app: &str,
        app_args: &str,
        caller_id: &str,
        timeout_seconds: u32,
        variables: &[(&str, &str)],
    ) -> Result<Channel, AriError> {
        let timeout = timeout_seconds.to_string();
        let query = [
            ("endpoint", endpoint),
            ("app", app),
            ("appArgs", app_args),
            ("callerId", caller_id),
            ("timeout", timeout.as_str()),
        ];
        let body = (!variables.is_empty()).then(|| {
            let variables: serde_json::Map<String, serde_json::Value> = variables
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
                .collect();
            serde_json::json!({ "variables": variables })
        });
        let response = self
            .send_with_body(Method::POST, "/channels", &query, body)
            .await?;
        self.decode(response, "/channels").await
    }

    /// Puts a channel on hold (`on`), or takes it off.
    pub async fn hold(&self, channel: &str, on: bool) -> Result<(), AriError> {
        let method = if on { Method::POST } else { Method::DELETE };
        self.call(method, &format!("/channels/{channel}/hold"), &[])
            .await
    }

    /// Mutes what a channel sends (`on`), or unmutes it.
    pub async fn mute(&self, channel: &str, on: bool) -> Result<(), AriError> {
        let method = if on { Method::POST } else { Method::DELETE };
        self.call(
            method,
            &format!("/channels/{channel}/mute"),
            &[("direction", "in")],
        )
        .await
    }

    /// A snoop channel on `channel` for a supervisor, entering application
    /// `app` with `app_args`: `spy` and `whisper` are `none`, `in`, `out`
    /// or `both` (what the snoop hears of the channel, and where what it
    /// says goes).
    pub async fn snoop(
        &self,
        channel: &str,
        spy: &str,
        whisper: &str,
        app: &str,
        app_args: &str,
    ) -> Result<Channel, AriError> {
        self.fetch(
            Method::POST,
            &format!("/channels/{channel}/snoop"),
            &[
                ("spy", spy),
                ("whisper", whisper),
                ("app", app),
                ("appArgs", app_args),
            ],
        )
        .await
    }

    /// A call whose answer has no body (204).
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(), AriError> {
        self.send(method, path, query).await.map(drop)
    }

    /// A call whose answer is a JSON model.
    async fn fetch<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, AriError> {
        let response = self.send(method, path, query).await?;
        self.decode(response, path).await
    }

    async fn decode<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
        path: &str,
    ) -> Result<T, AriError> {
        let body = tokio::time::timeout(self.timeout, response.bytes())
            .await
            .map_err(|_| AriError::Timeout(self.timeout))?
            .map_err(|e| AriError::Transport(e.to_string()))?;
        serde_json::from_slice(&body)
            .map_err(|e| AriError::Transport(format!("{path}: unexpected answer: {e}")))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<reqwest::Response, AriError> {
        self.send_with_body(method, path, query, None).await
    }

    async fn send_with_body(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, AriError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.username, Some(&self.password))
            .query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let request = request.send();
        let response = tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| AriError::Timeout(self.timeout))?
            .map_err(|e| AriError::Transport(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // ARI explains refusals as {"message": "..."}.
        let message = tokio::time::timeout(self.timeout, response.json::<serde_json::Value>())
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|body| body["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        Err(match status {
            StatusCode::NOT_FOUND => AriError::NotFound(message),
            StatusCode::CONFLICT => AriError::Conflict(message),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => AriError::Refused(status.as_u16()),
            s if s.is_server_error() => AriError::Server {
                status: s.as_u16(),
                message,
            },
            s => AriError::BadRequest {
                status: s.as_u16(),
                message,
            },
        })
    }
}

/// ARI's answers as the surfaces answer them: the call is gone (not found),
/// not in a state that allows it (failed precondition), the PBX did not
/// answer in time (deadline exceeded), anything else unavailable.
impl crate::error::ServiceError for AriError {
    fn error_code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            AriError::NotFound(_) => ErrorCode::NotFound,
            AriError::Conflict(_) => ErrorCode::FailedPrecondition,
            AriError::Timeout(_) => ErrorCode::DeadlineExceeded,
            AriError::Refused(_)
            | AriError::BadRequest { .. }
            | AriError::Server { .. }
            | AriError::Transport(_) => ErrorCode::Unavailable,
        }
    }
}
