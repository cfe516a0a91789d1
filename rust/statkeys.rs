//! The scan cache's file keys (python/faceio/_scan_cache.py): `stat` of many files at once.
//!
//! A cached re-scan stats every listed file. From Python that is a call and a `stat_result`
//! (twenty fields, three of them floats) per file: 0.3-0.6 s of a 200,000-face re-scan whose
//! whole budget is 2 s. Here the names come as one buffer (a `PathBuf` each cost 0.1 s more to
//! convert and join), each is looked up from the open folder with `fstatat` on rayon's threads
//! (the binding releases the GIL), and the keys come back as plain integer columns: 0.12-0.25 s
//! for 200,000 files on tmpfs with the two cores shared, the kernel's own time.

use std::ffi::CStr;
use std::path::Path;

use rayon::prelude::*;

/// The key columns, in this order: found (1 or 0), size, mtime_ns, ctime_ns, inode, device.
pub const COLUMNS: usize = 6;

/// Split `names`, file names each ended by a NUL byte, into `count` C strings; `None` if it
/// does not hold exactly that.
pub fn split_names(names: &[u8], count: usize) -> Option<Vec<&CStr>> {
    let mut out = Vec::with_capacity(count);
    let mut rest = names;
    while !rest.is_empty() {
        let name = CStr::from_bytes_until_nul(rest).ok()?;
        rest = &rest[name.to_bytes_with_nul().len()..];
        out.push(name);
    }
    (out.len() == count).then_some(out)
}

/// The key columns of `names` (paths from `folder`; `stat` with links followed), each
/// `names.len()` little-endian 64-bit integers, one column after the other. A file whose `stat`
/// fails (or every file, if `folder` cannot be opened) is not found and has zeros for a key.
pub fn stat_keys(folder: &Path, names: &[&CStr]) -> Vec<u8> {
    let keys: Vec<[u64; COLUMNS]> = match std::fs::File::open(folder) {
        Ok(dir) => crate::pool::install(|| names.par_iter().map(|n| key(&dir, n)).collect()),
        Err(_) => vec![[0; COLUMNS]; names.len()],
    };
    let mut out = Vec::with_capacity(keys.len() * COLUMNS * 8);
    for column in 0..COLUMNS {
        for k in &keys {
            out.extend_from_slice(&k[column].to_le_bytes());
        }
    }
    out
}

#[cfg(unix)]
fn key(dir: &std::fs::File, name: &CStr) -> [u64; COLUMNS] {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `dir` is an open descriptor for the whole call, `name` a NUL-terminated string,
    // and `st` a writable `stat`; flags 0 follows links, as Python's `os.stat`.
    if unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, 0) } != 0 {
        return [0; COLUMNS];
    }
    // The casts keep each field's bits (sizes and stamps signed, read back as int64).
    #[allow(clippy::unnecessary_cast)]
    [
        1,
        st.st_size as u64,
        ns(st.st_mtime as i64, st.st_mtime_nsec as i64) as u64,
        ns(st.st_ctime as i64, st.st_ctime_nsec as i64) as u64,
        st.st_ino as u64,
        st.st_dev as u64,
    ]
}

/// Elsewhere no inode or ctime: no file is found, so none is served from a cache (never a
/// stale row; every file is read).
#[cfg(not(unix))]
fn key(_: &std::fs::File, _: &CStr) -> [u64; COLUMNS] {
    [0; COLUMNS]
}

/// Nanoseconds since the epoch, as `os.stat`'s `st_mtime_ns` gives them (wrapping past 2262).
#[cfg(unix)]
fn ns(sec: i64, nsec: i64) -> i64 {
    sec.wrapping_mul(1_000_000_000).wrapping_add(nsec)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn column(out: &[u8], n: usize, c: usize, i: usize) -> u64 {
        let at = (c * n + i) * 8;
        u64::from_le_bytes(out[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn split_needs_exactly_count_names_each_ended() {
        let two = split_names(b"a\0bc\0", 2).unwrap();
        assert_eq!(
            two.iter().map(|c| c.to_bytes()).collect::<Vec<_>>(),
            [&b"a"[..], b"bc"]
        );
        assert!(split_names(b"a\0bc\0", 3).is_none());
        assert!(split_names(b"a\0bc", 2).is_none());
        assert_eq!(split_names(b"", 0).unwrap().len(), 0);
        assert_eq!(split_names(b"\0", 1).unwrap()[0].to_bytes(), b"");
    }

    #[test]
    fn keys_match_std_metadata_and_missing_files_are_zero() {
        let dir = std::env::temp_dir().join(format!("faceio-statkeys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.png"), b"abc").unwrap();
        std::fs::write(dir.join("sub/b.png"), b"de").unwrap();
        std::os::unix::fs::symlink("a.png", dir.join("link.png")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.join("dangling.png")).unwrap();
        let list = [
            "a.png",
            "gone.png",
            "sub/b.png",
            "link.png",
            "dangling.png",
            "",
        ];
        let blob: Vec<u8> = list.iter().flat_map(|n| n.bytes().chain([0])).collect();
        let names = split_names(&blob, list.len()).unwrap();
        let out = stat_keys(&dir, &names);
        let n = list.len();
        assert_eq!(out.len(), n * COLUMNS * 8);
        for (i, name) in list.iter().enumerate() {
            let want = match std::fs::metadata(dir.join(name)) {
                Ok(m) if !name.is_empty() => [
                    1,
                    m.size(),
                    (m.mtime() * 1_000_000_000 + m.mtime_nsec()) as u64,
                    (m.ctime() * 1_000_000_000 + m.ctime_nsec()) as u64,
                    m.ino(),
                    m.dev(),
                ],
                _ => [0; COLUMNS],
            };
            for (c, w) in want.iter().enumerate() {
                assert_eq!(column(&out, n, c, i), *w, "{name:?} column {c}");
            }
        }
        assert_eq!(column(&out, n, 0, 0), 1);
        assert_eq!(column(&out, n, 4, 3), column(&out, n, 4, 0)); // a link's key is its target's
        assert_eq!(column(&out, n, 0, 4), 0);
        let gone = stat_keys(&dir.join("no-such-folder"), &names);
        assert!(gone.iter().all(|b| *b == 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
