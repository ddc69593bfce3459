//! The session store: per agent, an index (`sessions.json`: session key → [`SessionEntry`]) and
//! one transcript per session (see [`super::transcript`]). All writes for an agent go through
//! one lock, so the index and the transcripts' sequence numbers cannot race; file IO runs on the
//! blocking pool so an `fsync` on a slow SD card never stalls the event loop.
//!
//! The index is rewritten atomically (temp file + rename). If it is found unreadable, it is set
//! aside and rebuilt from the transcripts' headers, which name their session key.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod disk;

use super::keys::SessionKey;
use super::transcript::{self, Tail};
use crate::clock;
use crate::config::agents::Maintenance;
use crate::limits::{SESSION_PREVIEW_CHARS, SESSION_SUMMARY_RECENT};
use disk::{IndexSnapshot, find_cursor, load, snapshot, transcript_name, write_index};

/// Index file name inside an agent's sessions directory.
pub const INDEX_FILE: &str = "sessions.json";

/// One session in the index (the official `sessions.json` row, in camelCase).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionEntry {
    pub session_id: String,
    #[serde(default)]
    pub created_at: u64,
    #[serde(default)]
    pub updated_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `provider/model` chosen for this session (`sessions.patch {model}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_override: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_interaction_at: Option<u64>,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_id: Option<String>,
    /// `running`, `done`, `failed` or `aborted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_error: Option<String>,
    /// The model that answered last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_preview: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_session_id: Option<String>,
    /// Transcript file name inside the sessions directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_file: Option<String>,
}

impl SessionEntry {
    /// `text` shortened for the index's preview.
    pub fn set_preview(&mut self, text: &str) {
        let mut p: String = text.chars().take(SESSION_PREVIEW_CHARS).collect();
        if text.chars().count() > SESSION_PREVIEW_CHARS {
            p.push('…');
        }
        self.last_message_preview = Some(p);
    }
}

/// Where the next transcript line goes.
#[derive(Debug, Clone)]
struct Cursor {
    next_seq: u64,
    last_id: Option<String>,
}

/// An agent's sessions by key. Keys and entries are shared with the index snapshots being written,
/// so a snapshot is one list of pointers taken under the lock and serialized outside it (an entry changed
/// meanwhile is copied on write, [`Arc::make_mut`]); with hundreds of sessions, serializing
/// under the lock held every run's start behind the previous run's index write.
type Index = BTreeMap<Arc<str>, Arc<SessionEntry>>;

struct AgentSessions {
    dir: PathBuf,
    index: Index,
    /// Per session id, once known (found lazily from the transcript's end).
    cursors: HashMap<String, Cursor>,
    /// Counts the index snapshots taken (see [`IndexSnapshot`]).
    generation: u64,
}

/// A line appended to a transcript: a message payload and the run it belongs to.
pub struct Append {
    pub message: Value,
    pub run_id: Option<String>,
}

/// Where each appended line landed.
#[derive(Debug, Clone)]
pub struct Appended {
    pub seq: u64,
    pub id: String,
}

/// The store. Shared by reference (`Arc<Store>`) and guarded by locks rather than run as an
/// owner task (DESIGN §2's default), on purpose:
/// - `agents` is an async lock because the whole point is to serialize an agent's index and
///   transcript writes in call order; an owner task would serialize them the same way, but
///   needs a command variant and a reply channel for each of the dozen operations below, and
///   every caller needs the answer (the new entry, the appended sequence numbers) before it
///   goes on. The slow part, file IO, runs on the blocking pool either way.
/// - `index_writes` is a second async lock, taken without `agents`, so an index write's fsyncs
///   hold up only other index writes, never an append or a read.
/// - `dirty`, `new_transcripts`, `summaries` and `busy` are std locks that are only ever held for a set or map
///   operation, never across an `.await`, and `summaries` is read by synchronous code (health
///   snapshots) that cannot wait for a task's reply.
pub struct Store {
    state_dir: PathBuf,
    agents: smol::lock::Mutex<HashMap<String, AgentSessions>>,
    /// Per agent, the generation of the index last written.
    index_writes: smol::lock::Mutex<HashMap<String, u64>>,
    /// Transcripts created but not yet synced; the next index write syncs them first.
    new_transcripts: std::sync::Mutex<Vec<PathBuf>>,
    /// Agents whose index changed in memory and waits for the delayed write.
    dirty: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Per loaded agent: session count and the most recently updated keys, readable without
    /// the async lock (health snapshots are built synchronously).
    summaries: std::sync::Mutex<HashMap<String, Summary>>,
    /// Session keys with runs running or queued (kept by the scheduler): maintenance never
    /// prunes them.
    busy: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Told of every line appended to a transcript (the gateway turns them into
    /// `session.message` events); none in tools and tests that only read and write files.
    observer: Option<smol::channel::Sender<super::Notice>>,
}

/// A cheap view of an agent's sessions for health and status output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    /// `(key, updatedAt)`, newest first, at most [`SESSION_SUMMARY_RECENT`].
    pub recent: Vec<(String, u64)>,
}

fn summarize(index: &Index) -> Summary {
    // Sorted by reference; only the few kept keys are copied (this runs on every change).
    let mut recent: Vec<(&Arc<str>, u64)> = index.iter().map(|(k, e)| (k, e.updated_at)).collect();
    recent.sort_by_key(|r| std::cmp::Reverse(r.1));
    recent.truncate(SESSION_SUMMARY_RECENT);
    Summary { count: index.len(), recent: recent.into_iter().map(|(k, at)| (k.to_string(), at)).collect() }
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            state_dir: state_dir.to_path_buf(),
            agents: smol::lock::Mutex::new(HashMap::new()),
            index_writes: smol::lock::Mutex::new(HashMap::new()),
            new_transcripts: Default::default(),
            dirty: Default::default(),
            summaries: Default::default(),
            busy: Default::default(),
            observer: None,
        }
    }

    /// This store, telling `observer` of every transcript line it appends.
    pub fn observed(mut self, observer: smol::channel::Sender<super::Notice>) -> Store {
        self.observer = Some(observer);
        self
    }

    /// Marks a session as having runs running or queued (or no longer).
    pub fn set_busy(&self, key: &str, busy: bool) {
        let mut set = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if busy {
            set.insert(key.to_string());
        } else {
            set.remove(key);
        }
    }

    /// The summary of `agent_id`'s sessions, if its index has been loaded.
    pub fn summary(&self, agent_id: &str) -> Option<Summary> {
        self.summaries.lock().unwrap_or_else(|e| e.into_inner()).get(agent_id).cloned()
    }

    fn note(&self, agent_id: &str, sessions: &AgentSessions) {
        self.summaries.lock().unwrap_or_else(|e| e.into_inner()).insert(agent_id.to_string(), summarize(&sessions.index));
    }

    /// `<state>/agents/<agentId>/sessions`.
    pub fn sessions_dir(&self, agent_id: &str) -> PathBuf {
        self.state_dir.join("agents").join(agent_id).join("sessions")
    }

    pub fn transcript_path(&self, agent_id: &str, entry: &SessionEntry) -> PathBuf {
        self.sessions_dir(agent_id).join(transcript_name(entry))
    }

    /// Locks the store with `agent_id`'s index loaded.
    async fn lock(&self, agent_id: &str) -> io::Result<smol::lock::MutexGuard<'_, HashMap<String, AgentSessions>>> {
        let mut guard = self.agents.lock().await;
        if !guard.contains_key(agent_id) {
            let dir = self.sessions_dir(agent_id);
            let loaded = smol::unblock(move || load(&dir)).await?;
            self.note(agent_id, &loaded);
            guard.insert(agent_id.to_string(), loaded);
        }
        Ok(guard)
    }

    pub async fn get(&self, key: &SessionKey) -> io::Result<Option<SessionEntry>> {
        let mut guard = self.lock(&key.agent_id).await?;
        Ok(loaded(&mut guard, &key.agent_id)?.index.get(key.to_string().as_str()).map(|e| SessionEntry::clone(e)))
    }

    /// The session for `key`, created (with its transcript) when it does not exist yet; making
    /// room for it by `policy` first. Returns the entry and whether it was created; a created
    /// session is in the index on disk when this returns.
    pub async fn ensure(&self, key: &SessionKey, cwd: &Path, policy: &Maintenance) -> io::Result<(SessionEntry, bool)> {
        let mut guard = self.lock(&key.agent_id).await?;
        let sessions = loaded(&mut guard, &key.agent_id)?;
        if let Some(e) = sessions.index.get(key.to_string().as_str()) {
            return Ok((SessionEntry::clone(e), false));
        }
        let entry = self.create(sessions, key, cwd, policy).await?;
        let index = snapshot(sessions, &key.agent_id);
        drop(guard);
        self.write(index).await?;
        Ok((entry, true))
    }

    /// Like [`Store::ensure`], then changes the entry with `f`, without waiting for the index
    /// write (started at once in the background). For a run: its model call should not wait
    /// for the fsyncs of a new session. The new transcript holds its header in the page cache,
    /// so it survives the process dying; the index write syncs it before naming it.
    pub async fn ensure_soon(
        self: &Arc<Self>,
        key: &SessionKey,
        cwd: &Path,
        policy: &Maintenance,
        f: impl FnOnce(&mut SessionEntry),
    ) -> io::Result<(SessionEntry, bool)> {
        let mut guard = self.lock(&key.agent_id).await?;
        let sessions = loaded(&mut guard, &key.agent_id)?;
        let created = !sessions.index.contains_key(key.to_string().as_str());
        if created {
            self.create(sessions, key, cwd, policy).await?;
        }
        let entry = sessions
            .index
            .get_mut(key.to_string().as_str())
            .map(Arc::make_mut)
            .ok_or_else(|| io::Error::other(format!("session {key} vanished while it was opened")))?;
        f(entry);
        let out = entry.clone();
        self.note(&key.agent_id, sessions);
        drop(guard);
        self.flush_after(&key.agent_id, std::time::Duration::ZERO);
        Ok((out, created))
    }

    /// Adds a new session for `key` to the index, after pruning by `policy`.
    async fn create(&self, sessions: &mut AgentSessions, key: &SessionKey, cwd: &Path, policy: &Maintenance) -> io::Result<SessionEntry> {
        let busy = self.busy.lock().unwrap_or_else(|e| e.into_inner()).clone();
        prune(sessions, &key.agent_id, policy, &busy, clock::now_ms()).await;
        let entry = self.new_session(sessions, key, cwd, None).await?;
        self.note(&key.agent_id, sessions);
        Ok(entry)
    }

    /// Writes an index snapshot unless a newer one of the same agent was written already;
    /// syncs the transcripts created before it first.
    async fn write(&self, index: IndexSnapshot) -> io::Result<()> {
        let mut written = self.index_writes.lock().await;
        self.write_locked(&mut written, index).await
    }

    /// [`Store::write`] with the index-writes lock already held.
    async fn write_locked(&self, written: &mut HashMap<String, u64>, index: IndexSnapshot) -> io::Result<()> {
        if written.get(&index.agent_id).is_some_and(|g| *g >= index.generation) {
            return Ok(());
        }
        let pending: Vec<PathBuf> = self.new_transcripts.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let index = smol::unblock(move || write_index(&index, &pending).map(|()| (index, pending))).await;
        let (index, synced) = index?;
        self.new_transcripts.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| !synced.contains(p));
        written.insert(index.agent_id, index.generation);
        Ok(())
    }

    /// Changes one entry and writes the index. `None` when the session does not exist.
    pub async fn update(&self, key: &SessionKey, f: impl FnOnce(&mut SessionEntry)) -> io::Result<Option<SessionEntry>> {
        let mut guard = self.lock(&key.agent_id).await?;
        let sessions = loaded(&mut guard, &key.agent_id)?;
        let Some(entry) = sessions.index.get_mut(key.to_string().as_str()).map(Arc::make_mut) else { return Ok(None) };
        f(entry);
        let out = entry.clone();
        self.note(&key.agent_id, sessions);
        let index = snapshot(sessions, &key.agent_id);
        drop(guard);
        self.write(index).await?;
        Ok(Some(out))
    }

    /// Like [`Store::update`] without waiting for the write: the index is written by a
    /// background task after `delay`, together with other changes made meanwhile. For
    /// bookkeeping that may lag a crash by that moment (a run's status and token counts); the
    /// transcript itself is written directly.
    pub async fn update_soon(
        self: &Arc<Self>,
        key: &SessionKey,
        delay: std::time::Duration,
        f: impl FnOnce(&mut SessionEntry),
    ) -> io::Result<Option<SessionEntry>> {
        let mut guard = self.lock(&key.agent_id).await?;
        let sessions = loaded(&mut guard, &key.agent_id)?;
        let Some(entry) = sessions.index.get_mut(key.to_string().as_str()).map(Arc::make_mut) else { return Ok(None) };
        f(entry);
        let out = entry.clone();
        self.note(&key.agent_id, sessions);
        drop(guard);
        self.flush_after(&key.agent_id, delay);
        Ok(Some(out))
    }

    /// Marks `agent_id`'s index as changed and makes sure a flush runs within `delay`: one
    /// delayed flush covers every change made before it runs; an immediate one is always started.
    fn flush_after(self: &Arc<Self>, agent_id: &str, delay: std::time::Duration) {
        let first = {
            let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
            let first = dirty.is_empty();
            dirty.insert(agent_id.to_string());
            first
        };
        if first || delay.is_zero() {
            let store = self.clone();
            crate::rt::spawn(async move {
                smol::Timer::after(delay).await;
                if let Err(e) = store.flush().await {
                    log::error!(target: "agent", "cannot write the session index: {e}");
                }
            })
            .detach();
        }
    }

    /// Writes every index with changes still waiting.
    pub async fn flush(&self) -> io::Result<()> {
        // The writer's turn first, then the snapshot: flushes queued behind a slow write (an SD
        // card's fsync) find their changes already written instead of each holding a snapshot.
        let mut written_guard = self.index_writes.lock().await;
        let agents: Vec<String> = self.dirty.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        let mut failed = None;
        for agent in agents {
            let index = match self.lock(&agent).await {
                Ok(mut guard) => loaded(&mut guard, &agent).map(|sessions| snapshot(sessions, &agent)),
                Err(e) => Err(e),
            };
            let written = match index {
                Ok(index) => self.write_locked(&mut written_guard, index).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                // Still owed: the next flush (at the latest, the one at shutdown) tries again.
                self.dirty.lock().unwrap_or_else(|e| e.into_inner()).insert(agent);
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Appends lines to the session's transcript (which must exist), synced to the disk, and
    /// returns their positions.
    pub async fn append(&self, key: &SessionKey, items: Vec<Append>) -> io::Result<Vec<Appended>> {
        self.append_with(key, items, true).await
    }

    /// Like [`Store::append`] without waiting for the disk: safe against the process dying, and
    /// made power-safe by the next synced append. A run writes its input this way so the model
    /// call does not wait for an SD card's `fsync`.
    pub async fn append_unsynced(&self, key: &SessionKey, items: Vec<Append>) -> io::Result<Vec<Appended>> {
        self.append_with(key, items, false).await
    }

    async fn append_with(&self, key: &SessionKey, items: Vec<Append>, sync: bool) -> io::Result<Vec<Appended>> {
        let mut guard = self.lock(&key.agent_id).await?;
        let sessions = loaded(&mut guard, &key.agent_id)?;
        let entry = sessions
            .index
            .get(key.to_string().as_str())
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("session {key} does not exist")))?;
        let path = sessions.dir.join(transcript_name(&entry));
        let mut cursor = match sessions.cursors.get(&entry.session_id) {
            Some(c) => c.clone(),
            None => {
                let p = path.clone();
                smol::unblock(move || find_cursor(&p)).await?
            }
        };
        let now = clock::now_ms();
        let ts = clock::utc(now).rfc3339(true);
        let mut lines = Vec::with_capacity(items.len());
        let mut placed = Vec::with_capacity(items.len());
        for item in items {
            let id = short_id();
            let mut line = json!({"type": "message", "id": id, "parentId": cursor.last_id, "seq": cursor.next_seq,
                                  "timestamp": ts, "message": item.message});
            if let Some(run) = item.run_id {
                line["runId"] = json!(run);
            }
            placed.push(Appended { seq: cursor.next_seq, id: id.clone() });
            cursor.next_seq = cursor.next_seq.saturating_add(1);
            cursor.last_id = Some(id);
            lines.push(line);
        }
        // The cursor moves before the write is awaited: if this future is dropped meanwhile the
        // lines may still land, and a reused sequence number would be worse than a gap.
        sessions.cursors.insert(entry.session_id.clone(), cursor);
        let lines = Arc::new(lines);
        let written = {
            let lines = lines.clone();
            smol::unblock(move || transcript::append(&path, &lines, sync)).await
        };
        if written.is_err() {
            // Nothing or part of it landed: read the position back from the file next time.
            sessions.cursors.remove(&entry.session_id);
        }
        drop(guard);
        if let (Ok(()), Some(observer)) = (&written, &self.observer) {
            for line in lines.iter() {
                let notice = super::Notice::Message { key: key.clone(), entry: entry.clone(), line: line.clone() };
                let _ = observer.send(notice).await;
            }
        }
        written.map(|_| placed)
    }

    /// The end of a session's transcript (at most `max_lines` lines from the last `max_bytes`).
    pub async fn read_tail(&self, key: &SessionKey, max_lines: usize, max_bytes: u64) -> io::Result<Option<(SessionEntry, Tail)>> {
        let Some(entry) = self.get(key).await? else { return Ok(None) };
        let path = self.transcript_path(&key.agent_id, &entry);
        let tail = smol::unblock(move || match transcript::read_tail(&path, max_lines, max_bytes) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Tail::default()),
            other => other,
        })
        .await?;
        Ok(Some((entry, tail)))
    }

    /// Starts a fresh transcript for `key` (a new session id); the old transcript is kept.
    /// Returns the previous session id and the new entry, or `None` if there was no session.
    pub async fn reset(&self, key: &SessionKey, cwd: &Path) -> io::Result<Option<(String, SessionEntry)>> {
        let mut guard = self.lock(&key.agent_id).await?;
        let sessions = loaded(&mut guard, &key.agent_id)?;
        let Some(old) = sessions.index.get(key.to_string().as_str()).cloned() else { return Ok(None) };
        let old = SessionEntry::clone(&old);
        let entry = self.new_session(sessions, key, cwd, Some(&old)).await?;
        self.note(&key.agent_id, sessions);
        let index = snapshot(sessions, &key.agent_id);
        drop(guard);
        self.write(index).await?;
        Ok(Some((old.session_id, entry)))
    }

    /// Removes `key` from the index. Its transcript is deleted or, by default, renamed aside
    /// (`<id>.jsonl.deleted.<ms>`) and listed as archived. `None` if there was no session.
    pub async fn delete(&self, key: &SessionKey, delete_transcript: bool) -> io::Result<Option<Vec<PathBuf>>> {
        let mut guard = self.lock(&key.agent_id).await?;
        let sessions = loaded(&mut guard, &key.agent_id)?;
        let Some(entry) = sessions.index.remove(key.to_string().as_str()) else { return Ok(None) };
        sessions.cursors.remove(&entry.session_id);
        self.note(&key.agent_id, sessions);
        let path = sessions.dir.join(transcript_name(&entry));
        let index = snapshot(sessions, &key.agent_id);
        drop(guard);
        self.write(index).await?;
        let archived = smol::unblock(move || -> io::Result<Vec<PathBuf>> {
            if !path.exists() {
                return Ok(Vec::new());
            }
            if delete_transcript {
                std::fs::remove_file(&path)?;
                return Ok(Vec::new());
            }
            let aside = PathBuf::from(format!("{}.deleted.{}", path.display(), clock::now_ms()));
            std::fs::rename(&path, &aside)?;
            Ok(vec![aside])
        })
        .await?;
        Ok(Some(archived))
    }

    /// Creates a new session (transcript header and index entry) for `key`, carrying labels and
    /// overrides over from `previous` on a reset.
    async fn new_session(
        &self,
        sessions: &mut AgentSessions,
        key: &SessionKey,
        cwd: &Path,
        previous: Option<&SessionEntry>,
    ) -> io::Result<SessionEntry> {
        let now = clock::now_ms();
        let session_id = crate::ids::uuid();
        let file = format!("{session_id}.jsonl");
        let mut header = json!({"type": "session", "version": 3, "id": session_id, "key": key.to_string(), "agentId": key.agent_id,
                                "timestamp": clock::utc(now).rfc3339(true), "cwd": cwd.display().to_string()});
        if let Some(p) = previous {
            header["parentSession"] = json!(p.session_id);
        }
        let dir = sessions.dir.clone();
        let path = dir.join(&file);
        let created = path.clone();
        smol::unblock(move || {
            crate::fsutil::create_private_dir(&dir)?;
            transcript::create(&path, &header)
        })
        .await?;
        self.new_transcripts.lock().unwrap_or_else(|e| e.into_inner()).push(created);
        let entry = SessionEntry {
            session_id: session_id.clone(),
            created_at: now,
            updated_at: now,
            label: previous.and_then(|p| p.label.clone()),
            model_override: previous.and_then(|p| p.model_override.clone()),
            display_name: previous.and_then(|p| p.display_name.clone()),
            previous_session_id: previous.map(|p| p.session_id.clone()),
            session_file: Some(file),
            ..Default::default()
        };
        sessions.cursors.insert(session_id, Cursor { next_seq: 1, last_id: None });
        sessions.index.insert(Arc::from(key.to_string()), Arc::new(entry.clone()));
        Ok(entry)
    }

    /// Every session of `agent_id`, by key.
    pub async fn list(&self, agent_id: &str) -> io::Result<Vec<(String, SessionEntry)>> {
        let mut guard = self.lock(agent_id).await?;
        Ok(loaded(&mut guard, agent_id)?.index.iter().map(|(k, e)| (k.to_string(), SessionEntry::clone(e))).collect())
    }

    /// Sessions per loaded agent, for status output.
    pub async fn count(&self, agent_id: &str) -> io::Result<usize> {
        let mut guard = self.lock(agent_id).await?;
        Ok(loaded(&mut guard, agent_id)?.index.len())
    }
}

/// Applies `policy` before a session is added: removes sessions idle longer than
/// `prune_after` and then the least recently updated beyond `max_entries - 1`, with their
/// transcripts. Sessions with a run in progress or waiting (`busy`) are kept. In warn mode only
/// logs.
async fn prune(sessions: &mut AgentSessions, agent_id: &str, policy: &Maintenance, busy: &std::collections::HashSet<String>, now: u64) {
    let stale_before = now.saturating_sub(policy.prune_after.as_millis() as u64);
    let over = (sessions.index.len() + 1).saturating_sub(policy.max_entries);
    // The usual case, checked without copying every key: nothing over the limit, nothing stale.
    if over == 0 && !sessions.index.values().any(|e| e.updated_at < stale_before) {
        return;
    }
    let mut candidates: Vec<(u64, String)> = sessions
        .index
        .iter()
        .filter(|(k, e)| e.status.as_deref() != Some("running") && !busy.contains(k.as_ref()))
        .map(|(k, e)| (e.updated_at, k.to_string()))
        .collect();
    candidates.sort();
    let doomed: Vec<String> = candidates
        .iter()
        .enumerate()
        .take_while(|(i, (updated, _))| *i < over || *updated < stale_before)
        .map(|(_, (_, k))| k.clone())
        .collect();
    if doomed.is_empty() {
        return;
    }
    if !policy.enforce {
        log::warn!(
            target: "agent",
            "agent {agent_id}: {} sessions are past session.maintenance limits (maxEntries {}, pruneAfter {} d); mode is warn, so they are kept",
            doomed.len(),
            policy.max_entries,
            policy.prune_after.as_secs() / 86_400
        );
        return;
    }
    let mut files = Vec::with_capacity(doomed.len());
    for key in &doomed {
        if let Some(entry) = sessions.index.remove(key.as_str()) {
            sessions.cursors.remove(&entry.session_id);
            files.push(sessions.dir.join(transcript_name(&entry)));
        }
    }
    log::info!(target: "agent", "agent {agent_id}: pruned {} sessions (session.maintenance)", doomed.len());
    let removed = smol::unblock(move || {
        for f in files {
            if let Err(e) = std::fs::remove_file(&f) {
                if e.kind() != io::ErrorKind::NotFound {
                    return Err(e);
                }
            }
        }
        Ok(())
    })
    .await;
    if let Err(e) = removed {
        log::warn!(target: "agent", "agent {agent_id}: could not remove a pruned transcript: {e}");
    }
}

/// An agent's sessions in a map that [`Store::lock`] loaded them into. Absent would be a
/// bug in this file; it is an error, not a panic, so a bug cannot stop the gateway.
fn loaded<'a>(agents: &'a mut HashMap<String, AgentSessions>, agent_id: &str) -> io::Result<&'a mut AgentSessions> {
    agents.get_mut(agent_id).ok_or_else(|| io::Error::other(format!("the sessions of agent {agent_id} are not loaded")))
}

fn short_id() -> String {
    let mut b = [0u8; 4];
    crate::ids::random_bytes(&mut b);
    crate::encoding::hex(&b)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) fn store() -> (Store, PathBuf) {
        let dir = std::env::temp_dir().join(format!("oc-store-{}", crate::ids::uuid()));
        (Store::new(&dir), dir)
    }

    #[test]
    fn sessions_are_created_appended_and_survive_a_reload() {
        let (store, dir) = store();
        let key = SessionKey::main("main");
        smol::block_on(async {
            let (entry, created) = store.ensure(&key, Path::new("/w"), &Maintenance::default()).await.unwrap();
            assert!(created);
            assert!(!store.ensure(&key, Path::new("/w"), &Maintenance::default()).await.unwrap().1);
            let placed = store
                .append(&key, vec![Append { message: json!({"role": "user", "content": "hi"}), run_id: Some("r1".into()) }])
                .await
                .unwrap();
            assert_eq!(placed[0].seq, 1);
            store.update(&key, |e| e.label = Some("Kitchen".into())).await.unwrap();
            assert_eq!(store.summary("main").unwrap().count, 1);
            assert_eq!(store.summary("main").unwrap().recent[0].0, "agent:main:main");

            // A new store (a restarted gateway) continues the numbering from the file.
            let again = Store::new(&dir);
            let got = again.get(&key).await.unwrap().unwrap();
            assert_eq!(got.session_id, entry.session_id);
            assert_eq!(got.label.as_deref(), Some("Kitchen"));
            let placed =
                again.append(&key, vec![Append { message: json!({"role": "assistant", "content": []}), run_id: None }]).await.unwrap();
            assert_eq!(placed[0].seq, 2);
            let (_, tail) = again.read_tail(&key, 10, 1 << 20).await.unwrap().unwrap();
            assert_eq!(tail.entries.len(), 3);
            assert_eq!(tail.entries[0]["key"], "agent:main:main");
            assert_eq!(tail.entries[2]["parentId"], tail.entries[1]["id"]);
        });
    }

    #[test]
    fn an_older_index_snapshot_never_overwrites_a_newer_one() {
        let (store, dir) = store();
        let key = SessionKey::main("main");
        smol::block_on(async {
            store.ensure(&key, Path::new("/w"), &Maintenance::default()).await.unwrap();
            let (older, newer) = {
                let mut guard = store.lock("main").await.unwrap();
                let sessions = loaded(&mut guard, "main").unwrap();
                Arc::make_mut(sessions.index.get_mut(key.to_string().as_str()).unwrap()).label = Some("old".into());
                let older = snapshot(sessions, "main");
                Arc::make_mut(sessions.index.get_mut(key.to_string().as_str()).unwrap()).label = Some("new".into());
                (older, snapshot(sessions, "main"))
            };
            // Two writers finishing out of order: the later snapshot wins.
            store.write(newer).await.unwrap();
            store.write(older).await.unwrap();
            let again = Store::new(&dir);
            assert_eq!(again.get(&key).await.unwrap().unwrap().label.as_deref(), Some("new"));
        });
    }

    #[test]
    fn a_session_opened_for_a_run_reaches_the_index_in_the_background_with_its_transcript_synced_first() {
        let (store, dir) = store();
        let store = Arc::new(store);
        let key = SessionKey::main("main");
        crate::rt::block_on(async {
            let (entry, created) =
                store.ensure_soon(&key, Path::new("/w"), &Maintenance::default(), |e| e.status = Some("running".into())).await.unwrap();
            assert!(created);
            assert_eq!(entry.status.as_deref(), Some("running"));
            assert!(store.transcript_path("main", &entry).exists(), "the transcript exists before the call returns");
            // The background write: wait for it without calling flush ourselves.
            let index = dir.join("agents/main/sessions").join(INDEX_FILE);
            for _ in 0..200 {
                if store.new_transcripts.lock().unwrap().is_empty() && index.exists() {
                    break;
                }
                smol::Timer::after(std::time::Duration::from_millis(10)).await;
            }
            assert!(store.new_transcripts.lock().unwrap().is_empty(), "the index write synced the new transcript");
            let again = Store::new(&dir);
            let got = again.get(&key).await.unwrap().expect("the new session is in the index on disk");
            assert_eq!(got.session_id, entry.session_id);
            // Read back as a restarted gateway would: the run's crash marker is on disk.
            assert_eq!(got.status.as_deref(), Some("failed"));
            assert!(got.last_run_error.unwrap_or_default().contains("interrupted"));
            let (_, opened_again) =
                store.ensure_soon(&key, Path::new("/w"), &Maintenance::default(), |e| e.status = Some("done".into())).await.unwrap();
            assert!(!opened_again);
        });
    }

    #[test]
    fn reset_starts_a_new_transcript_and_delete_archives_it() {
        let (store, _dir) = store();
        let key = SessionKey::main("main");
        smol::block_on(async {
            let (first, _) = store.ensure(&key, Path::new("/w"), &Maintenance::default()).await.unwrap();
            store.update(&key, |e| e.model_override = Some("a/b".into())).await.unwrap();
            let (old, fresh) = store.reset(&key, Path::new("/w")).await.unwrap().unwrap();
            assert_eq!(old, first.session_id);
            assert_ne!(fresh.session_id, first.session_id);
            assert_eq!(fresh.model_override.as_deref(), Some("a/b"), "overrides survive a reset");
            assert!(store.transcript_path("main", &first).exists(), "the old transcript is kept");
            let archived = store.delete(&key, false).await.unwrap().unwrap();
            assert_eq!(archived.len(), 1);
            assert!(archived[0].exists());
            assert!(store.get(&key).await.unwrap().is_none());
            assert!(store.delete(&key, false).await.unwrap().is_none());
            assert_eq!(store.summary("main"), Some(Summary::default()), "the summary follows deletions");
        });
    }

    #[test]
    fn delayed_updates_are_written_together_and_on_flush() {
        let (store, dir) = store();
        let store = Arc::new(store);
        let key = SessionKey::main("main");
        crate::rt::block_on(async {
            store.ensure(&key, Path::new("/w"), &Maintenance::default()).await.unwrap();
            store.update_soon(&key, crate::limits::SESSION_INDEX_FLUSH_DELAY, |e| e.output_tokens = 5).await.unwrap();
            store.update_soon(&key, crate::limits::SESSION_INDEX_FLUSH_DELAY, |e| e.output_tokens += 1).await.unwrap();
            assert_eq!(Store::new(&dir).get(&key).await.unwrap().unwrap().output_tokens, 0, "not written yet");
            assert_eq!(store.get(&key).await.unwrap().unwrap().output_tokens, 6, "but visible at once");
            store.flush().await.unwrap();
            assert_eq!(Store::new(&dir).get(&key).await.unwrap().unwrap().output_tokens, 6);
        });
    }

    #[test]
    fn maintenance_prunes_the_oldest_and_the_stale_but_never_a_running_session() {
        let (store, _dir) = store();
        let policy = Maintenance { enforce: true, prune_after: std::time::Duration::from_secs(3600), max_entries: 3 };
        let key = |n: u32| SessionKey::new("main", &format!("openai:{n}"));
        smol::block_on(async {
            for n in 0..3 {
                store.ensure(&key(n), Path::new("/w"), &policy).await.unwrap();
            }
            // 0 is the oldest but running, 2 has a run waiting; 1 is next in line.
            store.set_busy("agent:main:openai:2", true);
            store.update(&key(0), |e| (e.updated_at, e.status) = (1, Some("running".into()))).await.unwrap();
            store.update(&key(1), |e| e.updated_at = 2).await.unwrap();
            let doomed = store.get(&key(1)).await.unwrap().unwrap();
            store.ensure(&key(3), Path::new("/w"), &policy).await.unwrap();
            let keys: Vec<String> = store.list("main").await.unwrap().into_iter().map(|(k, _)| k).collect();
            assert_eq!(keys, ["agent:main:openai:0", "agent:main:openai:2", "agent:main:openai:3"]);
            assert!(!store.transcript_path("main", &doomed).exists(), "its transcript went with it");

            // Stale sessions go even below the cap; warn mode only reports.
            store.set_busy("agent:main:openai:2", false);
            store.update(&key(2), |e| e.updated_at = 5).await.unwrap();
            let roomy = Maintenance { max_entries: 100, ..policy };
            store.ensure(&key(4), Path::new("/w"), &Maintenance { enforce: false, ..roomy }).await.unwrap();
            assert_eq!(store.count("main").await.unwrap(), 4);
            store.ensure(&key(5), Path::new("/w"), &roomy).await.unwrap();
            let keys: Vec<String> = store.list("main").await.unwrap().into_iter().map(|(k, _)| k).collect();
            assert_eq!(keys, ["agent:main:openai:0", "agent:main:openai:3", "agent:main:openai:4", "agent:main:openai:5"]);
        });
    }
}
