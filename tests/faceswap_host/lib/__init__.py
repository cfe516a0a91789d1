"""Stand-in for faceswap's ``lib`` package (tests only)."""
