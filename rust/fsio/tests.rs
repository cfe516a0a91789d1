use super::attrs::kept_mode;
use super::stale::{self, is_temp_name, sweep, STALE_AFTER};
use super::*;
use std::ffi::{OsStr, OsString};
use std::time::Duration;

/// A fresh folder for one test.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faceio-fsio-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn names(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names
}

fn new_bytes(_: &[u8]) -> Result<Vec<u8>> {
    Ok(b"new bytes".to_vec())
}

#[test]
fn replaces_and_leaves_no_temp() {
    let dir = folder("replace");
    let f = dir.join("a.bin");
    fs::write(&f, b"old").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
    }
    update_file(&f, |old| {
        assert_eq!(old, b"old");
        new_bytes(old)
    })
    .unwrap();
    assert_eq!(fs::read(&f).unwrap(), b"new bytes");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&f).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o640);
    }
    assert_eq!(names(&dir), vec![OsString::from("a.bin")]);
    let e = update_file(&dir.join("missing"), new_bytes).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    assert_eq!(e.path.as_deref(), Some(dir.join("missing").as_path()));
    write_file(&dir.join("new.bin"), b"fresh").unwrap();
    assert_eq!(fs::read(dir.join("new.bin")).unwrap(), b"fresh");
    write_file(&f, b"again").unwrap();
    assert_eq!(fs::read(&f).unwrap(), b"again");
    fs::remove_dir_all(&dir).unwrap();
}

const STEPS: [Step; 7] = [
    Step::Read,
    Step::OpenFolder,
    Step::CreateTemp,
    Step::Write,
    Step::Attributes,
    Step::Fsync,
    Step::Rename,
];

#[test]
fn a_failure_at_any_step_before_the_rename_changes_nothing() {
    let dir = folder("steps");
    let f = dir.join("face.png");
    for step in STEPS {
        fs::write(&f, b"old bytes").unwrap();
        fail_at(Some(step));
        let err = update_file(&f, new_bytes).unwrap_err();
        fail_at(None);
        assert!(
            err.to_string().contains(&format!("{step:?}")),
            "{step:?}: {err}"
        );
        assert_eq!(err.path.as_deref(), Some(f.as_path()));
        assert_eq!(fs::read(&f).unwrap(), b"old bytes", "{step:?}");
        assert_eq!(names(&dir), vec![OsString::from("face.png")], "{step:?}");
        // The saver's overwrite, too (it reads nothing, so Read does not apply).
        if step != Step::Read {
            fail_at(Some(step));
            assert!(write_file(&f, b"new").is_err(), "{step:?}");
            fail_at(None);
            assert_eq!(fs::read(&f).unwrap(), b"old bytes", "{step:?}");
            assert_eq!(names(&dir), vec![OsString::from("face.png")], "{step:?}");
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failure_flushing_the_folder_is_reported_after_the_rename() {
    // The rename has happened: the file is wholly new, and the error says the update may not
    // be durable yet. No temporary file is left.
    let dir = folder("folder-fsync");
    let f = dir.join("face.png");
    fs::write(&f, b"old bytes").unwrap();
    fail_at(Some(Step::FolderFsync));
    let err = update_file(&f, new_bytes).unwrap_err();
    fail_at(None);
    assert!(err.to_string().contains("FolderFsync"), "{err}");
    assert_eq!(fs::read(&f).unwrap(), b"new bytes");
    assert_eq!(names(&dir), vec![OsString::from("face.png")]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kept_mode_drops_special_bits_only_with_another_owner() {
    assert_eq!(kept_mode(0o106755, (5, 6), (5, 6)), 0o6755);
    assert_eq!(kept_mode(0o6755, (5, 6), (7, 6)), 0o2755);
    assert_eq!(kept_mode(0o6755, (5, 6), (5, 7)), 0o4755);
    assert_eq!(kept_mode(0o1640, (5, 6), (7, 8)), 0o1640);
}

#[cfg(unix)]
#[test]
fn setuid_and_setgid_bits_survive_an_update() {
    use std::os::unix::fs::PermissionsExt;
    let dir = folder("setuid");
    let f = dir.join("face.png");
    fs::write(&f, b"old").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o6755)).unwrap();
    update_file(&f, new_bytes).unwrap();
    // chown clears both bits for an executable file, root included; the mode comes after it.
    let mode = fs::metadata(&f).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o6755);
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn extended_attributes_survive_an_update() {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let dir = folder("xattr");
    let f = dir.join("face.png");
    fs::write(&f, b"old").unwrap();
    let cpath = CString::new(f.as_os_str().as_bytes()).unwrap();
    let set = |name: &str, value: &[u8]| {
        let name = CString::new(name).unwrap();
        // SAFETY: NUL-terminated strings and a value valid for its length.
        unsafe {
            libc::setxattr(
                cpath.as_ptr(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        }
    };
    let big: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
    if set("user.faceio.a", b"one") != 0 {
        eprintln!("skipped: no user extended attributes here");
        return;
    }
    assert_eq!(set("user.faceio.big", &big), 0);
    update_file(&f, new_bytes).unwrap();
    write_file(&f, b"saved over").unwrap();
    let get = |name: &str| {
        let name = CString::new(name).unwrap();
        let mut buf = vec![0u8; 4096];
        // SAFETY: as above; `buf` is valid for its length.
        let n = unsafe {
            libc::getxattr(
                cpath.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        usize::try_from(n).ok().map(|n| buf[..n].to_vec())
    };
    assert_eq!(get("user.faceio.a").as_deref(), Some(&b"one"[..]));
    assert_eq!(get("user.faceio.big"), Some(big));
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_hard_linked_file_is_split() {
    use std::os::unix::fs::MetadataExt;
    let dir = folder("hardlink");
    let (a, b) = (dir.join("a.png"), dir.join("b.png"));
    fs::write(&a, b"old").unwrap();
    fs::hard_link(&a, &b).unwrap();
    update_file(&a, new_bytes).unwrap();
    assert_eq!(fs::read(&a).unwrap(), b"new bytes");
    assert_eq!(fs::read(&b).unwrap(), b"old");
    assert_eq!(fs::metadata(&a).unwrap().nlink(), 1);
    assert_eq!(fs::metadata(&b).unwrap().nlink(), 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn non_regular_files_are_refused_without_blocking() {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let dir = folder("fifo");
    let fifo = dir.join("face.png");
    let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    // Were the pipe opened for a blocking read, this test would hang: no writer ever comes.
    let err = read_regular(&fifo).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(err.to_string().contains("named pipe"), "{err}");
    let err = update_file(&fifo, new_bytes).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert_eq!(err.path.as_deref(), Some(fifo.as_path()));
    let err = read_regular(&dir).unwrap_err();
    assert_eq!(err.io.and_then(|e| e.raw_os_error()), Some(libc::EISDIR));
    assert_eq!(
        read_regular(Path::new("/dev/null")).unwrap_err().kind,
        ErrorKind::Unsupported
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn temp_names_are_matched_exactly() {
    let yes = [".faceio-12-0-17f3a.tmp", ".faceio-1-99-ABCdef.tmp"];
    let no = [
        ".faceio-notes.tmp",
        ".faceio-12-0.tmp",
        ".faceio-12-0-xyz.tmp",
        ".faceio-12-0-1-2.tmp",
        ".faceio--0-1.tmp",
        "faceio-12-0-1.tmp",
        ".faceio-12-0-1.tmp.bak",
    ];
    for n in yes {
        assert!(is_temp_name(OsStr::new(n)), "{n}");
    }
    for n in no {
        assert!(!is_temp_name(OsStr::new(n)), "{n}");
    }
}

#[cfg(unix)]
#[test]
fn the_sweep_removes_only_old_unlocked_temporaries() {
    use std::os::unix::fs::symlink;
    let dir = folder("sweep");
    let temp = |n: u32| dir.join(format!(".faceio-1-{n}-abc.tmp"));
    for n in 0..3 {
        fs::write(temp(n), b"left by a killed writer").unwrap();
    }
    fs::write(dir.join(".faceio-notes.tmp"), b"the user's").unwrap();
    fs::write(dir.join("face.png"), b"x").unwrap();
    let outside = dir.join("outside");
    fs::write(&outside, b"not ours").unwrap();
    symlink(&outside, temp(3)).unwrap();
    fs::create_dir(temp(4)).unwrap();
    // A live writer's file: it holds the lock.
    let live = File::open(temp(0)).unwrap();
    stale::hold(&live);
    let now = SystemTime::now();
    assert_eq!(sweep(&dir, now), 0, "young files are kept");
    let later = now + STALE_AFTER + Duration::from_secs(1);
    assert_eq!(sweep(&dir, later), 2);
    let mut expected: Vec<OsString> = [
        ".faceio-1-0-abc.tmp",
        ".faceio-1-3-abc.tmp",
        ".faceio-1-4-abc.tmp",
        ".faceio-notes.tmp",
        "face.png",
        "outside",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    expected.sort();
    assert_eq!(names(&dir), expected);
    drop(live);
    assert_eq!(sweep(&dir, later), 1, "a dead writer's file goes");
    assert!(!temp(0).exists());
    assert_eq!(fs::read(&outside).unwrap(), b"not ours");
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn a_temporary_file_replacing_another_is_private_until_its_mode_is_set() {
    use std::os::unix::fs::PermissionsExt;
    let dir = folder("temp-mode");
    // The process's umask, read without setting it (other tests create files meanwhile).
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
        .unwrap();
    for (private, want) in [(true, 0o600), (false, 0o666 & !umask)] {
        let (file, guard) = create_temp(&dir, private).unwrap();
        let mode = file.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, want, "private: {private}");
        drop(guard);
    }
    // The file it replaces keeps its own mode, set once the bytes are in.
    let target = dir.join("a.png");
    fs::write(&target, b"old").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
    write_file(&target, b"new").unwrap();
    let meta = fs::metadata(&target).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    assert_eq!(fs::read(&target).unwrap(), b"new");
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_write_through_a_symlink_keeps_the_link() {
    let dir = folder("write-link");
    fs::create_dir_all(dir.join("real")).unwrap();
    let real = dir.join("real").join("a.png");
    fs::write(&real, b"old").unwrap();
    // A relative link, a link to that link, and a dangling one.
    std::os::unix::fs::symlink("real/a.png", dir.join("link.png")).unwrap();
    std::os::unix::fs::symlink(dir.join("link.png"), dir.join("link2.png")).unwrap();
    std::os::unix::fs::symlink("real/new.png", dir.join("dangling.png")).unwrap();
    write_file(&dir.join("link2.png"), b"new").unwrap();
    assert_eq!(fs::read(&real).unwrap(), b"new");
    for name in ["link.png", "link2.png", "dangling.png"] {
        let meta = fs::symlink_metadata(dir.join(name)).unwrap();
        assert!(meta.file_type().is_symlink(), "{name}");
    }
    write_file(&dir.join("dangling.png"), b"made").unwrap();
    assert_eq!(fs::read(dir.join("real").join("new.png")).unwrap(), b"made");
    assert!(fs::symlink_metadata(dir.join("dangling.png"))
        .unwrap()
        .file_type()
        .is_symlink());
    // A loop of links is an error, not a hang.
    std::os::unix::fs::symlink("loop2.png", dir.join("loop1.png")).unwrap();
    std::os::unix::fs::symlink("loop1.png", dir.join("loop2.png")).unwrap();
    assert!(write_file(&dir.join("loop1.png"), b"x").is_err());
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_link_planted_by_another_user_in_a_shared_sticky_folder_is_not_followed() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid takes nothing and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        // Giving a link to another user takes root (CI runs as root).
        eprintln!("SKIPPED: not root, so no link of another user's can be made");
        return;
    }
    let dir = folder("sticky");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = dir.join("victim.png");
    fs::write(&victim, b"victim").unwrap();
    let planted = dir.join("planted.png");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(65534), Some(65534)).unwrap();
    let err = write_file(&planted, b"new").unwrap_err();
    assert_eq!(err.kind, crate::error::ErrorKind::Io, "{err}");
    let err = update_file(&planted, new_bytes).unwrap_err();
    assert_eq!(err.kind, crate::error::ErrorKind::Io, "{err}");
    assert_eq!(fs::read(&victim).unwrap(), b"victim");
    // This user's own link there is followed, as the kernel follows it.
    let own = dir.join("own.png");
    std::os::unix::fs::symlink(&victim, &own).unwrap();
    write_file(&own, b"mine").unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"mine");
    fs::remove_dir_all(&dir).unwrap();
}
