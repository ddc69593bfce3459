//! `channels.status`: the state of every configured chat channel.

use serde_json::{Value, json};

use super::Call;
use crate::gateway::params;
use crate::gateway::protocol::ErrorShape;

pub async fn status(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, ErrorShape> {
    let mut p = params::closed("channels.status", p, &["probe", "timeoutMs", "channel"])?;
    p.opt_bool("probe");
    p.opt_int("timeoutMs", 0, i64::MAX);
    p.opt_str("channel", 1, usize::MAX);
    p.done()?;
    Ok(json!({
        "ts": crate::clock::now_ms(),
        "channelOrder": [],
        "channelLabels": {},
        "channelDetailLabels": {},
        "channelSystemImages": {},
        "channelMeta": [],
        "channels": {},
        "channelAccounts": {},
        "channelDefaultAccountId": {},
    }))
}
