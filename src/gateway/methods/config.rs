//! `config.get`: the config file as it is on disk now, with every secret redacted, its validity
//! and its hash (the `baseHash` that writes must quote).

use serde_json::{Value, json};

use super::Call;
use crate::config::{self, LoadError};
use crate::gateway::params;
use crate::gateway::protocol::ErrorShape;

pub fn get(call: &Call<'_>, p: &Option<Value>) -> Result<Value, ErrorShape> {
    params::closed("config.get", p, &[])?.done()?;
    let gw = call.gw;
    let applied = gw.settings().hash.clone();
    let path = gw.paths.display(&gw.paths.config_path);
    match config::load::read(&gw.paths.config_path) {
        Ok(source) => {
            let hash = config::config_hash(&gw.hash_key, &source.raw);
            let raw = config::redact_raw(&source.raw, &source.parsed);
            let parsed = config::redact(&source.parsed);
            let resolved = config::redact(&source.resolved);
            let included: Vec<String> = source.included.iter().map(|p| gw.paths.display(p)).collect();
            let loaded = config::validate(source, &gw.paths);
            let issues: Vec<Value> = loaded.issues.iter().map(|i| json!({"path": i.path, "message": i.message})).collect();
            Ok(json!({
                "path": path,
                "exists": true,
                "includedPaths": included,
                "raw": raw,
                "parsed": parsed,
                "resolved": resolved,
                "config": resolved,
                "valid": loaded.issues.is_empty(),
                "hash": hash,
                "configRevisionHash": hash,
                "appliedConfigHash": applied,
                "issues": issues,
                "warnings": loaded.warnings,
                "legacyIssues": [],
                "ignoredSections": loaded.config.ignored_sections,
            }))
        }
        Err(LoadError::Missing(_)) => Ok(json!({
            "path": path,
            "exists": false,
            "includedPaths": [],
            "raw": null,
            "parsed": {},
            "resolved": {},
            "config": {},
            "valid": true,
            "hash": null,
            "configRevisionHash": null,
            "appliedConfigHash": applied,
            "issues": [],
            "warnings": [],
            "legacyIssues": [],
        })),
        Err(LoadError::Invalid(why)) => Ok(json!({
            "path": path,
            "exists": true,
            "includedPaths": [],
            "raw": null,
            "parsed": null,
            "resolved": null,
            "config": null,
            "valid": false,
            "hash": null,
            "configRevisionHash": null,
            "appliedConfigHash": applied,
            "issues": [{"path": "", "message": why}],
            "warnings": [],
            "legacyIssues": [],
        })),
    }
}
