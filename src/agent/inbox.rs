//! Runs that were acknowledged survive a crash. `chat.send` answers `started`, `agent` answers
//! `accepted` and a hook answers `ok` as soon as the run is admitted, often while it still waits
//! behind the session's active run. Before that acknowledgement the run's input is appended to
//! `<state>/agents/inbox.jsonl` and synced; when the run ends, a line saying so follows. After a
//! restart every run without its end line is either resumed (it never started: its input is not
//! in the session's transcript) or left as it is (it started: the transcript holds its input and
//! the session index marks the run as interrupted). Nothing acknowledged is dropped silently.
//!
//! A graceful shutdown leaves queued runs in the inbox too, so they run after the next start.
//! The file is rewritten with only the unfinished runs once it passes [`INBOX_COMPACT_BYTES`].

use serde_json::{Value, json};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::limits::{INBOX_COMPACT_BYTES, INBOX_LINE_MAX_BYTES};

/// An acknowledged run, as the inbox keeps it: enough to submit it again.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub run_id: String,
    /// The session key as text (parsed again on resume).
    pub key: String,
    /// The run's input in the transcript's message form.
    pub input: Vec<Value>,
    /// `chat`, `agent`, `hook` or `wake` (see [`super::Origin`]).
    pub origin: String,
    pub model: Option<String>,
    pub channel: Option<String>,
    pub extra_system: Option<String>,
    pub timeout_ms: Option<u64>,
}

impl Accepted {
    fn to_line(&self) -> Value {
        json!({"op": "accepted", "runId": self.run_id, "key": self.key, "input": self.input, "origin": self.origin,
               "model": self.model, "channel": self.channel, "extraSystem": self.extra_system, "timeoutMs": self.timeout_ms,
               "at": crate::clock::now_ms()})
    }

    fn from_line(v: &Value) -> Option<Accepted> {
        let text = |k: &str| v[k].as_str().map(str::to_string);
        Some(Accepted {
            run_id: text("runId")?,
            key: text("key")?,
            input: v["input"].as_array()?.clone(),
            origin: text("origin")?,
            model: text("model"),
            channel: text("channel"),
            extra_system: text("extraSystem"),
            timeout_ms: v["timeoutMs"].as_u64(),
        })
    }
}

/// The inbox file and the runs in it that have not ended.
pub struct Inbox {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    file: Option<File>,
    /// Unfinished runs by id, with their order of arrival.
    open: HashMap<String, (u64, Accepted)>,
    next: u64,
    /// Bytes in the file (to know when to compact).
    size: u64,
}

impl Inbox {
    /// The inbox of a state directory; what it holds is read by [`Inbox::unfinished`].
    pub fn new(state_dir: &Path) -> Arc<Inbox> {
        Arc::new(Inbox { path: state_dir.join("agents").join("inbox.jsonl"), state: Mutex::new(State::default()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an acknowledged run, synced to disk before this returns. A run already in the
    /// inbox (a repeated idempotency key, or a resumed run) is not written twice.
    pub async fn accept(self: &Arc<Self>, run: Accepted) -> io::Result<()> {
        let me = self.clone();
        smol::unblock(move || {
            let mut st = me.lock();
            if st.open.contains_key(&run.run_id) {
                return Ok(());
            }
            let mut line = serde_json::to_vec(&run.to_line()).map_err(io::Error::other)?;
            line.push(b'\n');
            me.append(&mut st, &line, true)?;
            let n = st.next;
            st.next += 1;
            st.open.insert(run.run_id.clone(), (n, run));
            if st.size > INBOX_COMPACT_BYTES {
                me.compact(&mut st)?;
            }
            Ok(())
        })
        .await
    }

    /// Records that a run ended (however it ended). Not synced: lost only in a crash, after
    /// which the transcript shows that the run had started, and it is not run again.
    pub fn finish(&self, run_id: &str) {
        let mut st = self.lock();
        if st.open.remove(run_id).is_none() {
            return;
        }
        let line = format!("{}\n", json!({"op": "finished", "runId": run_id}));
        if let Err(e) = self.append(&mut st, line.as_bytes(), false) {
            log::warn!(target: "agent", "cannot record the end of run {run_id} in {}: {e}", self.path.display());
        }
    }

    fn append(&self, st: &mut State, bytes: &[u8], sync: bool) -> io::Result<()> {
        let f = match &mut st.file {
            Some(f) => f,
            slot => {
                if let Some(dir) = self.path.parent() {
                    crate::fsutil::create_private_dir(dir)?;
                }
                let f = OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path)?;
                st.size = f.metadata().map(|m| m.len()).unwrap_or(0);
                slot.insert(f)
            }
        };
        f.write_all(bytes)?;
        if sync {
            f.sync_data()?;
        }
        st.size += bytes.len() as u64;
        Ok(())
    }

    /// Rewrites the file with only the unfinished runs (atomically).
    fn compact(&self, st: &mut State) -> io::Result<()> {
        let mut runs: Vec<&(u64, Accepted)> = st.open.values().collect();
        runs.sort_by_key(|(n, _)| *n);
        let mut text = Vec::new();
        for (_, run) in runs {
            text.extend(serde_json::to_vec(&run.to_line()).map_err(io::Error::other)?);
            text.push(b'\n');
        }
        crate::fsutil::write_private_atomic(&self.path, &text)?;
        st.file = None;
        st.size = text.len() as u64;
        Ok(())
    }

    /// The runs acknowledged before the last stop that have not ended, in the order they
    /// arrived. Torn or unreadable lines (a crash in the middle of a write) are skipped.
    pub async fn unfinished(self: &Arc<Self>) -> io::Result<Vec<Accepted>> {
        let me = self.clone();
        smol::unblock(move || {
            let file = match File::open(&me.path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let mut order: Vec<String> = Vec::new();
            let mut open: HashMap<String, Accepted> = HashMap::new();
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = (&mut reader).take(INBOX_LINE_MAX_BYTES as u64 + 1).read_until(b'\n', &mut line)?;
                if n == 0 {
                    break;
                }
                if line.len() > INBOX_LINE_MAX_BYTES || line.last() != Some(&b'\n') {
                    // Too long to be ours, or torn: skip to the next line.
                    if line.last() != Some(&b'\n') {
                        let mut rest = Vec::new();
                        reader.read_until(b'\n', &mut rest)?;
                    }
                    continue;
                }
                let Ok(v) = serde_json::from_slice::<Value>(&line) else { continue };
                match v["op"].as_str() {
                    Some("accepted") => {
                        if let Some(run) = Accepted::from_line(&v) {
                            if !open.contains_key(&run.run_id) {
                                order.push(run.run_id.clone());
                            }
                            open.insert(run.run_id.clone(), run);
                        }
                    }
                    Some("finished") => {
                        if let Some(id) = v["runId"].as_str() {
                            open.remove(id);
                        }
                    }
                    _ => {}
                }
            }
            let runs: Vec<Accepted> = order.into_iter().filter_map(|id| open.remove(&id)).collect();
            // Start the file afresh with them (they are still owed).
            let mut st = me.lock();
            st.open.clear();
            for run in &runs {
                let n = st.next;
                st.next += 1;
                st.open.insert(run.run_id.clone(), (n, run.clone()));
            }
            me.compact(&mut st)?;
            Ok(runs)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str) -> Accepted {
        Accepted {
            run_id: id.into(),
            key: "agent:main:main".into(),
            input: vec![json!({"role": "user", "content": id})],
            origin: "chat".into(),
            model: None,
            channel: None,
            extra_system: None,
            timeout_ms: Some(1000),
        }
    }

    #[test]
    fn unfinished_runs_come_back_in_order_and_torn_lines_are_skipped() {
        smol::block_on(async {
            let dir = std::env::temp_dir().join(format!("oc-inbox-{}", crate::ids::uuid()));
            let inbox = Inbox::new(&dir);
            for id in ["a", "b", "c"] {
                inbox.accept(run(id)).await.unwrap();
            }
            inbox.accept(run("b")).await.unwrap();
            inbox.finish("a");
            // A crash in the middle of the next line.
            let mut f = OpenOptions::new().append(true).open(dir.join("agents/inbox.jsonl")).unwrap();
            f.write_all(br#"{"op":"accepted","runId":"d","key":"agent:ma"#).unwrap();
            drop(f);
            let again = Inbox::new(&dir);
            let ids: Vec<String> = again.unfinished().await.unwrap().into_iter().map(|r| r.run_id).collect();
            assert_eq!(ids, ["b", "c"]);
            assert_eq!(again.unfinished().await.unwrap(), vec![run("b"), run("c")], "rewritten with what is owed");
            again.finish("b");
            again.finish("c");
            assert!(Inbox::new(&dir).unfinished().await.unwrap().is_empty());
            std::fs::remove_dir_all(dir).ok();
        });
    }

    #[test]
    fn the_file_is_compacted_once_it_grows() {
        smol::block_on(async {
            let dir = std::env::temp_dir().join(format!("oc-inbox-{}", crate::ids::uuid()));
            let inbox = Inbox::new(&dir);
            let big = "x".repeat(10_000);
            for i in 0..200 {
                let mut r = run(&format!("r{i}"));
                r.input = vec![json!({"role": "user", "content": big})];
                inbox.accept(r).await.unwrap();
                inbox.finish(&format!("r{i}"));
            }
            let size = std::fs::metadata(dir.join("agents/inbox.jsonl")).unwrap().len();
            assert!(size <= INBOX_COMPACT_BYTES + 20_000, "{size}");
            std::fs::remove_dir_all(dir).ok();
        });
    }
}
