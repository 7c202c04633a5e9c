//! The demo's stand-in customers, who reach the server the way real ones
//! do, over its own port: a chat customer now and then through the widget's
//! HTTP API (start a conversation, write again a little later), and a voice
//! assistant whose calls arrive as signed webhooks (`call_started`, then
//! `call_ended`). So the console's chat and voice-AI pages have something to
//! show without a website or a provider at hand.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::{Settings, VoiceAiTenant};
use crate::sources::webhooks::retell;

/// The demo assistant's agent id at the provider.
const ASSISTANT: &str = "demo-assistant";

/// The tenant the demo assistant's calls belong to.
const ASSISTANT_CLIENT: &str = "acme";

/// When the first chat customer writes in, how often the next ones do, and
/// how many conversations a demo starts.
const CHAT_FIRST: Duration = Duration::from_secs(8);
const CHAT_EVERY: Duration = Duration::from_secs(40);
const CHATS: usize = 12;

/// When the assistant takes its first call, and how often the next ones.
const VOICE_FIRST: Duration = Duration::from_secs(4);
const VOICE_EVERY: Duration = Duration::from_secs(25);

const CUSTOMERS: &[(&str, &str)] = &[
    ("Amina Odhiambo", "Where is my order 1042?"),
    ("Peter Kamau", "Can I change my delivery address?"),
    ("Grace Wanjiku", "My card was charged twice."),
    ("Daniel Mwangi", "Do you ship to Mombasa?"),
    ("Lucy Achieng", "How do I reset my password?"),
];

/// The demo's voice assistant when none is configured: its calls belong to
/// tenant `acme`, signed with a key made up for this run. Answers the key.
pub fn configure_assistant(settings: &mut Settings) -> Option<String> {
    if !settings.voice_ai.is_empty() {
        return None;
    }
    let key = format!("demo-{:016x}", rand::random::<u64>());
    settings.voice_ai.push(VoiceAiTenant {
        client_id: ASSISTANT_CLIENT.into(),
        api_key: key.clone(),
        agent_ids: vec![ASSISTANT.into()],
    });
    Some(key)
}

/// Chat customers write in at `base` (the server's URL) until `stop`.
pub async fn chat_customers(base: String, stop: CancellationToken) {
    let client = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(11);
    for n in 0..CHATS {
        let wait = if n == 0 { CHAT_FIRST } else { CHAT_EVERY };
        if stop
            .run_until_cancelled(tokio::time::sleep(wait))
            .await
            .is_none()
        {
            return;
        }
        let (name, question) = CUSTOMERS[n % CUSTOMERS.len()];
        let started = client
            .post(format!("{base}/api/conversations"))
            .json(&json!({
                "customerName": name,
                "customerEmail": format!("customer{n}@example.com"),
                "firstMessage": question,
            }))
            .send()
            .await;
        let answer: Value = match started {
            Ok(response) if response.status().is_success() => {
                response.json().await.unwrap_or_default()
            }
            Ok(response) => {
                tracing::debug!(status = %response.status(), "demo chat customer refused");
                continue;
            }
            Err(error) => {
                tracing::debug!(%error, "demo chat customer could not write in");
                continue;
            }
        };
        let (Some(id), Some(token)) = (
            answer["conversation"]["id"].as_str(),
            answer["customerToken"].as_str(),
        ) else {
            continue;
        };
        let (id, token) = (id.to_owned(), token.to_owned());
        let (client, base) = (client.clone(), base.clone());
        let follow_up = Duration::from_secs(rng.random_range(8..20));
        let stop = stop.clone();
        tokio::spawn(async move {
            if stop
                .run_until_cancelled(tokio::time::sleep(follow_up))
                .await
                .is_none()
            {
                return;
            }
            let sent = client
                .post(format!("{base}/api/conversations/{id}/messages"))
                .bearer_auth(token)
                .json(&json!({"content": "Is anyone there?"}))
                .send()
                .await;
            if let Err(error) = sent {
                tracing::debug!(%error, "demo chat customer's follow-up not sent");
            }
        });
    }
}

/// The assistant's calls, delivered to `base` as webhooks signed with `key`, until `stop`.
pub async fn assistant_calls(base: String, key: String, stop: CancellationToken) {
    let client = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(13);
    for n in 1.. {
        let wait = if n == 1 { VOICE_FIRST } else { VOICE_EVERY };
        if stop
            .run_until_cancelled(tokio::time::sleep(wait))
            .await
            .is_none()
        {
            return;
        }
        let call_id = format!("demo-call-{n}");
        let from = format!("+2547{:08}", rng.random_range(0..100_000_000_u32));
        let started_at = chrono::Utc::now().timestamp_millis();
        let call = json!({
            "call_type": "phone_call",
            "from_number": from,
            "to_number": "+254711000000",
            "direction": "inbound",
            "call_id": call_id,
            "agent_id": ASSISTANT,
            "call_status": "ongoing",
            "start_timestamp": started_at,
        });
        deliver(
            &client,
            &base,
            &key,
            json!({"event": "call_started", "call": call}),
        )
        .await;
        let talk = rng.random_range(15_000..60_000_i64);
        let (client, base, key, stop) = (client.clone(), base.clone(), key.clone(), stop.clone());
        tokio::spawn(async move {
            let wait = Duration::from_millis(talk.unsigned_abs());
            if stop
                .run_until_cancelled(tokio::time::sleep(wait))
                .await
                .is_none()
            {
                return;
            }
            let mut ended = call;
            ended["call_status"] = json!("ended");
            ended["end_timestamp"] = json!(started_at + talk);
            ended["duration_ms"] = json!(talk);
            ended["disconnection_reason"] = json!("user_hangup");
            deliver(
                &client,
                &base,
                &key,
                json!({"event": "call_ended", "call": ended}),
            )
            .await;
        });
    }
}

/// Posts one webhook as the provider signs it.
async fn deliver(client: &reqwest::Client, base: &str, key: &str, body: Value) {
    let raw = body.to_string().into_bytes();
    let signature = retell::sign(key, &raw, chrono::Utc::now().timestamp_millis());
    let sent = client
        .post(format!("{base}/webhooks/retell"))
        .header("content-type", "application/json")
        .header("x-retell-signature", signature)
        .body(raw)
        .send()
        .await;
    match sent {
        Ok(response) if !response.status().is_success() => {
            tracing::debug!(status = %response.status(), "demo assistant's webhook refused");
        }
        Err(error) => tracing::debug!(%error, "demo assistant's webhook not delivered"),
        Ok(_) => {}
    }
}
