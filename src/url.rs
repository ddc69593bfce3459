//! `http://` and `https://` URLs as the config names them and the HTTP client dials them. Here,
//! below both, so the config can check a URL without importing the network code.

/// An `http://` or `https://` URL, split the way a request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let text = text.trim();
        let (https, rest) = if let Some(r) = strip_prefix_ignore_case(text, "https://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ignore_case(text, "http://") {
            (false, r)
        } else {
            return Err(format!("{text:?} is not an http:// or https:// URL"));
        };
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        if authority.contains('@') {
            return Err(format!("{text:?}: credentials in URLs are not supported; use the apiKey setting"));
        }
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let end = inner.find(']').ok_or_else(|| format!("{text:?}: unterminated IPv6 address"))?;
            let (address, port) = inner.split_at(end);
            (address.to_string(), port.strip_prefix(']').unwrap_or(port).strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("{text:?}: invalid port {p:?}"))?,
            None if https => 443,
            None => 80,
        };
        let tail = tail.split('#').next().unwrap_or("");
        let path = if tail.starts_with('/') { tail.to_string() } else { format!("/{tail}") };
        Ok(Url { https, host, port, path })
    }

    /// This URL with `segment` appended to its path (`…/v1` + `chat/completions`).
    pub fn join(&self, segment: &str) -> Url {
        let (path, query) = match self.path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.path.as_str(), None),
        };
        let mut joined = format!("{}/{}", path.trim_end_matches('/'), segment.trim_start_matches('/'));
        if let Some(q) = query {
            joined.push('?');
            joined.push_str(q);
        }
        Url { path: joined, ..self.clone() }
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default_port = if self.https { 443 } else { 80 };
        if self.port == default_port { host } else { format!("{host}:{}", self.port) }
    }

    /// Whether the host is this machine (no TLS expected, no API key needed for local servers).
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost") || self.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", if self.https { "https" } else { "http" }, self.authority(), self.path)
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| text.get(prefix.len()..)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = Url::parse("https://api.openai.com/v1").unwrap();
        assert_eq!((u.https, u.host.as_str(), u.port, u.path.as_str()), (true, "api.openai.com", 443, "/v1"));
        assert_eq!(u.join("chat/completions").path, "/v1/chat/completions");
        assert_eq!(u.join("/chat/completions").to_string(), "https://api.openai.com/v1/chat/completions");
        let u = Url::parse("http://[::1]:8080/x/?a=1").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8080));
        assert_eq!(u.join("y").path, "/x/y?a=1");
        assert_eq!(u.authority(), "[::1]:8080");
        assert!(u.is_loopback());
        assert_eq!(Url::parse("HTTP://localhost").unwrap().path, "/");
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("http://:80").is_err());
        assert!(Url::parse("http://u:p@host/").is_err());
        assert!(Url::parse("http://host:99999/").is_err());
    }
}
