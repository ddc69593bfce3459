//! Server-sent events (the WHATWG `text/event-stream` format): an incremental parser for streams
//! we read (model providers) and the encoder for streams we serve (the OpenAI-compatible API).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when the stream named the event.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Feeds bytes in as they arrive and hands out complete events. Lines may end in `\n`, `\r\n` or
/// `\r`; comments (`:`) and unknown fields are skipped. An event (or line) longer than the limit is an error,
/// so a broken upstream cannot make us buffer without bound.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// A `\r` ended the last line; a `\n` right after it belongs to the same line break.
    after_cr: bool,
    max_line: usize,
}

/// The stream broke the format or a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseError(pub String);

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl SseParser {
    pub fn new(max_line: usize) -> SseParser {
        SseParser { line: Vec::new(), event: None, data: String::new(), has_data: false, after_cr: false, max_line }
    }

    /// Parses `bytes`, appending every event it completes to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out);
                    if self.line.capacity() < 256 {
                        self.line = line;
                        self.line.clear();
                    }
                }
                _ => {
                    // The bound covers the whole event: many data lines join into one.
                    if self.line.len() + self.data.len() >= self.max_line {
                        return Err(SseError(format!("event stream event longer than {} bytes", self.max_line)));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    /// The event still being assembled when the stream ended without its blank line.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, &mut out);
        }
        self.line_done(b"", &mut out);
        out.pop()
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent { event: self.event.take(), data: std::mem::take(&mut self.data) });
            }
            self.event = None;
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            _ => {}
        }
    }
}

/// `data: <data>\n\n`, or with an `event:` line first. `data` must not contain line breaks (JSON
/// from serde never does).
pub fn encode(event: Option<&str>, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16 + event.map_or(0, |e| e.len() + 8));
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(text: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut p = SseParser::new(1024);
        let mut out = Vec::new();
        for part in text.chunks(piece) {
            p.feed(part, &mut out).unwrap();
        }
        out.extend(p.finish());
        out
    }

    #[test]
    fn events_survive_any_split_and_any_line_ending() {
        let text = b": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: x\rdata: y\r\rdata: [DONE]\n\n";
        for piece in 1..text.len() {
            let events = parse_in_pieces(text, piece);
            assert_eq!(
                events,
                vec![
                    SseEvent { event: Some("message_start".into()), data: "{\"a\":1}".into() },
                    SseEvent { event: None, data: "x\ny".into() },
                    SseEvent { event: None, data: "[DONE]".into() },
                ],
                "split every {piece} bytes"
            );
        }
    }

    #[test]
    fn a_stream_cut_before_its_blank_line_still_yields_the_event() {
        assert_eq!(parse_in_pieces(b"data: last", 3), vec![SseEvent { event: None, data: "last".into() }]);
        assert!(parse_in_pieces(b"event: only-a-name\n", 4).is_empty());
    }

    #[test]
    fn overlong_lines_are_refused() {
        let mut p = SseParser::new(8);
        let mut out = Vec::new();
        assert!(p.feed(b"data: 123456789", &mut out).is_err());
    }

    #[test]
    fn encodes_named_and_plain_events() {
        assert_eq!(encode(None, "[DONE]"), b"data: [DONE]\n\n");
        assert_eq!(encode(Some("response.created"), "{}"), b"event: response.created\ndata: {}\n\n");
    }

    #[test]
    fn an_event_of_many_short_data_lines_is_bounded_too() {
        let mut p = SseParser::new(1024);
        let mut out = Vec::new();
        let line = format!("data: {}\n", "x".repeat(100));
        let mut failed = None;
        for _ in 0..20 {
            if let Err(e) = p.feed(line.as_bytes(), &mut out) {
                failed = Some(e);
                break;
            }
        }
        assert!(failed.expect("refused before 2 KB").0.contains("longer than 1024"));
        assert!(out.is_empty());
    }
}
