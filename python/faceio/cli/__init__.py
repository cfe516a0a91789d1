"""The ``faceio`` command: scan, show, verify, export and import the headers of a face folder.

Every command that walks a folder lists the ``*.png`` files directly in it (not recursively),
sorted by name, and reads them with the Rust core: ``scan`` and ``export`` through the parallel
batch reader, ``verify`` and ``import`` on a thread pool (the core releases the GIL). Progress
bars (tqdm, when installed) go to stderr, only when stderr is a terminal and ``-q`` is not given.

Exit status: 0 when everything is fine, 1 when a file is bad (unreadable, no header, missing on
import), 2 for usage errors (unknown command or option, missing folder or file). Problems are
reported as one line naming the file; no traceback is shown unless ``--debug`` is given.

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

from faceio.cli import export, import_, scan, show, verify
from faceio.cli._common import EXIT_BAD, EXIT_USAGE, UsageError
from faceio.cli._output import reason
from faceio.cli.records import header_record, restore_record
from faceio.cli.scan import scan_folder
from faceio.errors import FaceioError

__all__ = ["header_record", "main", "restore_record", "scan_folder"]

# In the order `faceio --help` lists them.
_COMMANDS = (scan, show, verify, export, import_)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceio",
        description="Inspect and check the faceswap headers of a folder of extracted faces.",
        epilog="Exit status: 0 all good, 1 a file is bad, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=_version())
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    common.add_argument(
        "--debug", action="store_true", help="show a traceback on an unexpected error"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.register(commands, common)
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
