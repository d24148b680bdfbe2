"""Step 7: its building blocks in the notebook (dcgan_lesson.py), its search (dcgan_search.py) and
its reports (dcgan_reports.py), on known inputs."""

from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, class_head, search_row, tiny_recipe, tiny_run, tiny_step7_recipe, train_step_of

import dcgan_eval as evaluation
import dcgan_reports as reports
import dcgan_search as search
import dcgan_tools as tools
import dcgan_utils as utils

NOISE_DIM, FILTERS = 16, 8


def test_the_lesson_module_is_the_notebooks_export_cells():
    """dcgan_lesson.py is generated from the notebook: edit a cell and forget `sync`, this fails."""
    assert (ROOT / "dcgan_lesson.py").read_text() == tools.lesson_source(), "run: python dcgan_tools.py sync"


def test_recipes_combine_candidates_in_order_and_refuse_unknown_names():
    base = tiny_recipe()
    off = {"conditional": False, "diffaugment": False, "ema_decay": 0.0, "ac_weight": 0.0}
    assert search.make_recipe("baseline", base) == {**base, **off}  # Step 7's switches, all off
    combined = search.make_recipe("conditional+diffaugment+ema+strong_ac", base)
    assert combined == {
        **base, "conditional": True, "diffaugment": True, "instance_noise": 0.0, "ema_decay": 0.999,
        "ac_weight": 3.0,
    }  # fmt: skip
    assert search.make_recipe("conditional+strong_ac+ac", base)["ac_weight"] == 1.0  # the last one wins
    with pytest.raises(utils.ParameterError, match="unknown candidate 'emma'"):
        search.make_recipe("diffaugment+emma", base)


def test_search_plan_gives_the_baseline_and_the_chosen_recipe_two_seeds():
    plan = search.search_plan("conditional+diffaugment+ema", "conditional conditional+diffaugment", 42)
    assert plan == [
        ("baseline", 42),
        ("baseline", 43),
        ("conditional", 42),
        ("conditional+diffaugment", 42),
        ("conditional+diffaugment", 43),
    ]


def test_search_trains_only_missing_runs_saves_each_and_checks_names_first(tmp_path, monkeypatch):
    trained = []

    def fake_short_run(recipe, seed, setup, settings, yardstick):
        trained.append((recipe["diffaugment"], seed))
        return {"epochs": setup.epochs, "seconds_per_epoch": 1.0}

    monkeypatch.setattr(search, "short_run", fake_short_run)
    setup = search.SearchSetup(np.zeros((64, 32, 32, 3)), np.zeros(64), 16, 2, 10, "float32")
    classifier = SimpleNamespace(info={"epochs": 12, "seed": 42})
    settings = {"noise_dim": 16}
    plan = [("conditional", 1), ("conditional+diffaugment", 1)]
    rows = search.run_search(plan, tiny_recipe(), settings, setup, classifier, tmp_path)
    assert trained == [(False, 1), (True, 1)]
    described = {
        "noise_dim": 16, "width": 8, "batch": 16, "images": 64, "gen_lr": 1e-3, "disc_lr": 1e-3,
        "beta_1": 0.5, "beta_2": 0.999, "real_label": 0.9, "instance_noise": 0.1, "noise_fade_epochs": 50,
        "measured": 10, "classifier_epochs": 12, "classifier_seed": 42,
    }  # fmt: skip
    assert [(row["recipe"], row["seed"], row["epochs"], row["precision"]) for row in rows] == [
        ("conditional", 1, 2, "float32"),
        ("conditional+diffaugment", 1, 2, "float32"),
    ]
    assert all(row["settings"] == described for row in rows)
    assert search.read_rows(tmp_path / search.SEARCH_FILE) == rows  # each saved
    again = search.run_search(
        [*plan, ("conditional", 2)], tiny_recipe(), settings, setup, classifier, tmp_path
    )
    assert trained[2:] == [(False, 2)] and len(again) == 3  # only the new one trained
    every_length = search.SearchSetup(setup.images, setup.labels, 16, 0, 10)  # SEARCH_EPOCHS 0
    assert search.run_search(plan, tiny_recipe(), settings, every_length, classifier, tmp_path) == again
    with pytest.raises(utils.ParameterError, match="unknown candidate 'consistency'"):
        search.run_search(
            [("conditional", 9), ("conditional+consistency", 1)],
            tiny_recipe(),
            settings,
            setup,
            classifier,
            tmp_path,
        )
    assert trained[3:] == []  # the unknown name stopped the search before any training


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


@pytest.mark.parametrize(
    "recipe",
    [
        tiny_recipe(),
        tiny_recipe(gen_filters=12),
        tiny_step7_recipe(),  # ac_weight 0: the class head learns nothing
        tiny_step7_recipe(ac_weight=1.0),
        tiny_step7_recipe(diffaugment=True, instance_noise=0.0, ema_decay=0.999, ac_weight=1.0),
    ],
    ids=["baseline", "wide_generator", "conditional", "conditional+ac", "conditional+diffaugment+ema+ac"],
)
def test_every_switch_of_the_train_step_trains_every_variable(nb, tmp_path, recipe):
    run = tiny_run(nb, tmp_path, recipe=recipe)
    conditional, augmented = bool(recipe.get("conditional")), bool(recipe.get("diffaugment"))
    variables = run.generator.trainable_weights + run.discriminator.trainable_weights
    before = [w.numpy().copy() for w in variables]
    images = tf.random.uniform([10, 32, 32, 3], -1, 1, seed=5)
    batch = (images, tf.range(10)) if conditional else images  # every class once
    train_step = train_step_of(nb, run)
    metrics = [train_step(batch, tf.constant(0.1)).numpy() for _ in range(2)]
    assert np.isfinite(metrics).all()
    still = [w.path for w, b in zip(variables, before, strict=True) if np.array_equal(b, w.numpy())]
    # Every weight moved, the per-class scales, shifts and projections included; the class head only
    # learns from the auxiliary-classifier term.
    head = class_head(run.discriminator).trainable_weights if conditional and not recipe["ac_weight"] else []
    assert still == [w.path for w in head]
    # What D is shown: one step of the same code run eagerly, G and D wrapped to record their calls.
    run.generator, run.discriminator = Recorder(run.generator), Recorder(run.discriminator)
    step = train_step_of(nb, run).python_function
    for noise_std in (0.1, 0.0):
        run.generator.calls.clear()
        run.discriminator.calls.clear()
        step(batch, tf.constant(noise_std))
        ((g_inputs, fakes),) = run.generator.calls
        (real_in, _), (fake_in, _) = run.discriminator.calls  # reals first, then fakes
        if conditional:  # D judges the reals as their classes and the fakes as the classes G drew
            (real_in, real_labels), (fake_in, fake_labels), (_, drawn_labels) = real_in, fake_in, g_inputs
            assert real_labels.tolist() == list(range(10)) and fake_labels.tolist() == drawn_labels.tolist()
            assert drawn_labels.tolist() != real_labels.tolist()
        # DiffAugment's cutout blanks at least 8 x 8 pixels of every image, the reals' as the fakes'.
        for seen in (real_in, fake_in):
            blanked = (seen == 0).all(axis=3).sum(axis=(1, 2))
            assert (blanked >= 64).all() if augmented else (blanked == 0).all()
        if not augmented:  # the instance noise: N(0, noise_std) on reals and fakes alike
            for seen, shown in ((real_in, images.numpy()), (fake_in, fakes)):
                assert np.std(seen - shown) == pytest.approx(noise_std, abs=0.003)


class Recorder:
    """Stands in for a model in the train step: calls it, and records (its inputs, its outputs)."""

    def __init__(self, model):
        self.model, self.calls = model, []
        self.inputs, self.trainable_variables = model.inputs, model.trainable_variables

    def __call__(self, inputs, training=False):
        output = self.model(inputs, training=training)
        self.calls.append(tf.nest.map_structure(np.asarray, (inputs, output)))
        return output


def test_the_conditional_step_moves_the_average_with_the_warm_up_decay(nb, tmp_path):
    run = tiny_run(nb, tmp_path, recipe=tiny_step7_recipe(ema_decay=0.999))
    generator, ema = run.generator, run.ema_generator
    assert all(
        np.array_equal(a.numpy(), b.numpy()) for a, b in zip(ema.weights, generator.weights, strict=True)
    )
    start = [w.numpy().copy() for w in generator.trainable_weights]
    train_step_of(nb, run)((tf.random.uniform([10, 32, 32, 3], -1, 1), tf.range(10)), tf.constant(0.0))
    # After G's first update the decay is min(0.999, (1 + 1) / (10 + 1)) = 2/11.
    decay = 2 / 11
    for average, old, new in zip(ema.trainable_weights, start, generator.trainable_weights, strict=True):
        assert not np.allclose(old, new.numpy())  # G moved: the average lies between its two states
        assert np.allclose(average.numpy(), decay * old + (1 - decay) * new.numpy(), atol=1e-6)


def test_update_average_follows_a_hand_worked_sequence(nb):
    """Three updates at G's steps t = 1, 2, 3 with decay 0.3: the warm-up decay min(0.3, (1 + t) /
    (10 + t)) is 2/11, then 3/12, then 0.3 (4/13 is above it). From 0, with G's weight 11, 1, 13:
    9/11 * 11 = 9; 1/4 * 9 + 3/4 * 1 = 3; 0.3 * 3 + 0.7 * 13 = 10 (and the negatives)."""
    average = SimpleNamespace(trainable_variables=[tf.Variable([0.0, 0.0]), tf.Variable([[0.0]])])
    generator = SimpleNamespace(trainable_variables=[tf.Variable([0.0, 0.0]), tf.Variable([[0.0]])])
    optimizer = SimpleNamespace(iterations=tf.Variable(0, dtype=tf.int64))
    averaged = []
    for step, weight in zip((1, 2, 3), (11.0, 1.0, 13.0), strict=True):
        optimizer.iterations.assign(step)
        generator.trainable_variables[0].assign([weight, -weight])
        generator.trainable_variables[1].assign([[-weight]])
        nb["update_average"](average, generator, 0.3, optimizer)
        averaged.append(np.concatenate([v.numpy().ravel() for v in average.trainable_variables]))
    assert np.allclose(averaged, [[9.0, -9.0, -9.0], [3.0, -3.0, -3.0], [10.0, -10.0, -10.0]], atol=1e-5)


def test_refresh_batch_norm_sets_the_statistics_of_one_batch(nb):
    generator = nb["build_generator"](NOISE_DIM, FILTERS, "float32")
    nb["refresh_batch_norm"](generator, seed=5, count=256)
    dense, norm = generator.layers[0], generator.layers[1]
    noise = tf.random.stateless_normal([256, NOISE_DIM], [5, 0])
    activations = dense(noise).numpy()
    assert np.allclose(norm.moving_mean.numpy(), activations.mean(axis=0), atol=1e-5)
    assert np.allclose(norm.moving_variance.numpy(), activations.var(axis=0), rtol=1e-3, atol=1e-6)
    assert norm.momentum == 0.99  # restored


def test_refresh_batch_norm_of_a_conditional_generator_sets_every_nested_norm(nb, monkeypatch):
    """The batch norms of a conditional G sit inside its ConditionalBatchNorm layers. After the
    refresh each one's moving mean and variance are the statistics of its input in one batch of
    `count` images, image i asked as class i mod 10; its own momentum is put back, also when the
    forward pass fails."""
    tf.keras.utils.set_random_seed(0)
    generator = nb["build_conditional_generator"](NOISE_DIM, FILTERS, "float32")
    conditional_norms = [layer for layer in generator.layers if isinstance(layer, nb["ConditionalBatchNorm"])]
    norms = [layer.norm for layer in conditional_norms]
    assert len(norms) == 3 and not any(norm in generator.layers for norm in norms)  # nested only
    momenta = [0.9, 0.8, 0.7]  # each its own, to be put back
    for i, (layer, momentum) in enumerate(zip(conditional_norms, momenta, strict=True)):
        # Every class its own scale and shift: the labels shape what the next norm sees.
        layer.scale.assign(tf.random.uniform(layer.scale.shape, 0.2, 2.0, seed=i))
        layer.shift.assign(tf.random.normal(layer.shift.shape, stddev=2.0, seed=10 + i))
        layer.norm.momentum = momentum
    count = 200
    nb["refresh_batch_norm"](generator, seed=5, count=count)
    moving = [(norm.moving_mean.numpy().copy(), norm.moving_variance.numpy().copy()) for norm in norms]
    assert [norm.momentum for norm in norms] == momenta
    # That batch, run again in training mode: each norm's input, whose statistics it must hold.
    probe = tf.keras.Model(generator.inputs, [layer.input[0] for layer in conditional_norms])
    noise = tf.random.stateless_normal([count, NOISE_DIM], [5, 0])
    seen = [x.numpy() for x in probe([noise, tf.range(count) % 10], training=True)]
    one_class = [x.numpy() for x in probe([noise, tf.zeros(count, tf.int32)], training=True)]
    for (mean, variance), x in zip(moving, seen, strict=True):
        axes = tuple(range(x.ndim - 1))  # all but the channels
        assert np.allclose(mean, x.mean(axis=axes), atol=1e-5)
        assert np.allclose(variance, x.var(axis=axes), rtol=1e-3, atol=1e-6)
        assert not np.allclose(variance, 1.0, atol=1e-2)  # not the initial statistics
    # Beyond the first norm the statistics depend on the classes asked: a batch of one class differs.
    assert all(
        not np.allclose(x.var(axis=(0, 1, 2)), o.var(axis=(0, 1, 2)), rtol=1e-2)
        for x, o in zip(seen[1:], one_class[1:], strict=True)
    )

    def failing(*args, **kwargs):
        raise RuntimeError("the forward pass failed")

    monkeypatch.setattr(generator.layers[-1], "call", failing)
    with pytest.raises(RuntimeError, match="the forward pass failed"):
        nb["refresh_batch_norm"](generator, seed=5, count=count)
    assert [norm.momentum for norm in norms] == momenta


@pytest.mark.parametrize(
    "recipe",
    [tiny_recipe(), tiny_step7_recipe(ema_decay=0.999, ac_weight=1.0), tiny_step7_recipe()],
    ids=["baseline", "conditional+ema+ac", "conditional without averaging"],
)
def test_checkpoint_round_trip_and_load_run_generator_give_the_runs_sampler(nb, tmp_path, recipe):
    """A baseline run samples from G; a Step 7 run from its average of G (even at decay 0), whose
    batch norm each epoch's end refreshes. The checkpoint holds the sampler, and load_run_generator
    gives it back, drawing what the run draws."""
    run = tiny_run(nb, tmp_path, "improved", recipe, opened=True)
    conditional = bool(recipe.get("conditional"))
    assert run.history == [] and run.seeds.shape == (16, NOISE_DIM)
    images = tf.random.uniform([10, 32, 32, 3], -1, 1)
    train_step = train_step_of(nb, run)
    for _ in range(3):
        train_step((images, tf.range(10)) if conditional else images, tf.constant(0.0))
    sampler = run.sampler
    assert sampler is (run.ema_generator if conditional else run.generator)
    before = [w.numpy().copy() for w in sampler.weights]
    run.history = [{"epoch": 1}]
    nb["end_of_epoch"](run, 1, 1)  # the run's end-of-epoch work, then (the last epoch) its checkpoint
    if conditional:  # the average's batch-norm statistics, measured afresh from the run's seed
        refreshed = [w.numpy().copy() for w in sampler.weights]
        assert any(not np.array_equal(a, b) for a, b in zip(before, refreshed, strict=True))
        nb["refresh_batch_norm"](sampler, run.settings["seed"])
        assert all(np.array_equal(a, w.numpy()) for a, w in zip(refreshed, sampler.weights, strict=True))
        assert (run.paths["samples"] / "classes" / "epoch_0001.png").exists()
    saved_ids = {id(v) for v in utils.checkpoint_variables(run.manager.checkpoint)}
    assert all(id(v) in saved_ids for v in sampler.weights)
    in_file = [name for name, _ in tf.train.list_variables(run.manager.latest_checkpoint)]
    average_in_file = [n for n in in_file if n.startswith("ema_generator/") and n.endswith("VARIABLE_VALUE")]
    assert len(average_in_file) == (len(run.ema_generator.weights) if conditional else 0)
    restored, saved_config = reports.load_run_generator(run.paths)
    assert saved_config["recipe"] == recipe and len(restored.inputs) == 1 + conditional
    for a, b in zip(restored.weights, sampler.weights, strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), b.path
    if conditional:  # the average, not G itself
        assert not all(
            np.array_equal(a.numpy(), g.numpy())
            for a, g in zip(restored.weights, run.generator.weights, strict=True)
        )
    noise = np.random.default_rng(0).standard_normal((20, NOISE_DIM)).astype("float32")
    assert np.allclose(reports.draw(restored, noise), run.sample(noise).numpy(), atol=1e-6)


def test_load_run_generator_refuses_an_untrained_run(tmp_path):
    with pytest.raises(utils.ParameterError, match="holds no trained run"):
        reports.load_run_generator(utils.make_run_paths(str(tmp_path), "nothing"))


def test_generate_images_and_metrics_on_a_tiny_classifier(nb):
    generator = nb["build_generator"](NOISE_DIM, FILTERS, "float32")
    images = reports.generate_images(generator, 37, seed=1, batch_size=10)
    assert images.shape == (37, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images, reports.generate_images(generator, 37, seed=1))  # seeded
    classifier = evaluation.build_classifier((4, 4, 8))
    reference, _ = evaluation.classifier_outputs(classifier, images)
    yardstick = evaluation.Yardstick(classifier, reference, np.arange(37) % 10, {})
    metrics = yardstick.metrics(images)
    assert metrics["classifier_fid"] == pytest.approx(0.0, abs=1e-6)  # a set against itself
    predicted = evaluation.classifier_outputs(classifier, images)[1].argmax(axis=1)
    assert metrics["class_counts"] == np.bincount(predicted, minlength=10).tolist()
    table = evaluation.metrics_table({"a": metrics})
    assert table.count("\n") == 2 and "| a | 37 |" in table
    nearest, distances = yardstick.nearest(images[:5])
    assert nearest.tolist() == [0, 1, 2, 3, 4] and np.allclose(distances, 0, atol=1e-3)


def colour_classifier():
    """A stand-in classifier of solid-colour images: its features are the image's mean colour, and
    it calls an image of red level r class round(r / 20) (logit_k = -(r - 20k)^2 up to a term
    common to all k): sure at r = 20k, split half and half at r = 20k + 10."""
    inputs = tf.keras.Input((32, 32, 3))
    features = tf.keras.layers.GlobalAveragePooling2D(name="features")(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(10, name="logits")(features))
    kernel = np.zeros((3, 10), "float32")
    kernel[0] = 40 * np.arange(10)
    model.get_layer("logits").set_weights([kernel, -400 * np.arange(10, dtype="float32") ** 2])
    return model


def solid_images(reds, seed: int) -> np.ndarray:
    """uint8 images of one colour each: the given red levels, random green and blue."""
    rng = np.random.default_rng(seed)
    colours = np.column_stack([reds, rng.integers(50, 200, (len(reds), 2))])
    return np.ascontiguousarray(np.broadcast_to(colours[:, None, None, :], (len(reds), 32, 32, 3)), np.uint8)


def test_class_counts_recognizable_share_and_effective_classes_on_a_known_case():
    yardstick = evaluation.Yardstick(colour_classifier(), np.zeros((10, 3)), np.arange(10), {})
    # 20 images of class 0, 10 of class 1, 10 of class 2, every one at its class's red level.
    metrics = yardstick.metrics(solid_images(20 * np.repeat([0, 1, 2], [20, 10, 10]), seed=0))
    assert metrics["class_counts"] == [20, 10, 10] + [0] * 7 and metrics["recognizable"] == 1.0
    # shares 1/2, 1/4, 1/4: entropy 1.5 ln 2, so exp(entropy) = 2^1.5 (2 or 3 would be a miscount)
    assert metrics["effective_classes"] == pytest.approx(2**1.5, rel=1e-9)
    # 10 images each of classes 0-3, half of them halfway between two classes (not recognizable).
    reds = 20 * (np.arange(40) % 4) + 10 * (np.arange(40) >= 20)
    metrics = yardstick.metrics(solid_images(reds, seed=1))
    assert metrics["class_counts"] == [10] * 4 + [0] * 6 and metrics["recognizable"] == 0.5
    assert metrics["effective_classes"] == pytest.approx(4.0, rel=1e-9)


def test_against_baseline_on_a_known_case():
    reference = np.random.default_rng(0).normal(100, 20, (300, 3))
    yardstick = evaluation.Yardstick(colour_classifier(), reference, np.arange(300) % 10, {})
    base = solid_images(20 * (np.arange(40) % 4) + 10 * (np.arange(40) >= 20), seed=1)  # 4 classes, half sure
    new = solid_images(20 * np.repeat([0, 1, 2], [20, 10, 10]), seed=2)  # 2^1.5 classes, all sure
    results = yardstick.compare({"baseline": base, "new": new}, "baseline", resamples=50)
    assert "vs_baseline" not in results["baseline"]
    ratios = results["new"]["vs_baseline"]
    # The features are the images' colours: the FIDs follow from them directly.
    fids = [evaluation.frechet_distance(images[:, 0, 0].astype(float), reference) for images in (new, base)]
    assert ratios["fid_ratio"] == pytest.approx(fids[0] / fids[1], rel=1e-9)
    assert ratios["recognizable_ratio"] == 2.0  # 1.0 against 0.5
    assert ratios["effective_classes_ratio"] == pytest.approx(2**1.5 / 4, rel=1e-9)
    ratios.update(fid_ratio_interval=[1.234, 1.875], recognizable_ratio_interval=[1.5, 2.666])
    line = (
        f"classifier-FID {fids[0] / fids[1]:.2f}x the baseline's (95% interval 1.23-1.88), "
        "recognizable 2.00x (1.50-2.67), effective classes 0.71x"
    )
    assert evaluation.against_baseline(results["new"]) == line
    text = evaluation.against_baseline_text(results)  # one line per compared set
    assert text.splitlines() == [f"new: {line}"]


def test_per_class_kids_single_out_the_class_drawn_off_its_reference():
    """Each class's images are drawn as its reference images are (solid colours, red level 20c plus
    a little noise); then class 3's red moves by 80: its KID grows many times over, and every other
    class's stays as it was."""
    labels = np.repeat(np.arange(10), 60)
    reds = lambda seed: 20 * labels + np.random.default_rng(seed).integers(0, 8, 600)  # noqa: E731
    reference = solid_images(reds(1), seed=1)[:, 0, 0].astype(float)  # the features: the mean colour
    yardstick = evaluation.Yardstick(colour_classifier(), reference, labels, {})
    alike = solid_images(reds(2), seed=2)
    moved = solid_images(reds(2) + np.where(labels == 3, 80, 0), seed=2)
    kids_alike = yardstick.per_class_kids(lambda c: alike[labels == c])
    kids_moved = yardstick.per_class_kids(lambda c: moved[labels == c])
    assert len(kids_moved) == 10 and kids_moved[3] > 10 * abs(kids_alike[3])
    assert [k for c, k in enumerate(kids_moved) if c != 3] == [k for c, k in enumerate(kids_alike) if c != 3]


def test_per_class_fids_on_a_known_case():
    """A stand-in conditional G draws solid colours, its red level set by the class; the reference
    features of class c are those of the images G draws as class c (seed + c) with red moved by c,
    and the test images of class c are those images with green moved by 2. Equal covariances
    leave only the means' distance: FID c^2 for G, c^2 + 4 for the test images."""
    noise, label = tf.keras.Input((NOISE_DIM,)), tf.keras.Input((), dtype="int32")
    colour = tf.keras.layers.Lambda(
        lambda inputs: tf.stack(
            [
                tf.cast(inputs[1], tf.float32) * 0.1 - 0.45 + 0.05 * inputs[0][:, 0],
                0.2 * inputs[0][:, 1],
                0.2 * inputs[0][:, 2],
            ],
            axis=1,
        )
    )([noise, label])
    image = tf.keras.layers.Lambda(lambda c: tf.tile(c[:, None, None, :], [1, 32, 32, 1]))(colour)
    generator = tf.keras.Model([noise, label], image)
    count, seed = 20, 5
    drawn = {c: reports.generate_images(generator, count, seed + c, label=c) for c in range(10)}
    colours = {c: images[:, 0, 0].astype(float) for c, images in drawn.items()}
    reference = np.concatenate([colours[c] + [c, 0, 0] for c in range(10)])
    yardstick = evaluation.Yardstick(colour_classifier(), reference, np.repeat(np.arange(10), count), {})
    test_images = np.concatenate([drawn[c] + np.uint8([0, 2, 0]) for c in range(10)])
    assert all(images[..., 1].max() <= 253 for images in drawn.values())  # the + 2 did not wrap
    test_labels = np.repeat(np.arange(10), count)
    # Three more test images of each class after the first `count`: only the first `count` are used.
    test_images = np.concatenate([test_images, np.zeros((30, 32, 32, 3), np.uint8)])
    test_labels = np.concatenate([test_labels, np.arange(30) % 10])
    fids = reports.per_class_fids({"G": generator}, yardstick, (test_images, test_labels), count, seed)
    assert list(fids) == ["G", "real test images"]
    assert fids["G"] == pytest.approx([c**2 for c in range(10)], abs=1e-6)
    assert fids["real test images"] == pytest.approx([c**2 + 4 for c in range(10)], abs=1e-6)


def test_search_table_compares_time_within_a_precision_and_names_it():
    def row(name, seed, seconds, precision="mixed_bfloat16"):
        metrics = {"classifier_fid": 30.0, "recognizable": 0.05, "effective_classes": 6.0}
        result = {"seconds_per_epoch": seconds, "fake_acc": 0.9, "generator": metrics, "ema": metrics}
        return search_row(name, seed, result, epochs=3, precision=precision)

    table = search.search_table(
        [
            row("baseline", 42, 60.0),
            row("baseline", 43, 80.0),
            row("wide_generator", 42, 91.0),
            row("diffaugment", 42, 300.0, "float32"),  # no float32 baseline to compare with
        ]
    )
    rows = table.splitlines()[2:6]
    assert rows[0].endswith("| 0.86x | mixed_bfloat16 |") and rows[2].endswith("| 1.30x | mixed_bfloat16 |")
    assert rows[3].startswith("| diffaugment | 42 | 3 | 30.00 |") and rows[3].endswith("| 300 s | float32 |")
    # Below the table, one line for each retired candidate it shows, and for none other.
    assert table.splitlines()[6:] == [
        "",
        f"- `wide_generator`: {search.RETIRED['wide_generator']}. Its code is gone: its rows are shown as "
        "saved, never trained again.",
    ]

    floor = {
        "classifier_fid": 0.08,
        "recognizable": 0.645,
        "effective_classes": 9.9,
        "label_agreement": 0.857,
        "per_class_kid": 0.75,
    }
    with_floor = search.search_table([row("baseline", 42, 60.0)], {**floor, "per_class_fid": None})
    assert with_floor.splitlines()[3] == (
        "| real test images (the floor) | - | - | - | 0.08 | 64.5% | 9.90 | 85.7% | - | 0.75 | - | - | - |"
    )


def test_the_real_floor_measures_real_test_images_as_the_generated_ones_are():
    """Real test images at their class's red level, a few misplaced: the floor gives the classifier's
    accuracy on them as the agreement's ceiling, and per-class FID only with enough images a class."""
    labels = np.arange(100) % 10
    reds = 20 * labels + np.where(np.arange(100) < 5, 20, 0)  # the first five look like the next class
    test_set = (solid_images(reds, seed=0), labels)
    features = solid_images(20 * labels, seed=1)[:, 0, 0].astype(float)
    yardstick = evaluation.Yardstick(colour_classifier(), features, labels, {})
    floor = search.real_floor(yardstick, test_set, 100, {"overall": 0.7})
    assert floor["label_agreement"] == pytest.approx(0.95) and floor["cas"] == 0.7
    assert floor["per_class_fid"] is not None and floor["per_class_kid"] == pytest.approx(
        np.mean(yardstick.per_class_kids(lambda c: test_set[0][labels == c]))
    )
    assert yardstick.metrics(test_set[0])["classifier_fid"] == pytest.approx(floor["classifier_fid"])
    few = search.real_floor(yardstick, test_set, 40, None)  # 4 a class: no per-class FID; no CAS yet
    assert few["per_class_fid"] is None and few["cas"] is None and few["per_class_kid"] is not None
    one = search.real_floor(yardstick, test_set, 15, None)  # one image of classes 5-9: no KID either
    assert one["per_class_kid"] is None and one["label_agreement"] == pytest.approx(10 / 15)  # five misplaced
    with pytest.raises(ValueError, match="per-class KID of class 5: 1 images, need 2"):
        yardstick.per_class_kids(lambda c: test_set[0][:15][labels[:15] == c])


# ---------------------------------------------------------------- the class-conditional GAN ----


def test_conditional_batch_norm_gives_each_class_its_own_scale_and_shift(nb):
    layer = nb["ConditionalBatchNorm"]()  # a scale and a shift for each of the 10 classes
    x = tf.random.normal([8, 3, 3, 5], seed=1)
    labels = tf.constant([0, 1, 2, 9, 0, 1, 2, 9])
    layer([x, labels])
    scale = np.ones((10, 5), "float32")
    scale[2] = [1.0, 2.0, 3.0, 4.0, 5.0]
    shift = np.zeros((10, 5), "float32")
    shift[9] = -7.0
    layer.scale.assign(scale)
    layer.shift.assign(shift)
    out = layer([x, labels], training=True).numpy()
    mean, var = x.numpy().mean(axis=(0, 1, 2)), x.numpy().var(axis=(0, 1, 2))
    normed = (x.numpy() - mean) / np.sqrt(var + layer.norm.epsilon)
    for i, label in enumerate(labels.numpy()):
        assert np.allclose(out[i], normed[i] * scale[label] + shift[label], atol=1e-4), label
    # A new layer starts as plain batch norm: scale 1, shift 0 for every class.
    fresh = nb["ConditionalBatchNorm"]()
    assert np.allclose(fresh([x, labels], training=True).numpy(), normed, atol=1e-4)


def test_projection_head_is_linear_plus_the_class_dot_product(nb):
    head = nb["ProjectionHead"]()  # one vector for each of the 10 classes
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
    noise = tf.random.normal([12, NOISE_DIM], seed=3)
    cbn = [layer for layer in generator.layers if isinstance(layer, nb["ConditionalBatchNorm"])]
    assert len(cbn) == 3 and not any(
        isinstance(layer, tf.keras.layers.Embedding) for layer in generator.layers
    )
    cbn[-1].shift.assign(tf.random.normal(cbn[-1].shift.shape, seed=4))  # classes now differ
    horse = generator([noise[:2], tf.constant([7, 7])]).numpy()
    ship = generator([noise[:2], tf.constant([8, 8])]).numpy()
    assert horse.shape == (2, 32, 32, 3) and horse.dtype == np.float32 and not np.allclose(horse, ship)
    # Without labels, image i is drawn as class i mod 10.
    drawn = nb["draw_with_labels"](generator, noise).numpy()
    assert np.array_equal(drawn, generator([noise, tf.range(12) % 10], training=False).numpy())
    assert np.array_equal(drawn[:2], nb["draw_with_labels"](generator, noise[:2], [0, 1]).numpy())
    discriminator = nb["build_projection_discriminator"](FILTERS, "mixed_bfloat16")
    logits, class_logits = discriminator([tf.constant(horse), tf.constant([7, 7])])
    assert logits.shape == (2, 1) and class_logits.shape == (2, 10)
    assert logits.dtype == class_logits.dtype == tf.float32
    (head,) = [layer for layer in discriminator.layers if isinstance(layer, nb["ProjectionHead"])]
    assert head.embedding.shape == (10, 4 * 4 * 4 * FILTERS)
    class_head(discriminator)  # and the auxiliary classifier's 10 logits, on the same features


def test_generate_images_of_a_conditional_generator_is_class_balanced_or_one_class():
    """A stand-in conditional G whose image is its label / 10: the drawn labels can be read back."""
    noise = tf.keras.Input((NOISE_DIM,))
    label = tf.keras.Input((), dtype="int32")
    value = tf.keras.layers.Lambda(lambda y: tf.cast(y, tf.float32)[:, None, None, None] / 10)(label)
    image = tf.keras.layers.Lambda(lambda v: tf.tile(v, [1, 32, 32, 3]))(value)
    stand_in = tf.keras.Model([noise, label], image)
    images = reports.generate_images(stand_in, 40, seed=0, batch_size=20)
    labels = np.rint((images[:, 0, 0, 0].astype(float) - 127.5) / 12.75).astype(int)
    assert np.bincount(labels, minlength=10).tolist() == [4] * 10
    for horse in (7, "horse"):
        horses = reports.generate_images(stand_in, 7, seed=0, label=horse)
        assert (np.rint((horses[:, 0, 0, 0].astype(float) - 127.5) / 12.75) == 7).all()


def test_the_noise_walk_moves_the_noise_within_a_class(nb):
    tf.keras.utils.set_random_seed(0)
    generator = nb["build_conditional_generator"](NOISE_DIM, FILTERS, "float32")
    for layer in generator.layers:  # every class its own shift: the classes draw unlike images
        if isinstance(layer, nb["ConditionalBatchNorm"]):
            layer.shift.assign(tf.random.normal(layer.shift.shape, seed=2))
    walk = reports.noise_walk(generator, 3, "horse")
    assert walk.shape == (8, 32, 32, 3) and walk.dtype == np.uint8
    ends = np.random.default_rng(3).standard_normal((2, NOISE_DIM)).astype("float32")
    horses = nb["to_uint8"](nb["draw_with_labels"](generator, ends, [7, 7]))
    assert np.array_equal(walk[0], horses[0]) and np.array_equal(walk[-1], horses[1])
    cars = nb["to_uint8"](nb["draw_with_labels"](generator, ends, [1, 1]))
    assert not np.array_equal(walk[0], cars[0]) and not np.array_equal(walk[-1], cars[1])
    assert len({image.tobytes() for image in walk}) == 8  # it moves at every step


def test_search_decision_needs_the_gap_to_beat_both_seed_spreads():
    def row(name, seed, g, ema, epochs=10):
        return search_row(
            name, seed, {"generator": {"classifier_fid": g}, "ema": {"classifier_fid": ema}}, epochs
        )

    results = [
        row("baseline", 42, 25.0, 20.0),  # every recipe is judged by its average: 20 and 22
        row("baseline", 43, 27.0, 22.0),
        row("conditional", 42, 30.0, 16.0),  # conditional+ema: 16 and 18.5
        row("conditional", 43, 30.0, 18.5),
        row("conditional", 44, 1.0, 1.0, epochs=3),  # another length of run: not counted
    ]
    summary = search.seed_summary(results, "conditional+ema", 10)
    assert summary == {"seeds": 2, "mean": 17.25, "spread": 2.5}
    line = search.search_decision(results, "conditional+ema", 10)
    assert (
        "17.25 (spread 2.50)" in line
        and "21.00 (spread 2.00)" in line
        and line.endswith("gap 3.75, confirmed.")
    )
    results[3] = row("conditional", 43, 30.0, 21.0)  # spread 5 > gap 2.5
    assert search.search_decision(results, "conditional+ema", 10).endswith("not confirmed.")
    del results[1]  # the baseline at seed 43
    assert "needs two seeds" in search.search_decision(results, "conditional+ema", 10)


def test_step_7s_train_step_compiles_with_xla_and_trains(nb, tmp_path):
    """Issue 26: JIT_COMPILE = True, the first thing a GPU user tries, on Step 7's whole recipe
    (DiffAugment, the AC term, the average). The step compiles to one XLA program, and two steps
    train: finite metrics, every weight of G and D moved, the average moved toward G, D's batch-norm
    statistics updated. (Under XLA the random generator draws other numbers than without it, so the
    two are not compared value for value.)"""
    recipe = tiny_step7_recipe(diffaugment=True, ema_decay=0.999, ac_weight=1.0)
    run = tiny_run(nb, tmp_path, recipe=recipe, jit=True)
    batch, noise_std = (tf.random.uniform([8, 32, 32, 3], -1, 1, seed=4), tf.range(8) % 10), tf.constant(0.1)
    step = nb["make_conditional_train_step"](run)
    assert "HloModule" in step.experimental_get_compiler_ir(batch, noise_std)(stage="hlo")

    def values(model, kind: str) -> list[np.ndarray]:
        return [w.numpy() for w in getattr(model, kind)]

    g, d, average = run.generator, run.discriminator, run.ema_generator
    before = [
        values(g, "trainable_weights"),
        values(d, "trainable_weights"),
        values(d, "non_trainable_weights"),
    ]
    before_average = values(average, "trainable_weights")
    metrics = np.array([step(batch, noise_std).numpy() for _ in range(2)])
    assert np.isfinite(metrics).all() and ((metrics[:, 2:] >= 0) & (metrics[:, 2:] <= 1)).all()
    after = [
        values(g, "trainable_weights"),
        values(d, "trainable_weights"),
        values(d, "non_trainable_weights"),
    ]
    for old, new in zip(before, after, strict=True):  # G's and D's weights, D's moving statistics
        assert all(not np.array_equal(a, b) for a, b in zip(old, new, strict=True))
    toward_g = [  # each weight of the average is now nearer G's than it was
        np.abs(b - gw).sum() < np.abs(a - gw).sum()
        for a, b, gw in zip(before_average, values(average, "trainable_weights"), after[0], strict=True)
    ]
    assert all(toward_g)
