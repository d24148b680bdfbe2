"""Issue 27's search for a balanced game: two candidates that keep D from winning, on top of
Step 7's recipe, and the rule that judges them, fixed before any of them ran.

- LeCam (Tseng et al. 2021): D's loss gains lambda * (mean(relu(D(real) - a_fake))^2 +
  mean(relu(a_real - D(fake))^2)), where a_real and a_fake are moving means (decay 0.99) of D's
  logits on real and on fake images. It keeps the two kinds of logit from drifting apart.
- Adaptive augmentation (in the manner of ADA, Karras et al. 2020): each image D sees goes
  through DiffAugment with probability p instead of always. After every step p moves by
  sign(r_t - target) * batch / 500,000, where r_t = E[sign D(real)] on the batch, so p can go from
  0 to 1 in 500,000 images, the paper's speed; p starts at 0.

Both states (the anchors and p) are variables of the run, so its checkpoint saves them. With both
switched off, `make_balanced_train_step` is Step 7's step, draw for draw (tested)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import tensorflow as tf

import dcgan_lesson as lesson
import dcgan_utils as utils

BALANCE_FILE = Path("training_history") / "balance_search.json"  # the short runs' rows
BALANCE_WEIGHTS = Path("training_history") / "balance_search"  # each short run's average of G (.npz)
LECAM_DECAY = 0.99  # the anchors' moving-mean decay (the paper's code)
ADA_IMAGES = 500_000  # images over which p can go from 0 to 1 (the paper's speed)


@dataclass
class BalancedRun(lesson.ConditionalGANRun):
    """Step 7's run with the candidates' state, saved in its checkpoint like every variable."""

    lecam_anchors: tf.Variable | None = None  # moving means of D's logits: [on real, on fake]
    augment_strength: tf.Variable | None = None  # ADA's p (1: every image, as plain DiffAugment)

    def augment(self, images, rng) -> tf.Tensor:
        """What D sees: under ADA each image is augmented with probability p, else as Step 7's."""
        if self.recipe["diffaugment"] and self.recipe.get("ada_target", 0.0):
            return adaptive_augment(images, rng, self.augment_strength)
        return super().augment(images, rng)


def build_balanced_run(recipe: dict, paths: dict, settings: dict) -> BalancedRun:
    """Step 7's run of `recipe` (the same weights as build_conditional_run's) with the anchors at
    0 and p at 0 under ADA, else 1."""
    run = lesson.build_conditional_run(recipe, paths, settings)
    strength = 0.0 if recipe.get("ada_target", 0.0) else 1.0
    return BalancedRun(
        **{f.name: getattr(run, f.name) for f in fields(run)},
        lecam_anchors=tf.Variable([0.0, 0.0], trainable=False, name="lecam_anchors"),
        augment_strength=tf.Variable(strength, trainable=False, name="augment_strength"),
    )


def adaptive_augment(images: tf.Tensor, rng: tf.random.Generator, strength: tf.Tensor) -> tf.Tensor:
    """DiffAugment's transforms on each image with probability `strength`, else the image as it is."""
    chosen = rng.uniform([tf.shape(images)[0], 1, 1, 1]) < strength
    return tf.where(chosen, lesson.diff_augment(images, rng), tf.cast(images, tf.float32))


def lecam_penalty(real_logits: tf.Tensor, fake_logits: tf.Tensor, anchors: tf.Variable) -> tf.Tensor:
    """Update the anchors with this batch's mean logits, then LeCam's penalty against them."""
    real_logits, fake_logits = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
    batch_means = tf.stack([tf.reduce_mean(real_logits), tf.reduce_mean(fake_logits)])
    anchors.assign(LECAM_DECAY * anchors + (1 - LECAM_DECAY) * tf.stop_gradient(batch_means))
    real_anchor, fake_anchor = anchors[0], anchors[1]
    return tf.reduce_mean(tf.nn.relu(real_logits - fake_anchor) ** 2) + tf.reduce_mean(
        tf.nn.relu(real_anchor - fake_logits) ** 2
    )


def make_balanced_train_step(run: BalancedRun):
    """Step 7's train step with LeCam's penalty in D's loss and ADA's p, each when the recipe asks."""
    generator, discriminator, rng, recipe = run.generator, run.discriminator, run.noise_rng, run.recipe
    gen_optimizer, disc_optimizer = run.generator_optimizer, run.discriminator_optimizer
    ac, lecam, target = recipe["ac_weight"], recipe.get("lecam_weight", 0.0), recipe.get("ada_target", 0.0)
    strength = run.augment_strength

    @tf.function(jit_compile=run.settings["jit"])
    def train_step(batch, instance_noise):
        images, labels = batch
        noise = rng.normal([tf.shape(images)[0], run.settings["noise_dim"]])
        asked = rng.uniform([tf.shape(images)[0]], 0, 10, dtype=tf.int32)
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            fakes = generator([noise, asked], training=True)
            real_seen = images + instance_noise * rng.normal(tf.shape(images))
            fake_seen = fakes + instance_noise * rng.normal(tf.shape(fakes))
            real_logits, real_classes = discriminator([run.augment(real_seen, rng), labels], training=True)
            fake_logits, fake_classes = discriminator([run.augment(fake_seen, rng), asked], training=True)
            gen_loss = lesson.generator_loss(fake_logits) + ac * lesson.class_loss(asked, fake_classes)
            disc_loss = lesson.discriminator_loss(real_logits, fake_logits, recipe["real_label"])
            disc_loss += ac * lesson.class_loss(labels, real_classes)
            if lecam:
                disc_loss += lecam * lecam_penalty(real_logits, fake_logits, run.lecam_anchors)
            gen_scaled, disc_scaled = gen_optimizer.scale_loss(gen_loss), disc_optimizer.scale_loss(disc_loss)
        lesson.apply_gradients(gen_optimizer, gen_tape, gen_scaled, generator)
        lesson.apply_gradients(disc_optimizer, disc_tape, disc_scaled, discriminator)
        lesson.update_average(run.ema_generator, generator, recipe["ema_decay"], gen_optimizer)
        if target:  # r_t above the target: D is too sure of the reals, so augment more
            r_t = tf.reduce_mean(tf.sign(tf.cast(real_logits, tf.float32)))
            step = tf.sign(r_t - target) * tf.cast(tf.shape(images)[0], tf.float32) / ADA_IMAGES
            strength.assign(tf.clip_by_value(strength + step, 0.0, 1.0))
        return tf.stack([gen_loss, disc_loss, *lesson.discriminator_accuracy(real_logits, fake_logits)])

    return train_step


def state_of(run) -> dict:
    """The candidates' state after an epoch, for the history: p and the anchors, when the run has them."""
    if not isinstance(run, BalancedRun):
        return {}
    real_anchor, fake_anchor = run.lecam_anchors.numpy().tolist()
    return {
        "augment_p": float(run.augment_strength.numpy()),
        "anchor_real": real_anchor,
        "anchor_fake": fake_anchor,
    }


# ------------------------------------------------------------ the rule ----
# Fixed on 2026-12-03 before any balanced short run trained (issue 27, item 2). The reference is
# Step 7's recipe (conditional+diffaugment+ac, the average always measured) at seeds 44 and 45; each
# candidate trains at seed 44. Numbers at epoch 10, the last of a short run:
#   fake accuracy: the train step's mean on the training batches in epoch 10;
#   gap: the exam's real accuracy on 2,000 training images minus that on 2,000 held-out test images,
#        both judged alike (clean images, batch statistics) after epoch 10. The training batches'
#        own real accuracy is not used: ADA changes how augmented they are, so it would not be
#        like with like;
#   classifier-FID of the average of G (2,000 images), and CAS when measured (issue 27, item 3).
# A candidate passes when its fake accuracy and its gap are each lower than the reference's at seed
# 44 by more than the reference's seed spread (|seed 44 - seed 45|) of that number, and its FID is
# at most the reference's plus the FID's seed spread (CAS: at least the reference's minus its
# spread, once measured). Among those that pass, the leader has the lowest fake accuracy; it trains
# again at seed 45 and must pass there too, against the reference at seed 45.
REFERENCE = "conditional+diffaugment+ac"
RULE_SEEDS = (44, 45)


def rule_numbers(row: dict) -> dict:
    """The numbers the rule reads from a short run's saved row."""
    last = row["result"]["history"][-1]
    numbers = {
        "fake_acc": last["fake_acc"],
        "gap": last["seen_real_acc"] - last["held_out_real_acc"],
        "fid": row["result"]["ema"]["classifier_fid"],
    }
    if "cas" in row["result"]:
        numbers["cas"] = row["result"]["cas"]
    return numbers


def judge(candidate: dict, reference: dict, spread: dict) -> dict:
    """Each check of the rule, True or False (None where a number is missing), and "passes"."""
    checks = {
        "fake accuracy lower by more than the spread": candidate["fake_acc"]
        < reference["fake_acc"] - spread["fake_acc"],
        "gap lower by more than the spread": candidate["gap"] < reference["gap"] - spread["gap"],
        "FID no worse beyond the spread": candidate["fid"] <= reference["fid"] + spread["fid"],
    }
    if "cas" in reference and "cas" in candidate:
        checks["CAS no worse beyond the spread"] = candidate["cas"] >= reference["cas"] - spread["cas"]
    else:
        checks["CAS no worse beyond the spread"] = None
    decided = [value for value in checks.values() if value is not None]
    return {**checks, "passes": all(decided)}


def balance_plan(candidates: list[str], leader: str | None = None) -> list[tuple[str, int]]:
    """(recipe, seed) of each short run in order: the reference at 44 and 45, each candidate at
    44, then the leader at 45 when one is named."""
    plan = [(REFERENCE, 44), (REFERENCE, 45)] + [(f"{REFERENCE}+{name}", 44) for name in candidates]
    return plan + ([(f"{REFERENCE}+{leader}", 45)] if leader else [])


def examined_rows(rows: list[dict], epochs: int) -> list[dict]:
    """The balanced short runs saved at `epochs` epochs with D's exam in their history."""
    return [row for row in rows if row["epochs"] == epochs and "history" in row["result"]]


def verdict_rows(rows: list[dict], epochs: int) -> list[dict]:
    """The rule applied to every candidate row saved at `epochs` epochs: for each (recipe, seed)
    against the reference at the same seed, with the reference's two-seed spread."""
    found = {(row["recipe"], row["seed"]): rule_numbers(row) for row in examined_rows(rows, epochs)}
    references = [found.get((REFERENCE, seed)) for seed in RULE_SEEDS]
    if None in references:
        return []
    spread = {
        key: abs(references[0][key] - references[1][key]) for key in references[0] if key in references[1]
    }
    judged = []
    for (recipe, seed), numbers in found.items():
        if recipe == REFERENCE:
            continue
        reference = found[(REFERENCE, seed)]
        judged.append({"recipe": recipe, "seed": seed, **numbers, **judge(numbers, reference, spread)})
    return judged


def balance_table(rows: list[dict], epochs: int, floor: dict | None = None) -> str:
    """A markdown table of the balanced short runs at `epochs`: D's accuracy on its training batches
    and in its exam (the real images it trains on, held-out ones, the gap, fresh fakes at both
    thresholds), the average's classifier-FID, mean per-class KID, label agreement and CAS (where
    measured), ADA's p (ADA's rows only); then the rule's verdict of each candidate (against the
    reference at the same seed). With `floor` (search.real_floor), real test images' numbers close it."""
    shown = examined_rows(rows, epochs)
    if not shown:
        return (
            f"*No balanced short runs of {epochs} epochs saved yet: `python dcgan_tools.py balance-search`.*"
        )
    verdicts = {(v["recipe"], v["seed"]): v for v in verdict_rows(rows, epochs)}
    dash = utils.format_or_dash
    lines = [
        "| recipe | seed | fake acc, training batches | real acc, training batches | exam: real it trains on "
        "| exam: real held out | gap | exam: fresh fakes caught, logit < 0 / < 0.5 | FID of its average "
        "| per-class KID x1000 | label agreement | CAS | ADA's p | the rule |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in shown:
        last, ema = row["result"]["history"][-1], row["result"]["ema"]
        verdict = verdicts.get((row["recipe"], row["seed"]))
        judged = (
            "reference"
            if row["recipe"] == REFERENCE
            else ("passes" if verdict and verdict["passes"] else "fails")
        )
        name = row["recipe"].replace(f"{REFERENCE}+", "+")  # a candidate by its addition
        fakes = f"{last['fresh_fake_acc']:.3f} / {last['fresh_fake_acc_course']:.3f}"
        p = last.get("augment_p") if "+ada" in row["recipe"] else None  # without ADA, every image: p = 1
        lines.append(
            f"| {name} | {row['seed']} | {last['fake_acc']:.3f} | {last['real_acc']:.3f} | "
            f"{last['seen_real_acc']:.3f} | {last['held_out_real_acc']:.3f} | "
            f"{last['seen_real_acc'] - last['held_out_real_acc']:+.3f} | {fakes} | "
            f"{ema['classifier_fid']:.2f} | {dash(ema.get('per_class_kid'), '.2f')} | "
            f"{dash(ema.get('label_agreement'), '.1%')} | {dash(row['result'].get('cas'), '.3f')} | "
            f"{dash(p, '.3f')} | {judged} |"
        )
    if floor is not None:
        lines.append(
            f"| real test images (the floor) | - | - | - | - | - | - | - | {floor['classifier_fid']:.2f} | "
            f"{dash(floor['per_class_kid'], '.2f')} | {floor['label_agreement']:.1%} | "
            f"{dash(floor['cas'], '.3f')} "
            "(trained on real) | - | - |"
        )
    return "\n".join(lines)


def draw_exam_curves(rows: list[dict], epochs: int, path: Path) -> Path:
    """One panel per balanced short run of `epochs` epochs: per epoch, D's fake accuracy on its
    training batches beside its exam (real images it trains on, held-out ones, fresh fakes caught at
    logit < 0), with the 0.5 line; saved to `path`."""
    import matplotlib.pyplot as plt

    shown = examined_rows(rows, epochs)
    fig, axes = plt.subplots(1, len(shown), figsize=(2.6 * len(shown), 2.8), sharey=True, squeeze=False)
    lines = (
        ("fake_acc", "fakes, training batches", "-"),
        ("fresh_fake_acc", "exam: fresh fakes", ":"),
        ("seen_real_acc", "exam: real it trains on", "--"),
        ("held_out_real_acc", "exam: real held out", "-."),
    )
    for ax, row in zip(axes[0], shown, strict=True):
        history = row["result"]["history"]
        for key, label, style in lines:
            ax.plot([r["epoch"] for r in history], [r[key] for r in history], style, label=label)
        ax.axhline(0.5, color="grey", linewidth=0.8)
        name = (
            row["recipe"].replace(f"{REFERENCE}+", "+") if row["recipe"] != REFERENCE else "Step 7's recipe"
        )
        ax.set(title=f"{name}, seed {row['seed']}", xlabel="epoch", ylim=(0, 1.02))
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("D's accuracy")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    utils.save_figure(fig, path, dpi=80)
    return path


def saved_average(row: dict) -> tf.keras.Model | None:
    """The average of G that a short run saved in BALANCE_WEIGHTS, in float32; None when absent."""
    import dcgan_search as search

    weights = search.kept_generator(BALANCE_WEIGHTS, row["recipe"], row["seed"], row["epochs"])
    if not weights.exists():
        return None
    generator = lesson.build_conditional_generator(
        row["settings"]["noise_dim"], row["settings"]["width"], "float32"
    )
    generator.set_weights(utils.load_arrays(weights))
    return generator


def measure_saved_rows(yardstick, test_set: tuple, cas_images: int) -> list[dict]:
    """Add to every saved short run whose average is at hand what its row lacks: the mean per-class
    KID of its measured images (the same ones as its FID) and its CAS on `cas_images` of them (the
    yardstick's classifier architecture and training, as the notebook's CAS). Each row is saved as
    it is measured; returns the rows."""
    import dcgan_reports as reports
    import dcgan_search as search

    rows = search.read_rows(BALANCE_FILE)
    for row in rows:
        result, generator = row["result"], saved_average(row)
        if generator is None or ("cas" in result and "per_class_kid" in result["ema"]):
            continue
        count, seed = row["settings"]["measured"], row["seed"]
        images, asked = reports.generate_images(generator, count, seed), np.arange(count) % 10
        kids = yardstick.per_class_kids(lambda c, images=images, asked=asked: images[asked == c])
        result["ema"]["per_class_kid"] = float(np.mean(kids))
        score = reports.generator_cas(generator, yardstick.info, test_set, cas_images, seed)
        result.update(cas=score["overall"], cas_per_class=score["per_class"], cas_images=cas_images)
        rows = search.save_row(BALANCE_FILE, row)
        print(
            f"{row['recipe']} at seed {row['seed']}: per-class KID x1000 {np.mean(kids):.2f}, "
            f"CAS {score['overall']:.3f}"
        )
    return rows


def run_balance_search(
    candidates: list[str], leader: str | None, epochs: int, data_dir: str, parameters: dict, recipe: dict
) -> list[dict]:
    """Issue 27's short runs (balance_plan) with the notebook's `parameters` and baseline `recipe`,
    each saved to BALANCE_FILE as it ends and its average of G to BALANCE_WEIGHTS; returns the
    rule's verdicts."""
    import dcgan_search as search

    setup, settings, yardstick = search.command_line_setup(parameters, data_dir, epochs, ".", BALANCE_WEIGHTS)
    rows = search.run_search(
        balance_plan(candidates, leader), recipe, settings, setup, yardstick, ".", BALANCE_FILE
    )
    return verdict_rows(rows, epochs)


def measure_balance_search(data_dir: str, parameters: dict) -> list[dict]:
    """measure_saved_rows with the notebook's `parameters` (its yardstick, and CAS on EVAL_IMAGES
    images, as the notebook's)."""
    import dcgan_eval as evaluation

    p = parameters
    yardstick = evaluation.Yardstick.load(".", data_dir, p["CLASSIFIER_EPOCHS"], p["CLASSIFIER_SEED"])
    return measure_saved_rows(yardstick, utils.load_cifar10(data_dir, "test"), p["EVAL_IMAGES"])
