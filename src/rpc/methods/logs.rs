//! `logs.tail {cursor?, limit?, maxBytes?}`: lines of the log file, by byte cursor, the way
//! `openclaw logs --follow` polls them. Without a cursor it returns the end of the file; with one,
//! what was appended since. `truncated` says lines were left out, `reset` that the file was
//! rotated or truncated under the cursor.

use serde_json::{Value, json};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::Call;
use crate::error::Error;
use crate::limits::{LOGS_TAIL_DEFAULT_LIMIT, LOGS_TAIL_DEFAULT_MAX_BYTES, LOGS_TAIL_MAX_BYTES, LOGS_TAIL_MAX_LIMIT};
use crate::rpc::params;

pub fn tail(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("logs.tail", p, &["cursor", "limit", "maxBytes"])?;
    let cursor = p.opt_int("cursor", 0, i64::MAX).map(|c| c as u64);
    let limit = p.opt_int("limit", 1, LOGS_TAIL_MAX_LIMIT as i64).map(|l| l as u64).unwrap_or(LOGS_TAIL_DEFAULT_LIMIT);
    let max_bytes = p.opt_int("maxBytes", 1, LOGS_TAIL_MAX_BYTES as i64).map(|m| m as u64).unwrap_or(LOGS_TAIL_DEFAULT_MAX_BYTES);
    p.done()?;
    let Some(file) = crate::logging::current_file() else {
        return Err(Error::unavailable("file logging is not available (see logging.file)"));
    };
    // The file is small and in /tmp (usually page cache or tmpfs); reading it inline takes well
    // under a millisecond, so it does not need a blocking-thread hop.
    read_tail(&file, cursor, limit as usize, max_bytes)
        .map_err(|e| Error::unavailable(format!("cannot read log file {}: {e}", file.display())))
}

/// The tail of `path` as a `LogsTailResult`.
pub fn read_tail(path: &Path, cursor: Option<u64>, limit: usize, max_bytes: u64) -> std::io::Result<Value> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    let mut reset = false;
    let mut truncated = false;
    let mut skipped = 0u64;
    let from_cursor = match cursor {
        Some(c) if c > size => {
            reset = true;
            None
        }
        other => other,
    };
    let (mut start, mid_line) = match from_cursor {
        Some(c) if size - c > max_bytes => {
            truncated = true;
            skipped = size - c - max_bytes;
            (size - max_bytes, true)
        }
        Some(c) => (c, false),
        None => {
            let s = size.saturating_sub(max_bytes);
            truncated = s > 0;
            (s, s > 0)
        }
    };
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((size - start) as usize);
    f.by_ref().take(size - start).read_to_end(&mut buf)?;
    let mut body: &[u8] = &buf;
    if mid_line {
        // We started inside a line; it belongs to the part left out.
        match body.iter().position(|b| *b == b'\n') {
            Some(i) => {
                start += i as u64 + 1;
                skipped += i as u64 + 1;
                body = body.get(i + 1..).unwrap_or_default();
            }
            None => {
                skipped += body.len() as u64;
                start += body.len() as u64;
                body = &[];
            }
        }
    }
    // Only whole lines; a line still being written is returned by the next call.
    let complete = body.iter().rposition(|b| *b == b'\n').map(|i| i + 1).unwrap_or(0);
    let new_cursor = start + complete as u64;
    let mut lines: Vec<String> = body
        .get(..complete)
        .unwrap_or_default()
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    if lines.len() > limit {
        lines.drain(..lines.len() - limit);
        truncated = true;
    }
    let mut out = json!({
        "file": path.display().to_string(),
        "cursor": new_cursor,
        "size": size,
        "lines": lines,
        "truncated": truncated,
        "reset": reset,
    });
    if skipped > 0 {
        out["skippedBytes"] = json!(skipped);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(lines: &[&str], partial: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("oc-tail-{}.log", crate::ids::uuid()));
        let mut text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        text.push_str(partial);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn tail_without_cursor_returns_last_lines_and_a_cursor_for_follow() {
        let p = file_with(&["a", "bb", "ccc"], "dd");
        let v = read_tail(&p, None, 2, 1000).unwrap();
        assert_eq!(v["lines"], json!(["bb", "ccc"]));
        assert_eq!(v["truncated"], true);
        assert_eq!(v["cursor"], 9, "cursor stops before the unfinished line");
        assert_eq!(v["size"], 11);
        std::fs::write(&p, "a\nbb\nccc\ndd\nee\n").unwrap();
        let v = read_tail(&p, Some(9), 100, 1000).unwrap();
        assert_eq!(v["lines"], json!(["dd", "ee"]));
        assert_eq!(v["truncated"], false);
        assert_eq!(v["cursor"], 15);
        let v = read_tail(&p, Some(15), 100, 1000).unwrap();
        assert_eq!(v["lines"], json!([]));
        std::fs::remove_file(p).ok();
    }

    #[test]
    fn byte_budget_drops_partial_lines_and_reports_skips() {
        let p = file_with(&["0123456789", "abcdefghij", "KLMNOPQRST"], "");
        let v = read_tail(&p, None, 100, 15).unwrap();
        assert_eq!(v["lines"], json!(["KLMNOPQRST"]));
        assert_eq!(v["truncated"], true);
        let v = read_tail(&p, Some(0), 100, 15).unwrap();
        assert_eq!(v["lines"], json!(["KLMNOPQRST"]));
        assert_eq!(v["skippedBytes"], 22);
        std::fs::remove_file(p).ok();
    }

    #[test]
    fn cursor_past_the_end_means_the_file_was_replaced() {
        let p = file_with(&["new"], "");
        let v = read_tail(&p, Some(10_000), 10, 1000).unwrap();
        assert_eq!(v["reset"], true);
        assert_eq!(v["lines"], json!(["new"]));
        std::fs::remove_file(p).ok();
    }
}
