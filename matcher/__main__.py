"""Lets `python -m matcher ...` run the `matcher` console script."""

from __future__ import annotations

import sys

from matcher.cli import main

if __name__ == "__main__":
    sys.exit(main())
