//! Features this gateway does not have (approvals, questions, cron, nodes, background tasks,
//! plugins, talk, session catalogues, progress cards, companions, branches), answered the way the
//! official gateway answers when it has none of them: valid and empty, never invented. The
//! official Control UI calls these on its pages and retries forever when a method is missing.

use serde_json::{Value, json};

use super::Call;
use crate::error::Error;
use crate::rpc::params;

/// `exec.approval.list`, `plugin.approval.list`, `openclaw.approval.list`: a bare array of
/// pending approvals; nothing here ever asks for one.
pub fn approvals(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::open("approval.list", p)?.done()?;
    Ok(json!([]))
}

/// `question.list {}` (`QuestionListResult`): agents here do not ask structured questions.
pub fn questions(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("question.list", p, &[])?.done()?;
    Ok(json!({"questions": []}))
}

/// `cron.list {…}`: no scheduled jobs (there is no scheduler).
pub fn cron_list(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed(
        "cron.list",
        p,
        &[
            "sessionKey",
            "sessionAgentId",
            "includeDisabled",
            "limit",
            "offset",
            "query",
            "enabled",
            "scheduleKind",
            "lastRunStatus",
            "trigger",
            "sortBy",
            "sortDir",
            "agentId",
            "compact",
            "includeDeliveryPreviews",
        ],
    )?;
    let limit = p.opt_int("limit", 1, 200).unwrap_or(200);
    let offset = p.opt_int("offset", 0, i64::MAX).unwrap_or(0);
    p.done()?;
    Ok(json!({"jobs": [], "total": 0, "offset": offset, "limit": limit, "hasMore": false, "nextOffset": null}))
}

/// `cron.status {}`: the scheduler is off and holds no jobs.
pub fn cron_status(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("cron.status", p, &[])?.done()?;
    Ok(json!({"enabled": false, "jobs": 0, "nextWakeAtMs": null}))
}

/// `node.list {}`: no nodes connect to this gateway.
pub fn node_list(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("node.list", p, &[])?.done()?;
    Ok(json!({"ts": crate::clock::now_ms(), "nodes": []}))
}

/// `tasks.list {…}` (`TasksListResult`): no background tasks.
pub fn tasks_list(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("tasks.list", p, &["status", "agentId", "sessionKey", "limit", "cursor", "sortBy"])?;
    p.opt_int("limit", 1, i64::MAX);
    p.opt_str("cursor", 0, usize::MAX);
    p.done()?;
    Ok(json!({"tasks": []}))
}

/// `progressCard.get {sessionKey, agentId?}` (`ProgressCardGetResult`): no card.
pub fn progress_card(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("progressCard.get", p, &["sessionKey", "agentId"])?;
    p.require(&["sessionKey"]);
    p.req_str("sessionKey", 1, usize::MAX);
    p.opt_str("agentId", 1, usize::MAX);
    p.done()?;
    Ok(json!({"card": null}))
}

/// `sessions.branches.list {sessionKey, agentId?}` (`SessionsBranchesListResult`): transcripts
/// here are linear, so there are no branches to switch to.
pub fn branches(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    session_only("sessions.branches.list", p)?;
    Ok(json!({"branches": []}))
}

/// `sessions.companion.state {sessionKey, agentId?}` (`SessionsCompanionStateResult`).
pub fn companion(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    session_only("sessions.companion.state", p)?;
    Ok(json!({"exchanges": []}))
}

fn session_only(method: &str, p: &Option<Value>) -> Result<(), Error> {
    let mut p = params::closed(method, p, &["sessionKey", "agentId"])?;
    p.require(&["sessionKey"]);
    p.req_str("sessionKey", 1, usize::MAX);
    p.opt_str("agentId", 1, usize::MAX);
    p.done()
}

/// `talk.catalog {provider?, model?}` (`TalkCatalogResult`): no voice.
pub fn talk_catalog(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("talk.catalog", p, &["provider", "model"])?;
    p.opt_str("provider", 1, usize::MAX);
    p.opt_str("model", 1, usize::MAX);
    p.done()?;
    Ok(json!({"modes": [], "transports": [], "brains": [], "speech": {"providers": []},
              "transcription": {"ready": false, "providers": []}, "realtime": {"ready": false, "providers": []}}))
}

/// `sessions.catalog.list {…}` (`SessionsCatalogListResult`): no external session catalogues.
pub fn session_catalogs(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::open("sessions.catalog.list", p)?.done()?;
    Ok(json!({"catalogs": []}))
}

/// `plugins.list {}` (`PluginsListResult`): channels are built in, not plugins; nothing to
/// install or remove.
pub fn plugins_list(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("plugins.list", p, &[])?.done()?;
    Ok(json!({"plugins": [], "diagnostics": [], "mutationAllowed": false}))
}

/// `plugins.controlUi.list {}`: no plugin adds pages to the Control UI.
pub fn plugins_control_ui(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("plugins.controlUi.list", p, &[])?.done()?;
    Ok(json!({"revision": "0", "plugins": [], "diagnostics": []}))
}

/// `exec.approvals.get {}` (`ExecApprovalsSnapshot`): there is no exec-approvals file; `exec`
/// is governed by `tools.exec` in the config (off unless enabled with an allowlist).
pub fn exec_approvals(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("exec.approvals.get", p, &[])?.done()?;
    Ok(json!({"path": "(none: exec is governed by tools.exec in the config)", "exists": false, "hash": "none", "file": {"version": 1}}))
}

/// `themes.list {}`: only the UI's default theme; no per-profile theme is stored here.
pub fn themes(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("themes.list", p, &[])?.done()?;
    let claw = json!({"id": "claw", "name": "Claw", "description": "", "source": "builtin", "modes": ["light", "dark"]});
    Ok(json!({"current": {"id": "claw", "mode": "system", "scope": "profile", "overrides": {}}, "theme": claw, "themes": [claw]}))
}
