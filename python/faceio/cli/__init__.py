"""The ``faceio`` command: scan, show, verify, export and import the headers of a face folder.

Every command that walks a folder lists its ``*.png``, ``*.tif`` and ``*.tiff`` files, sorted
by path: only the files directly in it (the summary says how many sub-folders were left), or
the whole tree with ``-r``. An entry that cannot be looked at (a symlink loop, a dangling link)
is reported as a bad file and the command goes on. Files are read with the Rust core:
``scan``, ``export`` and ``import`` (which compares each header before it writes) through the
parallel batch reader, ``verify`` and import's writes on a thread pool (the core releases the
GIL). A TIFF's header is its ImageDescription.

A progress bar (tqdm) is drawn on stderr when stderr is a terminal, unless ``-q`` is given;
none is written into a pipe or a file. The global options (``-q``, ``--debug``, and ``--json``
for the commands that print JSON) go before or after the command name.

Exit status: 0 when everything is fine; 1 when a file is bad (unreadable, malformed, without a
face header, missing, refused or not written); 2 for usage errors (unknown command or option,
a FOLDER that is missing or not a folder, an export file that cannot be read or written).
Problems are reported as one line naming the file; no traceback is shown unless ``--debug``
is given.

Each command is a module of this package (:mod:`.scan`, :mod:`.show`, :mod:`.verify`,
:mod:`.export`, :mod:`.import_`) with a ``register`` that adds its sub-parser and a ``run``.
The JSON forms (``scan --json``, ``show --json``, ``export``) are documented in
:func:`scan_folder` and in :mod:`faceio.cli.records` (:func:`header_record`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from faceio.cli import export, import_, scan, show, verify
from faceio.cli._common import EXIT_BAD, EXIT_USAGE, UsageError
from faceio.cli._output import reason
from faceio.cli.records import header_record, restore_record
from faceio.cli.scan import scan_folder
from faceio.errors import FaceioError

__all__ = ["UsageError", "header_record", "main", "restore_record", "scan_folder"]

# In the order `faceio --help` lists them.
_COMMANDS = (scan, show, verify, export, import_)


#: The exit statuses, as every help text gives them.
_EXIT_HELP = (
    "Exit status: 0 all good; 1 a file is bad (unreadable, malformed, without a face header, "
    "missing, refused or not written); 2 usage error (unknown command or option, a FOLDER that is "
    "missing or not a folder, an export file that cannot be read or written)."
)


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """Add the options accepted before and after the command name.

    The main parser gives the defaults; a command's copy of an option defaults to SUPPRESS, so
    that not repeating an option after the command does not reset what was given before it.
    """
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="no progress bar"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show a traceback on an unexpected error",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceio",
        description="Inspect and check the faceswap headers of a folder of extracted faces. "
        "A progress bar is shown on a terminal (not in a pipe, not with -q).",
        epilog=_EXIT_HELP,
    )
    parser.add_argument("--version", action="version", version=_version())
    _global_options(parser, False)
    parser.add_argument(
        "--json", action="store_true", help="print JSON (scan and show; export always does)"
    )
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.register(commands, common)
    for sub in commands.choices.values():
        sub.epilog = _EXIT_HELP
    parser.set_defaults(takes_json=False)
    return parser


def _version() -> str:
    from faceio import __version__

    return f"faceio {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``faceio`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 all good, 1 a bad file, 2 a usage error.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.json and not args.takes_json:
            parser.error(f"--json applies to scan and show, not to {args.command}")
    except SystemExit as stop:  # argparse exits 2 on usage errors, 0 after --help
        return int(stop.code or 0) if not isinstance(stop.code, str) else EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as err:
        print(f"faceio {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("faceio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``faceio export DIR | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BAD
    except (OSError, FaceioError) as err:
        if args.debug:
            raise
        path = getattr(err, "filename", None) or getattr(err, "path", None)
        where = f"{path}: " if path else ""
        print(f"faceio {args.command}: {where}{reason(err, path)}", file=sys.stderr)
        return EXIT_BAD
    except Exception as err:
        if args.debug:
            raise
        print(
            f"faceio {args.command}: internal error: {type(err).__name__}: {err} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_BAD
