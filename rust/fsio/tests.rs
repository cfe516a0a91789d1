use super::*;
use std::ffi::OsString;

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
