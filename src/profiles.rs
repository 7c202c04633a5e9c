//! The customer-profile cache of seed 004: what the voice assistant knew
//! about a customer, kept for the agent a call is transferred to. In Redis
//! (`REDIS_URL`), shared with other services, or in process when no Redis
//! is configured; the same keys and time-to-live either way.
//!
//! Keys: `callcenter:customer:{extension}` (the most recent transfer to the
//! extension), `callcenter:customer:{extension}:{call_sid}` (a Twilio call)
//! and `callcenter:customer:{extension}:{call_id}` (a WebRTC call). A lookup
//! tries the call SID's key, then the call id's, then the extension's.
//!
//! Value: one JSON object, snake_case, so that a Python service can write
//! and read it too (see [`StoredProfile`]).

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::proto::v1 as pb;
use crate::time::{from_timestamp, to_iso_millis, to_timestamp};

/// The prefix of every key.
pub const KEY_PREFIX: &str = "callcenter:customer:";

/// How long a profile is kept when the writer does not say.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// One turn of the conversation with the assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTurn {
    /// `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
    /// ISO-8601, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// One thing the assistant did for the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredActivity {
    /// `calendar_event`, `todo`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// `created`, `updated`, `completed`, …
    #[serde(default)]
    pub action: String,
    /// A one-line description.
    #[serde(default)]
    pub title: String,
    /// Free-form details.
    #[serde(default)]
    pub details: serde_json::Value,
    /// ISO-8601, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// The JSON layout of a cached profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredProfile {
    /// The customer's name.
    #[serde(default)]
    pub name: String,
    /// The customer's e-mail.
    #[serde(default)]
    pub email: String,
    /// The customer's phone number.
    #[serde(default)]
    pub phone: String,
    /// The conversation with the assistant, oldest first.
    #[serde(default)]
    pub conversation_history: Vec<StoredTurn>,
    /// What the assistant did.
    #[serde(default)]
    pub activities: Vec<StoredActivity>,
    /// The agent extension the call went to.
    #[serde(default)]
    pub extension: String,
    /// The Twilio Call SID, when any.
    #[serde(default)]
    pub call_sid: String,
    /// The WebRTC call id, when any.
    #[serde(default)]
    pub call_id: String,
    /// When it was cached (ISO-8601).
    #[serde(default)]
    pub cached_at: String,
}

impl StoredProfile {
    /// The stored form of `profile`.
    pub fn from_proto(profile: &pb::CustomerProfile) -> Self {
        let time = |t: &Option<prost_types::Timestamp>| {
            t.as_ref().and_then(from_timestamp).map(to_iso_millis)
        };
        StoredProfile {
            name: profile.name.clone(),
            email: profile.email.clone(),
            phone: profile.phone.clone(),
            conversation_history: profile
                .conversation_history
                .iter()
                .map(|t| StoredTurn {
                    role: t.role.clone(),
                    content: t.content.clone(),
                    timestamp: time(&t.timestamp),
                })
                .collect(),
            activities: profile
                .activities
                .iter()
                .map(|a| StoredActivity {
                    kind: a.r#type.clone(),
                    action: a.action.clone(),
                    title: a.title.clone(),
                    details: serde_json::from_str(&a.details_json)
                        .unwrap_or_else(|_| serde_json::Value::String(a.details_json.clone())),
                    timestamp: time(&a.timestamp),
                })
                .collect(),
            extension: profile.extension.clone(),
            call_sid: profile.call_sid.clone(),
            call_id: profile.call_id.clone(),
            cached_at: time(&profile.cached_at).unwrap_or_default(),
        }
    }

    /// The contract's form.
    pub fn to_proto(&self) -> pb::CustomerProfile {
        let time = |t: &Option<String>| {
            t.as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| to_timestamp(t.with_timezone(&chrono::Utc)))
        };
        pb::CustomerProfile {
            name: self.name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            conversation_history: self
                .conversation_history
                .iter()
                .map(|t| pb::ConversationTurn {
                    role: t.role.clone(),
                    content: t.content.clone(),
                    timestamp: time(&t.timestamp),
                })
                .collect(),
            activities: self
                .activities
                .iter()
                .map(|a| pb::CustomerActivity {
                    r#type: a.kind.clone(),
                    action: a.action.clone(),
                    title: a.title.clone(),
                    details_json: match &a.details {
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    },
                    timestamp: time(&a.timestamp),
                })
                .collect(),
            extension: self.extension.clone(),
            call_sid: self.call_sid.clone(),
            call_id: self.call_id.clone(),
            cached_at: time(&Some(self.cached_at.clone())),
        }
    }
}

/// The keys to try for a lookup, in order.
pub fn lookup_keys(extension: &str, call_sid: &str, call_id: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for id in [call_sid, call_id] {
        if !id.is_empty() {
            keys.push(format!("{KEY_PREFIX}{extension}:{id}"));
        }
    }
    keys.push(format!("{KEY_PREFIX}{extension}"));
    keys
}

/// Where profiles live.
pub enum ProfileCache {
    /// Redis, shared with other services.
    Redis(redis::aio::ConnectionManager),
    /// This process only: key → (JSON, expiry).
    Memory(Mutex<HashMap<String, (String, std::time::Instant)>>),
}

impl std::fmt::Debug for ProfileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProfileCache::Redis(_) => "ProfileCache::Redis",
            ProfileCache::Memory(_) => "ProfileCache::Memory",
        })
    }
}

fn redis_error(error: redis::RedisError) -> Error {
    Error::dependency("the customer profile cache is unavailable", error)
}

impl ProfileCache {
    /// Redis at `url` when given, else the in-process cache.
    pub async fn connect(url: Option<&str>) -> Result<ProfileCache, Error> {
        match url {
            Some(url) => {
                let client = redis::Client::open(url).map_err(redis_error)?;
                let manager = client.get_connection_manager().await.map_err(redis_error)?;
                Ok(ProfileCache::Redis(manager))
            }
            None => Ok(ProfileCache::Memory(Mutex::new(HashMap::new()))),
        }
    }

    /// Caches `profile` under its extension's key and, when it has them, its
    /// call SID's and call id's keys, for `ttl`. Returns the keys written.
    pub async fn put(&self, profile: &StoredProfile, ttl: Duration) -> Result<Vec<String>, Error> {
        if profile.extension.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "a profile needs the extension".into(),
            ));
        }
        let json = serde_json::to_string(profile).map_err(|e| Error::Internal(e.into()))?;
        let mut keys = lookup_keys(&profile.extension, &profile.call_sid, &profile.call_id);
        keys.rotate_right(1); // the extension's key first, as the seed writes it
        let seconds = ttl.as_secs().max(1);
        match self {
            ProfileCache::Redis(manager) => {
                let mut connection = manager.clone();
                let mut pipe = redis::pipe();
                for key in &keys {
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(&json)
                        .arg("EX")
                        .arg(seconds)
                        .ignore();
                }
                pipe.query_async::<()>(&mut connection)
                    .await
                    .map_err(redis_error)?;
            }
            ProfileCache::Memory(map) => {
                let expiry = std::time::Instant::now() + Duration::from_secs(seconds);
                let mut map = map.lock();
                map.retain(|_, (_, until)| *until > std::time::Instant::now());
                for key in &keys {
                    map.insert(key.clone(), (json.clone(), expiry));
                }
            }
        }
        Ok(keys)
    }

    /// The first profile found under the call SID's, the call id's, then the
    /// extension's key; with the key it was found under.
    pub async fn get(
        &self,
        extension: &str,
        call_sid: &str,
        call_id: &str,
    ) -> Result<Option<(String, StoredProfile)>, Error> {
        for key in lookup_keys(extension, call_sid, call_id) {
            let json: Option<String> = match self {
                ProfileCache::Redis(manager) => {
                    let mut connection = manager.clone();
                    redis::cmd("GET")
                        .arg(&key)
                        .query_async(&mut connection)
                        .await
                        .map_err(redis_error)?
                }
                ProfileCache::Memory(map) => map
                    .lock()
                    .get(&key)
                    .filter(|(_, until)| *until > std::time::Instant::now())
                    .map(|(json, _)| json.clone()),
            };
            if let Some(json) = json {
                let profile = serde_json::from_str(&json).map_err(|e| {
                    Error::Internal(anyhow::anyhow!(
                        "cached profile {key} is not the layout: {e}"
                    ))
                })?;
                return Ok(Some((key, profile)));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_try_the_call_sid_then_the_call_id_then_the_extension() {
        assert_eq!(
            lookup_keys("2001", "CA1", "web-7"),
            [
                "callcenter:customer:2001:CA1",
                "callcenter:customer:2001:web-7",
                "callcenter:customer:2001"
            ]
        );
        assert_eq!(lookup_keys("2001", "", ""), ["callcenter:customer:2001"]);
    }

    #[tokio::test]
    async fn the_in_process_cache_keeps_profiles_for_their_time() {
        let cache = ProfileCache::connect(None).await.unwrap();
        let profile = StoredProfile {
            name: "Ann".into(),
            email: String::new(),
            phone: String::new(),
            conversation_history: Vec::new(),
            activities: Vec::new(),
            extension: "2001".into(),
            call_sid: "CA1".into(),
            call_id: String::new(),
            cached_at: String::new(),
        };
        let keys = cache.put(&profile, Duration::from_secs(60)).await.unwrap();
        assert_eq!(
            keys,
            ["callcenter:customer:2001", "callcenter:customer:2001:CA1"]
        );
        let (key, found) = cache.get("2001", "CA1", "").await.unwrap().unwrap();
        assert_eq!(
            (key.as_str(), found.name.as_str()),
            ("callcenter:customer:2001:CA1", "Ann")
        );
        assert!(cache.get("2002", "", "").await.unwrap().is_none());
    }
}
