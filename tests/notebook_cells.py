"""Run the notebook's parameters and definition cells in a namespace, as tests' fixtures."""

from __future__ import annotations

import json
import linecache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "dcgan_cifar10.ipynb"


def cells_tagged(tag: str, notebook: Path = NOTEBOOK) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return [
        "".join(cell["source"])
        for cell in cells
        if cell["cell_type"] == "code" and tag in cell.get("metadata", {}).get("tags", [])
    ]


def load_definitions(**overrides) -> dict:
    """A namespace holding the parameters (with overrides) and every function the notebook defines."""
    namespace: dict = {"__name__": "notebook_definitions"}
    for source in cells_tagged("parameters"):
        _run(source, "parameters", namespace)
    namespace.update(overrides)
    for i, source in enumerate(cells_tagged("definitions")):
        _run(source, f"definitions-{i}", namespace)
    return namespace


def _run(source: str, name: str, namespace: dict) -> None:
    # Register the source so that inspect (and so AutoGraph) can read the cell's functions.
    filename = f"{NOTEBOOK.name}:{name}"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)


def run_all_cells(**overrides) -> dict:
    """Execute every code cell in order, as a kernel would, with the parameters overridden."""
    namespace: dict = {"__name__": "__main__"}
    for i, cell in enumerate(json.loads(NOTEBOOK.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        _run("".join(cell["source"]), f"cell-{i}", namespace)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            namespace.update(overrides)
    return namespace


if __name__ == "__main__":
    # python tests/notebook_cells.py '{"EPOCHS": 3, "OUTPUT_DIR": "/tmp/x"}': the whole notebook,
    # in this process, for tests that kill or race a real training process.
    import sys

    sys.path.insert(0, str(ROOT))
    run_all_cells(**json.loads(sys.argv[1]))
