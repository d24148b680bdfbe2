"""The whole notebook, executed with papermill on a tiny fake CIFAR-10 folder."""

import json

import nbformat
import numpy as np
import papermill
import pytest
from conftest import ROOT, write_fake_cifar
from notebook_cells import NOTEBOOK
from PIL import Image

FAST = {"BATCH_SIZE": 16, "BASE_FILTERS": 8, "NOISE_DIM": 32, "CHECKPOINT_EVERY": 2, "MAX_TRAIN_IMAGES": 64}


def run_notebook(tmp_path, name: str, **parameters) -> nbformat.NotebookNode:
    out = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters=parameters,
        cwd=str(ROOT),
        progress_bar=False,
        kernel_name="python3",
    )
    return nbformat.read(out, as_version=4)


def printed(notebook) -> str:
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "stream"
    )


def grid_names(samples):
    return sorted(p.name for p in samples.glob("epoch_*.png"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A fresh 2-epoch run, then the same run continued to 3 epochs."""
    tmp_path = tmp_path_factory.mktemp("notebook")
    data = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    params = dict(FAST, DATA_DIR=str(data), OUTPUT_DIR=str(tmp_path / "out"), RUN_NAME="smoke")
    first = run_notebook(tmp_path, "first", EPOCHS=2, **params)
    run = {
        "tmp": tmp_path,
        "params": params,
        "first": first,
        "samples": tmp_path / "out" / "generated_samples" / "smoke",
        "checkpoints": tmp_path / "out" / "training_checkpoints" / "smoke",
        "history_dir": tmp_path / "out" / "training_history" / "smoke",
    }
    run["grids_after_first"] = grid_names(run["samples"])
    run["seeds_after_first"] = np.load(run["checkpoints"] / "sample_seeds.npy")
    run["resumed"] = run_notebook(tmp_path, "resumed", EPOCHS=3, **params)
    return run


def test_first_run_writes_every_artifact(trained):
    assert trained["grids_after_first"] == ["epoch_0001.png", "epoch_0002.png"]
    assert "starting after epoch 0 of 2" in printed(trained["first"])
    errors = [o for c in trained["first"].cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []


def test_resume_continues_numbering_history_and_seeds(trained):
    assert "starting after epoch 2 of 3" in printed(trained["resumed"])
    assert grid_names(trained["samples"]) == ["epoch_0001.png", "epoch_0002.png", "epoch_0003.png"]
    history = json.loads((trained["history_dir"] / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for row in history:
        assert all(np.isfinite(row[k]) for k in ("gen_loss", "disc_loss", "real_acc", "fake_acc"))
    assert np.array_equal(np.load(trained["checkpoints"] / "sample_seeds.npy"), trained["seeds_after_first"])
    # Only the latest checkpoint is kept, and it is epoch 3's.
    assert sorted(p.name for p in trained["checkpoints"].glob("ckpt-*.index")) == ["ckpt-3.index"]


def test_artifacts_are_valid_images_and_a_looping_gif(trained):
    for grid in trained["samples"].glob("epoch_*.png"):
        with Image.open(grid) as image:
            image.verify()
    with Image.open(trained["history_dir"] / "train_history.png") as image:
        assert image.format == "PNG"
    with Image.open(trained["samples"] / "training_progress.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 3 and gif.info.get("loop") == 0


def test_rerun_with_same_epochs_trains_nothing(trained):
    files = sorted(trained["samples"].parent.parent.rglob("*"))
    before = {
        p: p.read_bytes() for p in files if p.is_file() and p.suffix in (".png", ".json", ".index", ".npy")
    }
    again = run_notebook(trained["tmp"], "again", EPOCHS=3, **trained["params"])
    assert "nothing to train" in printed(again)
    after = {p: p.read_bytes() for p in before}
    # Grids, history and checkpoint are untouched; only the final history plot is redrawn.
    changed = [p.name for p in before if before[p] != after[p]]
    assert changed in ([], ["train_history.png"])


def test_missing_data_folder_stops_with_one_clear_error(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as caught:
        run_notebook(
            tmp_path, "nodata", EPOCHS=1, DATA_DIR=str(tmp_path / "absent"), OUTPUT_DIR=str(tmp_path)
        )
    assert caught.value.ename == "DataFolderError"
    assert "does not exist" in caught.value.evalue and "CIFAR10_DIR" in caught.value.evalue


def test_malformed_data_folder_stops_with_one_clear_error(tmp_path):
    data = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=4)
    (data / "data_batch_2").write_bytes(b"not a pickle")
    with pytest.raises(papermill.PapermillExecutionError) as caught:
        run_notebook(tmp_path, "bad", EPOCHS=1, DATA_DIR=str(data), OUTPUT_DIR=str(tmp_path))
    assert caught.value.ename == "DataFolderError"
    assert (
        "data_batch_2: cannot be read" in caught.value.evalue
        and "truncated or corrupt" in caught.value.evalue
    )


def test_bad_parameter_stops_before_any_work(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as caught:
        run_notebook(tmp_path, "badparam", EPOCHS=0, OUTPUT_DIR=str(tmp_path / "out"))
    assert caught.value.ename == "ParameterError" and "EPOCHS" in caught.value.evalue
    assert not (tmp_path / "out").exists()
