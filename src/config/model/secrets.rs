//! `secrets.providers` and the resolution of SecretRefs through them.

use serde_json::Value;
use std::path::PathBuf;

use super::Resolver;
use crate::config::check::{Checker, SecretInput, SecretRef, SecretSource, Section};
use crate::config::secret::Secret;
use crate::limits;

/// One `secrets.providers.<alias>` entry.
#[derive(Debug, Clone)]
pub(in crate::config) struct SecretProvider {
    alias: String,
    source: SecretSource,
    path: Option<PathBuf>,
    single_value: bool,
    allowlist: Vec<String>,
}

pub(super) fn secret_providers(c: &mut Checker, root: &Section) -> Vec<SecretProvider> {
    let s = c.section(root, "secrets", &["providers", "defaults", "egressProxy"]);
    let providers = c.map(&s, "providers");
    let mut out = Vec::new();
    // Provider aliases are free-form keys; validate each entry rather than the key set.
    if let Some(map) = providers.map {
        for (alias, entry) in map {
            let path = providers.child_path(alias);
            let keys = [
                "source",
                "path",
                "mode",
                "timeoutMs",
                "maxBytes",
                "allowlist",
                "command",
                "args",
                "passEnv",
                "env",
                "trustedDirs",
                "noOutputTimeoutMs",
                "maxOutputBytes",
                "jsonOnly",
            ];
            let p = c.object_at(path.clone(), Some(entry), &keys);
            let source = c.one_of(
                &p,
                "source",
                &[("env", SecretSource::Env), ("file", SecretSource::File), ("exec", SecretSource::Exec), ("store", SecretSource::Store)],
            );
            let file_path = c.text(&p, "path").map(PathBuf::from);
            let single_value = c.one_of(&p, "mode", &[("json", false), ("singleValue", true)]).unwrap_or(false);
            let allowlist = c.strings(&p, "allowlist");
            if let Some(source) = source {
                if source == SecretSource::File && file_path.is_none() {
                    c.issue(&path, "a file secret provider needs \"path\"");
                }
                out.push(SecretProvider { alias: alias.clone(), source, path: file_path, single_value, allowlist });
            } else if !p.has("source") {
                c.issue(&path, "a secret provider needs \"source\" (env, file, exec or store)");
            }
        }
    }
    out
}

/// Resolves a secret input to its value, recording why when it cannot.
pub(in crate::config) fn resolve_secret(
    c: &mut Checker,
    path: &str,
    input: Option<SecretInput>,
    resolver: &Resolver,
    providers: &[SecretProvider],
) -> Option<Secret> {
    match input? {
        SecretInput::Plain(s) => Some(s),
        SecretInput::Ref(r) => match lookup_ref(&r, resolver, providers) {
            Ok(v) => Some(Secret::new(v)),
            Err(why) => {
                c.issue(path, why);
                None
            }
        },
    }
}

fn lookup_ref(r: &SecretRef, resolver: &Resolver, providers: &[SecretProvider]) -> Result<String, String> {
    let provider = providers.iter().find(|p| p.alias == r.provider);
    if let Some(p) = provider {
        if p.source != r.source {
            return Err(format!("SecretRef provider {:?} is a {:?} provider, not {:?}", p.alias, p.source, r.source));
        }
    }
    match r.source {
        SecretSource::Env => {
            if let Some(p) = provider {
                if !p.allowlist.is_empty() && !p.allowlist.contains(&r.id) {
                    return Err(format!("environment variable {} is not in the allowlist of provider {:?}", r.id, p.alias));
                }
            }
            (resolver.env)(&r.id).filter(|v| !v.is_empty()).ok_or_else(|| format!("SecretRef env:{} is not set", r.id))
        }
        SecretSource::File => {
            let p =
                provider.ok_or_else(|| format!("SecretRef file provider {:?} is not configured under secrets.providers", r.provider))?;
            let file = p.path.as_ref().ok_or("the file provider has no path")?;
            let file = crate::config::paths::expand_tilde(&file.to_string_lossy(), resolver.home);
            let meta = std::fs::metadata(&file).map_err(|e| format!("cannot read secret file {}: {e}", file.display()))?;
            // A device or a pipe reports no length and may never end (/dev/zero, a FIFO nobody
            // writes): only a regular file is read, and never past the bound.
            if !meta.is_file() || meta.len() > limits::SECRET_FILE_MAX_BYTES {
                return Err(format!("secret file {} must be a regular file of at most 1 MiB", file.display()));
            }
            use std::io::Read;
            let mut bytes = Vec::new();
            std::fs::File::open(&file)
                .and_then(|f| f.take(limits::SECRET_FILE_MAX_BYTES + 1).read_to_end(&mut bytes))
                .map_err(|e| format!("cannot read secret file {}: {e}", file.display()))?;
            if bytes.len() as u64 > limits::SECRET_FILE_MAX_BYTES {
                return Err(format!("secret file {} must be a regular file of at most 1 MiB", file.display()));
            }
            let text = String::from_utf8(bytes).map_err(|_| format!("cannot read secret file {}: not valid UTF-8", file.display()))?;
            if p.single_value {
                return Ok(text.trim_end_matches(['\n', '\r']).to_string());
            }
            let doc: Value = crate::config::json5::parse(&text).map_err(|e| format!("secret file {}: {e}", file.display()))?;
            let pointer = if r.id.starts_with('/') { r.id.clone() } else { format!("/{}", r.id) };
            match doc.pointer(&pointer) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(_) => Err(format!("secret {} in {} is not a non-empty string", r.id, file.display())),
                None => Err(format!("secret {} not found in {}", r.id, file.display())),
            }
        }
        SecretSource::Exec | SecretSource::Store => {
            Err(format!("SecretRef source {:?} is not supported by this gateway; use env or file", r.source).to_lowercase())
        }
    }
}
