"""The one progress-bar factory: tqdm on standard error, or nothing."""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["progress_bar"]

logger = logging.getLogger(__name__)


def progress_bar(
    total: int | None,
    desc: str,
    unit: str = "file",
    enabled: bool = True,
    terminal_only: bool = False,
) -> Any:
    """Return a tqdm bar on standard error, or ``None`` when off.

    Parameters
    ----------
    total : int, optional
        The number of steps, if known.
    desc : str
        The label shown before the bar.
    unit : str, optional
        What a step is ("file", "frame"). Default "file".
    enabled : bool, optional
        ``False`` gives ``None`` straight away. Default ``True``.
    terminal_only : bool, optional
        Give ``None`` unless standard error is a terminal: the command line's default, so that
        a bar is drawn for a person watching and never written into a log or a pipe. Default
        ``False`` (a library caller who asked for progress gets it wherever stderr goes).

    Notes
    -----
    tqdm is a dependency of faceio; an install without it (``pip install --no-deps``) runs
    without bars rather than failing.
    """
    if not enabled or (terminal_only and not _stderr_is_terminal()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        logger.debug("tqdm is not installed: no progress bar for '%s'", desc)
        return None
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)


def _stderr_is_terminal() -> bool:
    # sys.stderr may be None (pythonw) or a stream without a file behind it.
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
