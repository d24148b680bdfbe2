"""Issue 27, item 3: the Classification Accuracy Score on a tiny case whose classes a classifier can
learn in a few epochs: each class is an image of its own colour, with noise."""

import numpy as np
import pytest
from conftest import tiny_recipe
from run_files import save_generator_run

import dcgan_eval as evaluation
import dcgan_reports as reports

COLOURS = np.random.default_rng(0).integers(30, 226, (10, 3))  # one colour a class


def coloured(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    noise = rng.normal(0, 20, (count, 32, 32, 3))
    return np.clip(COLOURS[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def test_set():
    return coloured(200, seed=1)


def test_true_labels_score_well_above_chance(test_set):
    images, labels = coloured(2000, seed=2)
    score = evaluation.classification_accuracy_score(images, labels, test_set, epochs=6, seed=0)
    assert score["overall"] > 0.8 and len(score["per_class"]) == 10 and score["images"] == 2000


def test_labels_permuted_between_classes_score_near_zero(test_set):
    """Every image of class c labelled c + 1: the classifier learns the wrong name for each class."""
    images, labels = coloured(2000, seed=2)
    score = evaluation.classification_accuracy_score(images, (labels + 1) % 10, test_set, epochs=6, seed=0)
    assert score["overall"] < 0.1


def test_the_ceilings_subset_takes_the_first_images_of_each_class():
    labels = np.array([3, 1, 3, 0, 1, 3, 0, 2])
    images = np.arange(8)
    chosen, chosen_labels = evaluation.balanced_real_subset(images, labels, 2)
    assert chosen.tolist() == [0, 1, 2, 3, 4, 6, 7] and chosen_labels.tolist() == [3, 1, 3, 0, 1, 0, 2]


class StandInYardstick:
    """The classifier's training settings and the training images, as a Yardstick holds them."""

    info = {"epochs": 3, "seed": 0}

    def __init__(self, images, labels):
        self.reference_images, self.reference_labels = images, labels


def test_cas_is_measured_once_per_run_epoch_and_setting_and_only_for_conditional_runs(
    nb, tmp_path, monkeypatch
):
    """The cache is keyed by the run's checkpoint epoch, the images asked, the classifier's training
    and the test set: each change measures again, the same call reads the saved number."""
    measured = []

    def counting_cas(images, labels, test_set, epochs, seed):
        measured.append((len(images), int(images.mean() * 1000), list(labels[:3]), epochs, seed))
        return {"overall": 0.1 * len(measured), "per_class": [0.5] * 10, "images": len(images)}

    monkeypatch.setattr(evaluation, "classification_accuracy_score", counting_cas)
    generator = nb["build_conditional_generator"](16, 8, "float32")
    conditional = save_generator_run(
        tmp_path, "ac", generator, tiny_recipe(conditional=True, ema_decay=0.999), 2
    )
    plain = save_generator_run(tmp_path, "plain", nb["build_generator"](16, 8, "float32"), tiny_recipe(), 2)
    training, test_set = coloured(100, seed=3), coloured(50, seed=4)
    yardstick = StandInYardstick(*training)
    scores = reports.cas_scores({"ac": conditional, "plain": plain}, yardstick, test_set, 20, 42)
    assert list(scores) == ["ac, epoch 2", reports.CAS_CEILING]  # the unconditional run has none
    assert measured[0][0] == 20 and measured[0][2] == [0, 1, 2]  # its images, asked as i mod 10
    assert measured[1][0] == 20 and scores[reports.CAS_CEILING]["overall"] == pytest.approx(0.2)
    assert reports.cas_scores({"ac": conditional}, yardstick, test_set, 20, 42) == scores
    assert len(measured) == 2  # read from the caches
    for changed in (
        lambda: reports.cas_scores({"ac": conditional}, yardstick, test_set, 30, 42),  # more images
        lambda: reports.cas_scores({"ac": conditional}, yardstick, coloured(50, seed=5), 20, 42),  # test set
    ):
        before = len(measured)
        changed()
        assert len(measured) == before + 2  # the run's and the ceiling's
    yardstick.info = {"epochs": 4, "seed": 0}  # another classifier training
    reports.cas_scores({"ac": conditional}, yardstick, test_set, 20, 42)
    assert len(measured) == 8 and measured[-1][3] == 4
    save_generator_run(tmp_path, "ac", generator, tiny_recipe(conditional=True, ema_decay=0.999), 3)
    later = reports.cas_scores({"ac": conditional}, yardstick, test_set, 20, 42)
    assert list(later)[0] == "ac, epoch 3" and len(measured) == 9  # a new epoch; the ceiling is cached
    assert reports.cas_scores({"plain": plain}, yardstick, test_set, 20, 42) == {}
