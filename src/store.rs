//! The store: call records, agent sessions, conversations and messages, and
//! webhook receipts, in SQLite (default, an embedded file) or Postgres
//! (`DATABASE_URL=postgres://…`), through one portable set of migrations.
//! [`record_finished_calls`] is the log subscriber that writes call records.

use std::sync::Arc;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::proto::v1::{self as pb, event::Payload};
use crate::time::from_timestamp;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// One row of `supervisor_actions`: the audit trail of monitor, whisper and barge.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// `ANSWERED`, `NO ANSWER`, `BUSY`, `FAILED`.
    pub disposition: String,
}

/// A conversation, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

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
        let pool = AnyPoolOptions::new()
            .max_connections(if url.starts_with("sqlite:") { 1 } else { 8 })
            .connect(&url)
            .await
            .map_err(|e| crate::error::Error::Unavailable(format!("database: {e}")))?;
        if url.starts_with("sqlite:") {
            sqlx::query("PRAGMA foreign_keys = ON")
                .execute(&pool)
                .await?;
        }
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

    /// Stores a finished call; a second write of the same call id changes nothing.
    pub async fn insert_call_record(&self, row: &CallRecordRow) -> Result<bool> {
        let result = sqlx::query(
            "INSERT INTO call_records (call_id, tenant, direction, customer_number, caller_name, \
             destination, agent_extension, queue, ami_uniqueid, channel, started_at_ms, \
             answered_at_ms, ended_at_ms, disposition) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (call_id) DO NOTHING",
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
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Stores one supervisor action in the audit trail.
    pub async fn insert_supervisor_action(&self, row: &SupervisorActionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO supervisor_actions (action_id, supervisor, supervisor_extension, mode, \
             agent_extension, call_id, status, message, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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

    /// The supervisor actions, newest first.
    pub async fn supervisor_actions(&self, limit: i64) -> Result<Vec<SupervisorActionRow>> {
        let rows = sqlx::query(
            "SELECT action_id, supervisor, supervisor_extension, mode, agent_extension, call_id, \
             status, message, at_ms FROM supervisor_actions ORDER BY at_ms DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SupervisorActionRow {
                    action_id: row.try_get(0)?,
                    supervisor: row.try_get(1)?,
                    supervisor_extension: row.try_get(2)?,
                    mode: row.try_get(3)?,
                    agent_extension: row.try_get(4)?,
                    call_id: row.try_get(5)?,
                    status: row.try_get(6)?,
                    message: row.try_get(7)?,
                    at_ms: row.try_get(8)?,
                })
            })
            .collect()
    }

    /// The most recent finished calls, newest first.
    pub async fn recent_call_records(&self, limit: i64) -> Result<Vec<CallRecordRow>> {
        let rows = sqlx::query(
            "SELECT call_id, tenant, direction, customer_number, caller_name, destination, \
             agent_extension, queue, ami_uniqueid, channel, started_at_ms, answered_at_ms, \
             ended_at_ms, disposition FROM call_records ORDER BY ended_at_ms DESC, call_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CallRecordRow {
                    call_id: r.try_get(0)?,
                    tenant: r.try_get(1)?,
                    direction: r.try_get(2)?,
                    customer_number: r.try_get(3)?,
                    caller_name: r.try_get(4)?,
                    destination: r.try_get(5)?,
                    agent_extension: r.try_get(6)?,
                    queue: r.try_get(7)?,
                    ami_uniqueid: r.try_get(8)?,
                    channel: r.try_get(9)?,
                    started_at_ms: r.try_get(10)?,
                    answered_at_ms: r.try_get(11)?,
                    ended_at_ms: r.try_get(12)?,
                    disposition: r.try_get(13)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Opens an agent session.
    pub async fn open_agent_session(
        &self,
        id: &str,
        extension: &str,
        agent_id: &str,
        at_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO agent_sessions (id, extension, agent_id, logged_in_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(extension)
        .bind(agent_id)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
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

    /// Stores a new conversation.
    pub async fn insert_conversation(&self, row: &ConversationRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO conversations (id, tenant, status, channel, customer_name, customer_email, \
             customer_phone, assigned_agent_id, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.id)
        .bind(&row.tenant)
        .bind(&row.status)
        .bind(&row.channel)
        .bind(&row.customer_name)
        .bind(&row.customer_email)
        .bind(&row.customer_phone)
        .bind(row.assigned_agent_id.clone())
        .bind(row.created_at_ms)
        .bind(row.updated_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One conversation, if it exists.
    pub async fn conversation(&self, id: &str) -> Result<Option<ConversationRow>> {
        let row = sqlx::query(
            "SELECT id, tenant, status, channel, customer_name, customer_email, customer_phone, \
             assigned_agent_id, created_at_ms, updated_at_ms FROM conversations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| -> Result<ConversationRow, sqlx::Error> {
            Ok(ConversationRow {
                id: r.try_get(0)?,
                tenant: r.try_get(1)?,
                status: r.try_get(2)?,
                channel: r.try_get(3)?,
                customer_name: r.try_get(4)?,
                customer_email: r.try_get(5)?,
                customer_phone: r.try_get(6)?,
                assigned_agent_id: r.try_get(7)?,
                created_at_ms: r.try_get(8)?,
                updated_at_ms: r.try_get(9)?,
            })
        })
        .transpose()
        .map_err(Into::into)
    }

    /// Stores a message and touches its conversation; fails when the conversation does not exist.
    pub async fn insert_message(&self, row: &MessageRow) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let touched = sqlx::query("UPDATE conversations SET updated_at_ms = $1 WHERE id = $2")
            .bind(row.created_at_ms)
            .bind(&row.conversation_id)
            .execute(&mut *tx)
            .await?;
        if touched.rows_affected() == 0 {
            return Err(crate::error::Error::NotFound(format!(
                "conversation {}",
                row.conversation_id
            )));
        }
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, sender_type, sender_id, sender_name, content, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(&row.conversation_id)
        .bind(&row.sender_type)
        .bind(&row.sender_id)
        .bind(&row.sender_name)
        .bind(&row.content)
        .bind(row.created_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A conversation's messages, oldest first.
    pub async fn messages(&self, conversation_id: &str) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(
            "SELECT id, conversation_id, sender_type, sender_id, sender_name, content, created_at_ms \
             FROM messages WHERE conversation_id = $1 ORDER BY created_at_ms, id",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MessageRow {
                    id: r.try_get(0)?,
                    conversation_id: r.try_get(1)?,
                    sender_type: r.try_get(2)?,
                    sender_id: r.try_get(3)?,
                    sender_name: r.try_get(4)?,
                    content: r.try_get(5)?,
                    created_at_ms: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
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

/// The call record of a `call:ended` event.
pub fn call_record_of(event: &pb::Event) -> Option<CallRecordRow> {
    let Some(Payload::CallHangup(call)) = &event.payload else {
        return None;
    };
    let ms = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .and_then(from_timestamp)
            .map(|t| t.timestamp_millis())
    };
    Some(CallRecordRow {
        call_id: call.uniqueid.clone(),
        tenant: event.tenant.clone(),
        direction: "unknown".into(),
        customer_number: call.callerid.clone(),
        caller_name: String::new(),
        destination: call.destination.clone(),
        agent_extension: call.agent.clone(),
        queue: None,
        ami_uniqueid: call.uniqueid.clone(),
        channel: call.channel.clone(),
        started_at_ms: ms(&call.start_time).unwrap_or_default(),
        answered_at_ms: ms(&call.answer_time),
        ended_at_ms: ms(&event.time).unwrap_or_default(),
        disposition: call.disposition.clone().unwrap_or_default(),
    })
}

/// Writes a call record for every call that ends, until `shutdown`; then
/// drains what the log already holds for it so that no finished call is lost.
pub async fn record_finished_calls(
    store: Store,
    mut feed: broadcast::Receiver<Arc<pb::Event>>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            received = feed.recv() => received,
            () = shutdown.cancelled() => break,
        };
        match event {
            Ok(event) => write_call_record(&store, &event).await,
            Err(broadcast::error::RecvError::Lagged(lost)) => {
                tracing::warn!(lost, "store writer fell behind; call records lost");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
    while let Ok(event) = feed.try_recv() {
        write_call_record(&store, &event).await;
    }
}

async fn write_call_record(store: &Store, event: &pb::Event) {
    if let Some(row) = call_record_of(event)
        && let Err(error) = store.insert_call_record(&row).await
    {
        tracing::error!(call_id = %row.call_id, %error, "call record not stored");
    }
}
