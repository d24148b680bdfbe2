"""The epoch loop's own cost, issue 26: the notebook's `train_one_epoch`, which keeps the metric
sums on the device and reads them every 25 steps, against the loop it replaced, which read every
step's metrics on the host (`.numpy()`) and checked them there. Both run the notebook's baseline
train step in this machine's precision on the same in-memory batches; the runs are interleaved
(new, old, new, old, ...) so that a slow spell of the shared host falls on both, and the medians
are compared as a ratio. On a CPU the step dominates and both should match; the gain the change is
for, on a GPU, is not measured here.

Usage: python benchmarks/epoch_loop.py [--runs 5] [--steps 60] [--precision auto]
Run it alone: anything else on the two cores skews the numbers.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import tensorflow as tf  # noqa: E402
from train_speed import baseline_recipe, notebook_parameters, notebook_run  # noqa: E402

import dcgan_lesson  # noqa: E402
import dcgan_utils as utils  # noqa: E402


def host_read_loop(train_step, batches, noise_std: float) -> float:
    """The loop before issue 26 (its progress bar left out): every step's metrics read on the
    host and checked there. Returns images per second."""
    instance_noise, sums, images = tf.constant(noise_std, tf.float32), np.zeros(len(utils.METRIC_NAMES)), 0
    start = time.perf_counter()
    for step, batch in enumerate(batches, start=1):
        metrics = train_step(batch, instance_noise).numpy()
        utils.check_finite(metrics, 1, step)
        sums, images = sums + metrics, images + len(batch)
    return images / (time.perf_counter() - start)


def device_sum_loop(train_step, batches, noise_std: float) -> float:
    """The notebook's train_one_epoch, its progress bar drawn but not shown. Images per second."""
    with redirect_stdout(io.StringIO()):
        return dcgan_lesson.train_one_epoch(train_step, batches, noise_std, 1, 1)["images_per_sec"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each loop, interleaved")
    parser.add_argument("--steps", type=int, default=60, help="train steps per run")
    parser.add_argument("--precision", default="auto", choices=utils.PRECISIONS)
    args = parser.parse_args()
    parameters = notebook_parameters()
    precision = utils.choose_precision(args.precision, utils.has_gpu(), utils.cpu_supports_bf16())
    _, train_step = notebook_run(vars(dcgan_lesson), parameters, baseline_recipe(parameters), precision)
    batch = parameters["BATCH_SIZE"]
    pixels = np.random.default_rng(0).integers(0, 256, (args.steps * batch, 32, 32, 3), dtype=np.uint8)
    data = dcgan_lesson.TrainingData(dcgan_lesson.scale_images(pixels), batch)
    loops = {"device sums, read every 25 steps": device_sum_loop, "host read every step": host_read_loop}
    speeds, cpu_speeds = {name: [] for name in loops}, {name: [] for name in loops}
    for _, loop in loops.items():  # warm-up: tracing and the first epoch's caches
        loop(train_step, data.batches(0, 0), 0.0)
    for run in range(1, args.runs + 1):
        for name, loop in loops.items():
            cpu_start = time.process_time()
            speeds[name].append(loop(train_step, data.batches(0, run), 0.0))
            cpu_speeds[name].append(args.steps * batch / (time.process_time() - cpu_start))
    print(f"{utils.device_name()}, {precision}, ", end="")
    print(f"batch {batch}, {args.steps} steps a run, {args.runs} runs each, interleaved")
    for name, values in speeds.items():
        runs = ", ".join(f"{value:.0f}" for value in values)
        print(f"  {name}: median {np.median(values):.0f} images/s (runs: {runs})")
    new, old = (np.median(values) for values in speeds.values())
    print(f"ratio of medians, new / old: {new / old:.3f} (target: at least 0.95)")
    best_new, best_old = (max(values) for values in speeds.values())
    print(f"ratio of the best runs, new / old: {best_new / best_old:.3f}")
    cpu_new, cpu_old = (np.median(values) for values in cpu_speeds.values())
    print("images per CPU-second (both cores; blind to time the host takes away), medians: ", end="")
    print(f"new {cpu_new:.0f}, ", end="")
    print(f"old {cpu_old:.0f}, ratio {cpu_new / cpu_old:.3f}")


if __name__ == "__main__":
    main()
