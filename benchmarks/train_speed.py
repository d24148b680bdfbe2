"""Training speed of the notebook's DCGAN against the course's design, on this machine.

Prints, in one run: images/s of the notebook's own `train_step` and of its epoch loop
(`train_one_epoch`: tf.data pipeline, metrics summed on the device, progress bar) on in-memory
synthetic data, and the seconds of a whole epoch of 50,000 images as the notebook runs it (the
loop, then the sample grid, the history graph and the checkpoint); the same for the course's design
(TensorFlow's DCGAN tutorial adapted to 32x32x3: 5x5 kernels, Dropout in D, batch 256, Adam 1e-4).
Both designs are timed in float32 and in this machine's automatic precision, so the design's gain
is shown in the same precision, apart from the total gain. FLOPs are the work a train step
executes, counted by hand from the layers' shapes (forward, weight gradients, input gradients), and
their rate is set against a matmul peak measured in the same run. Then the same for Step 7's
class-conditional recipes (by default the notebook's STEP7_RECIPE), through their own run and train
step, each with its cost per image against the baseline's in the same precision (the target is 1.5x
at most).

Usage: python benchmarks/train_speed.py [--repeats 3] [--steps 12] [--precision auto]
                                        [--recipes conditional+ema conditional+diffaugment ...]
Run it alone: anything else on the two cores skews the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import sys
import tempfile
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

import dcgan_lesson  # noqa: E402
import dcgan_search as search  # noqa: E402
import dcgan_utils as utils  # noqa: E402
from dcgan_tools import baseline_recipe, notebook_parameters  # noqa: E402


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


def layer_flops(layer) -> int:
    """FLOPs (2 per multiply-add) of one forward pass of a Dense, Conv2D or Conv2DTranspose layer,
    per image; 0 for other layers (their elementwise work is small beside these)."""
    if isinstance(layer, layers.Conv2DTranspose):  # each input pixel scatters a k x k x out block
        _, height, width, channels_in = layer.input.shape
        kernel_h, kernel_w = layer.kernel_size
        return 2 * height * width * channels_in * kernel_h * kernel_w * layer.filters
    if isinstance(layer, layers.Conv2D):  # each output pixel gathers a k x k x in block
        _, height, width, channels_out = layer.output.shape
        kernel_h, kernel_w = layer.kernel_size
        return 2 * height * width * channels_out * kernel_h * kernel_w * layer.input.shape[-1]
    if isinstance(layer, layers.Dense):
        return 2 * layer.input.shape[-1] * layer.units
    return 0


def model_flops(model) -> list[int]:
    """Forward FLOPs per image of each counted layer of a model, input to output."""
    return [flops for flops in map(layer_flops, model.layers) if flops]


def step_flops(generator, discriminator, judged_batches: int = 2) -> int:
    """FLOPs per image that one GAN train step executes. Each layer's backward pass costs its
    forward twice over: the weight gradient, and the input gradient (not needed below the first
    layer). D judges `judged_batches` batches per image (reals and fakes), each forward and
    backward for D's loss; G's loss goes back once more through D on the
    fakes, to the images, and then through G."""
    g, d = model_flops(generator), model_flops(discriminator)
    generator_work = 2 * sum(g) + sum(g[1:])
    discriminator_work = judged_batches * (2 * sum(d) + sum(d[1:])) + sum(d)
    return generator_work + discriminator_work


def fake_batch(batch: int, conditional: bool):
    images = tf.random.uniform([batch, 32, 32, 3], -1, 1)
    return (images, tf.range(batch) % 10) if conditional else images


def time_steps(step, batch: int, steps: int, repeats: int, conditional: bool = False) -> float:
    """Best images/s of `steps` calls of step on one in-memory batch (metrics read each call)."""
    data, noise_std = fake_batch(batch, conditional), tf.constant(0.0)
    for _ in range(2):
        step(data, noise_std).numpy()
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step(data, noise_std).numpy()
        best = max(best, steps * batch / (time.perf_counter() - start))
    return best


def time_epoch_loop(nb, train_step, batch: int, steps: int, repeats: int, conditional: bool = False) -> float:
    """Best images/s of the notebook's train_one_epoch with `train_step` over `steps` batches of
    in-memory data (with labels for a conditional step)."""
    pixels = np.random.default_rng(0).integers(0, 256, (steps * batch, 32, 32, 3), dtype=np.uint8)
    images = nb["scale_images"](pixels)
    elements = (images, (np.arange(steps * batch) % 10).astype("int32")) if conditional else images
    data = nb["TrainingData"](elements, batch)
    best = 0.0
    for _ in range(repeats):
        with redirect_stdout(io.StringIO()):  # the progress bar, drawn but not shown
            row = nb["train_one_epoch"](train_step, data.batches(0, 1), 0.0, 1, 1)
        best = max(best, row["images_per_sec"])
    return best


def epoch_hooks_seconds(nb, run, repeats: int) -> float:
    """Best seconds of what the notebook does after each epoch's batches: the run's end-of-epoch
    work (for Step 7's run, the average's batch-norm refresh and its class grid) and a checkpoint,
    then the 16-seed grid and the history graph (of 50 epochs)."""
    best = float("inf")
    with tempfile.TemporaryDirectory() as folder:
        run = dataclasses.replace(run, paths=utils.make_run_paths(folder, "benchmark"))
        run.manager = nb["make_checkpoint"](run)
        run.seeds = utils.load_or_make_seeds(run.paths["seeds"], 16, run.settings["noise_dim"], 0)
        run.history = [dict(dict.fromkeys(utils.HISTORY_KEYS, 1.0), epoch=e) for e in range(1, 51)]
        run.manager.checkpoint.epoch.assign(50)
        for _ in range(repeats):
            start = time.perf_counter()
            nb["end_of_epoch"](run, 50, 50)  # the last epoch: its checkpoint is saved
            nb["draw_epoch"](run, 50)  # no snapshot: snapshot_every is 0
            best = min(best, time.perf_counter() - start)
    return best


def course_models(precision: str, noise_dim: int = 100):
    """The course's generator and discriminator (TensorFlow's DCGAN tutorial, 32x32x3), built
    under `precision` as the global policy (the tutorial sets no dtypes of its own)."""
    keras.mixed_precision.set_global_policy(precision)
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
    keras.mixed_precision.set_global_policy("float32")
    return generator, discriminator


def course_train_step(generator, discriminator, noise_dim: int = 100):
    """The tutorial's train step (two tapes, BCE on logits), returning the notebook's metrics."""
    gen_opt, disc_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def train_step(real_images, instance_noise):
        noise = tf.random.normal([tf.shape(real_images)[0], noise_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            fake_images = generator(noise, training=True)
            real_logits = tf.cast(discriminator(real_images, training=True), tf.float32)
            fake_logits = tf.cast(discriminator(fake_images, training=True), tf.float32)
            gen_loss = bce(tf.ones_like(fake_logits), fake_logits)
            disc_loss = bce(tf.ones_like(real_logits), real_logits) + bce(
                tf.zeros_like(fake_logits), fake_logits
            )
        gen_vars, disc_vars = generator.trainable_variables, discriminator.trainable_variables
        gen_opt.apply_gradients(zip(gen_tape.gradient(gen_loss, gen_vars), gen_vars, strict=True))
        disc_opt.apply_gradients(zip(disc_tape.gradient(disc_loss, disc_vars), disc_vars, strict=True))
        real_acc = tf.reduce_mean(tf.cast(real_logits > 0, tf.float32))
        fake_acc = tf.reduce_mean(tf.cast(fake_logits < 0, tf.float32))
        fake_acc_course = tf.reduce_mean(tf.cast(fake_logits < 0.5, tf.float32))
        return tf.stack([gen_loss, disc_loss, real_acc, fake_acc, fake_acc_course])

    return train_step


def notebook_run(nb, parameters: dict, recipe: dict, precision: str):
    """The run of `recipe` in `precision` (no files) and its compiled train step, as the notebook
    builds them: a GANRun and make_train_step, or for a Step 7 recipe a ConditionalGANRun and
    make_conditional_train_step."""
    settings = {
        "noise_dim": parameters["NOISE_DIM"], "precision": precision, "seed": 0, "train_seed": 0,
        "jit": parameters["JIT_COMPILE"], "checkpoint_every": 5, "snapshot_every": 0,
    }  # fmt: skip
    if recipe.get("conditional"):
        run = nb["build_conditional_run"](recipe, {}, settings)
        return run, nb["make_conditional_train_step"](run)
    run = nb["build_gan_run"](recipe, {}, settings)
    return run, nb["make_train_step"](run)


def report(name: str, flops: int, step_speed: float, loop_speed: float, hooks: float, peak: float) -> None:
    """The lines of one design in one precision."""
    gflops = flops * step_speed / 1e9
    epoch = 50_000 / loop_speed + hooks
    print(f"{name}:")
    print(f"  FLOPs executed per image per train step (by hand from the layers): {flops / 1e6:.0f} M")
    print(
        f"  train_step alone: {step_speed:.0f} images/s = {gflops:.0f} GFLOP/s "
        f"({gflops / peak:.0%} of the matmul peak)"
    )
    print(f"  epoch loop:       {loop_speed:.0f} images/s ({loop_speed / step_speed:.0%} of train_step)")
    print(
        f"  a whole epoch of 50,000 images: {epoch:.0f} s (batches {epoch - hooks:.0f} s, "
        f"then grid, graph and checkpoint {hooks:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is kept")
    parser.add_argument("--steps", type=int, default=12, help="train steps per timed repeat")
    parser.add_argument("--precision", default="auto", choices=utils.PRECISIONS)
    parser.add_argument("--recipes", nargs="*", help="Step 7 recipes to time (default: STEP7_RECIPE)")
    args = parser.parse_args()

    nb, parameters = vars(dcgan_lesson), notebook_parameters()
    names = args.recipes or [parameters["STEP7_RECIPE"]]
    recipes = {name: search.make_recipe(name, baseline_recipe(parameters)) for name in names}
    unconditional = [name for name, recipe in recipes.items() if not recipe["conditional"]]
    if unconditional:  # checked before anything is timed
        parser.error(f"Step 7's recipes are class-conditional: put 'conditional+' first in {unconditional}")
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    has_bf16 = utils.cpu_supports_bf16()
    auto = utils.choose_precision(args.precision, has_gpu, has_bf16)
    batch, noise_dim, filters = parameters["BATCH_SIZE"], parameters["NOISE_DIM"], parameters["BASE_FILTERS"]
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs, GPU: {has_gpu}")
    print(f"bf16 in CPU flags: {has_bf16}, notebook precision: {auto}")
    peaks = {"float32": matmul_peak(tf.float32), "bfloat16": matmul_peak(tf.bfloat16)}
    print(f"matmul peak: float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s")

    loops = {}  # (design, precision) -> epoch loop images/s
    for precision in dict.fromkeys(["float32", auto]):
        peak = peaks["bfloat16" if precision == "mixed_bfloat16" else "float32"]
        run, train_step = notebook_run(nb, parameters, baseline_recipe(parameters), precision)
        flops = step_flops(run.generator, run.discriminator)
        speed = time_steps(train_step, batch, args.steps, args.repeats)
        loops["notebook", precision] = time_epoch_loop(nb, train_step, batch, args.steps, args.repeats)
        hooks = epoch_hooks_seconds(nb, run, args.repeats)
        name = f"notebook (4x4, width {filters}, batch {batch}, {precision}, XLA {parameters['JIT_COMPILE']})"
        report(name, flops, speed, loops["notebook", precision], hooks, peak)

        course_g, course_d = course_models(precision, noise_dim)
        course_step = course_train_step(course_g, course_d, noise_dim)
        course_steps = max(2, args.steps // 2)
        speed = time_steps(course_step, 256, course_steps, args.repeats)
        loops["course", precision] = time_epoch_loop(nb, course_step, 256, course_steps, args.repeats)
        # The course's grid; the same graph and checkpoint.
        hooks = epoch_hooks_seconds(nb, dataclasses.replace(run, generator=course_g), args.repeats)
        report(f"course (5x5, batch 256, {precision}, Adam 1e-4)", step_flops(course_g, course_d), speed,
               loops["course", precision], hooks, peak)  # fmt: skip
    for precision in dict.fromkeys(["float32", auto]):
        gain = loops["notebook", precision] / loops["course", precision]
        print(f"design gain, both in {precision} (epoch loop): {gain:.2f}x")

    # Step 7's recipes, through their own run and train step, against the baseline's loop.
    for name, recipe in recipes.items():
        run, train_step = notebook_run(nb, parameters, recipe, auto)
        recipe_step = time_steps(train_step, batch, args.steps, args.repeats, conditional=True)
        recipe_loop = time_epoch_loop(nb, train_step, batch, args.steps, args.repeats, conditional=True)
        print(
            f"recipe {name} ({auto}): "
            f"{step_flops(run.generator, run.discriminator) / 1e6:.0f} M FLOPs per image"
        )
        print(f"  train_step alone: {recipe_step:.0f} images/s, epoch loop: {recipe_loop:.0f} images/s")
        print(
            f"  cost per epoch vs baseline: {loops['notebook', auto] / recipe_loop:.2f}x "
            "(target: 1.50x at most)"
        )
    total = loops["notebook", auto] / loops["course", "float32"]
    print(f"total gain, the notebook in {auto} against the course in float32 (epoch loop): {total:.2f}x")
    print(f"speedup vs course design: {total:.2f}x")


if __name__ == "__main__":
    main()
