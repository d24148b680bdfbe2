"""The baseline's short run trained by the code that saved the committed search rows (071c964).

That code lived in the notebook's cells (before the lesson layout and dcgan_lesson.py). This
script runs those cells, from a checkout of 071c964, up to the definition of `short_run` (it
skips the cells that open and train the 50-epoch run), then trains the baseline's short run of
one seed and prints what benchmarks/short_run_check.py prints for the current code. Together they
say whether the current code trains as the old one did on this machine.

Usage (from the project's root):
    git worktree add /tmp/code-071c964 071c964
    python benchmarks/old_code_short_run.py /tmp/code-071c964 [--seed 42] [--epochs 3]
    git worktree remove /tmp/code-071c964
Run it alone: it trains for several minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from scratch_folder import scratch_with_classifier

ROOT = Path(__file__).resolve().parents[1]
OPEN_AND_TRAIN = range(51, 60)  # 071c964's cells that open the 50-epoch run, train it and show it
LAST_DEFINITION = 85  # 071c964's cell that defines short_run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", help="a checkout of commit 071c964")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data", default=str(ROOT / "data" / "cifar-10-batches-py"))
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    checkout = Path(args.checkout).resolve()
    sys.path.insert(0, str(checkout))
    os.chdir(checkout)
    cells = json.loads((checkout / "dcgan_cifar10.ipynb").read_text())["cells"]
    with scratch_with_classifier() as scratch:
        ns: dict = {"__name__": "__main__"}
        for i, cell in enumerate(cells[: LAST_DEFINITION + 1]):
            if cell["cell_type"] != "code" or i in OPEN_AND_TRAIN:
                continue
            exec(compile("".join(cell["source"]), f"071c964-cell-{i}", "exec"), ns)
            if i == 2:  # the parameters cell
                ns.update(OUTPUT_DIR=scratch, DATA_DIR=args.data, PRECISION="mixed_bfloat16")
                ns.update(INCEPTION_WEIGHTS="")
        recipe = ns["make_recipe"]("baseline", ns["base_recipe"], ns["candidates"])
        start = time.perf_counter()
        row = ns["short_run"](
            recipe, args.seed, args.epochs, ns["EPOCHS"], ns["train_images"], ns["BATCH_SIZE"],
            ns["NOISE_DIM"], ns["improved_precision"], ns["JIT_COMPILE"], ns["classifier"],
            ns["reference_features"], ns["CURVE_IMAGES"],
        )  # fmt: skip
    minutes = (time.perf_counter() - start) / 60
    precision = ns["improved_precision"]
    print(f"\nbaseline, seed {args.seed}, {args.epochs} epochs, {precision} ({minutes:.1f} min)")
    print(
        f"{'071c964':<28} FID of G {row['generator']['classifier_fid']:6.2f}   "
        f"FID of its average {row['ema']['classifier_fid']:6.2f}   fake acc {row['fake_acc']:.4f}"
    )


if __name__ == "__main__":
    main()
