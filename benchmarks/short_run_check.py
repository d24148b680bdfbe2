"""Does the current code train a saved short run as the code that saved it did?

Trains one short run of Step 7's search (by default the baseline, seed 42, 3 epochs, in
mixed_bfloat16, 2,000 images measured) with the notebook's own cells, in a scratch folder that
borrows the committed evaluation classifier, and prints its FIDs (of G and of its average) and
its final fake accuracy beside the row that training_history/candidate_search.json holds for the
same recipe, seed, length and settings. A GAN's trajectory depends on the CPU's arithmetic, so
compare on the CPU kind that made the saved row, or against the spread between saved seeds.

Usage: python benchmarks/short_run_check.py [--recipe baseline] [--seed 42] [--epochs 3]
                                            [--precision mixed_bfloat16] [--data DIR]
Run it alone: it trains for several minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from notebook_cells import run_all_cells  # noqa: E402
from scratch_folder import scratch_with_classifier  # noqa: E402

import dcgan_eval as evaluation  # noqa: E402
import dcgan_tools as tools  # noqa: E402
import dcgan_utils as utils  # noqa: E402


def saved_rows(recipe: str, epochs: int, precision: str) -> dict:
    """The committed short runs of this recipe, length and precision: {seed: row}."""
    search = utils.read_json(ROOT / "training_history" / "candidate_search.json")
    rows = {}
    for key, row in search.items():
        name, row_seed, row_epochs = key.split("|")[:3]
        if name == recipe and int(row_epochs) == epochs and key.endswith(f", {precision}"):
            rows[int(row_seed)] = row
    return rows


def row_text(label: str, row: dict) -> str:
    return (
        f"{label:<28} FID of G {row['generator']['classifier_fid']:6.2f}   "
        f"FID of its average {row['ema']['classifier_fid']:6.2f}   fake acc {row['fake_acc']:.4f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="baseline")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--data", default=str(ROOT / "data" / "cifar-10-batches-py"))
    args = parser.parse_args(argv)
    with scratch_with_classifier() as scratch:
        cells = run_all_cells(until="## Step 6", OUTPUT_DIR=scratch, DATA_DIR=args.data)
        yardstick = evaluation.Yardstick.load(
            scratch, args.data, cells["CLASSIFIER_EPOCHS"], cells["CLASSIFIER_SEED"]
        )
        setup = tools.SearchSetup(
            cells["train_images"], cells["train_labels"], cells["BATCH_SIZE"], args.epochs,
            cells["CURVE_IMAGES"], args.precision,
        )  # fmt: skip
        start = time.perf_counter()
        plan = [(args.recipe, args.seed)]
        found = tools.run_search(plan, cells["recipe"], cells["settings"], setup, yardstick, scratch)
        (row,) = found.values()
        minutes = (time.perf_counter() - start) / 60
    print(f"\n{args.recipe}, seed {args.seed}, {args.epochs} epochs, {args.precision} ({minutes:.1f} min)")
    print(row_text("trained now", row))
    for seed, saved in sorted(saved_rows(args.recipe, args.epochs, args.precision).items()):
        print(row_text(f"saved, seed {seed}", saved))


if __name__ == "__main__":
    main()
