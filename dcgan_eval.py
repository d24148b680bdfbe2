"""The offline yardstick of Step 7: a small CIFAR-10 classifier and the sample-quality numbers
computed from its features and class probabilities (classifier-FID with bootstrap intervals, KID,
classifier score, recognizable share, effective classes, per-class FID, nearest neighbours), the
tables and figures that show them, the one verdict engine (targets written as data, each a
comparison, judged by `verdicts`), and the standard Inception FID when its weights are at hand."""

from __future__ import annotations

import json
import operator
import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dcgan_utils import (
    CIFAR10_CLASSES,
    ParameterError,
    atomic_write_json,
    check_positive_int,
    load_cifar10,
    save_figure,
)


def _sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature set (N x D), in float64: the Gaussian that FID fits."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_from_stats(stats_a: tuple, stats_b: tuple) -> float:
    """Frechet distance between two Gaussians given as (mean, covariance)."""
    (mean_a, cov_a), (mean_b, cov_b) = stats_a, stats_b
    root_a = _sqrtm_psd(cov_a)
    # tr(sqrt(cov_a cov_b)) = tr(sqrt(root_a cov_b root_a)), whose argument is symmetric PSD.
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    distance = ((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(distance, 0.0))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N x D each), as in FID."""
    return frechet_from_stats(gaussian_stats(features_a), gaussian_stats(features_b))


BLOCKS = 100  # the bootstrap resamples blocks of images (the jackknife of BCa needs one FID per block)


@dataclass
class Blocks:
    """A set of images' classifier outputs cut into consecutive blocks, as sums from which the
    Gaussian of any multiset of blocks follows at once: per block, its image count, feature sum,
    sum of feature outer products, and count of recognizable images."""

    counts: np.ndarray  # (blocks,)
    sums: np.ndarray  # (blocks, D)
    outer_sums: np.ndarray  # (blocks, D, D)
    confident: np.ndarray  # (blocks,)

    @classmethod
    def of(cls, features: np.ndarray, probabilities: np.ndarray, blocks: int = BLOCKS) -> Blocks:
        features = np.asarray(features, dtype=np.float64)
        parts = np.array_split(np.arange(len(features)), min(blocks, len(features)))
        return cls(
            np.array([len(part) for part in parts], dtype=np.float64),
            np.stack([features[part].sum(axis=0) for part in parts]),
            np.stack([features[part].T @ features[part] for part in parts]),
            np.array([confident_share(probabilities[part]) * len(part) for part in parts]),
        )

    def stats(self, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, covariance) of the images of the blocks `chosen` (indices, repeats allowed)."""
        count = self.counts[chosen].sum()
        mean = self.sums[chosen].sum(axis=0) / count
        return mean, (self.outer_sums[chosen].sum(axis=0) - count * np.outer(mean, mean)) / (count - 1)

    def fid(self, chosen: np.ndarray, reference_stats: tuple) -> float:
        return frechet_from_stats(reference_stats, self.stats(chosen))

    def recognizable(self, chosen: np.ndarray) -> float:
        return float(self.confident[chosen].sum() / self.counts[chosen].sum())


def ratio(value: float, baseline: float) -> float:
    """value / baseline, nan when the baseline's is 0."""
    return value / baseline if baseline else float("nan")


def bca_interval(
    statistic, sizes: tuple[int, ...], resamples: int = 200, seed: int = 0
) -> tuple[float, float]:
    """95% bias-corrected and accelerated (BCa) bootstrap interval of `statistic(*chosen)`, where
    `chosen` holds one array of block indices per set (`sizes` blocks each), each set resampled
    independently of the others (scipy.stats.bootstrap). FID is biased upward, and more so for a
    resample, which repeats images: a percentile interval sits too high, and BCa moves it back."""
    import warnings

    from scipy import stats

    with warnings.catch_warnings(), np.errstate(all="ignore"):  # a degenerate case gives nan, quietly
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            tuple(np.arange(size) for size in sizes),
            statistic,
            n_resamples=resamples,
            method="BCa",
            vectorized=False,
            paired=False,
            random_state=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def fid_interval(blocks: Blocks, reference_stats: tuple, resamples: int = 200) -> tuple[float, float]:
    """The BCa interval of a set's classifier-FID against the fixed reference (the 50,000 training
    images, which are not resampled)."""
    return bca_interval(lambda chosen: blocks.fid(chosen, reference_stats), (len(blocks.counts),), resamples)


def ratio_intervals(blocks: Blocks, baseline: Blocks, reference_stats: tuple, resamples: int = 200) -> dict:
    """BCa intervals of a set's classifier-FID and recognizable share over the baseline's. Both sets
    are resampled, independently, and each resample's ratio is taken: the interval carries the
    uncertainty of both runs' numbers."""
    sizes = (len(blocks.counts), len(baseline.counts))

    def fid_ratio(chosen, chosen_base):
        return blocks.fid(chosen, reference_stats) / baseline.fid(chosen_base, reference_stats)

    def recognizable_ratio(chosen, chosen_base):
        return ratio(blocks.recognizable(chosen), baseline.recognizable(chosen_base))

    return {
        "fid_ratio_interval": list(bca_interval(fid_ratio, sizes, resamples)),
        "recognizable_ratio_interval": list(bca_interval(recognizable_ratio, sizes, resamples)),
    }


def kernel_distance(
    features_a: np.ndarray, features_b: np.ndarray, subsets: int = 10, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the kernel (x.y / d + 1)^3, mean and std over random subsets."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    size = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    dim = a.shape[1]
    estimates = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (size * (size - 1))
        estimates.append(within - 2 * k_xy.mean())
    return float(np.mean(estimates)), float(np.std(estimates))


def classifier_score(probabilities: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))), the Inception Score formula applied to any classifier."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(axis=1).mean()))


def confident_share(probabilities: np.ndarray, threshold: float = 0.9) -> float:
    """Share of images whose top class probability is at least `threshold` ("recognizable")."""
    return float((np.asarray(probabilities).max(axis=1) >= threshold).mean())


def class_histogram(probabilities: np.ndarray) -> np.ndarray:
    """How many images the classifier assigns to each class (argmax), one count per class."""
    probabilities = np.asarray(probabilities)
    return np.bincount(probabilities.argmax(axis=1), minlength=probabilities.shape[1])


def effective_classes(histogram: np.ndarray) -> float:
    """exp(entropy) of a class histogram: 10 when 10 classes are equally common, 1 for one class."""
    counts = np.asarray(histogram, dtype=np.float64)
    shares = counts[counts > 0] / counts.sum()
    return float(np.exp(-(shares * np.log(shares)).sum()))


def label_agreement(probabilities: np.ndarray, asked: np.ndarray) -> dict:
    """How often the classifier names the class each image was asked for (for real images, their
    true class: the classifier's accuracy, the ceiling): overall, per class, and the confusion matrix
    (row: asked, column: predicted, counts)."""
    asked = np.asarray(asked)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (asked, np.asarray(probabilities).argmax(axis=1)), 1)
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    return {
        "overall": float(np.trace(confusion) / confusion.sum()),
        "per_class": per_class.tolist(),
        "confusion": confusion.tolist(),
    }


def nearest_neighbours(queries: np.ndarray, references: np.ndarray, chunk: int = 1024):
    """For each query feature vector, the index of the nearest reference vector (Euclidean) and
    the distance to it: (indices, distances)."""
    queries = np.asarray(queries, dtype=np.float64)
    references = np.asarray(references, dtype=np.float64)
    reference_norms = (references**2).sum(axis=1)
    indices, distances = [], []
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk]
        # |q - r|^2 = |q|^2 - 2 q.r + |r|^2, a block of queries against every reference at once
        squared = (block**2).sum(axis=1, keepdims=True) - 2 * block @ references.T + reference_norms
        nearest = squared.argmin(axis=1)
        indices.append(nearest)
        distances.append(np.sqrt(np.clip(squared[np.arange(len(block)), nearest], 0, None)))
    return np.concatenate(indices), np.concatenate(distances)


# ------------------------------------------------------------ classifier ----
CLASSIFIER_FILE = "classifier.weights.h5"
CLASSIFIER_INFO = "classifier.json"


def build_classifier(widths: tuple[int, int, int] = (32, 64, 128)):
    """A small CIFAR-10 classifier in the style of airbench: uint8-range RGB in, 10 logits out.

    A 2x2 stem convolution, then three blocks of [3x3 conv, 2x2 max pool, batch norm, GELU,
    3x3 conv, batch norm, GELU] (31 -> 15 -> 7 -> 3 pixels); global max pooling gives the
    widths[-1] "features" that the classifier-FID and KID compare.
    """
    import keras
    from keras import layers

    inputs = keras.Input((32, 32, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)  # 0..255 -> [-1, 1]
    x = layers.Conv2D(24, 2, padding="valid")(x)  # (31, 31, 24)
    x = layers.Activation("gelu")(x)
    for width in widths:
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D()(x)  # halves the size
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("gelu")(x)
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("gelu")(x)
    features = layers.GlobalMaxPooling2D(name="features")(x)  # (widths[-1],)
    logits = layers.Dense(10, name="logits")(features)
    return keras.Model(inputs, logits, name="cifar10_classifier")


def train_classifier(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    epochs: int,
    batch_size: int = 256,
    seed: int = 0,
    verbose: int = 2,
):
    """Train build_classifier() with SGD (Nesterov, weight decay), a one-cycle learning rate and
    random flips and translations. Returns (model, test accuracies as classifier_accuracy gives
    them); `verbose=2` prints each epoch."""
    import keras
    import tensorflow as tf
    from keras import layers

    check_positive_int("CLASSIFIER_EPOCHS", epochs)
    keras.utils.set_random_seed(seed)
    total = epochs * max(len(train_images) // batch_size, 1)

    class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
        """Rises linearly to `peak` over `warmup` steps, then falls linearly to 0 at the end."""

        def __init__(self, peak: float, warmup: int):
            self.peak, self.warmup = peak, warmup

        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            rising = self.peak * step / self.warmup
            falling = self.peak * tf.maximum(total - step, 0.0) / max(total - self.warmup, 1)
            return tf.minimum(rising, falling)

    augment = keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", interpolation="nearest", seed=seed),
        ]
    )
    batches = (
        tf.data.Dataset.from_tensor_slices((train_images.astype("float32"), train_labels))
        .shuffle(len(train_images), seed=seed)
        .batch(batch_size)
        .map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    model = build_classifier()
    model.compile(
        optimizer=keras.optimizers.SGD(
            OneCycle(0.1, max(total // 5, 1)), momentum=0.9, nesterov=True, weight_decay=5e-4
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=True,
    )
    model.fit(batches, epochs=epochs, verbose=verbose)
    return model, classifier_accuracy(model, test_images, test_labels)


def classifier_accuracy(model, images: np.ndarray, labels: np.ndarray) -> dict:
    """Test accuracy as the metrics use the classifier (each image and its mirror image averaged),
    and of one view alone."""
    _, probabilities = classifier_outputs(model, images)
    _, single = classifier_outputs(model, images, mirror=False)
    return {
        "test_accuracy": round(float((probabilities.argmax(axis=1) == labels).mean()), 4),
        "test_accuracy_single_view": round(float((single.argmax(axis=1) == labels).mean()), 4),
    }


def classification_accuracy_score(
    images: np.ndarray, labels: np.ndarray, test_set: tuple, epochs: int, seed: int
) -> dict:
    """Train the yardstick's classifier architecture from scratch on `images` (uint8) with their
    `labels`, and test it on the real `test_set` (uint8 images, labels): its accuracy overall and
    per class. On a conditional run's images with the classes they were asked for, this is the
    Classification Accuracy Score (Ravuri & Vinyals 2019; GAN-train, Shmelkov et al. 2018): high
    only when the fakes are both right and varied enough to teach each class. On as many real
    training images it is the ceiling."""
    test_images, test_labels = test_set
    model, _ = train_classifier(
        images, np.asarray(labels), test_images, test_labels, epochs, seed=seed, verbose=0
    )
    predicted = classifier_outputs(model, test_images)[1].argmax(axis=1)
    return {
        "overall": float(np.mean(predicted == test_labels)),
        "per_class": [float(np.mean(predicted[test_labels == c] == c)) for c in range(len(CIFAR10_CLASSES))],
        "images": len(images),
        "epochs": epochs,
        "seed": seed,
    }


def balanced_real_subset(
    images: np.ndarray, labels: np.ndarray, per_class: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first `per_class` images of each class, in their order: CAS's real-image ceiling."""
    chosen = np.sort(
        np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(CIFAR10_CLASSES))])
    )
    return images[chosen], labels[chosen]


def short_digest(*chunks: bytes) -> str:
    """The first 12 hex digits of the SHA-256 of the chunks, one after another: an identity that
    cache keys carry."""
    import hashlib

    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()[:12]


def images_identity(images: np.ndarray, labels: np.ndarray) -> str:
    """A set of labelled images' identity, the short_digest of their bytes. A cached CAS carries
    its test set's and its ceiling its training images', so a score measured on other data (the
    JPEG copy, a test's fake folder) is never read as this data's."""
    return short_digest(np.ascontiguousarray(images).tobytes(), np.asarray(labels, np.int64).tobytes())


def cas_table(scores: dict[str, dict], ceiling: str) -> str:
    """A markdown table of classification_accuracy_score results, one row per named training set,
    overall and per class, each beside the `ceiling` row's (real training images) as a multiple;
    one line saying so when there are none."""
    if not scores:
        return "*No class-conditional run compared: no CAS.*"
    top = scores[ceiling]
    lines = [
        "| trained on | CAS | x the ceiling | " + " | ".join(CIFAR10_CLASSES) + " |",
        "|---|---|---|" + "---|" * len(CIFAR10_CLASSES),
    ]
    for name, score in scores.items():
        classes = " | ".join(
            f"{mine:.2f} ({ratio(mine, best):.2f}x)"
            for mine, best in zip(score["per_class"], top["per_class"], strict=True)
        )
        lines.append(
            f"| {name} | {score['overall']:.3f} | {ratio(score['overall'], top['overall']):.3f} | {classes} |"
        )
    return "\n".join(lines)


def classifier_identity(weights: str | Path) -> str:
    """A classifier's identity, the short_digest of its weights file. The caches of numbers it
    measured carry it, so another classifier's numbers are never read as its own."""
    return short_digest(Path(weights).read_bytes())


def measured_with_classifier(output_dir: str | Path) -> list[Path]:
    """Every cache under output_dir/training_history of numbers a classifier measured: the searches'
    files and each run's metric curve."""
    history = Path(output_dir) / "training_history"
    searches = [history / name for name in ("candidate_search.json", "balance_search.json")]
    return [path for path in searches if path.exists()] + sorted(history.glob("*/metric_curve.json"))


def load_or_train_classifier(folder: str | Path, data_dir: str, epochs: int, seed: int = 0):
    """The evaluation classifier cached in `folder` (weights + its test accuracy), trained first
    if the folder holds none. A cached one trained with other epochs or another seed is refused
    (ParameterError): every saved measurement was made with it. Returns (model, info dict)."""
    folder = Path(folder)
    weights, info_path = folder / CLASSIFIER_FILE, folder / CLASSIFIER_INFO
    if weights.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        for name, value, key in (("CLASSIFIER_EPOCHS", epochs, "epochs"), ("CLASSIFIER_SEED", seed, "seed")):
            if info.get(key) != value:
                stale = ", ".join(str(path) for path in measured_with_classifier(folder.parents[1]))
                raise ParameterError(
                    f"{name} is {value}, but the cached classifier in {folder} was trained with "
                    f"{info.get(key)}. Set {name} = {info.get(key)} to use it; or, to train a new one, "
                    f"delete {folder} and every cache measured with it: {stale or 'none here'}."
                )
        model = build_classifier()
        model.load_weights(weights)
        return model, {**info, "identity": classifier_identity(weights)}
    train_images, train_labels = load_cifar10(data_dir, "train")
    test_images, test_labels = load_cifar10(data_dir, "test")
    model, accuracies = train_classifier(
        train_images, train_labels, test_images, test_labels, epochs, seed=seed
    )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".tmp-classifier.weights.h5"  # Keras insists on the suffix; renamed when complete
    model.save_weights(tmp)
    os.replace(tmp, weights)
    info = {
        **accuracies,
        "epochs": epochs,
        "train_images": len(train_images),
        "test_images": len(test_images),
        "seed": seed,
    }
    atomic_write_json(info_path, info)
    return model, {**info, "identity": classifier_identity(weights)}


def classifier_outputs(
    model, images: np.ndarray, batch_size: int = 500, mirror: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate features, class probabilities) of uint8 images N x 32 x 32 x 3.

    With `mirror`, each image and its left-right mirror image are both classified and their
    features and logits averaged: CIFAR-10's classes do not change in a mirror, and the average
    is steadier than either view (about 1.3 points more test accuracy here).
    """
    import keras

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected uint8 images of shape N x 32 x 32 x 3, got {images.dtype} {images.shape}")
    both = keras.Model(model.input, [model.get_layer("features").output, model.output])
    views = [images, images[:, :, ::-1]] if mirror else [images]
    features, logits = 0.0, 0.0
    for view in views:
        outputs = [
            both(view[i : i + batch_size].astype("float32"), training=False)
            for i in range(0, len(view), batch_size)
        ]
        features = features + np.concatenate([np.asarray(f) for f, _ in outputs]) / len(views)
        logits = logits + np.concatenate([np.asarray(g) for _, g in outputs]).astype(np.float64) / len(views)
    logits = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return features.astype(np.float64), probabilities


# ------------------------------------------------------------ the yardstick ----
# ------------------------------------------------------------ D's exam ----
EXAM_KEYS = ("seen_real_acc", "held_out_real_acc", "fresh_fake_acc", "fresh_fake_acc_course")
INFERENCE_KEYS = ("seen_real_acc_inference", "held_out_real_acc_inference", "fresh_fake_acc_inference")


@dataclass
class DiscriminatorExam:
    """What D is judged on after each epoch, apart from its training batches: real images it trains
    on and real images it never sees (fixed sets), and fresh fakes drawn as the grids draw them
    (for Step 7, class i mod 10 from its average), from noise of the exam's own, seeded by (seed,
    epoch), apart from the run's training stream. D sees every set as it sees its training
    batches: through the run's augmentation (Step 7's DiffAugment; with the exam's own random
    draws), in batches of the training's size, each normalised by its own statistics. No variable
    of the run changes. A fake counts as caught when its logit is below 0 (probability
    below 0.5); "fresh_fake_acc_course" counts it below a logit of 0.5, as the course's notebooks do.
    With `inference`, D also sits it as it is used after training (dropout off, batch norm's moving
    statistics), under INFERENCE_KEYS."""

    seen: tuple[np.ndarray, np.ndarray]  # training images in [-1, 1] and their labels
    unseen: tuple[np.ndarray, np.ndarray]  # held-out (test) images in [-1, 1] and their labels
    batch_size: int
    seed: int
    fakes: int = 2000
    inference: bool = False

    def logits(self, discriminator, images: np.ndarray, labels: np.ndarray, training: bool = True):
        """D's real-or-fake logit of each image, changing nothing. In training mode each batch is
        normalised by its own statistics, and the state a layer moves as it plays (dropout's random
        stream, spectral norm's vector) is carried from batch to batch in a copy."""
        weights, state = discriminator.trainable_variables, discriminator.non_trainable_variables
        found = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            inputs = (
                [batch, labels[start : start + self.batch_size]] if len(discriminator.inputs) == 2 else batch
            )
            if training:
                outputs, state = discriminator.stateless_call(weights, state, inputs, training=True)
            else:
                outputs = discriminator(inputs, training=False)
            found.append(np.asarray(outputs[0] if isinstance(outputs, list | tuple) else outputs, "float32"))
        return np.concatenate(found)[:, 0]

    def take(self, run, epoch: int) -> dict:
        """This epoch's EXAM_KEYS: real images called real, and fresh fakes called fake; with
        `inference`, INFERENCE_KEYS too."""
        import tensorflow as tf

        noise = tf.random.stateless_normal([self.fakes, run.settings["noise_dim"]], [self.seed, epoch])
        fakes, asked = run.sample(noise), np.arange(self.fakes) % 10  # as run.sample asks
        rng = tf.random.Generator.from_seed(self.seed * 100_003 + epoch)  # the exam's own draws

        def as_trained(images):  # as D sees its training batches: through the run's augmentation
            return np.asarray(run.augment(tf.constant(images), rng)) if hasattr(run, "augment") else images

        sets = [(as_trained(x), y) for x, y in ((fakes, asked), self.seen, self.unseen)]  # in this order
        fake_logits, seen, unseen = (self.logits(run.discriminator, x, y) for x, y in sets)
        result = {
            "seen_real_acc": float(np.mean(seen > 0)),
            "held_out_real_acc": float(np.mean(unseen > 0)),
            "fresh_fake_acc": float(np.mean(fake_logits < 0)),
            "fresh_fake_acc_course": float(np.mean(fake_logits < 0.5)),
        }
        if self.inference:  # D as it is used after training, on the clean images
            plain = [(np.asarray(x), y) for x, y in ((fakes, asked), self.seen, self.unseen)]
            fake_logits, seen, unseen = (self.logits(run.discriminator, x, y, False) for x, y in plain)
            values = (np.mean(seen > 0), np.mean(unseen > 0), np.mean(fake_logits < 0))
            result |= {key: float(value) for key, value in zip(INFERENCE_KEYS, values, strict=True)}
        return result

    def text_at_checkpoint(self, run) -> str:
        """exam_text of the exam that the run's D sits at its restored epoch."""
        return exam_text({"epoch": run.epoch, **self.take(run, run.epoch)})


def exam_text(row: dict) -> str:
    """One line of a history row's exam, fake accuracy at both thresholds; says so when the run's
    history holds no exam (trained before the exam existed)."""
    if "fresh_fake_acc" not in row:
        return f"epoch {row['epoch']}: no exam of D in this history (trained before it was added)"
    text = (
        f"epoch {row['epoch']}, D's exam: real images called real: {row['seen_real_acc']:.0%} of those it "
        f"trains on, {row['held_out_real_acc']:.0%} of held-out ones; fresh fakes caught: "
        f"{row['fresh_fake_acc']:.0%} at logit < 0 (ours), {row['fresh_fake_acc_course']:.0%} at logit < 0.5 "
        "(the course's)"
    )
    if "fresh_fake_acc_inference" in row:
        text += (
            f"; D in inference mode: {row['seen_real_acc_inference']:.0%}, "
            f"{row['held_out_real_acc_inference']:.0%} and {row['fresh_fake_acc_inference']:.0%}"
        )
    return text


def exam_of(
    train_set: tuple, test_set: tuple, batch_size: int, seed: int, count: int = 2000, inference: bool = True
):
    """A DiscriminatorExam on the first `count` images of each split (uint8 images and labels, as
    utils.load_cifar10 gives them), scaled to [-1, 1], with `count` fresh fakes; D sits it as it
    plays and, with `inference`, in inference mode too."""

    def scaled(images, labels):
        return (images[:count].astype("float32") - 127.5) / 127.5, np.asarray(labels[:count], "int32")

    return DiscriminatorExam(scaled(*train_set), scaled(*test_set), batch_size, seed, count, inference)


def per_class_minimum(yardstick) -> int:
    """The fewest images a class for a per-class FID: the feature size + 2, below which the
    covariance is singular."""
    return yardstick.reference_features.shape[1] + 2


@dataclass
class Yardstick:
    """The classifier with the features of the images generated sets are measured against (the
    training images), and their labels, for per-class numbers."""

    classifier: object
    reference_features: np.ndarray
    reference_labels: np.ndarray
    info: dict
    reference_images: np.ndarray | None = None  # uint8, to show an image's nearest reference

    @classmethod
    def load(cls, output_dir: str | Path, data_dir: str, epochs: int, seed: int) -> Yardstick:
        """The cached classifier of output_dir/training_checkpoints/classifier (trained first when
        there is none), measured against all 50,000 training images."""
        folder = Path(output_dir) / "training_checkpoints" / "classifier"
        classifier, info = load_or_train_classifier(folder, data_dir, epochs, seed)
        images, labels = load_cifar10(data_dir, "train")
        features, _ = classifier_outputs(classifier, images)
        return cls(classifier, features, labels, info, images)

    def metrics(self, images: np.ndarray) -> dict:
        """The five numbers for uint8 images."""
        return self._metrics(*classifier_outputs(self.classifier, images))

    def _metrics(self, features: np.ndarray, probabilities: np.ndarray) -> dict:
        kid, _ = kernel_distance(features, self.reference_features)
        counts = class_histogram(probabilities)
        return {
            "images": len(features),
            "classifier_fid": frechet_distance(features, self.reference_features),
            "kid_x1000": 1000 * kid,
            "classifier_score": classifier_score(probabilities),
            "recognizable": confident_share(probabilities, 0.9),
            "effective_classes": effective_classes(counts),
            "class_counts": counts.tolist(),
        }

    def compare(self, image_sets: dict[str, np.ndarray], baseline: str, resamples: int = 200) -> dict:
        """metrics() of every set of uint8 images, with the 95% BCa interval of its classifier-FID;
        every set but `baseline` also gets `vs_baseline`: its classifier-FID, recognizable share and
        effective classes over the baseline's, the first two with BCa intervals (ratio_intervals)."""
        reference_stats = gaussian_stats(self.reference_features)
        outputs = {name: classifier_outputs(self.classifier, images) for name, images in image_sets.items()}
        blocks = {name: Blocks.of(*output) for name, output in outputs.items()}
        results = {}
        for name, output in outputs.items():
            results[name] = self._metrics(*output)
            results[name]["fid_interval"] = list(fid_interval(blocks[name], reference_stats, resamples))
        for name in results.keys() - {baseline}:
            mine, base = results[name], results[baseline]
            results[name]["vs_baseline"] = {
                **{
                    f"{key}_ratio": ratio(mine[key], base[key])
                    for key in ("recognizable", "effective_classes")
                },
                "fid_ratio": ratio(mine["classifier_fid"], base["classifier_fid"]),
                **ratio_intervals(blocks[name], blocks[baseline], reference_stats, resamples),
            }
        return results

    def measure(self, images: np.ndarray, asked: np.ndarray) -> tuple[dict, dict]:
        """(metrics, agreement) of uint8 images asked for the classes `asked`, from one pass of
        the classifier."""
        features, probabilities = classifier_outputs(self.classifier, images)
        return self._metrics(features, probabilities), label_agreement(probabilities, asked)

    def agreement(self, images: np.ndarray, asked: np.ndarray) -> dict:
        """label_agreement of uint8 images with the classes they were asked for (or, for real
        images, their labels), with the same mirrored view as every other number here."""
        return label_agreement(classifier_outputs(self.classifier, images)[1], asked)

    def classes(self, images: np.ndarray) -> np.ndarray:
        """The class the classifier gives each uint8 image (mirrored view, as everywhere here)."""
        return classifier_outputs(self.classifier, images)[1].argmax(axis=1)

    def per_class_fids(self, images_of_class) -> list[float]:
        """classifier-FID of `images_of_class(c)` (uint8 images) against the reference images of
        class c, for each of the 10 classes; refused (ValueError) with fewer images than the
        feature size + 2, whose covariance would be singular."""
        fids, needed = [], per_class_minimum(self)
        for label in range(10):
            images, reference = (
                images_of_class(label),
                self.reference_features[self.reference_labels == label],
            )
            if min(len(images), len(reference)) < needed:
                raise ValueError(
                    f"per-class FID of class {label}: {min(len(images), len(reference))} images, but a "
                    f"{needed - 2}-feature covariance needs at least {needed} to be invertible"
                )
            fids.append(frechet_distance(classifier_outputs(self.classifier, images)[0], reference))
        return fids

    def per_class_kids(self, images_of_class) -> list[float]:
        """KID x1000 of `images_of_class(c)` (uint8 images) against the reference images of class c,
        for each of the 10 classes. Unlike the per-class FID, KID is unbiased at a few hundred
        images a class, so a less varied G is not favoured by the small sample. Refused
        (ValueError) for a class with fewer than 2 images, whose KID is undefined."""
        kids = []
        for label in range(len(CIFAR10_CLASSES)):
            images = images_of_class(label)
            reference = self.reference_features[self.reference_labels == label]
            if min(len(images), len(reference)) < 2:
                raise ValueError(
                    f"per-class KID of class {label}: {min(len(images), len(reference))} images, need 2"
                )
            kids.append(1000 * kernel_distance(classifier_outputs(self.classifier, images)[0], reference)[0])
        return kids

    def nearest(self, images: np.ndarray):
        """(index of each image's nearest reference image in the classifier's features, the distance)."""
        return nearest_neighbours(classifier_outputs(self.classifier, images)[0], self.reference_features)


# ------------------------------------------------------------ tables and lines ----
def fid_interval_text(metrics: dict) -> str:
    """ " (low-high)", the 95% BCa interval of a set's classifier-FID, when it was measured."""
    if "fid_interval" not in metrics:
        return ""
    low, high = metrics["fid_interval"]
    return f" ({low:.2f}-{high:.2f})"


def metrics_table(rows: dict[str, dict]) -> str:
    """A markdown table of Yardstick.metrics results, one row per named set."""
    lines = [
        "| set | images | classifier-FID | KID x1000 | classifier score | recognizable | effective classes |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {m['images']} | {m['classifier_fid']:.2f}{fid_interval_text(m)} | "
            f"{m['kid_x1000']:.2f} | "
            f"{m['classifier_score']:.2f} | {m['recognizable']:.1%} | {m['effective_classes']:.2f} |"
        )
    return "\n".join(lines)


def against_baseline(metrics: dict) -> str:
    """One line from a set's `vs_baseline` (Yardstick.compare): its classifier-FID and recognizable
    share as multiples of the baseline's, each with its 95% BCa interval, and its effective classes'."""
    ratios = metrics["vs_baseline"]
    fid_low, fid_high = ratios["fid_ratio_interval"]
    rec_low, rec_high = ratios["recognizable_ratio_interval"]
    return (
        f"classifier-FID {ratios['fid_ratio']:.2f}x the baseline's "
        f"(95% interval {fid_low:.2f}-{fid_high:.2f}), "
        f"recognizable {ratios['recognizable_ratio']:.2f}x ({rec_low:.2f}-{rec_high:.2f}), "
        f"effective classes {ratios['effective_classes_ratio']:.2f}x"
    )


def against_baseline_text(all_metrics: dict[str, dict]) -> str:
    """against_baseline for every set compared with the baseline, one line each."""
    return "\n".join(
        f"{name}: {against_baseline(metrics)}"
        for name, metrics in all_metrics.items()
        if "vs_baseline" in metrics
    )


# ------------------------------------------------------------ verdicts ----
class Check(NamedTuple):
    """One comparison of a target: numbers[value] `op` its limit, which is `bar` itself, or with
    `against` `bar` times numbers[against] (scale "times") or numbers[against] plus `bar` ("plus")."""

    value: str
    op: str  # "<=", "<" or ">="
    bar: float
    against: str | None = None
    scale: str = "times"

    def names(self) -> set[str]:
        return {self.value} | ({self.against} if self.against else set())

    def holds(self, numbers: dict) -> bool:
        limit = self.bar
        if self.against is not None:
            base = numbers[self.against]
            limit = base + self.bar if self.scale == "plus" else self.bar * base
        return bool(COMPARISONS[self.op](numbers[self.value], limit))


COMPARISONS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


class Target(NamedTuple):
    """A row of a verdict: met when every check holds; `text` names it, `shown` (a format string
    over the numbers) says what was measured."""

    text: str
    shown: str
    checks: tuple[Check, ...]


def target(text: str, shown: str, *checks: Check) -> Target:
    """A Target whose text gives its checks' bars where it has a "{}" for each, in order: each bar
    is written once."""
    return Target(text.format(*(check.bar for check in checks)), shown, checks)


# Step 7's targets for its run at the last epoch, written once (issue 17): verdicts() judges them
# on the numbers target_numbers() gives.
TARGETS = (
    target(
        "label agreement >= {}x the real-image accuracy",
        "{agreement:.1%} vs {real_accuracy:.1%}: {agreement_ratio:.2f}x",
        Check("agreement_ratio", ">=", 0.9),
    ),
    target(
        "every class >= {}x its real-image accuracy",
        "lowest {worst_class}: {worst_class_ratio:.2f}x",
        Check("worst_class_ratio", ">=", 0.7),
    ),
    target(
        "classifier-FID <= {}x the baseline's, interval under {}x",
        "{fid_ratio:.2f}x (interval {fid_ratio_upper:.2f} at most)",
        Check("fid_ratio", "<=", 0.6),
        Check("fid_ratio_upper", "<", 0.7),  # the upper end of the ratio's 95% interval
    ),
    target(
        "mean FID ratio over epochs 25-50 <= {}",
        "{curve_ratio:.2f}",
        Check("curve_ratio", "<=", 0.75),  # the metric curve against the baseline's
    ),
    target(
        "mean per-class FID no worse than the previous conditional run's",
        "{per_class_fid:.2f} vs {previous_per_class_fid:.2f}",
        Check("per_class_fid", "<=", 1.0, "previous_per_class_fid"),
    ),
    target(
        "CAS >= {}x the real-image ceiling",
        "{cas:.3f} vs {cas_ceiling:.3f}: {cas_ratio:.2f}x",
        Check("cas_ratio", ">=", 0.8),  # trained on 10,000 of its images, against as many real ones
    ),
    target(
        "recognizable share >= {}x the baseline's",
        "{recognizable_ratio:.2f}x",
        Check("recognizable_ratio", ">=", 1.5),  # the point estimate
    ),
)


def target_numbers(raw: dict) -> dict:
    """The numbers TARGETS judge, from a run's `agreement` and `real_accuracy` (overall),
    `class_agreement` and `class_real_accuracy` (lists of 10), `vs_baseline` (Yardstick.compare),
    `curve_ratio`, `per_class_fid` with `previous_per_class_fid` (means over the classes), and `cas`
    with `cas_ceiling` (overall). What was not measured (too few images, no epochs 25-50, no
    previous run, no CAS) is None."""
    ratios = raw["vs_baseline"]
    numbers = {
        key: raw.get(key)
        for key in (
            "agreement", "real_accuracy", "curve_ratio", "per_class_fid", "previous_per_class_fid", "cas",
            "cas_ceiling",
        )
    }  # fmt: skip
    numbers.update(
        fid_ratio=ratios["fid_ratio"],
        fid_ratio_upper=ratios["fid_ratio_interval"][1],
        recognizable_ratio=ratios["recognizable_ratio"],
        worst_class=None,
        worst_class_ratio=None,
    )
    for share, of, ceiling in (
        ("agreement_ratio", "agreement", "real_accuracy"),
        ("cas_ratio", "cas", "cas_ceiling"),
    ):
        numbers[share] = None if None in (raw.get(of), raw.get(ceiling)) else ratio(raw[of], raw[ceiling])
    if None not in (raw.get("class_agreement"), raw.get("class_real_accuracy")):
        # each class's agreement over its real-image accuracy (a class the classifier never gets: no bar)
        shares = [
            agreed / real if real else float("inf")
            for agreed, real in zip(raw["class_agreement"], raw["class_real_accuracy"], strict=True)
        ]
        worst = int(np.argmin(shares))
        numbers.update(worst_class=CIFAR10_CLASSES[worst], worst_class_ratio=shares[worst])
    return numbers


def verdicts(numbers: dict, rule: tuple[Target, ...] = TARGETS) -> list[dict]:
    """Each target of `rule` judged on `numbers` (TARGETS: target_numbers()): rows {"target",
    "measured", "met"}. A target that reads a number that is None or absent is "not judged" (met
    None), measured "not measured"."""
    rows = []
    for each in rule:
        read = set().union(*(check.names() for check in each.checks))
        read |= {name for _, name, _, _ in string.Formatter().parse(each.shown) if name}
        if any(numbers.get(name) is None for name in read):
            rows.append({"target": each.text, "measured": "not measured", "met": None})
        else:
            met = all(check.holds(numbers) for check in each.checks)
            rows.append({"target": each.text, "measured": each.shown.format(**numbers), "met": met})
    return rows


def verdicts_table(run_verdicts: dict[str, list[dict]], floor: list[str] | None = None) -> str:
    """A markdown table of verdicts() for each named run, one row per target; with `floor`, a last
    column of real test images' number for each target ("-" where it has none)."""
    said = {True: "met", False: "not met", None: "not judged"}
    names = list(run_verdicts) + (["real test images (the floor)"] if floor else [])
    lines = ["| target | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for i, row in enumerate(next(iter(run_verdicts.values()))):
        cells = [f"{rows[i]['measured']}: {said[rows[i]['met']]}" for rows in run_verdicts.values()]
        lines.append(f"| {row['target']} | " + " | ".join(cells + ([floor[i]] if floor else [])) + " |")
    return "\n".join(lines)


REAL = "real test images"  # their numbers, the floor, beside generated sets' in every table


def floor_numbers(metrics: dict[str, dict], label_report: dict, per_class: dict, cas_ceiling: dict) -> dict:
    """Real test images' number for each TARGET that has one, by the target's first check: their
    label accuracy (agreement's bar), classifier-FID and recognizable share as multiples of the
    baseline's (metrics: Yardstick.compare's with REAL's beside them), mean per-class FID and the
    CAS ceiling. What was not measured is left out."""
    numbers = {}
    if REAL in label_report:
        numbers["agreement_ratio"] = f"{label_report[REAL]['overall']:.1%}"
    compared = [m for m in metrics.values() if "vs_baseline" in m]
    if REAL in metrics and compared:  # the baseline's numbers, from any set's ratio to them
        base_fid = compared[0]["classifier_fid"] / compared[0]["vs_baseline"]["fid_ratio"]
        base_rec = compared[0]["recognizable"] / compared[0]["vs_baseline"]["recognizable_ratio"]
        numbers["fid_ratio"] = f"{ratio(metrics[REAL]['classifier_fid'], base_fid):.3f}x"
        numbers["recognizable_ratio"] = f"{ratio(metrics[REAL]['recognizable'], base_rec):.2f}x"
    if REAL in per_class:
        numbers["per_class_fid"] = f"{np.mean(per_class[REAL]):.2f}"
    if cas_ceiling:
        numbers["cas_ratio"] = f"{cas_ceiling['overall']:.3f} (trained on real)"
    return numbers


def per_class_table(per_class: dict[str, list[float]]) -> str:
    """A markdown table of per-class FIDs, one row per set, one column per class."""
    header = "| set | " + " | ".join(CIFAR10_CLASSES) + " |\n|---|" + "---|" * 10
    rows = [
        f"| {name} | " + " | ".join(f"{fid:.2f}" for fid in fids) + " |" for name, fids in per_class.items()
    ]
    return "\n".join([header, *rows])


def recognizable_text(all_metrics: dict[str, dict]) -> str:
    return "\n".join(
        f"{name}: recognizable {m['recognizable']:.1%}, effective classes {m['effective_classes']:.2f}"
        for name, m in all_metrics.items()
    )


def fake_accuracy_trend(history: list[dict], first: int = 10, key: str = "fake_acc") -> dict:
    """The fake accuracy's (or another history number's) least-squares slope per 10 epochs from
    epoch `first` on (the level of the first epochs, set while the instance noise and the warm-up
    last, is left out), and its mean over the first and over the last 10 epochs."""
    epochs = np.array([row["epoch"] for row in history], dtype=float)
    accuracy = np.array([row.get(key, np.nan) for row in history], dtype=float)
    known = np.isfinite(accuracy) & (epochs >= first)  # epochs marked missing are left out
    slope = np.polyfit(epochs[known], accuracy[known], 1)[0] if known.sum() > 1 else float("nan")
    return {
        "slope_per_10_epochs": 10 * slope,
        "first_10_mean": float(np.nanmean(accuracy[:10])),
        "last_10_mean": float(np.nanmean(accuracy[-10:])),
        "first": first,
    }


TREND_DROP = 0.05  # the rubric's "trends down": the last ten epochs' mean this far below the first ten's


def trends_down(trend: dict) -> bool:
    """The rubric's item 2 read as a bar: the fake accuracy's slope from epoch 10 is below 0 and its
    last-10 mean is at least TREND_DROP below its first-10 mean."""
    return trend["slope_per_10_epochs"] < 0 and trend["last_10_mean"] <= trend["first_10_mean"] - TREND_DROP


def fake_accuracy_text(histories: dict[str, list[dict]]) -> str:
    """Per run: fake accuracy at the first and last epoch, its trend from epoch 10 on, its first-10
    and last-10 means, whether the trend heads toward 0.5, and whether it trends down by the bar."""
    lines = []
    for name, history in histories.items():
        trend, last = fake_accuracy_trend(history), len(history)
        slope = trend["slope_per_10_epochs"]
        heading = "toward 0.5" if slope < 0 else "away from 0.5" if slope > 0 else "flat"
        verdict = "trends down" if trends_down(trend) else "does not trend down"
        lines.append(
            f"{name}: fake accuracy {history[0]['fake_acc']:.2f} at epoch 1, {history[-1]['fake_acc']:.2f} "
            f"at epoch {last}; trend over epochs {trend['first']}-{last} {slope:+.3f} per 10 epochs "
            f"({heading}); mean of the first 10 epochs {trend['first_10_mean']:.2f}, of the last 10 "
            f"{trend['last_10_mean']:.2f}: {verdict} (slope below 0, last ten at least {TREND_DROP} lower)"
        )
    return "\n".join(lines)


# ------------------------------------------------------------ figures ----
def draw_fake_accuracy(histories: dict[str, list[dict]], path: Path) -> Path:
    """The discriminator's fake accuracy per epoch of every run, with the 0.5 line, saved to `path`."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, history in histories.items():
        ax.plot([row["epoch"] for row in history], [row["fake_acc"] for row in history], label=name)
    ax.axhline(0.5, color="grey", linestyle="--", label="0.5")
    ax.set(
        xlabel="epoch", ylabel="fake accuracy", ylim=(0, 1.02), title="the discriminator's accuracy on fakes"
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)
    return path


# ------------------------------------------------------------ Inception FID ----
def load_inception(weights: str):
    """InceptionV3 giving 2048 pooled features, or None (with one line saying why) if unavailable."""
    import keras

    if not weights:
        print("Inception FID: skipped (INCEPTION_WEIGHTS is empty; imagenet or a weights file computes it).")
        return None
    try:
        return keras.applications.InceptionV3(include_top=False, weights=weights, pooling="avg")
    except Exception as err:  # Keras raises a bare Exception when the download fails
        print(
            f"Inception FID: skipped, InceptionV3 weights {weights!r} did not load: "
            f"{type(err).__name__}: {err}"
        )
        return None


def inception_features(model, images: np.ndarray, batch_size: int = 50) -> np.ndarray:
    """2048 InceptionV3 features of uint8 images, resized to 299x299."""
    import keras
    import tensorflow as tf

    outputs = []
    for i in range(0, len(images), batch_size):
        batch = tf.image.resize(tf.cast(images[i : i + batch_size], tf.float32), [299, 299])
        outputs.append(model(keras.applications.inception_v3.preprocess_input(batch), training=False).numpy())
    return np.concatenate(outputs).astype(np.float64)


def print_inception_fids(weights: str, image_sets: dict[str, np.ndarray], test_images, train_images) -> None:
    """The standard FID of each set and of real test images against as many training images, when
    the InceptionV3 weights load; otherwise one line saying why it is skipped."""
    inception = load_inception(weights)
    if inception is None:
        return
    real = inception_features(inception, train_images[: len(test_images)])
    for name, images in {**image_sets, "real test images": test_images}.items():
        print(f"Inception FID, {name}: {frechet_distance(inception_features(inception, images), real):.2f}")
