//! `channels.irc`: the server, the nick, and the three ways to authenticate (server `PASS`,
//! SASL PLAIN, NickServ `IDENTIFY`).

use super::{Checker, Irc, NickServ, Resolver, Secret, SecretProvider, Section, credential, resolve_secret};
use crate::config::channel_kind::ChannelKind;

pub(super) fn irc(c: &mut Checker, s: &Section, resolver: &Resolver, secrets: &[SecretProvider]) -> Irc {
    let host = c.text(s, "host").map(|h| h.trim().to_string());
    if let Some(h) = &host {
        if h.chars().any(|ch| ch.is_whitespace() || ch == '/') {
            c.issue(&s.child_path("host"), format!("expected a host name such as irc.libera.chat, got {h:?}"));
        }
    }
    let tls = c.bool(s, "tls").unwrap_or(true);
    let port = c.int(s, "port", 1, 65535).map(|p| p as u16).unwrap_or(if tls { 6697 } else { 6667 });
    let nick = c.text(s, "nick").unwrap_or_else(|| "openclaw".to_string());
    if !valid_nick(&nick) {
        c.issue(
            &s.child_path("nick"),
            format!("not a usable IRC nick (letters, digits, -[]\\`^{{}}|_, not starting with a digit or -): {nick:?}"),
        );
    }
    let username = c.text(s, "username").unwrap_or_else(|| nick.clone());
    if username.chars().any(|ch| ch.is_whitespace() || ch == '@' || ch.is_control()) {
        c.issue(&s.child_path("username"), "must not contain spaces, control characters or '@'");
    }
    let realname = c.text(s, "realname").unwrap_or_else(|| "OpenClaw".to_string());
    let (password, password_source) = credential(c, s, "password", Some("passwordFile"), ChannelKind::Irc.token_env(), resolver, secrets);
    let sasl = if s.has("sasl") {
        let q = c.partial_section(s, "sasl", &["username", "password"]);
        let user = c.text(&q, "username");
        let input = c.secret(&q, "password");
        let pass = resolve_secret(c, &q.child_path("password"), input, resolver, secrets)
            .or_else(|| (resolver.env)("IRC_SASL_PASSWORD").filter(|v| !v.trim().is_empty()).map(Secret::new));
        match (user, pass) {
            (Some(u), Some(p)) => Some((u, p)),
            _ => {
                c.issue(&s.child_path("sasl"), "needs username and password (or IRC_SASL_PASSWORD)");
                None
            }
        }
    } else {
        None
    };
    let nickserv = nickserv(c, s, resolver, secrets);
    let mut channels = Vec::new();
    for (i, ch) in c.strings(s, "channels").into_iter().enumerate() {
        let name = ch.split_whitespace().next().unwrap_or_default();
        if !name.starts_with(['#', '&', '+', '!']) || name.chars().any(|x| x == ',' || x.is_control()) {
            c.issue(&format!("{}[{i}]", s.child_path("channels")), format!("expected a channel such as \"#openclaw\", got {ch:?}"));
        } else {
            channels.push(ch.trim().to_string());
        }
    }
    Irc { host, port, tls, nick, username, realname, password, password_source, sasl, channels, nickserv }
}

/// `nickserv: { password, service? }`; the password may also come from `IRC_NICKSERV_PASSWORD`.
fn nickserv(c: &mut Checker, s: &Section, resolver: &Resolver, secrets: &[SecretProvider]) -> Option<NickServ> {
    if !s.has("nickserv") {
        return None;
    }
    let q = c.partial_section(s, "nickserv", &["password", "service"]);
    let input = c.secret(&q, "password");
    let password = resolve_secret(c, &q.child_path("password"), input, resolver, secrets)
        .or_else(|| (resolver.env)("IRC_NICKSERV_PASSWORD").filter(|v| !v.trim().is_empty()).map(Secret::new));
    let service = c.text(&q, "service").map(|v| v.trim().to_string()).unwrap_or_else(|| "NickServ".to_string());
    if !valid_nick(&service) {
        c.issue(&q.child_path("service"), format!("not an IRC nick: {service:?}"));
        return None;
    }
    match password {
        Some(password) => Some(NickServ { password, service }),
        None => {
            c.issue(&s.child_path("nickserv"), "needs a password (or IRC_NICKSERV_PASSWORD)");
            None
        }
    }
}

/// An IRC nick as RFC 2812 allows it (letters, digits, specials; not leading with a digit or -).
pub fn valid_nick(nick: &str) -> bool {
    let special = |ch: char| "[]\\`_^{|}".contains(ch);
    let mut chars = nick.chars();
    match chars.next() {
        Some(first) if first.is_ascii_alphabetic() || special(first) => {}
        _ => return false,
    }
    nick.len() <= 30 && chars.all(|ch| ch.is_ascii_alphanumeric() || special(ch) || ch == '-')
}

#[cfg(test)]
mod tests {
    use super::super::{ChannelKind, Channels, Service, channels};
    use super::*;
    use serde_json::{Value, json};

    fn nickserv_of(irc: Value, env: &dyn Fn(&str) -> Option<String>) -> (Option<NickServ>, Vec<String>) {
        let v = json!({"channels": {"irc": irc}});
        let resolver = Resolver { env, home: std::path::Path::new("/home/pi") };
        let mut c = Checker::default();
        let ch: Channels = channels(&mut c, &Section::root(&v), &resolver, &[]);
        let Some(Service::Irc(i)) = ch.get(ChannelKind::Irc).map(|a| a.service.clone()) else { panic!("no irc") };
        (i.nickserv, c.issues.iter().map(|i| format!("{i:?}")).collect())
    }

    #[test]
    fn nickserv_takes_a_string_a_secret_ref_or_the_environment() {
        let env = |k: &str| match k {
            "NS_PW" => Some("from-ref".to_string()),
            "IRC_NICKSERV_PASSWORD" => Some("from-env".to_string()),
            _ => None,
        };
        let (ns, issues) = nickserv_of(json!({"host": "h", "nickserv": {"password": "plain"}}), &env);
        assert!(issues.is_empty(), "{issues:?}");
        let ns = ns.unwrap();
        assert_eq!((ns.password.expose(), ns.service.as_str()), ("plain", "NickServ"));
        let (ns, _) =
            nickserv_of(json!({"host": "h", "nickserv": {"password": {"source": "env", "id": "NS_PW"}, "service": "AuthServ"}}), &env);
        let ns = ns.unwrap();
        assert_eq!((ns.password.expose(), ns.service.as_str()), ("from-ref", "AuthServ"));
        assert_eq!(nickserv_of(json!({"host": "h", "nickserv": {}}), &env).0.unwrap().password.expose(), "from-env");
        assert_eq!(nickserv_of(json!({"host": "h"}), &env).0, None);
        let (ns, issues) = nickserv_of(json!({"host": "h", "nickserv": {}}), &|_| None);
        assert!(ns.is_none() && issues.iter().any(|i| i.contains("nickserv") && i.contains("password")), "{issues:?}");
        let (ns, issues) = nickserv_of(json!({"host": "h", "nickserv": {"password": "x", "service": "Nick Serv"}}), &|_| None);
        assert!(ns.is_none() && issues.iter().any(|i| i.contains("service")), "{issues:?}");
    }
}
