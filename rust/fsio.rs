//! Crash-safe in-place rewrite of a file: write a sibling temporary file, fsync it, rename it
//! over the original, fsync the folder.
//!
//! A reader sees either the old file or the new one, never a half-written one; on any failure
//! the original is untouched and the temporary file is removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Result;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes the temporary file unless the rename went through.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A fresh, unique temporary file in `dir` (never a fixed name two writers could share).
fn create_temp(dir: &Path) -> io::Result<(File, TempGuard)> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".faceio-{}-{n}-{nanos:x}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((f, TempGuard { path, armed: true })),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "could not create a unique temporary file",
    ))
}

/// The file a path finally names: symlinks are followed so the link stays a link.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    fs::canonicalize(path)
}

/// Replace `target` (not a symlink: see [`resolve`]) with `bytes`, atomically and durably,
/// keeping its permission bits (and owner, where the process may set it).
pub fn replace_file(target: &Path, bytes: &[u8]) -> Result<()> {
    let meta = fs::metadata(target)?;
    write_durably(target, bytes, Some(&meta))
}

/// Write `bytes` to `target` atomically and durably, whether or not it exists: a new file gets
/// the mode a plain `open(path, "wb")` gives (0o666 less the umask), an existing one keeps its
/// mode and owner. A reader never sees a half-written file under `target`.
pub fn write_file(target: &Path, bytes: &[u8]) -> Result<()> {
    match fs::metadata(target) {
        Ok(meta) if meta.is_file() => write_durably(target, bytes, Some(&meta)),
        _ => write_durably(target, bytes, None),
    }
}

fn write_durably(target: &Path, bytes: &[u8], keep: Option<&fs::Metadata>) -> Result<()> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (mut file, mut guard) = create_temp(&dir)?;
    file.write_all(bytes)?;
    if let Some(meta) = keep {
        file.set_permissions(meta.permissions())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // Only root (or the owner, for the group) may do this; a failure keeps the writer's
            // ownership, as any rewrite would.
            let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
        }
    }
    file.sync_all()?;
    drop(file);
    fs::rename(&guard.path, target)?;
    guard.armed = false;
    #[cfg(unix)]
    {
        // Make the rename itself durable.
        File::open(&dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("faceio-fsio-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.bin");
        fs::write(&f, b"old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        }
        replace_file(&f, b"new bytes").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"new bytes");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&f).unwrap().permissions().mode() & 0o777,
                0o640
            );
        }
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.bin")]);
        assert!(replace_file(&dir.join("missing"), b"x").is_err());
        write_file(&dir.join("new.bin"), b"fresh").unwrap();
        assert_eq!(fs::read(dir.join("new.bin")).unwrap(), b"fresh");
        write_file(&f, b"again").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"again");
        fs::remove_dir_all(&dir).unwrap();
    }
}
