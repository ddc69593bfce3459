//! The store on disk: reading an agent's index (set aside and rebuilt from the transcripts'
//! headers when unreadable, cleared of entries that point outside the directory), writing it
//! atomically, and finding where a transcript's numbering continues.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{AgentSessions, Cursor, INDEX_FILE, Index, SessionEntry};
use crate::agent::transcript;
use crate::clock;
use crate::limits::{SESSION_INDEX_MAX_BYTES, TRANSCRIPT_LINE_MAX_BYTES};

/// An agent's index as it is to be written: copied under the store's lock (the entries are
/// shared, so this is a copy of keys and pointers), serialized and written on a blocking thread
/// after the lock is released, so appends and reads never queue behind an index write.
pub(super) struct IndexSnapshot {
    pub(super) agent_id: String,
    dir: PathBuf,
    index: Vec<(Arc<str>, Arc<SessionEntry>)>,
    /// Orders one agent's snapshots: a write never replaces the index with an older one.
    pub(super) generation: u64,
}

/// A snapshot's list written as the JSON object the index file is.
struct AsMap<'a>(&'a [(Arc<str>, Arc<SessionEntry>)]);

impl serde::Serialize for AsMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, e)| (k, e)))
    }
}

pub(super) fn snapshot(sessions: &mut AgentSessions, agent_id: &str) -> IndexSnapshot {
    sessions.generation = sessions.generation.saturating_add(1);
    let index = sessions.index.iter().map(|(k, e)| (k.clone(), e.clone())).collect();
    IndexSnapshot { agent_id: agent_id.to_string(), dir: sessions.dir.clone(), index, generation: sessions.generation }
}

/// Writes `snapshot` atomically, after making `new_transcripts` (created since the last write,
/// header not yet synced) durable: after a power cut the index never names a transcript whose
/// header did not reach the disk. A transcript removed meanwhile is skipped. The directory sync
/// of the index's rename also makes the new transcripts' directory entries durable (same
/// directory).
pub(super) fn write_index(snapshot: &IndexSnapshot, new_transcripts: &[PathBuf]) -> io::Result<()> {
    for path in new_transcripts {
        match std::fs::File::open(path).and_then(|f| f.sync_all()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let bytes = serde_json::to_vec_pretty(&AsMap(&snapshot.index)).map_err(io::Error::other)?;
    crate::fsutil::write_private_atomic(&snapshot.dir.join(INDEX_FILE), &bytes)
}

pub(super) fn load(dir: &Path) -> io::Result<AgentSessions> {
    let path = dir.join(INDEX_FILE);
    let mut index = match std::fs::metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Index::new(),
        Err(e) => return Err(e),
        Ok(meta) => {
            let parsed = if meta.len() > SESSION_INDEX_MAX_BYTES {
                Err(format!("larger than {SESSION_INDEX_MAX_BYTES} bytes"))
            } else {
                serde_json::from_slice::<Index>(&std::fs::read(&path)?).map_err(|e| e.to_string())
            };
            match parsed {
                Ok(index) => index,
                Err(e) => {
                    let aside = PathBuf::from(format!("{}.corrupt-{}", path.display(), clock::now_ms()));
                    std::fs::rename(&path, &aside)?;
                    log::warn!(
                        target: "agent",
                        "{} was unreadable ({e}); kept it as {} and rebuilt the index from the transcripts",
                        path.display(),
                        aside.display()
                    );
                    rebuild(dir)
                }
            }
        }
    };
    // The index is outside data: a damaged or hand-edited entry must not make the store read,
    // append to, rename or delete a file outside this directory.
    index.retain(|key, entry| {
        let inside = plain_file_name(&transcript_name(entry));
        if !inside {
            log::warn!(
                target: "agent",
                "{}: session {key:?} names the transcript {:?}, which is not a file in this directory; the entry is ignored",
                path.display(),
                transcript_name(entry)
            );
        }
        inside
    });
    // A run that was in progress when the gateway died will never finish.
    for entry in index.values_mut() {
        if entry.status.as_deref() == Some("running") {
            let entry = Arc::make_mut(entry);
            entry.status = Some("failed".into());
            entry.last_run_error = Some("interrupted: the gateway stopped during the run".into());
        }
    }
    Ok(AgentSessions { dir: dir.to_path_buf(), index, cursors: HashMap::new(), generation: 0 })
}

/// The transcript file of `entry` inside its sessions directory.
pub(super) fn transcript_name(entry: &SessionEntry) -> String {
    entry.session_file.clone().unwrap_or_else(|| format!("{}.jsonl", entry.session_id))
}

/// Whether `name` names a file directly inside a directory (no separator, not `.` or `..`).
pub(super) fn plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// An index made from the transcripts' headers; where several transcripts claim a key, the most
/// recently written one wins.
pub(super) fn rebuild(dir: &Path) -> Index {
    let mut found: BTreeMap<String, (u64, SessionEntry)> = BTreeMap::new();
    let Ok(read) = std::fs::read_dir(dir) else { return Index::new() };
    for item in read.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".jsonl") {
            continue;
        }
        let Ok(header) = transcript::read_header(&item.path()) else { continue };
        let (Some(key), Some(id)) = (header["key"].as_str(), header["id"].as_str()) else { continue };
        let modified = item.metadata().ok().and_then(|m| m.modified().ok()).map(system_ms).unwrap_or(0);
        if found.get(key).is_some_and(|(m, _)| *m >= modified) {
            continue;
        }
        let entry = SessionEntry {
            session_id: id.to_string(),
            created_at: modified,
            updated_at: modified,
            session_file: Some(name),
            ..Default::default()
        };
        found.insert(key.to_string(), (modified, entry));
    }
    found.into_iter().map(|(k, (_, e))| (Arc::from(k), Arc::new(e))).collect()
}

pub(super) fn system_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The sequence number and id after the transcript's last line.
pub(super) fn find_cursor(path: &Path) -> io::Result<Cursor> {
    let last = match transcript::last_entry(path, TRANSCRIPT_LINE_MAX_BYTES, |e| e["seq"].is_u64()) {
        Ok(last) => last,
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    Ok(match last {
        // A damaged last line may carry u64::MAX: numbers then stay there rather than wrap to
        // 0 and repeat the transcript's.
        Some(e) => Cursor { next_seq: e["seq"].as_u64().unwrap_or(0).saturating_add(1), last_id: e["id"].as_str().map(str::to_string) },
        None => Cursor { next_seq: 1, last_id: None },
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::store;
    use super::super::*;
    use super::*;

    #[test]
    fn an_unreadable_index_is_rebuilt_from_transcript_headers() {
        let (store, dir) = store();
        let key = SessionKey::direct("main", "telegram", "42");
        smol::block_on(async {
            let (entry, _) = store.ensure(&key, Path::new("/w"), &Maintenance::default()).await.unwrap();
            store.update(&key, |e| e.status = Some("running".into())).await.unwrap();
            let index = dir.join("agents/main/sessions").join(INDEX_FILE);
            std::fs::write(&index, b"{\"agent:main:telegram:direct:42\": {\"sessionId\": ").unwrap();
            let again = Store::new(&dir);
            let got = again.get(&key).await.unwrap().expect("rebuilt from the header");
            assert_eq!(got.session_id, entry.session_id);
            let kept = std::fs::read_dir(dir.join("agents/main/sessions"))
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
            assert!(kept, "the unreadable index is kept aside");
        });
    }

    #[test]
    fn runs_interrupted_by_a_crash_are_marked_failed_on_load() {
        let (store, dir) = store();
        let key = SessionKey::main("main");
        smol::block_on(async {
            store.ensure(&key, Path::new("/w"), &Maintenance::default()).await.unwrap();
            store.update(&key, |e| e.status = Some("running".into())).await.unwrap();
            let got = Store::new(&dir).get(&key).await.unwrap().unwrap();
            assert_eq!(got.status.as_deref(), Some("failed"));
            assert!(got.last_run_error.unwrap().contains("interrupted"));
        });
    }

    #[test]
    fn numbering_continues_after_a_line_longer_than_any_read_window() {
        let (store, dir) = store();
        let key = SessionKey::main("main");
        smol::block_on(async {
            store.ensure(&key, Path::new("/w"), &Maintenance::default()).await.unwrap();
            let big = json!({"role": "user", "content": "z".repeat(3 * 1024 * 1024)});
            store.append(&key, vec![Append { message: json!({"role": "user", "content": "a"}), run_id: None }]).await.unwrap();
            assert_eq!(store.append(&key, vec![Append { message: big, run_id: None }]).await.unwrap()[0].seq, 2);
            let again = Store::new(&dir);
            let placed = again.append(&key, vec![Append { message: json!({"role": "user", "content": "b"}), run_id: None }]).await.unwrap();
            assert_eq!(placed[0].seq, 3);
        });
    }

    #[test]
    fn an_index_naming_files_outside_its_directory_is_not_followed() {
        let (store, dir) = store();
        let key = SessionKey::main("main");
        let sessions = dir.join("agents/main/sessions");
        std::fs::create_dir_all(&sessions).unwrap();
        let outside = dir.join("outside.jsonl");
        std::fs::write(&outside, b"{\"keep\":true}\n").unwrap();
        std::fs::write(
            sessions.join(INDEX_FILE),
            json!({"agent:main:main": {"sessionId": "a", "sessionFile": "../../../outside.jsonl"},
                   "agent:main:b": {"sessionId": "../../../outside"},
                   "agent:main:c": {"sessionId": "c", "sessionFile": "c.jsonl"}})
            .to_string(),
        )
        .unwrap();
        smol::block_on(async {
            let keys: Vec<String> = store.list("main").await.unwrap().into_iter().map(|(k, _)| k).collect();
            assert_eq!(keys, ["agent:main:c"], "entries naming other files are ignored");
            assert!(store.delete(&key, false).await.unwrap().is_none());
            assert!(store.delete(&SessionKey::new("main", "b"), true).await.unwrap().is_none());
        });
        assert_eq!(std::fs::read(&outside).unwrap(), b"{\"keep\":true}\n", "the file outside is untouched");
    }

    #[test]
    fn a_transcript_ending_at_the_largest_sequence_number_does_not_wrap_around() {
        use std::io::Write;
        let (store, dir) = store();
        let key = SessionKey::main("main");
        smol::block_on(async {
            let (entry, _) = store.ensure(&key, Path::new("/w"), &Maintenance::default()).await.unwrap();
            let path = store.transcript_path("main", &entry);
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap()
                .write_all(format!("{}\n", json!({"type": "message", "seq": u64::MAX})).as_bytes())
                .unwrap();
            let again = Store::new(&dir);
            let msg = || vec![Append { message: json!({"role": "user", "content": "x"}), run_id: None }];
            assert_eq!(again.append(&key, msg()).await.unwrap()[0].seq, u64::MAX);
            assert_eq!(again.append(&key, msg()).await.unwrap()[0].seq, u64::MAX);
        });
    }

    #[test]
    fn an_index_too_large_to_read_is_set_aside_and_rebuilt() {
        let (store, dir) = store();
        let key = SessionKey::main("main");
        smol::block_on(async {
            let (entry, _) = store.ensure(&key, Path::new("/w"), &Maintenance::default()).await.unwrap();
            let index = dir.join("agents/main/sessions").join(INDEX_FILE);
            // A sparse file: large on paper, no disk used.
            std::fs::OpenOptions::new().write(true).open(&index).unwrap().set_len(SESSION_INDEX_MAX_BYTES + 1).unwrap();
            let got = Store::new(&dir).get(&key).await.unwrap().expect("rebuilt from the header");
            assert_eq!(got.session_id, entry.session_id);
        });
    }
}
