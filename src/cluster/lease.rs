//! The ingest lease: one key in Redis, `{name}:lease`, holding the
//! leader's fencing token (`{node}:{fence}`) for the lease's time. The
//! fence comes from `{name}:fence`, which only rises, so every term's token
//! differs from every earlier one; the journal refuses appends whose token
//! is not the lease's (see [`crate::log::journal`]). Taking, renewing and
//! giving up are Lua scripts: each reads and writes the key at once.

use std::time::Duration;

use redis::aio::ConnectionManager;

/// Takes the lease when nobody holds it: `SET NX` with the node's name,
/// then the fence (`INCR`), then the token. Returns the token, or nil.
const ACQUIRE: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = redis.call('INCR', KEYS[2])
  local token = ARGV[1] .. ':' .. fence
  redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
  return token
end
return false
"#;

/// Extends the lease when it still holds this token.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// Gives the lease up when it still holds this token.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// A term's fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// `{node}:{fence}`, as the lease holds it.
    pub value: String,
}

/// The lease as one node sees it.
pub struct Lease {
    redis: ConnectionManager,
    key: String,
    fence: String,
    node: String,
    time: Duration,
}

impl Lease {
    /// The lease at `key` (the fence beside it), for `node`, lasting `time`.
    pub fn new(redis: ConnectionManager, key: &str, node: &str, time: Duration) -> Lease {
        Lease {
            redis,
            key: key.to_owned(),
            fence: format!("{}:fence", key.trim_end_matches(":lease")),
            node: node.to_owned(),
            time,
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.time.as_millis()).unwrap_or(u64::MAX)
    }

    /// Takes the lease if nobody holds it: the term's token, or `None`.
    pub async fn acquire(&self) -> redis::RedisResult<Option<Token>> {
        let mut redis = self.redis.clone();
        let token: Option<String> = redis::Script::new(ACQUIRE)
            .key(&self.key)
            .key(&self.fence)
            .arg(&self.node)
            .arg(self.millis())
            .invoke_async(&mut redis)
            .await?;
        Ok(token.map(|value| Token { value }))
    }

    /// Extends the lease; false when it no longer holds `token`.
    pub async fn renew(&self, token: &Token) -> redis::RedisResult<bool> {
        let mut redis = self.redis.clone();
        let renewed: i64 = redis::Script::new(RENEW)
            .key(&self.key)
            .arg(&token.value)
            .arg(self.millis())
            .invoke_async(&mut redis)
            .await?;
        Ok(renewed == 1)
    }

    /// Gives the lease up (another node may take it at once).
    pub async fn release(&self, token: &Token) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        let _: i64 = redis::Script::new(RELEASE)
            .key(&self.key)
            .arg(&token.value)
            .invoke_async(&mut redis)
            .await?;
        Ok(())
    }
}
