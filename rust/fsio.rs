//! Files on disk: opening for reading (regular files only), and the crash-safe rewrite.
//!
//! A rewrite writes a sibling temporary file, fsyncs it, renames it over the original and
//! fsyncs the folder. A reader sees either the old file or the new one, never a half-written
//! one; on any failure before the rename the original is untouched and the temporary file is
//! removed. A process killed mid-write leaves its temporary file behind: the next write in that
//! folder removes it once it is stale (see [`stale`]).

// Off Linux some of their parts go unused (no extended attributes; no sweep off Unix).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod attrs;
#[cfg_attr(not(unix), allow(dead_code))]
mod stale;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The steps of a rewrite, named so that tests can make each one fail in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Opening and reading the original.
    Read,
    /// Opening the folder (for the stale sweep and the final fsync).
    OpenFolder,
    /// Creating the temporary file.
    CreateTemp,
    /// Writing the new bytes into it.
    Write,
    /// Giving it the original's owner, extended attributes and mode.
    Attributes,
    /// Flushing it to disk.
    Fsync,
    /// Renaming it over the original.
    Rename,
    /// Flushing the folder, which makes the rename durable.
    FolderFsync,
}

#[cfg(test)]
thread_local! {
    static FAIL_AT: std::cell::Cell<Option<Step>> = const { std::cell::Cell::new(None) };
}

/// Make `step` fail on this thread (`None`: no failure), in unit tests only.
#[cfg(test)]
pub fn fail_at(step: Option<Step>) {
    FAIL_AT.with(|f| f.set(step));
}

/// A failure injected by a unit test at `step`; in the library this is nothing at all.
#[cfg(test)]
fn fault(step: Step) -> io::Result<()> {
    match FAIL_AT.with(|f| f.get()) {
        Some(s) if s == step => Err(io::Error::other(format!("injected failure at {step:?}"))),
        _ => Ok(()),
    }
}

#[cfg(not(test))]
#[inline(always)]
fn fault(_: Step) -> io::Result<()> {
    Ok(())
}

/// What kind of non-regular file `meta` describes, for the error message.
fn kind_name(meta: &fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    let _ = meta;
    "not a file"
}

/// Open `path` for reading, refusing anything but a regular file before a byte is read.
///
/// A named pipe blocks `open` itself until a writer comes, and a thread blocked in the core
/// cannot be interrupted by Ctrl-C: so the file is opened without blocking and its type checked
/// on the open descriptor (a `stat` of the path first would race a swap of the file). A folder
/// gives the `EISDIR` error a read would, anything else not regular an `Unsupported` error.
pub fn open_regular(path: &Path) -> Result<(File, fs::Metadata)> {
    fault(Step::Read)?;
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NOCTTY: a terminal opened by mistake must not become the controlling one.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() {
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // Back to blocking reads: Linux ignores O_NONBLOCK on local regular files, but a
            // FUSE or network file system may not, and a short EAGAIN read is not an error.
            // SAFETY: fcntl on a descriptor this function owns; no pointers are passed.
            if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, 0) } == -1 {
                return Err(io::Error::last_os_error().into());
            }
        }
        return Ok((file, meta));
    }
    if meta.is_dir() {
        #[cfg(unix)]
        return Err(io::Error::from_raw_os_error(libc::EISDIR).into());
        #[cfg(not(unix))]
        return Err(io::Error::from(io::ErrorKind::IsADirectory).into());
    }
    Err(Error::new(
        ErrorKind::Unsupported,
        None,
        format!(
            "not a regular file ({}); faceio reads images from regular files only",
            kind_name(&meta)
        ),
    ))
}

/// Read the rest of `file`, whose size `meta` gives, without risking an abort on a huge size.
fn read_all(mut file: &File, meta: &fs::Metadata) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    let hint = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    data.try_reserve_exact(hint)
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    file.read_to_end(&mut data)?;
    Ok(data)
}

/// The whole content of the regular file `path` (see [`open_regular`]).
pub fn read_regular(path: &Path) -> Result<Vec<u8>> {
    let (file, meta) = open_regular(path)?;
    read_all(&file, &meta)
}

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

/// A fresh, unique temporary file in `dir` (never a fixed name two writers could share), named
/// `.faceio-<pid>-<counter>-<hex nanoseconds>.tmp` and locked (see [`stale`]) until closed.
/// `private`: readable and writable by its owner only, for a file that replaces an existing one
/// (whose own mode is applied once the bytes are in): else anyone the folder lets in could open
/// it, and keep reading the new content of a file they may not read, until that mode is set.
fn create_temp(dir: &Path, private: bool) -> io::Result<(File, TempGuard)> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".faceio-{}-{n}-{nanos:x}.tmp", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        match options.open(&path) {
            Ok(f) => {
                let guard = TempGuard { path, armed: true };
                stale::hold(&f);
                return Ok((f, guard));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "could not create a unique temporary file",
    ))
}

/// The path a write to `path` lands on: `path` itself unless it is a symlink, else the file
/// its chain of links names (which need not exist yet).
fn through_links(path: &Path) -> io::Result<PathBuf> {
    let mut at = path.to_path_buf();
    // Linux gives up after 40 links (ELOOP); so does this.
    for _ in 0..40 {
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                #[cfg(unix)]
                may_follow(&at, &meta)?;
                let link = fs::read_link(&at)?;
                at = match at.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(at),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(at),
            Err(e) => return Err(e),
        }
    }
    #[cfg(unix)]
    return Err(io::Error::from_raw_os_error(libc::ELOOP));
    #[cfg(not(unix))]
    return Err(io::Error::other("too many levels of symbolic links"));
}

/// Refuse to follow `link` where Linux's `fs.protected_symlinks` would: in a sticky folder
/// that anyone may write to (`/tmp`), a link owned by neither this user nor the folder's
/// owner. Links are followed here by hand, so the kernel's own check never runs; without
/// this, anyone could plant a link in `/tmp` under a name a save is about to write.
#[cfg(unix)]
fn may_follow(link: &Path, meta: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = match link.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let folder = fs::metadata(dir)?;
    let shared_sticky = folder.mode() & 0o1002 == 0o1002;
    // SAFETY: geteuid takes nothing and cannot fail.
    let me = unsafe { libc::geteuid() };
    if shared_sticky && meta.uid() != me && meta.uid() != folder.uid() {
        return Err(io::Error::from_raw_os_error(libc::EACCES));
    }
    Ok(())
}

/// Rewrite the regular file `path` as `edit` turns its bytes, atomically and durably, keeping
/// its owner (where the process may set it), extended attributes and mode, setuid and setgid
/// bits included. A symlink stays a symlink (its target is rewritten). A file with several hard
/// links is replaced under this name only: the other names keep the old content, as for any
/// rename-based update (docs/format.md, "Placement"). Errors name `path`.
pub fn update_file(path: &Path, edit: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<()> {
    let run = || -> Result<()> {
        // The link chain followed as write_file follows it (a planted link refused alike).
        let target = through_links(path)?;
        let (file, meta) = open_regular(&target)?;
        let data = read_all(&file, &meta)?;
        let new = edit(&data)?;
        let keep = attrs::Keep {
            meta,
            from: attrs::Origin::Open(&file),
        };
        write_durably(&target, &new, Some(&keep))
    };
    run().map_err(|e| e.with_path(path))
}

/// Write `bytes` to `target` atomically and durably, whether or not it exists: a new file gets
/// the mode a plain `open(path, "wb")` gives (0o666 less the umask), an existing one keeps its
/// mode, owner and extended attributes. A reader never sees a half-written file under `target`.
/// A symlink stays a symlink: the file it names is written (created, if the link dangles), as
/// `open(path, "wb")` writes through it.
pub fn write_file(target: &Path, bytes: &[u8]) -> Result<()> {
    let target = &through_links(target)?;
    match fs::metadata(target) {
        Ok(meta) if meta.is_file() => {
            let keep = attrs::Keep {
                meta,
                from: attrs::Origin::Path(target),
            };
            write_durably(target, bytes, Some(&keep))
        }
        _ => write_durably(target, bytes, None),
    }
}

fn write_durably(target: &Path, bytes: &[u8], keep: Option<&attrs::Keep<'_>>) -> Result<()> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // The folder is opened first, so that a folder that cannot be flushed fails the write
    // before anything changes, and so that its identity keys the stale sweep. A folder one may
    // write into but not list (mode -wx) cannot be opened: the write goes on as a plain
    // rename-based writer's would, without the sweep and the folder's flush (the file itself
    // is still flushed before the rename, so a crash leaves the old file or the new one).
    fault(Step::OpenFolder)?;
    #[cfg(unix)]
    let folder = match File::open(&dir) {
        Ok(folder) => {
            stale::sweep_if_due(&dir, &folder);
            Some(folder)
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => None,
        Err(e) => return Err(e.into()),
    };
    fault(Step::CreateTemp)?;
    let (mut file, mut guard) = create_temp(&dir, keep.is_some())?;
    fault(Step::Write)?;
    file.write_all(bytes)?;
    if let Some(keep) = keep {
        fault(Step::Attributes)?;
        attrs::apply(&file, keep)?;
    }
    fault(Step::Fsync)?;
    file.sync_all()?;
    fault(Step::Rename)?;
    fs::rename(&guard.path, target)?;
    guard.armed = false;
    // Closing releases the temporary file's lock, now that its name is gone.
    drop(file);
    fault(Step::FolderFsync)?;
    #[cfg(unix)]
    if let Some(folder) = folder {
        folder.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
