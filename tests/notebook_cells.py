"""Run the notebook's cells in a namespace, as tests' fixtures (definitions come from dcgan_utils)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dcgan_utils as utils  # noqa: E402

NOTEBOOK = utils.NOTEBOOK


def load_definitions(**overrides) -> dict:
    """A namespace holding the parameters (with overrides) and every function the notebook defines."""
    return utils.notebook_definitions(NOTEBOOK, **overrides)


def run_all_cells(**overrides) -> dict:
    """Execute every code cell in order, as a kernel would, with the parameters overridden."""
    namespace: dict = {"__name__": "__main__"}
    for i, cell in enumerate(json.loads(NOTEBOOK.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        utils.run_cell("".join(cell["source"]), f"cell-{i}", namespace)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            namespace.update(overrides)
    return namespace


if __name__ == "__main__":
    # python tests/notebook_cells.py '{"EPOCHS": 3, "OUTPUT_DIR": "/tmp/x"}': the whole notebook,
    # in this process, for tests that kill or race a real training process.
    run_all_cells(**json.loads(sys.argv[1]))
