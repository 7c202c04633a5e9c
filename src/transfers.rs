//! Transfers from the voice assistant to a human agent (seed 004): the
//! customer's profile is cached for the agent's desktop, the agent's
//! extension is called through Twilio (`sip:{extension}@{FREEPBX_DOMAIN}`)
//! into a conference that the customer's Twilio leg is sent to, and every
//! step goes out as a `TransferUpdate` (initiated from here, then ringing,
//! answered, completed or failed from the agent leg's status callbacks).

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

use crate::app::Core;
use crate::auth::{Principal, Role};
use crate::error::Error;
use crate::profiles::{DEFAULT_TTL, StoredProfile};
use crate::proto::v1::{self as pb, event::Payload};
use crate::time::to_timestamp;
use crate::webhooks::twilio_rest::TwilioRest;

/// How long one Twilio REST call may take.
pub const TWILIO_TIMEOUT: Duration = Duration::from_secs(10);

/// A transfer in progress, by its agent leg's Call SID.
#[derive(Debug, Clone)]
struct Transfer {
    transfer_id: String,
    extension: String,
    call_id: String,
    conference: String,
}

/// The transfers in progress.
#[derive(Debug, Default)]
pub struct Transfers {
    by_agent_leg: Mutex<HashMap<String, Transfer>>,
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
    transfer: &Transfer,
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

fn publish(core: &Core, update: &pb::TransferUpdate) {
    core.log.publish(
        Payload::TransferUpdate(update.clone()),
        String::new(),
        chrono::Utc::now(),
    );
}

/// The voice webhook URL that joins a leg to `conference`.
pub fn conference_url(public_url: &str, conference: &str) -> String {
    format!("{public_url}/webhooks/twilio/voice?conference={conference}")
}

/// Starts a transfer; answers its first state and the profile keys written.
pub async fn request(
    core: &Core,
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
    let Some(config) = &core.twilio else {
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
    let mut keys = core
        .profiles
        .put(&StoredProfile::from_proto(&profile), ttl)
        .await?;

    let transfer_id = uuid::Uuid::new_v4().simple().to_string();
    let transfer = Transfer {
        transfer_id: transfer_id.clone(),
        extension: extension.clone(),
        call_id: request.call_id.clone(),
        conference: format!("transfer-{transfer_id}"),
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
            publish(
                core,
                &update(&transfer, "", pb::TransferStatus::Failed, "failed"),
            );
            return Err(Error::dependency(
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
            core.profiles
                .put(&StoredProfile::from_proto(&profile), ttl)
                .await?
                .into_iter()
                .filter(|k| k.ends_with(&agent_leg.sid)),
        );
    }
    if !request.customer_call_sid.is_empty()
        && let Err(error) = rest.redirect_call(&request.customer_call_sid, &join).await
    {
        publish(
            core,
            &update(
                &transfer,
                &agent_leg.sid,
                pb::TransferStatus::Failed,
                "failed",
            ),
        );
        return Err(Error::dependency(
            format!(
                "the customer's call was not moved to the conference ({})",
                error.public_detail()
            ),
            error,
        ));
    }
    core.transfers
        .by_agent_leg
        .lock()
        .insert(agent_leg.sid.clone(), transfer.clone());
    let first = update(
        &transfer,
        &agent_leg.sid,
        pb::TransferStatus::Initiated,
        &agent_leg.status,
    );
    publish(core, &first);
    Ok((first, keys))
}

/// A status callback of `call_sid`: when it is a transfer's agent leg, the
/// transfer's progress goes out.
pub fn agent_leg_status(core: &Core, call_sid: &str, status: &str) {
    let state = match status {
        "ringing" => pb::TransferStatus::Ringing,
        "in-progress" => pb::TransferStatus::Answered,
        "completed" => pb::TransferStatus::Completed,
        "busy" | "failed" | "no-answer" | "canceled" => pb::TransferStatus::Failed,
        _ => return,
    };
    let transfer = {
        let mut transfers = core.transfers.by_agent_leg.lock();
        match state {
            pb::TransferStatus::Completed | pb::TransferStatus::Failed => {
                transfers.remove(call_sid)
            }
            _ => transfers.get(call_sid).cloned(),
        }
    };
    if let Some(transfer) = transfer {
        publish(core, &update(&transfer, call_sid, state, status));
    }
}
