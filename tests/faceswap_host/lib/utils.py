"""Stand-in for faceswap's ``lib.utils``: only its error type."""


class FaceswapError(Exception):
    """The error faceswap's launcher shows as a message instead of a crash report."""
