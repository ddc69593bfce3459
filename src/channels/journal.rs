//! The durable ingress journal of one channel: every inbound message is appended (and fsynced)
//! before the service is told it was received, and every step after that — the answer, each
//! delivered chunk, the end — is appended too. After a crash or `kill -9` the journal says exactly
//! what is left to do, so a message is neither lost nor answered twice.
//!
//! The file is JSON lines (`<state>/channels/<id>/journal.jsonl`). A torn last line (a crash in
//! the middle of an append) is ignored and cut off. The file is rewritten, atomically, with only
//! the unfinished entries and the recent ids when it grows past [`JOURNAL_COMPACT_BYTES`].
//!
//! The one window left: a chunk the service accepted just before a crash, whose `sent` line did
//! not reach the disk, is sent again after the restart. Discord dedupes that resend by its nonce;
//! the Telegram and WhatsApp APIs have no idempotency key, so there it is at most one duplicate
//! chunk per crash, never a lost message.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::limits::{JOURNAL_COMPACT_BYTES, JOURNAL_LINE_MAX_BYTES, JOURNAL_SEEN_IDS};

/// A message as a channel received it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Inbound {
    /// The service's id for this message (or update); repeats are recognised by it.
    pub id: String,
    /// Where the answer goes (chat, channel or phone number).
    pub chat: String,
    pub sender: String,
    #[serde(default)]
    pub sender_label: String,
    #[serde(default)]
    pub group: bool,
    /// The bot was mentioned (or replied to) in a group message.
    #[serde(default)]
    pub mentioned: bool,
    pub text: String,
    /// The service's message id to reply to.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Service position to resume from once this message is on disk (Telegram's next offset,
    /// Discord's session and sequence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default)]
    pub received_at: u64,
}

/// How far an entry got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub msg: Inbound,
    /// The answer, once the agent gave one (chunks are cut from it the same way every time).
    pub reply: Option<String>,
    /// Chunks of `reply` already delivered.
    pub sent: usize,
}

struct Inner {
    path: PathBuf,
    file: Option<File>,
    bytes: u64,
    pending: Vec<Entry>,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
    cursor: Option<String>,
}

/// One channel's journal. Appends are serialised by a mutex and fsynced before they return.
pub struct Journal {
    inner: Mutex<Inner>,
}

#[derive(Deserialize)]
struct Line {
    op: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    msg: Option<Inbound>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    chunk: Option<usize>,
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    value: Option<String>,
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and replays it.
    pub fn open(dir: &Path) -> io::Result<Journal> {
        crate::fsutil::create_private_dir(dir)?;
        let path = dir.join("journal.jsonl");
        let mut inner = Inner {
            path: path.clone(),
            file: None,
            bytes: 0,
            pending: Vec::new(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            cursor: None,
        };
        match File::open(&path) {
            Ok(f) => replay(&mut inner, f)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Start every run from a compact file: it drops a torn tail and finished entries.
        inner.compact()?;
        Ok(Journal { inner: Mutex::new(inner) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a received message. `Ok(false)` when it was seen before (a redelivery): nothing
    /// is written and the caller acknowledges it again without processing it twice.
    pub fn record(&self, msg: &Inbound) -> io::Result<bool> {
        let mut j = self.lock();
        if j.seen.contains(&msg.id) {
            return Ok(false);
        }
        j.append(&json!({"op": "in", "msg": msg}))?;
        j.remember(&msg.id);
        if msg.cursor.is_some() {
            j.cursor = msg.cursor.clone();
        }
        j.pending.push(Entry { msg: msg.clone(), reply: None, sent: 0 });
        Ok(true)
    }

    /// Moves the service position without a message (e.g. Telegram updates that carry none).
    pub fn set_cursor(&self, cursor: &str) -> io::Result<()> {
        let mut j = self.lock();
        if j.cursor.as_deref() == Some(cursor) {
            return Ok(());
        }
        j.append(&json!({"op": "cursor", "value": cursor}))?;
        j.cursor = Some(cursor.to_string());
        Ok(())
    }

    pub fn cursor(&self) -> Option<String> {
        self.lock().cursor.clone()
    }

    /// The answer to `id` is known; it is delivered from here even after a restart.
    pub fn replied(&self, id: &str, text: &str) -> io::Result<()> {
        let mut j = self.lock();
        j.append(&json!({"op": "reply", "id": id, "text": text}))?;
        if let Some(e) = j.pending.iter_mut().find(|e| e.msg.id == id) {
            e.reply = Some(text.to_string());
        }
        Ok(())
    }

    /// Chunk `chunk` of the answer to `id` was delivered.
    pub fn sent(&self, id: &str, chunk: usize) -> io::Result<()> {
        let mut j = self.lock();
        j.append(&json!({"op": "sent", "id": id, "chunk": chunk}))?;
        if let Some(e) = j.pending.iter_mut().find(|e| e.msg.id == id) {
            e.sent = e.sent.max(chunk.saturating_add(1));
        }
        Ok(())
    }

    /// `id` needs nothing more (answered, refused by policy, or given up on).
    pub fn done(&self, id: &str, result: &str) -> io::Result<()> {
        let mut j = self.lock();
        j.append(&json!({"op": "done", "id": id, "result": result}))?;
        j.pending.retain(|e| e.msg.id != id);
        if j.bytes > JOURNAL_COMPACT_BYTES {
            j.compact()?;
        }
        Ok(())
    }

    /// Entries not finished, oldest first.
    pub fn pending(&self) -> Vec<Entry> {
        self.lock().pending.clone()
    }
}

impl Inner {
    fn remember(&mut self, id: &str) {
        if self.seen.insert(id.to_string()) {
            self.seen_order.push_back(id.to_string());
        }
        while self.seen_order.len() > JOURNAL_SEEN_IDS {
            if let Some(old) = self.seen_order.pop_front() {
                // An id still pending stays known however old it is.
                if !self.pending.iter().any(|e| e.msg.id == old) {
                    self.seen.remove(&old);
                }
            }
        }
    }

    fn append(&mut self, line: &Value) -> io::Result<()> {
        let mut bytes = serde_json::to_vec(line).map_err(io::Error::other)?;
        bytes.push(b'\n');
        let f = match &mut self.file {
            Some(f) => f,
            slot => slot.insert(OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path)?),
        };
        f.write_all(&bytes)?;
        f.sync_data()?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Rewrites the file with what still matters, atomically.
    fn compact(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        let mut push = |v: Value| {
            out.extend(serde_json::to_vec(&v).unwrap_or_default());
            out.push(b'\n');
        };
        let done: Vec<&String> = self.seen_order.iter().filter(|id| !self.pending.iter().any(|e| &e.msg.id == *id)).collect();
        if !done.is_empty() {
            push(json!({"op": "seen", "ids": done}));
        }
        for e in &self.pending {
            push(json!({"op": "in", "msg": e.msg}));
            if let Some(r) = &e.reply {
                push(json!({"op": "reply", "id": e.msg.id, "text": r}));
            }
            // One line says it: the replay takes the highest chunk sent. (A line per chunk made
            // a damaged count of a billion a billion lines.)
            if let Some(last) = e.sent.checked_sub(1) {
                push(json!({"op": "sent", "id": e.msg.id, "chunk": last}));
            }
        }
        // Last, so it wins over the cursors the pending entries carry.
        if let Some(c) = &self.cursor {
            push(json!({"op": "cursor", "value": c}));
        }
        self.file = None;
        crate::fsutil::write_private_atomic(&self.path, &out)?;
        self.bytes = out.len() as u64;
        Ok(())
    }
}

/// Reads the journal into `inner`. Lines that are not valid (a torn tail, or an oversized line)
/// are skipped; the compaction that follows drops them from the file.
fn replay(inner: &mut Inner, f: File) -> io::Result<()> {
    let mut reader = BufReader::new(f);
    let mut buf = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    // Indices into `pending` whose message was answered in full. A separate set, not a marker
    // in the entry: any string, the empty one included, is a service's message id.
    let mut finished: HashSet<usize> = HashSet::new();
    loop {
        buf.clear();
        let n = (&mut reader).take(JOURNAL_LINE_MAX_BYTES as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            if n > JOURNAL_LINE_MAX_BYTES {
                // Skip the rest of an oversized line.
                let mut sink = Vec::new();
                reader.read_until(b'\n', &mut sink)?;
                log::warn!(target: "channels", "{}: skipped a journal line longer than {JOURNAL_LINE_MAX_BYTES} bytes", inner.path.display());
            }
            // Otherwise a torn last line: the append never finished, so nothing was acknowledged.
            continue;
        }
        let Ok(line) = serde_json::from_slice::<Line>(&buf) else { continue };
        match (line.op.as_str(), line.id) {
            ("in", _) => {
                if let Some(msg) = line.msg {
                    if let Some(c) = &msg.cursor {
                        inner.cursor = Some(c.clone());
                    }
                    if !inner.seen.contains(&msg.id) {
                        by_id.insert(msg.id.clone(), inner.pending.len());
                        inner.remember(&msg.id);
                        inner.pending.push(Entry { msg, reply: None, sent: 0 });
                    }
                }
            }
            ("seen", _) => {
                for id in line.ids.unwrap_or_default() {
                    inner.remember(&id);
                }
            }
            // A cursor line without its value is as damaged as an unreadable one: skipped,
            // not taken as "no cursor" (the compaction would then write a file that reads back
            // with the pending entries' cursor instead).
            ("cursor", _) if line.value.is_some() => inner.cursor = line.value,
            ("cursor", _) => {}
            ("reply", Some(id)) => {
                if let Some(&i) = by_id.get(&id) {
                    inner.pending[i].reply = line.text;
                }
            }
            ("sent", Some(id)) => {
                if let (Some(&i), Some(chunk)) = (by_id.get(&id), line.chunk) {
                    inner.pending[i].sent = inner.pending[i].sent.max(chunk.saturating_add(1));
                }
            }
            ("done", Some(id)) => {
                if let Some(i) = by_id.remove(&id) {
                    finished.insert(i);
                }
            }
            _ => {}
        }
    }
    let replayed = std::mem::take(&mut inner.pending);
    inner.pending = replayed.into_iter().enumerate().filter(|(i, _)| !finished.contains(i)).map(|(_, e)| e).collect();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("openclaw-journal-{tag}-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn msg(id: &str) -> Inbound {
        Inbound {
            id: id.into(),
            chat: "42".into(),
            sender: "7".into(),
            sender_label: "u".into(),
            group: false,
            mentioned: false,
            text: format!("hello {id}"),
            reply_to: None,
            cursor: Some(format!("c{id}")),
            received_at: 1,
        }
    }

    #[test]
    fn steps_survive_a_reopen_and_finished_entries_do_not_come_back() {
        let d = dir("reopen");
        let j = Journal::open(&d).unwrap();
        assert!(j.record(&msg("1")).unwrap());
        assert!(j.record(&msg("2")).unwrap());
        assert!(!j.record(&msg("1")).unwrap(), "a redelivery is recognised");
        j.replied("1", "answer").unwrap();
        j.sent("1", 0).unwrap();
        j.done("2", "delivered").unwrap();
        drop(j);
        let j = Journal::open(&d).unwrap();
        let p = j.pending();
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].msg.id.as_str(), p[0].reply.as_deref(), p[0].sent), ("1", Some("answer"), 1));
        assert_eq!(j.cursor().as_deref(), Some("c2"));
        assert!(!j.record(&msg("2")).unwrap(), "a finished id is still known after a restart");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_empty_message_id_is_an_id_like_any_other_across_a_reopen() {
        // Found by fuzzing: the replay once marked finished entries by clearing their id, so a
        // pending message whose service id was "" vanished on restart.
        let d = dir("empty-id");
        let j = Journal::open(&d).unwrap();
        assert!(j.record(&msg("")).unwrap());
        assert!(j.record(&msg("2")).unwrap());
        j.done("2", "delivered").unwrap();
        drop(j);
        let j = Journal::open(&d).unwrap();
        assert_eq!(j.pending().iter().map(|e| e.msg.id.clone()).collect::<Vec<_>>(), [""]);
        assert!(!j.record(&msg("")).unwrap(), "its redelivery is recognised");
        j.done("", "delivered").unwrap();
        drop(j);
        assert!(Journal::open(&d).unwrap().pending().is_empty(), "and once finished it stays finished");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_ignored() {
        let d = dir("torn");
        let j = Journal::open(&d).unwrap();
        j.record(&msg("1")).unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(d.join("journal.jsonl")).unwrap();
        f.write_all(br#"{"op":"in","msg":{"id":"2","chat":"4"#).unwrap();
        drop(f);
        let j = Journal::open(&d).unwrap();
        assert_eq!(j.pending().iter().map(|e| e.msg.id.clone()).collect::<Vec<_>>(), ["1"]);
        j.record(&msg("3")).unwrap();
        drop(j);
        let j = Journal::open(&d).unwrap();
        assert_eq!(j.pending().len(), 2, "appends after a torn line are readable");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_cursor_line_without_its_value_is_skipped() {
        let d = dir("cursorless");
        let mut text = serde_json::to_string(&json!({"op": "in", "msg": msg("1")})).unwrap();
        text.push_str("\n{\"op\":\"cursor\"}\n{\"op\":\"cursor\",\"value\":null}\n");
        std::fs::write(d.join("journal.jsonl"), text).unwrap();
        let j = Journal::open(&d).unwrap();
        assert_eq!(j.cursor().as_deref(), Some("c1"));
        drop(j);
        assert_eq!(Journal::open(&d).unwrap().cursor().as_deref(), Some("c1"), "and the compacted file reads back the same");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_damaged_chunk_count_neither_overflows_nor_blows_up_the_compaction() {
        let d = dir("chunks");
        let lines = [
            json!({"op": "in", "msg": msg("1")}),
            json!({"op": "sent", "id": "1", "chunk": u64::MAX}),
            json!({"op": "in", "msg": msg("2")}),
            json!({"op": "sent", "id": "2", "chunk": 1_000_000_000_000u64}),
        ];
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(d.join("journal.jsonl"), text).unwrap();
        let j = Journal::open(&d).unwrap();
        let sent: Vec<usize> = j.pending().iter().map(|e| e.sent).collect();
        assert_eq!(sent, [usize::MAX, 1_000_000_000_001]);
        assert!(std::fs::metadata(d.join("journal.jsonl")).unwrap().len() < 4096, "one line per entry's chunks");
        drop(j);
        let again: Vec<usize> = Journal::open(&d).unwrap().pending().iter().map(|e| e.sent).collect();
        assert_eq!(again, sent);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn compaction_keeps_what_matters_and_bounds_the_file() {
        let d = dir("compact");
        let j = Journal::open(&d).unwrap();
        for i in 0..3000 {
            let id = i.to_string();
            j.record(&msg(&id)).unwrap();
            j.replied(&id, &"x".repeat(200)).unwrap();
            j.done(&id, "delivered").unwrap();
        }
        j.record(&msg("last")).unwrap();
        let size = std::fs::metadata(d.join("journal.jsonl")).unwrap().len();
        assert!(size < JOURNAL_COMPACT_BYTES + 4096, "journal is {size} bytes");
        assert!(!j.record(&msg("2999")).unwrap(), "recent ids survive compaction");
        drop(j);
        let j = Journal::open(&d).unwrap();
        assert_eq!(j.pending().len(), 1);
        assert!(!j.record(&msg("2990")).unwrap());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
