//! Transcript files: one JSON object per line, append-only, one file per session under
//! `<state>/agents/<agentId>/sessions/<sessionId>.jsonl`. The first line is the session header.
//!
//! Crash safety: a written line survives the process dying (`kill -9`) at once, since it is in
//! the page cache; a synced append (`fdatasync`) also survives power loss, and syncs what was
//! written before it. A crash in the middle of an append can leave a torn last line; readers
//! skip it, and the next append cuts it off first, so nothing written before it is lost and the
//! file stays parseable. Reads only ever load the end of the file, so a long conversation costs no
//! more memory than a short one.

use crate::limits::TRANSCRIPT_SCAN_BLOCK;
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Creates a transcript with its header line. Fails if the file exists. Not synced: the
/// session store syncs it (and its directory) before it writes an index that names it.
pub fn create(path: &Path, header: &Value) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    let mut line = serde_json::to_vec(header).map_err(io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)
}

/// Appends `entries` as lines, after cutting off a torn last line if one is there; `sync`
/// waits for them (and everything before) to reach the disk.
pub fn append(path: &Path, entries: &[Value], sync: bool) -> io::Result<()> {
    let mut f = OpenOptions::new().read(true).append(true).open(path)?;
    if let Some(dropped) = repair_torn_tail(&mut f)? {
        log::warn!(target: "agent", "transcript {}: removed a torn last line ({dropped} bytes) left by a crash", path.display());
    }
    let mut buf = Vec::with_capacity(256 * entries.len());
    for e in entries {
        serde_json::to_writer(&mut buf, e).map_err(io::Error::other)?;
        buf.push(b'\n');
    }
    f.write_all(&buf)?;
    if sync { f.sync_data() } else { Ok(()) }
}

/// Truncates the file after its last newline when it does not end with one. Returns the number
/// of bytes removed.
fn repair_torn_tail(f: &mut File) -> io::Result<Option<u64>> {
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    f.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(None);
    }
    let mut end = len;
    let keep = loop {
        let start = end.saturating_sub(TRANSCRIPT_SCAN_BLOCK);
        let mut block = vec![0u8; (end - start) as usize];
        f.read_exact_at(&mut block, start)?;
        if let Some(i) = block.iter().rposition(|b| *b == b'\n') {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    f.set_len(keep)?;
    f.sync_data()?;
    Ok(Some(len - keep))
}

/// The end of a transcript.
#[derive(Debug, Default)]
pub struct Tail {
    /// Parsed lines in file order (the header included when the read reached it).
    pub entries: Vec<Value>,
    /// Whether the read reached the start of the file (nothing older exists).
    pub from_start: bool,
}

/// Reads at most the last `max_bytes` of the file and returns its last `max_lines` complete,
/// parseable lines. A torn last line and unparseable lines are skipped.
pub fn read_tail(path: &Path, max_lines: usize, max_bytes: u64) -> io::Result<Tail> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max_bytes);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.take(len - start).read_to_end(&mut buf)?;
    let mut body: &[u8] = &buf;
    if start > 0 {
        // The read began inside a line; that line belongs to the older part.
        body = body.iter().position(|b| *b == b'\n').and_then(|i| body.get(i + 1..)).unwrap_or_default();
    }
    // Only newline-terminated lines are complete.
    let complete = body.iter().rposition(|b| *b == b'\n').map(|i| i + 1).unwrap_or(0);
    let lines: Vec<&[u8]> = body.get(..complete).unwrap_or_default().split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let skip = lines.len().saturating_sub(max_lines);
    let mut entries = Vec::with_capacity(lines.len().saturating_sub(skip));
    for line in lines.iter().skip(skip) {
        match serde_json::from_slice::<Value>(line) {
            Ok(v) => entries.push(v),
            Err(e) => log::debug!(target: "agent", "transcript {}: skipping an unreadable line ({e})", path.display()),
        }
    }
    Ok(Tail { entries, from_start: start == 0 && skip == 0 })
}

/// The last complete line that parses and satisfies `want`, searching backwards from the end
/// one line at a time, however long the lines are. Lines longer than `max_line` are passed
/// over unread. Memory stays bounded by `max_line`; the cost is one backwards pass at most.
pub fn last_entry(path: &Path, max_line: u64, want: impl Fn(&Value) -> bool) -> io::Result<Option<Value>> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    // Only newline-terminated lines are complete: start from the last newline.
    let Some(mut end) = rfind_newline(&f, len)? else { return Ok(None) };
    loop {
        // The line is [start, end); `end` is its newline.
        let start = rfind_newline(&f, end)?.map(|i| i + 1).unwrap_or(0);
        if end - start <= max_line {
            let mut line = vec![0u8; (end - start) as usize];
            f.read_exact_at(&mut line, start)?;
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                if want(&v) {
                    return Ok(Some(v));
                }
            }
        }
        if start == 0 {
            return Ok(None);
        }
        end = start - 1;
    }
}

/// The position of the last newline before `end`.
fn rfind_newline(f: &File, mut end: u64) -> io::Result<Option<u64>> {
    let mut block = vec![0u8; TRANSCRIPT_SCAN_BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(TRANSCRIPT_SCAN_BLOCK);
        let Some(chunk) = block.get_mut(..(end - start) as usize) else { break };
        f.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

/// The header (first line) of a transcript, read with a small bound.
pub fn read_header(path: &Path) -> io::Result<Value> {
    let f = File::open(path)?;
    let mut first = Vec::new();
    f.take(64 * 1024).read_to_end(&mut first)?;
    let end = first.iter().position(|b| *b == b'\n').ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no header line"))?;
    serde_json::from_slice(first.get(..end).unwrap_or_default()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("oc-transcript-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn a_torn_last_line_is_skipped_then_cut_off_without_losing_earlier_lines() {
        let p = temp("s.jsonl");
        create(&p, &json!({"type": "session", "id": "s"})).unwrap();
        append(&p, &[json!({"n": 1}), json!({"n": 2})], true).unwrap();
        // A crash in the middle of the next append.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"n\": 3, \"text\": \"half a li").unwrap();
        drop(f);
        let tail = read_tail(&p, 100, 1 << 20).unwrap();
        assert_eq!(tail.entries.len(), 3, "header and two whole lines; the torn one is skipped");
        assert!(tail.from_start);
        append(&p, &[json!({"n": 4})], false).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.ends_with("{\"n\":2}\n{\"n\":4}\n"), "{text}");
        let ns: Vec<i64> = read_tail(&p, 100, 1 << 20).unwrap().entries.iter().filter_map(|e| e["n"].as_i64()).collect();
        assert_eq!(ns, vec![1, 2, 4]);
    }

    #[test]
    fn tail_reads_are_bounded_by_lines_and_bytes() {
        let p = temp("big.jsonl");
        create(&p, &json!({"type": "session"})).unwrap();
        let entries: Vec<Value> = (0..1000).map(|n| json!({"n": n, "pad": "x".repeat(100)})).collect();
        append(&p, &entries, true).unwrap();
        let tail = read_tail(&p, 10, 1 << 20).unwrap();
        assert_eq!(tail.entries.len(), 10);
        assert_eq!(tail.entries[9]["n"], 999);
        assert!(!tail.from_start);
        let tail = read_tail(&p, 1000, 4096).unwrap();
        assert!(tail.entries.len() < 40, "4 KiB holds only a few 120-byte lines");
        assert_eq!(tail.entries.last().unwrap()["n"], 999);
        assert_eq!(read_header(&p).unwrap()["type"], "session");
    }

    #[test]
    fn a_file_of_only_a_torn_line_is_emptied() {
        let p = temp("torn.jsonl");
        std::fs::write(&p, b"{\"type\":\"sess").unwrap();
        append(&p, &[json!({"n": 1})], true).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"n\":1}\n");
    }

    #[test]
    fn the_last_wanted_line_is_found_behind_a_line_longer_than_any_probe() {
        let p = temp("long.jsonl");
        create(&p, &json!({"type": "session"})).unwrap();
        append(&p, &[json!({"seq": 1}), json!({"seq": 2, "text": "y".repeat(300_000)})], true).unwrap();
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"{\"seq\": 3, \"torn").unwrap();
        let has_seq = |v: &Value| v["seq"].is_u64();
        assert_eq!(last_entry(&p, u64::MAX, has_seq).unwrap().unwrap()["seq"], 2, "the torn line is not complete");
        assert_eq!(last_entry(&p, 1000, has_seq).unwrap().unwrap()["seq"], 1, "too long to read, passed over");
        assert_eq!(last_entry(&p, u64::MAX, |v| v["type"] == "session").unwrap().unwrap()["type"], "session");
        assert!(last_entry(&p, u64::MAX, |v| v["type"] == "nothing").unwrap().is_none());
        let empty = temp("empty.jsonl");
        std::fs::write(&empty, b"").unwrap();
        assert!(last_entry(&empty, u64::MAX, has_seq).unwrap().is_none());
    }
}
