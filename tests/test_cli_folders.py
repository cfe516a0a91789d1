"""The ``faceio`` command on real folders: links, sub-folders, TIFF faces, re-imports, exits."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import faceio
from faceio.cli import main, scan_folder
from tests.test_cli import GOOD, make_header, payloads, png, run


def faces(folder: Path, names: list[str] | None = None, seed: int = 5) -> list[str]:
    """Write good faces (each named its original_filename) into ``folder``; return the names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = names or GOOD
    for name in names:
        video = name.startswith("clip")
        frame = name.rsplit("_", 1)[0] + (".png" if video else ".jpg")
        (folder / name).write_bytes(png(make_header(rng, name, frame, video)))
    return names


def call(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run the command in process: ``(exit status, stdout, stderr)``."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# entries whose stat fails ---------------------------------------------------------------------


@pytest.fixture
def looped(tmp_path: Path) -> Path:
    """Good faces, a symlink loop and a dangling link, both with face names."""
    folder = tmp_path / "looped"
    faces(folder)
    os.symlink("loop.png", folder / "loop.png")
    os.symlink("gone.png", folder / "dangling.png")
    return folder


def test_scan_reports_a_symlink_loop_and_goes_on(looped: Path) -> None:
    summary = json.loads(run("scan", looped, "--json", code=1).stdout)
    assert summary["files"] == len(GOOD) + 2
    assert summary["with_header"] == len(GOOD)
    errors = {e["file"]: e["error"] for e in summary["errors"]}
    assert set(errors) == {"loop.png", "dangling.png"}
    assert "loops" in errors["loop.png"] and "does not exist" in errors["dangling.png"]
    assert summary["unreadable"] == 2


def test_verify_reports_a_symlink_loop_and_goes_on(looped: Path) -> None:
    lines = run("verify", looped, code=1).stdout.splitlines()
    assert lines[-1].startswith(f"verified {len(GOOD) + 2} face files")
    assert f"{len(GOOD)} good, 2 bad" in lines[-1]
    bad = {Path(line.split(": ", 1)[0]).name for line in lines[:-1]}
    assert bad == {"loop.png", "dangling.png"}


def test_export_reports_a_symlink_loop_and_goes_on(looped: Path, tmp_path: Path) -> None:
    out = tmp_path / "h.jsonl"
    proc = run("export", looped, "-o", out, code=1)
    assert f"exported {len(GOOD)} headers" in proc.stderr and "2 unreadable" in proc.stderr
    records = {r["file"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {*GOOD, "loop.png", "dangling.png"}
    assert "loops" in records["loop.png"]["error"]
    assert all("header" in records[name] for name in GOOD)


# sub-folders ----------------------------------------------------------------------------------


@pytest.fixture
def nested(tmp_path: Path) -> Path:
    """Faces only in sub-folders, one of them two levels down; a link back to the top."""
    top = tmp_path / "nested"
    faces(top / "a", GOOD[:2])
    faces(top / "b" / "deeper", GOOD[2:], seed=6)
    os.symlink("..", top / "b" / "up")  # followed with -r, but read once
    return top


def test_flat_commands_say_how_many_subfolders_were_not_read(nested: Path) -> None:
    summary = json.loads(run("scan", nested, "--json", code=0).stdout)
    assert (summary["files"], summary["subfolders_not_read"]) == (0, 2)
    assert "2 subfolders not read: -r reads them" in run("scan", nested, code=0).stdout
    proc = run("export", nested, code=0)
    assert "2 subfolders not read" in proc.stderr and proc.stdout == ""


def test_verify_with_no_face_file_fails_and_says_why(nested: Path, tmp_path: Path) -> None:
    proc = run("verify", nested, code=1)
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert str(nested) in line and "nothing to verify" in line
    assert "2 subfolders not read (-r reads them)" in line
    (tmp_path / "empty").mkdir()
    assert "nothing to verify" in run("verify", tmp_path / "empty", code=1).stderr


def test_recursive_reads_every_subfolder_once(nested: Path) -> None:
    names = ["a/" + n for n in GOOD[:2]] + ["b/deeper/" + n for n in GOOD[2:]]
    summary = json.loads(run("scan", "-r", nested, "--json", code=0).stdout)
    assert summary["files"] == summary["with_header"] == len(GOOD)
    assert summary["subfolders_not_read"] == 0 and summary["renamed"] == 0
    out = run("verify", nested, "--recursive", code=0).stdout
    assert out.startswith(f"verified {len(GOOD)} face files") and "note" not in out
    records = [json.loads(line) for line in run("export", "-r", nested, code=0).stdout.split()]
    assert [r["file"] for r in records] == names


def test_recursive_export_imports_back(nested: Path, tmp_path: Path) -> None:
    out = tmp_path / "h.jsonl"
    run("export", nested, "-r", "-o", out, code=0)
    before = payloads(nested / "b" / "deeper")
    faceio.update_existing_metadata(nested / "b" / "deeper" / GOOD[3], {"x": 1})
    proc = run("import", out, nested, code=0)
    assert "imported 1 headers" in proc.stdout and f"{len(GOOD) - 1} unchanged" in proc.stdout
    assert payloads(nested / "b" / "deeper") == before


# global options -------------------------------------------------------------------------------


def test_global_options_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    faces(tmp_path)
    after = call(capsys, "scan", tmp_path, "--json", "-q")
    assert after[0] == 0
    for argv in (
        ("--json", "-q", "scan", tmp_path),
        ("-q", "scan", "--json", tmp_path),
        ("--json", "scan", tmp_path, "-q"),
    ):
        assert call(capsys, *argv) == after, argv
    show = call(capsys, "show", "--json", tmp_path / GOOD[0])
    assert call(capsys, "--json", "show", tmp_path / GOOD[0]) == show
    assert call(capsys, "--debug", "verify", tmp_path)[0] == 0
    assert call(capsys, "-q", "verify", "--debug", tmp_path)[0] == 0


def test_global_json_on_a_command_without_it_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = call(capsys, "--json", "verify", tmp_path)
    assert (code, out) == (2, "")
    assert "--json applies to scan and show, not to verify" in err


def test_debug_before_or_after_the_command_shows_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import faceio.cli.scan

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(faceio.cli.scan, "scan_folder", broken)
    code, _, err = call(capsys, "scan", tmp_path)
    assert code == 1 and "internal error: RuntimeError: boom" in err
    for argv in (("--debug", "scan", tmp_path), ("scan", tmp_path, "--debug")):
        with pytest.raises(RuntimeError, match="boom"):
            main([str(a) for a in argv])


# import compares first ------------------------------------------------------------------------


def test_import_leaves_unchanged_files_alone(tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    faces(folder)
    out = tmp_path / "h.jsonl"
    run("export", folder, "-o", out, code=0)
    before = {p.name: os.stat(p) for p in folder.iterdir()}
    proc = run("import", out, folder, code=0)
    assert f"imported 0 headers into {folder}: {len(GOOD)} unchanged" in proc.stdout
    for path in folder.iterdir():
        now = os.stat(path)
        assert (now.st_ino, now.st_mtime_ns) == (
            before[path.name].st_ino,
            before[path.name].st_mtime_ns,
        )
    # An edited record is written; only its file changes.
    records = [json.loads(line) for line in out.read_text().splitlines()]
    records[1]["header"]["alignments"]["x"] += 1
    out.write_text("".join(json.dumps(r) + "\n" for r in records))
    proc = run("import", out, folder, code=0)
    assert f"imported 1 headers into {folder}: {len(GOOD) - 1} unchanged" in proc.stdout
    changed = {p.name for p in folder.iterdir() if os.stat(p).st_ino != before[p.name].st_ino}
    assert changed == {records[1]["file"]}
    header = faceio.png_read_meta((folder / records[1]["file"]).read_bytes())
    assert header.alignments.x == records[1]["header"]["alignments"]["x"]


def test_import_sees_an_edit_of_a_sealed_line_and_a_changed_file(tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    faces(folder, GOOD[:3])
    out = tmp_path / "h.jsonl"
    run("export", folder, "-o", out, code=0)
    lines = out.read_text().splitlines()
    assert all('"digest":"' in line for line in lines)
    # Edit the first line as text, leaving its digest as it was: the edit is written.
    x = json.loads(lines[0])["header"]["alignments"]["x"]
    assert f'"x":{x},' in lines[0]
    lines[0] = lines[0].replace(f'"x":{x},', f'"x":{x + 7},', 1)
    out.write_text("\n".join(lines) + "\n")
    # Change the second file after the export: its exported header is written back.
    exported = faceio.png_read_meta((folder / GOOD[1]).read_bytes())
    faceio.update_existing_metadata(folder / GOOD[1], {"other": 1})
    proc = run("import", out, folder, code=0)
    assert "imported 2 headers" in proc.stdout and "1 unchanged" in proc.stdout
    assert faceio.png_read_meta((folder / GOOD[0]).read_bytes()).alignments.x == x + 7
    assert faceio.png_read_meta((folder / GOOD[1]).read_bytes()) == exported


def test_sealed_lines_from_show_and_export_agree(tmp_path: Path) -> None:
    from faceio.cli.records import unedited, value_digest

    faces(tmp_path, GOOD[:1])
    shown = run("show", "--json", tmp_path / GOOD[0], code=0).stdout
    assert shown == run("export", tmp_path, code=0).stdout
    name, digest = unedited(shown) or ("", "")
    stored = faceio._core.png_read_meta((tmp_path / GOOD[0]).read_bytes())
    assert (name, digest) == (GOOD[0], value_digest(stored))
    assert unedited(shown.replace('"digest"', '"digest" ')) is None
    assert unedited(shown.replace("clip", "clap", 1)) is None


def test_import_writes_a_change_of_type_or_order(tmp_path: Path) -> None:
    # 1.0 == 1 and dicts compare without order: neither may pass for "unchanged".
    (tmp_path / "p.png").write_bytes(png({"a": 1, "b": 2}))
    for payload in ({"a": 1.0, "b": 2}, {"b": 2, "a": 1}, {"a": True, "b": 2}):
        jsonl = tmp_path / "h.jsonl"
        record = faceio.cli.header_record("p.png", payload)
        jsonl.write_text(json.dumps(record) + "\n")
        assert "imported 1 headers" in run("import", jsonl, tmp_path, code=0).stdout
        assert str(faceio._core.png_read_meta((tmp_path / "p.png").read_bytes())) == str(payload)


_ODD_FIELDS: dict[str, Callable[[dict[str, Any]], object]] = {
    # Fields the schema leaves untyped, holding what JSON would change or cannot hold.
    "tuple_x": lambda h: h["alignments"].__setitem__("x", (1, 2)),
    "bytes_name": lambda h: h["source"].__setitem__("original_filename", b"abc.png"),
    "complex_index": lambda h: h["source"].__setitem__("face_index", 1 + 2j),
    "surrogate_name": lambda h: h["source"].__setitem__("original_filename", "a\udcffb.png"),
    "tuple_interpolator": lambda h: h["alignments"]["mask"]["components"].__setitem__(
        "interpolator", (3,)
    ),
    "mask_none": lambda h: h["alignments"].__setitem__("mask", None),
}


def test_export_then_import_restores_odd_headers_and_names_byte_for_byte(tmp_path: Path) -> None:
    """Headers with odd values in untyped fields, and a file name that is not UTF-8: export
    writes every record (none fails the run), and importing it into the files, their headers
    changed meanwhile, gives back the very bytes."""
    folder = tmp_path / "odd"
    folder.mkdir()
    rng = np.random.default_rng(11)
    for name, change in _ODD_FIELDS.items():
        header = make_header(rng, "a_0.png", "a.jpg", False).to_dict()
        change(header)
        payload = str(header).encode("utf-8", "surrogatepass")
        (folder / f"{name}.png").write_bytes(faceio.png_write_meta(png(), payload))
    odd_name = os.fsdecode(b"b\xff.png")
    (folder / odd_name).write_bytes(png(make_header(rng, "b_0.png", "b.jpg", False)))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    out = tmp_path / "odd.jsonl"
    run("export", folder, "-o", out, code=0)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["file"] for r in records) == sorted(before)
    assert not any("error" in r for r in records)
    for path in folder.iterdir():
        faceio.update_existing_metadata(str(path), {"changed": 1})
    assert "imported 7 headers" in run("import", out, folder, code=0).stdout
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_import_writes_a_payload_that_is_a_string_as_a_string(tmp_path: Path) -> None:
    (tmp_path / "s.png").write_bytes(png({"a": 1}))
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text(json.dumps({"file": "s.png", "payload": "world"}) + "\n")
    run("import", jsonl, tmp_path, code=0)
    assert faceio._core.png_read_meta((tmp_path / "s.png").read_bytes()) == "world"
    run("verify", tmp_path, code=1)  # a readable header, not a face


def test_a_line_that_is_not_utf8_spoils_only_itself(tmp_path: Path) -> None:
    """600 edited records (more than a chunk of the reader), one line of bad bytes among
    them and one CRLF line: every other record is written, the bad line named."""
    folder = tmp_path / "many"
    folder.mkdir()
    lines = []
    for i in range(600):
        (folder / f"f{i:03d}.png").write_bytes(png({"n": 0}))
        lines.append(json.dumps({"file": f"f{i:03d}.png", "payload": {"n": i + 1}}).encode())
    lines.insert(300, b'{"file": "f000.png", "payload": "\xff"}')
    lines[10] += b"\r"
    jsonl = tmp_path / "many.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    proc = run("import", jsonl, folder, code=1)
    assert "imported 600 headers" in proc.stdout
    assert "line 301: not UTF-8 text" in proc.stdout
    for i in range(600):
        meta = faceio._core.png_read_meta((folder / f"f{i:03d}.png").read_bytes())
        assert meta == {"n": i + 1}


def test_export_writes_through_a_symlink_and_into_a_pipe(tmp_path: Path) -> None:
    """-o a symlink: the link stays, its target gets the export. -o a named pipe: the pipe
    stays a pipe and its reader gets the export (renaming over it would make it a file)."""
    import threading

    faces(tmp_path / "f", GOOD[:2])
    run("export", tmp_path / "f", "-o", tmp_path / "plain.jsonl", code=0)
    expected = (tmp_path / "plain.jsonl").read_bytes()
    (tmp_path / "real").mkdir()
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "real" / "out.jsonl")
    run("export", tmp_path / "f", "-o", link, code=0)
    assert link.is_symlink() and (tmp_path / "real" / "out.jsonl").read_bytes() == expected
    assert not list(tmp_path.glob("**/*.part"))
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    run("export", tmp_path / "f", "-o", fifo, code=0)
    reader.join(timeout=30)
    assert got == [expected]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_export_to_dev_stdout_writes_to_stdout_as_the_shell_opened_it(tmp_path: Path) -> None:
    """-o /dev/stdout (a link only the system follows): into a pipe, and appended to a file a
    shell opened with >> (a rename over the file would lose what it held)."""
    faces(tmp_path / "f", GOOD[:2])
    run("export", tmp_path / "f", "-o", tmp_path / "plain.jsonl", code=0)
    expected = (tmp_path / "plain.jsonl").read_text()
    assert run("export", tmp_path / "f", "-o", "/dev/stdout", code=0).stdout == expected
    log = tmp_path / "all.jsonl"
    log.write_text("EARLIER LINE\n")
    with open(log, "a") as appended:
        command = [sys.executable, "-m", "faceio", "export", str(tmp_path / "f")]
        proc = subprocess.run([*command, "-o", "/dev/stdout"], stdout=appended, timeout=60)
    assert proc.returncode == 0
    assert log.read_text() == "EARLIER LINE\n" + expected
    # Any descriptor the caller opened: /dev/fd/N, appended to as well.
    other = tmp_path / "fd.jsonl"
    other.write_text("OLD\n")
    with open(other, "a") as appended:
        fd = appended.fileno()
        proc = subprocess.run([*command, "-o", f"/dev/fd/{fd}"], pass_fds=(fd,), timeout=60)
    assert proc.returncode == 0
    assert other.read_text() == "OLD\n" + expected


# one record per real file ---------------------------------------------------------------------


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """Two faces; a symlink and a hard link to the first; a link to a face outside."""
    folder = tmp_path / "linked"
    faces(folder, GOOD[:2])
    faces(tmp_path / "elsewhere", GOOD[2:3])
    os.symlink(GOOD[0], folder / "z_soft.png")
    os.link(folder / GOOD[0], folder / "a_hard.png")
    os.symlink(tmp_path / "elsewhere" / GOOD[2], folder / "outside.png")
    return folder


def test_export_writes_one_record_per_real_file(linked: Path) -> None:
    proc = run("export", linked, code=0)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    # The first of the hard links by name is kept (neither is a symlink), noting the others.
    assert [r["file"] for r in records] == ["a_hard.png", GOOD[1], "outside.png"]
    assert records[0]["links"] == [GOOD[0], "z_soft.png"]
    assert "links" not in records[1] and "links" not in records[2]
    assert "2 links to a file exported once" in proc.stderr
    assert records[2]["header"]["source"]["original_filename"] == GOOD[2]


def test_import_refuses_two_records_for_one_file(linked: Path, tmp_path: Path) -> None:
    header = json.loads(run("show", "--json", linked / GOOD[0], code=0).stdout)["header"]
    edited = json.loads(json.dumps(header))
    edited["alignments"]["x"] += 5
    jsonl = tmp_path / "h.jsonl"
    lines = [
        {"file": GOOD[0], "header": edited},
        {"file": "z_soft.png", "header": header},  # would undo the edit
    ]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in lines))
    proc = run("import", jsonl, linked, code=1)
    assert f"line 2: z_soft.png is the same file as {GOOD[0]} (line 1): refused" in proc.stdout
    assert "1 refused" in proc.stdout.splitlines()[-1]
    assert (
        faceio.png_read_meta((linked / GOOD[0]).read_bytes()).alignments.x
        == (edited["alignments"]["x"])
    )
    assert (linked / "z_soft.png").is_symlink()


# exit statuses and messages -------------------------------------------------------------------


def test_show_a_missing_file_among_good_ones_is_a_bad_file(tmp_path: Path) -> None:
    faces(tmp_path, GOOD[:1])
    (tmp_path / "sub").mkdir()
    proc = run("show", tmp_path / GOOD[0], tmp_path / "missing.png", tmp_path / "sub", code=1)
    assert proc.stdout.startswith(f"{GOOD[0]}  (32x32 PNG)")
    assert proc.stderr.splitlines() == [
        f"faceio show: {tmp_path / 'missing.png'}: no such file",
        f"faceio show: {tmp_path / 'sub'}: is a folder, not a file",
    ]
    run("show", tmp_path / "missing.png", code=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("import", "{tmp}/h.jsonl", "{tmp}/file.png"), "{tmp}/file.png: is a file, not a folder"),
        (("import", "{tmp}/h.jsonl", "{tmp}/none"), "{tmp}/none: no such folder"),
        (("import", "{tmp}/file.png/h.jsonl", "{tmp}"), "{tmp}/file.png/h.jsonl: cannot read"),
        (("verify", "{tmp}/file.png"), "{tmp}/file.png: is a file, not a folder"),
        (("scan", "{tmp}/dangling"), "{tmp}/dangling: a broken symbolic link, not a folder"),
        (("export", "{tmp}", "-o", "{tmp}/file.png/o.jsonl"), "{tmp}/file.png is a file"),
        (("export", "{tmp}", "-o", "{tmp}/none/o.jsonl"), "the folder {tmp}/none does not"),
        (("export", "{tmp}", "-o", "{tmp}"), "{tmp}: is a folder, not a file"),
    ],
)
def test_usage_errors_name_the_real_problem(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "file.png").write_bytes(b"x")
    (tmp_path / "h.jsonl").write_text("")
    os.symlink("nowhere", tmp_path / "dangling")
    proc = run(*(a.format(tmp=tmp_path) for a in args), code=2)
    (line,) = proc.stderr.splitlines()
    assert message.format(tmp=tmp_path) in line


def test_help_gives_the_exit_statuses_every_command_keeps() -> None:
    for command in ("scan", "show", "verify", "export", "import"):
        text = " ".join(run(command, "--help", code=0).stdout.split())
        assert "Exit status: 0 all good; 1 a file is bad" in text, command
        assert "2 usage error" in text, command


# TIFF faces -----------------------------------------------------------------------------------


def tiff(metadata: object = None) -> bytes:
    image = np.full((24, 40, 3), 90, dtype=np.uint8)
    return faceio.encode_image(image, ".tif", metadata=metadata)


def tiff_header(name: str) -> dict[str, object]:
    """A face header a TIFF can hold: JSON has no bytes, so no masks."""
    header = make_header(np.random.default_rng(11), name, "still.jpg", False).to_dict()
    header["alignments"]["mask"] = {}
    return header


@pytest.fixture
def tiffs(tmp_path: Path) -> Path:
    folder = tmp_path / "tiffs"
    faces(folder, GOOD[:1])
    (folder / "face_0.tif").write_bytes(tiff(tiff_header("face_0.tif")))
    (folder / "bare_0.tiff").write_bytes(tiff())
    bad = tiff_header("bad_0.tif")
    del bad["alignments"]["x"]  # type: ignore[attr-defined]
    (folder / "bad_0.tif").write_bytes(tiff(bad))
    return folder


def test_scan_reads_tiff_headers(tiffs: Path) -> None:
    summary = json.loads(run("scan", tiffs, "--json", code=1).stdout)
    assert summary["files"] == 4
    assert summary["with_header"] == 2 and summary["without_header"] == 1
    assert summary["schema_errors"] == 1 and summary["unreadable"] == 0
    assert summary["sizes"] == {"40x24": 3, "32x32": 1}
    assert summary["masks"] == {"components": 1, "extended": 1}
    assert summary["identity"] == {"vggface2": 2}
    (error,) = summary["errors"]
    assert error["file"] == "bad_0.tif" and "missing required key(s) ['x']" in error["error"]


def test_show_and_verify_read_tiff_headers(tiffs: Path) -> None:
    out = run("show", tiffs / "face_0.tif", code=0).stdout
    assert out.startswith("face_0.tif  (40x24 TIFF)")
    assert "original_filename   face_0.tif" in out and "vggface2  512 floats" in out
    record = json.loads(run("show", "--json", tiffs / "face_0.tif", code=0).stdout)
    assert record["header"] == faceio.tiff_read_meta((tiffs / "face_0.tif").read_bytes())
    proc = run("show", tiffs / "bare_0.tiff", code=1)
    assert "no faceswap header" in proc.stderr
    lines = run("verify", tiffs, code=1).stdout.splitlines()
    assert lines[-1].startswith("verified 4 face files") and "2 good, 2 bad" in lines[-1]
    bad = {Path(line.split(": ", 1)[0]).name: line for line in lines[:-1]}
    assert set(bad) == {"bare_0.tiff", "bad_0.tif"}
    assert "does not match the face schema" in bad["bad_0.tif"]


def test_import_into_a_tiff_names_the_field_json_cannot_hold(tiffs: Path, tmp_path: Path) -> None:
    (tiffs / "bad_0.tif").unlink()
    out = tmp_path / "h.jsonl"
    run("export", tiffs, "-o", out, code=0)
    records = {r["file"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["face_0.tif"]["header"] == tiff_header("face_0.tif")
    assert records["bare_0.tiff"]["header"] is None
    # A header with mask bytes for the bare TIFF: refused, naming the field.
    face = dict(records[GOOD[0]], file="bare_0.tiff")
    plain = dict(records["face_0.tif"], file="bare_0.tiff")
    out.write_text(json.dumps(face) + "\n")
    proc = run("import", out, tiffs, code=1)
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("bare_0.tiff: ")]
    assert "['alignments']['mask']['components']['mask'] is a bytes" in line
    assert "JSON" in line
    assert (tiffs / "bare_0.tiff").read_bytes() == tiff()
    # One JSON can hold is written, and read back; a second import leaves it alone.
    out.write_text(json.dumps(plain) + "\n")
    assert "imported 1 headers" in run("import", out, tiffs, code=0).stdout
    stored = faceio.tiff_read_meta((tiffs / "bare_0.tiff").read_bytes())
    assert stored == tiff_header("face_0.tif")
    assert "1 unchanged" in run("import", out, tiffs, code=0).stdout


# scan and verify agree on the schema ----------------------------------------------------------


def test_scan_counts_schema_errors_as_verify_does(tmp_path: Path) -> None:
    faces(tmp_path, GOOD[:2])
    rng = np.random.default_rng(3)
    broken = {
        "no_x_0.png": lambda h: h["alignments"].pop("x"),
        "words_0.png": lambda h: h["alignments"].__setitem__("landmarks_xy", [["a", "b"]]),
        "extra_0.png": lambda h: h["source"].__setitem__("colour", "blue"),
        "ragged_0.png": lambda h: h["alignments"]["identity"].__setitem__("v", [[1.0], []]),
    }
    for name, damage in broken.items():
        header = make_header(rng, name, "s.jpg", False).to_dict()
        damage(header)
        (tmp_path / name).write_bytes(png(header))
    summary = json.loads(run("scan", tmp_path, "--json", code=1).stdout)
    assert summary["with_header"] == 2
    assert summary["schema_errors"] == len(broken) and summary["unreadable"] == 0
    scan_bad = {e["file"]: e["error"] for e in summary["errors"]}
    lines = run("verify", tmp_path, code=1).stdout.splitlines()
    verify_bad = {Path(x.split(": ", 1)[0]).name: x.split(": ", 1)[1] for x in lines[:-1]}
    assert scan_bad == verify_bad
    assert set(scan_bad) == set(broken)
    assert all("does not match the face schema" in why for why in scan_bad.values())
    text = run("scan", tmp_path, code=1).stdout
    assert ["bad", "header", str(len(broken))] == next(
        line.split()[:3] for line in text.splitlines() if line.split()[:2] == ["bad", "header"]
    )


# progress bars --------------------------------------------------------------------------------


def run_on_terminal(*args: object) -> tuple[int, str]:
    """Run the command with stderr on a pseudo-terminal: ``(exit status, what stderr showed)``."""
    import fcntl
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios

    leader, follower = pty.openpty()
    try:
        # A new pseudo-terminal is 0 columns wide, where tqdm draws nothing: give it a size.
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        proc = subprocess.Popen(
            [sys.executable, "-m", "faceio", *map(str, args)],
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
        shown = b""
        # The follower stays open here until the output is read: Linux may drop what a process
        # wrote just before it exits once the last follower descriptor is closed.
        while True:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                shown += os.read(leader, 65536)
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=30), shown.decode("utf-8", "replace")
    finally:
        os.close(follower)
        os.close(leader)


@pytest.mark.parametrize("command", ["scan", "verify", "export"])
def test_progress_bar_on_a_terminal_by_default(tmp_path: Path, command: str) -> None:
    faces(tmp_path)
    code, shown = run_on_terminal(command, tmp_path)
    assert code == 0, shown
    assert f"{command}:" in shown and f"/{len(GOOD)} " in shown and "file/s" in shown, shown
    for quiet in ((command, tmp_path, "-q"), ("-q", command, tmp_path)):
        code, shown = run_on_terminal(*quiet)
        assert code == 0 and "file/s" not in shown and f"{command}:" not in shown, shown


def test_progress_bar_on_a_terminal_for_import(tmp_path: Path) -> None:
    faces(tmp_path)
    out = tmp_path / "h.jsonl"
    run("export", tmp_path, "-o", out, code=0)
    code, shown = run_on_terminal("import", out, tmp_path)
    assert code == 0 and "import:" in shown and "file/s" in shown, shown


def test_no_progress_bar_in_a_pipe(tmp_path: Path) -> None:
    faces(tmp_path)
    for command in ("scan", "verify", "export"):
        proc = run(command, tmp_path, code=0)
        assert "file/s" not in proc.stderr and "\r" not in proc.stderr, proc.stderr


def test_tqdm_is_a_runtime_dependency() -> None:
    """The bar is the default, so tqdm must come with every install, not with an extra."""
    from importlib import metadata

    try:
        requires = metadata.requires("faceio") or []
        runtime = [r for r in requires if "extra ==" not in r]
    except metadata.PackageNotFoundError:  # the source tree, not installed: read pyproject
        import re

        text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
        found = re.search(r"^dependencies = \[(.*?)\]", text, re.MULTILINE | re.DOTALL)
        assert found, "no dependencies list in pyproject.toml"
        runtime = re.findall(r'"([^"]+)"', found.group(1))
    assert any(r.replace(" ", "").startswith("tqdm") for r in runtime), runtime


# scan's schema check gives from_dict's verdict ------------------------------------------------

_ODD_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**1100), max_value=2**1100)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=4)
    | st.sampled_from(["1.5", "nan", b"2", 1j])
    # Sized like a landmark row, but not a list numpy would take as one.
    | st.frozensets(st.floats(allow_nan=False), min_size=2, max_size=2)
    | st.dictionaries(st.floats(allow_nan=False), st.floats(), min_size=2, max_size=2),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


def _paths(value: object, at: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every key path into the dicts and lists of a header."""
    out = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*at, key))
    elif isinstance(value, list) and len(value) < 8:  # not into the 512 floats
        for index, item in enumerate(value):
            out += _paths(item, (*at, index))
    return out


def _verdict(check: Callable[[object], object], header: object) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's overflow warning, an error under pytest
        try:
            check(header)
        except faceio.HeaderSchemaError as err:
            return str(err)
    return "ok"


def _odd_header(data: st.DataObject) -> dict[str, Any]:
    """A face header's dict with one to three of its values set, deleted or added."""
    header = make_header(np.random.default_rng(0), "a_0.png", "a.jpg", False).to_dict()
    header["alignments"]["landmarks_xy"] = header["alignments"]["landmarks_xy"][:3]
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(header)[1:]
        if not paths:  # both halves deleted
            break
        path = data.draw(st.sampled_from(paths))
        *parents, last = path
        target: Any = header
        for key in parents:
            target = target[key]
        action = data.draw(st.sampled_from(["set", "delete", "add"]))
        if action == "delete" and isinstance(target, dict):
            del target[last]
        elif action == "add" and isinstance(target, dict):
            target[data.draw(st.text(max_size=3))] = data.draw(_ODD_VALUES)
        else:
            target[last] = data.draw(_ODD_VALUES)
    return header


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_scan_schema_check_agrees_with_from_dict(data: st.DataObject) -> None:
    from faceio.cli._faces import check_face

    header = _odd_header(data)
    assert _verdict(check_face, header) == _verdict(faceio.PNGHeader.from_dict, header)


def _facts_both_ways(path: Path) -> tuple[Any, Any, Any]:
    """A file's scan facts as the core takes them, and from its dict: (core's item, both)."""
    from faceio._files import FolderEntry
    from faceio.cli._faces import read_metas
    from faceio.cli.scan import file_facts

    entry = FolderEntry(path.name, str(path))
    ((_, fast),) = read_metas([entry], facts=True)
    ((_, plain),) = read_metas([entry])
    return fast, file_facts(str(path), fast), file_facts(str(path), plain)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_scan_facts_from_the_core_equal_those_from_the_dict(
    tmp_path: Path, data: st.DataObject
) -> None:
    header = _odd_header(data)
    path = tmp_path / "a_0.png"
    try:
        text = str(header).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from st.text: no payload holds it as such
        return
    path.write_bytes(faceio.png_write_meta(png(), text))
    _, fast, plain = _facts_both_ways(path)
    assert fast == plain


@pytest.mark.parametrize(
    ("change", "taken"),
    [
        (lambda h: None, True),
        # Tuples are arrays for from_dict (and the core) though not for scan's plain check.
        (lambda h: h["alignments"].update(landmarks_xy=((1.5, 2), (3, True))), True),
        (lambda h: h["alignments"].update(mask=None), True),
        (lambda h: h["alignments"].pop("identity"), True),
        (lambda h: h["alignments"].update(mask={}), True),
        (
            lambda h: h["source"].update(
                source_is_video=1, source_filename=7, alignments_version="x"
            ),
            True,
        ),
        (lambda h: h["source"].update(original_filename=None), True),
        (
            lambda h: h["source"].update(source_filename="clip_000001.png", source_is_video=True),
            True,
        ),
        # Left to the dict: a ragged array, an unknown key, no header of a face at all.
        (lambda h: h["alignments"].update(landmarks_xy=[[1.0, 2.0], [3.0]]), False),
        (lambda h: h["alignments"].update(extra=1), False),
        (lambda h: h.pop("source"), False),
        (lambda h: h["alignments"].pop("x"), False),
    ],
)
def test_scan_facts_come_from_the_core_for_face_headers(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], taken: bool
) -> None:
    header = make_header(np.random.default_rng(3), "a_0.png", "a.jpg", False).to_dict()
    change(header)
    path = tmp_path / "a_0.png"
    path.write_bytes(faceio.png_write_meta(png(), str(header).encode("utf-8")))
    fast, facts, plain = _facts_both_ways(path)
    assert isinstance(fast, tuple) is taken
    assert facts == plain
    if taken:
        assert facts.kind == "face"


@pytest.mark.parametrize(
    ("field", "text"),
    [
        # Values Python refuses to build: the dict route fails the file (as verify does), so
        # the core's facts must not call it a face.
        ("x", "1" * 5000),  # past sys.get_int_max_str_digits()
        ("interpolator", "'\\N{NO SUCH CHARACTER NAME}'"),
        ("source_frame_dims", "[" + "9" * 5000 + ", 2]"),
    ],
)
def test_scan_facts_of_a_payload_python_cannot_build(tmp_path: Path, field: str, text: str) -> None:
    header = make_header(np.random.default_rng(3), "a_0.png", "a.jpg", False).to_dict()
    place = header["source"] if field in header["source"] else header["alignments"]
    if field not in place:
        place = header["alignments"]["mask"]["components"]
    place[field] = "@@"
    payload = str(header).replace("'@@'", text)
    path = tmp_path / "a_0.png"
    path.write_bytes(faceio.png_write_meta(png(), payload.encode("utf-8")))
    _, facts, plain = _facts_both_ways(path)
    assert plain.kind == "error"
    assert "refuses" in str(plain.error) or "names no character" in str(plain.error)
    assert facts == plain


def test_scan_summary_is_the_same_without_the_cores_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faceio.cli import scan
    from faceio.cli._faces import read_metas

    faces(tmp_path)
    (tmp_path / "other.png").write_bytes(png({"not": "a face"}))
    (tmp_path / "none.png").write_bytes(png())
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "tif_0.tif").write_bytes(tiff(tiff_header("tif_0.tif")))
    fast = scan.scan_folder(tmp_path)
    monkeypatch.setattr(scan, "read_metas", lambda entries, facts: read_metas(entries))
    assert scan.scan_folder(tmp_path) == fast
    assert fast["with_header"] == len(list(tmp_path.glob("*_*.*")))


@pytest.mark.parametrize(
    "landmarks",
    [
        [[1.0, 2.0], frozenset({3.0, 4.0})],
        [[1.0, 2.0], {3.0: 0.0, 4.0: 0.0}],
        [[1.0, 2.0], "ab"],
        [[1.0, 2.0], (3.0, 4.0)],
        [[1.0, 2.0], [3.0]],
        [[[1.0, 2.0]], [[3.0, 4.0]]],
        [[1.0, 2**1024]],
        [[1.0, 2**1023]],
        [[1.0, None]],
        [[1.0, True]],
        [[1.0, "2"]],
        [[1.0, 1j]],
        [1.0, [2.0]],
        [],
        [[]],
        5.0,
        (1.0, 2.0),
        None,
    ],
)
def test_scan_schema_check_agrees_on_odd_arrays(landmarks: object) -> None:
    from faceio.cli._faces import check_face

    header = make_header(np.random.default_rng(0), "a_0.png", "a.jpg", False).to_dict()
    for where in (header["alignments"], header["alignments"]["identity"]):
        key = "landmarks_xy" if "landmarks_xy" in where else "vggface2"
        saved, where[key] = where[key], landmarks
        assert _verdict(check_face, header) == _verdict(faceio.PNGHeader.from_dict, header)
        where[key] = saved


def test_scan_schema_check_takes_plain_headers_without_numpy() -> None:
    from faceio.cli import _faces

    header = make_header(np.random.default_rng(0), "a_0.png", "a.jpg", False).to_dict()
    assert _faces._plain_object(0, header)
    header["alignments"]["landmarks_xy"][0][0] = "1.5"  # left to numpy, which takes it
    assert not _faces._plain_object(0, header)
    _faces.check_face(header)
    header["alignments"]["landmarks_xy"][0][0] = "one"
    with pytest.raises(faceio.HeaderSchemaError, match="landmarks_xy: not a numeric array"):
        _faces.check_face(header)


@pytest.mark.parametrize("name", [b"\xff_cut.png", b"a\xe2\x82_cut.png", b"ok_cut.png"])
def test_an_error_line_names_a_file_once_whatever_its_bytes(tmp_path: Path, name: bytes) -> None:
    """The core names a path whose bytes are not UTF-8 with U+FFFD for them; the error line
    gives the file's name once (it gave the folder's path and the name again after it)."""
    good = png(make_header(np.random.default_rng(2), "a_0.png", "a.jpg", False))
    with open(os.path.join(os.fsencode(tmp_path), name), "wb") as f:
        f.write(good[: len(good) // 2])
    [error] = scan_folder(tmp_path)["errors"]
    assert error["file"] == os.fsdecode(name)
    assert error["error"].startswith("iTXt chunk at byte ")
