"""The search for a balanced game on Steps 0-6's recipe: levers that may stop the plain DCGAN's
discriminator from winning, the short runs that try them (D's exam after every epoch), and the
rule that judges them, written before any of them ran.

The reference is Steps 0-6's recipe with D's targets 1 for real and 0 for fake, so that a fake D
cannot tell from a real image scores logit 0, the accuracy's threshold. Each candidate is one
lever on top of it:

- `dropout`: dropout 0.3 after each LeakyReLU of D, as in TensorFlow's DCGAN tutorial;
- `spectral_norm`: spectral normalization of D's convolutions in place of its batch norm
  (Miyato et al. 2018);
- `r1`: an R1 penalty, gamma / 2 * E ||grad_x D(x)||^2 on real images, gamma 0.1 (Mescheder
  et al. 2018), the gradient taken through D's batch norm as it plays;
- `bcr`: balanced consistency regularization, 10 * (E (D(x) - D(T(x)))^2 + the same on fakes),
  T a random horizontal flip and a shift of up to 4 pixels (Zhao et al. 2021);
- `slow_d`: D's learning rate halved, 1e-4 (G's stays 2e-4).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import dcgan_eval as evaluation
import dcgan_lesson as lesson
import dcgan_search as search
import dcgan_utils as utils
from dcgan_lesson import keras, layers, tf

SEARCH_FILE = Path("training_history") / "baseline_search.json"  # the short runs' rows
REFERENCE = "baseline"  # Steps 0-6's recipe with the targets 1 and 0
LEVERS_OFF = {"disc_dropout": 0.0, "spectral_norm": False, "r1_gamma": 0.0, "bcr_weight": 0.0}
CANDIDATES = {
    "dropout": {"disc_dropout": 0.3},
    "spectral_norm": {"spectral_norm": True},
    "r1": {"r1_gamma": 0.1},
    "bcr": {"bcr_weight": 10.0},
    "slow_d": {"disc_lr": 1e-4},
}
SHIFT = 4  # bcr's largest shift in pixels, an eighth of the image
EPOCHS = 30  # a short run's length: past the epochs where the earlier baseline's D turned


def make_recipe(name: str, base: dict) -> dict:
    """Steps 0-6's recipe `base` with the reference's targets and every lever off, then each
    candidate joined in `name` ("baseline+a+b"); an unknown one is refused (ParameterError)."""
    first, *parts = name.split("+")
    if first != REFERENCE or any(part not in CANDIDATES for part in parts):
        raise utils.ParameterError(
            f"baseline search recipe {name!r}: write {REFERENCE!r}, then '+' and levers from "
            f"{', '.join(CANDIDATES)}."
        )
    recipe = {**base, **LEVERS_OFF, "real_label": 1.0}
    for part in parts:
        recipe.update(CANDIDATES[part])
    return recipe


# ------------------------------------------------------------ the levers ----
def build_candidate_discriminator(recipe: dict, precision: str) -> keras.Model:
    """Step 3's discriminator with the recipe's levers: dropout after each LeakyReLU, spectral
    norm on each convolution in place of batch norm. With both off, Step 3's layers exactly."""
    f, p, init = recipe["disc_filters"], precision, keras.initializers.RandomNormal(stddev=0.02)
    stack = [keras.Input(shape=(32, 32, 3))]
    for i, filters in enumerate((f, 2 * f, 4 * f)):  # (16, 16, f), (8, 8, 2f), (4, 4, 4f)
        normed = i > 0 and not recipe["spectral_norm"]  # batch norm's shift replaces the bias
        conv = layers.Conv2D(filters, 4, 2, "same", use_bias=not normed, kernel_initializer=init, dtype=p)
        stack.append(layers.SpectralNormalization(conv, dtype=p) if recipe["spectral_norm"] else conv)
        stack += [layers.BatchNormalization(dtype=p)] if normed else []
        stack.append(layers.LeakyReLU(0.2, dtype=p))
        stack += [layers.Dropout(recipe["disc_dropout"], dtype=p)] if recipe["disc_dropout"] else []
    stack += [layers.Flatten(dtype=p), layers.Dense(1, kernel_initializer=init, dtype="float32")]
    return keras.Sequential(stack, name="discriminator")


def r1_penalty(discriminator: keras.Model, real_seen: tf.Tensor) -> tf.Tensor:
    """E ||grad_x D(x)||^2 over the real images D saw, D as it plays (its gradient reaches D's
    weights). With batch norm in D, each image's gradient is that of the batch's summed logits,
    which batch norm couples through the batch's statistics: Mescheder et al.'s D had no batch
    norm, and a per-image Jacobian would cost a backward pass per image."""
    with tf.GradientTape() as tape:
        tape.watch(real_seen)
        logits = tf.cast(discriminator(real_seen, training=True), tf.float32)
    gradients = tf.cast(tape.gradient(logits, real_seen), tf.float32)  # of the batch's summed logits
    return tf.reduce_mean(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]))


def flip_and_shift(images: tf.Tensor, rng: tf.random.Generator) -> tf.Tensor:
    """bcr's transform: each image flipped left-right with probability 0.5, then moved by up to
    SHIFT pixels each way (zeros fill the edge)."""
    batch, images = tf.shape(images)[0], tf.cast(images, tf.float32)
    flipped = rng.uniform([batch, 1, 1, 1]) < 0.5
    images = tf.where(flipped, tf.reverse(images, axis=[2]), images)
    padded = tf.pad(images, [[0, 0], [SHIFT, SHIFT], [SHIFT, SHIFT], [0, 0]])
    start = rng.uniform([batch, 2], 0, 2 * SHIFT + 1, dtype=tf.int32)
    images = tf.gather(padded, start[:, :1] + tf.range(32), axis=1, batch_dims=1)
    return tf.gather(images, start[:, 1:] + tf.range(32), axis=2, batch_dims=1)


def consistency_penalty(discriminator, rng, seen: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """E (D(x) - D(T(x)))^2 over images `seen` whose logits D gave."""
    moved = tf.cast(discriminator(flip_and_shift(seen, rng), training=True), tf.float32)
    return tf.reduce_mean(tf.square(moved - tf.cast(logits, tf.float32)))


@dataclass
class CandidateRun(lesson.GANRun):
    """Steps 0-6's run whose discriminator penalty is the recipe's R1 and consistency terms."""

    def discriminator_penalty(self, real_seen, fake_seen, real_logits, fake_logits) -> tf.Tensor:
        penalty, recipe = tf.constant(0.0), self.recipe
        if recipe["r1_gamma"]:
            penalty += recipe["r1_gamma"] / 2 * r1_penalty(self.discriminator, real_seen)
        if recipe["bcr_weight"]:
            d, rng = self.discriminator, self.noise_rng
            both = consistency_penalty(d, rng, real_seen, real_logits) + consistency_penalty(
                d, rng, fake_seen, fake_logits
            )
            penalty += recipe["bcr_weight"] * both
        return penalty


def build_candidate_run(recipe: dict, paths: dict, settings: dict) -> CandidateRun:
    """A new CandidateRun of `recipe`, seeded by settings["train_seed"] as build_gan_run's."""
    keras.utils.set_random_seed(settings["train_seed"])
    generator = lesson.build_generator(settings["noise_dim"], recipe["gen_filters"], settings["precision"])
    discriminator = build_candidate_discriminator(recipe, settings["precision"])
    optimizers = lesson.make_optimizers(recipe, settings["precision"], generator, discriminator)
    noise_rng = tf.random.Generator.from_seed(settings["train_seed"])
    return CandidateRun(generator, discriminator, *optimizers, noise_rng, recipe, paths, settings)


# ------------------------------------------------------------ short runs ----
def short_run(recipe: dict, seed: int, setup: search.SearchSetup, settings: dict, yardstick) -> dict:
    """Train `recipe` from scratch for setup.epochs epochs in memory, D sitting its exam after
    each (as it plays, and in inference mode); then measure G on setup.count images."""
    run = build_candidate_run(recipe, {}, {**settings, "seed": seed, "train_seed": seed})
    train_step = lesson.make_train_step(run)
    data = lesson.TrainingData(setup.images, setup.batch_size)
    rows = []
    for epoch in range(1, setup.epochs + 1):
        noise_std = lesson.instance_noise_at(recipe, epoch)
        row = lesson.train_one_epoch(train_step, data.batches(seed, epoch), noise_std, epoch, setup.epochs)
        rows.append(row | setup.exam.take(run, epoch))
        print(f"epoch {epoch}: fake acc {row['fake_acc']:.3f}; " + evaluation.exam_text(rows[-1]), flush=True)
    return {
        "epochs": setup.epochs,
        "seconds_per_epoch": float(np.mean([row["seconds"] for row in rows])),
        "fake_acc": rows[-1]["fake_acc"],
        "generator": search.measure_sampler(run.generator, setup.count, seed, yardstick),
        "history": rows,
    }


def search_plan(candidates: list[str], combined: str | None, confirmed: str | None) -> list[tuple[str, int]]:
    """(recipe, seed) of each short run in order: the reference at 44 and 45, each candidate at
    44, the combination of two (e.g. "dropout+slow_d") at 44, the winner again at 45."""
    plan = [(REFERENCE, 44), (REFERENCE, 45)] + [(f"{REFERENCE}+{name}", 44) for name in candidates]
    plan += [(f"{REFERENCE}+{combined}", 44)] if combined else []
    return plan + ([(f"{REFERENCE}+{confirmed}", 45)] if confirmed else [])


def run_baseline_search(
    plan: list, base: dict, settings: dict, setup: search.SearchSetup, yardstick, output_dir
) -> list[dict]:
    """Train every short run of `plan` not yet saved in output_dir/SEARCH_FILE, saving each row as
    it ends (an interrupted search loses at most the run in progress); returns the saved rows of
    these settings and length."""
    path = Path(output_dir) / SEARCH_FILE
    recipes = {name: make_recipe(name, base) for name, _ in plan}  # an unknown name stops here, first
    described = search.search_settings(recipes[REFERENCE], settings, setup, yardstick.info)
    rows = search.read_rows(path)
    precision = utils.choose_precision(setup.precision, utils.has_gpu(), utils.cpu_supports_bf16())
    for name, seed in plan:
        if any(search.same_run(row, name, seed, setup.epochs, described) for row in rows):
            continue
        print(f"short run: {name}, seed {seed}, {setup.epochs} epochs, {precision}", flush=True)
        result = short_run(recipes[name], seed, setup, {**settings, "precision": precision}, yardstick)
        row = {"recipe": name, "seed": seed, "epochs": setup.epochs, "settings": described}
        rows = search.save_row(path, {**row, "precision": precision, "result": result})
    return [row for row in rows if row["settings"] == described and row["epochs"] == setup.epochs]


# ------------------------------------------------------------ the rule ----
RULE_TEXT = """The rule, written before any of these runs. The reference (Steps 0-6's recipe with D's
targets 1 and 0) trains at seeds 44 and 45, each candidate at 44, for 30 epochs in mixed_bfloat16,
the instance noise fading over 50 epochs as in the full run. A candidate is judged against the
reference at its own seed; the *spread* of a number is |reference at 44 - reference at 45|. It
passes when all four hold:

1. **D's fake accuracy on its training batches falls:** its least-squares slope over epochs 10-30
   is below 0, and its mean over epochs 26-30 is below the reference's minus the spread.
2. **The exam's fresh-fake accuracy falls too** (slope over epochs 10-30 below 0), so the fall is
   not the training batches' alone. The exam judges D as it plays (batch statistics, and its
   dropout where it has one); the table also shows D in inference mode.
3. **Quality holds:** the classifier-FID of 2,000 of G's images at epoch 30 is at most the
   reference's plus the spread, and their recognizable share at least the reference's minus the
   spread.
4. **D does not memorise:** at epoch 30 its exam accuracy on held-out real images is within 0.1 of
   that on the real images it trains on.

The best of those that pass has the lowest mean fake accuracy over epochs 26-30. If two or more
pass, the two best train together at seed 44, judged by the same rule. The best of all that pass
then trains at seed 45 and must pass there, against the reference at 45, before it becomes Steps
0-6's recipe. If none passes, the reference becomes Steps 0-6's recipe."""
TREND_FROM = 10  # the trends are fitted from this epoch to the last
LAST_EPOCHS = 5  # the level: the mean over the last five epochs
MEMORY_GAP = 0.1

RULE = (
    evaluation.target(
        "fake accuracy falls: slope over epochs 10-30 < {} and last-5 mean < the reference's - spread",
        "slope {fake_slope:+.3f} per 10 epochs, mean {fake_mean:.3f} vs {fake_mean_limit:.3f}",
        evaluation.Check("fake_slope", "<", 0.0),
        evaluation.Check("fake_mean", "<", 1.0, "fake_mean_limit"),
    ),
    evaluation.target(
        "the exam's fresh-fake accuracy falls: slope over epochs 10-30 < {}",
        "slope {fresh_fake_slope:+.3f} per 10 epochs",
        evaluation.Check("fresh_fake_slope", "<", 0.0),
    ),
    evaluation.target(
        "classifier-FID <= the reference's + spread, recognizable >= the reference's - spread",
        "FID {fid:.2f} vs {fid_limit:.2f}, recognizable {recognizable:.1%} vs {recognizable_limit:.1%}",
        evaluation.Check("fid", "<=", 1.0, "fid_limit"),
        evaluation.Check("recognizable", ">=", 1.0, "recognizable_limit"),
    ),
    evaluation.target(
        "no memorising: |held-out real acc - trained-on real acc| <= {}",
        "{exam_gap:.3f}",
        evaluation.Check("exam_gap", "<=", MEMORY_GAP),
    ),
)


def rule_numbers(row: dict) -> dict:
    """The numbers the rule reads from a short run's saved row."""
    history, measured = row["result"]["history"], row["result"]["generator"]
    last = history[-1]
    return {
        "fake_slope": evaluation.fake_accuracy_trend(history, TREND_FROM)["slope_per_10_epochs"],
        "fake_mean": float(np.mean([r["fake_acc"] for r in history[-LAST_EPOCHS:]])),
        "fresh_fake_slope": evaluation.fake_accuracy_trend(history, TREND_FROM, "fresh_fake_acc")[
            "slope_per_10_epochs"
        ],
        "fid": measured["classifier_fid"],
        "recognizable": measured["recognizable"],
        "exam_gap": abs(last["held_out_real_acc"] - last["seen_real_acc"]),
    }


def limits(reference: dict, other_reference: dict) -> dict:
    """The bars a candidate meets against `reference` (at its seed), widened by the references' spread."""
    spread = {key: abs(reference[key] - other_reference[key]) for key in ("fake_mean", "fid", "recognizable")}
    return {
        "fake_mean_limit": reference["fake_mean"] - spread["fake_mean"],
        "fid_limit": reference["fid"] + spread["fid"],
        "recognizable_limit": reference["recognizable"] - spread["recognizable"],
    }


def judged_rows(rows: list[dict]) -> list[dict]:
    """Every candidate row judged by RULE against the reference at its seed: its recipe, seed,
    numbers, the verdict of each target and "passes"; [] until both references are saved. Only
    rows of EPOCHS epochs are judged."""
    found = {(row["recipe"], row["seed"]): rule_numbers(row) for row in rows if row["epochs"] == EPOCHS}
    references = {seed: found.get((REFERENCE, seed)) for seed in (44, 45)}
    if None in references.values():
        return []
    judged = []
    for (recipe, seed), numbers in found.items():
        if recipe == REFERENCE or seed not in references:
            continue
        other = references[45 if seed == 44 else 44]  # the other seed's reference gives the spread
        numbers = numbers | limits(references[seed], other)
        verdicts = evaluation.verdicts(numbers, RULE)
        passes = all(v["met"] for v in verdicts)
        judged.append({"recipe": recipe, "seed": seed, **numbers, "verdicts": verdicts, "passes": passes})
    return judged


def next_runs(judged: list[dict]) -> dict:
    """What the rule asks for next, as `baseline-search` takes it: "combined" (the levers of the
    two best that passed at seed 44, to train together, once), "winner" (the levers of the best that
    passed at 44) and whether it is "confirmed" at 45."""
    passed = sorted((j for j in judged if j["seed"] == 44 and j["passes"]), key=lambda j: j["fake_mean"])
    singles = [j for j in passed if j["recipe"].count("+") == 1]
    combined = None
    if len(singles) >= 2:
        combined = "+".join(j["recipe"].split("+")[1] for j in singles[:2])
    winner = passed[0]["recipe"].removeprefix(f"{REFERENCE}+") if passed else None
    confirmed = any(
        j["recipe"] == f"{REFERENCE}+{winner}" and j["seed"] == 45 and j["passes"] for j in judged
    )
    return {"combined": combined, "winner": winner, "confirmed": confirmed}


# ------------------------------------------------------------ what the search shows ----
def short_name(recipe: str) -> str:
    """A row's name in tables and figures: "reference", or the levers it adds ("+dropout")."""
    return "reference" if recipe == REFERENCE else recipe.removeprefix(REFERENCE)


def search_table(rows: list[dict]) -> str:
    """A markdown table of the short runs: D's fake accuracy on its training batches (first and
    last epoch, the last five epochs' mean, the slope from epoch 10), its exam at the last epoch
    (fresh fakes caught as it plays and in inference mode, the fresh-fake slope, real images it
    trains on and held out), G's classifier-FID and recognizable share, the time per epoch, and the
    rule's verdict with the numbers of the targets missed."""
    if not rows:
        return "*No short runs of the baseline search saved yet: `python dcgan_tools.py baseline-search`.*"
    judged = {(j["recipe"], j["seed"]): j for j in judged_rows(rows)}
    lines = [
        "| recipe | seed | fake acc, epoch 1 / last | last-5 mean | slope from epoch 10 | exam: fresh fakes "
        "caught, as played / inference | exam: fresh-fake slope | exam: real trained on / held out | "
        "FID of G | recognizable | s per epoch | the rule |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        history, numbers = row["result"]["history"], rule_numbers(row)
        first, last, measured = history[0], history[-1], row["result"]["generator"]
        verdict = judged.get((row["recipe"], row["seed"]))
        if row["recipe"] == REFERENCE:
            said = "reference"
        elif verdict is None:
            said = "not judged yet"
        else:
            missed = [f"{i}. {v['measured']}" for i, v in enumerate(verdict["verdicts"], 1) if not v["met"]]
            said = "passes" if verdict["passes"] else "fails " + "; ".join(missed)
        inference = last.get("fresh_fake_acc_inference")
        lines.append(
            f"| {short_name(row['recipe'])} | {row['seed']} | {first['fake_acc']:.3f} / "
            f"{last['fake_acc']:.3f} | {numbers['fake_mean']:.3f} | {numbers['fake_slope']:+.3f} | "
            f"{last['fresh_fake_acc']:.3f} / {utils.format_or_dash(inference, '.3f')} | "
            f"{numbers['fresh_fake_slope']:+.3f} | {last['seen_real_acc']:.3f} / "
            f"{last['held_out_real_acc']:.3f} | {measured['classifier_fid']:.2f} | "
            f"{measured['recognizable']:.1%} | {row['result']['seconds_per_epoch']:.0f} | {said} |"
        )
    return "\n".join(lines)


def draw_search_curves(rows: list[dict], path: Path, columns: int = 4) -> Path:
    """One panel per short run: per epoch, D's fake accuracy on its training batches, and in its
    exam the fresh fakes caught (as it plays and in inference mode) and the held-out real images
    called real, with the 0.5 line; saved to `path`."""
    import matplotlib.pyplot as plt

    drawn = (
        ("fake_acc", "fakes, training batches", "C1-"),
        ("fresh_fake_acc", "exam: fresh fakes", "C3--"),
        ("fresh_fake_acc_inference", "exam: fresh fakes, inference mode", "C3:"),
        ("held_out_real_acc", "exam: real held out", "C0-."),
    )
    columns = min(columns, len(rows))
    panels = -(-len(rows) // columns)
    legend_height = 0.9  # inches: two rows of the legend below the panels
    fig, axes = plt.subplots(
        panels, columns, figsize=(max(3.4 * columns, 7.0), 2.9 * panels + legend_height), squeeze=False
    )
    for ax in axes.flat[len(rows) :]:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows, strict=False):
        history = row["result"]["history"]
        for key, label, style in drawn:
            ax.plot([r["epoch"] for r in history], [r.get(key, np.nan) for r in history], style, label=label)
        ax.axhline(0.5, color="grey", linewidth=0.8)
        ax.set(title=f"{short_name(row['recipe'])}, seed {row['seed']}", xlabel="epoch", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=10)
    fig.tight_layout(rect=(0, legend_height / (2.9 * panels + legend_height), 1, 1))
    utils.save_figure(fig, path, dpi=80)
    return path
