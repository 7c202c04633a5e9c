//! The store: call records, agent sessions, conversations and messages, and
//! webhook receipts, transfers in progress, in SQLite (default, an embedded file) or Postgres
//! (`DATABASE_URL=postgres://…`), through one portable set of migrations.
//! [`recorder`] is the log subscriber that writes call records, agent
//! sessions and pauses.

mod chat;
pub mod recorder;
mod transfers;

pub use chat::ConversationPage;
pub use transfers::TransferRow;

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

use crate::error::Result;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// One row of `agent_directory`: an agent an admin stored.
#[derive(Debug, sqlx::FromRow)]
struct StoredAgentRow {
    extension: String,
    agent_id: String,
    name: String,
    max_calls: i64,
    /// Empty: the default endpoint.
    endpoint: String,
}

/// One row of `supervisor_actions`: the audit trail of monitor, whisper and barge.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SupervisorActionRow {
    /// The action's id.
    pub action_id: String,
    /// Who asked (token subject).
    pub supervisor: String,
    /// The supervisor's phone.
    pub supervisor_extension: String,
    /// `monitor`, `whisper` or `barge`.
    pub mode: String,
    /// The agent listened to.
    pub agent_extension: String,
    /// The call, when known.
    pub call_id: String,
    /// `accepted` or `failed`.
    pub status: String,
    /// The phone system's message on failure.
    pub message: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

/// A finished call, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallRecordRow {
    /// switchboard's call id (the AMI Uniqueid for AMI calls).
    pub call_id: String,
    /// The tenant.
    pub tenant: String,
    /// `inbound`, `outbound`, `internal` or `unknown`.
    pub direction: String,
    /// The customer's number.
    pub customer_number: String,
    /// Caller-id name.
    pub caller_name: String,
    /// What was dialled.
    pub destination: String,
    /// The agent's extension.
    pub agent_extension: Option<String>,
    /// The queue.
    pub queue: Option<String>,
    /// AMI Uniqueid.
    pub ami_uniqueid: String,
    /// Channel name.
    pub channel: String,
    /// Start, Unix ms.
    pub started_at_ms: i64,
    /// Answer, Unix ms.
    pub answered_at_ms: Option<i64>,
    /// End, Unix ms.
    pub ended_at_ms: i64,
    /// `ANSWERED`, `NO ANSWER`, `BUSY`, `FAILED`; `OPEN` while [`OPEN_END_REASON`].
    pub disposition: String,
    /// AMI `Linkedid`, shared by every channel of the call.
    pub linkedid: String,
    /// Why it ended, the contract's `CallEndReason` in lower case (`completed`,
    /// `abandoned`, `no_answer`, `busy`, `rejected`, `failed`, `lost`), or
    /// [`OPEN_END_REASON`].
    pub end_reason: String,
    /// The number of the party that answered last.
    pub answered_by: String,
    /// Seconds on hold.
    pub hold_seconds: i64,
    /// Seconds talked: answer to end, less hold.
    pub talk_seconds: i64,
    /// The transfer chain, a JSON array of `{kind, transferer, target, mergedCallId, at}`.
    pub transfers: String,
    /// Calls merged into this one by attended transfers and pickups, a JSON array of ids.
    pub merged_call_ids: String,
}

/// The `end_reason` of a call that was still up when switchboard stopped;
/// the record is completed if the call is later seen ending.
pub const OPEN_END_REASON: &str = "open";

/// One agent session: a login, closed at logout.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgentSessionRow {
    /// `{extension}@{logged_in_ms}`.
    pub id: String,
    /// The agent's extension.
    pub extension: String,
    /// The agent's id.
    pub agent_id: String,
    /// Login, Unix ms.
    pub logged_in_ms: i64,
    /// Logout, Unix ms; `None` while logged in.
    pub logged_out_ms: Option<i64>,
}

/// One pause of an agent in a queue.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgentPauseRow {
    /// `{extension}@{queue}@{paused_at_ms}`.
    pub id: String,
    /// The agent's extension.
    pub extension: String,
    /// The queue the pause applies to.
    pub queue: String,
    /// The reason given, or empty.
    pub reason: String,
    /// Paused, Unix ms.
    pub paused_at_ms: i64,
    /// Resumed (or logged out), Unix ms; `None` while paused.
    pub resumed_at_ms: Option<i64>,
}

/// A conversation, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConversationRow {
    /// Its id.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// `open`, `assigned`, `closed`.
    pub status: String,
    /// `chat`, `voice`, `voice_ai`.
    pub channel: String,
    /// Customer name.
    pub customer_name: String,
    /// Customer e-mail.
    pub customer_email: String,
    /// Customer phone.
    pub customer_phone: String,
    /// The agent it is assigned to.
    pub assigned_agent_id: Option<String>,
    /// Created, Unix ms.
    pub created_at_ms: i64,
    /// Updated, Unix ms.
    pub updated_at_ms: i64,
}

/// A chat message, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRow {
    /// Its id.
    pub id: String,
    /// The conversation.
    pub conversation_id: String,
    /// `customer`, `agent`, `assistant`, `system`.
    pub sender_type: String,
    /// Writer's id.
    pub sender_id: String,
    /// Writer's name.
    pub sender_name: String,
    /// Text.
    pub content: String,
    /// Stored, Unix ms.
    pub created_at_ms: i64,
    /// Its place in the conversation (1, 2, …), given by the store.
    pub seq: i64,
}

/// The channel of the conversations voice-AI calls are recorded as.
pub const VOICE_AI_CHANNEL: &str = "voice_ai";

/// A connection pool to the configured database, migrated.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    /// Connects to `url` (creating a SQLite file when missing) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        install_default_drivers();
        let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}mode=rwc")
        } else {
            url.to_owned()
        };
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 1 } else { 8 })
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL with NORMAL sync: a commit is durable against a
                        // crash of the process and costs no fsync per row.
                        for pragma in [
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                        ] {
                            sqlx::query(pragma).execute(&mut *connection).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| crate::error::Error::dependency("the database is unavailable", e))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| crate::error::Error::Internal(e.into()))?;
        Ok(Store { pool })
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection, waiting for writes under way.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Stores a finished call; returns whether anything was written. A second
    /// write of the same call id changes nothing, unless the stored record is
    /// [`OPEN_END_REASON`] (the call was up when switchboard stopped): then
    /// the new record replaces it.
    pub async fn insert_call_record(&self, row: &CallRecordRow) -> Result<bool> {
        let result = sqlx::query(
            "INSERT INTO call_records (call_id, tenant, direction, customer_number, caller_name, \
             destination, agent_extension, queue, ami_uniqueid, channel, started_at_ms, \
             answered_at_ms, ended_at_ms, disposition, linkedid, end_reason, answered_by, \
             hold_seconds, talk_seconds, transfers, merged_call_ids) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20, $21) \
             ON CONFLICT (call_id) DO UPDATE SET tenant = excluded.tenant, \
             direction = excluded.direction, customer_number = excluded.customer_number, \
             caller_name = excluded.caller_name, destination = excluded.destination, \
             agent_extension = excluded.agent_extension, queue = excluded.queue, \
             ami_uniqueid = excluded.ami_uniqueid, channel = excluded.channel, \
             started_at_ms = excluded.started_at_ms, answered_at_ms = excluded.answered_at_ms, \
             ended_at_ms = excluded.ended_at_ms, disposition = excluded.disposition, \
             linkedid = excluded.linkedid, end_reason = excluded.end_reason, \
             answered_by = excluded.answered_by, hold_seconds = excluded.hold_seconds, \
             talk_seconds = excluded.talk_seconds, transfers = excluded.transfers, \
             merged_call_ids = excluded.merged_call_ids \
             WHERE call_records.end_reason = 'open'",
        )
        .bind(&row.call_id)
        .bind(&row.tenant)
        .bind(&row.direction)
        .bind(&row.customer_number)
        .bind(&row.caller_name)
        .bind(&row.destination)
        .bind(row.agent_extension.clone())
        .bind(row.queue.clone())
        .bind(&row.ami_uniqueid)
        .bind(&row.channel)
        .bind(row.started_at_ms)
        .bind(row.answered_at_ms)
        .bind(row.ended_at_ms)
        .bind(&row.disposition)
        .bind(&row.linkedid)
        .bind(&row.end_reason)
        .bind(&row.answered_by)
        .bind(row.hold_seconds)
        .bind(row.talk_seconds)
        .bind(&row.transfers)
        .bind(&row.merged_call_ids)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Stores one supervisor action in the audit trail (once: every node of
    /// a cluster records what it reads back).
    pub async fn insert_supervisor_action(&self, row: &SupervisorActionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO supervisor_actions (action_id, supervisor, supervisor_extension, mode, \
             agent_extension, call_id, status, message, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (action_id) DO NOTHING",
        )
        .bind(&row.action_id)
        .bind(&row.supervisor)
        .bind(&row.supervisor_extension)
        .bind(&row.mode)
        .bind(&row.agent_extension)
        .bind(&row.call_id)
        .bind(&row.status)
        .bind(&row.message)
        .bind(row.at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores (or replaces) an agent of the directory, changed at `at_ms`.
    pub async fn put_agent(&self, agent: &crate::directory::AgentEntry, at_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO agent_directory (extension, agent_id, name, max_calls, endpoint, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (extension) DO UPDATE SET agent_id = excluded.agent_id, name = excluded.name, \
             max_calls = excluded.max_calls, endpoint = excluded.endpoint, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&agent.extension)
        .bind(&agent.agent_id)
        .bind(&agent.name)
        .bind(i64::from(agent.max_calls))
        .bind(agent.endpoint.clone().unwrap_or_default())
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The agents admins stored, by extension.
    pub async fn stored_agents(&self) -> Result<Vec<crate::directory::AgentEntry>> {
        let rows = sqlx::query_as::<_, StoredAgentRow>(
            "SELECT extension, agent_id, name, max_calls, endpoint FROM agent_directory ORDER BY extension",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| crate::directory::AgentEntry {
                extension: row.extension,
                agent_id: row.agent_id,
                name: row.name,
                max_calls: u32::try_from(row.max_calls).unwrap_or(1),
                endpoint: (!row.endpoint.is_empty()).then_some(row.endpoint),
            })
            .collect())
    }

    /// The supervisor actions, newest first.
    pub async fn supervisor_actions(&self, limit: i64) -> Result<Vec<SupervisorActionRow>> {
        let rows = sqlx::query_as::<_, SupervisorActionRow>(
            "SELECT action_id, supervisor, supervisor_extension, mode, agent_extension, call_id, \
             status, message, at_ms FROM supervisor_actions ORDER BY at_ms DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The most recent finished calls, newest first.
    pub async fn recent_call_records(&self, limit: i64) -> Result<Vec<CallRecordRow>> {
        let rows = sqlx::query_as::<_, CallRecordRow>(
            "SELECT call_id, tenant, direction, customer_number, caller_name, destination, \
             agent_extension, queue, ami_uniqueid, channel, started_at_ms, answered_at_ms, \
             ended_at_ms, disposition, linkedid, end_reason, answered_by, hold_seconds, \
             talk_seconds, transfers, merged_call_ids \
             FROM call_records ORDER BY ended_at_ms DESC, call_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Opens an agent session; opening the same id again changes nothing.
    pub async fn open_agent_session(
        &self,
        id: &str,
        extension: &str,
        agent_id: &str,
        at_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO agent_sessions (id, extension, agent_id, logged_in_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(extension)
        .bind(agent_id)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The extension's sessions, oldest first.
    pub async fn agent_sessions(&self, extension: &str) -> Result<Vec<AgentSessionRow>> {
        let rows = sqlx::query_as::<_, AgentSessionRow>(
            "SELECT id, extension, agent_id, logged_in_ms, logged_out_ms FROM agent_sessions \
             WHERE extension = $1 ORDER BY logged_in_ms, id",
        )
        .bind(extension)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Opens a pause of `extension` in `queue`, unless one is open already;
    /// returns whether one was opened.
    pub async fn open_agent_pause(
        &self,
        extension: &str,
        queue: &str,
        reason: &str,
        at_ms: i64,
    ) -> Result<bool> {
        let result = sqlx::query(
            "INSERT INTO agent_pauses (id, extension, queue, reason, paused_at_ms) \
             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM agent_pauses \
             WHERE extension = $2 AND queue = $3 AND resumed_at_ms IS NULL) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(format!("{extension}@{queue}@{at_ms}"))
        .bind(extension)
        .bind(queue)
        .bind(reason)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Closes the extension's open pauses, in `queue` or (`None`) in all;
    /// returns how many were closed.
    pub async fn close_agent_pauses(
        &self,
        extension: &str,
        queue: Option<&str>,
        at_ms: i64,
    ) -> Result<u64> {
        let result = sqlx::query(
            "UPDATE agent_pauses SET resumed_at_ms = $1 WHERE extension = $2 \
             AND ($3 IS NULL OR queue = $3) AND resumed_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(extension)
        .bind(queue)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// The extension's pauses, oldest first.
    pub async fn agent_pauses(&self, extension: &str) -> Result<Vec<AgentPauseRow>> {
        let rows = sqlx::query_as::<_, AgentPauseRow>(
            "SELECT id, extension, queue, reason, paused_at_ms, resumed_at_ms FROM agent_pauses \
             WHERE extension = $1 ORDER BY paused_at_ms, id",
        )
        .bind(extension)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Closes the extension's open sessions; returns how many were closed.
    pub async fn close_agent_sessions(&self, extension: &str, at_ms: i64) -> Result<u64> {
        let result = sqlx::query(
            "UPDATE agent_sessions SET logged_out_ms = $1 WHERE extension = $2 AND logged_out_ms IS NULL",
        )
        .bind(at_ms)
        .bind(extension)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// Stores a new conversation; fails when its id is taken.
    pub async fn insert_conversation(&self, row: &ConversationRow) -> Result<()> {
        self.write_conversation(row, "").await
    }

    /// The delivery ids of `provider` that start with `prefix`.
    pub async fn webhook_receipts_with_prefix(
        &self,
        provider: &str,
        prefix: &str,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar::<_, String>(
            "SELECT delivery_id FROM webhook_receipts WHERE provider = $1 AND delivery_id LIKE $2",
        )
        .bind(provider)
        .bind(format!("{}%", prefix.replace(['%', '_'], "")))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Records a webhook delivery; returns false when it was seen before.
    pub async fn record_webhook_receipt(
        &self,
        provider: &str,
        delivery_id: &str,
        at_ms: i64,
    ) -> Result<bool> {
        let result = sqlx::query(
            "INSERT INTO webhook_receipts (provider, delivery_id, received_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (provider, delivery_id) DO NOTHING",
        )
        .bind(provider)
        .bind(delivery_id)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
