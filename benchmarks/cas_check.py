"""The Classification Accuracy Score of the committed Step 7 runs and its real-image ceiling
(issue 27, item 3), measured once by hand before it joins the yardstick: the notebook's classifier
architecture trained from scratch for CLASSIFIER_EPOCHS on 10,000 images of a run (image i asked
as class i mod 10), or on 1,000 real training images a class, and tested on the real test split.

Usage: python benchmarks/cas_check.py [--runs conditional_ac conditional_ac_seed43] [--data-dir DIR]
Prints overall and per-class accuracy, and each run's ratio to the ceiling. Run it alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dcgan_eval as evaluation  # noqa: E402
import dcgan_reports as reports  # noqa: E402
import dcgan_utils as utils  # noqa: E402
from dcgan_tools import notebook_parameters  # noqa: E402


def line(name: str, score: dict, seconds: float) -> str:
    per_class = " ".join(
        f"{c[:4]} {a:.2f}" for c, a in zip(utils.CIFAR10_CLASSES, score["per_class"], strict=True)
    )
    return f"{name}: {score['overall']:.4f} ({score['images']} images, {seconds:.0f} s); {per_class}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", nargs="*", default=["conditional_ac", "conditional_ac_seed43"])
    parser.add_argument("--data-dir", default="data/cifar-10-batches-py")
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    p = notebook_parameters()
    epochs, seed = p["CLASSIFIER_EPOCHS"], p["CLASSIFIER_SEED"]
    train, test = utils.load_cifar10(args.data_dir, "train"), utils.load_cifar10(args.data_dir, "test")
    start = time.perf_counter()
    ceiling = evaluation.classification_accuracy_score(
        *evaluation.balanced_real_subset(*train, args.count // 10), test, epochs, seed
    )
    print(line("real training images (the ceiling)", ceiling, time.perf_counter() - start), flush=True)
    for name in args.runs:
        start = time.perf_counter()
        generator = reports.load_run_generator(utils.make_run_paths(ROOT, name))[0]
        score = reports.generator_cas(
            generator, {"epochs": epochs, "seed": seed}, test, args.count, p["SEED"]
        )
        print(
            line(name, score, time.perf_counter() - start),
            f"-> {score['overall'] / ceiling['overall']:.3f}x the ceiling",
            flush=True,
        )


if __name__ == "__main__":
    main()
