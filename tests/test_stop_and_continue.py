"""Stop and continue in one kernel: every stop puts the state back to the last finished epoch,
finished work is saved before the pictures, the noise fade keeps its own length, and "finished"
means the checkpoint's epoch."""

import errno
import json
import os
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_recipe, tiny_run

import dcgan_reports as reports
import dcgan_utils as utils


def images(count=32):
    return np.random.default_rng(0).uniform(-1, 1, (count, 32, 32, 3)).astype("float32")


def values(variables) -> list[np.ndarray]:
    return [variable.numpy().copy() for variable in variables]


def checkpointed_state(nb, run) -> list[np.ndarray]:
    """Every variable of the run's latest checkpoint, restored into fresh models of another seed."""
    fresh = tiny_run(nb, run.paths["checkpoints"].parents[1], run.paths["samples"].name, seed=99)
    manager = nb["make_checkpoint"](fresh)
    utils.restore_checkpoint(manager.checkpoint, manager)
    return values(utils.checkpoint_variables(manager.checkpoint))


def stopping_step(real_step, at_call: int):
    calls = {"n": 0}

    def step(batch, noise_std):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise KeyboardInterrupt
        return real_step(batch, noise_std)

    return step


def test_a_stop_mid_epoch_puts_the_kernel_back_at_the_saved_epoch(nb, tmp_path, capsys):
    run = tiny_run(nb, tmp_path, "every", opened=True, checkpoint_every=1)
    dataset = nb["TrainingData"](images(), 8)  # 4 steps an epoch
    compiled = nb["make_train_step"](run)
    nb["train"](run, compiled, dataset, 2)
    stopping = stopping_step(compiled, 3)  # epoch 3: two steps train, the third is stopped
    with pytest.raises(KeyboardInterrupt):
        nb["train"](run, stopping, dataset, 4)
    assert "Stopped after epoch 2" in capsys.readouterr().out
    live = values(utils.checkpoint_variables(run.manager.checkpoint))
    saved = checkpointed_state(nb, run)
    assert run.epoch == 2 and [row["epoch"] for row in run.history] == [1, 2]
    for got, expected in zip(live, saved, strict=True):  # weights, Adam moments, noise state, epoch
        assert np.array_equal(got, expected)
    # Rerun only the training cell: its first step starts from exactly the checkpoint's weights.
    seen = {}

    def recording_step(batch, noise_std):
        seen.setdefault("generator", values(run.generator.weights))
        return compiled(batch, noise_std)

    nb["train"](run, recording_step, dataset, 3)
    fresh_generator = tiny_run(nb, tmp_path, "other", seed=99).generator
    checkpoint = tf.train.Checkpoint(generator=fresh_generator, epoch=tf.Variable(0, dtype=tf.int64))
    checkpoint.restore(str(run.paths["checkpoints"] / "ckpt-2")).expect_partial()
    for got, expected in zip(seen["generator"], values(fresh_generator.weights), strict=True):
        assert np.array_equal(got, expected)
    assert run.epoch == 3 and [row["epoch"] for row in utils.load_history(run.paths["history"])] == [1, 2, 3]


def test_a_full_disk_in_the_grid_loses_no_finished_epoch_and_names_the_file(
    nb, tmp_path, monkeypatch, capsys
):
    run = tiny_run(nb, tmp_path, "disk", opened=True)  # a checkpoint only every 5 epochs
    train_step, dataset = nb["make_train_step"](run), nb["TrainingData"](images(), 8)
    real_write = utils.atomic_write_bytes

    def full_disk_for_the_second_grid(path, data):
        full = mock.patch.object(
            utils.os, "fsync", side_effect=OSError(errno.ENOSPC, "No space left on device")
        )
        with full if Path(path).name == "epoch_0002.png" else mock.MagicMock():
            return real_write(path, data)

    monkeypatch.setattr(utils, "atomic_write_bytes", full_disk_for_the_second_grid)
    with pytest.raises(OSError, match="epoch_0002.png"):
        nb["train"](run, train_step, dataset, 3)
    assert "Saved: epochs 1-2" in capsys.readouterr().out
    assert utils.checkpoint_epoch(run.paths["checkpoints"]) == 2  # saved from the state kept in memory
    assert [row["epoch"] for row in utils.load_history(run.paths["history"])] == [1, 2]
    assert not list(run.paths["samples"].glob(".*.tmp"))
    monkeypatch.setattr(utils, "atomic_write_bytes", real_write)  # space again: the next run draws it
    nb["train"](run, train_step, dataset, 3)
    assert sorted(p.name for p in run.paths["samples"].glob("epoch_*.png")) == [
        f"epoch_{e:04d}.png" for e in (1, 2, 3)
    ]


def test_the_instance_noise_fades_over_its_own_length(nb):
    recipe = tiny_recipe(instance_noise=0.1, noise_fade_epochs=3)
    assert [round(nb["instance_noise_at"](recipe, e), 4) for e in range(1, 6)] == [0.1, 0.0667, 0.0333, 0, 0]
    old_fifty = tiny_recipe(instance_noise=0.1, noise_fade_epochs=50)  # the committed runs' fade
    assert nb["instance_noise_at"](old_fifty, 50) == pytest.approx(0.002)
    assert nb["instance_noise_at"](old_fifty, 51) == nb["instance_noise_at"](old_fifty, 100) == 0.0


def test_training_longer_never_brings_the_noise_back(nb, tmp_path, monkeypatch):
    run = tiny_run(nb, tmp_path, "fade", opened=True, recipe=tiny_recipe(noise_fade_epochs=4))
    dataset = nb["TrainingData"](images(16), 8)
    used = []
    real_epoch = nb["train_one_epoch"]

    def recording(train_step, dataset, noise_std, epoch, epochs):
        used.append(noise_std)
        return real_epoch(train_step, dataset, noise_std, epoch, epochs)

    monkeypatch.setitem(nb, "train_one_epoch", recording)
    train_step = nb["make_train_step"](run)
    nb["train"](run, train_step, dataset, 3)
    nb["train"](run, train_step, dataset, 6)  # continued, as after raising EPOCHS
    assert used == pytest.approx([0.1, 0.075, 0.05, 0.025, 0.0, 0.0])


def test_a_run_saved_without_a_fade_length_resumes_with_50_and_refuses_another(tmp_path):
    config = {"noise_dim": 16, "base_filters": 8, "precision": "float32", "recipe": tiny_recipe()}
    del config["recipe"]["noise_fade_epochs"]  # a run recorded before the setting existed
    path = tmp_path / "run_config.json"
    path.write_text(json.dumps(config))
    utils.check_run_config(path, {**config, "recipe": tiny_recipe(noise_fade_epochs=50)})
    with pytest.raises(utils.ParameterError, match="noise_fade_epochs"):
        utils.check_run_config(path, {**config, "recipe": tiny_recipe(noise_fade_epochs=30)})


def test_finished_means_the_checkpoints_epoch_not_the_history_length(nb, tmp_path):
    run = tiny_run(nb, tmp_path, "ahead", opened=True, checkpoint_every=2)
    nb["train"](run, nb["make_train_step"](run), nb["TrainingData"](images(16), 8), 2)
    history = utils.load_history(run.paths["history"])
    utils.save_history(run.paths["history"], [*history, {**history[-1], "epoch": 3}])  # died before ckpt-3
    assert reports.trained_runs(tmp_path, ["ahead"], 3) == {}
    assert list(reports.trained_runs(tmp_path, ["ahead"], 2)) == ["ahead"]
    assert utils.checkpoint_epoch(tmp_path / "training_checkpoints" / "absent") == 0


def test_opening_a_run_sweeps_what_a_killed_writer_left(nb, tmp_path):
    run = tiny_run(nb, tmp_path, "swept")
    dead = 2**22 + 12345  # above the default pid_max: no such process
    leftovers = [
        run.paths["samples"] / f".epoch_0003.png.{dead}.0123abcd.tmp",
        run.paths["checkpoints"] / f".sample_seeds.npy.{dead}.89abcdef.tmp",
        run.paths["history"].parent / f".history.json.{dead}.deadbeef.tmp",
    ]
    alive = run.paths["history"].parent / f".history.json.{os.getppid()}.00000000.tmp"  # a writer alive
    for path in [*leftovers, alive]:
        path.write_bytes(b"half")
    utils.open_run(run, nb["make_checkpoint"](run))
    assert not any(path.exists() for path in leftovers) and alive.exists()
