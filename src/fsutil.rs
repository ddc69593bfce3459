//! File writes that survive a crash or `kill -9`: write a private temp file in the same directory,
//! fsync it, rename it over the target, fsync the directory. A reader sees the old file or the new
//! one, never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` and missing parents; directories created here get mode 700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Atomically replaces `path` with `bytes`, mode 600.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, bytes, 0o600)
}

/// Atomically replaces `path` with `bytes` and the given mode.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let name = path.file_name().ok_or_else(|| io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp-{}-{}", name.to_string_lossy(), std::process::id(), crate::ids::uuid()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        // The umask may have narrowed the mode at creation; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Replaces `path` atomically (mode 600), first saving its current content as `<path>.bak`.
pub fn write_with_backup(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Ok(old) = fs::read(path) {
        let mut bak = path.as_os_str().to_owned();
        bak.push(".bak");
        write_private_atomic(Path::new(&bak), &old)?;
    }
    write_private_atomic(path, bytes)
}

/// Removes the temporary files that [`write_atomic`] left in `dir` when its process died mid-write
/// (`kill -9`, a power cut): `.<name>.tmp-<pid>-<id>` whose process no longer runs. Only names
/// starting with `.<prefix>` when a prefix is given. Returns how many were removed.
pub fn remove_orphaned_temp_files(dir: &Path, prefix: Option<&str>) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix('.') else { continue };
        if prefix.is_some_and(|p| !rest.starts_with(p)) {
            continue;
        }
        let Some((_, tail)) = rest.rsplit_once(".tmp-") else { continue };
        let Some(pid) = tail.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() || crate::sys::process_alive(pid) {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Flushes a directory entry change (a rename or a new file) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` only when the file does not exist yet (mode 600). Returns whether it
/// wrote.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    // Anything at the path counts, a dangling or looping symbolic link too: it is not ours to
    // replace.
    if fs::symlink_metadata(path).is_ok() {
        return Ok(false);
    }
    write_private_atomic(path, bytes)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let dir = std::env::temp_dir().join(format!("oc-fs-{}", crate::ids::uuid()));
        let file = dir.join("sub").join("f.json");
        write_private_atomic(&file, b"one").unwrap();
        write_private_atomic(&file, b"two").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(dir.join("sub")).unwrap().permissions().mode() & 0o777, 0o700);
        let leftovers: Vec<_> = fs::read_dir(dir.join("sub")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
        assert!(!write_new_private(&file, b"three").unwrap());
        assert_eq!(fs::read(&file).unwrap(), b"two");
        write_with_backup(&file, b"four").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"four");
        assert_eq!(fs::read(dir.join("sub").join("f.json.bak")).unwrap(), b"two");
        assert_eq!(fs::metadata(dir.join("sub").join("f.json.bak")).unwrap().permissions().mode() & 0o777, 0o600);
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn temp_files_of_dead_writers_are_removed_and_live_ones_kept() {
        let dir = std::env::temp_dir().join(format!("oc-fs-orphans-{}", crate::ids::uuid()));
        fs::create_dir_all(&dir).unwrap();
        // pid 0 is never a process we could have written with; pid 1 always runs.
        let dead = dir.join(".openclaw.json.tmp-999999999-abc");
        let live = dir.join(format!(".openclaw.json.tmp-{}-abc", std::process::id()));
        let other = dir.join(".sessions.json.tmp-999999999-abc");
        let unrelated = dir.join("notes.tmp-999999999-abc");
        for f in [&dead, &live, &other, &unrelated] {
            fs::write(f, b"x").unwrap();
        }
        assert_eq!(remove_orphaned_temp_files(&dir, Some("openclaw.json")), 1);
        assert!(!dead.exists() && live.exists() && other.exists() && unrelated.exists());
        assert_eq!(remove_orphaned_temp_files(&dir, None), 1);
        assert!(!other.exists() && unrelated.exists());
        fs::remove_dir_all(dir).ok();
    }
}
