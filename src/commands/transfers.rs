//! Transfers from the voice assistant to a human agent (seed 004): the
//! customer's profile is cached for the agent's desktop, the agent's
//! extension is called through Twilio (`sip:{extension}@{FREEPBX_DOMAIN}`)
//! into a conference that the customer's Twilio leg is sent to, and every
//! step goes out as a `TransferUpdate` (initiated from here, then ringing,
//! answered, completed or failed from the agent leg's status callbacks).
//! The transfers in progress are kept in the store, so that any node of a
//! cluster follows them, and a restart does not lose them.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::auth::{Principal, Role};
use crate::config::TwilioConfig;
use crate::error::Error;
use crate::log::EventLog;
use crate::profiles::ProfileCache;
use crate::profiles::{DEFAULT_TTL, StoredProfile};
use crate::proto::v1::{self as pb, event::Payload};
use crate::sources::webhooks::twilio_rest::TwilioRest;
use crate::store::{Store, TransferRow};
use crate::time::to_timestamp;

/// How long one Twilio REST call may take.
pub const TWILIO_TIMEOUT: Duration = Duration::from_secs(10);

/// The transfer service: starts transfers to human agents (profile cached,
/// agent leg called through Twilio) and follows them by their agent legs'
/// status callbacks, kept in the store.
pub struct TransferDesk {
    log: Arc<EventLog>,
    profiles: ProfileCache,
    twilio: Option<TwilioConfig>,
    store: Store,
}

impl TransferDesk {
    /// Transfers through `twilio` (none: every request is refused), with
    /// profiles cached in `profiles`, the transfers in progress kept in
    /// `store`, and updates published to `log`.
    pub fn new(
        log: Arc<EventLog>,
        profiles: ProfileCache,
        twilio: Option<TwilioConfig>,
        store: Store,
    ) -> Self {
        TransferDesk {
            log,
            profiles,
            twilio,
            store,
        }
    }

    /// The cached profile of the customer transferred to `extension`,
    /// looked up by call SID, then call id, then the extension alone, with
    /// its cache key. An agent reads only their own extension's (theirs
    /// when none is named); supervisors and admins name one. A miss is a
    /// not-found that says what was tried.
    pub async fn customer_profile(
        &self,
        principal: &Principal,
        extension: &str,
        call_sid: &str,
        call_id: &str,
    ) -> Result<(String, StoredProfile), Error> {
        let (extension, call_sid, call_id) = (extension.trim(), call_sid.trim(), call_id.trim());
        let extension = match (principal.role(), principal.claims.extension.as_deref()) {
            (Role::Agent, Some(own)) if extension.is_empty() || extension == own => own,
            (Role::Agent, _) => {
                return Err(Error::PermissionDenied(
                    "an agent reads only their own extension's customer".into(),
                ));
            }
            (Role::Supervisor | Role::Admin, _) if !extension.is_empty() => extension,
            (Role::Supervisor | Role::Admin, _) => {
                return Err(Error::InvalidArgument("extension is required".into()));
            }
            _ => {
                return Err(Error::PermissionDenied(
                    "only agents and supervisors read customer profiles".into(),
                ));
            }
        };
        self.profiles
            .get(extension, call_sid, call_id)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no customer profile for extension {extension}{}{}",
                    if call_sid.is_empty() {
                        String::new()
                    } else {
                        format!(", call_sid {call_sid}")
                    },
                    if call_id.is_empty() {
                        String::new()
                    } else {
                        format!(", call_id {call_id}")
                    },
                ))
            })
    }

    /// Caches `profile` for `ttl_seconds` (0: [`DEFAULT_TTL`]) for
    /// supervisors and admins; answers the keys written.
    pub async fn cache_profile(
        &self,
        principal: &Principal,
        profile: Option<pb::CustomerProfile>,
        ttl_seconds: u32,
    ) -> Result<Vec<String>, Error> {
        principal.require(&[Role::Supervisor, Role::Admin], "cache customer profiles")?;
        let mut profile =
            profile.ok_or_else(|| Error::InvalidArgument("profile is required".into()))?;
        profile.cached_at = Some(to_timestamp(chrono::Utc::now()));
        let ttl = match ttl_seconds {
            0 => DEFAULT_TTL,
            seconds => Duration::from_secs(u64::from(seconds)),
        };
        self.profiles
            .put(&StoredProfile::from_proto(&profile), ttl)
            .await
    }
}

/// What the assistant asks for.
#[derive(Debug, Clone, Default)]
pub struct TransferRequest {
    /// The agent's extension.
    pub extension: String,
    /// The customer's profile.
    pub profile: pb::CustomerProfile,
    /// The customer's Twilio Call SID, when any.
    pub customer_call_sid: String,
    /// The WebRTC session id, when any.
    pub call_id: String,
    /// How long to keep the profile (0: an hour).
    pub ttl_seconds: u32,
}

fn update(
    transfer: &TransferRow,
    call_sid: &str,
    status: pb::TransferStatus,
    provider: &str,
) -> pb::TransferUpdate {
    pb::TransferUpdate {
        transfer_id: transfer.transfer_id.clone(),
        extension: transfer.extension.clone(),
        call_sid: call_sid.to_owned(),
        call_id: transfer.call_id.clone(),
        conference_name: transfer.conference.clone(),
        status: status as i32,
        provider_status: provider.to_owned(),
        timestamp: Some(to_timestamp(chrono::Utc::now())),
    }
}

/// The voice webhook URL that joins a leg to `conference`.
pub fn conference_url(public_url: &str, conference: &str) -> String {
    format!("{public_url}/webhooks/twilio/voice?conference={conference}")
}

impl TransferDesk {
    fn publish(&self, update: &pb::TransferUpdate) {
        self.log.publish(
            Payload::TransferUpdate(update.clone()),
            String::new(),
            chrono::Utc::now(),
        );
    }

    /// Starts a transfer; answers its first state and the profile keys written.
    pub async fn request(
        &self,
        principal: &Principal,
        request: TransferRequest,
    ) -> Result<(pb::TransferUpdate, Vec<String>), Error> {
        principal.require(&[Role::Supervisor, Role::Admin], "request a transfer")?;
        let extension = request.extension.trim().to_owned();
        if extension.is_empty() || !extension.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::InvalidArgument(
                "extension must be letters and digits".into(),
            ));
        }
        let Some(config) = &self.twilio else {
            return Err(Error::FailedPrecondition(
                "transfers need Twilio: set TWILIO_AUTH_TOKEN and PUBLIC_URL".into(),
            ));
        };
        let missing: Vec<&str> = [
            ("TWILIO_ACCOUNT_SID", &config.account_sid),
            ("TWILIO_TRANSFER_CALLER_ID", &config.transfer_caller_id),
            ("FREEPBX_DOMAIN", &config.freepbx_domain),
        ]
        .into_iter()
        .filter(|(_, value)| value.is_empty())
        .map(|(name, _)| name)
        .collect();
        if !missing.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "transfers need {}",
                missing.join(", ")
            )));
        }
        let ttl = match request.ttl_seconds {
            0 => DEFAULT_TTL,
            seconds => Duration::from_secs(u64::from(seconds)),
        };
        let mut profile = request.profile;
        profile.extension.clone_from(&extension);
        profile.call_sid.clone_from(&request.customer_call_sid);
        profile.call_id.clone_from(&request.call_id);
        profile.cached_at = Some(to_timestamp(chrono::Utc::now()));
        let mut keys = self
            .profiles
            .put(&StoredProfile::from_proto(&profile), ttl)
            .await?;

        let transfer_id = uuid::Uuid::new_v4().simple().to_string();
        let mut transfer = TransferRow {
            agent_leg_sid: String::new(),
            transfer_id: transfer_id.clone(),
            extension: extension.clone(),
            call_id: request.call_id.clone(),
            conference: format!("transfer-{transfer_id}"),
            started_at_ms: chrono::Utc::now().timestamp_millis(),
        };
        let rest = TwilioRest::new(
            &config.api_base,
            &config.account_sid,
            &config.auth_token,
            TWILIO_TIMEOUT,
        );
        let join = conference_url(&config.public_url, &transfer.conference);
        let agent_leg = match rest
            .create_call(
                &format!("sip:{extension}@{}", config.freepbx_domain),
                &config.transfer_caller_id,
                &join,
                &format!("{}/webhooks/twilio/status", config.public_url),
            )
            .await
        {
            Ok(call) => call,
            Err(error) => {
                self.publish(&update(&transfer, "", pb::TransferStatus::Failed, "failed"));
                return Err(Error::from_dependency(
                    format!(
                        "the agent's call was not placed ({})",
                        error.public_detail()
                    ),
                    error,
                ));
            }
        };
        // The desktop looks the profile up by the call it receives: the agent leg's SID.
        if request.customer_call_sid.is_empty() {
            profile.call_sid.clone_from(&agent_leg.sid);
            keys.extend(
                self.profiles
                    .put(&StoredProfile::from_proto(&profile), ttl)
                    .await?
                    .into_iter()
                    .filter(|k| k.ends_with(&agent_leg.sid)),
            );
        }
        if !request.customer_call_sid.is_empty()
            && let Err(error) = rest.redirect_call(&request.customer_call_sid, &join).await
        {
            self.publish(&update(
                &transfer,
                &agent_leg.sid,
                pb::TransferStatus::Failed,
                "failed",
            ));
            return Err(Error::from_dependency(
                format!(
                    "the customer's call was not moved to the conference ({})",
                    error.public_detail()
                ),
                error,
            ));
        }
        transfer.agent_leg_sid.clone_from(&agent_leg.sid);
        self.store.record_transfer(&transfer).await?;
        let first = update(
            &transfer,
            &agent_leg.sid,
            pb::TransferStatus::Initiated,
            &agent_leg.status,
        );
        self.publish(&first);
        Ok((first, keys))
    }

    /// A status callback of `call_sid`: when it is a transfer's agent leg, the
    /// transfer's progress goes out (from whichever node took the callback).
    pub async fn agent_leg_status(&self, call_sid: &str, status: &str) {
        let state = match status {
            "ringing" => pb::TransferStatus::Ringing,
            "in-progress" => pb::TransferStatus::Answered,
            "completed" => pb::TransferStatus::Completed,
            "busy" | "failed" | "no-answer" | "canceled" => pb::TransferStatus::Failed,
            _ => return,
        };
        let transfer = match state {
            pb::TransferStatus::Completed | pb::TransferStatus::Failed => {
                self.store.finish_transfer(call_sid).await
            }
            _ => self.store.transfer(call_sid).await,
        };
        match transfer {
            Ok(Some(transfer)) => self.publish(&update(&transfer, call_sid, state, status)),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, call_sid, status, "a transfer's progress could not be read from the store");
            }
        }
    }
}

/// A transfer follows its agent leg by Twilio's status callbacks.
impl crate::sources::webhooks::CallStatusListener for TransferDesk {
    fn call_status<'a>(&'a self, call_sid: &'a str, status: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.agent_leg_status(call_sid, status))
    }
}
