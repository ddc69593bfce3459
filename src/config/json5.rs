//! A JSON5 reader producing `serde_json::Value`, for config files written by people and by
//! OpenClaw: comments, trailing commas, unquoted keys, single-quoted strings, hex numbers,
//! leading/trailing decimal points, explicit `+`, and line continuations inside strings.
//!
//! `Infinity` and `NaN` are valid JSON5 but have no JSON representation; they are rejected with
//! a message instead of being silently turned into something else. Errors carry line and column.

use serde_json::{Map, Number, Value};
use std::fmt;

use crate::limits::JSON5_MAX_DEPTH;

/// A syntax error with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json5Error {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Json5Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {} column {}", self.message, self.line, self.column)
    }
}

/// Parses one JSON5 document.
pub fn parse(text: &str) -> Result<Value, Json5Error> {
    let mut p = Parser { src: text.as_bytes(), text, pos: 0, depth: 0 };
    // A UTF-8 byte-order mark is tolerated, as editors on some systems add one.
    if text.starts_with('\u{feff}') {
        p.pos = 3;
    }
    p.skip_ws()?;
    let value = p.value()?;
    p.skip_ws()?;
    if p.pos < p.src.len() {
        return Err(p.error("unexpected content after the end of the document"));
    }
    Ok(value)
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    /// The text not read yet (empty if the position ever fell inside a character).
    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn error(&self, message: impl Into<String>) -> Json5Error {
        let upto = crate::encoding::prefix_within(self.text, self.pos);
        let line = upto.matches('\n').count() + 1;
        let column = upto.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        Json5Error { line, column, message: message.into() }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_char(&self) -> Option<char> {
        self.text.get(self.pos..).and_then(|s| s.chars().next())
    }

    /// Skips white space (JSON5 allows all Unicode space separators) and comments.
    fn skip_ws(&mut self) -> Result<(), Json5Error> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) => self.pos += 1,
                Some(b'/') => match self.src.get(self.pos + 1) {
                    Some(b'/') => {
                        while let Some(c) = self.peek() {
                            if c == b'\n' {
                                break;
                            }
                            self.pos += 1;
                        }
                    }
                    Some(b'*') => {
                        let start = self.pos;
                        self.pos += 2;
                        loop {
                            match self.peek() {
                                None => {
                                    self.pos = start;
                                    return Err(self.error("unterminated block comment"));
                                }
                                Some(b'*') if self.src.get(self.pos + 1) == Some(&b'/') => {
                                    self.pos += 2;
                                    break;
                                }
                                Some(_) => self.pos += 1,
                            }
                        }
                    }
                    _ => return Ok(()),
                },
                Some(_) => match self.peek_char() {
                    Some(c) if is_unicode_space(c) => self.pos += c.len_utf8(),
                    _ => return Ok(()),
                },
                None => return Ok(()),
            }
        }
    }

    fn value(&mut self) -> Result<Value, Json5Error> {
        match self.peek() {
            None => Err(self.error("unexpected end of input, expected a value")),
            Some(b'{') => self.nested(|p| p.object()),
            Some(b'[') => self.nested(|p| p.array()),
            Some(b'"' | b'\'') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'+' | b'.' | b'0'..=b'9') => self.number(),
            Some(_) => {
                let word = self.identifier_word();
                match word.as_str() {
                    "null" => Ok(Value::Null),
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "Infinity" | "NaN" => Err(self.error(format!("{word} is not supported in OpenClaw config (no JSON equivalent)"))),
                    "" => Err(self.error(format!("unexpected character {:?}", self.peek_char().unwrap_or('?')))),
                    _ => Err(self.error(format!("unexpected word {word:?}; strings need quotes"))),
                }
            }
        }
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Result<Value, Json5Error>) -> Result<Value, Json5Error> {
        self.depth += 1;
        if self.depth > JSON5_MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {JSON5_MAX_DEPTH} levels")));
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn object(&mut self) -> Result<Value, Json5Error> {
        self.pos += 1; // '{'
        let mut map = Map::new();
        loop {
            self.skip_ws()?;
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Value::Object(map));
            }
            let key = match self.peek() {
                Some(b'"' | b'\'') => self.string()?,
                Some(_) => {
                    let key = self.identifier_name()?;
                    if key.is_empty() {
                        return Err(self.error("expected a property name or '}'"));
                    }
                    key
                }
                None => return Err(self.error("unterminated object, expected '}'")),
            };
            self.skip_ws()?;
            if self.peek() != Some(b':') {
                return Err(self.error(format!("expected ':' after property name {key:?}")));
            }
            self.pos += 1;
            self.skip_ws()?;
            let value = self.value()?;
            // JavaScript semantics: a repeated key keeps its last value.
            map.insert(key, value);
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                None => return Err(self.error("unterminated object, expected '}'")),
                Some(_) => return Err(self.error("expected ',' or '}' after a property value")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, Json5Error> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            if self.peek() == Some(b']') {
                self.pos += 1;
                return Ok(Value::Array(items));
            }
            items.push(self.value()?);
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                None => return Err(self.error("unterminated array, expected ']'")),
                Some(_) => return Err(self.error("expected ',' or ']' after an array element")),
            }
        }
    }

    /// A bare word made of identifier characters (used for literals like `true`).
    fn identifier_word(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek_char() {
            if c == '$' || c == '_' || c.is_alphanumeric() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        self.text.get(start..self.pos).unwrap_or_default().to_string()
    }

    /// An unquoted property name: ECMAScript IdentifierName, including `\u` escapes of four hex
    /// digits.
    fn identifier_name(&mut self) -> Result<String, Json5Error> {
        let mut name = String::new();
        while let Some(c) = self.peek_char() {
            if c == '\\' {
                if self.src.get(self.pos + 1) != Some(&b'u') {
                    return Err(self.error("invalid escape in property name"));
                }
                self.pos += 2;
                let ch = self.unicode_escape()?;
                name.push(ch);
                continue;
            }
            let ok = if name.is_empty() {
                c == '$' || c == '_' || c.is_alphabetic()
            } else {
                c == '$' || c == '_' || c.is_alphanumeric() || c == '\u{200c}' || c == '\u{200d}'
            };
            if !ok {
                break;
            }
            name.push(c);
            self.pos += c.len_utf8();
        }
        Ok(name)
    }

    fn string(&mut self) -> Result<String, Json5Error> {
        let quote = self.src[self.pos];
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek_char() else {
                self.pos = start;
                return Err(self.error("unterminated string"));
            };
            match c {
                _ if c as u32 == quote as u32 => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    self.pos += 1;
                    let Some(e) = self.peek_char() else {
                        return Err(self.error("unterminated string"));
                    };
                    self.pos += e.len_utf8();
                    match e {
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'v' => out.push('\u{b}'),
                        '0' if !matches!(self.peek(), Some(b'0'..=b'9')) => out.push('\0'),
                        '1'..='9' | '0' => return Err(self.error("octal escapes are not allowed in strings")),
                        'x' => {
                            let h = self.hex_digits(2)?;
                            out.push(char::from_u32(h).unwrap_or('\u{fffd}'));
                        }
                        'u' => out.push(self.unicode_escape()?),
                        // Line continuation: the backslash and the line terminator vanish.
                        '\n' | '\u{2028}' | '\u{2029}' => {}
                        '\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        other => out.push(other),
                    }
                }
                '\n' | '\r' => return Err(self.error("line break inside a string (escape it with \\n)")),
                _ => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    fn hex_digits(&mut self, n: usize) -> Result<u32, Json5Error> {
        let digits = self.text.get(self.pos..self.pos + n).ok_or_else(|| self.error("truncated escape"))?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| self.error("invalid hex digits in escape"))?;
        self.pos += n;
        Ok(v)
    }

    /// After `\u`: four hex digits, combining a UTF-16 surrogate pair when one follows.
    fn unicode_escape(&mut self) -> Result<char, Json5Error> {
        let hi = self.hex_digits(4)?;
        if (0xd800..0xdc00).contains(&hi) && self.rest().starts_with("\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex_digits(4)?;
            if (0xdc00..0xe000).contains(&lo) {
                let cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                return Ok(char::from_u32(cp).unwrap_or('\u{fffd}'));
            }
            self.pos = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{fffd}'))
    }

    fn number(&mut self) -> Result<Value, Json5Error> {
        let start = self.pos;
        let mut negative = false;
        if let Some(sign @ (b'+' | b'-')) = self.peek() {
            negative = sign == b'-';
            self.pos += 1;
        }
        let rest = self.rest();
        if rest.starts_with("Infinity") || rest.starts_with("NaN") {
            return Err(self.error("Infinity and NaN are not supported in OpenClaw config (no JSON equivalent)"));
        }
        if rest.starts_with("0x") || rest.starts_with("0X") {
            self.pos += 2;
            let digits_start = self.pos;
            while matches!(self.peek(), Some(c) if c.is_ascii_hexdigit()) {
                self.pos += 1;
            }
            let digits = self.text.get(digits_start..self.pos).unwrap_or_default();
            let magnitude = u64::from_str_radix(digits, 16).map_err(|_| {
                self.pos = start;
                self.error("invalid hexadecimal number")
            })?;
            return self.finish_integer(start, negative, magnitude);
        }
        let digits_start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let int_digits = self.pos - digits_start;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            is_float = true;
            self.pos += 1;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if int_digits == 0 && self.pos - digits_start <= 1 {
            self.pos = start;
            return Err(self.error("invalid number"));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            is_float = true;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let exp_start = self.pos;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            if self.pos == exp_start {
                self.pos = start;
                return Err(self.error("invalid number exponent"));
            }
        }
        let body = self.text.get(digits_start..self.pos).unwrap_or_default();
        if int_digits > 1 && body.starts_with('0') {
            self.pos = start;
            return Err(self.error("numbers may not have leading zeros"));
        }
        if !is_float {
            if let Ok(magnitude) = body.parse::<u64>() {
                return self.finish_integer(start, negative, magnitude);
            }
        }
        let f: f64 = body.parse().map_err(|_| {
            self.pos = start;
            self.error("invalid number")
        })?;
        let f = if negative { -f } else { f };
        Number::from_f64(f).map(Value::Number).ok_or_else(|| self.error("number out of range"))
    }

    fn finish_integer(&mut self, start: usize, negative: bool, magnitude: u64) -> Result<Value, Json5Error> {
        if !negative {
            return Ok(Value::Number(magnitude.into()));
        }
        if magnitude <= i64::MAX as u64 {
            return Ok(Value::Number((-(magnitude as i64)).into()));
        }
        if magnitude == i64::MAX as u64 + 1 {
            return Ok(Value::Number(i64::MIN.into()));
        }
        // Below i64: a double, as every JSON5 (and JSON) number may be, like a positive integer
        // beyond u64 already is.
        match Number::from_f64(-(magnitude as f64)) {
            Some(n) => Ok(Value::Number(n)),
            None => {
                self.pos = start;
                Err(self.error("number out of range"))
            }
        }
    }
}

fn is_unicode_space(c: char) -> bool {
    matches!(
        c,
        '\u{a0}' | '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_json5_features_openclaw_configs_use() {
        let text = r#"
        // the gateway
        {
          gateway: {
            mode: 'local',            /* single quotes */
            port: 0x4965,             // hex 18789
            "auth": { token: "a\"b", },
          },
          list: [1, +2, -3, .5, 5., 1e3,],
          $schema: 'x',
          _under: null, ok: true, no: false,
          esc: 'it\'s \x41\u00e9\0',
          cont: 'line\
continued',
        }"#;
        let v = parse(text).unwrap();
        assert_eq!(v["gateway"]["mode"], "local");
        assert_eq!(v["gateway"]["port"], 18789);
        assert_eq!(v["gateway"]["auth"]["token"], "a\"b");
        assert_eq!(v["list"], json!([1, 2, -3, 0.5, 5.0, 1000.0]));
        assert_eq!(v["$schema"], "x");
        assert_eq!(v["_under"], Value::Null);
        assert_eq!(v["cont"], "linecontinued");
        assert!(v["esc"].as_str().unwrap().starts_with("it's Aé"));
    }

    #[test]
    fn plain_json_parses_identically_to_serde_json() {
        let text = r#"{"a":[1,2.5,-7,"x\n\u00e9",{"b":null}],"c":true,"big":18446744073709551615,"neg":-9223372036854775808}"#;
        assert_eq!(parse(text).unwrap(), serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn integers_beyond_i64_and_u64_become_doubles_like_in_json() {
        for text in ["-9223372036854775809", "-18446744073709551616", "18446744073709551616", "-0x8000000000000001"] {
            let v = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(v.is_f64(), "{text} -> {v}");
        }
        assert_eq!(parse("-9223372036854775809").unwrap(), serde_json::from_str::<Value>("-9223372036854775809").unwrap());
    }

    #[test]
    fn surrogate_pairs_combine() {
        assert_eq!(parse(r#""\ud83d\ude00""#).unwrap(), json!("😀"));
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("{\n  gateway: {\n    port: 18789\n    bind: 'lan'\n  }\n}").unwrap_err();
        assert_eq!((e.line, e.column), (4, 5), "{e}");
        assert!(e.message.contains("expected ','"), "{e}");
        let e = parse("{a: 'open").unwrap_err();
        assert!(e.message.contains("unterminated string"));
        let e = parse("{a: NaN}").unwrap_err();
        assert!(e.message.contains("NaN"));
        let e = parse("{a: 1} x").unwrap_err();
        assert!(e.message.contains("after the end"));
        assert!(parse("{a: 007}").is_err());
        assert!(parse("{a: .}").is_err());
        assert!(parse("/* open").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn hostile_nesting_is_bounded() {
        let deep = "[".repeat(10_000);
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nesting"), "{e}");
    }

    #[test]
    fn never_panics_on_truncated_input() {
        let text = r#"{a: 'x\u12', b: [1, 0x, -, "\ud800"], c: {"#;
        for end in 0..text.len() {
            if text.is_char_boundary(end) {
                let _ = parse(&text[..end]);
            }
        }
    }
}
