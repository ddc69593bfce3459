//! `models.list` (`ModelsListResult`) and `agents.list` (`AgentsListResult`).

use serde_json::{Value, json};

use super::{Call, ensure_agent};
use crate::agent::providers::{self, ErrorKind, OFFLINE_MODEL, OFFLINE_PROVIDER};
use crate::config::Config;
use crate::config::agents::{AgentEntry, BUILTIN_PROVIDERS};
use crate::error::Error;
use crate::rpc::params;

/// `models.list {view?, agentId?}`: the models configured under `models.providers` and the ones
/// the agents name, each with whether it can be used now. With nothing configured the list holds
/// only the offline responder, tagged `offline`.
pub fn list(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed(
        "models.list",
        p,
        &[
            "agentId",
            "sessionKey",
            "authProfileId",
            "provider",
            "includeDetails",
            "includeProviderCapabilities",
            "includeDefaultModels",
            "preparedOnly",
            "refresh",
            "view",
        ],
    )?;
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    // Newer keys the official Control UI sends: checked, and the list is the same for them.
    let session = p.opt_str("sessionKey", 1, usize::MAX);
    p.opt_str("authProfileId", 1, 256);
    p.opt_str("provider", 1, usize::MAX);
    p.opt_bool("includeDetails");
    p.opt_bool("includeDefaultModels");
    let prepared = p.opt_bool("preparedOnly").unwrap_or(false);
    let refresh = p.opt_bool("refresh").unwrap_or(false);
    p.opt_bool("includeProviderCapabilities");
    // Every view lists the same models here: the configured ones and those the agents name.
    p.choice("view", &[("default", ()), ("configured", ()), ("provider-config", ()), ("all", ())]);
    p.done()?;
    if prepared && refresh {
        return Err(Error::invalid("invalid models.list params: preparedOnly and refresh cannot both be true"));
    }
    let cfg = call.gw.settings().loaded.config.clone();
    if let Some(a) = &agent_id {
        ensure_agent(&cfg, a)?;
    }
    if let Some(k) = &session {
        super::session_key(&cfg, k, agent_id.as_deref())?;
    }
    Ok(json!({"models": catalog(&cfg)}))
}

/// The model list, in config order, without duplicates.
pub fn catalog(cfg: &Config) -> Vec<Value> {
    let mut refs: Vec<String> = Vec::new();
    for p in &cfg.models.providers {
        for m in &p.models {
            refs.push(format!("{}/{}", p.id, m.id));
        }
    }
    let choices = cfg.agents.entries.iter().filter_map(|e| e.model.as_ref()).chain([&cfg.agents.defaults.model]);
    for choice in choices {
        for r in choice.primary.iter().chain(&choice.fallbacks) {
            refs.push(cfg.agents.expand_alias(r).to_string());
        }
    }
    let mut seen = std::collections::HashSet::new();
    refs.retain(|r| seen.insert(r.clone()));
    if cfg.agents.model_for(cfg.agents.default_id()).primary.is_none() {
        refs.insert(0, format!("{OFFLINE_PROVIDER}/{OFFLINE_MODEL}"));
    }
    refs.iter().filter_map(|r| choice(cfg, r)).collect()
}

fn choice(cfg: &Config, reference: &str) -> Option<Value> {
    let (provider, model) = reference.split_once('/')?;
    if provider.is_empty() || model.is_empty() {
        return None;
    }
    if provider == OFFLINE_PROVIDER {
        return Some(json!({"id": OFFLINE_MODEL, "name": "Offline responder (not a model: configure agents.defaults.model)",
                           "provider": OFFLINE_PROVIDER, "tags": ["offline"], "available": true, "supportsTools": false}));
    }
    let def = cfg.models.provider(provider).and_then(|p| p.models.iter().find(|m| m.id == model));
    let mut v = json!({"id": model, "name": def.and_then(|d| d.name.clone()).unwrap_or_else(|| model.to_string()),
                       "provider": provider, "supportsTools": true});
    match providers::resolve(cfg, reference) {
        Ok(m) => {
            v["available"] = json!(true);
            v["contextWindow"] = json!(m.context_window);
        }
        Err(e) if e.kind == ErrorKind::Auth => {
            v["available"] = json!(false);
            v["unavailableReason"] = json!("missing-auth");
        }
        Err(_) => v["available"] = json!(false),
    }
    if def.is_some_and(|d| d.reasoning) {
        v["reasoning"] = json!(true);
    }
    let known = cfg.models.provider(provider).is_some() || BUILTIN_PROVIDERS.iter().any(|(id, ..)| *id == provider);
    if !known {
        v["tags"] = json!(["unknown-provider"]);
    }
    Some(v)
}

/// `agents.list` (`AgentsListResult`).
pub fn agents(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("agents.list", p, &[])?.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    let implicit = AgentEntry { id: cfg.agents.default_id().to_string(), ..Default::default() };
    let entries: Vec<&AgentEntry> = if cfg.agents.entries.is_empty() { vec![&implicit] } else { cfg.agents.entries.iter().collect() };
    let agents: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut a = json!({"id": e.id, "kind": "agent", "name": e.name.clone().or(e.identity.name.clone()).unwrap_or_else(|| e.id.clone()),
                               "workspace": call.gw.paths.display(&call.gw.agent.workspace_for(&cfg, &e.id))});
            let mut identity = serde_json::Map::new();
            for (k, v) in [("name", &e.identity.name), ("emoji", &e.identity.emoji), ("theme", &e.identity.theme), ("avatar", &e.identity.avatar)] {
                if let Some(v) = v {
                    identity.insert(k.into(), json!(v));
                }
            }
            if identity.is_empty() {
                identity.insert("name".into(), a["name"].clone());
            }
            a["identity"] = Value::Object(identity);
            let choice = cfg.agents.model_for(&e.id);
            let primary = choice.primary.clone().unwrap_or_else(|| format!("{OFFLINE_PROVIDER}/{OFFLINE_MODEL}"));
            a["model"] = json!({"primary": primary, "fallbacks": choice.fallbacks});
            a
        })
        .collect();
    Ok(json!({
        "defaultId": cfg.agents.default_id(),
        "ownership": if cfg.agents.entries.len() > 1 { "explicit" } else { "sole" },
        "selectionRequired": false,
        "mainKey": crate::agent::keys::MAIN_KEY,
        "scope": "per-sender",
        "agents": agents,
    }))
}
