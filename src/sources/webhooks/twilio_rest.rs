//! The Twilio REST calls a transfer needs: create a call (the agent's leg)
//! and redirect a call (the customer's leg), with basic auth (account SID
//! and auth token), a timeout, and Twilio's own error (`code`, `message`)
//! kept for the caller.

use std::time::Duration;

use serde::Deserialize;

/// Why a Twilio call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioError {
    /// Twilio refused or failed (its status, error code and message).
    #[error("twilio answered {status}: {message} (code {code})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Twilio's error code (0 when none was given).
        code: i64,
        /// Twilio's message.
        message: String,
    },
    /// No answer within the timeout.
    #[error("twilio did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed, or the answer was not Twilio's JSON.
    #[error("twilio: {0}")]
    Transport(String),
}

impl TwilioError {
    /// What a client may be told of it: Twilio's error code (documented at
    /// twilio.com/docs/api/errors) when it gave one, nothing of the
    /// transport (which can name URLs).
    pub fn public_detail(&self) -> String {
        match self {
            TwilioError::Refused { code, .. } if *code != 0 => format!("Twilio error {code}"),
            TwilioError::Refused { status, .. } => format!("Twilio answered {status}"),
            TwilioError::Timeout(_) => "Twilio did not answer in time".into(),
            TwilioError::Transport(_) => "Twilio cannot be reached".into(),
        }
    }
}

/// A call as Twilio describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CallResource {
    /// The Call SID.
    pub sid: String,
    /// Its status (`queued`, `ringing`, …).
    #[serde(default)]
    pub status: String,
}

/// The REST side of a Twilio account.
#[derive(Debug, Clone)]
pub struct TwilioRest {
    http: reqwest::Client,
    base: String,
    account_sid: String,
    auth_token: String,
    timeout: Duration,
}

impl TwilioRest {
    /// A client for `account_sid` at `base` (`https://api.twilio.com`).
    pub fn new(base: &str, account_sid: &str, auth_token: &str, timeout: Duration) -> Self {
        TwilioRest {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            timeout,
        }
    }

    /// Calls `to` from `from`; Twilio fetches its TwiML from `url` once
    /// answered and reports progress to `status_callback`.
    pub async fn create_call(
        &self,
        to: &str,
        from: &str,
        url: &str,
        status_callback: &str,
    ) -> Result<CallResource, TwilioError> {
        let form = [
            ("To", to),
            ("From", from),
            ("Url", url),
            ("StatusCallback", status_callback),
            ("StatusCallbackMethod", "POST"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ];
        self.post("/Calls.json", &form).await
    }

    /// Sends a call in progress to fetch new TwiML from `url`.
    pub async fn redirect_call(&self, sid: &str, url: &str) -> Result<CallResource, TwilioError> {
        self.post(
            &format!("/Calls/{sid}.json"),
            &[("Url", url), ("Method", "POST")],
        )
        .await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<CallResource, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}{path}",
            self.base, self.account_sid
        );
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .http
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send();
        let response = tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| TwilioError::Timeout(self.timeout))?
            .map_err(|e| TwilioError::Transport(e.to_string()))?;
        let status = response.status();
        let bytes = tokio::time::timeout(self.timeout, response.bytes())
            .await
            .map_err(|_| TwilioError::Timeout(self.timeout))?
            .map_err(|e| TwilioError::Transport(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| TwilioError::Transport(format!("unexpected answer: {e}")));
        }
        let error: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        Err(TwilioError::Refused {
            status: status.as_u16(),
            code: error["code"].as_i64().unwrap_or(0),
            message: error["message"]
                .as_str()
                .map_or_else(|| status.to_string(), str::to_owned),
        })
    }
}

/// A timeout is deadline exceeded; a refusal or a broken connection, unavailable.
impl crate::error::ServiceError for TwilioError {
    fn error_code(&self) -> crate::error::ErrorCode {
        match self {
            TwilioError::Timeout(_) => crate::error::ErrorCode::DeadlineExceeded,
            TwilioError::Refused { .. } | TwilioError::Transport(_) => {
                crate::error::ErrorCode::Unavailable
            }
        }
    }
}
