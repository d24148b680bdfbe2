"""Caches that notice what changed: the search's short runs (structured rows, the committed ones
migrated from string keys without retraining any), the evaluation classifier, and the search file
under a lock so that two kernels keep each other's rows."""

import ast
import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT, search_row, tiny_recipe, tiny_settings, write_fake_cifar

import dcgan_eval as evaluation
import dcgan_search as search
import dcgan_tools as tools
import dcgan_utils as utils

CLASSIFIER = SimpleNamespace(info={"epochs": 12, "seed": 42})
COMMITTED = ROOT / search.SEARCH_FILE


def setup(epochs=2, count=10):
    return search.SearchSetup(np.zeros((64, 32, 32, 3)), np.zeros(64), 16, epochs, count, "float32")


@pytest.fixture
def trained(monkeypatch):
    """The short runs trained, as (recipe's conditional flag, seed, gen_lr), with a stand-in."""
    done = []

    def fake_short_run(recipe, seed, setup, settings, yardstick):
        done.append((recipe["conditional"], seed, recipe["gen_lr"]))
        return {"epochs": setup.epochs, "seconds_per_epoch": 1.0}

    monkeypatch.setattr(search, "short_run", fake_short_run)
    return done


@pytest.mark.parametrize(
    "change",
    [
        {"recipe": {"gen_lr": 5e-4}},
        {"recipe": {"disc_lr": 5e-4}},
        {"recipe": {"beta_1": 0.0}},
        {"recipe": {"beta_2": 0.99}},
        {"recipe": {"instance_noise": 0.0}},
        {"recipe": {"noise_fade_epochs": 10}},
        {"count": 20},  # CURVE_IMAGES
        {"classifier": {"epochs": 3, "seed": 42}},
        {"classifier": {"epochs": 12, "seed": 7}},
    ],
)
def test_a_changed_setting_trains_the_short_run_again(tmp_path, trained, change):
    plan = [("conditional", 1)]
    search.run_search(plan, tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
    search.run_search(plan, tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
    assert len(trained) == 1  # the same settings: cached
    classifier = SimpleNamespace(info=change.get("classifier", CLASSIFIER.info))
    recipe = tiny_recipe(**change.get("recipe", {}))
    results = search.run_search(
        plan, recipe, {"noise_dim": 16}, setup(count=change.get("count", 10)), classifier, tmp_path
    )
    assert len(trained) == 2 and len(results) == 1  # trained again, and only the new row is shown
    rows = search.read_rows(tmp_path / search.SEARCH_FILE)
    assert len(rows) == 2 and rows[0]["settings"] != rows[1]["settings"]
    assert results == rows[1:] and rows[1]["recipe"] == "conditional" and rows[1]["seed"] == 1


def test_steps_0_6s_targets_do_not_reach_step_7s_short_runs(tmp_path, trained):
    """Step 7's runs and rows were made with D's real target 0.9: a balanced baseline's 1.0 leaves
    them cached, and a lever of Steps 0-6 never reaches their recipe."""
    plan = [("conditional", 1)]
    search.run_search(plan, tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
    balanced = tiny_recipe(real_label=1.0, disc_dropout=0.3)
    search.run_search(plan, balanced, {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
    assert len(trained) == 1
    assert search.make_recipe("conditional", balanced) == search.make_recipe("conditional", tiny_recipe())


def notebook_parameters() -> dict:
    """The notebook's parameters as its parameters cell sets them by default."""
    cells = json.loads(tools.NOTEBOOK.read_text())["cells"]
    (source,) = ["".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", [])]
    return {
        node.target.id: ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.AnnAssign)
    }


def test_the_notebooks_default_settings_find_every_committed_row_and_train_none(monkeypatch):
    """The committed rows were migrated from string keys: the settings the notebook's defaults give
    find all of them, so its default search (SEARCH_EPOCHS 10) trains nothing."""
    p = notebook_parameters()

    def no_training(*args):
        raise AssertionError(f"the default search would train {args[:2]}")

    monkeypatch.setattr(search, "short_run", no_training)
    base = {
        "gen_filters": p["BASE_FILTERS"], "disc_filters": p["BASE_FILTERS"], "real_label": p["REAL_LABEL"],
        "gen_lr": p["GEN_LR"], "disc_lr": p["DISC_LR"], "beta_1": p["BETA_1"], "beta_2": p["BETA_2"],
        "instance_noise": p["INSTANCE_NOISE"], "noise_fade_epochs": p["NOISE_FADE_EPOCHS"],
    }  # fmt: skip
    assert p["MAX_TRAIN_IMAGES"] == 0  # all 50,000 training images
    images = np.broadcast_to(np.zeros((1, 32, 32, 3), np.uint8), (50_000, 32, 32, 3))
    classifier = SimpleNamespace(info={"epochs": p["CLASSIFIER_EPOCHS"], "seed": p["CLASSIFIER_SEED"]})
    plan = search.search_plan(p["STEP7_RECIPE"], p["SEARCH_RECIPES"], p["SEED"])
    committed = search.read_rows(COMMITTED)
    assert len(committed) == 22 and json.loads(COMMITTED.read_text()).keys() == {"rows"}

    def found(epochs):
        search_setup = search.SearchSetup(
            images, np.zeros(50_000), p["BATCH_SIZE"], epochs, p["CURVE_IMAGES"]
        )
        return search.run_search(plan, base, {"noise_dim": p["NOISE_DIM"]}, search_setup, classifier, ROOT)

    ten = [row for row in committed if row["epochs"] == 10]
    assert p["SEARCH_EPOCHS"] == 10 and len(ten) == 14 and found(10) == ten
    assert found(0) == committed  # SEARCH_EPOCHS 0: every saved length
    assert {(row["recipe"], row["seed"]) for row in ten} >= set(plan)


OLD_SETTINGS = (
    "noise 100, width 64, batch 128, 50000 images, lr 0.0002/0.0002, betas 0.5/0.999, real label 0.9, "
    "instance noise 0.1 over 50 epochs, 2000 images measured, classifier 12 epochs seed 42"
)


def test_a_search_file_with_string_keys_reads_as_rows_and_is_saved_as_rows(tmp_path, trained):
    path = tmp_path / search.SEARCH_FILE
    old = {
        f"conditional|42|10|{OLD_SETTINGS}, mixed_bfloat16": {"epochs": 10, "fake_acc": 0.9060096153846153},
        f"diffaugment+ema|43|3|{OLD_SETTINGS}, float32": {"epochs": 3, "fake_acc": 0.987099358974359},
    }
    utils.atomic_write_json(path, old)
    rows = search.read_rows(path)
    assert [(r["recipe"], r["seed"], r["epochs"], r["precision"]) for r in rows] == [
        ("conditional", 42, 10, "mixed_bfloat16"),
        ("diffaugment+ema", 43, 3, "float32"),
    ]
    assert [r["result"] for r in rows] == list(old.values())  # the numbers as they were
    assert rows[0]["settings"] == rows[1]["settings"] == {
        "noise_dim": 100, "width": 64, "batch": 128, "images": 50000, "gen_lr": 2e-4, "disc_lr": 2e-4,
        "beta_1": 0.5, "beta_2": 0.999, "real_label": 0.9, "instance_noise": 0.1, "noise_fade_epochs": 50,
        "measured": 2000, "classifier_epochs": 12, "classifier_seed": 42,
    }  # fmt: skip
    assert all(type(value) is int for key, value in rows[0]["settings"].items() if key in ("width", "images"))
    with pytest.raises(ValueError, match="not one this code wrote"):
        search.migrate_search({"conditional|42|10|theirs, float32": {}})
    # The next save writes every row, the migrated ones included, in the new format.
    search.save_row(path, {**rows[0], "seed": 7})
    saved = json.loads(path.read_text())
    assert list(saved) == ["rows"] and saved["rows"][:2] == rows and saved["rows"][2]["seed"] == 7


def test_two_kernels_searching_at_once_keep_each_others_rows(tmp_path, monkeypatch):
    path = tmp_path / search.SEARCH_FILE
    theirs = {"recipe": "other", "seed": 7, "epochs": 2, "settings": {}, "precision": "float32", "result": {}}

    def short_run_while_another_kernel_saves(recipe, seed, setup, settings, yardstick):
        search.save_row(path, theirs)  # the other kernel finishes its run meanwhile, and saves it
        return {"epochs": setup.epochs, "seconds_per_epoch": 1.0}

    monkeypatch.setattr(search, "short_run", short_run_while_another_kernel_saves)
    search.run_search([("conditional", 1)], tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
    rows = json.loads(path.read_text())["rows"]
    assert rows[0] == theirs and [(r["recipe"], r["seed"]) for r in rows] == [
        ("other", 7),
        ("conditional", 1),
    ]


def test_a_cached_classifier_of_other_settings_is_refused_by_name(tmp_path):
    """The message names every cache the old classifier measured (issue 27, item 6)."""
    data = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    folder = tmp_path / "training_checkpoints" / "classifier"
    _, info = evaluation.load_or_train_classifier(folder, str(data), epochs=1, seed=3)
    weights = (folder / evaluation.CLASSIFIER_FILE).read_bytes()
    assert info["identity"] == evaluation.classifier_identity(folder / evaluation.CLASSIFIER_FILE)
    caches = [
        tmp_path / "training_history" / name for name in ("candidate_search.json", "run/metric_curve.json")
    ]
    for cache in caches:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("{}")
    with pytest.raises(utils.ParameterError, match="CLASSIFIER_EPOCHS is 2.*trained with 1") as refused:
        evaluation.load_or_train_classifier(folder, str(data), epochs=2, seed=3)
    assert f"every cache measured with it: {caches[0]}, {caches[1]}." in str(refused.value)
    with pytest.raises(utils.ParameterError, match="CLASSIFIER_SEED is 42.*trained with 3"):
        evaluation.load_or_train_classifier(folder, str(data), epochs=1, seed=42)
    assert (folder / evaluation.CLASSIFIER_FILE).read_bytes() == weights  # nothing retrained


def test_the_notebook_seeds_the_classifier_with_its_own_parameter():
    """SEED changes for a second training run; the classifier, and every number cached with it, stay."""
    cells = json.loads(tools.NOTEBOOK.read_text())["cells"]
    loads = [line for cell in cells for line in cell["source"] if "Yardstick.load(" in line]
    assert loads and all(
        "CLASSIFIER_SEED)" in line and "SEED)" not in line.replace("CLASSIFIER_SEED)", "") for line in loads
    )


@pytest.mark.parametrize("name", ["baseline", "diffaugment+ema", "conditional+diffaugment+spectral_hinge"])
def test_an_unconditional_or_retired_recipe_is_shown_as_saved_and_never_trained(
    tmp_path, trained, name, capsys
):
    path = tmp_path / search.SEARCH_FILE
    settings = search.search_settings(tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER.info)
    search.save_row(path, {**search_row(name, 1, {"seconds_per_epoch": 1.0}, epochs=2), "settings": settings})
    plan = [(name, 1), ("conditional", 1)]
    shown = search.run_search(plan, tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
    assert [(row["recipe"], row["seed"]) for row in shown] == [(name, 1), ("conditional", 1)]
    assert trained == [(True, 1, 1e-3)]  # only the conditional run, which was not saved
    # Not saved at seed 2: a retired one is refused before any run of the plan trains; an
    # unconditional one is skipped with one line, and the conditional run beside it trains.
    plan = [("conditional", 3), (name, 2)]
    if name in search.RETIRED or "+spectral_hinge" in name:
        with pytest.raises(utils.ParameterError, match="removed with its code"):
            search.run_search(plan, tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
        assert len(trained) == 1
    else:
        shown = search.run_search(plan, tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
        assert f"not trained: {name}@2 at 2 epochs" in capsys.readouterr().out
        assert trained == [(True, 1, 1e-3), (True, 3, 1e-3)]
        assert (name, 2) not in [(row["recipe"], row["seed"]) for row in shown]


def test_a_retired_candidate_is_refused_by_name_and_a_mistyped_one_as_unknown():
    with pytest.raises(utils.ParameterError, match="'spectral_hinge' .*was removed with its code"):
        search.make_recipe("conditional+diffaugment+spectral_hinge", tiny_recipe())
    with pytest.raises(utils.ParameterError, match="unknown candidate 'spectral'"):
        search.run_search(
            [("conditional+spectral", 1)], tiny_recipe(), {"noise_dim": 16}, setup(0), CLASSIFIER, "."
        )
    recipe = search.make_recipe(
        "conditional+diffaugment+ema+strong_ac", {"gen_filters": 8, "instance_noise": 0.1}
    )
    assert recipe == {
        "gen_filters": 8, "instance_noise": 0.0, "conditional": True, "diffaugment": True, "ema_decay": 0.999,
        "ac_weight": 3.0, "real_label": 0.9,
    }  # fmt: skip


class MeanPixelYardstick:
    """Stands in for the classifier: the FID is the images' mean pixel, every image agrees; its 1,000
    features ask for more images a class than a tiny short run measures, so no per-class FID."""

    reference_features = np.zeros((1, 1000))

    def measure(self, images, asked):
        return {"classifier_fid": float(images.mean())}, {"overall": 1.0, "per_class": [1.0] * 10}

    def per_class_kids(self, images_of_class):  # KID needs only two images a class
        return [float(len(images_of_class(c))) for c in range(10)]


def test_a_short_run_trains_the_conditional_recipe_and_measures_g_and_its_average(nb):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (32, 32, 32, 3)).astype("float32")
    short = search.SearchSetup(images, np.arange(32) % 10, 16, 2, 20, "float32")
    recipe = search.make_recipe("conditional+diffaugment+ac", tiny_recipe())
    result = search.short_run(recipe, 3, short, tiny_settings(), MeanPixelYardstick())
    assert result["epochs"] == 2 and result["seconds_per_epoch"] > 0 and 0 <= result["fake_acc"] <= 1
    for sampler in ("generator", "ema"):
        assert result[sampler]["label_agreement"] == 1.0 and "per_class_fid" not in result[sampler]
        assert result[sampler]["per_class_kid"] == 2.0  # 20 images measured, 2 a class
    assert result["generator"]["classifier_fid"] != result["ema"]["classifier_fid"]  # two samplers
    with pytest.raises(utils.ParameterError, match="class-conditional recipes"):
        search.short_run(search.make_recipe("diffaugment", tiny_recipe()), 3, short, tiny_settings(), None)
