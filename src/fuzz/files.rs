//! The file targets: the transcript reader, the session store and the channel journal, each on a
//! torn or corrupted file.

use serde_json::json;
use std::time::Duration;

use super::{Input, scratch};
use crate::channels::journal::{Inbound, Journal};

/// The transcript reader on a torn or corrupted file: the bounded tail read, the backwards
/// search for the last wanted line, the header; then an append, which must cut a torn tail so
/// that the appended line reads back as the last one.
///
/// Input: three bytes choosing the line and byte bounds, then the file.
pub fn transcript(data: &[u8]) {
    use crate::agent::transcript as t;
    let mut input = Input::new(data);
    let max_lines = 1 + input.byte() as usize % 64;
    let max_bytes = [1, 7, 64, 1024, 16 * 1024, 1 << 20][input.byte() as usize % 6];
    let max_line = [0, 1, 16, 1024, u64::MAX][input.byte() as usize % 5];
    let path = scratch("transcript").join("s.jsonl");
    let _ = std::fs::write(&path, input.rest());
    if let Ok(tail) = t::read_tail(&path, max_lines, max_bytes) {
        assert!(tail.entries.len() <= max_lines, "read_tail returned {} lines for a bound of {max_lines}", tail.entries.len());
    }
    let _ = t::last_entry(&path, max_line, |v| v["seq"].is_u64());
    let _ = t::read_header(&path);
    let line = json!({"type": "message", "seq": 1, "fuzz": true});
    if t::append(&path, std::slice::from_ref(&line), false).is_ok() {
        let last = t::last_entry(&path, u64::MAX, |_| true).ok().flatten();
        assert_eq!(last.as_ref(), Some(&line), "the appended line is not the last one read back");
    }
}

/// The session store on a corrupted index (`sessions.json`) and transcript: loading (with the
/// rebuild from transcript headers when the index is unreadable), listing and the `SessionRow`
/// each entry becomes, tail reads, appends (which find the sequence number at the transcript's
/// end), creating a session under the maintenance policy, reset and delete. The index the store
/// writes back must read back.
///
/// Input: two bytes giving the index's length, the index, then the transcript (`t.jsonl`).
pub fn session_index(data: &[u8]) {
    use crate::agent::SessionKey;
    use crate::agent::store::{Append, INDEX_FILE, Store};
    let mut input = Input::new(data);
    let index_len = input.u16() as usize;
    let index = input.take(index_len);
    let root = scratch("session_index");
    let state = root.join("state");
    let sessions = state.join("agents").join("main").join("sessions");
    if std::fs::create_dir_all(&sessions).is_err() {
        return;
    }
    let _ = std::fs::write(sessions.join(INDEX_FILE), index);
    let _ = std::fs::write(sessions.join("t.jsonl"), input.rest());
    let store = Store::new(&state);
    let policy = crate::config::agents::Maintenance { enforce: true, prune_after: Duration::from_secs(3600), max_entries: 3 };
    smol::block_on(async {
        let Ok(list) = store.list("main").await else { return };
        for (key, entry) in list.iter().take(4) {
            let _ = crate::rpc::methods::sessions::row(key, entry, false);
            let Ok(k) = SessionKey::parse(key, "main", None) else { continue };
            if k.to_string() != *key || k.agent_id != "main" {
                continue;
            }
            let _ = store.read_tail(&k, 8, 4096).await;
            let _ = store.append(&k, vec![Append { message: json!({"role": "user", "content": "hi"}), run_id: None }]).await;
        }
        let _ = store.ensure(&SessionKey::main("main"), &root, &policy).await;
        if let Some((key, _)) = list.first() {
            if let Ok(k) = SessionKey::parse(key, "main", None) {
                let _ = store.reset(&k, &root).await;
                let _ = store.delete(&k, false).await;
            }
        }
    });
    if let Ok(bytes) = std::fs::read(sessions.join(INDEX_FILE)) {
        let parsed = serde_json::from_slice::<std::collections::BTreeMap<String, crate::agent::store::SessionEntry>>(&bytes);
        assert!(parsed.is_ok(), "the index the store wrote does not read back: {parsed:?}");
    }
}

/// The channel journal reader on a torn or corrupted file, then the steps that follow a
/// restart (record, reply, sent chunks, done, with the compaction they trigger). The journal
/// must read back after a reopen exactly as it stood.
///
/// Input: a byte choosing the steps, then the file.
pub fn channel_journal(data: &[u8]) {
    let mut input = Input::new(data);
    let steps = input.byte();
    let dir = scratch("channel_journal");
    let _ = std::fs::write(dir.join("journal.jsonl"), input.rest());
    let Ok(journal) = Journal::open(&dir) else { return };
    let pending = journal.pending();
    if steps & 1 != 0 {
        let msg = Inbound {
            id: "fuzz-1".into(),
            chat: "42".into(),
            sender: "7".into(),
            sender_label: "fuzz".into(),
            group: false,
            mentioned: false,
            text: "hello".into(),
            reply_to: None,
            cursor: Some("c1".into()),
            received_at: 1,
        };
        let _ = journal.record(&msg);
    }
    if let Some(first) = pending.first() {
        let id = first.msg.id.clone();
        if steps & 2 != 0 {
            let _ = journal.replied(&id, "answer");
        }
        if steps & 4 != 0 {
            let _ = journal.sent(&id, first.sent);
        }
        if steps & 8 != 0 {
            let _ = journal.done(&id, "delivered");
        }
    }
    let before: Vec<_> = journal.pending();
    let cursor = journal.cursor();
    drop(journal);
    let Ok(again) = Journal::open(&dir) else { return };
    assert_eq!(before, again.pending(), "the journal reads back differently after a reopen");
    assert_eq!(cursor, again.cursor(), "the journal cursor reads back differently after a reopen");
}
