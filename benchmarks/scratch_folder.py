"""A scratch output folder that borrows the committed evaluation classifier, for the benchmarks
that train a short run without touching the project's own folders."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def scratch_with_classifier() -> Iterator[str]:
    """A temporary OUTPUT_DIR whose training_checkpoints/classifier links to the committed one, so
    the yardstick is not retrained; removed (link only, not the classifier) on exit."""
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "training_checkpoints").mkdir()
        (Path(scratch) / "training_checkpoints" / "classifier").symlink_to(
            ROOT / "training_checkpoints" / "classifier"
        )
        yield scratch
