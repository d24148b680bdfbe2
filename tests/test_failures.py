"""Interruptions, bad input and divergence: nothing lost, one clear message."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, tiny_run, write_fake_cifar
from notebook_cells import run_all_cells
from PIL import Image

import dcgan_utils as utils

FAST = {
    "BATCH_SIZE": 16,
    "BASE_FILTERS": 8,
    "NOISE_DIM": 32,
    "JIT_COMPILE": False,
    # float32 on every machine, so that asking the finished run for bfloat16 is always a change.
    "PRECISION": "float32",
    "MAX_TRAIN_IMAGES": 64,
    # Step 7 as small as it goes: these tests are about Steps 0-6.
    "SEARCH_EPOCHS": 0,
    "CLASSIFIER_EPOCHS": 1,
    "EVAL_IMAGES": 16,
    "CURVE_IMAGES": 16,
    "INCEPTION_WEIGHTS": "",
}
RUNNER = ROOT / "tests" / "notebook_cells.py"


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".run.lock"}


def start_run(events=None, **params) -> subprocess.Popen:
    """The notebook in a separate process; with `events`, each epoch writes events/started-E first
    and waits while events/hold-E exists."""
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, str(RUNNER), json.dumps(params), *([str(events)] if events else [])],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def history_epochs(out, run):
    path = out / "training_history" / run / "history.json"
    return [row["epoch"] for row in json.loads(path.read_text())] if path.exists() else []


def wait_for(condition, timeout=180):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# ------------------------------------------------------------ stopping early ----
@pytest.fixture
def small_run(nb, tmp_path):
    """A tiny opened run (noise 16, width 8, checkpoints every 5 epochs) and 4 batches of 8 images."""
    run = tiny_run(nb, tmp_path, "stop", opened=True)
    images = np.random.default_rng(0).uniform(-1, 1, (32, 32, 32, 3)).astype("float32")
    return run, nb["TrainingData"](images, 8)


def restored_epoch(nb, run):
    """Fresh models (another seed) restored from the run's folder: (their run, the epoch restored)."""
    fresh = tiny_run(nb, run.paths["checkpoints"].parents[1], "stop", seed=99)
    manager = nb["make_checkpoint"](fresh)
    return fresh, utils.restore_checkpoint(manager.checkpoint, manager)


def failing_step(real_step, generator, fail_at_call, failure):
    """real_step, except that call number fail_at_call fails; records G's weights before the call
    that comes after the last finished epoch (call fail_at_call - 1 starts epoch 3)."""
    state = {"calls": 0}

    def step(images, noise_std):
        state["calls"] += 1
        if state["calls"] == fail_at_call - 1:
            state["weights_at_end_of_last_epoch"] = [w.numpy().copy() for w in generator.weights]
        if state["calls"] == fail_at_call:
            if failure == "interrupt":
                raise KeyboardInterrupt
            return tf.constant([np.nan, 1.0, 0.5, 0.5, 0.5])
        return real_step(images, noise_std)

    return step, state


@pytest.mark.parametrize("failure, error", [("interrupt", KeyboardInterrupt), ("nan", FloatingPointError)])
def test_stopping_mid_epoch_saves_the_last_finished_epoch(nb, small_run, failure, error, capsys):
    run, dataset = small_run
    # 4 steps an epoch; the 2nd step of epoch 3 fails; checkpoints would come only every 5 epochs.
    step, state = failing_step(nb["make_train_step"](run), run.generator, 4 * 2 + 2, failure)
    with pytest.raises(error):
        nb["train"](run, step, dataset, 6)
    assert "Stopped after epoch 2" in capsys.readouterr().out
    assert [row["epoch"] for row in run.history] == [1, 2] and run.epoch == 2
    assert [row["epoch"] for row in utils.load_history(run.paths["history"])] == [1, 2]
    # Fresh models restore epoch 2 exactly: the weights G had when epoch 2 ended, not the ones
    # that epoch 3's first step made.
    fresh, epoch = restored_epoch(nb, run)
    assert epoch == 2
    restored = [w.numpy() for w in fresh.generator.weights]
    for got, expected in zip(restored, state["weights_at_end_of_last_epoch"], strict=True):
        assert np.array_equal(got, expected)
    # The kernel's own G was rolled back to that state too, before it was saved.
    for got, live in zip(restored, run.generator.weights, strict=True):
        assert np.array_equal(got, live.numpy())
    assert len(list(run.paths["samples"].glob("epoch_*.png"))) == 2


def process_run_params(tmp_path, **params) -> tuple[dict, object]:
    """Parameters of a run of 200 fake images, for a separate process; and its output folder."""
    data = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=40)
    out = tmp_path / "out"
    return dict(FAST, MAX_TRAIN_IMAGES=200, DATA_DIR=str(data), OUTPUT_DIR=str(out), **params), out


def test_kill_9_mid_training_then_resume(tmp_path):
    params, out = process_run_params(tmp_path, EPOCHS=10, CHECKPOINT_EVERY=2)
    events = tmp_path / "events"
    events.mkdir()
    (events / "hold-4").write_text("")  # epoch 4 waits: the kill comes after epoch 3, mid-run
    process = start_run(events, **params)
    wait_for(lambda: (events / "started-4").exists() or process.poll() is not None)
    assert process.poll() is None, process.communicate()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = history_epochs(out, "baseline")
    # Epoch 3 finished but was not checkpointed: the saved history stops at epoch 2's checkpoint.
    assert killed_at == [1, 2]

    resumed = start_run(**params)
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr[-3000:]
    assert f"starting after epoch {len(killed_at)} of 10" in stdout
    assert history_epochs(out, "baseline") == list(range(1, 11))
    samples = out / "generated_samples" / "baseline"
    assert sorted(p.name for p in samples.glob("epoch_*.png")) == [f"epoch_{e:04d}.png" for e in range(1, 11)]
    with Image.open(samples / "training_progress.gif") as gif:
        assert gif.n_frames == 10
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # nothing half-written


def test_interrupt_signal_to_a_training_process_saves_its_last_finished_epoch(tmp_path):
    # Checkpoints would come only at epoch 50: whatever is saved, the interrupt saved.
    params, out = process_run_params(tmp_path, EPOCHS=50, CHECKPOINT_EVERY=50)
    events = tmp_path / "events"
    events.mkdir()
    (events / "hold-3").write_text("")  # the interrupt comes when epoch 3 starts
    process = start_run(events, **params)
    wait_for(lambda: (events / "started-3").exists() or process.poll() is not None)
    assert process.poll() is None
    process.send_signal(signal.SIGINT)  # what Jupyter's "interrupt kernel" sends
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr
    saved = history_epochs(out, "baseline")
    assert saved == [1, 2]  # both finished epochs, though no checkpoint was due
    assert f"Saved: epochs 1-{len(saved)}" in stdout and f"continue from epoch {len(saved) + 1}" in stdout
    checkpoints = out / "training_checkpoints" / "baseline"
    assert sorted(p.name for p in checkpoints.glob("ckpt-*.index")) == [f"ckpt-{len(saved)}.index"]


def test_second_kernel_on_the_same_run_stops_and_the_first_finishes(tmp_path):
    params, out = process_run_params(tmp_path, EPOCHS=3, CHECKPOINT_EVERY=1)
    events = tmp_path / "events"
    events.mkdir()
    (events / "hold-2").write_text("")  # the first run waits in epoch 2 until the second is done
    first = start_run(events, **params)
    wait_for(lambda: (events / "started-2").exists() or first.poll() is not None)
    assert first.poll() is None
    second = start_run(**params)
    _, second_err = second.communicate(timeout=300)
    assert second.returncode != 0
    assert (
        "RunLockedError" in second_err and f"being trained by another process (pid {first.pid})" in second_err
    )
    assert first.poll() is None  # the two really overlapped
    (events / "hold-2").unlink()
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err[-3000:]
    assert history_epochs(out, "baseline") == [1, 2, 3]


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import dcgan_utils, time; dcgan_utils.lock_run({str(folder)!r}); time.sleep(60)",
        ],
        cwd=ROOT,
    )
    wait_for(lambda: (folder / ".run.lock").exists() and (folder / ".run.lock").read_text().strip())
    probe = f"import dcgan_utils; dcgan_utils.lock_run({str(folder)!r})"
    blocked = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert blocked.returncode != 0 and f"pid {holder.pid}" in blocked.stderr
    holder.kill()
    holder.wait()
    free = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert free.returncode == 0, free.stderr


# ------------------------------------------------------------ bad input ----
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("finished")
    data = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    params = dict(FAST, EPOCHS=1, DATA_DIR=str(data), OUTPUT_DIR=str(tmp_path / "out"))
    run_all_cells(**params)
    return params, tmp_path / "out"


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"NOISE_DIM": 16}, utils.ParameterError, "NOISE_DIM is 16, the run used 32"),
        ({"BASE_FILTERS": 4}, utils.ParameterError, "BASE_FILTERS is 4, the run used 8"),
        ({"PRECISION": "mixed_bfloat16"}, utils.ParameterError, "PRECISION is 'mixed_bfloat16'"),
        ({"PRECISION": "fp8"}, utils.ParameterError, "PRECISION must be one of"),
        ({"EPOCHS": "3"}, utils.ParameterError, "EPOCHS must be a positive integer"),
        ({"EPOCHS": -1}, utils.ParameterError, "EPOCHS must be a positive integer"),
        ({"BATCH_SIZE": 0}, utils.ParameterError, "BATCH_SIZE must be a positive integer"),
        ({"BATCH_SIZE": 1000}, utils.ParameterError, "BATCH_SIZE 1000 is larger than the 64"),
        ({"CHECKPOINT_EVERY": 2.5}, utils.ParameterError, "CHECKPOINT_EVERY must be a positive integer"),
        ({"NOISE_DIM": None}, utils.ParameterError, "NOISE_DIM must be a positive integer"),
        ({"RUN_NAME": "../baseline"}, utils.ParameterError, "RUN_NAME must be a plain folder name"),
        ({"DATA_DIR": "/nonexistent/cifar"}, utils.DataFolderError, "does not exist"),
        (
            {"STEP7_RUN_NAME": "baseline"},
            utils.ParameterError,
            "STEP7_RUN_NAME and STEP7_REPEATS must differ",
        ),
        ({"STEP7_RUN_NAME": "a/b"}, utils.ParameterError, "STEP7_RUN_NAME must be a plain folder"),
        ({"STEP7_REPEATS": "ok baseline"}, utils.ParameterError, "must differ from RUN_NAME"),
        ({"STEP7_REPEATS": "../up"}, utils.ParameterError, "STEP7_REPEATS must be a plain folder"),
        ({"SEARCH_EPOCHS": -1}, utils.ParameterError, "SEARCH_EPOCHS must be an integer of 0 or more"),
        ({"CLASSIFIER_EPOCHS": 0}, utils.ParameterError, "CLASSIFIER_EPOCHS must be a positive integer"),
        ({"STEP7_RECIPE": "diffaugment+emma"}, utils.ParameterError, "unknown candidate 'emma'"),
        # The improved run folder remembers its recipe, as the baseline's remembers its shape.
        ({"STEP7_RECIPE": "diffaugment"}, utils.ParameterError, "RECIPE is .* the run used"),
    ],
)
def test_bad_input_names_the_problem_and_changes_nothing(finished_run, change, error, message):
    params, out = finished_run
    before = snapshot(out)
    with pytest.raises(error, match=message):
        run_all_cells(**{**params, **change})
    assert snapshot(out) == before


def test_checkpoint_of_another_architecture_is_refused_untouched(finished_run, tmp_path):
    params, out = finished_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "training_checkpoints" / "baseline" / "run_config.json").unlink()  # no record to compare
    before = snapshot(copy)
    with pytest.raises(utils.ParameterError, match="does not fit the models"):
        run_all_cells(**{**params, "OUTPUT_DIR": str(copy), "BASE_FILTERS": 4})
    assert snapshot(copy) == before  # no run_config.json written, no seeds, no checkpoint


def _bad_folders(root):
    """name -> a cifar-10-batches-py folder broken in that way."""
    import pickle

    folders = {}
    for name in ("empty", "truncated", "wrong_shape", "wrong_type"):
        folder = root / name / "cifar-10-batches-py"
        if name == "empty":
            folder.mkdir(parents=True)
        else:
            write_fake_cifar(folder, per_batch=20)
        batch = folder / "data_batch_4"
        if name == "truncated":
            batch.write_bytes(batch.read_bytes()[:1000])
        elif name == "wrong_shape":
            batch.write_bytes(pickle.dumps({b"data": np.zeros((20, 1024), np.uint8), b"labels": [0] * 20}))
        elif name == "wrong_type":
            batch.write_bytes(pickle.dumps({b"data": np.zeros((20, 3072), np.float64), b"labels": [0] * 20}))
        folders[name] = folder
    return folders


@pytest.mark.parametrize(
    "broken, message",
    [
        ("empty", "data_batch_1, data_batch_2, .* missing"),
        ("truncated", "data_batch_4: cannot be read .* truncated or corrupt"),
        ("wrong_shape", r"data_batch_4: 'data' is uint8 with shape \(20, 1024\)"),
        ("wrong_type", "data_batch_4: 'data' is float64"),
    ],
)
def test_broken_data_folder_names_the_problem_and_changes_nothing(finished_run, tmp_path, broken, message):
    params, out = finished_run
    before = snapshot(out)
    folder = _bad_folders(tmp_path)[broken]
    with pytest.raises(utils.DataFolderError, match=message) as caught:
        run_all_cells(**{**params, "DATA_DIR": str(folder), "EPOCHS": 2})
    assert "set the notebook parameter DATA_DIR" in str(caught.value)  # the fix, every time
    assert snapshot(out) == before


def test_runs_with_different_names_do_not_touch_each_other(finished_run):
    params, out = finished_run
    baseline = {p: b for p, b in snapshot(out).items() if "baseline" in p.parts}
    run_all_cells(**{**params, "RUN_NAME": "other", "EPOCHS": 1})
    after = snapshot(out)
    assert {p: b for p, b in after.items() if "baseline" in p.parts} == baseline
    assert (out / "generated_samples" / "other" / "epoch_0001.png").exists()


# ---------------------------------------------------------------- damaged files ----
def _train_two_checkpointed_epochs(nb, small_run):
    """Epochs 1 and 2 of the small run, each checkpointed; the two latest checkpoints are kept."""
    run, dataset = small_run
    run.settings["checkpoint_every"] = 1
    nb["train"](run, nb["make_train_step"](run), dataset, 2)
    assert sorted(p.name for p in run.paths["checkpoints"].glob("ckpt-*.index")) == [
        "ckpt-1.index",
        "ckpt-2.index",
    ]
    return run


def test_a_damaged_latest_checkpoint_resumes_from_the_previous_one(nb, small_run, capsys):
    run = _train_two_checkpointed_epochs(nb, small_run)
    (data,) = run.paths["checkpoints"].glob("ckpt-2.data-*")
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # cut short, as a full disk leaves it
    capsys.readouterr()  # the training's own progress lines
    _, epoch = restored_epoch(nb, run)
    assert epoch == 1
    printed = capsys.readouterr().out
    assert f"The checkpoint {run.paths['checkpoints'] / 'ckpt-2'} cannot be read" in printed
    assert "resuming from" in printed and printed.count("\n") == 1
    # The history is cut back to the restored epoch, as after a kill.
    assert [row["epoch"] for row in utils.load_history(run.paths["history"], 1)] == [1]


def test_a_damaged_only_checkpoint_is_named_and_nothing_is_restored(nb, small_run):
    run = _train_two_checkpointed_epochs(nb, small_run)
    for data in run.paths["checkpoints"].glob("ckpt-*.data-*"):
        data.write_bytes(b"")
    with pytest.raises(utils.ParameterError, match="ckpt-1 cannot be read .* no earlier one"):
        restored_epoch(nb, run)


def test_a_damaged_history_is_named_and_deleting_it_continues(nb, small_run, capsys):
    run = _train_two_checkpointed_epochs(nb, small_run)
    path = run.paths["history"]
    path.write_text(path.read_text()[:40])  # truncated JSON
    with pytest.raises(utils.ParameterError, match=r"history file .* is damaged .* \(epochs 1-2\) is intact"):
        utils.load_history(path, 2)
    path.unlink()
    history = utils.load_history(path, 2)
    assert [row["epoch"] for row in history] == [1, 2] and all(row["missing"] for row in history)
    assert np.isnan(history[0]["gen_loss"]) and "epochs 1-2 are missing" in capsys.readouterr().out
    nb["draw_train_history"](history, run.paths["history_plot"])  # the graph draws, with a gap


def test_exploding_but_finite_losses_are_reported_and_training_goes_on(nb, capsys):
    def exploding_step(images, noise_std):
        return tf.constant([1e17, 3e16, 0.5, 0.5, 0.5])

    images = np.zeros((8, 32, 32, 3), "float32")
    row = nb["train_one_epoch"](exploding_step, nb["TrainingData"](images, 4).batches(0, 1), 0.0, 7, 9)
    assert row["gen_loss"] == pytest.approx(1e17)
    assert "epoch 7: the losses diverged (G 1e+17, D 3e+16); training goes on" in capsys.readouterr().out


def test_no_data_folder_says_it_downloads_170_mb_first(monkeypatch, tmp_path, capsys):
    import keras

    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no Keras cache either

    def offline():
        raise OSError("no internet")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(utils.DataFolderError, match="no internet"):
        utils.load_cifar10("", "train")
    assert "Keras now downloads CIFAR-10 (about 170 MB)" in capsys.readouterr().out


# ---------------------------------------------------------------- the quick look ----
def test_quick_look_trains_three_epochs_in_its_own_folder_and_labels_its_figures(tmp_path):
    data = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    out = tmp_path / "out"
    try:
        namespace = run_all_cells(**dict(FAST, QUICK_LOOK=True, DATA_DIR=str(data), OUTPUT_DIR=str(out)))
        assert utils._figure_label.startswith("quick look, 3 epochs")  # every saved figure's title
    finally:
        utils.label_figures("")
    assert namespace["EPOCHS"] == 3 and namespace["OUTPUT_DIR"] == str(out / "quick_look")
    assert not (out / "generated_samples").exists()  # nothing outside its own folder
    quick = out / "quick_look"
    assert history_epochs(quick, "baseline") == [1, 2, 3] and history_epochs(quick, "conditional_ac") == [
        1,
        2,
        3,
    ]
    assert (quick / "training_checkpoints" / "classifier" / "classifier.json").exists()  # its own classifier
    assert "/quick_look/" in (ROOT / ".gitignore").read_text().splitlines()
