"""Step 7's building blocks, run from the notebook's definition cells on known inputs."""

import numpy as np
import pytest
import tensorflow as tf

import dcgan_utils as utils

NOISE_DIM, FILTERS = 16, 8


@pytest.fixture
def base(nb):
    return nb["baseline_recipe"](FILTERS, 0.9, 0.1, 1e-3, 1e-3, 0.5, 0.999)


def recipe(nb, base, name):
    return nb["make_recipe"](name, base, nb["candidate_changes"](FILTERS))


def test_recipes_combine_candidates_in_order_and_refuse_unknown_names(nb, base):
    assert recipe(nb, base, "baseline") == base
    combined = recipe(nb, base, "diffaugment+ema+wide_generator")
    assert combined["diffaugment"] and combined["ema_decay"] == 0.999 and combined["gen_filters"] == 12
    assert combined["instance_noise"] == 0.0 and combined["loss"] == "bce"
    with pytest.raises(utils.ParameterError, match="unknown candidate 'emma'"):
        recipe(nb, base, "diffaugment+emma")


def test_diff_augment_is_per_image_in_shape_and_differentiable(nb):
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, (6, 32, 32, 3)).astype("float32"))
    rng = tf.random.Generator.from_seed(1)
    with tf.GradientTape() as tape:
        tape.watch(images)
        augmented = nb["diff_augment"](images, rng)
        total = tf.reduce_sum(augmented)
    assert augmented.shape == images.shape and augmented.dtype == tf.float32
    gradient = tape.gradient(total, images).numpy()
    assert np.abs(gradient).sum() > 0  # gradients reach the input pixels
    # Cutout zeroes at most one 16x16 square per image; translation pads with zeros.
    zeros = (augmented.numpy() == 0).all(axis=3).sum(axis=(1, 2))
    assert (zeros > 0).all() and (zeros <= 16 * 16 + 2 * 4 * 32).all()
    again = nb["diff_augment"](images, rng).numpy()
    assert not np.allclose(again, augmented.numpy())  # a fresh draw every call
    assert not np.allclose(augmented[0], augmented[1])


def test_diff_augment_translation_moves_pixels_by_whole_steps(nb):
    """A single bright pixel on a flat image ends up at most 4 pixels away in each direction (or
    under the cutout). Colour changes keep it distinct from the flat background; padding and
    cutout are exactly 0."""
    image = np.full((64, 32, 32, 3), -0.8, dtype="float32")
    image[:, 16, 16, :] = 0.6
    out = nb["diff_augment"](tf.constant(image), tf.random.Generator.from_seed(3)).numpy()[..., 0]
    shifts = []
    for picture in out:
        values, counts = np.unique(picture[picture != 0], return_counts=True)
        background = values[counts.argmax()]
        marked = np.argwhere((picture != 0) & ~np.isclose(picture, background))
        assert len(marked) <= 1
        if len(marked):
            shifts.append(marked[0] - 16)
    shifts = np.array(shifts)
    assert len(shifts) > 40 and np.abs(shifts).max() == 4  # most pixels survive; shifts span -4..4
    assert len({tuple(s) for s in shifts}) > 10


def test_spectral_conv_has_unit_spectral_norm_and_scale_free_gradients(nb):
    tf.keras.utils.set_random_seed(0)  # the kernel and the power iteration's start
    layer = nb["SpectralConv2D"](6, 3, 1, "same")
    x = tf.random.normal([4, 8, 8, 5], seed=0)
    for _ in range(100):  # power iterations converge
        layer(x, training=True)
    matrix = layer.kernel.numpy().reshape(-1, 6)
    u = layer.u.numpy()
    v = u @ matrix.T / np.linalg.norm(u @ matrix.T)  # the layer's own estimate: sigma = |v W|
    sigma_estimate = float(np.linalg.norm(v @ matrix))
    assert sigma_estimate == pytest.approx(np.linalg.svd(matrix, compute_uv=False)[0], rel=1e-3)
    # The layer computes conv(x, W / sigma(W)): scaling W changes nothing ...
    before = layer(x).numpy()
    layer.kernel.assign(layer.kernel * 3.0)
    assert np.allclose(layer(x).numpy(), before, atol=1e-4)
    # ... so the gradient, which passes through sigma, is orthogonal to W (d/dc f(cW) = 0).
    # keras.layers.SpectralNormalization's gradient, which does not, would not be.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 3)
    gradient = tape.gradient(loss, layer.kernel).numpy()
    kernel = layer.kernel.numpy()
    cosine = (gradient * kernel).sum() / np.linalg.norm(gradient) / np.linalg.norm(kernel)
    assert abs(cosine) < 1e-3


def test_spectral_discriminator_gives_one_float32_logit(nb):
    discriminator = nb["build_spectral_discriminator"](FILTERS, "float32")
    logits = discriminator(tf.zeros([3, 32, 32, 3]), training=True)
    assert logits.shape == (3, 1) and logits.dtype == tf.float32
    assert not any("batch_normalization" in layer.name for layer in discriminator.layers)


def test_hinge_losses_on_known_logits(nb):
    d_loss = nb["hinge_discriminator_loss"]
    assert float(d_loss(tf.constant([[2.0], [0.5]]), tf.constant([[-3.0], [0.0]]))) == pytest.approx(
        0.25 + 0.5
    )
    assert float(nb["hinge_generator_loss"](tf.constant([[1.0], [-3.0]]))) == pytest.approx(1.0)


def twin_models(nb, rec, seed=0):
    """(G, D, G optimizer, D optimizer, noise rng) with weights fixed by `seed`."""
    tf.keras.utils.set_random_seed(seed)
    generator, discriminator, _ = nb["build_gan"](rec, NOISE_DIM, "float32", with_ema=False)
    optimizers = nb["make_optimizers"](rec["gen_lr"], rec["disc_lr"], rec["beta_1"], rec["beta_2"], "float32")
    return generator, discriminator, *optimizers, tf.random.Generator.from_seed(seed)


def test_improved_step_with_the_baseline_recipe_is_steps_5_train_step(nb, base):
    images = tf.random.uniform([8, 32, 32, 3], -1, 1, seed=2)
    g1, d1, go1, do1, rng1 = twin_models(nb, base)
    g2, d2, go2, do2, rng2 = twin_models(nb, base)
    step = nb["make_train_step"](g1, d1, go1, do1, rng1, NOISE_DIM, 0.9, False)
    improved = nb["make_improved_train_step"](base, g2, d2, go2, do2, rng2, NOISE_DIM, False)
    for _ in range(3):
        expected = step(images, tf.constant(0.1)).numpy()
        got = improved(images, tf.constant(0.1)).numpy()
        assert np.allclose(got, expected, atol=1e-6)
    for a, b in zip(g1.weights + d1.weights, g2.weights + d2.weights, strict=True):
        assert np.allclose(a.numpy(), b.numpy(), atol=1e-6)


@pytest.mark.parametrize("name", ["diffaugment", "spectral_hinge", "joint_batch", "wide_generator"])
def test_each_candidate_step_trains(nb, base, name):
    rec = recipe(nb, base, name)
    generator, discriminator, go, do, rng = twin_models(nb, rec)
    before = [w.numpy().copy() for w in generator.trainable_weights + discriminator.trainable_weights]
    step = nb["make_improved_train_step"](rec, generator, discriminator, go, do, rng, NOISE_DIM, True)
    metrics = [step(tf.random.uniform([8, 32, 32, 3], -1, 1), tf.constant(0.0)).numpy() for _ in range(2)]
    assert np.isfinite(metrics).all()
    after = generator.trainable_weights + discriminator.trainable_weights
    # Every kernel moves. (Not every bias: while all logits lie inside the hinge's margins, the
    # hinge loss does not depend on the last bias, so its gradient is exactly 0.)
    kernels = [(b, a) for b, a in zip(before, after, strict=True) if b.ndim > 1]
    assert len(kernels) >= 6 and all(not np.array_equal(b, a.numpy()) for b, a in kernels)


def test_ema_follows_the_generator_with_a_ramped_decay(nb, base):
    rec = recipe(nb, base, "ema")
    tf.keras.utils.set_random_seed(0)
    generator, discriminator, ema = nb["build_gan"](rec, NOISE_DIM, "float32", with_ema=True)
    assert all(
        np.array_equal(a.numpy(), b.numpy()) for a, b in zip(ema.weights, generator.weights, strict=True)
    )
    go, do = nb["make_optimizers"](1e-3, 1e-3, 0.5, 0.999, "float32")
    rng = tf.random.Generator.from_seed(0)
    step = nb["make_improved_train_step"](
        rec, generator, discriminator, go, do, rng, NOISE_DIM, False, ema, 0.999
    )
    start = [w.numpy().copy() for w in generator.trainable_weights]
    step(tf.random.uniform([8, 32, 32, 3], -1, 1), tf.constant(0.0))
    # After the first update the decay is min(0.999, (1 + 1) / (10 + 1)) = 2/11.
    decay = 2 / 11
    for average, old, new in zip(ema.trainable_weights, start, generator.trainable_weights, strict=True):
        assert np.allclose(average.numpy(), decay * old + (1 - decay) * new.numpy(), atol=1e-6)


def test_refresh_batch_norm_sets_the_statistics_of_one_batch(nb):
    generator = nb["build_generator"](NOISE_DIM, FILTERS, "float32")
    nb["refresh_batch_norm"](generator, NOISE_DIM, seed=5, count=256)
    dense, norm = generator.layers[0], generator.layers[1]
    noise = tf.random.stateless_normal([256, NOISE_DIM], [5, 0])
    activations = dense(noise).numpy()
    assert np.allclose(norm.moving_mean.numpy(), activations.mean(axis=0), atol=1e-5)
    assert np.allclose(norm.moving_variance.numpy(), activations.var(axis=0), rtol=1e-3, atol=1e-6)
    assert norm.momentum == 0.99  # restored


def test_checkpoint_with_ema_round_trip_and_load_run_generator(nb, base, tmp_path):
    rec = recipe(nb, base, "ema")
    paths = nb["make_run_paths"](str(tmp_path), "improved")
    generator, discriminator, ema = nb["build_gan"](rec, NOISE_DIM, "float32", with_ema=True)
    go, do = nb["make_optimizers"](1e-3, 1e-3, 0.5, 0.999, "float32")
    rng = tf.random.Generator.from_seed(0)
    config = {"noise_dim": NOISE_DIM, "base_filters": FILTERS, "precision": "float32", "recipe": rec}
    ckpt, manager, seeds, history = nb["open_run"](
        paths, config, 0, generator, discriminator, go, do, rng, ema
    )
    assert history == [] and seeds.shape == (16, NOISE_DIM)
    step = nb["make_improved_train_step"](
        rec, generator, discriminator, go, do, rng, NOISE_DIM, False, ema, 0.999
    )
    for _ in range(3):
        step(tf.random.uniform([8, 32, 32, 3], -1, 1), tf.constant(0.0))
    assert len(nb["checkpoint_variables"](ckpt)) > len(generator.weights) * 2  # the average is saved too
    ckpt.epoch.assign(1)
    nb["save_run"]([{"epoch": 1}], paths, ckpt, manager)
    restored, saved_config = nb["load_run_generator"](paths)
    assert saved_config["recipe"] == rec
    for a, b in zip(restored.weights, ema.weights, strict=True):  # the average, not G itself
        assert np.array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(restored.weights[0].numpy(), generator.weights[0].numpy())


def test_load_run_generator_refuses_an_untrained_run(nb, tmp_path):
    with pytest.raises(utils.ParameterError, match="holds no trained run"):
        nb["load_run_generator"](nb["make_run_paths"](str(tmp_path), "nothing"))


def test_generate_images_and_metrics_on_a_tiny_classifier(nb):
    generator = nb["build_generator"](NOISE_DIM, FILTERS, "float32")
    images = nb["generate_images"](generator, 37, NOISE_DIM, seed=1, batch_size=10)
    assert images.shape == (37, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images, nb["generate_images"](generator, 37, NOISE_DIM, seed=1))  # seeded
    classifier = utils.build_classifier((4, 4, 8))
    reference, _ = utils.classifier_outputs(classifier, images)
    metrics = nb["image_metrics"](images, classifier, reference)
    assert metrics["classifier_fid"] == pytest.approx(0.0, abs=1e-6)  # a set against itself
    assert sum(metrics["class_counts"]) == 37 and 1.0 <= metrics["effective_classes"] <= 10.0
    table = nb["metrics_table"]({"a": metrics})
    assert table.count("\n") == 2 and "| a | 37 |" in table


def test_search_table_compares_time_within_a_precision_and_names_it(nb):
    def result(seconds):
        metrics = {"classifier_fid": 30.0, "recognizable": 0.05, "effective_classes": 6.0}
        return {
            "epochs": 3,
            "seconds_per_epoch": seconds,
            "fake_acc": 0.9,
            "generator": metrics,
            "ema": metrics,
        }

    settings = "noise 100, width 64, batch 128, 50000 images"
    table = nb["search_table"](
        {
            f"baseline|42|3|{settings}, mixed_bfloat16": result(60.0),
            f"baseline|43|3|{settings}, mixed_bfloat16": result(80.0),
            f"wide_generator|42|3|{settings}, mixed_bfloat16": result(91.0),
            f"diffaugment|42|3|{settings}, float32": result(300.0),  # no float32 baseline to compare with
        }
    )
    rows = table.splitlines()[2:]
    assert rows[0].endswith("| 0.86x | mixed_bfloat16 |") and rows[2].endswith("| 1.30x | mixed_bfloat16 |")
    assert rows[3].startswith("| diffaugment | 42 | 3 | 30.00 |") and rows[3].endswith("| 300 s | float32 |")


# ---------------------------------------------------------------- the class-conditional GAN ----


def test_conditional_batch_norm_gives_each_class_its_own_scale_and_shift(nb):
    layer = nb["ConditionalBatchNorm"](classes=4)
    x = tf.random.normal([8, 3, 3, 5], seed=1)
    labels = tf.constant([0, 1, 2, 3, 0, 1, 2, 3])
    layer([x, labels])
    scale = np.ones((4, 5), "float32")
    scale[2] = [1.0, 2.0, 3.0, 4.0, 5.0]
    shift = np.zeros((4, 5), "float32")
    shift[3] = -7.0
    layer.scale.assign(scale)
    layer.shift.assign(shift)
    out = layer([x, labels], training=True).numpy()
    mean, var = x.numpy().mean(axis=(0, 1, 2)), x.numpy().var(axis=(0, 1, 2))
    normed = (x.numpy() - mean) / np.sqrt(var + layer.norm.epsilon)
    for i, label in enumerate(labels.numpy()):
        assert np.allclose(out[i], normed[i] * scale[label] + shift[label], atol=1e-4), label
    # A new layer starts as plain batch norm: scale 1, shift 0 for every class.
    fresh = nb["ConditionalBatchNorm"](classes=4)
    assert np.allclose(fresh([x, labels], training=True).numpy(), normed, atol=1e-4)


def test_projection_head_is_linear_plus_the_class_dot_product(nb):
    head = nb["ProjectionHead"](classes=3)
    features = tf.random.normal([5, 6], seed=2)
    labels = tf.constant([0, 2, 1, 2, 0])
    logits = head([features, labels]).numpy()
    h = features.numpy()
    linear = h @ head.kernel.numpy() + head.bias.numpy()
    dot = np.array([[h[i] @ head.embedding.numpy()[y]] for i, y in enumerate(labels.numpy())])
    assert logits.shape == (5, 1) and np.allclose(logits, linear + dot, atol=1e-5)
    # Only the label changes between these two calls: the difference is exactly the projection's.
    other = head([features, tf.constant([1, 1, 1, 1, 1])]).numpy()
    moved = np.array(
        [
            [h[i] @ (head.embedding.numpy()[1] - head.embedding.numpy()[y])]
            for i, y in enumerate(labels.numpy())
        ]
    )
    assert np.allclose(other - logits, moved, atol=1e-5)


def test_conditional_models_take_labels_and_the_label_changes_the_image(nb):
    generator = nb["build_conditional_generator"](NOISE_DIM, FILTERS, "mixed_bfloat16")
    noise = tf.random.normal([2, NOISE_DIM], seed=3)
    cbn = [layer for layer in generator.layers if isinstance(layer, nb["ConditionalBatchNorm"])]
    assert len(cbn) == 3 and len(nb["batch_norms"](generator)) == 3
    cbn[-1].shift.assign(tf.random.normal(cbn[-1].shift.shape, seed=4))  # classes now differ
    horse = generator([noise, tf.constant([7, 7])]).numpy()
    ship = generator([noise, tf.constant([8, 8])]).numpy()
    assert horse.shape == (2, 32, 32, 3) and horse.dtype == np.float32 and not np.allclose(horse, ship)
    for pooled, dropout in [(False, 0.0), (True, 0.3)]:
        discriminator = nb["build_projection_discriminator"](FILTERS, "mixed_bfloat16", pooled, dropout)
        logits = discriminator([tf.constant(horse), tf.constant([7, 7])])
        assert logits.shape == (2, 1) and logits.dtype == tf.float32
        head = discriminator.layers[-1]
        assert head.embedding.shape == (10, 4 * FILTERS if pooled else 4 * 4 * 4 * FILTERS)


@pytest.mark.parametrize(
    "name",
    [
        "conditional",
        "conditional+diffaugment",
        "conditional+cr",
        "conditional+dropout",
        "conditional+pooled_projection+joint_batch",
    ],
)
def test_conditional_step_moves_every_variable(nb, base, name):
    rec = recipe(nb, base, name)
    generator, discriminator, go, do, rng = twin_models(nb, rec)
    variables = generator.trainable_weights + discriminator.trainable_weights
    before = [w.numpy().copy() for w in variables]
    step = nb["make_improved_train_step"](rec, generator, discriminator, go, do, rng, NOISE_DIM, False)
    batch = (tf.random.uniform([10, 32, 32, 3], -1, 1, seed=5), tf.range(10))  # every class once
    metrics = [step(batch, tf.constant(0.1)).numpy() for _ in range(2)]
    assert np.isfinite(metrics).all()
    still = [w.path for w, b in zip(variables, before, strict=True) if np.array_equal(b, w.numpy())]
    assert still == []  # every weight moved, the per-class scales, shifts and embeddings included


def test_consistency_loss_adds_the_squared_logit_gap(nb, base):
    """With the consistency weight on, D's loss grows by weight * mean((D(moved) - D(real))^2) >= 0;
    G's loss is the same as without it."""
    plain = recipe(nb, base, "conditional")
    with_cr = recipe(nb, base, "conditional+cr")
    batch = (tf.random.uniform([10, 32, 32, 3], -1, 1, seed=6), tf.range(10))
    results = []
    for rec in (plain, with_cr):
        generator, discriminator, go, do, rng = twin_models(nb, rec)
        step = nb["make_improved_train_step"](rec, generator, discriminator, go, do, rng, NOISE_DIM, False)
        results.append(step(batch, tf.constant(0.0)).numpy())
    (g0, d0, *acc0), (g1, d1, *acc1) = results
    assert g0 == pytest.approx(g1, abs=1e-6) and acc0 == acc1
    assert d1 > d0 + 1e-6


def test_shift_images_moves_whole_images_and_mirrors_padding(nb):
    images = tf.reshape(tf.range(2 * 32 * 32 * 3, dtype=tf.float32), [2, 32, 32, 3])
    shifted = nb["shift_images"](images, tf.random.Generator.from_seed(7), "SYMMETRIC").numpy()
    assert shifted.shape == (2, 32, 32, 3)
    for original, moved in zip(images.numpy(), shifted, strict=True):
        padded = np.pad(original, [(4, 4), (4, 4), (0, 0)], mode="symmetric")
        windows = [
            (r, c)
            for r in range(9)
            for c in range(9)
            if np.array_equal(padded[r : r + 32, c : c + 32], moved)
        ]
        assert len(windows) == 1  # one window of the mirrored padding, shifted by -4..4


def test_generate_images_of_a_conditional_generator_is_class_balanced_or_one_class(nb):
    """A stand-in conditional G whose image is its label / 10: the drawn labels can be read back."""
    noise = tf.keras.Input((NOISE_DIM,))
    label = tf.keras.Input((), dtype="int32")
    value = tf.keras.layers.Lambda(lambda y: tf.cast(y, tf.float32)[:, None, None, None] / 10)(label)
    image = tf.keras.layers.Lambda(lambda v: tf.tile(v, [1, 32, 32, 3]))(value)
    stand_in = tf.keras.Model([noise, label], image)
    images = nb["generate_images"](stand_in, 40, NOISE_DIM, seed=0, batch_size=20)
    labels = np.rint((images[:, 0, 0, 0].astype(float) - 127.5) / 12.75).astype(int)
    assert np.bincount(labels, minlength=10).tolist() == [4] * 10
    horses = nb["generate_images"](stand_in, 7, NOISE_DIM, seed=0, label=7)
    assert (np.rint((horses[:, 0, 0, 0].astype(float) - 127.5) / 12.75) == 7).all()


def test_conditional_checkpoint_round_trip_and_load_run_generator(nb, base, tmp_path):
    rec = recipe(nb, base, "conditional+ema")
    paths = nb["make_run_paths"](str(tmp_path), "conditional")
    generator, discriminator, ema = nb["build_gan"](rec, NOISE_DIM, "float32", with_ema=True)
    go, do = nb["make_optimizers"](1e-3, 1e-3, 0.5, 0.999, "float32")
    rng = tf.random.Generator.from_seed(0)
    config = {"noise_dim": NOISE_DIM, "base_filters": FILTERS, "precision": "float32", "recipe": rec}
    ckpt, manager, _, _ = nb["open_run"](paths, config, 0, generator, discriminator, go, do, rng, ema)
    step = nb["make_improved_train_step"](
        rec, generator, discriminator, go, do, rng, NOISE_DIM, False, ema, 0.999
    )
    step((tf.random.uniform([10, 32, 32, 3], -1, 1), tf.range(10)), tf.constant(0.0))
    nb["refresh_batch_norm"](ema, NOISE_DIM, 0, count=100)
    ckpt.epoch.assign(1)
    nb["save_run"]([{"epoch": 1}], paths, ckpt, manager)
    restored, _ = nb["load_run_generator"](paths)
    assert len(restored.inputs) == 2
    for a, b in zip(restored.weights, ema.weights, strict=True):
        assert np.array_equal(a.numpy(), b.numpy())
    noise = np.random.default_rng(0).standard_normal((20, NOISE_DIM)).astype("float32")
    assert np.allclose(nb["draw"](restored, noise).numpy(), nb["draw"](ema, noise).numpy(), atol=1e-6)


def test_search_decision_needs_the_gap_to_beat_both_seed_spreads(nb):
    def result(g, ema, epochs=10):
        return {"epochs": epochs, "generator": {"classifier_fid": g}, "ema": {"classifier_fid": ema}}

    s = "noise 100, width 64, batch 128, 50000 images, mixed_bfloat16"
    results = {
        f"baseline|42|10|{s}": result(20.0, 15.0),  # the baseline is judged by its G: 20 and 22
        f"baseline|43|10|{s}": result(22.0, 14.0),
        f"conditional|42|10|{s}": result(30.0, 16.0),  # conditional+ema by its average: 16 and 18.5
        f"conditional|43|10|{s}": result(30.0, 18.5),
        f"conditional|44|3|{s}": result(1.0, 1.0, epochs=3),  # another length of run: not counted
    }
    summary = nb["seed_summary"](results, "conditional+ema", 10)
    assert summary == {"seeds": 2, "mean": 17.25, "spread": 2.5}
    line = nb["search_decision"](results, "conditional+ema", 10)
    assert (
        "17.25 (spread 2.50)" in line
        and "21.00 (spread 2.00)" in line
        and line.endswith("gap 3.75, confirmed.")
    )
    results[f"conditional|43|10|{s}"] = result(30.0, 21.0)  # spread 5 > gap 2.5
    assert nb["search_decision"](results, "conditional+ema", 10).endswith("not confirmed.")
    del results[f"baseline|43|10|{s}"]
    assert "needs two seeds" in nb["search_decision"](results, "conditional+ema", 10)


def test_blended_classes_match_hard_labels_at_the_ends_and_mix_in_between(nb):
    tf.keras.utils.set_random_seed(0)
    generator = nb["build_conditional_generator"](NOISE_DIM, FILTERS, "float32")
    for layer in generator.layers:  # give every class its own scale and shift
        if isinstance(layer, nb["ConditionalBatchNorm"]):
            layer.scale.assign(tf.random.uniform(layer.scale.shape, 0.5, 1.5, seed=1))
            layer.shift.assign(tf.random.normal(layer.shift.shape, seed=2))
    nb["refresh_batch_norm"](generator, NOISE_DIM, 0, count=100)  # moving statistics of a real batch
    noise = np.random.default_rng(1).standard_normal((3, NOISE_DIM)).astype("float32")
    one_hot = np.eye(10, dtype="float32")[[1, 9, 4]]
    blended = nb["draw_blended"](generator, noise, one_hot).numpy()
    assert np.allclose(blended, nb["draw"](generator, noise, np.array([1, 9, 4])).numpy(), atol=1e-5)
    half = nb["draw_blended"](generator, noise[:1], 0.5 * one_hot[:1] + 0.5 * one_hot[1:2]).numpy()
    ends = blended[:2]
    assert not np.allclose(half[0], ends[0], atol=1e-3) and not np.allclose(half[0], ends[1], atol=1e-3)
    # In one conditional batch norm a blend is exactly the blend of the two classes' scales and shifts.
    layer = nb["ConditionalBatchNorm"](classes=10)
    x = tf.random.normal([2, 6], seed=3)
    layer([x, tf.constant([0, 0])])
    layer.scale.assign(tf.random.uniform([10, 6], seed=4))
    layer.shift.assign(tf.random.uniform([10, 6], seed=5))
    normed = layer.norm(x, training=False).numpy()
    weights = np.zeros((2, 10), "float32")
    weights[:, 1], weights[:, 9] = 0.25, 0.75
    out = layer([x, tf.constant(weights)], training=False).numpy()
    scale = 0.25 * layer.scale.numpy()[1] + 0.75 * layer.scale.numpy()[9]
    shift = 0.25 * layer.shift.numpy()[1] + 0.75 * layer.shift.numpy()[9]
    assert np.allclose(out, normed * scale + shift, atol=1e-5)
