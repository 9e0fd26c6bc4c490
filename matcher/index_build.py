"""`python -m matcher.index_build VECTORS.npy INDEX.ann N_TREES`: one Annoy build, alone.

Run by `AnnoyIndexFile.write_isolated` so that a large build holds no GIL of the serving
process. Exit 0 when the index is written and fsynced; 1 with a message on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from matcher.errors import MatcherError
from matcher.index import AnnoyIndexFile
from matcher.manifest import check_trees

USAGE = "usage: python -m matcher.index_build VECTORS.npy INDEX.ann N_TREES"


def main(argv: Sequence[str] | None = None) -> int:
    """Builds INDEX.ann from the float32 rows of VECTORS.npy."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) != 3 or not arguments[2].isdigit():
        print(USAGE, file=sys.stderr)
        return 1
    vectors_file, index_file, trees = arguments
    try:
        n_trees = check_trees("n_trees", int(trees))
        vectors = np.load(vectors_file, mmap_mode="r", allow_pickle=False)
        if vectors.dtype != np.float32 or vectors.ndim != 2:
            print(f"{vectors_file}: expected a 2-d float32 array", file=sys.stderr)
            return 1
        AnnoyIndexFile.write(Path(index_file), vectors, n_trees=n_trees)
    except (OSError, ValueError, MatcherError) as error:
        print(f"{index_file}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
