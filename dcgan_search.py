"""Step 7's candidate search: the recipes, the short runs that measure them, their cache
(training_history/candidate_search.json, one row of structured data per run), the table, the
decision on the chosen recipe, and issue 17's label rule, judged by dcgan_eval's verdict engine."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import dcgan_eval as evaluation
import dcgan_utils as utils
from dcgan_reports import generate_images, lesson

# ------------------------------------------------------------ recipes ----
STEP7_SWITCHES = {"conditional": False, "diffaugment": False, "ema_decay": 0.0, "ac_weight": 0.0}  # all off
CANDIDATES = {  # each candidate's changes to the baseline recipe
    "baseline": {},
    "diffaugment": {"diffaugment": True, "instance_noise": 0.0},
    "ema": {"ema_decay": 0.999},
    "conditional": {"conditional": True},
    # issue 17: making a conditional run obey its label (each needs "conditional" before it)
    "ac": {"ac_weight": 1.0},
    "strong_ac": {"ac_weight": 3.0},
    # issue 27: a balanced game (dcgan_balance.py), each on top of Step 7's recipe
    "lecam03": {"lecam_weight": 0.03},
    "lecam10": {"lecam_weight": 0.1},
    "ada": {"ada_target": 0.6},
}
RETIRED = {  # candidates whose code is gone; their saved rows are still shown
    "wide_generator": "1.5x the generator's channels, searched at 3 epochs and not chosen",
    "joint_batch": "D judged the real and the fake images in one batch, searched at 3 epochs and not chosen",
    "cr": "consistency regularisation of the conditional D, which collapsed to a few classes",
    "spectral_hinge": "the hinge loss with spectral norm in D, which lost the label search on every count",
    "embedding": "a learned class vector joined to G's noise, which lost the label search on agreement",
}
LABEL_SWITCHES = ("ac", "strong_ac", "spectral_hinge", "embedding")  # issue 17's candidates


# Step 7's runs and both searches were trained on Steps 0-6's recipe as it was then: D's target 0.9
# for real images. They keep it, and none of Steps 0-6's later levers, so their saved runs and rows
# still open and match.
STEP7_BASE_KEYS = (
    "gen_filters", "disc_filters", "gen_lr", "disc_lr", "beta_1", "beta_2", "real_label", "instance_noise",
    "noise_fade_epochs",
)  # fmt: skip
STEP7_FIXED = {"real_label": 0.9}


def step7_base(recipe: dict) -> dict:
    """Steps 0-6's `recipe` as Step 7 builds on it: its widths and optimizer settings, with
    STEP7_FIXED's values."""
    return {key: recipe[key] for key in STEP7_BASE_KEYS if key in recipe} | STEP7_FIXED


def _parts(name: str) -> list[str]:
    """The candidates joined in `name` ("a+b"); an unknown one is refused (ParameterError)."""
    parts = name.split("+")
    for part in parts:
        if part not in CANDIDATES and part not in RETIRED:
            raise utils.ParameterError(
                f"STEP7_RECIPE {name!r}: unknown candidate {part!r}; join names from "
                f"{', '.join(CANDIDATES)} with '+'."
            )
    return parts


def make_recipe(name: str, base: dict) -> dict:
    """Step 7's base (step7_base of Steps 0-6's recipe `base`) with Step 7's switches off, then the
    changes of each candidate in `name` ("a+b" applies a, then b). A retired candidate is refused:
    its code is gone."""
    recipe = {**STEP7_SWITCHES, **step7_base(base)}
    for part in _parts(name):
        if part in RETIRED:
            raise utils.ParameterError(
                f"STEP7_RECIPE {name!r}: {part!r} ({RETIRED[part]}) was removed with its code; its "
                "saved short runs are shown as they are, and it cannot be trained again."
            )
        recipe.update(CANDIDATES[part])
    if recipe["ac_weight"] and not recipe["conditional"]:
        raise utils.ParameterError(
            f"STEP7_RECIPE {name!r}: ac_weight needs a class-conditional run; put 'conditional+' before it."
        )
    return recipe


def searched_name(name: str) -> str:
    """Every short run measures G's average too, so "+ema" is left out of the names searched."""
    return "+".join(part for part in name.split("+") if part != "ema")


def named_seeds(others: str) -> list[tuple[str, int | None]]:
    """(name, seed) of each space-separated entry of `others`; the seed is the one after "@" or None."""
    return [
        (name, int(seed) if seed else None) for name, _, seed in (e.partition("@") for e in others.split())
    ]


def search_plan(chosen: str, others: str, seed: int) -> list[tuple[str, int]]:
    """(recipe, seed) of each short run: the baseline and the chosen recipe with two seeds each,
    the others (space-separated names) with one: `seed`, or the one a name gives after "@". The
    chosen recipe's two seeds are `seed` and `seed + 1` unless `others` names two of its own."""
    chosen = searched_name(chosen)
    named = [(name, seed if own is None else own) for name, own in named_seeds(others)]
    plan = [("baseline", seed), ("baseline", seed + 1), *named]
    if sum(name == chosen for name, _ in plan) < 2:
        plan += [(chosen, seed), (chosen, seed + 1)]
    return list(dict.fromkeys(plan))


# ------------------------------------------------------------ short runs ----
@dataclass
class SearchSetup:
    """What every short run shares: the data, the batch size, its length, the images measured, and
    the requested precision ("auto": the machine's best). The instance noise fades over the
    recipe's own noise_fade_epochs, as in a full run."""

    images: np.ndarray
    labels: np.ndarray
    batch_size: int
    epochs: int
    count: int
    precision: str = "auto"
    exam: object = None  # a DiscriminatorExam: D sits it after every epoch, saved in the row's history
    keep_generators: Path | None = None  # a folder where each run's average of G is saved (.npz)


def command_line_setup(
    parameters: dict, data_dir: str, epochs: int, output_dir, keep: Path | None = None
) -> tuple[SearchSetup, dict, object]:
    """(SearchSetup, run settings, yardstick) of a search run from the command line with the
    notebook's `parameters`: all training images, D's exam on 2,000 of each split, CURVE_IMAGES
    images measured, the classifier cached under `output_dir`; with `keep`, each run's average of G
    is kept there."""
    p = parameters
    train_set, test_set = utils.load_cifar10(data_dir, "train"), utils.load_cifar10(data_dir, "test")
    yardstick = evaluation.Yardstick.load(output_dir, data_dir, p["CLASSIFIER_EPOCHS"], p["CLASSIFIER_SEED"])
    exam = evaluation.exam_of(train_set, test_set, p["BATCH_SIZE"], p["SEED"])
    setup = SearchSetup(
        lesson.scale_images(train_set[0]), train_set[1], p["BATCH_SIZE"], epochs, p["CURVE_IMAGES"],
        p["PRECISION"], exam, keep,
    )  # fmt: skip
    settings = {
        "noise_dim": p["NOISE_DIM"],
        "jit": p["JIT_COMPILE"],
        "checkpoint_every": 1,
        "snapshot_every": 0,
    }
    return setup, settings, yardstick


def short_run(
    recipe: dict, seed: int, setup: SearchSetup, settings: dict, yardstick, keep: Path | None = None
) -> dict:
    """Train the class-conditional `recipe` from scratch for setup.epochs epochs in memory, with
    the average of G (decay 0.999) beside it, and measure both on setup.count images. With an exam,
    D sits it after every epoch (on the average's fakes, its batch norm refreshed as a full run's
    is), and the per-epoch rows are returned as "history". With `keep`, the average's weights are
    saved there (.npz), to measure later."""
    if not recipe["conditional"]:
        raise utils.ParameterError(_UNCONDITIONAL)
    run_settings = {**settings, "seed": seed, "train_seed": seed}
    import dcgan_balance as balance  # issue 27's candidates; Step 7's own run and step otherwise

    if balance_recipe(recipe):
        build, make_step = balance.build_balanced_run, balance.make_balanced_train_step
    else:
        build, make_step = lesson.build_conditional_run, lesson.make_conditional_train_step
    run = build({**recipe, "ema_decay": 0.999}, {}, run_settings)
    train_step = make_step(run)
    data = lesson.TrainingData((setup.images, setup.labels), setup.batch_size)
    rows = []
    for epoch in range(1, setup.epochs + 1):
        noise_std = lesson.instance_noise_at(recipe, epoch)
        batches = data.batches(seed, epoch)
        row = lesson.train_one_epoch(train_step, batches, noise_std, epoch, setup.epochs)
        if setup.exam is not None:
            lesson.refresh_batch_norm(run.ema_generator, seed)
            row.update(setup.exam.take(run, epoch), **balance.state_of(run))
        rows.append(row)
    lesson.refresh_batch_norm(run.ema_generator, seed)
    result = {
        "epochs": setup.epochs,
        "seconds_per_epoch": float(np.mean([row["seconds"] for row in rows])),
        "fake_acc": rows[-1]["fake_acc"],
        "generator": measure_sampler(run.generator, setup.count, seed, yardstick),
        "ema": measure_sampler(run.ema_generator, setup.count, seed, yardstick),
    }
    if setup.exam is not None:
        result["history"] = rows
    if keep is not None:
        utils.atomic_write_arrays(keep, run.ema_generator.get_weights())
    return result


def balance_recipe(recipe: dict) -> bool:
    """Whether `recipe` asks for one of issue 27's balancing candidates (dcgan_balance.py)."""
    return bool(recipe.get("lecam_weight", 0.0) or recipe.get("ada_target", 0.0))


_UNCONDITIONAL = (
    "the search trains Step 7's class-conditional recipes (put 'conditional+' first); the unconditional "
    "rows are shown as saved, and one that is not saved cannot be trained."
)


def measure_sampler(generator, count: int, seed: int, yardstick) -> dict:
    """Yardstick.metrics of `count` images; for a conditional G (image i asked as class i mod 10)
    also its label agreement, overall and per class, its mean per-class KID x1000, and its mean
    per-class FID when each class has enough images for one."""
    images = generate_images(generator, count, seed)
    if len(generator.inputs) == 1:
        return yardstick.metrics(images)
    asked = np.arange(count) % 10
    result, agreement = yardstick.measure(images, asked)
    result.update(label_agreement=agreement["overall"], class_agreement=agreement["per_class"])
    if count // 10 >= evaluation.per_class_minimum(yardstick):
        result["per_class_fid"] = float(np.mean(yardstick.per_class_fids(lambda c: images[asked == c])))
    if count // 10 >= 2:  # KID needs two images a class; unbiased at the search's 200
        result["per_class_kid"] = float(np.mean(yardstick.per_class_kids(lambda c: images[asked == c])))
    return result


# ------------------------------------------------------------ the cache ----
# training_history/candidate_search.json is {"rows": [row, ...]}; a row is {"recipe": name, "seed",
# "epochs", "settings": search_settings(), "precision": the precision it trained in, "result":
# short_run()'s numbers}. A run is done when a row has its recipe, seed, epochs and settings.
SEARCH_FILE = Path("training_history") / "candidate_search.json"
SETTINGS_KEYS = (
    "noise_dim", "width", "batch", "images", "gen_lr", "disc_lr", "beta_1", "beta_2", "real_label",
    "instance_noise", "noise_fade_epochs", "measured", "classifier_epochs", "classifier_seed",
)  # fmt: skip


def search_settings(base: dict, settings: dict, setup: SearchSetup, classifier: dict) -> dict:
    """Everything besides the recipe's name, seed and length that changes a short run's numbers:
    a change to any of them trains the run again."""
    values = (
        settings["noise_dim"], base["disc_filters"], setup.batch_size, len(setup.images), base["gen_lr"],
        base["disc_lr"], base["beta_1"], base["beta_2"], base["real_label"], base["instance_noise"],
        base["noise_fade_epochs"], setup.count, classifier["epochs"], classifier["seed"],
    )  # fmt: skip
    return dict(zip(SETTINGS_KEYS, values, strict=True))


# The keys of the file before its rows were structured (migrated by migrate_search), e.g.
# "baseline|42|3|noise 100, width 64, ..., classifier 12 epochs seed 42, mixed_bfloat16".
OLD_KEY = re.compile(
    r"(?P<recipe>[^|]+)\|(?P<seed>\d+)\|(?P<epochs>\d+)\|noise (?P<noise_dim>\d+), width (?P<width>\d+), "
    r"batch (?P<batch>\d+), (?P<images>\d+) images, lr (?P<gen_lr>[^/]+)/(?P<disc_lr>[^,]+), "
    r"betas (?P<beta_1>[^/]+)/(?P<beta_2>[^,]+), real label (?P<real_label>[^,]+), "
    r"instance noise (?P<instance_noise>\S+) over (?P<noise_fade_epochs>\d+) epochs, "
    r"(?P<measured>\d+) images measured, classifier (?P<classifier_epochs>\d+) epochs "
    r"seed (?P<classifier_seed>\d+), (?P<precision>\w+)"
)
_WHOLE = {"seed", "epochs", "noise_dim", "width", "batch", "images", "noise_fade_epochs", "measured"}
_WHOLE |= {"classifier_epochs", "classifier_seed"}


def migrate_search(old: dict) -> list[dict]:
    """The rows of a search file saved with string keys ({key: result}), in its order, each result
    as it was."""
    rows = []
    for key, result in old.items():
        match = OLD_KEY.fullmatch(key)
        if match is None:
            raise ValueError(f"search file key {key!r} is not one this code wrote")
        numbers = {
            name: text for name, text in match.groupdict().items() if name not in ("recipe", "precision")
        }
        value = {name: int(text) if name in _WHOLE else float(text) for name, text in numbers.items()}
        rows.append(
            {
                "recipe": match["recipe"],
                "seed": value["seed"],
                "epochs": value["epochs"],
                "settings": {name: value[name] for name in SETTINGS_KEYS},
                "precision": match["precision"],
                "result": result,
            }
        )
    return rows


def read_rows(path: str | Path) -> list[dict]:
    """The saved short runs of a search file ([] when there is none); a file of the old format is
    read through migrate_search, and written in the new one at the next save."""
    saved = utils.read_json(path)
    return saved["rows"] if "rows" in saved else migrate_search(saved)


def write_rows(path: str | Path, rows: list[dict]) -> None:
    utils.atomic_write_json(path, {"rows": rows})


def same_run(row: dict, recipe: str, seed: int, epochs: int, settings: dict) -> bool:
    return (row["recipe"], row["seed"], row["epochs"], row["settings"]) == (recipe, seed, epochs, settings)


def save_row(path: Path, row: dict) -> list[dict]:
    """Add `row` to the search file under its lock, re-read there (another kernel may have added
    rows meanwhile); a row of the same run in the same precision is replaced. Returns the rows."""
    with utils.locked(path):
        rows = read_rows(path)
        same = [
            i
            for i, saved in enumerate(rows)
            if same_run(saved, row["recipe"], row["seed"], row["epochs"], row["settings"])
            and saved["precision"] == row["precision"]
        ]
        if same:
            rows[same[0]] = row
        else:
            rows.append(row)
        write_rows(path, rows)
    return rows


def kept_generator(folder: str | Path, recipe: str, seed: int, epochs: int) -> Path:
    """Where a short run kept its average of G (SearchSetup.keep_generators)."""
    return Path(folder) / f"{recipe}@{seed}-{epochs}.npz"


def run_search(
    plan, base: dict, settings: dict, setup: SearchSetup, yardstick, output_dir, file: Path = SEARCH_FILE
) -> list[dict]:
    """Train every short run of `plan` not saved yet in output_dir/training_history/
    candidate_search.json (saved as each one ends, so an interrupted search continues where it
    stopped; setup.epochs = 0 trains none). Every name is checked before the first one trains; an
    unsaved unconditional run is skipped with one line, since only Step 7's recipes train. Returns
    the saved rows made with these settings: of this length, or of every length when setup.epochs
    is 0. A run measured in any precision counts as done; new ones use this machine's."""
    path, base = Path(output_dir) / file, step7_base(base)
    rows = read_rows(path)
    described = search_settings(base, settings, setup, yardstick.info)
    for name, _ in plan:
        _parts(name)  # an unknown name stops here, first
    missing = [
        (name, seed)
        for name, seed in plan
        if setup.epochs and not any(same_run(row, name, seed, setup.epochs, described) for row in rows)
    ]
    recipes = {name: make_recipe(name, base) for name, _ in missing}  # a retired one stops here
    unconditional = [(name, seed) for name, seed in missing if not recipes[name]["conditional"]]
    if unconditional:  # skipped, said once: the rest of the search still runs
        skipped = ", ".join(f"{name}@{seed}" for name, seed in unconditional)
        print(f"not trained: {skipped} at {setup.epochs} epochs ({_UNCONDITIONAL})")
        missing = [run for run in missing if run not in unconditional]
    if missing:
        precision = utils.choose_precision(setup.precision, utils.has_gpu(), utils.cpu_supports_bf16())
    for name, seed in missing:
        print(f"short run: {name}, seed {seed}, {precision}")
        run_settings = {**settings, "precision": precision}
        if setup.keep_generators is None:
            result = short_run(recipes[name], seed, setup, run_settings, yardstick)
        else:
            keep = kept_generator(setup.keep_generators, name, seed, setup.epochs)
            result = short_run(recipes[name], seed, setup, run_settings, yardstick, keep)
        row = {"recipe": name, "seed": seed, "epochs": setup.epochs, "settings": described}
        rows = save_row(path, {**row, "precision": precision, "result": result})
    return [row for row in rows if row["settings"] == described and setup.epochs in (0, row["epochs"])]


# ------------------------------------------------------------ what the search shows ----
def real_floor(yardstick, test_set: tuple, count: int, cas_ceiling: dict | None) -> dict:
    """The numbers of `count` real test images, the floor beside the short runs' in their tables:
    classifier-FID, recognizable share and effective classes, the classifier's accuracy on them
    (label agreement's ceiling), mean per-class KID and FID (each None with too few images of a
    class), and CAS's ceiling when measured (None otherwise)."""
    images, labels = test_set[0][:count], test_set[1][:count]
    metrics, agreement = yardstick.measure(images, labels)
    of_class = lambda c: images[labels == c]  # noqa: E731
    fewest = min(np.bincount(labels, minlength=10))  # a class's KID needs 2 images, its FID more
    return {
        **{key: metrics[key] for key in ("classifier_fid", "recognizable", "effective_classes")},
        "label_agreement": agreement["overall"],
        "per_class_kid": float(np.mean(yardstick.per_class_kids(of_class))) if fewest >= 2 else None,
        "per_class_fid": (
            float(np.mean(yardstick.per_class_fids(of_class)))
            if fewest >= evaluation.per_class_minimum(yardstick)
            else None
        ),
        "cas": None if cas_ceiling is None else cas_ceiling["overall"],
    }


def search_table(rows: list[dict], floor: dict | None = None) -> str:
    """A markdown table of the short runs, one row per recipe and seed. FIDs of G and of its
    average; recognizable and effective classes, label agreement and per-class FID and KID (rows
    measured before KID show "-") of the average; time per epoch against the
    baseline's in the same precision; with `floor` (real_floor), real test images' numbers last.
    Below it, one line for each retired candidate it shows."""
    if not rows:
        return "*No short runs saved yet for these settings: set SEARCH_EPOCHS above 0 to run the search.*"
    baseline_seconds = {}
    for row in rows:
        if row["recipe"] == "baseline":
            baseline_seconds.setdefault(row["precision"], []).append(row["result"]["seconds_per_epoch"])
    dash = utils.format_or_dash
    lines = [
        "| recipe | seed | epochs | FID of G | FID of its average | recognizable | effective classes "
        "| label agreement | per-class FID | per-class KID x1000 | fake acc | time per epoch | precision |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row["result"]
        g, ema = r["generator"], r["ema"]
        seconds = baseline_seconds.get(row["precision"])
        cost = (
            f"{r['seconds_per_epoch'] / np.mean(seconds):.2f}x"
            if seconds
            else f"{r['seconds_per_epoch']:.0f} s"
        )
        lines.append(
            f"| {row['recipe']} | {row['seed']} | {r['epochs']} | {g['classifier_fid']:.2f} | "
            f"{ema['classifier_fid']:.2f} | {ema['recognizable']:.1%} | {ema['effective_classes']:.2f} | "
            f"{dash(ema.get('label_agreement'), '.1%')} | {dash(ema.get('per_class_fid'), '.2f')} | "
            f"{dash(ema.get('per_class_kid'), '.0f')} | "
            f"{r['fake_acc']:.2f} | {cost} | {row['precision']} |"
        )
    if floor is not None:
        lines.append(
            f"| real test images (the floor) | - | - | - | {floor['classifier_fid']:.2f} | "
            f"{floor['recognizable']:.1%} | {floor['effective_classes']:.2f} | "
            f"{floor['label_agreement']:.1%} | {dash(floor.get('per_class_fid'), '.2f')} | "
            f"{dash(floor['per_class_kid'], '.2f')} | - | - | - |"
        )
    shown = {part for row in rows for part in row["recipe"].split("+")}
    notes = [
        f"- `{name}`: {why}. Its code is gone: its rows are shown as saved, never trained again."
        for name, why in RETIRED.items()
        if name in shown
    ]
    return "\n".join(lines + ([""] + notes if notes else []))


def seed_summary(rows: list[dict], name: str, epochs: int) -> dict:
    """Mean and spread (max - min) over seeds of a searched recipe's FID at `epochs`, each run
    measured by its average of G: like with like, whatever the full run samples from."""
    fids = [
        row["result"]["ema"]["classifier_fid"]
        for row in rows
        if row["recipe"] == searched_name(name) and row["epochs"] == epochs
    ]
    return {"seeds": len(fids), "mean": float(np.mean(fids)), "spread": float(np.ptp(fids))} if fids else {}


def search_decision(rows: list[dict], chosen: str, epochs: int) -> str:
    """One line: the chosen recipe against the baseline, and whether the gap beats both spreads."""
    if not epochs:
        return "SEARCH_EPOCHS is 0: the saved short runs are shown, no decision is drawn."
    base, lead = seed_summary(rows, "baseline", epochs), seed_summary(rows, chosen, epochs)
    if min(base.get("seeds", 0), lead.get("seeds", 0)) < 2:
        return f"{chosen}: needs two seeds of it and of the baseline at {epochs} epochs to decide."
    gap = base["mean"] - lead["mean"]
    verdict = "confirmed" if gap > max(base["spread"], lead["spread"]) else "not confirmed"
    return (
        f"{chosen}: mean FID {lead['mean']:.2f} (spread {lead['spread']:.2f}) against the baseline's "
        f"{base['mean']:.2f} (spread {base['spread']:.2f}), {lead['mean'] / base['mean']:.2f}x: "
        f"gap {gap:.2f}, {verdict}."
    )


# ------------------------------------------------------------ the label rule ----
LABEL_NUMBERS = ("label_agreement", "classifier_fid", "per_class_fid")  # of a run's average of G
# Issue 17's rule, fixed before its search: a candidate beats the reference recipe at a seed when
# its average of G meets each target against the reference's at the same seed and length.
LABEL_RULE = (
    evaluation.target(
        "label agreement at least {} above the reference's",
        "agreement {label_agreement:.1%} vs {reference_label_agreement:.1%}",
        evaluation.Check("label_agreement", ">=", 0.05, "reference_label_agreement", "plus"),
    ),
    evaluation.target(
        "classifier-FID <= {}x the reference's",
        "FID {classifier_fid:.2f} vs {reference_classifier_fid:.2f}",
        evaluation.Check("classifier_fid", "<=", 1.05, "reference_classifier_fid"),
    ),
    evaluation.target(
        "mean per-class FID <= {}x the reference's",
        "per-class FID {per_class_fid:.2f} vs {reference_per_class_fid:.2f}",
        evaluation.Check("per_class_fid", "<=", 1.10, "reference_per_class_fid"),
    ),
)


def label_numbers(rows: list[dict], name: str, reference: str, seed: int, epochs: int) -> dict:
    """The numbers LABEL_RULE judges: LABEL_NUMBERS of `name`'s average at this seed and length, and
    as reference_... the reference's; None where a run is not saved or did not measure one."""

    def measured(recipe: str) -> dict:
        run = (recipe, seed, epochs)
        found = [row["result"]["ema"] for row in rows if (row["recipe"], row["seed"], row["epochs"]) == run]
        return found[0] if found else {}

    mine, base = measured(name), measured(reference)
    return {key: mine.get(key) for key in LABEL_NUMBERS} | {
        f"reference_{key}": base.get(key) for key in LABEL_NUMBERS
    }


def label_verdict(numbers: dict) -> str:
    """LABEL_RULE on label_numbers(): "wins", "loses: " and what missed, or "not run" when a number
    is missing (a run not saved, or too small to measure every number)."""
    judged = evaluation.verdicts(numbers, LABEL_RULE)
    if any(row["met"] is None for row in judged):
        return "not run"
    misses = [row["measured"] for row in judged if not row["met"]]
    return "loses: " + "; ".join(misses) if misses else "wins"


def label_decision_text(rows: list[dict], chosen: str, others: str, epochs: int) -> str:
    """label_verdict of every recipe searched at a seed of its own ("name@seed" in `others`)
    against the reference, the chosen recipe without its label switches, at each of those seeds,
    one line per recipe."""
    reference = "+".join(part for part in searched_name(chosen).split("+") if part not in LABEL_SWITCHES)
    named = [(name, seed) for name, seed in named_seeds(others) if seed is not None]
    candidates = list(dict.fromkeys(name for name, _ in named if name != reference))
    seeds = sorted({seed for _, seed in named})
    if not candidates or not epochs:
        return "no label search at seeds of its own: nothing to decide."
    return "\n".join(
        f"{name} against {reference}: "
        + ", ".join(
            f"seed {seed} {label_verdict(label_numbers(rows, name, reference, seed, epochs))}"
            for seed in seeds
        )
        for name in candidates
    )
