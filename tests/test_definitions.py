"""The notebook's own functions (its `#| export` cells, as dcgan_lesson.py) on known inputs."""

import json
import shutil
import subprocess
import sys

import imageio.v3 as iio
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, tiny_run, tiny_step7_recipe
from PIL import Image

import dcgan_eval as evaluation
import dcgan_utils as utils

NOISE_DIM, FILTERS = 16, 8


@pytest.fixture
def models(nb):
    generator = nb["build_generator"](NOISE_DIM, FILTERS, "float32")
    discriminator = nb["build_discriminator"](FILTERS, "float32")
    return generator, discriminator


def test_scaling_round_trip(nb):
    pixels = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    scaled = nb["scale_images"](pixels)
    assert scaled.dtype == np.float32
    assert scaled.min() == -1.0 and scaled.max() == 1.0
    assert np.array_equal(nb["to_uint8"](scaled), pixels)
    assert nb["to_uint8"](np.array([-3.0, 3.0])).tolist() == [0, 255]  # clipped


def test_dataset_batches_and_range(nb):
    images = nb["scale_images"](np.random.default_rng(0).integers(0, 256, (50, 32, 32, 3), dtype=np.uint8))
    data = nb["TrainingData"](images, 16)
    batches = list(data.batches(seed=1, epoch=1))
    assert len(batches) == data.steps == 3  # the remainder of 2 is dropped: every batch has one shape
    assert all(b.shape == (16, 32, 32, 3) for b in batches)
    assert min(float(tf.reduce_min(b)) for b in batches) >= -1.0
    with pytest.raises(utils.ParameterError):
        nb["TrainingData"](images, 51)
    # Step 7's (images, labels), shuffled together: each image keeps its own label.
    indices = np.arange(50)
    pairs = list(nb["TrainingData"]((images, indices), 16).batches(seed=1, epoch=1))
    assert len(pairs) == 3 and all(b.shape == (16, 32, 32, 3) and i.shape == (16,) for b, i in pairs)
    for batch, index in pairs:
        assert np.array_equal(batch.numpy(), images[index.numpy()])
    assert pairs[0][1].numpy().tolist() != list(range(16))  # shuffled
    with pytest.raises(utils.ParameterError):
        nb["TrainingData"]((images, indices), 51)


@pytest.mark.parametrize(("seed", "epoch"), [(42, 1), (42, 7), (43, 1), (44, 30)])
def test_an_epochs_batches_are_the_images_in_the_seeds_permutation(nb, seed, epoch):
    """Batch k of an epoch holds rows order[k * batch : (k + 1) * batch] of the image array, where
    order = numpy's default_rng([seed, epoch]).permutation(count): the order every committed run
    trained in, so that they resume as they would have."""
    images = np.random.default_rng(5).uniform(-1, 1, (70, 32, 32, 3)).astype("float32")
    labels = np.arange(70)
    order = np.random.default_rng([seed, epoch]).permutation(70)
    batches = list(nb["TrainingData"]((images, labels), 16).batches(seed, epoch))
    assert len(batches) == 4
    for k, (batch, batch_labels) in enumerate(batches):
        rows = order[16 * k : 16 * (k + 1)]
        assert np.array_equal(batch.numpy(), images[rows]) and np.array_equal(batch_labels.numpy(), rows)


def epoch_order(data, seed: int, epoch: int) -> list[int]:
    return [int(i) for _, labels in data.batches(seed, epoch) for i in labels.numpy()]


def test_an_epochs_order_depends_on_the_seed_and_the_epoch_alone(nb):
    """Issue 26: the order of epoch e is the same in a new object, after other epochs were read, and
    after the global seeds changed (as build_gan_run does), so a resumed run sees what an unbroken one
    would; other epochs and other seeds give other orders, each a permutation of the images."""
    images = np.zeros((64, 32, 32, 3), "float32")
    data = nb["TrainingData"]((images, np.arange(64)), 8)
    third = epoch_order(data, 7, 3)
    assert sorted(third) == list(range(64))
    for epoch in (1, 2, 3):
        epoch_order(data, 7, epoch)  # an unbroken run reads epochs 1 and 2 first
    keras.utils.set_random_seed(123)
    assert epoch_order(nb["TrainingData"]((images, np.arange(64)), 8), 7, 3) == third
    assert epoch_order(data, 7, 3) == third
    assert epoch_order(data, 7, 4) != third and epoch_order(data, 8, 3) != third


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_generator_shape_range_and_float32_output(nb, precision):
    generator = nb["build_generator"](NOISE_DIM, FILTERS, precision)
    images = generator(tf.random.normal([5, NOISE_DIM]), training=False)
    assert images.shape == (5, 32, 32, 3) and images.dtype == tf.float32
    assert float(tf.reduce_min(images)) >= -1.0 and float(tf.reduce_max(images)) <= 1.0
    assert generator.layers[0].dtype_policy.name == precision


def test_discriminator_gives_one_float32_logit_per_image(nb, models):
    _, discriminator = models
    logits = discriminator(tf.zeros([3, 32, 32, 3]), training=False)
    assert logits.shape == (3, 1) and logits.dtype == tf.float32


def test_losses_on_known_logits(nb):
    ln2 = np.log(2.0)
    zero = tf.zeros([4, 1])
    assert np.isclose(nb["generator_loss"](zero), ln2)
    assert np.isclose(nb["discriminator_loss"](zero, zero), 2 * ln2)
    # BCE(target t, logit x) = softplus(x) - t*x: with t = 0.9 and x = 0 still ln 2.
    assert np.isclose(nb["discriminator_loss"](zero, zero, 0.9), 2 * ln2)
    big = tf.fill([2, 1], 10.0)
    assert np.isclose(nb["generator_loss"](big), np.log1p(np.exp(-10.0)), rtol=1e-4)
    assert np.isclose(nb["discriminator_loss"](big, -big), 2 * np.log1p(np.exp(-10.0)), rtol=1e-4)
    # Label smoothing: a very confident real logit now costs 0.1 * 10.
    assert np.isclose(nb["discriminator_loss"](big, -big, 0.9), 1.0 + 2 * np.log1p(np.exp(-10.0)), rtol=1e-3)


def test_accuracy_uses_logit_sign(nb):
    real, fake, course = nb["discriminator_accuracy"](
        tf.constant([[0.1], [-0.1], [5.0], [-5.0]]), tf.constant([[-0.1], [-3.0], [0.2]])
    )
    assert float(real) == 0.5
    assert np.isclose(float(fake), 2 / 3) and float(course) == 1.0  # 0.2 < 0.5: caught by the course
    # Logit 0 is sigmoid 0.5: neither side's win.
    real, fake, course = nb["discriminator_accuracy"](tf.zeros([2, 1]), tf.zeros([2, 1]))
    assert (float(real), float(fake), float(course)) == (0.0, 0.0, 1.0)


@pytest.mark.parametrize("jit", [False, True])
def test_train_step_changes_weights_and_returns_finite_metrics(nb, tmp_path, jit):
    run = tiny_run(nb, tmp_path, jit=jit)
    generator, discriminator = run.generator, run.discriminator
    gen_opt, disc_opt = run.generator_optimizer, run.discriminator_optimizer
    before_g = [w.numpy().copy() for w in generator.trainable_weights]
    before_d = [w.numpy().copy() for w in discriminator.trainable_weights]
    images = tf.random.uniform([8, 32, 32, 3], -1, 1, seed=3)
    # The step's metrics, worked out beforehand from the same weights and a copy of its noise stream
    # (drawn as the step draws it, under XLA or not): its noise, then the instance noise on the reals
    # and on the fakes.
    rng = tf.random.Generator.from_state(run.noise_rng.state.numpy(), run.noise_rng.algorithm)

    @tf.function(jit_compile=jit)
    def judged():
        fakes = generator(rng.normal([8, NOISE_DIM]), training=True)
        real_logits = discriminator(images + 0.1 * rng.normal(images.shape), training=True)
        return real_logits, discriminator(fakes + 0.1 * rng.normal(fakes.shape), training=True)

    real_logits, fake_logits = judged()
    expected = [
        float(nb["generator_loss"](fake_logits)),
        float(nb["discriminator_loss"](real_logits, fake_logits, 0.9)),
        float(np.mean(real_logits.numpy() > 0)),
        float(np.mean(fake_logits.numpy() < 0)),
        float(np.mean(fake_logits.numpy() < 0.5)),
    ]
    assert expected[2] + expected[3] != 1  # so the two accuracies swapped would not match either
    metrics = nb["make_train_step"](run)(images, tf.constant(0.1)).numpy()
    assert metrics.shape == (5,)
    assert metrics[:2] == pytest.approx(expected[:2], abs=1e-4) and metrics[2:].tolist() == expected[2:]
    assert all(
        not np.array_equal(b, w.numpy()) for b, w in zip(before_g, generator.trainable_weights, strict=True)
    )
    assert all(
        not np.array_equal(b, w.numpy())
        for b, w in zip(before_d, discriminator.trainable_weights, strict=True)
    )
    assert int(gen_opt.iterations) == int(disc_opt.iterations) == 1


def test_mixed_float16_uses_loss_scaling(nb):
    gen_opt = nb["make_optimizer"](1e-3, 0.5, 0.999, "mixed_float16")
    assert float(gen_opt.scale_loss(tf.constant(1.0))) > 1.0
    plain = nb["make_optimizer"](1e-3, 0.5, 0.999, "float32")
    assert float(plain.scale_loss(tf.constant(1.0))) == 1.0


def test_seeds_are_made_once_and_reused(tmp_path):
    path = tmp_path / "seeds.npy"
    first = utils.load_or_make_seeds(path, 16, NOISE_DIM, seed=1)
    again = utils.load_or_make_seeds(path, 16, NOISE_DIM, seed=999)  # the saved ones win
    assert first.shape == (16, NOISE_DIM) and np.array_equal(first, again)
    with pytest.raises(utils.ParameterError, match="NOISE_DIM"):
        utils.load_or_make_seeds(path, 16, NOISE_DIM + 1, seed=1)


def test_sample_grid_is_an_rgb_image_named_by_epoch(nb, tmp_path):
    run = tiny_run(nb, tmp_path)
    run.seeds = np.random.default_rng(0).standard_normal((16, NOISE_DIM)).astype("float32")
    path = nb["generate_and_save_images"](run, 7)
    assert path == run.paths["samples"] / "epoch_0007.png"
    assert not (run.paths["samples"] / "classes").exists()  # an unconditional G draws no class grid
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    # True colour: the channels differ somewhere (a grey image would have R == G == B).
    assert (pixels[..., 0] != pixels[..., 1]).any()


def test_history_plot_and_gif(nb, tmp_path):
    history = [
        {"epoch": e, "gen_loss": 1.0 / e, "disc_loss": 1.0, "real_acc": 0.8, "fake_acc": 0.9 - 0.1 * e}
        for e in (1, 2, 3)
    ]
    plot = nb["draw_train_history"](history, tmp_path / "history.png")
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.width > 500
    for e in (1, 2, 3):
        Image.new("RGB", (40, 40), (80 * e, 0, 0)).save(tmp_path / f"epoch_{e:04d}.png")
    gif = nb["make_gif"](tmp_path, 3)
    assert gif == tmp_path / "training_progress.gif"
    with Image.open(gif) as image:
        assert image.n_frames == 3 and image.info.get("loop") == 0


def test_the_light_gif_halves_every_tenth_grid_and_skips_a_lost_one(tmp_path):
    for e in range(1, 26):
        Image.new("RGB", (40, 40), (10 * e, 0, 0)).save(tmp_path / f"epoch_{e:04d}.png")
    (tmp_path / "epoch_0010.png").unlink()  # a lost grid
    frames = utils.saved_grids(tmp_path, [1, 10, 20, 25])
    assert [frame[0, 0, 0] for frame in frames] == [10, 200, 250]
    gif = utils.light_gif(tmp_path, 25)
    with Image.open(gif) as image:
        assert image.n_frames == 3 and image.size == (20, 20)  # epochs 1, 20 and 25, halved


RESTORE_SCRIPT = """
import sys
import numpy as np
sys.path[:0] = {paths!r}
import dcgan_lesson as nb
from conftest import tiny_run
# Built with another seed: the restore must overwrite weights, optimizer state and noise state.
run = tiny_run(vars(nb), __import__("pathlib").Path({folder!r}), opened=True, seed=12345)
g, d, go, do = run.generator, run.discriminator, run.generator_optimizer, run.discriminator_optimizer
np.savez({out!r}, epoch=run.epoch, history=len(run.history), g_iter=int(go.iterations),
         d_iter=int(do.iterations), rng_state=run.noise_rng.state.numpy(), seeds=run.seeds,
         **{{f"g{{i}}": w.numpy() for i, w in enumerate(g.weights)}},
         **{{f"d{{i}}": w.numpy() for i, w in enumerate(d.weights)}},
         **{{f"go{{i}}": v.numpy() for i, v in enumerate(go.variables)}},
         **{{f"do{{i}}": v.numpy() for i, v in enumerate(do.variables)}})
"""


def test_checkpoint_restores_everything_in_a_new_process(nb, tmp_path):
    run = tiny_run(nb, tmp_path, opened=True, seed=7)
    assert run.epoch == 0 and run.history == []  # nothing saved yet
    train_step = nb["make_train_step"](run)
    for _ in range(3):
        train_step(tf.random.uniform([8, 32, 32, 3], -1, 1), tf.constant(0.05))
    run.history = [{"epoch": e, "gen_loss": 1.0} for e in range(1, 5)]
    run.manager.checkpoint.epoch.assign(4)
    nb["save_checkpoint"](run)
    generator, discriminator = run.generator, run.discriminator
    gen_opt, disc_opt = run.generator_optimizer, run.discriminator_optimizer

    out, copy = tmp_path / "restored.npz", tmp_path / "copy"  # a copy: this process holds the run's lock
    for folder in ("training_checkpoints", "training_history"):
        shutil.copytree(tmp_path / folder, copy / folder)
    script = RESTORE_SCRIPT.format(paths=[str(ROOT), str(ROOT / "tests")], folder=str(copy), out=str(out))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    restored = np.load(out)
    assert int(restored["epoch"]) == 4 and int(restored["history"]) == 4
    assert int(restored["g_iter"]) == int(restored["d_iter"]) == 3
    assert np.array_equal(restored["rng_state"], run.noise_rng.state.numpy())
    assert np.array_equal(restored["seeds"], run.seeds)
    for prefix, values in [
        ("g", generator.weights),  # BN moving statistics included
        ("d", discriminator.weights),
        ("go", gen_opt.variables),  # Adam's iterations, moments and velocities
        ("do", disc_opt.variables),
    ]:
        assert len([k for k in restored.files if k.rstrip("0123456789") == prefix]) == len(values)
        for i, value in enumerate(values):
            assert np.array_equal(restored[f"{prefix}{i}"], value.numpy()), f"{prefix}{i} ({value.path})"
    moments = [v for v in gen_opt.variables if "momentum" in v.path]
    assert moments and all(np.abs(v.numpy()).sum() > 0 for v in moments)  # really trained state


@pytest.mark.parametrize("bad_steps, stopped_after", [((2, 30), 25), ((30,), 50), ((59,), 60)])
def test_train_stops_at_the_next_read_naming_the_first_non_finite_step(nb, bad_steps, stopped_after):
    """Issue 26: the host reads the device's sums every 25 steps and at the epoch's end, and stops
    there, naming the first step whose metrics were not finite and its losses."""
    calls = []

    def exploding_step(images, noise_std):
        calls.append(1)
        return tf.constant([np.inf if len(calls) in bad_steps else 1.0, float(len(calls)), 0.5, 0.5, 0.5])

    dataset = tf.data.Dataset.from_tensor_slices(tf.zeros([120, 32, 32, 3])).batch(2)  # 60 steps
    first = bad_steps[0]
    with pytest.raises(
        FloatingPointError, match=rf"epoch 3, step {first}: gen_loss=inf, disc_loss={first}\.0"
    ):
        nb["train_one_epoch"](exploding_step, dataset, 0.0, 3, 5)
    assert len(calls) == stopped_after


def test_the_epoch_means_are_the_steps_means(nb):
    values = np.random.default_rng(0).uniform(0, 2, (30, len(utils.METRIC_NAMES))).astype("float32")
    steps = iter(values)
    dataset = tf.data.Dataset.from_tensor_slices(tf.zeros([90, 32, 32, 3])).batch(3)  # 30 steps
    row = nb["train_one_epoch"](lambda images, noise_std: tf.constant(next(steps)), dataset, 0.0, 1, 1)
    means = [row[name] for name in utils.METRIC_NAMES]
    assert means == pytest.approx(values.mean(axis=0), rel=1e-6)
    assert row["epoch"] == 1 and row["images_per_sec"] > 0


def test_run_config_is_json(tmp_path):
    paths = utils.make_run_paths(str(tmp_path), "demo")
    assert all(paths[k].is_dir() for k in ("samples", "checkpoints"))
    assert paths["samples"] == tmp_path / "generated_samples" / "demo"
    utils.save_run_config(paths["config"], {"noise_dim": 1})
    assert json.loads(paths["config"].read_text()) == {"noise_dim": 1}


def test_time_left_counts_this_epoch_and_the_ones_to_come():
    # 100 steps an epoch; 25 steps of epoch 3 of 10 took 50 s: 2 s a step, 75 + 7 * 100 steps left.
    assert utils.time_left(50.0, 25, 100, 3, 10) == "0:26"
    assert utils.time_left(3600.0, 100, 100, 1, 3) == "2:00"  # an hour an epoch, two epochs to come
    assert utils.time_left(10.0, 100, 100, 5, 5) == "0:00"  # the last step of the run


def test_class_grid_draws_one_row_per_class_from_the_first_ten_seeds(nb, tmp_path):
    """A stand-in for the Step 7 run's average of G paints each image one colour: red from its
    class, green from its seed (the first number of its noise). In the class grid the end of an
    epoch saves, each (class, seed) colour must sit in row `class`, column `seed`, and seeds 10-15
    must not show; in the 16-seed grid, seed i is drawn as class i mod 10, in row i // 4, column
    i % 4. G itself is left as it is: the grids are drawn from the average."""
    import keras

    run = tiny_run(nb, tmp_path, recipe=tiny_step7_recipe())
    noise, label = keras.Input((NOISE_DIM,)), keras.Input((), dtype="int32")
    colour = keras.layers.Lambda(
        lambda x: tf.stack(
            [tf.cast(x[1], tf.float32) * 0.18 - 0.81, x[0][:, 0], tf.zeros_like(x[0][:, 0])], 1
        )
    )([noise, label])
    run.ema_generator = keras.Model(
        [noise, label], keras.layers.Lambda(lambda c: tf.tile(c[:, None, None], [1, 32, 32, 1]))(colour)
    )
    run.seeds = np.zeros((16, NOISE_DIM), "float32")
    run.seeds[:, 0] = (np.arange(16) - 7.5) / 8.5  # seed j: green level j
    run.end_epoch(7)
    nb["generate_and_save_images"](run, 7)

    def where(path, klass: int, seed: int):
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB")).astype(int)
        painted = nb["to_uint8"]([klass * 0.18 - 0.81, run.seeds[seed, 0], 0.0]).astype(int)
        return np.argwhere((pixels == painted).all(axis=2))  # (y, x) of every pixel of that colour

    def centres(cells):  # the (y, x) centre of each cell's pixels
        return np.array([[cell[:, 0].mean() for cell in row] for row in cells]), np.array(
            [[cell[:, 1].mean() for cell in row] for row in cells]
        )

    class_grid = run.paths["samples"] / "classes" / "epoch_0007.png"
    assert all(len(where(class_grid, c, s)) == 0 for c in range(10) for s in range(10, 16))
    cells = [[where(class_grid, c, s) for s in range(10)] for c in range(10)]
    assert min(len(cell) for row in cells for cell in row) > 400  # every image shows, about 34 x 34 pixels
    rows, columns = centres(cells)  # by class and seed
    assert (np.diff(rows, axis=0) > 30).all() and np.ptp(rows, axis=1).max() < 1  # class c: row c
    assert (np.diff(columns, axis=1) > 30).all() and np.ptp(columns, axis=0).max() < 1  # seed s: column s
    grid = run.paths["samples"] / "epoch_0007.png"
    cells = [[where(grid, (4 * r + c) % 10, 4 * r + c) for c in range(4)] for r in range(4)]
    assert min(len(cell) for row in cells for cell in row) > 400
    rows, columns = centres(cells)  # by row and column of the grid
    assert (np.diff(rows, axis=0) > 30).all() and np.ptp(rows, axis=1).max() < 1
    assert (np.diff(columns, axis=1) > 30).all() and np.ptp(columns, axis=0).max() < 1
    # Today's grid is smaller than a committed one: a committed run trained further still makes its
    # GIF, every frame padded to the largest.
    old = utils.read_png(ROOT / "generated_samples/baseline/epoch_0050.png")
    new = utils.read_png(grid)
    assert new.shape != old.shape
    frames = iio.imread(utils.gif_bytes([old, new]), extension=".gif", index=None)
    assert frames.shape[:3] == (2, max(old.shape[0], new.shape[0]), max(old.shape[1], new.shape[1]))
    assert (frames[1, : new.shape[0], : new.shape[1], :3] == new).mean() > 0.95  # the frame itself, unscaled


def test_fake_accuracy_trend_follows_the_history_file(nb, tmp_path):
    path = tmp_path / "history.json"
    rows = [{"epoch": e, "fake_acc": 1.0 - 0.01 * e} for e in range(1, 21)]
    rows[:9] = [{"epoch": e, "fake_acc": 0.5} for e in range(1, 10)]  # epochs 1-9 are not in the trend
    utils.save_history(path, rows)
    trend = evaluation.fake_accuracy_trend(utils.load_history(path))
    assert trend["slope_per_10_epochs"] == pytest.approx(-0.1) and trend["first"] == 10
    assert trend["last_10_mean"] == pytest.approx(1.0 - 0.155)  # epochs 11-20
    assert trend["first_10_mean"] == pytest.approx((9 * 0.5 + 0.9) / 10)  # epochs 1-10
    rows = utils.load_history(path)
    rows[-1]["fake_acc"] = 0.0  # the file changes, so does the number
    utils.save_history(path, rows)
    changed = evaluation.fake_accuracy_trend(utils.load_history(path))
    assert changed["last_10_mean"] == pytest.approx(1.0 - 0.155 - 0.8 / 10)  # epoch 20 was 0.8
    assert changed["slope_per_10_epochs"] < trend["slope_per_10_epochs"]
    text = evaluation.fake_accuracy_text({"run": utils.load_history(path)})
    assert "trend over epochs 10-20 " in text and "(toward 0.5)" in text
    assert "mean of the first 10 epochs 0.54, of the last 10 0.77: does not trend down" in text
    falling = [{"epoch": e, "fake_acc": 1.0 - 0.01 * e} for e in range(1, 21)]  # last ten 0.10 lower
    assert evaluation.trends_down(evaluation.fake_accuracy_trend(falling))
    slowly = [{"epoch": e, "fake_acc": 1.0 - 0.004 * e} for e in range(1, 21)]  # falls, but 0.04 lower
    assert not evaluation.trends_down(evaluation.fake_accuracy_trend(slowly))
    assert ": trends down (slope below 0, last ten at least 0.05 lower)" in evaluation.fake_accuracy_text(
        {"falling": falling}
    )


def test_a_large_picture_is_embedded_as_a_jpeg_and_a_small_one_as_it_is(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(tmp_path / "large.png")
    Image.new("RGB", (40, 40), (200, 30, 30)).save(tmp_path / "small.png")
    large = utils.embeddable_picture(tmp_path / "large.png")
    assert large[:2] == b"\xff\xd8" and len(large) < (tmp_path / "large.png").stat().st_size
    assert utils.embeddable_picture(tmp_path / "small.png") == (tmp_path / "small.png").read_bytes()
