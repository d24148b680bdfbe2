"""Does the current code train a saved short run as the code that saved it did?

Trains one short run of Step 7's search (a class-conditional recipe, the only kind it trains; by
default `conditional`, seed 42, 10 epochs, in mixed_bfloat16, 2,000 images measured) with the
notebook's own cells, in a scratch folder that borrows the committed evaluation classifier, and
prints its FIDs (of G and of its average) and its final fake accuracy beside the row that
training_history/candidate_search.json holds for the same recipe, seed, length and settings. A
GAN's trajectory depends on the CPU's arithmetic, so compare on the CPU kind that made the saved
row, or against the spread between saved seeds.

Usage: python benchmarks/short_run_check.py [--recipe conditional] [--seed 42] [--epochs 10]
                                            [--precision mixed_bfloat16] [--data DIR]
Run it alone: it trains for about 20 minutes on two cores.
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
import dcgan_search as search  # noqa: E402


def saved_rows(recipe: str, epochs: int, precision: str) -> dict:
    """The committed short runs of this recipe, length and precision: {seed: measured numbers}."""
    return {
        row["seed"]: row["result"]
        for row in search.read_rows(ROOT / search.SEARCH_FILE)
        if (row["recipe"], row["epochs"], row["precision"]) == (recipe, epochs, precision)
    }


def row_text(label: str, row: dict) -> str:
    return (
        f"{label:<28} FID of G {row['generator']['classifier_fid']:6.2f}   "
        f"FID of its average {row['ema']['classifier_fid']:6.2f}   fake acc {row['fake_acc']:.4f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="conditional")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--data", default=str(ROOT / "data" / "cifar-10-batches-py"))
    args = parser.parse_args(argv)
    with scratch_with_classifier() as scratch:
        cells = run_all_cells(until="## Step 6", OUTPUT_DIR=scratch, DATA_DIR=args.data)
        yardstick = evaluation.Yardstick.load(
            scratch, args.data, cells["CLASSIFIER_EPOCHS"], cells["CLASSIFIER_SEED"]
        )
        setup = search.SearchSetup(
            cells["train_images"], cells["train_y"], cells["BATCH_SIZE"], args.epochs,
            cells["CURVE_IMAGES"], args.precision,
        )  # fmt: skip
        start = time.perf_counter()
        plan = [(args.recipe, args.seed)]
        (found,) = search.run_search(plan, cells["recipe"], cells["settings"], setup, yardstick, scratch)
        row = found["result"]
        minutes = (time.perf_counter() - start) / 60
    print(f"\n{args.recipe}, seed {args.seed}, {args.epochs} epochs, {args.precision} ({minutes:.1f} min)")
    print(row_text("trained now", row))
    for seed, saved in sorted(saved_rows(args.recipe, args.epochs, args.precision).items()):
        print(row_text(f"saved, seed {seed}", saved))


if __name__ == "__main__":
    main()
