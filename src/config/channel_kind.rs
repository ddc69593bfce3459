//! The chat services this gateway knows, as one closed set. Everything that differs between them
//! and is not code (names, limits, config keys, environment variables, CLI hints) is answered
//! here, by an exhaustive `match`, so adding a service is one variant the compiler walks through
//! every use of.
//!
//! It lives in `config` (the lowest layer that needs it: the config reader picks the section by
//! it) and `channels` re-exports it.

use std::fmt;

/// One chat service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelKind {
    /// Telegram Bot API, long polling.
    Telegram,
    /// Discord gateway (WebSocket) and REST.
    Discord,
    /// WhatsApp Business Cloud API, webhook.
    WhatsApp,
    /// IRC: one client connection (plain or TLS) to a server.
    Irc,
    /// Matrix client-server API: `/sync` long polling.
    Matrix,
    /// Signal through a user-run `signal-cli daemon --http`: JSON-RPC out, server-sent events in.
    Signal,
    /// Slack: Socket Mode (WebSocket) in, the Web API out.
    Slack,
}

impl ChannelKind {
    /// Every kind, in the order channels are read from the config and reported.
    pub const ALL: [ChannelKind; 7] = [
        ChannelKind::Telegram,
        ChannelKind::Discord,
        ChannelKind::WhatsApp,
        ChannelKind::Irc,
        ChannelKind::Matrix,
        ChannelKind::Signal,
        ChannelKind::Slack,
    ];

    /// The id: the `channels.<id>` config key, the cargo feature, the name in RPCs and the CLI.
    pub fn id(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "telegram",
            ChannelKind::Discord => "discord",
            ChannelKind::WhatsApp => "whatsapp",
            ChannelKind::Irc => "irc",
            ChannelKind::Matrix => "matrix",
            ChannelKind::Signal => "signal",
            ChannelKind::Slack => "slack",
        }
    }

    /// The kind an id names, exactly (callers lowercase user input first).
    pub fn from_id(id: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// The ids, for "use one of: …" messages.
    pub fn id_list() -> String {
        ChannelKind::ALL.map(ChannelKind::id).join(", ")
    }

    /// Display name, as OpenClaw labels its channels (`channelLabels`).
    pub fn label(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "Telegram",
            ChannelKind::Discord => "Discord",
            ChannelKind::WhatsApp => "WhatsApp",
            ChannelKind::Irc => "IRC",
            ChannelKind::Matrix => "Matrix",
            ChannelKind::Signal => "Signal",
            ChannelKind::Slack => "Slack",
        }
    }

    /// The longer name in `channelDetailLabels`.
    pub fn detail_label(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "Telegram Bot",
            ChannelKind::Discord => "Discord Bot",
            ChannelKind::WhatsApp => "WhatsApp Cloud API",
            ChannelKind::Irc => "IRC",
            ChannelKind::Matrix => "Matrix",
            ChannelKind::Signal => "Signal (signal-cli)",
            ChannelKind::Slack => "Slack Bot",
        }
    }

    /// Whether this build includes the channel (its cargo feature of the same name).
    pub fn compiled(self) -> bool {
        match self {
            ChannelKind::Telegram => cfg!(feature = "telegram"),
            ChannelKind::Discord => cfg!(feature = "discord"),
            ChannelKind::WhatsApp => cfg!(feature = "whatsapp"),
            ChannelKind::Irc => cfg!(feature = "irc"),
            ChannelKind::Matrix => cfg!(feature = "matrix"),
            ChannelKind::Signal => cfg!(feature = "signal"),
            ChannelKind::Slack => cfg!(feature = "slack"),
        }
    }

    /// The most the service accepts in one message, and so the most `textChunkLimit` may be.
    pub fn text_limit(self) -> usize {
        match self {
            ChannelKind::Discord => 2000,
            ChannelKind::Telegram | ChannelKind::WhatsApp => 4096,
            // IRC lines are split again at the 512-byte protocol limit; a piece is a paragraph.
            ChannelKind::Irc => 4000,
            // An event must stay under 64 KiB of JSON; 16 000 characters read well in clients.
            ChannelKind::Matrix => 16_000,
            // Signal clients show about 2000 characters inline; signal-cli turns a longer text
            // into the long-text attachment the apps expand. OpenClaw's own default is 4000.
            ChannelKind::Signal => 4000,
            // Slack truncates `text` at 40 000 characters (and advises 4 000 for readability).
            ChannelKind::Slack => 40_000,
        }
    }

    /// `textChunkLimit` when the config does not set it (OpenClaw's defaults).
    pub fn default_chunk_limit(self) -> usize {
        match self {
            ChannelKind::Discord => 2000,
            ChannelKind::Telegram | ChannelKind::WhatsApp => 4000,
            ChannelKind::Irc => 350,
            ChannelKind::Matrix | ChannelKind::Signal | ChannelKind::Slack => 4000,
        }
    }

    /// The keys of `channels.<id>` that only this service has (the shared ones are in
    /// `config::channels`).
    pub fn config_keys(self) -> &'static [&'static str] {
        match self {
            ChannelKind::Telegram => &["botToken", "tokenFile", "apiRoot"],
            ChannelKind::Discord => &["token", "apiRoot", "gatewayUrl"],
            ChannelKind::WhatsApp => {
                &["accessToken", "phoneNumberId", "appSecret", "verifyToken", "webhookPath", "graphRoot", "apiVersion"]
            }
            ChannelKind::Irc => {
                &["host", "port", "tls", "nick", "username", "realname", "password", "passwordFile", "sasl", "nickserv", "channels"]
            }
            ChannelKind::Matrix => &["homeserver", "userId", "accessToken", "password", "deviceName", "autoJoin"],
            ChannelKind::Signal => &["account", "httpUrl", "httpHost", "httpPort"],
            ChannelKind::Slack => &["appToken", "botToken", "apiRoot", "mode"],
        }
    }

    /// The config key of the one credential a bot is set up with; `None` for a service that
    /// takes several (WhatsApp), which the onboarding shortcut therefore cannot add.
    pub fn token_key(self) -> Option<&'static str> {
        match self {
            ChannelKind::Telegram => Some("botToken"),
            ChannelKind::Discord => Some("token"),
            ChannelKind::WhatsApp | ChannelKind::Irc | ChannelKind::Matrix | ChannelKind::Signal | ChannelKind::Slack => None,
        }
    }

    /// The environment variable the main credential falls back to.
    pub fn token_env(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "TELEGRAM_BOT_TOKEN",
            ChannelKind::Discord => "DISCORD_BOT_TOKEN",
            ChannelKind::WhatsApp => "WHATSAPP_ACCESS_TOKEN",
            ChannelKind::Irc => "IRC_PASSWORD",
            ChannelKind::Matrix => "MATRIX_ACCESS_TOKEN",
            // No credential: signal-cli holds the keys; the account number may come from here.
            ChannelKind::Signal => "SIGNAL_ACCOUNT",
            ChannelKind::Slack => "SLACK_BOT_TOKEN",
        }
    }

    /// Where the onboarding prompt tells the owner to find the bot token.
    pub fn token_origin(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "from @BotFather",
            ChannelKind::Discord | ChannelKind::WhatsApp => "Developer Portal → Bot",
            ChannelKind::Irc => "the IRC network's server password or NickServ account",
            ChannelKind::Matrix => "your homeserver (Element: Settings → Help & About → Access Token)",
            ChannelKind::Signal => "the number signal-cli registered or linked (signal-cli -a +1555… register / link)",
            ChannelKind::Slack => "api.slack.com/apps → your app (OAuth & Permissions; Basic Information → App-Level Tokens)",
        }
    }

    /// How to add the channel from the command line.
    pub fn add_hint(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "openclaw channels add --channel telegram --token <bot token from @BotFather>",
            ChannelKind::Discord => "openclaw channels add --channel discord --token <bot token>",
            ChannelKind::WhatsApp => {
                "openclaw channels add --channel whatsapp --access-token <token> --phone-number-id <id> --app-secret <secret> --verify-token <word>"
            }
            ChannelKind::Irc => "openclaw config set channels.irc '{host: \"irc.libera.chat\", nick: \"mybot\", channels: [\"#mychan\"]}'",
            ChannelKind::Matrix => {
                "openclaw config set channels.matrix '{homeserver: \"https://matrix.org\", userId: \"@bot:matrix.org\", accessToken: \"syt_…\"}'"
            }
            ChannelKind::Signal => "openclaw config set channels.signal '{account: \"+15551234567\", httpUrl: \"http://127.0.0.1:8080\"}'",
            ChannelKind::Slack => "openclaw config set channels.slack '{appToken: \"xapp-…\", botToken: \"xoxb-…\"}'",
        }
    }

    /// Whether `reply_to` places a message (in a thread) rather than quoting one, so every piece
    /// of a split answer carries it, not only the first.
    pub fn replies_in_thread(self) -> bool {
        matches!(self, ChannelKind::Slack)
    }

    /// How the receiver reaches the service (`mode` in `channels.status`).
    pub fn mode(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "polling",
            ChannelKind::Discord => "gateway",
            ChannelKind::WhatsApp => "webhook",
            ChannelKind::Irc => "irc",
            ChannelKind::Matrix => "sync",
            ChannelKind::Signal => "sse",
            ChannelKind::Slack => "socket",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_distinct() {
        for k in ChannelKind::ALL {
            assert_eq!(ChannelKind::from_id(k.id()), Some(k));
            assert_eq!(k.to_string(), k.id());
            assert!(k.default_chunk_limit() <= k.text_limit(), "{k}");
        }
        assert_eq!(ChannelKind::from_id("teams"), None, "an unknown id is no channel");
        assert_eq!(ChannelKind::from_id("Telegram"), None, "ids are exact");
        assert_eq!(ChannelKind::id_list(), "telegram, discord, whatsapp, irc, matrix, signal, slack");
    }
}
