"""The plumbing module: data folder, parameter checks, precision, atomic files."""

import json
import pickle

import numpy as np
import pytest
from conftest import write_fake_cifar

import dcgan_tools as tools
import dcgan_utils as utils


def test_reads_official_layout_as_rgb(tmp_path):
    folder = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=4)
    # Overwrite batch 1 with a known image: red plane 10, green 20, blue 30.
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)]).astype(np.uint8)
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": np.stack([row] * 4), b"labels": [3, 1, 4, 1]}, f)
    images, labels = utils.load_cifar10_folder(folder)
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    assert images[0, 5, 7].tolist() == [10, 20, 30]
    assert labels[:4].tolist() == [3, 1, 4, 1]
    test_images, _ = utils.load_cifar10_folder(folder, "test")
    assert test_images.shape == (4, 32, 32, 3)


def test_resolve_data_dir_prefers_parameter_then_env(tmp_path):
    write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=1)
    assert utils.resolve_data_dir("", {}) is None
    assert utils.resolve_data_dir("", {"CIFAR10_DIR": "/x"}).as_posix() == "/x"
    # The parent of cifar-10-batches-py is accepted too.
    assert utils.resolve_data_dir(str(tmp_path), {"CIFAR10_DIR": "/x"}).name == "cifar-10-batches-py"


def test_missing_folder_says_how_to_provide(tmp_path):
    with pytest.raises(utils.DataFolderError, match="does not exist.*CIFAR10_DIR"):
        utils.load_cifar10(str(tmp_path / "nowhere"))


def test_empty_folder_names_missing_batches(tmp_path):
    with pytest.raises(utils.DataFolderError, match="data_batch_1.*missing"):
        utils.load_cifar10_folder(tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x80\x04\x95 truncated", "truncated or corrupt"),
        (pickle.dumps([1, 2, 3]), "not a CIFAR-10 batch dict"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}), "no 'data' or 'labels'"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "3072"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}), "uint8"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "labels for 2 images"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}), "outside 0..9"),
    ],
)
def test_malformed_batch_gives_one_clear_error(tmp_path, content, message):
    folder = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=2)
    (folder / "data_batch_3").write_bytes(content)
    with pytest.raises(utils.DataFolderError, match=message) as caught:
        utils.load_cifar10_folder(folder)
    assert "data_batch_3" in str(caught.value) and "DATA_DIR" in str(caught.value)


def test_positive_int_checks():
    assert utils.check_positive_int("EPOCHS", 3) == 3
    for bad in (0, -1, 2.5, "5", True, None):
        with pytest.raises(utils.ParameterError, match="EPOCHS must be a positive integer"):
            utils.check_positive_int("EPOCHS", bad)


def test_batch_larger_than_data():
    utils.check_batch_fits(10, 10)
    with pytest.raises(utils.ParameterError, match="BATCH_SIZE 11 is larger than the 10"):
        utils.check_batch_fits(11, 10)


def test_run_name_must_be_a_plain_folder():
    assert utils.check_run_name("baseline-2") == "baseline-2"
    for bad in ("", "..", "a/b", "../x", 3):
        with pytest.raises(utils.ParameterError, match="RUN_NAME"):
            utils.check_run_name(bad)


def test_precision_choice():
    assert utils.choose_precision("auto", has_gpu=True, has_bf16_cpu=True) == "mixed_float16"
    assert utils.choose_precision("auto", has_gpu=False, has_bf16_cpu=True) == "mixed_bfloat16"
    assert utils.choose_precision("auto", has_gpu=False, has_bf16_cpu=False) == "float32"
    assert utils.choose_precision("float32", has_gpu=True, has_bf16_cpu=True) == "float32"
    # An existing run resumes in its own precision under "auto", whatever the machine.
    assert utils.choose_precision("auto", True, True, run_precision="float32") == "float32"
    assert utils.choose_precision("mixed_float16", True, True, run_precision="float32") == "mixed_float16"
    with pytest.raises(utils.ParameterError, match="PRECISION must be one of"):
        utils.choose_precision("half", has_gpu=False, has_bf16_cpu=False)


def test_run_precision_keeps_a_saved_run_s_own(tmp_path):
    config = tmp_path / "run_config.json"
    machine_choice = utils.choose_precision("auto", False, utils.cpu_supports_bf16())
    assert utils.run_precision("auto", config, gpu=False) == machine_choice  # a new run
    utils.atomic_write_json(config, {"precision": "mixed_float16"})
    assert utils.run_precision("auto", config, gpu=False) == "mixed_float16"
    assert utils.run_precision("float32", config, gpu=False) == "float32"


def test_bf16_detection_reads_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("flags\t: fpu avx2 avx512f avx512_bf16\n")
    assert utils.cpu_supports_bf16(info)
    info.write_text("flags\t: fpu avx2 fma\n")
    assert not utils.cpu_supports_bf16(info)
    assert not utils.cpu_supports_bf16(tmp_path / "absent")


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "file.json"
    utils.atomic_write_json(target, {"a": 1})
    utils.atomic_write_json(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]
    plain = tmp_path / "sub" / "plain.txt"
    plain.write_text("made by open()")  # the mode an ordinary file gets under this umask
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "file.json"
    utils.atomic_write_json(target, {"a": 1})

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(utils.os, "fsync", disk_full)  # the write itself fails, after the temp file is made
    with pytest.raises(OSError, match="No space left"):
        utils.atomic_write_json(target, {"b": 2})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]  # the temporary file is gone


def test_history_round_trip_and_epoch_order(tmp_path):
    path = tmp_path / "history.json"
    assert utils.load_history(path) == []
    history = [{"epoch": 1, "gen_loss": 1.0}, {"epoch": 2, "gen_loss": 0.5}]
    utils.save_history(path, history)
    assert utils.load_history(path) == history
    with pytest.raises(ValueError, match="epochs 1..2 once each"):
        utils.save_history(path, [{"epoch": 1}, {"epoch": 1}])
    assert utils.load_history(path) == history


def test_run_config_refuses_other_settings_and_changes_nothing(tmp_path):
    path = tmp_path / "run_config.json"
    config = {"noise_dim": 100, "base_filters": 64, "precision": "float32"}
    utils.check_run_config(path, config)  # a new run: nothing to compare, nothing written
    assert not path.exists()
    utils.save_run_config(path, config)
    before = path.read_bytes()
    utils.save_run_config(path, {**config, "noise_dim": 1})  # only a new run's settings are written
    assert path.read_bytes() == before
    utils.check_run_config(path, config)  # same settings: fine
    with pytest.raises(utils.ParameterError, match="NOISE_DIM is 64, the run used 100"):
        utils.check_run_config(path, {**config, "noise_dim": 64})
    assert path.read_bytes() == before


def test_strip_embedded_images_keeps_the_text_and_drops_the_pictures(tmp_path):
    notebook = tmp_path / "run.ipynb"
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# a run"]},
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": 1,
            "source": ["train()"],
            "outputs": [
                {"output_type": "stream", "name": "stdout", "text": ["epoch 1/50 ...\n"]},
                {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBOR" * 1000}},
                {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": ["![gif](a.gif)"]}},
            ],
        },
    ]
    notebook.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert tools.strip_embedded_images(notebook) == 1
    stripped = json.loads(notebook.read_text())["cells"][1]["outputs"]
    assert stripped[0]["text"] == ["epoch 1/50 ...\n"] and stripped[2]["data"] == {
        "text/markdown": ["![gif](a.gif)"]
    }
    assert "image/png" not in stripped[1]["data"] and "removed" in stripped[1]["data"]["text/plain"][0]
    assert notebook.stat().st_size < 1000


def test_run_config_compares_only_the_settings_both_records_hold(tmp_path):
    """A run made before a setting (or a recipe key) existed resumes; a recorded one that differs
    stops with its name."""
    path = tmp_path / "run_config.json"
    utils.save_run_config(
        path, {"noise_dim": 100, "precision": "float32", "recipe": {"conditional": True, "loss": "bce"}}
    )
    utils.check_run_config(
        path, {"noise_dim": 100, "precision": "float32", "recipe": {"conditional": True, "ema_decay": 0.999}}
    )
    utils.check_run_config(path, {"noise_dim": 100, "base_filters": 64})  # not recorded: not compared
    with pytest.raises(
        utils.ParameterError, match="RECIPE is {'conditional': False}, the run used {'conditional': True}"
    ):
        utils.check_run_config(path, {"recipe": {"conditional": False, "diffaugment": True}})
    with pytest.raises(utils.ParameterError, match="NOISE_DIM is 64, the run used 100"):
        utils.check_run_config(path, {"noise_dim": 64})


def test_a_figure_label_titles_every_saved_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        utils.label_figures("quick look, 3 epochs")
        fig, _ = plt.subplots()
        fig.suptitle("epoch 3")
        utils.save_figure(fig, tmp_path / "a.png")
        assert fig._suptitle.get_text() == "quick look, 3 epochs\nepoch 3"
        bare, _ = plt.subplots()
        utils.save_figure(bare, tmp_path / "b.png")
        assert bare._suptitle.get_text() == "quick look, 3 epochs"
    finally:
        utils.label_figures("")
    plain, _ = plt.subplots()
    utils.save_figure(plain, tmp_path / "c.png")
    assert plain._suptitle is None


def test_check_parameters_names_the_first_wrong_one():
    import json as json_module

    from notebook_cells import NOTEBOOK

    cells = json_module.loads(NOTEBOOK.read_text())["cells"]
    (source,) = ["".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", [])]
    defaults: dict = {}
    exec(source, defaults)
    utils.check_parameters(defaults)  # the notebook's own defaults pass
    for change, message in [
        ({"EPOCHS": 0}, "EPOCHS must be a positive integer"),
        ({"SNAPSHOT_EVERY": -1}, "SNAPSHOT_EVERY must be an integer of 0 or more"),
        ({"REAL_LABEL": 1.5}, "REAL_LABEL must be a number from 0 to 1"),
        ({"GEN_LR": "fast"}, "GEN_LR must be a number"),
        ({"PRECISION": "fp8"}, "PRECISION must be one of"),
        ({"STEP7_RUN_NAME": defaults["RUN_NAME"]}, "STEP7_RUN_NAME and STEP7_REPEATS must differ"),
    ]:
        with pytest.raises(utils.ParameterError, match=message):
            utils.check_parameters({**defaults, **change})


def test_history_lines_show_the_last_epochs_as_the_progress_bar_left_them():
    history = [
        {"epoch": e, "gen_loss": 1.0 + e, "disc_loss": 0.5, "real_acc": 0.75, "fake_acc": 0.8}
        | {"seconds": 262.0, "images_per_sec": 190.8}
        for e in range(1, 8)
    ]
    lines = utils.history_lines(history, 390, 50).splitlines()
    # Epoch 3 of 50: 390 steps in 262 s (04:22, 1.49 steps a second), its mean metrics and speed, and
    # the 47 epochs still to come at that pace: 47 x 262 s = 205 min, 3:25.
    assert lines[0] == (
        "epoch 3/50: 100%|██████████| 390/390 [04:22<00:00,  1.49it/s, "
        "G 4.000 D 0.500 real 0.75 fake 0.80 191 img/s, run left 3:25]"
    )
    assert [line.split(":")[0] for line in lines] == [f"epoch {e}/50" for e in range(3, 8)]  # the last 5
    assert lines[-1].startswith("epoch 7/50: ") and "G 8.000 " in lines[-1] and lines[-1].endswith("3:08]")
    assert utils.history_lines(history, 390, 50, last=2).splitlines() == lines[-2:]
    assert utils.history_lines([], 390, 50) == ""


def test_the_class_grid_draws_class_c_in_row_c_from_the_first_ten_seeds():
    seeds = np.arange(16)[:, None] * np.ones((1, 3))
    noise, labels = utils.class_grid_inputs(seeds)
    assert labels.reshape(10, 10).tolist() == [[c] * 10 for c in range(10)]
    assert noise[:, 0].reshape(10, 10).tolist() == [list(range(10))] * 10
