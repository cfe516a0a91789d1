"""Stand-in for faceswap's ``lib.align`` package (tests only)."""
