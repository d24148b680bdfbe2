"""Training speed of the notebook's DCGAN against the course's design, on this machine.

Prints, in one run: images/s of the notebook's own `train_step` and of its whole epoch loop
(`train_one_epoch`: tf.data pipeline, metrics read every step, progress bar) on in-memory
synthetic data; the same two for the course's design (TensorFlow's DCGAN tutorial adapted to
32x32x3: 5x5 kernels, Dropout in D, batch 256, float32, Adam 1e-4); the FLOPs per image that
TensorFlow counts in each train step's graph, the achieved GFLOP/s and their share of a matmul
peak measured in the same run. Then the same for Step 7's recipes (by default the notebook's
IMPROVED_RECIPE), each with its cost per image against the baseline's (the target is 1.5x at
most). The last line is `speedup vs course design: X.XXx` (epoch loop against epoch loop).

Usage: python benchmarks/train_speed.py [--repeats 3] [--steps 12] [--precision auto]
                                        [--recipes diffaugment+ema wide_generator ...]
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402
from notebook_cells import load_definitions  # noqa: E402

import dcgan_utils as utils  # noqa: E402


def matmul_peak(dtype: tf.DType, size: int = 2048, reps: int = 8) -> float:
    """Best GFLOP/s of a square matmul in `dtype`."""
    a = tf.cast(tf.random.normal([size, size]), dtype)
    matmul = tf.function(tf.linalg.matmul)
    matmul(a, a).numpy()
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            result = matmul(a, a)
        result.numpy()
        best = max(best, reps * 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def graph_flops(step, batch: int) -> int:
    """Float operations TensorFlow counts in one call of `step` (a tf.function)."""
    graph = step.get_concrete_function(
        tf.TensorSpec([batch, 32, 32, 3], tf.float32), tf.TensorSpec([], tf.float32)
    ).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def time_steps(step, batch: int, steps: int, repeats: int) -> float:
    """Best images/s of `steps` calls of step on one in-memory batch (metrics read each call)."""
    images = tf.random.uniform([batch, 32, 32, 3], -1, 1)
    noise_std = tf.constant(0.0)
    for _ in range(2):
        step(images, noise_std).numpy()
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step(images, noise_std).numpy()
        best = max(best, steps * batch / (time.perf_counter() - start))
    return best


def time_epoch_loop(nb, step, batch: int, steps: int, repeats: int) -> float:
    """Best images/s of the notebook's train_one_epoch over `steps` batches of in-memory data."""
    pixels = np.random.default_rng(0).integers(0, 256, (steps * batch, 32, 32, 3), dtype=np.uint8)
    dataset = nb["make_dataset"](nb["scale_images"](pixels), batch, seed=0)
    best = 0.0
    for _ in range(repeats):
        with redirect_stdout(io.StringIO()):  # the progress bar, drawn but not shown
            row = nb["train_one_epoch"](step, dataset, steps, 0.0, 1, 1)
        best = max(best, row["images_per_sec"])
    return best


def course_models(noise_dim: int = 100):
    """The course's generator and discriminator (TensorFlow's DCGAN tutorial, 32x32x3)."""
    generator = keras.Sequential(
        [
            keras.Input((noise_dim,)),
            layers.Dense(8 * 8 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((8, 8, 256)),
            layers.Conv2DTranspose(128, 5, 1, "same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, 5, 2, "same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(3, 5, 2, "same", use_bias=False, activation="tanh"),
        ]
    )
    discriminator = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(64, 5, 2, "same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Conv2D(128, 5, 2, "same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1),
        ]
    )
    return generator, discriminator


def course_train_step(generator, discriminator, noise_dim: int = 100):
    """The tutorial's train step (two tapes, BCE on logits), returning the same 4 metrics."""
    gen_opt, disc_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def train_step(real_images, instance_noise):
        noise = tf.random.normal([tf.shape(real_images)[0], noise_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            fake_images = generator(noise, training=True)
            real_logits = discriminator(real_images, training=True)
            fake_logits = discriminator(fake_images, training=True)
            gen_loss = bce(tf.ones_like(fake_logits), fake_logits)
            disc_loss = bce(tf.ones_like(real_logits), real_logits) + bce(
                tf.zeros_like(fake_logits), fake_logits
            )
        gen_vars, disc_vars = generator.trainable_variables, discriminator.trainable_variables
        gen_opt.apply_gradients(zip(gen_tape.gradient(gen_loss, gen_vars), gen_vars, strict=True))
        disc_opt.apply_gradients(zip(disc_tape.gradient(disc_loss, disc_vars), disc_vars, strict=True))
        real_acc = tf.reduce_mean(tf.cast(real_logits > 0, tf.float32))
        fake_acc = tf.reduce_mean(tf.cast(fake_logits < 0, tf.float32))
        return tf.stack([gen_loss, disc_loss, real_acc, fake_acc])

    return train_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is kept")
    parser.add_argument("--steps", type=int, default=12, help="train steps per timed repeat")
    parser.add_argument("--precision", default="auto", choices=utils.PRECISIONS)
    parser.add_argument("--recipes", nargs="*", help="Step 7 recipes to time (default: IMPROVED_RECIPE)")
    args = parser.parse_args()

    nb = load_definitions()
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    has_bf16 = utils.cpu_supports_bf16()
    precision = utils.choose_precision(args.precision, has_gpu, has_bf16)
    batch, noise_dim, filters = nb["BATCH_SIZE"], nb["NOISE_DIM"], nb["BASE_FILTERS"]
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs, GPU: {has_gpu}")
    print(f"bf16 in CPU flags: {has_bf16}, notebook precision: {precision}")

    peaks = {"float32": matmul_peak(tf.float32), "bfloat16": matmul_peak(tf.bfloat16)}
    print(f"matmul peak: float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s")

    # The notebook's design, exactly as its parameters cell sets it up.
    generator = nb["build_generator"](noise_dim, filters, precision)
    discriminator = nb["build_discriminator"](filters, precision)
    gen_opt, disc_opt = nb["make_optimizers"](
        nb["GEN_LR"], nb["DISC_LR"], nb["BETA_1"], nb["BETA_2"], precision
    )
    rng = tf.random.Generator.from_seed(0)
    models = (generator, discriminator, gen_opt, disc_opt, rng, noise_dim, nb["REAL_LABEL"])
    step = nb["make_train_step"](*models, nb["JIT_COMPILE"])
    # TensorFlow's profiler counts the FLOPs of the plain (not XLA-compiled) graph of the same step.
    flops = graph_flops(nb["make_train_step"](*models, False), batch)
    ours_step = time_steps(step, batch, args.steps, args.repeats)
    ours_loop = time_epoch_loop(nb, step, batch, args.steps, args.repeats)

    course_g, course_d = course_models(noise_dim)
    course_step_fn = course_train_step(course_g, course_d, noise_dim)
    course_batch = 256
    course_flops = graph_flops(course_step_fn, course_batch)
    course_steps = max(2, args.steps // 2)
    course_step = time_steps(course_step_fn, course_batch, course_steps, args.repeats)
    course_loop = time_epoch_loop(nb, course_step_fn, course_batch, course_steps, args.repeats)

    peak = peaks["bfloat16" if precision == "mixed_bfloat16" else "float32"]
    rows = [
        (
            f"notebook (4x4, width {filters}, batch {batch}, {precision}, XLA {nb['JIT_COMPILE']})",
            flops / batch,
            ours_step,
            ours_loop,
        ),
        (
            "course (5x5, batch 256, float32, Adam 1e-4)",
            course_flops / course_batch,
            course_step,
            course_loop,
        ),
    ]
    for name, flops_per_image, step_speed, loop_speed in rows:
        gflops = flops_per_image * step_speed / 1e9
        print(f"{name}:")
        print(f"  FLOPs per image per train step (TensorFlow's graph count): {flops_per_image / 1e6:.0f} M")
        print(f"  train_step alone: {step_speed:.0f} images/s = {gflops:.0f} GFLOP/s")
        print(f"  epoch loop:       {loop_speed:.0f} images/s ({loop_speed / step_speed:.0%} of train_step)")
    ours_gflops = flops / batch * ours_step / 1e9
    print(
        f"notebook train_step: {ours_gflops / peak:.0%} of the {precision} matmul peak, "
        f"{ours_gflops / peaks['bfloat16']:.0%} of the bfloat16 matmul peak"
    )
    print(f"train_step speedup vs course design: {ours_step / course_step:.2f}x")

    # Step 7's recipes, through the improved train step, against the baseline's loop.
    base = nb["baseline_recipe"](
        filters,
        nb["REAL_LABEL"],
        nb["INSTANCE_NOISE"],
        nb["GEN_LR"],
        nb["DISC_LR"],
        nb["BETA_1"],
        nb["BETA_2"],
    )
    for name in args.recipes or [nb["IMPROVED_RECIPE"]]:
        recipe = nb["make_recipe"](name, base, nb["candidate_changes"](filters))
        g, d, ema = nb["build_gan"](recipe, noise_dim, precision, with_ema=recipe["ema_decay"] > 0)
        opts = nb["make_optimizers"](
            recipe["gen_lr"], recipe["disc_lr"], recipe["beta_1"], recipe["beta_2"], precision
        )
        parts = (recipe, g, d, *opts, tf.random.Generator.from_seed(0), noise_dim)
        improved = nb["make_improved_train_step"](*parts, nb["JIT_COMPILE"], ema, recipe["ema_decay"])
        recipe_flops = graph_flops(
            nb["make_improved_train_step"](*parts, False, ema, recipe["ema_decay"]), batch
        )
        recipe_step = time_steps(improved, batch, args.steps, args.repeats)
        recipe_loop = time_epoch_loop(nb, improved, batch, args.steps, args.repeats)
        print(f"recipe {name}: {recipe_flops / batch / 1e6:.0f} M FLOPs per image")
        print(f"  train_step alone: {recipe_step:.0f} images/s, epoch loop: {recipe_loop:.0f} images/s")
        print(f"  cost per epoch vs baseline: {ours_loop / recipe_loop:.2f}x (target: 1.50x at most)")
    print(f"speedup vs course design: {ours_loop / course_loop:.2f}x")


if __name__ == "__main__":
    main()
