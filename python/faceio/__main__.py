"""``python -m faceio``: the ``faceio`` command."""

from faceio.cli import main

raise SystemExit(main())
