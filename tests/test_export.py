"""`dcgan_tools.py export`: the images of a trained run, their classes, a manifest of what was
written, and the refusals (a mistyped run, a folder that holds files), on tiny runs saved here."""

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_recipe
from run_files import save_generator_run

import dcgan_reports as reports
import dcgan_tools as tools
import dcgan_utils as utils

NOISE_DIM = 16


@pytest.fixture(scope="module")
def runs(nb, tmp_path_factory):
    """An OUTPUT_DIR with two saved runs: `cond` (class-conditional, sampled from its average,
    epoch 3) and `plain` (unconditional, sampled from G itself, epoch 2). In `cond` every class has
    its own batch-norm scale and shift, so the classes draw unlike images."""
    root = tmp_path_factory.mktemp("export")
    tf.keras.utils.set_random_seed(0)
    conditional = nb["build_conditional_generator"](NOISE_DIM, 8, "float32")
    for layer in conditional.layers:
        if isinstance(layer, nb["ConditionalBatchNorm"]):
            layer.scale.assign(tf.random.uniform(layer.scale.shape, 0.5, 1.5, seed=2))
            layer.shift.assign(tf.random.normal(layer.shift.shape, seed=3))
    recipe = tiny_recipe(conditional=True, ema_decay=0.999)
    save_generator_run(root, "cond", conditional, recipe, epoch=3)
    save_generator_run(root, "plain", nb["build_generator"](NOISE_DIM, 8, "float32"), tiny_recipe(), epoch=2)
    return root


def read_export(folder):
    with np.load(folder / "images.npz") as saved:
        arrays = {key: saved[key] for key in saved.files}
    return arrays, json.loads((folder / "manifest.json").read_text())


def test_a_conditional_export_writes_the_labels_and_a_manifest(nb, runs, tmp_path):
    folder = tools.export_run("cond", 25, tmp_path / "out", runs, seed=3)
    arrays, manifest = read_export(folder)
    labels = arrays["labels"]
    assert sorted(arrays) == ["images", "labels"] and labels.tolist() == [i % 10 for i in range(25)]
    assert manifest == {
        "run": "cond",
        "checkpoint_epoch": 3,
        "sampler": "average",
        "seed": 3,
        "count": 25,
        "conditional": True,
        "class": None,
        "class_names": list(utils.CIFAR10_CLASSES),
        "labels": labels.tolist(),
    }
    # Image i is what the run's sampler draws from noise i as class labels[i], and not as another class.
    sampler, _ = reports.load_run_generator(utils.make_run_paths(runs, "cond"))
    noise = np.random.default_rng(3).standard_normal((25, NOISE_DIM)).astype("float32")
    assert np.array_equal(arrays["images"], nb["to_uint8"](nb["draw_with_labels"](sampler, noise, labels)))
    other = nb["to_uint8"](nb["draw_with_labels"](sampler, noise, (labels + 1) % 10))
    assert all(not np.array_equal(a, b) for a, b in zip(arrays["images"], other, strict=True))
    assert len(list(folder.glob("*.png"))) == 25


def test_a_one_class_export_labels_every_image_with_that_class(runs, tmp_path):
    arrays, manifest = read_export(tools.export_run("cond", 6, tmp_path / "horses", runs, class_name="horse"))
    assert arrays["labels"].tolist() == [7] * 6 and manifest["labels"] == [7] * 6
    assert manifest["class"] == "horse" and manifest["count"] == 6


def test_an_unconditional_export_has_no_labels_and_names_its_sampler(runs, tmp_path):
    arrays, manifest = read_export(tools.export_run("plain", 4, tmp_path / "out", runs, seed=1))
    assert list(arrays) == ["images"] and arrays["images"].shape == (4, 32, 32, 3)
    assert manifest == {
        "run": "plain",
        "checkpoint_epoch": 2,
        "sampler": "generator",
        "seed": 1,
        "count": 4,
        "conditional": False,
    }


def test_the_labels_are_the_classes_drawn_across_batches(runs, tmp_path, monkeypatch):
    """A stand-in conditional G whose image is its label / 10: the class of each of 510 exported
    images (two of generate_images' batches of 500) can be read back from its pixels."""
    noise = tf.keras.Input((NOISE_DIM,))
    label = tf.keras.Input((), dtype="int32")
    value = tf.keras.layers.Lambda(lambda y: tf.cast(y, tf.float32)[:, None, None, None] / 10)(label)
    stand_in = tf.keras.Model(
        [noise, label], tf.keras.layers.Lambda(lambda v: tf.tile(v, [1, 32, 32, 3]))(value)
    )
    monkeypatch.setattr(
        reports, "load_run_generator", lambda paths: (stand_in, {"recipe": {"ema_decay": 0.999}})
    )
    arrays, manifest = read_export(tools.export_run("cond", 510, tmp_path / "out", runs))
    drawn = np.rint((arrays["images"][:, 0, 0, 0].astype(float) - 127.5) / 12.75).astype(int)
    assert drawn.tolist() == arrays["labels"].tolist() == manifest["labels"]
    assert np.bincount(drawn).tolist() == [51] * 10


def test_a_folder_that_holds_files_is_refused_and_overwrite_clears_only_a_previous_export(runs, tmp_path):
    out = tmp_path / "out"
    tools.export_run("cond", 12, out, runs)
    (out / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(utils.ParameterError, match=r"already holds files \(15\)"):
        tools.export_run("cond", 5, out, runs, seed=1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing removed or written
    tools.export_run("cond", 5, out, runs, seed=1, overwrite=True)
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"0000{i}.png" for i in range(5)] + ["images.npz", "manifest.json", "notes.txt"]
    arrays, manifest = read_export(out)
    assert len(arrays["images"]) == 5 and manifest["count"] == 5 and manifest["seed"] == 1
    assert (out / "notes.txt").read_text() == "mine"
    # A folder holding only someone else's files is refused too; with overwrite they stay.
    other = tmp_path / "other"
    other.mkdir()
    (other / "README").write_text("keep")
    with pytest.raises(utils.ParameterError, match=r"already holds files \(1\)"):
        tools.export_images(np.zeros((2, 32, 32, 3), np.uint8), other)
    tools.export_images(np.zeros((2, 32, 32, 3), np.uint8), other, overwrite=True)
    assert sorted(p.name for p in other.iterdir()) == ["00000.png", "00001.png", "README", "images.npz"]


def test_a_mistyped_run_lists_the_runs_and_creates_nothing(runs, tmp_path, capsys):
    before = sorted(runs.rglob("*"))
    with pytest.raises(
        utils.ParameterError, match=r"no run 'conditonal' in .*: the runs there are cond, plain\."
    ):
        tools.export_run("conditonal", 5, tmp_path / "out", runs)
    with pytest.raises(SystemExit) as stopped:
        tools.main(["export", "--run", "plane", "--count", "5", "--out", str(tmp_path / "out")]
                   + ["--output-dir", str(runs)])  # fmt: skip
    assert stopped.value.code == 2
    assert "no run 'plane'" in capsys.readouterr().err
    assert sorted(runs.rglob("*")) == before and not (tmp_path / "out").exists()
    with pytest.raises(utils.ParameterError, match="it holds no run"):
        tools.export_run("cond", 5, tmp_path / "out", tmp_path / "empty")
    assert not (tmp_path / "empty").exists()


def test_the_command_line_says_what_it_wrote_and_refuses_to_write_over_files(runs, tmp_path, capsys):
    command = ["export", "--run", "cond", "--count", "4", "--out", str(tmp_path / "out")]
    command += ["--output-dir", str(runs)]
    tools.main(command)
    said = capsys.readouterr().out
    assert said.startswith("wrote 4 images of run 'cond' (epoch 3, sampler: average) to ")
    assert said.rstrip().endswith("NNNNN.png, images.npz (images, labels), manifest.json")
    with pytest.raises(SystemExit) as stopped:
        tools.main(command)
    assert stopped.value.code == 2 and "--overwrite" in capsys.readouterr().err
    tools.main([*command, "--overwrite", "--count", "2"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "00000.png",
        "00001.png",
        "images.npz",
        "manifest.json",
    ]
