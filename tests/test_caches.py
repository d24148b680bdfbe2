"""Caches that notice what changed: the search's short runs, the evaluation classifier, and the
search file under a lock so that two kernels keep each other's rows."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import tiny_recipe, write_fake_cifar

import dcgan_eval as evaluation
import dcgan_tools as tools
import dcgan_utils as utils

CLASSIFIER = SimpleNamespace(info={"epochs": 12, "seed": 42})


def setup(epochs=2, count=10):
    return tools.SearchSetup(np.zeros((64, 32, 32, 3)), np.zeros(64), 16, epochs, count, "float32")


@pytest.fixture
def trained(monkeypatch):
    """The short runs trained, as (recipe name's conditional flag, seed, gen_lr), with a stand-in."""
    done = []

    def fake_short_run(recipe, seed, setup, settings, yardstick):
        done.append((recipe["conditional"], seed, recipe["gen_lr"]))
        return {"epochs": setup.epochs, "seconds_per_epoch": 1.0}

    monkeypatch.setattr(tools, "short_run", fake_short_run)
    return done


@pytest.mark.parametrize(
    "change",
    [
        {"recipe": {"gen_lr": 5e-4}},
        {"recipe": {"disc_lr": 5e-4}},
        {"recipe": {"beta_1": 0.0}},
        {"recipe": {"beta_2": 0.99}},
        {"recipe": {"real_label": 1.0}},
        {"recipe": {"instance_noise": 0.0}},
        {"recipe": {"noise_fade_epochs": 10}},
        {"count": 20},  # CURVE_IMAGES
        {"classifier": {"epochs": 3, "seed": 42}},
        {"classifier": {"epochs": 12, "seed": 7}},
    ],
)
def test_a_changed_setting_trains_the_short_run_again(tmp_path, trained, change):
    plan = [("baseline", 1)]
    tools.run_search(plan, tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
    tools.run_search(plan, tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
    assert len(trained) == 1  # the same settings: cached
    classifier = SimpleNamespace(info=change.get("classifier", CLASSIFIER.info))
    recipe = tiny_recipe(**change.get("recipe", {}))
    results = tools.run_search(
        plan, recipe, {"noise_dim": 16}, setup(count=change.get("count", 10)), classifier, tmp_path
    )
    assert len(trained) == 2 and len(results) == 1  # trained again, and only the new row is shown
    assert len(utils.read_json(tmp_path / "training_history" / "candidate_search.json")) == 2


def test_the_committed_search_rows_carry_their_settings_in_the_key():
    search = utils.read_json(tools.ROOT / "training_history" / "candidate_search.json")
    assert len(search) >= 14
    for key in search:
        assert "lr 0.0002/0.0002, betas 0.5/0.999, real label 0.9, instance noise 0.1 over 50 epochs" in key
        assert "2000 images measured, classifier 12 epochs seed 42" in key


def test_two_kernels_searching_at_once_keep_each_others_rows(tmp_path, monkeypatch):
    path = tmp_path / "training_history" / "candidate_search.json"

    def short_run_while_another_kernel_saves(recipe, seed, setup, settings, yardstick):
        with utils.locked(path):  # the other kernel finishes its run meanwhile, and saves it
            utils.atomic_write_json(
                path, {**utils.read_json(path), "other|7|2|theirs, float32": {"epochs": 2}}
            )
        return {"epochs": setup.epochs, "seconds_per_epoch": 1.0}

    monkeypatch.setattr(tools, "short_run", short_run_while_another_kernel_saves)
    tools.run_search([("baseline", 1)], tiny_recipe(), {"noise_dim": 16}, setup(), CLASSIFIER, tmp_path)
    keys = list(json.loads(path.read_text()))
    assert "other|7|2|theirs, float32" in keys and any(key.startswith("baseline|1|2|") for key in keys)


def test_a_cached_classifier_of_other_settings_is_refused_by_name(tmp_path):
    data = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    folder = tmp_path / "classifier"
    evaluation.load_or_train_classifier(folder, str(data), epochs=1, seed=3)
    weights = (folder / evaluation.CLASSIFIER_FILE).read_bytes()
    with pytest.raises(utils.ParameterError, match="CLASSIFIER_EPOCHS is 2.*trained with 1"):
        evaluation.load_or_train_classifier(folder, str(data), epochs=2, seed=3)
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
