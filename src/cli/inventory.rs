//! `openclaw sessions`, `openclaw models` and `openclaw agents`: what the running gateway holds, as
//! tables for people and as the RPC results (`sessions.list`, `models.list`, `agents.list`) for
//! scripts (`--json`).

use argh::FromArgs;
use serde_json::{Value, json};

use super::client::{self, CliError, TargetFlags};
use super::print_json;
use crate::config::Paths;

/// List the agent's sessions (conversations) from the running gateway.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "sessions")]
pub struct SessionsCmd {
    #[argh(option, description = "only this agent's sessions")]
    agent: Option<String>,
    #[argh(option, description = "only sessions active in the last N minutes")]
    active: Option<u64>,
    #[argh(option, description = "at most this many (default 100)")]
    limit: Option<u64>,
    #[argh(switch, description = "print the sessions.list result as JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

/// List the models the agents can use, and whether each is ready.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "models")]
pub struct ModelsCmd {
    #[argh(switch, description = "print the models.list result as JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

/// List the configured agents, their models and workspaces.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "agents")]
pub struct AgentsCmd {
    #[argh(switch, description = "print the agents.list result as JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

pub fn sessions(paths: &Paths, cmd: SessionsCmd) -> Result<(), CliError> {
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: cmd.timeout };
    let mut params = json!({"limit": cmd.limit.unwrap_or(100).clamp(1, 1000)});
    if let Some(a) = &cmd.agent {
        params["agentId"] = json!(a);
    }
    if let Some(m) = cmd.active {
        params["activeMinutes"] = json!(m.max(1));
    }
    let result = client::one_call(paths, &flags, &["operator.read"], "sessions.list", Some(params))?;
    if cmd.json {
        print_json(&result);
        return Ok(());
    }
    let rows: &[Value] = result["sessions"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if rows.is_empty() {
        println!("No sessions");
        return Ok(());
    }
    let now = crate::clock::now_ms();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            let model = match (s["modelProvider"].as_str(), s["model"].as_str()) {
                (Some(p), Some(m)) => format!("{p}/{m}"),
                (None, Some(m)) => m.to_string(),
                _ => "-".to_string(),
            };
            vec![
                text(&s["key"]),
                text(&s["kind"]),
                s["updatedAt"].as_u64().map(|t| crate::clock::ago(now.saturating_sub(t))).unwrap_or_else(|| "-".into()),
                model,
                s["totalTokens"].as_u64().map(|t| t.to_string()).unwrap_or_else(|| "0".into()),
            ]
        })
        .collect();
    print_table(&["Key", "Kind", "Age", "Model", "Tokens"], &table);
    let total = result["totalCount"].as_u64().unwrap_or(rows.len() as u64);
    if total > rows.len() as u64 {
        println!("({} of {total} shown; --limit shows more)", rows.len());
    }
    Ok(())
}

pub fn models(paths: &Paths, cmd: ModelsCmd) -> Result<(), CliError> {
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: cmd.timeout };
    let result = client::one_call(paths, &flags, &["operator.read"], "models.list", None)?;
    if cmd.json {
        print_json(&result);
        return Ok(());
    }
    let rows: &[Value] = result["models"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|m| {
            let ready = if m["available"] == true {
                "yes".to_string()
            } else {
                match m["unavailableReason"].as_str() {
                    Some("missing-auth") => "no (no API key)".to_string(),
                    Some(other) => format!("no ({other})"),
                    None => "no".to_string(),
                }
            };
            vec![
                format!("{}/{}", text(&m["provider"]), text(&m["id"])),
                text(&m["name"]),
                m["contextWindow"].as_u64().map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                ready,
            ]
        })
        .collect();
    print_table(&["Model", "Name", "Context", "Ready"], &table);
    Ok(())
}

pub fn agents(paths: &Paths, cmd: AgentsCmd) -> Result<(), CliError> {
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: cmd.timeout };
    let result = client::one_call(paths, &flags, &["operator.read"], "agents.list", None)?;
    if cmd.json {
        print_json(&result);
        return Ok(());
    }
    let default = result["defaultId"].as_str().unwrap_or_default();
    let rows: &[Value] = result["agents"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|a| {
            let id = text(&a["id"]);
            vec![
                if id == default { format!("{id} (default)") } else { id.clone() },
                text(&a["name"]),
                text(&a["model"]["primary"]),
                text(&a["workspace"]),
            ]
        })
        .collect();
    print_table(&["Agent", "Name", "Model", "Workspace"], &table);
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// Columns padded to their widest cell (counted in characters, so names with accents line up).
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> =
            cells.zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count())))).collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}
