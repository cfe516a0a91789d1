"""The one progress-bar factory: tqdm on standard error, or nothing."""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["progress_bar"]

logger = logging.getLogger(__name__)


def progress_bar(total: int | None, desc: str, unit: str = "file", enabled: bool = True) -> Any:
    """Return a tqdm bar on standard error, or ``None`` when off or tqdm is not installed.

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
    """
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        logger.debug("tqdm is not installed: no progress bar for '%s'", desc)
        return None
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
