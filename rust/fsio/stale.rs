//! Temporary files left by killed writers, and their removal.
//!
//! A writer holds an exclusive `flock` on its temporary file from creation until it closes it
//! after the rename. A later write in the same folder removes a file of faceio's temporary
//! naming scheme only if it is older than [`STALE_AFTER`] and that lock can be taken: the
//! kernel drops a lock when its holder exits, however it ends, so a taken lock proves no live
//! writer owns the file. Checking the lock is one system call, needs no permission to look
//! at other processes (as /proc/*/fd would, which also cannot see other containers or other
//! machines sharing the folder), and cannot race a writer that opens the file after the scan.
//! Where locks are not supported the lock cannot be taken, and nothing is removed. Should a
//! live writer's file be removed all the same (a lock not shared between machines, and a writer
//! stalled for a minute between its write and its rename), its rename fails and its update
//! reports the error: the original is never at risk.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::Path;
use std::sync::{Mutex, TryLockError};
use std::time::{Duration, Instant, SystemTime};

/// How old (since its last write) a temporary file must be before it may be removed; a live
/// writer writes its whole file within milliseconds of creating it.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Folders swept recently, by (device, inode): a folder is swept at most once per
/// [`STALE_AFTER`] per process, so a run of updates in a folder of 100,000 faces lists it
/// about once a minute, not once per update.
static SWEPT: Mutex<Option<HashMap<(u64, u64), Instant>>> = Mutex::new(None);

/// Folders remembered before old entries are dropped.
const REMEMBERED: usize = 1024;

/// Take the writer's lock on a temporary file just created. A file system without locks
/// (where the sweep cannot take them either) leaves the file unlocked, which is harmless.
pub fn hold(file: &File) {
    #[cfg(unix)]
    {
        let _ = try_lock(file);
    }
    let _ = file;
}

#[cfg(unix)]
fn try_lock(file: &File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor the caller owns; no pointers are passed.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Whether `name` is one of faceio's temporary files: `.faceio-<pid>-<n>-<hex>.tmp`, matched
/// exactly so that no file of the user's is ever taken for one.
pub fn is_temp_name(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let Some(middle) = name
        .strip_prefix(".faceio-")
        .and_then(|n| n.strip_suffix(".tmp"))
    else {
        return false;
    };
    let parts: Vec<&str> = middle.split('-').collect();
    let digits = |s: &str, hex: bool| {
        !s.is_empty()
            && s.bytes().all(|b| match hex {
                true => b.is_ascii_hexdigit(),
                false => b.is_ascii_digit(),
            })
    };
    parts.len() == 3 && digits(parts[0], false) && digits(parts[1], false) && digits(parts[2], true)
}

/// Whether the folder with this identity is due a sweep (and mark it swept).
fn due(key: (u64, u64), now: Instant) -> bool {
    let mut guard = match SWEPT.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        // Another thread is deciding (or held the lock when a parent forked this process, which
        // would make waiting forever): this write skips the sweep, a later one makes it.
        Err(TryLockError::WouldBlock) => return false,
    };
    let map = guard.get_or_insert_with(HashMap::new);
    if map
        .get(&key)
        .is_some_and(|t| now.duration_since(*t) < STALE_AFTER)
    {
        return false;
    }
    if map.len() >= REMEMBERED {
        map.retain(|_, t| now.duration_since(*t) < STALE_AFTER);
        if map.len() >= REMEMBERED {
            map.clear();
        }
    }
    map.insert(key, now);
    true
}

/// Sweep `dir` (open as `folder`) unless this process swept it recently. Errors are ignored:
/// the sweep is housekeeping and never fails a write.
#[cfg(unix)]
pub fn sweep_if_due(dir: &Path, folder: &File) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = folder.metadata() else {
        return;
    };
    if due((meta.dev(), meta.ino()), Instant::now()) {
        sweep(dir, SystemTime::now());
    }
}

/// Remove the stale temporary files in `dir` as of `now`; returns how many were removed.
pub fn sweep(dir: &Path, now: SystemTime) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| is_temp_name(&e.file_name()))
        .filter(|e| remove_if_stale(&e.path(), now))
        .count()
}

#[cfg(unix)]
fn remove_if_stale(path: &Path, now: SystemTime) -> bool {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    // A symlink or a named pipe of that name is not one of ours: not followed, not waited on.
    let opened = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let Ok(file) = opened else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    let old = meta
        .modified()
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .is_some_and(|age| age >= STALE_AFTER);
    if !meta.is_file() || !old || !try_lock(&file) {
        return false;
    }
    // Remove the name only if it still is the file just locked.
    match fs::symlink_metadata(path) {
        Ok(m) if m.dev() == meta.dev() && m.ino() == meta.ino() => fs::remove_file(path).is_ok(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn remove_if_stale(_: &Path, _: SystemTime) -> bool {
    false
}
