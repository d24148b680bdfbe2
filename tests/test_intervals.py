"""Bias-corrected bootstrap intervals of the classifier-FID and of the ratios to the baseline; the
per-class FID's minimum size; labels never dropped silently."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

import dcgan_eval as evaluation
import dcgan_reports as reports
import dcgan_utils as utils

UNIFORM = np.full((1000, 10), 0.1)


def test_the_fid_interval_corrects_the_upward_bias_and_covers_the_true_value():
    """FID is biased upward, and a resample (which repeats images) more so: a percentile interval
    misses the true distance between the Gaussians in 8 of 20 sets here. BCa moves it back."""
    dim, rng = 8, np.random.default_rng(0)
    reference = evaluation.gaussian_stats(rng.standard_normal((50_000, dim)))
    shift = np.eye(dim)[0] * 0.5
    true = evaluation.frechet_from_stats(reference, (reference[0] + shift, reference[1]))
    covered = 0
    for seed in range(20):
        sample = np.random.default_rng(seed + 1).standard_normal((1000, dim)) + shift
        low, high = evaluation.fid_interval(evaluation.Blocks.of(sample, UNIFORM), reference)
        estimate = evaluation.frechet_from_stats(reference, evaluation.gaussian_stats(sample))
        assert low < estimate < high
        covered += low <= true <= high
    assert covered >= 17


def test_blocks_give_the_gaussian_and_the_recognizable_share_of_any_multiset():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((60, 4))
    probabilities = rng.dirichlet(np.full(10, 0.2), 60)
    blocks = evaluation.Blocks.of(features, probabilities, blocks=6)  # 10 images a block
    chosen = np.array([0, 0, 3, 5])
    images = np.concatenate([features[10 * b : 10 * b + 10] for b in chosen])
    mean, cov = blocks.stats(chosen)
    assert np.allclose(mean, images.mean(axis=0)) and np.allclose(cov, np.cov(images, rowvar=False))
    shares = np.concatenate([probabilities[10 * b : 10 * b + 10] for b in chosen])
    assert blocks.recognizable(chosen) == pytest.approx(evaluation.confident_share(shares))


def test_the_ratio_interval_resamples_both_sets():
    dim, rng = 8, np.random.default_rng(2)
    reference = evaluation.gaussian_stats(rng.standard_normal((50_000, dim)))

    def blocks(shift, seed):
        sample = np.random.default_rng(seed).standard_normal((1000, dim)) + np.eye(dim)[0] * shift
        return evaluation.Blocks.of(sample, UNIFORM)

    base = blocks(1.0, 10)
    same = evaluation.ratio_intervals(blocks(1.0, 11), base, reference)["fid_ratio_interval"]
    assert same[0] < 1 < same[1]
    twice = evaluation.ratio_intervals(blocks(2.0, 12), base, reference)["fid_ratio_interval"]
    assert 2.5 < twice[0] < 4 < twice[1] < 6  # about 4 = 2 squared
    # Only the baseline varies: its own spread alone already widens the ratio's interval.
    steady = evaluation.Blocks.of(np.tile(np.eye(dim)[:2] * 3, (500, 1)), UNIFORM)
    low, high = evaluation.ratio_intervals(steady, base, reference)["fid_ratio_interval"]
    assert high - low > 0.1 * evaluation.frechet_from_stats(reference, steady.stats(np.arange(100)))


def mean_colour_classifier():
    """A stand-in classifier whose features are an image's mean red, green and blue (0-255)."""
    import keras

    images = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D(name="features")(images)
    logits = keras.layers.Dense(10, name="logits", kernel_initializer="ones")(features)
    return keras.Model(images, logits)


def test_compare_gives_each_set_its_interval_and_its_ratios_to_the_baseline():
    classifier = mean_colour_classifier()
    rng = np.random.default_rng(3)
    references = rng.integers(0, 256, (400, 32, 32, 3), dtype=np.uint8)
    features, _ = evaluation.classifier_outputs(classifier, references)
    yardstick = evaluation.Yardstick(classifier, features, rng.integers(0, 10, 400), {})
    sets = {
        "base": rng.integers(128, 256, (200, 32, 32, 3), dtype=np.uint8),
        "dark": rng.integers(0, 64, (200, 32, 32, 3), dtype=np.uint8),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = yardstick.compare(sets, baseline="base", resamples=50)
    assert "vs_baseline" not in results["base"]
    ratios = results["dark"]["vs_baseline"]
    assert ratios["fid_ratio"] == pytest.approx(
        results["dark"]["classifier_fid"] / results["base"]["classifier_fid"]
    )
    for name in sets:
        low, high = results[name]["fid_interval"]
        assert low < results[name]["classifier_fid"] < high
    text = evaluation.against_baseline_text(results)
    assert text.startswith(f"dark: classifier-FID {ratios['fid_ratio']:.2f}x the baseline's (95% interval")


def test_the_per_class_fid_refuses_a_singular_covariance():
    classifier = evaluation.build_classifier()  # 128 features: at least 130 images a class
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(10), 130)
    yardstick = evaluation.Yardstick(classifier, rng.standard_normal((1300, 128)), labels, {})
    few = rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="100 images, but a 128-feature covariance needs at least 130"):
        yardstick.per_class_fids(lambda c: few)
    enough = rng.integers(0, 256, (130, 32, 32, 3), dtype=np.uint8)
    assert all(np.isfinite(yardstick.per_class_fids(lambda c: enough)))
    # The comparison asks for 129 images a class: too few, it measures none and says so with {}.
    test_set = (np.repeat(enough, 10, axis=0), np.repeat(np.arange(10), 130))
    assert reports.per_class_fids({}, yardstick, test_set, 129, seed=0) == {}
    assert len(reports.per_class_fids({}, yardstick, test_set, 130, seed=0)["real test images"]) == 10


def test_an_unconditional_generator_refuses_a_class(nb):
    generator = nb["build_generator"](16, 8, "float32")
    with pytest.raises(
        utils.ParameterError, match="not class-conditional: it cannot draw class 7 \\(horse\\)"
    ):
        reports.generate_images(generator, 10, seed=0, label="horse")
    with pytest.raises(utils.ParameterError, match="cannot draw class 1 \\(automobile\\), 2 \\(bird\\)"):
        reports.draw(generator, tf.zeros([2, 16]), [1, 2])
    with pytest.raises(utils.ParameterError, match="not class-conditional"):
        measuring = SimpleNamespace(
            reference_features=np.zeros((1, 2)),  # 2 features: 4 images a class are enough
            per_class_fids=lambda images_of_class: [images_of_class(c) for c in range(10)],
        )
        reports.per_class_fids({"unconditional": generator}, measuring, (None, None), 10, seed=0)
    assert reports.generate_images(generator, 10, seed=0).shape == (10, 32, 32, 3)  # no label: fine
