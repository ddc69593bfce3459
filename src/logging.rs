//! Our own small logger behind the `log` facade.
//!
//! - stderr gets human lines: `2026-11-23T23:20:04.400+00:00 [gateway] ready`.
//! - The log file gets one JSON object per line in the shape the official `openclaw logs`
//!   command reads (tslog-style `"0"`/`"1"` arguments and `_meta`, plus `time`, `level`,
//!   `subsystem`, `message`), at `/tmp/openclaw/openclaw[-<profile>]-YYYY-MM-DD.log` (or
//!   `logging.file`), mode 600 in a 700 directory, rotated at `logging.maxFileBytes`.
//!
//! The subsystem is the log target: `log::info!(target: "gateway", ...)`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::clock;

/// Where and how much to log.
#[derive(Debug, Clone)]
pub struct Settings {
    pub console: LevelFilter,
    pub file: LevelFilter,
    /// `logging.file`; `None` means the dated file in the log directory.
    pub fixed_path: Option<PathBuf>,
    /// `openclaw` or `openclaw-<profile>`.
    pub stem: String,
    pub max_file_bytes: u64,
}

struct LogFile {
    settings: Settings,
    dir: PathBuf,
    path: PathBuf,
    day: i64,
    file: Option<File>,
    size: u64,
}

struct Logger {
    console: AtomicUsize,
    file_level: AtomicUsize,
    file: Mutex<Option<LogFile>>,
    installed: AtomicBool,
}

static LOGGER: Logger = Logger {
    console: AtomicUsize::new(LevelFilter::Info as usize),
    file_level: AtomicUsize::new(LevelFilter::Off as usize),
    file: Mutex::new(None),
    installed: AtomicBool::new(false),
};

fn filter_from(n: usize) -> LevelFilter {
    [LevelFilter::Off, LevelFilter::Error, LevelFilter::Warn, LevelFilter::Info, LevelFilter::Debug, LevelFilter::Trace]
        .get(n)
        .copied()
        .unwrap_or(LevelFilter::Info)
}

/// Installs the console logger only (client commands, early start-up).
pub fn init_console(level: LevelFilter) {
    LOGGER.console.store(level as usize, Ordering::Relaxed);
    install();
}

/// Installs (or reconfigures) console and file logging. Returns the log file path.
pub fn init(settings: Settings) -> Option<PathBuf> {
    LOGGER.console.store(settings.console as usize, Ordering::Relaxed);
    LOGGER.file_level.store(settings.file as usize, Ordering::Relaxed);
    install();
    let mut guard = LOGGER.file.lock().unwrap_or_else(|e| e.into_inner());
    let dir = match &settings.fixed_path {
        Some(p) => p.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")),
        None => log_dir(),
    };
    let mut lf = LogFile { settings, dir, path: PathBuf::new(), day: i64::MIN, file: None, size: 0 };
    lf.open_for(clock::local(clock::now_ms()));
    let path = lf.file.is_some().then(|| lf.path.clone());
    *guard = Some(lf);
    drop(guard);
    log::set_max_level(max_level());
    path
}

/// Changes levels at run time (config reload).
pub fn set_levels(console: LevelFilter, file: LevelFilter) {
    LOGGER.console.store(console as usize, Ordering::Relaxed);
    LOGGER.file_level.store(file as usize, Ordering::Relaxed);
    log::set_max_level(max_level());
}

/// The file currently written, if any (for `logs.tail`).
pub fn current_file() -> Option<PathBuf> {
    let guard = LOGGER.file.lock().unwrap_or_else(|e| e.into_inner());
    guard.as_ref().filter(|f| f.file.is_some()).map(|f| f.path.clone())
}

/// The path the dated log file would have today for `stem` (used by client commands that show it).
pub fn dated_path(stem: &str) -> PathBuf {
    log_dir().join(format!("{stem}-{}.log", clock::local(clock::now_ms()).date()))
}

fn install() {
    if !LOGGER.installed.swap(true, Ordering::SeqCst) {
        // Only fails when another logger is installed, which this program never does.
        let _ = log::set_logger(&LOGGER);
    }
    log::set_max_level(max_level());
}

fn max_level() -> LevelFilter {
    filter_from(LOGGER.console.load(Ordering::Relaxed)).max(filter_from(LOGGER.file_level.load(Ordering::Relaxed)))
}

/// `/tmp/openclaw`, unless that directory is unsafe (not ours, a symlink, writable by others);
/// then `/tmp/openclaw-<uid>`, as the official gateway does.
fn log_dir() -> PathBuf {
    let base = std::env::temp_dir();
    let preferred = base.join("openclaw");
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let safe = |p: &Path| match std::fs::symlink_metadata(p) {
        Ok(m) => m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o022 == 0,
        Err(_) => true,
    };
    if safe(&preferred) { preferred } else { base.join(format!("openclaw-{uid}")) }
}

impl LogFile {
    fn open_for(&mut self, now: clock::Civil) {
        self.day = now.day_number();
        self.path = match &self.settings.fixed_path {
            Some(p) => p.clone(),
            None => self.dir.join(format!("{}-{}.log", self.settings.stem, now.date())),
        };
        let _ = crate::fsutil::create_private_dir(&self.dir);
        self.file = OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path).ok();
        self.size = self.file.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.len()).unwrap_or(0);
        if self.file.is_none() {
            eprintln!("[logging] cannot open log file {}; logging to stderr only", self.path.display());
        }
        if self.settings.fixed_path.is_none() {
            self.prune();
        }
    }

    /// Removes this profile's dated files older than the retention period.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let prefix = format!("{}-", self.settings.stem);
        let cutoff = std::time::SystemTime::now() - crate::limits::LOG_RETENTION;
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let dated = name.strip_prefix(&prefix).is_some_and(|rest| rest.len() >= 14 && rest.bytes().take(4).all(|b| b.is_ascii_digit()));
            if !dated || e.path() == self.path {
                continue;
            }
            if e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    fn write_line(&mut self, now: clock::Civil, line: &[u8]) {
        if self.settings.fixed_path.is_none() && now.day_number() != self.day {
            self.open_for(now);
        }
        if self.size + line.len() as u64 > self.settings.max_file_bytes && self.size > 0 {
            self.rotate();
        }
        if let Some(f) = &mut self.file {
            // One write per line: O_APPEND keeps concurrent writers' lines whole.
            if f.write_all(line).is_ok() {
                self.size += line.len() as u64;
            }
        }
    }

    /// Moves the full file to `<name>.1` (replacing an older one) and starts a new one.
    fn rotate(&mut self) {
        let rotated = match self.path.extension() {
            Some(_) => self.path.with_extension("1.log"),
            None => PathBuf::from(format!("{}.1", self.path.display())),
        };
        let _ = std::fs::rename(&self.path, rotated);
        self.file = OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path).ok();
        self.size = 0;
    }
}

fn subsystem(target: &str) -> &str {
    // Our own records name their subsystem; a module path from a dependency keeps its crate name.
    let t = target.strip_prefix("openclaw::").unwrap_or(target);
    t.split("::").next().unwrap_or(t)
}

fn hostname() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string())
    })
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        let own = metadata.target().starts_with("openclaw") || !metadata.target().contains("::");
        // Dependencies only get to speak about real problems.
        if !own && metadata.level() > Level::Warn {
            return false;
        }
        metadata.level() <= max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ms = clock::now_ms();
        let now = clock::local(ms);
        let sub = subsystem(record.target());
        let message = record.args().to_string();
        if record.level() <= filter_from(self.console.load(Ordering::Relaxed)) {
            let tag = match record.level() {
                Level::Error => "error: ",
                Level::Warn => "warning: ",
                _ => "",
            };
            let line = format!("{} [{sub}] {tag}{message}\n", now.rfc3339(false));
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        if record.level() <= filter_from(self.file_level.load(Ordering::Relaxed)) {
            let (level_id, level_name) = match record.level() {
                Level::Error => (5, "ERROR"),
                Level::Warn => (4, "WARN"),
                Level::Info => (3, "INFO"),
                Level::Debug => (2, "DEBUG"),
                Level::Trace => (1, "TRACE"),
            };
            let name = format!("{{\"subsystem\":\"{sub}\"}}");
            let entry = serde_json::json!({
                "0": name,
                "1": message,
                "_meta": {
                    "runtime": "openclaw-rs",
                    "runtimeVersion": crate::VERSION,
                    "hostname": hostname(),
                    "date": clock::utc(ms).rfc3339(true),
                    "logLevelId": level_id,
                    "logLevelName": level_name,
                    "name": name,
                    "parentNames": ["openclaw"],
                },
                "time": now.rfc3339(false),
                "hostname": hostname(),
                "level": level_name.to_ascii_lowercase(),
                "subsystem": sub,
                "message": message,
            });
            let mut line = entry.to_string();
            line.push('\n');
            let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = guard.as_mut() {
                f.write_line(now, line.as_bytes());
            }
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_rotates_at_its_size_limit_and_stays_private() {
        let dir = std::env::temp_dir().join(format!("oc-log-{}", crate::ids::uuid()));
        let path = dir.join("gw.log");
        let settings = Settings {
            console: LevelFilter::Off,
            file: LevelFilter::Info,
            fixed_path: Some(path.clone()),
            stem: "openclaw".into(),
            max_file_bytes: 100,
        };
        let mut lf = LogFile { settings, dir: dir.clone(), path: PathBuf::new(), day: 0, file: None, size: 0 };
        let now = clock::local(clock::now_ms());
        lf.open_for(now);
        let line = [b'a'; 59].iter().copied().chain([b'\n']).collect::<Vec<u8>>();
        lf.write_line(now, &line);
        lf.write_line(now, &line);
        lf.write_line(now, &line);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 60, "current file holds only the newest line");
        assert_eq!(std::fs::metadata(dir.join("gw.1.log")).unwrap().len(), 60);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn subsystem_comes_from_the_target() {
        assert_eq!(subsystem("gateway"), "gateway");
        assert_eq!(subsystem("openclaw::net::server"), "net");
        assert_eq!(subsystem("tungstenite::protocol"), "tungstenite");
    }
}
