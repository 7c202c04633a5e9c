//! The log's journal in Redis: every append of the log, in order, in one
//! Redis Stream, so that the replay window outlives the process and every
//! node of a deployment reads the same numbered events.
//!
//! An entry is one operation on the ledger (an input applied, whole lists
//! flushed, an event published, a source rebuilt) with the events it
//! caused. A node replays the operation on its own ledger, which is pure,
//! so its snapshots are the writer's, and serves the writer's events as
//! they are. Entry ids are `{sequence}-{n}`: the sequence number of the
//! entry's last event, and `n` counting the entries since that event that
//! caused none (a changed ledger with nothing to say), so the stream's ids
//! are the sequence numbers clients resume with.
//!
//! Keys, under the deployment's name (`CLUSTER_NAME`):
//! - `{name}:log`: the stream, trimmed to about the replay window's size;
//! - `{name}:epoch`: the log's epoch, made once;
//! - `{name}:checkpoint`: the ledger as of one entry, saved now and then,
//!   from which a starting node replays the entries after it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prost::Message;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::ledger::{Input, Ledger};
use crate::proto::v1 as pb;
use crate::time::Instant;

/// What an entry did to the ledger, for any node to do again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Operation {
    /// One input applied ([`Ledger::apply`]).
    Apply {
        /// The input.
        input: Box<Input>,
        /// When.
        at: Instant,
    },
    /// A batch of inputs applied ([`Ledger::apply_all`]).
    ApplyAll {
        /// The inputs.
        inputs: Vec<Input>,
        /// When.
        at: Instant,
    },
    /// Whole lists held back, flushed ([`Ledger::flush_lists`]).
    FlushLists {
        /// When.
        at: Instant,
    },
    /// Events not from the ledger (statistics, chat, command results).
    Publish,
    /// A source rebuilt its picture: its inputs applied, every list
    /// flushed, and a `Resync` with the rebuilt snapshot.
    Rebuild {
        /// The inputs.
        inputs: Vec<Input>,
        /// When.
        at: Instant,
    },
}

/// An append asked of the node that writes the log by a node that does not
/// (a chat message, a transfer's progress, an admin's change on a standby):
/// queued in Redis (`{name}:appends`) until the writer takes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Forwarded {
    /// Inputs to apply: an [`Operation::Apply`] or [`Operation::ApplyAll`].
    Change(Operation),
    /// An event to publish: a `pb::Event` (its tenant and payload), encoded.
    Publish {
        /// The event, unnumbered.
        event: Vec<u8>,
        /// When it happened.
        at: Instant,
    },
}

/// A stream entry's id: see the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct EntryId {
    /// The sequence number of the last event so far.
    pub sequence: u64,
    /// Entries since that event that caused none.
    pub quiet: u64,
}

impl EntryId {
    /// The id of the entry after this one, whose last event is `sequence`
    /// (the same as this one's when it caused none).
    pub fn next(self, sequence: u64) -> EntryId {
        if sequence > self.sequence {
            EntryId { sequence, quiet: 0 }
        } else {
            EntryId {
                sequence: self.sequence,
                quiet: self.quiet + 1,
            }
        }
    }

    fn parse(text: &str) -> Option<EntryId> {
        let (sequence, quiet) = text.split_once('-')?;
        Some(EntryId {
            sequence: sequence.parse().ok()?,
            quiet: quiet.parse().ok()?,
        })
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.sequence, self.quiet)
    }
}

/// One entry: an operation and the events it caused, numbered.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its id in the stream.
    pub id: EntryId,
    /// What it did to the ledger.
    pub operation: Operation,
    /// The events it caused, in order.
    pub events: Vec<Arc<pb::Event>>,
}

impl Entry {
    fn encode(&self) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let operation = rmp_serde::to_vec_named(&self.operation).context("an operation encodes")?;
        let mut events = Vec::new();
        for event in &self.events {
            event
                .encode_length_delimited(&mut events)
                .context("an event encodes")?;
        }
        Ok((operation, events))
    }

    fn decode(id: &str, operation: &[u8], events: &[u8]) -> anyhow::Result<Entry> {
        let id = EntryId::parse(id).with_context(|| format!("entry id {id:?}"))?;
        let operation = rmp_serde::from_slice(operation).context("an operation decodes")?;
        let mut decoded = Vec::new();
        let mut rest = events;
        while !rest.is_empty() {
            let event =
                pb::Event::decode_length_delimited(&mut rest).context("an event decodes")?;
            decoded.push(Arc::new(event));
        }
        Ok(Entry {
            id,
            operation,
            events: decoded,
        })
    }
}

/// Whether `entry` is the log's very first (its first event is number 1,
/// or it has none and no event came before it).
pub fn starts_the_log(entry: &Entry) -> bool {
    entry
        .events
        .first()
        .map_or(entry.id.sequence == 0, |event| event.sequence == 1)
}

/// Whether `entry` comes right after the entry `previous`: its first event
/// is the next number, or it caused none and is the next quiet entry. (An
/// entry with events after quiet entries that are missing cannot be told
/// from one right after `previous`: ids count quiet entries only after the
/// last event.)
pub fn follows(previous: EntryId, entry: &Entry) -> bool {
    match entry.events.first() {
        Some(event) => event.sequence == previous.sequence + 1,
        None => entry.id == previous.next(previous.sequence),
    }
}

/// Whether a node can restore its ledger from `stored`: a checkpoint its
/// entries go on from (the stream still holds the checkpoint's entry, or
/// its first entry is the one right after it), or entries from the log's
/// start.
pub fn restorable(stored: &Stored) -> bool {
    match (&stored.checkpoint, stored.entries.first()) {
        (Some(checkpoint), Some(first)) => {
            checkpoint.id >= first.id || follows(checkpoint.id, first)
        }
        (Some(_), None) | (None, None) => true,
        (None, Some(first)) => starts_the_log(first),
    }
}

/// The ledger as of one entry.
#[derive(Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last entry folded into it.
    pub id: EntryId,
    /// The ledger.
    pub ledger: Ledger,
}

/// What a starting node reads: the newest checkpoint, and every entry the
/// stream still holds, oldest first.
pub struct Stored {
    /// The epoch of the log.
    pub epoch: String,
    /// The newest checkpoint, when one was saved.
    pub checkpoint: Option<Checkpoint>,
    /// The entries.
    pub entries: Vec<Entry>,
}

/// Appends refused because this writer's fencing token is no longer the
/// lease's: another node writes the log now.
#[derive(Debug, thiserror::Error)]
#[error("the log's lease is held by another node: this node's appends are refused")]
pub struct Fenced;

/// Appends entries unless the fencing token given (ARGV[1], empty: none)
/// is no longer the lease's (KEYS[2]); trims the stream to about ARGV[2]
/// entries. ARGV[3..] are (id, operation, events) triples.
const APPEND: &str = r#"
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
for i = 3, #ARGV, 3 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], ARGV[i], 'op', ARGV[i + 1], 'ev', ARGV[i + 2])
end
return #ARGV / 3 - 1
"#;

/// The journal of one deployment.
#[derive(Clone)]
pub struct Journal {
    redis: ConnectionManager,
    /// A connection of its own for blocking reads, which hold a connection
    /// until entries come.
    tail: ConnectionManager,
    /// A connection of its own for the writer's blocking pops of forwarded appends.
    pops: ConnectionManager,
    stream: String,
    epoch: String,
    checkpoint: String,
    lease: String,
    /// The appends standby nodes forward to the writer.
    appends: String,
    append: redis::Script,
    /// About how many entries the stream keeps.
    keeps: usize,
}

/// The most entries read in one go.
const READ_BATCH: usize = 1024;

impl Journal {
    /// The journal of deployment `name` in the Redis at `url`, keeping about `keeps` entries.
    pub async fn connect(url: &str, name: &str, keeps: usize) -> anyhow::Result<Journal> {
        let client = redis::Client::open(url).context("REDIS_URL is not a Redis URL")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .context("cannot reach REDIS_URL")?;
        let tail = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .context("cannot reach REDIS_URL")?;
        let pops = ConnectionManager::new_with_config(client, config)
            .await
            .context("cannot reach REDIS_URL")?;
        Ok(Journal {
            redis,
            tail,
            pops,
            stream: format!("{name}:log"),
            epoch: format!("{name}:epoch"),
            checkpoint: format!("{name}:checkpoint"),
            lease: format!("{name}:lease"),
            appends: format!("{name}:appends"),
            append: redis::Script::new(APPEND),
            keeps: keeps.max(1),
        })
    }

    /// The key of the deployment's ingest lease.
    pub fn lease_key(&self) -> &str {
        &self.lease
    }

    /// A connection to the journal's Redis.
    pub fn redis(&self) -> ConnectionManager {
        self.redis.clone()
    }

    /// The log's epoch: the stored one, or `fresh` stored now.
    pub async fn epoch_or(&self, fresh: &str) -> anyhow::Result<String> {
        let mut redis = self.redis.clone();
        let _: bool = redis::cmd("SET")
            .arg(&self.epoch)
            .arg(fresh)
            .arg("NX")
            .query_async(&mut redis)
            .await
            .map(|reply: Option<String>| reply.is_some())?;
        let epoch: String = redis::cmd("GET")
            .arg(&self.epoch)
            .query_async(&mut redis)
            .await?;
        Ok(epoch)
    }

    /// What Redis holds of the log: whether its epoch is `epoch` (not when
    /// Redis lost its data, a restart without persistence), and whether a
    /// checkpoint is saved (not before a new deployment's first).
    pub async fn holds(&self, epoch: &str) -> anyhow::Result<(bool, bool)> {
        let mut redis = self.redis.clone();
        let (stored, checkpoints): (Option<String>, i64) = redis::pipe()
            .cmd("GET")
            .arg(&self.epoch)
            .cmd("EXISTS")
            .arg(&self.checkpoint)
            .query_async(&mut redis)
            .await?;
        Ok((stored.as_deref() == Some(epoch), checkpoints == 1))
    }

    /// Replaces the log's epoch (its history cannot be resumed any more).
    pub async fn restart_epoch(&self, fresh: &str) -> anyhow::Result<()> {
        let mut redis = self.redis.clone();
        let () = redis::cmd("SET")
            .arg(&self.epoch)
            .arg(fresh)
            .query_async(&mut redis)
            .await?;
        Ok(())
    }

    /// Reads what a starting node needs.
    pub async fn load(&self, fresh_epoch: &str) -> anyhow::Result<Stored> {
        let epoch = self.epoch_or(fresh_epoch).await?;
        let mut redis = self.redis.clone();
        let saved: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&self.checkpoint)
            .query_async(&mut redis)
            .await?;
        let checkpoint = match saved {
            Some(bytes) => match rmp_serde::from_slice::<Checkpoint>(&bytes) {
                Ok(checkpoint) => Some(checkpoint),
                Err(error) => {
                    tracing::warn!(%error, "the log's checkpoint does not decode; ignored");
                    None
                }
            },
            None => None,
        };
        let entries = self.read_after(None, usize::MAX).await?;
        Ok(Stored {
            epoch,
            checkpoint,
            entries,
        })
    }

    /// The entries after `after` (`None`: all), at most `limit`, oldest first.
    pub async fn read_after(
        &self,
        after: Option<EntryId>,
        limit: usize,
    ) -> anyhow::Result<Vec<Entry>> {
        let mut redis = self.redis.clone();
        let mut entries = Vec::new();
        let mut start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        while entries.len() < limit {
            let count = READ_BATCH.min(limit - entries.len());
            let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                .arg(&self.stream)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(count)
                .query_async(&mut redis)
                .await?;
            let read = reply.ids.len();
            for stream_id in reply.ids {
                start = format!("({}", stream_id.id);
                entries.push(entry_of(&stream_id)?);
            }
            if read < count {
                break;
            }
        }
        Ok(entries)
    }

    /// The id of the stream's last entry (`None`: it is empty).
    pub async fn last_id(&self) -> anyhow::Result<Option<EntryId>> {
        let mut redis = self.redis.clone();
        let reply: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&self.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut redis)
            .await?;
        match reply.ids.first() {
            Some(last) => Ok(Some(
                EntryId::parse(&last.id).with_context(|| format!("entry id {:?}", last.id))?,
            )),
            None => Ok(None),
        }
    }

    /// Waits up to `block` for entries after `after`; returns them, oldest first.
    pub async fn tail(&self, after: EntryId, block: Duration) -> anyhow::Result<Vec<Entry>> {
        let mut redis = self.tail.clone();
        let options = redis::streams::StreamReadOptions::default()
            .count(READ_BATCH)
            .block(usize::try_from(block.as_millis()).unwrap_or(usize::MAX));
        let reply: Option<redis::streams::StreamReadReply> = redis::AsyncCommands::xread_options(
            &mut redis,
            &[&self.stream],
            &[after.to_string()],
            &options,
        )
        .await?;
        let mut entries = Vec::new();
        for key in reply.map(|reply| reply.keys).unwrap_or_default() {
            for stream_id in key.ids {
                entries.push(entry_of(&stream_id)?);
            }
        }
        Ok(entries)
    }

    /// Appends `entries` in order, fenced by `token` (empty: unfenced).
    pub async fn append(&self, entries: &[Entry], token: &str) -> anyhow::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut invocation = self.append.key(&self.stream);
        invocation.key(&self.lease).arg(token).arg(self.keeps);
        for entry in entries {
            let (operation, events) = entry.encode()?;
            invocation
                .arg(entry.id.to_string())
                .arg(operation)
                .arg(events);
        }
        let mut redis = self.redis.clone();
        match invocation.invoke_async::<i64>(&mut redis).await {
            Ok(_) => Ok(()),
            Err(error) if error.to_string().contains("FENCED") => Err(Fenced.into()),
            Err(error) => Err(error.into()),
        }
    }

    /// Queues an append for the node that writes the log.
    pub async fn forward(&self, append: &Forwarded) -> anyhow::Result<()> {
        let bytes = rmp_serde::to_vec_named(append).context("an append encodes")?;
        let mut redis = self.redis.clone();
        let _: i64 = redis::cmd("RPUSH")
            .arg(&self.appends)
            .arg(bytes)
            .query_async(&mut redis)
            .await?;
        Ok(())
    }

    /// Waits up to `block` for the next forwarded append.
    pub async fn next_forwarded(&self, block: Duration) -> anyhow::Result<Option<Forwarded>> {
        let mut redis = self.pops.clone();
        let popped: Option<(String, Vec<u8>)> = redis::cmd("BLPOP")
            .arg(&self.appends)
            .arg(block.as_secs_f64())
            .query_async(&mut redis)
            .await?;
        match popped {
            Some((_, bytes)) => Ok(Some(
                rmp_serde::from_slice(&bytes).context("a forwarded append decodes")?,
            )),
            None => Ok(None),
        }
    }

    /// Saves `checkpoint` as the newest.
    pub async fn save(&self, checkpoint: &Checkpoint) -> anyhow::Result<()> {
        let bytes = rmp_serde::to_vec_named(checkpoint).context("the ledger encodes")?;
        let mut redis = self.redis.clone();
        let () = redis::cmd("SET")
            .arg(&self.checkpoint)
            .arg(bytes)
            .query_async(&mut redis)
            .await?;
        Ok(())
    }

    /// Trims entries older than `oldest` (the replay window's oldest event).
    pub async fn trim_before(&self, oldest: u64) -> anyhow::Result<()> {
        let mut redis = self.redis.clone();
        let _: i64 = redis::cmd("XTRIM")
            .arg(&self.stream)
            .arg("MINID")
            .arg("~")
            .arg(format!("{oldest}-0"))
            .query_async(&mut redis)
            .await?;
        Ok(())
    }
}

/// How long a failed Redis call waits before it is tried again, at most.
const RETRY_AT_MOST: Duration = Duration::from_secs(2);

/// How often the ledger is saved (when it changed).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// Hands the writer's entries to the journal, in order, in batches, until
/// `shutdown` (then what is queued still goes). A Redis that cannot be
/// reached holds the entries back and is tried again; a fenced append (the
/// lease went to another node) stops this node writing and returns.
pub async fn write_entries(
    journal: Journal,
    log: Arc<crate::log::EventLog>,
    mut entries: tokio::sync::mpsc::UnboundedReceiver<Entry>,
    token: String,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut batch = Vec::new();
    loop {
        if batch.is_empty() {
            tokio::select! {
                entry = entries.recv() => match entry {
                    Some(entry) => batch.push(entry),
                    None => return,
                },
                () = shutdown.cancelled() => {
                    entries.close();
                    match entries.recv().await {
                        Some(entry) => batch.push(entry),
                        None => return,
                    }
                }
            }
        }
        while batch.len() < READ_BATCH {
            match entries.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        let mut wait = Duration::from_millis(100);
        loop {
            match journal.append(&batch, &token).await {
                Ok(()) => break,
                Err(error) if error.is::<Fenced>() => {
                    tracing::warn!("{error}");
                    log.stop_writing();
                    return;
                }
                Err(_) if shutdown.is_cancelled() && !log.writes() => {
                    // This node's term ended (it stepped down): entries never
                    // written were never read back, so no client saw them; the
                    // next node to ingest rebuilds from the PBX.
                    tracing::warn!(
                        entries = batch.len(),
                        "the journal could not be written before this node stepped down; its last entries are dropped"
                    );
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, entries = batch.len(), "the log's journal cannot be written; holding its entries back");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_AT_MOST);
                }
            }
        }
        batch.clear();
    }
}

/// Reads the journal's new entries back into `log`, until `shutdown`.
pub async fn read_back(
    journal: Journal,
    log: Arc<crate::log::EventLog>,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut wait = Duration::from_millis(100);
    // Whether this node's ledger went astray, and when it was last reloaded.
    let mut astray = false;
    let mut last_reload = None;
    loop {
        let read = tokio::select! {
            read = journal.tail(log.read_through(), Duration::from_secs(1)) => read,
            () = shutdown.cancelled() => return,
        };
        match read {
            Ok(entries) => {
                wait = Duration::from_millis(100);
                log.set_journal_reachable(true);
                let newest = entries
                    .last()
                    .and_then(|entry| entry.events.last())
                    .and_then(|event| event.time.as_ref())
                    .and_then(crate::time::from_timestamp);
                for entry in entries {
                    if !log.ingest(entry) && !astray {
                        astray = true;
                        metrics.journal_astray.inc();
                    }
                }
                if astray
                    && last_reload.is_none_or(|at: std::time::Instant| at.elapsed() >= RELOAD_EVERY)
                {
                    last_reload = Some(std::time::Instant::now());
                    astray = !reload_ledger(&journal, &log, &metrics).await;
                }
                if let Some(newest) = newest {
                    let lag = (chrono::Utc::now() - newest).num_milliseconds().max(0);
                    metrics.journal_lag_seconds.set(lag as f64 / 1000.0);
                }
            }
            Err(error) => {
                log.set_journal_reachable(false);
                tracing::debug!(%error, "the log's journal cannot be read; trying again");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => return,
                }
                wait = (wait * 2).min(RETRY_AT_MOST);
            }
        }
    }
}

/// How often a ledger that went astray is tried to be reloaded.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Reloads `log`'s ledger from the journal's checkpoint and entries (see
/// [`crate::log::EventLog::reload_ledger`]); whether it did.
async fn reload_ledger(
    journal: &Journal,
    log: &crate::log::EventLog,
    metrics: &crate::metrics::Metrics,
) -> bool {
    match journal.load(&log.epoch()).await {
        Ok(stored) => {
            let reloaded = log.reload_ledger(stored);
            if reloaded {
                metrics.ledger_reloads.inc();
                tracing::warn!(through = %log.read_through(), "the ledger went astray and was reloaded from the journal's checkpoint");
            } else {
                tracing::debug!(
                    "the journal's checkpoint cannot reload the ledger yet; trying again"
                );
            }
            reloaded
        }
        Err(error) => {
            tracing::warn!(%error, "the journal cannot be read to reload the ledger; trying again");
            false
        }
    }
}

/// Saves the ledger every [`CHECKPOINT_EVERY`] while this node writes the
/// log and it changed, then trims the stream to the replay window, until
/// `shutdown` (and once more then).
pub async fn save_checkpoints(
    journal: Journal,
    log: Arc<crate::log::EventLog>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut saved = log.read_through();
    let mut ticker = tokio::time::interval(CHECKPOINT_EVERY);
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            () = shutdown.cancelled() => true,
        };
        if log.writes() && log.read_through() > saved {
            let checkpoint = log.checkpoint();
            let id = checkpoint.id;
            match journal.save(&checkpoint).await {
                Ok(()) => {
                    saved = id;
                    let oldest = log.oldest();
                    if oldest > 0
                        && let Err(error) = journal.trim_before(oldest).await
                    {
                        tracing::warn!(%error, "the log's journal was not trimmed");
                    }
                }
                Err(error) => tracing::warn!(%error, "the ledger's checkpoint was not saved"),
            }
        }
        if stopping {
            return;
        }
    }
}

/// Sends the appends asked of this node while it does not write the log to
/// the node that does, in order, until `shutdown`.
pub async fn forward_appends(
    journal: Journal,
    mut appends: tokio::sync::mpsc::UnboundedReceiver<Forwarded>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let append = tokio::select! {
            append = appends.recv() => match append {
                Some(append) => append,
                None => return,
            },
            () = shutdown.cancelled() => return,
        };
        let mut wait = Duration::from_millis(100);
        while let Err(error) = journal.forward(&append).await {
            tracing::warn!(%error, "an append for the writing node cannot be queued in Redis; trying again");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_AT_MOST);
        }
    }
}

/// Applies the appends other nodes forwarded, while this node writes the
/// log (until `term` ends).
pub async fn take_forwarded(
    journal: Journal,
    log: Arc<crate::log::EventLog>,
    term: tokio_util::sync::CancellationToken,
) {
    loop {
        let next = tokio::select! {
            next = journal.next_forwarded(Duration::from_secs(1)) => next,
            () = term.cancelled() => return,
        };
        match next {
            Ok(Some(append)) => log.apply_forwarded(append),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "forwarded appends cannot be read; trying again");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_AT_MOST) => {}
                    () = term.cancelled() => return,
                }
            }
        }
    }
}

fn entry_of(stream_id: &redis::streams::StreamId) -> anyhow::Result<Entry> {
    let field = |name: &str| -> anyhow::Result<Vec<u8>> {
        match stream_id.map.get(name) {
            Some(redis::Value::BulkString(bytes)) => Ok(bytes.clone()),
            Some(redis::Value::SimpleString(text)) => Ok(text.clone().into_bytes()),
            _ => anyhow::bail!("entry {} has no {name:?} field", stream_id.id),
        }
    };
    Entry::decode(&stream_id.id, &field("op")?, &field("ev")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_count_quiet_entries_after_the_last_event() {
        let id = EntryId::default();
        let id = id.next(3);
        assert_eq!(id.to_string(), "3-0");
        let id = id.next(3);
        assert_eq!(id.to_string(), "3-1");
        let id = id.next(5);
        assert_eq!(id.to_string(), "5-0");
        assert_eq!(EntryId::parse("5-0"), Some(id));
        assert!(EntryId::parse("5").is_none());
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let at = chrono::Utc::now();
        let entry = Entry {
            id: EntryId {
                sequence: 2,
                quiet: 0,
            },
            operation: Operation::FlushLists { at },
            events: (1..=2)
                .map(|sequence| {
                    Arc::new(pb::Event {
                        sequence,
                        epoch: "e".into(),
                        tenant: "acme".into(),
                        time: Some(crate::time::to_timestamp(at)),
                        payload: None,
                    })
                })
                .collect(),
        };
        let (operation, events) = entry.encode().unwrap();
        let back = Entry::decode("2-0", &operation, &events).unwrap();
        assert_eq!(back.events, entry.events);
        assert!(matches!(back.operation, Operation::FlushLists { at: when } if when == at));
    }

    /// An entry numbered `sequence`-`quiet` with events `events`.
    fn entry(sequence: u64, quiet: u64, events: &[u64]) -> Entry {
        let at = chrono::Utc::now();
        Entry {
            id: EntryId { sequence, quiet },
            operation: Operation::FlushLists { at },
            events: events
                .iter()
                .map(|&sequence| {
                    Arc::new(pb::Event {
                        sequence,
                        ..Default::default()
                    })
                })
                .collect(),
        }
    }

    /// A checkpoint restores when the stream still holds its entry, or when
    /// the stream's first entry is the one right after it (a journal
    /// written again from a leader's ledger after Redis lost its data); not
    /// across a gap.
    #[test]
    fn a_checkpoint_restores_with_the_entries_that_follow_it_and_not_across_a_gap() {
        let stored = |checkpoint: (u64, u64), first: Entry| Stored {
            epoch: "e".into(),
            checkpoint: Some(Checkpoint {
                id: EntryId {
                    sequence: checkpoint.0,
                    quiet: checkpoint.1,
                },
                ledger: crate::ledger::Ledger::new("acme"),
            }),
            entries: vec![first],
        };
        assert!(restorable(&stored((7, 0), entry(5, 0, &[4, 5]))));
        assert!(restorable(&stored((7, 0), entry(9, 0, &[8, 9]))));
        assert!(restorable(&stored((7, 2), entry(7, 3, &[]))));
        assert!(!restorable(&stored((7, 0), entry(10, 0, &[9, 10]))));
        assert!(!restorable(&stored((7, 0), entry(7, 2, &[]))));
        assert!(!restorable(&stored((7, 0), entry(9, 1, &[]))));
    }
}
