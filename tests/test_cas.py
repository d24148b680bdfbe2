"""Issue 27, item 3: the Classification Accuracy Score on a tiny case whose classes a classifier can
learn in a few epochs: each class is an image of its own colour, with noise."""

import numpy as np
import pytest

import dcgan_eval as evaluation

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
