"""Step 7's trained runs and their comparison: drawing a generator's images, loading a run's final
generator, the comparison figures (sample grids, histories, class grids, the confusion matrix, the
metric curves), the label agreement and per-class FID reports, the metric curve with its cache, and
the numbers the targets are judged on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import dcgan_eval as evaluation
import dcgan_utils as utils


class _Lesson:
    """dcgan_lesson, imported at first use: `python dcgan_tools.py sync` must work while
    dcgan_lesson.py is missing or stale, and the search's cache without TensorFlow."""

    def __getattr__(self, name: str):
        import dcgan_lesson

        return getattr(dcgan_lesson, name)


lesson = _Lesson()


# ------------------------------------------------------------ trained runs ----
def generate_images(
    generator, count: int, seed: int, label: int | str | None = None, batch_size: int = 500, noise_scale=1.0
):
    """`count` uint8 images of a generator (inference mode), from normal noise seeded by `seed`
    (times `noise_scale`). A class-conditional G draws every class equally often (image i is class
    i mod 10: batch_size is a multiple of 10), or only `label` (a class number or name) when given;
    an unconditional G asked for a class refuses (ParameterError)."""
    if isinstance(label, str):
        label = utils.CIFAR10_CLASSES.index(label)
    noise_dim = generator.inputs[0].shape[-1]
    noise = noise_scale * np.random.default_rng(seed).standard_normal((count, noise_dim)).astype("float32")
    batches = [
        draw(generator, batch, None if label is None else np.full(len(batch), label))
        for batch in np.split(noise, range(batch_size, count, batch_size))
    ]
    return lesson.to_uint8(np.concatenate(batches))


def draw(generator, noise, labels=None) -> np.ndarray:
    """A generator's images of `noise` in [-1, 1], in inference mode, through its own call: a
    two-input G draws them as `labels` (None: image i as class i mod 10, lesson.draw_with_labels),
    a one-input G refuses labels (utils.without_labels)."""
    if len(generator.inputs) == 2:
        return np.asarray(lesson.draw_with_labels(generator, noise, labels))
    return np.asarray(generator(utils.without_labels(generator, noise, labels), training=False))


def load_run_generator(paths: dict):
    """A run's final sampling generator (its average, when the recipe has one), built in float32
    from the run's saved settings and restored from its latest checkpoint; and those settings."""
    import tensorflow as tf

    config = utils.saved_run_config(paths["config"])
    latest = tf.train.latest_checkpoint(paths["checkpoints"])
    if not config or latest is None:
        raise utils.ParameterError(f"{paths['checkpoints']} holds no trained run: train it first.")
    recipe = config.get("recipe", {})  # the baseline's run saved none: plain G, no average
    width, noise_dim = recipe.get("gen_filters", config["base_filters"]), config["noise_dim"]
    if recipe.get("conditional", False):
        generator = lesson.build_conditional_generator(noise_dim, width, "float32")
    else:
        generator = lesson.build_generator(noise_dim, width, "float32")
    role = "ema_generator" if utils.samples_from_average(config) else "generator"
    tf.train.Checkpoint(**{role: generator}).restore(
        latest
    ).expect_partial().assert_existing_objects_matched()
    return generator, config


def is_conditional(paths: dict) -> bool:
    """Whether the run saved in `paths` is a class-conditional one (its saved recipe says so)."""
    return utils.saved_run_config(paths["config"]).get("recipe", {}).get("conditional", False)


def trained_runs(output_dir: str | Path, names: list[str], epochs: int) -> dict[str, dict]:
    """The paths of the runs among `names` whose latest checkpoint holds at least `epochs` epochs
    (a history file may run ahead of it)."""
    root = Path(output_dir) / "training_checkpoints"
    finished = [name for name in names if utils.checkpoint_epoch(root / name) >= epochs]
    return {name: utils.make_run_paths(output_dir, name) for name in finished}


def run_labels(runs: dict[str, dict]) -> dict[str, str]:
    """Each run's label in the comparison, "<run>, epoch N", with N the epoch of the checkpoint that
    load_run_generator restores (its latest), whatever EPOCHS asked for."""
    return {
        name: f"{name}, epoch {utils.checkpoint_epoch(paths['checkpoints'])}" for name, paths in runs.items()
    }


def runs_with_history(output_dir: str | Path, names: list[str]) -> dict[str, dict]:
    """The paths of the runs among `names` with at least one epoch in their history file: a run
    stopped early, or one whose checkpoints are not at hand, still shows its curves."""
    root = Path(output_dir) / "training_history"
    kept = [name for name in names if utils.load_history(root / name / "history.json")]
    return {name: utils.make_run_paths(output_dir, name) for name in kept}


def _bare(ax) -> None:
    """No ticks and no frame: an image panel."""
    ax.set(xticks=[], yticks=[])
    for spine in ax.spines.values():
        spine.set_visible(False)


def draw_side_by_side(rows: dict[str, list[Path]], path: Path, width=3.0) -> Path:
    """Saved images in a grid, one row per name in `rows`, the name beside its row; each image
    keeps the one title it was saved with (a grid's "epoch N", a history's panels). Saved to `path`."""
    import matplotlib.pyplot as plt

    columns = len(next(iter(rows.values())))
    first = utils.read_png(next(iter(rows.values()))[0])
    height = width * first.shape[0] / first.shape[1]
    size = (width * columns + 0.4, height * len(rows))
    fig, axes = plt.subplots(len(rows), columns, figsize=size, squeeze=False)
    for row_axes, (name, files) in zip(axes, rows.items(), strict=True):
        for ax, file in zip(row_axes, files, strict=True):
            ax.imshow(utils.read_png(file))
            _bare(ax)
        row_axes[0].set_ylabel(name, fontsize=11)
    fig.tight_layout()
    utils.save_figure(fig, path, dpi=80)
    return path


def draw_comparisons(runs: dict[str, dict], epochs: int, folder: Path) -> list[Path]:
    """grids.png (each run's 16 seeds at epochs 1, 10, 25 and `epochs`, those every run has) and
    histories.png (each run's history graph), one row per run, in `folder`."""
    shown = sorted(  # the epochs whose grids every run has
        {
            e
            for e in (1, 10, 25, epochs)
            if all((p["samples"] / f"epoch_{e:04d}.png").exists() for p in runs.values())
        }
    )
    grids = {name: [p["samples"] / f"epoch_{e:04d}.png" for e in shown] for name, p in runs.items()}
    histories = {name: [p["history_plot"]] for name, p in runs.items()}
    return [
        draw_side_by_side(grids, folder / "grids.png"),
        draw_side_by_side(histories, folder / "histories.png", width=8.0),
    ]


def conditional_samplers(samplers: dict, epochs: int) -> dict:
    """The class-conditional ones among `samplers` (label -> generator) that are runs' final
    samplers (labelled "..., epoch N")."""
    return {
        name: sampler
        for name, sampler in samplers.items()
        if len(sampler.inputs) == 2 and name.endswith(f"epoch {epochs}")
    }


def draw_class_grids(samplers: dict, seeds: np.ndarray, judge, folder: Path) -> Path | None:
    """Each conditional sampler's class grid as its run draws it (the first 10 of the 16 seeds,
    once per class), each row named with how many of its 10 images `judge` (images -> classes)
    calls that class; side by side in folder/class_grids.png (None without a conditional sampler)."""
    if not samplers:
        return None
    noise, asked = np.tile(seeds[:10], (10, 1)), np.repeat(np.arange(10), 10)
    grids = {}
    for name, sampler in samplers.items():
        images = lesson.to_uint8(draw(sampler, noise, asked))
        grids[name] = (images, utils.class_row_names(judge(images), 10))
    path = Path(folder) / "class_grids.png"
    utils.save_figure(class_grids_figure(grids), path, dpi=80)
    return path


def mosaic(images: np.ndarray, columns: int, gap: int = 2) -> np.ndarray:
    """uint8 images as one image, `columns` a row, `gap` white pixels between them."""
    rows, (height, width) = len(images) // columns, images.shape[1:3]
    canvas = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        row, column = divmod(i, columns)
        canvas[row * (height + gap) :][:height, column * (width + gap) :][:, :width] = image
    return canvas


def class_grids_figure(grids: dict[str, tuple[np.ndarray, list[str]]]):
    """One panel per name: its uint8 images 10 a row, each row's name beside it on the left, the
    name as the panel's one title; under the figure's title, whole on every width."""
    import textwrap

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(grids), figsize=(5.8 * len(grids), 5.5), squeeze=False)
    for ax, (name, (images, row_names)) in zip(axes[0], grids.items(), strict=True):
        ax.imshow(mosaic(images, 10))  # smoothed only where shown smaller than its pixels
        _bare(ax)
        step = images.shape[1] + 2  # an image and the gap under it
        ax.set_yticks(np.arange(len(row_names)) * step + (images.shape[1] - 1) / 2, row_names, fontsize=10)
        ax.tick_params(length=0)
        ax.set_title(name, fontsize=11)
    title = "one class per row; beside it, how many of the row's 10 images the classifier calls that class"
    fig.suptitle(textwrap.fill(title, int(10 * fig.get_figwidth())), fontsize=11)
    fig.tight_layout()
    return fig


def per_class_fids(samplers: dict, yardstick, test_set: tuple, count: int, seed: int) -> dict[str, list]:
    """Per class c, the classifier-FID of `count` images each conditional sampler draws as class c
    (seeded seed + c), and of `count` real test images of class c, against the training images of
    class c; {} when `count` images a class are too few for a covariance (the feature size + 2)."""
    if count < evaluation.per_class_minimum(yardstick):
        return {}
    test_images, test_labels = test_set
    fids = {
        name: yardstick.per_class_fids(lambda c, g=sampler: generate_images(g, count, seed + c, label=c))
        for name, sampler in samplers.items()
    }
    fids["real test images"] = yardstick.per_class_fids(lambda c: test_images[test_labels == c][:count])
    return fids


def label_report(sampler, yardstick, test_set: tuple, count: int, seed: int, scales=(0.5, 0.75, 1.0)) -> dict:
    """How well a conditional sampler obeys its label: the label agreement of `count` images (image i
    asked as class i mod 10) beside the classifier's accuracy on as many real test images, its
    ceiling, both with the same mirrored view; and a sweep of the noise's scale (sampling alone)
    against agreement and classifier-FID."""
    test_images, test_labels = test_set
    asked, sweep, agreements = np.arange(count) % 10, {}, {}
    for scale in sorted({*scales, 1.0}):  # x1.0 is the sampler as it is
        images = generate_images(sampler, count, seed, noise_scale=scale)
        metrics, agreements[scale] = yardstick.measure(images, asked)
        sweep[scale] = {
            "label_agreement": agreements[scale]["overall"],
            "classifier_fid": metrics["classifier_fid"],
        }
    return {
        "generated": agreements[1.0],
        "real test images": yardstick.agreement(test_images[:count], test_labels[:count]),
        "noise_scale_sweep": sweep,
    }


def label_report_text(report: dict) -> str:
    """The label agreement overall and per class, each beside the real-image ceiling, and the sweep."""
    generated, real = report["generated"], report["real test images"]
    per_class = ", ".join(
        f"{name} {g:.0%}/{r:.0%}"
        for name, g, r in zip(utils.CIFAR10_CLASSES, generated["per_class"], real["per_class"], strict=True)
    )
    sweep = ", ".join(
        f"x{scale}: {m['label_agreement']:.1%} and FID {m['classifier_fid']:.2f}"
        for scale, m in report["noise_scale_sweep"].items()
    )
    easier = [
        name
        for name, g, r in zip(utils.CIFAR10_CLASSES, generated["per_class"], real["per_class"], strict=True)
        if g > r
    ]
    warning = (
        f"\nwarning: agreement above the classifier's accuracy on real images ({', '.join(easier)}): these "
        "images may be easier to classify than real ones, which agreement cannot tell from better"
        if easier
        else ""
    )
    return (
        f"label agreement {generated['overall']:.1%} against the classifier's {real['overall']:.1%} on real "
        f"test images ({evaluation.ratio(generated['overall'], real['overall']):.2f}x)\n"
        f"per class, generated/real: {per_class}\nnoise scaled {sweep}{warning}"
    )


def draw_confusion(report: dict, path: Path) -> Path:
    """The confusion matrix of a label_report, asked (rows) against predicted (columns) classes, as
    row shares, saved to `path`."""
    utils.save_figure(confusion_figure(report), path, dpi=80)
    return path


def confusion_figure(report: dict):
    """The figure of draw_confusion, each cell's share written in white or black, whichever stands out
    more from the cell's colour."""
    import matplotlib.pyplot as plt

    confusion = np.asarray(report["generated"]["confusion"], dtype=float)
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.6, 5.6))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, col), share in np.ndenumerate(shares):
        colour = max(("white", "black"), key=lambda text: contrast(text, image.to_rgba(share)))
        label = f"{share:.2f}"[1:] if share < 1 else "1"
        ax.text(col, row, label, ha="center", va="center", fontsize=9, color=colour)
    ax.set_xticks(range(10), utils.CIFAR10_CLASSES, rotation=60, fontsize=9)
    ax.set_yticks(range(10), utils.CIFAR10_CLASSES, fontsize=9)
    ax.set(
        xlabel="predicted by the classifier", ylabel="asked for", title="label agreement: asked vs predicted"
    )
    fig.tight_layout()
    return fig


def contrast(colour_a, colour_b) -> float:
    """The WCAG contrast ratio of two matplotlib colours, 1 (the same) to 21 (black on white)."""
    from matplotlib.colors import to_rgb

    def luminance(colour) -> float:
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(colour_a), luminance(colour_b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def curve_key(count: int, seed: int, classifier: str) -> str:
    """The key of a run's metric curve in its metric_curve.json: the images measured, their seed
    and the classifier's identity (evaluation.classifier_identity), so that numbers measured by
    another classifier are never read as this one's. Its label agreement's key adds ", label
    agreement"; the epochs of the snapshots measured are the keys inside."""
    return f"{count} images, seed {seed}, classifier {classifier}"


def agreement_key(count: int, seed: int, classifier: str) -> str:
    """The key of a conditional run's label agreement curve, beside its curve_key."""
    return f"{curve_key(count, seed, classifier)}, label agreement"


def metric_curve(paths: dict, yardstick, count: int, seed: int) -> dict[int, float]:
    """classifier-FID of each saved generator snapshot of a run (epoch -> FID), cached per run in
    its metric_curve.json: snapshots are not committed, their numbers are. For a class-conditional
    run the label agreement of the same images is cached too (agreement_curve reads it)."""
    cache_path = paths["history"].with_name("metric_curve.json")
    cache = utils.read_json(cache_path)
    fid_key = curve_key(count, seed, yardstick.info["identity"])
    agreement_at = agreement_key(count, seed, yardstick.info["identity"])
    curve = {int(epoch): fid for epoch, fid in cache.get(fid_key, {}).items()}
    agreement = {int(epoch): share for epoch, share in cache.get(agreement_at, {}).items()}
    snapshots = {int(p.stem.rsplit("_", 1)[1]): p for p in paths["snapshots"].glob("generator_epoch_*.npz")}
    conditional = is_conditional(paths)
    new = sorted(e for e in snapshots if e not in curve or (conditional and e not in agreement))
    generator = load_run_generator(paths)[0] if new else None
    for epoch in new:
        generator.set_weights(utils.load_arrays(snapshots[epoch]))
        metrics, agreed = yardstick.measure(generate_images(generator, count, seed), np.arange(count) % 10)
        curve[epoch] = metrics["classifier_fid"]
        if conditional:
            agreement[epoch] = agreed["overall"]
    if new:
        numbers = {fid_key: curve} | ({agreement_at: agreement} if agreement else {})
        written = {key: {str(e): values[e] for e in sorted(values)} for key, values in numbers.items()}
        utils.atomic_write_json(cache_path, {**cache, **written})
    return dict(sorted(curve.items()))


def agreement_curve(paths: dict, count: int, seed: int, classifier: str) -> dict[int, float]:
    """The label agreement at each point of a conditional run's metric curve (epoch -> share), as
    metric_curve cached it; {} for a run without one."""
    cache = utils.read_json(paths["history"].with_name("metric_curve.json"))
    return {int(e): share for e, share in cache.get(agreement_key(count, seed, classifier), {}).items()}


def curve_comparison(
    curve: dict[int, float], baseline: dict[int, float], first: int = 25, last: int = 50
) -> dict:
    """A run's metric curve against the baseline's: the mean FID ratio over the epochs both have
    from `first` to `last`, and best against best (each run's lowest FID and its epoch)."""
    shared = sorted(e for e in curve.keys() & baseline.keys() if first <= e <= last)
    if not shared:
        raise ValueError(f"no epoch between {first} and {last} is on both metric curves")
    best, base_best = min(curve, key=curve.get), min(baseline, key=baseline.get)
    return {
        "epochs": shared,
        "mean_ratio": float(np.mean([curve[e] / baseline[e] for e in shared])),
        "best": [best, curve[best]],
        "baseline_best": [base_best, baseline[base_best]],
        "best_ratio": curve[best] / baseline[base_best],
    }


def _against_baseline(curve: dict[int, float], baseline: dict[int, float]) -> dict | None:
    """curve_comparison, or None for a run without epochs 25-50 on both curves (a short run)."""
    try:
        return curve_comparison(curve, baseline)
    except ValueError:
        return None


def curve_ratios(curves: dict[str, dict], baseline: str) -> dict[str, float | None]:
    """Each run's mean FID ratio to the baseline's curve over epochs 25-50 (None without them)."""
    compared = {name: _against_baseline(curve, curves[baseline]) for name, curve in curves.items()}
    return {name: None if c is None else c["mean_ratio"] for name, c in compared.items() if name != baseline}


def curve_report(curves: dict[str, dict], baseline: str, agreements: dict[str, dict]) -> None:
    """Print each run's curve against the baseline's (curve_comparison: the mean FID ratio over
    epochs 25-50, best against best) and, where measured, its label agreement at each point."""
    for name, curve in curves.items():
        c = None if name == baseline else _against_baseline(curve, curves[baseline])
        if c is None:
            continue
        print(
            f"{name}: mean FID ratio over epochs {c['epochs'][0]}-{c['epochs'][-1]} {c['mean_ratio']:.2f}; "
            f"best {c['best'][1]:.2f} (epoch {c['best'][0]}) against the baseline's best "
            f"{c['baseline_best'][1]:.2f} (epoch {c['baseline_best'][0]}): {c['best_ratio']:.2f}x"
        )
        if agreements.get(name):
            points = ", ".join(f"{epoch}: {share:.0%}" for epoch, share in agreements[name].items())
            print(f"  label agreement by epoch: {points}")


CAS_CEILING = "real training images (the ceiling)"


def generator_cas(generator, classifier: dict, test_set: tuple, count: int, seed: int) -> dict:
    """evaluation.classification_accuracy_score of a conditional G: `count` of its images (noise
    seed `seed`, image i asked as class i mod 10), the classifier trained with classifier["epochs"]
    and classifier["seed"] (a Yardstick's info)."""
    images = generate_images(generator, count, seed)
    return evaluation.classification_accuracy_score(
        images, np.arange(count) % 10, test_set, classifier["epochs"], classifier["seed"]
    )


def cas_key(yardstick, test_set: tuple) -> str:
    """What a cached CAS depends on besides its images: the classifier's training (the yardstick's
    epochs and seed) and the test set's identity."""
    info, test = yardstick.info, evaluation.images_identity(*test_set)
    return f"classifier {info['epochs']} epochs, seed {info['seed']}; test set {test}"


def cached_cas(cache_path: Path, key: str, measure) -> dict:
    """The CAS saved under `key` in cache_path, or measure() saved there first."""
    cache = utils.read_json(cache_path)
    if key not in cache:
        cache[key] = measure()
        utils.atomic_write_json(cache_path, cache)
    return cache[key]


def cas_scores(runs: dict[str, dict], yardstick, test_set: tuple, count: int, seed: int) -> dict[str, dict]:
    """The Classification Accuracy Score of each conditional run among `runs` (paths), by its
    run_labels label: the yardstick's classifier architecture trained from scratch on `count` images
    of the run's final sampler (noise seed `seed`, image i asked as class i mod 10), tested on
    `test_set`; then, as CAS_CEILING, the same on count / 10 real training images a class. Each is
    cached (a run's in its cas.json, by its checkpoint's epoch; the ceiling in the comparison's
    folder), as the classifier is: it takes minutes. {} without a conditional run."""
    conditional = {name: paths for name, paths in runs.items() if is_conditional(paths)}
    if not conditional:
        return {}
    settings, labels = cas_key(yardstick, test_set), run_labels(conditional)
    scores = {
        labels[name]: cached_cas(
            paths["history"].with_name("cas.json"),
            f"{labels[name]}; {count} images, noise seed {seed}; {settings}",
            lambda paths=paths: generator_cas(
                load_run_generator(paths)[0], yardstick.info, test_set, count, seed
            ),
        )
        for name, paths in conditional.items()
    }
    training = (yardstick.reference_images, yardstick.reference_labels)
    real = evaluation.balanced_real_subset(*training, count // 10)
    folder = next(iter(conditional.values()))["history"].parents[1] / "comparison"
    scores[CAS_CEILING] = cached_cas(
        folder / "cas_ceiling.json",
        f"{len(real[0])} real training images {evaluation.images_identity(*real)}; {settings}",
        lambda: evaluation.classification_accuracy_score(
            *real, test_set, yardstick.info["epochs"], yardstick.info["seed"]
        ),
    )
    return scores


@dataclass
class Comparison:
    """What the comparison measured of the final samplers, each labelled "<run>, epoch N": their
    Yardstick.compare metrics, the label_report of each conditional one, their per_class_fids, and
    each run's curve ratio (curve_ratios, by run name), and the cas_scores of the conditional ones."""

    metrics: dict[str, dict]
    label_reports: dict[str, dict]
    per_class: dict[str, list]
    curve_ratios: dict[str, float | None]
    cas: dict[str, dict] = field(default_factory=dict)

    def curve_ratio(self, label: str) -> float | None:
        """The curve ratio of the run that `label` ("<run>, epoch N") names; None without one."""
        found = [ratio for run, ratio in self.curve_ratios.items() if label.startswith(f"{run}, epoch ")]
        return found[0] if found else None


def verdict_numbers(comparison: Comparison, label: str, previous: str) -> dict:
    """The numbers evaluation.target_numbers reads, of the sampler `label`; `previous` labels the
    earlier conditional run whose mean per-class FID is the bar. What was not measured is None."""
    report = comparison.label_reports.get(label, {})
    generated, real = report.get("generated", {}), report.get("real test images", {})
    mean_of = {name: float(np.mean(fids)) for name, fids in comparison.per_class.items()}
    return {
        "agreement": generated.get("overall"),
        "real_accuracy": real.get("overall"),
        "class_agreement": generated.get("per_class"),
        "class_real_accuracy": real.get("per_class"),
        "vs_baseline": comparison.metrics[label]["vs_baseline"],
        "curve_ratio": comparison.curve_ratio(label),
        "per_class_fid": mean_of.get(label),
        "previous_per_class_fid": mean_of.get(previous),
        "cas": comparison.cas.get(label, {}).get("overall"),
        "cas_ceiling": comparison.cas.get(CAS_CEILING, {}).get("overall"),
    }


def verdict_table(comparison: Comparison, labels: list[str], previous: str) -> str:
    """evaluation.verdicts_table of TARGETS for each sampler in `labels`, with real test images'
    numbers (the floor) beside them when the comparison measured them."""
    report = next(iter(comparison.label_reports.values()), {})
    floor = evaluation.floor_numbers(
        comparison.metrics, report, comparison.per_class, comparison.cas.get(CAS_CEILING)
    )
    column = [floor.get(target.checks[0].value, "-") for target in evaluation.TARGETS]
    return evaluation.verdicts_table(
        {
            label: evaluation.verdicts(
                evaluation.target_numbers(verdict_numbers(comparison, label, previous))
            )
            for label in labels
        },
        column if floor else None,
    )


def seed_spread_text(comparison: Comparison, labels: list[str]) -> str:
    """The classifier-FID ratio to the baseline of each training seed of Step 7's recipe, with its
    95% sampling interval, and the spread across the seeds: which of the two is wider, and that the
    verdict judged each seed by its own sampling interval."""
    ratios = {label: comparison.metrics[label]["vs_baseline"] for label in labels}
    shown = "; ".join(
        f"{label}: {r['fid_ratio']:.3f}x (sampling interval {r['fid_ratio_interval'][0]:.3f}-"
        f"{r['fid_ratio_interval'][1]:.3f})"
        for label, r in ratios.items()
    )
    if len(ratios) < 2:
        return f"classifier-FID against the baseline's, {shown}; one training seed: no seed spread."
    values = [r["fid_ratio"] for r in ratios.values()]
    spread = max(values) - min(values)
    widest = max(r["fid_ratio_interval"][1] - r["fid_ratio_interval"][0] for r in ratios.values())
    wider = "wider" if spread > widest else "narrower"
    return (
        f"classifier-FID against the baseline's, {shown}. Spread across the {len(values)} training seeds: "
        f"{spread:.3f}, {wider} than the widest sampling interval ({widest:.3f}). The verdict judged "
        "each seed by its own sampling interval."
    )


def draw_metric_curves(curves: dict[str, dict], floor: float, count: int, path: Path) -> Path:
    """Each run's classifier-FID per snapshot epoch, with real test images' as a dashed line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, curve in curves.items():
        ax.plot(list(curve), list(curve.values()), marker="o", label=name)
    ax.axhline(floor, color="grey", linestyle="--", label="real test images")
    ax.set(xlabel="epoch", ylabel=f"classifier-FID ({count} images)", title="sample quality during training")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    utils.save_figure(fig, path, dpi=80)
    return path


def noise_walk(generator, seed: int, class_name: str, steps: int = 8) -> np.ndarray:
    """`steps` uint8 images of a conditional G, all asked as class `class_name`, walking the noise
    in a straight line between two points seeded by `seed`."""
    label = utils.CIFAR10_CLASSES.index(class_name)
    share = np.linspace(0, 1, steps, dtype="float32")[:, None]  # (steps, 1)
    ends = np.random.default_rng(seed).standard_normal((2, generator.inputs[0].shape[-1])).astype("float32")
    return lesson.to_uint8(draw(generator, (1 - share) * ends[0] + share * ends[1], np.full(steps, label)))
