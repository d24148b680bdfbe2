"""Run the notebook's cells in a namespace, as a kernel would, for tests of the whole notebook."""

from __future__ import annotations

import json
import linecache
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NOTEBOOK = ROOT / "dcgan_cifar10.ipynb"


def run_cell(source: str, name: str, namespace: dict) -> None:
    """Execute one cell's source in `namespace`, registered so that inspect (and so AutoGraph) can
    read the functions it defines."""
    filename = f"{NOTEBOOK.name}:{name}"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)


def signal_epochs(train_one_epoch, events: Path):
    """train_one_epoch that first writes events/started-E and, while events/hold-E exists, waits:
    a test can act at a known point of a training process, whatever the machine's speed."""

    def wrapped(train_step, dataset, noise_std, epoch, epochs):
        (events / f"started-{epoch}").write_text("")
        while (events / f"hold-{epoch}").exists():
            time.sleep(0.05)
        return train_one_epoch(train_step, dataset, noise_std, epoch, epochs)

    return wrapped


def run_all_cells(events: Path | None = None, until: str = "", **overrides) -> dict:
    """Execute every code cell in order, with the parameters overridden; with `events`, every epoch
    of the notebook's own training signals its start there (see signal_epochs); with `until`, stop
    at the first markdown cell that starts with it (e.g. "## Step 7")."""
    namespace: dict = {"__name__": "__main__"}
    for i, cell in enumerate(json.loads(NOTEBOOK.read_text())["cells"]):
        if until and cell["cell_type"] == "markdown" and "".join(cell["source"]).startswith(until):
            break
        if cell["cell_type"] != "code":
            continue
        run_cell("".join(cell["source"]), f"cell-{i}", namespace)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            namespace.update(overrides)
        if events is not None and "train_one_epoch" in namespace and "signalled" not in namespace:
            namespace["train_one_epoch"] = namespace["signalled"] = signal_epochs(
                namespace["train_one_epoch"], events
            )
    return namespace


if __name__ == "__main__":
    # python tests/notebook_cells.py '{"EPOCHS": 3, "OUTPUT_DIR": "/tmp/x"}' [EVENTS_DIR]: the whole
    # notebook, in this process, for tests that kill or race a real training process. Ctrl-C raises
    # KeyboardInterrupt here, as in a Jupyter kernel, even when the tests were started in the
    # background: a shell's background job inherits SIGINT ignored, and so would this process.
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    run_all_cells(Path(sys.argv[2]) if len(sys.argv) > 2 else None, **json.loads(sys.argv[1]))
