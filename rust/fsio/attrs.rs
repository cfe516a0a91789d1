//! What a rewritten file keeps of the one it replaces: owner, extended attributes, mode.
//!
//! The order matters. `chown` clears the setuid and setgid bits (and a file capability, stored
//! as an extended attribute), so the owner comes first, then the attributes, then the mode.

use std::fs::{self, File};
use std::io;
use std::path::Path;

/// The file being replaced: its metadata and where to read its extended attributes from.
pub struct Keep<'a> {
    pub meta: fs::Metadata,
    pub from: Origin<'a>,
}

/// Where the replaced file's extended attributes are read.
pub enum Origin<'a> {
    /// The descriptor its bytes were read from (no race with a swap of the name).
    Open(&'a File),
    /// Its name, for a plain overwrite that never opened it.
    Path(&'a Path),
}

/// Give `file` the owner, extended attributes and mode that `keep` describes.
pub fn apply(file: &File, keep: &Keep<'_>) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = &keep.meta;
        // Only root (or the owner, for the group) may do this; a failure keeps the writer's
        // ownership, as any rewrite would, and the mode below then drops the special bits.
        let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
        #[cfg(target_os = "linux")]
        xattr::copy(&keep.from, file)?;
        let now = file.metadata()?;
        let mode = kept_mode(
            meta.mode(),
            (meta.uid(), meta.gid()),
            (now.uid(), now.gid()),
        );
        file.set_permissions(fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        file.set_permissions(keep.meta.permissions())
    }
}

/// The mode for the new file: the old one's permission and special bits, except setuid when
/// the new file's owner differs (it would run as someone else) and setgid likewise for the
/// group. `was` and `now` are `(uid, gid)` of the old and new file.
pub fn kept_mode(mode: u32, was: (u32, u32), now: (u32, u32)) -> u32 {
    const SETUID: u32 = 0o4000;
    const SETGID: u32 = 0o2000;
    let mut mode = mode & 0o7777;
    if was.0 != now.0 {
        mode &= !SETUID;
    }
    if was.1 != now.1 {
        mode &= !SETGID;
    }
    mode
}

#[cfg(target_os = "linux")]
mod xattr {
    use std::ffi::CString;
    use std::fs::File;
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;

    use super::Origin;

    /// Attempts at a list or value that grows between asking its size and reading it.
    const TRIES: usize = 4;

    /// Call `get(buf, len)` (a `*getxattr`/`*listxattr`) for the whole value, sized first.
    fn sized(mut get: impl FnMut(*mut libc::c_void, usize) -> isize) -> io::Result<Vec<u8>> {
        for _ in 0..TRIES {
            let size = get(std::ptr::null_mut(), 0);
            let Ok(size) = usize::try_from(size) else {
                return Err(io::Error::last_os_error());
            };
            let mut buf = vec![0u8; size];
            let got = get(buf.as_mut_ptr().cast(), buf.len());
            match usize::try_from(got) {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(_) if io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) => {}
                Err(_) => return Err(io::Error::last_os_error()),
            }
        }
        Err(io::Error::from_raw_os_error(libc::ERANGE))
    }

    fn list(from: &Origin<'_>, path: &CString) -> io::Result<Vec<u8>> {
        // SAFETY: `buf` is valid for `len` bytes (or null with 0), and the fd and path
        // outlive the call.
        sized(|buf, len| unsafe {
            match from {
                Origin::Open(f) => libc::flistxattr(f.as_raw_fd(), buf.cast(), len),
                Origin::Path(_) => libc::listxattr(path.as_ptr(), buf.cast(), len),
            }
        })
    }

    fn get(from: &Origin<'_>, path: &CString, name: &[u8]) -> io::Result<Vec<u8>> {
        let name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        // SAFETY: as in `list`; `name` is NUL-terminated.
        sized(|buf, len| unsafe {
            match from {
                Origin::Open(f) => libc::fgetxattr(f.as_raw_fd(), name.as_ptr(), buf, len),
                Origin::Path(_) => libc::getxattr(path.as_ptr(), name.as_ptr(), buf, len),
            }
        })
    }

    /// Whether failing to set attribute `name` may be let pass: outside `user.`, attributes
    /// belong to the system (security labels, capabilities, trusted data), which decides what a
    /// new file gets, as it does for the owner. A `user.` attribute the writer cannot set fails
    /// the update instead of vanishing.
    fn may_skip(name: &[u8], err: &io::Error) -> bool {
        let denied = matches!(
            err.raw_os_error(),
            Some(libc::EPERM | libc::EACCES | libc::EOPNOTSUPP)
        );
        denied && !name.starts_with(b"user.")
    }

    /// Copy every extended attribute (ACLs included, stored as `system.posix_acl_*`) of the
    /// replaced file onto `to`.
    pub fn copy(from: &Origin<'_>, to: &File) -> io::Result<()> {
        let path = match from {
            Origin::Path(p) => CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
            Origin::Open(_) => CString::default(),
        };
        let names = match list(from, &path) {
            Ok(names) => names,
            // A file system without extended attributes: there is nothing to keep.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(()),
            Err(e) => return Err(e),
        };
        for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            let value = match get(from, &path, name) {
                Ok(v) => v,
                // Removed since it was listed.
                Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
                Err(e) => return Err(e),
            };
            let cname =
                CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
            // SAFETY: `cname` is NUL-terminated and `value` valid for its length.
            let rc = unsafe {
                libc::fsetxattr(
                    to.as_raw_fd(),
                    cname.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            };
            if rc != 0 {
                let err = io::Error::last_os_error();
                if !may_skip(name, &err) {
                    return Err(err);
                }
            }
        }
        Ok(())
    }
}
