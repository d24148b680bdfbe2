"""The balanced-baseline search (dcgan_baseline_search.py): D's targets and where "can't tell"
lands, the candidate levers, their short runs with D's exam, and the rule written before they ran."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_recipe, tiny_settings
from test_exam import tiny_exam

import dcgan_baseline_search as baseline_search
import dcgan_search as search
import dcgan_utils as utils

REF = baseline_search.REFERENCE


def candidate(levers: str = "", **changes) -> dict:
    return {**baseline_search.make_recipe(REF + levers, tiny_recipe()), **changes}


@pytest.mark.parametrize(("real_label", "mean_logit"), [(1.0, 0.0), (0.9, -0.20)])
def test_where_d_cannot_tell_real_from_fake_its_targets_decide_the_logit(nb, real_label, mean_logit):
    """ "Real" and "fake" batches from one distribution: D's best probability is t / 2 for real
    target t, so logit 0 with targets 1 and 0 (the accuracy's threshold), and log(0.45 / 0.55) =
    -0.20 with one-sided smoothing, where nearly every fake counts as caught."""
    layer = tf.keras.layers.Dense(1, kernel_initializer="zeros")
    layer.build((None, 4))
    optimizer = tf.keras.optimizers.SGD(0.5)
    rng = tf.random.Generator.from_seed(3)
    for _ in range(300):
        real, fake = rng.normal([1024, 4]), rng.normal([1024, 4])
        with tf.GradientTape() as tape:
            loss = nb["discriminator_loss"](layer(real), layer(fake), real_label)
        gradients = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply_gradients(zip(gradients, layer.trainable_variables, strict=True))
    real, fake = rng.normal([4096, 4]), rng.normal([4096, 4])
    assert layer(tf.concat([real, fake], 0)).numpy().mean() == pytest.approx(mean_logit, abs=0.03)
    if real_label < 1:  # the bias: nearly every fake "caught", nearly every real image "fake"
        real_acc, fake_acc, _ = nb["discriminator_accuracy"](layer(real), layer(fake))
        assert float(fake_acc) > 0.95 and float(real_acc) < 0.05


def test_the_accuracy_also_counts_fakes_at_the_courses_threshold(nb):
    fakes = tf.constant([[-1.0], [0.2], [0.4], [0.7]])  # below 0: one; below 0.5: three
    real_acc, fake_acc, course = nb["discriminator_accuracy"](tf.constant([[1.0]]), fakes)
    assert (float(real_acc), float(fake_acc), float(course)) == (1.0, 0.25, 0.75)
    assert utils.METRIC_NAMES[-1] == "fake_acc_course"


def test_recipes_put_the_reference_targets_first_and_add_levers_in_order():
    reference = candidate()
    assert reference["real_label"] == 1.0 and reference["disc_lr"] == tiny_recipe()["disc_lr"]
    assert {key: reference[key] for key in baseline_search.LEVERS_OFF} == baseline_search.LEVERS_OFF
    both = candidate("+dropout+slow_d")
    assert both["disc_dropout"] == 0.3 and both["disc_lr"] == 1e-4
    for wrong in ("dropout", f"{REF}+dropuot", f"{REF}+ada"):
        with pytest.raises(utils.ParameterError, match="levers from dropout, spectral_norm"):
            baseline_search.make_recipe(wrong, tiny_recipe())


def test_step_7_keeps_its_own_targets_whatever_steps_0_6_use():
    """Step 7's runs and the searches' rows were made with D's real target 0.9: they keep it."""
    balanced = {**tiny_recipe(real_label=1.0), **baseline_search.CANDIDATES["dropout"]}
    recipe = search.make_recipe("conditional+diffaugment+ema+ac", balanced)
    assert recipe["real_label"] == 0.9 and "disc_dropout" not in recipe


def layer_kinds(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_with_every_lever_off_the_discriminator_is_step_3s(nb):
    tf.keras.utils.set_random_seed(0)
    step3 = nb["build_discriminator"](8, "float32")
    tf.keras.utils.set_random_seed(0)
    plain = baseline_search.build_candidate_discriminator(candidate(), "float32")
    assert layer_kinds(plain) == layer_kinds(step3)
    assert [w.shape for w in plain.weights] == [w.shape for w in step3.weights]
    images = tf.random.stateless_uniform([4, 32, 32, 3], [1, 0], -1, 1)
    assert np.allclose(plain(images, training=True), step3(images, training=True))


def test_dropout_follows_each_leaky_relu_and_spectral_norm_replaces_batch_norm():
    kinds = layer_kinds(baseline_search.build_candidate_discriminator(candidate("+dropout"), "float32"))
    assert [kinds[i + 1] for i, kind in enumerate(kinds) if kind == "LeakyReLU"] == ["Dropout"] * 3
    kinds = layer_kinds(baseline_search.build_candidate_discriminator(candidate("+spectral_norm"), "float32"))
    assert kinds.count("SpectralNormalization") == 3 and "BatchNormalization" not in kinds


def test_r1_of_a_linear_discriminator_is_its_weights_squared_norm():
    """D(x) = w.x + b: the gradient in x is w for every image, so E||grad||^2 = ||w||^2."""
    linear = tf.keras.Sequential(
        [tf.keras.Input((32, 32, 3)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(1)]
    )
    w = linear.layers[-1].kernel.numpy()
    images = tf.random.stateless_normal([5, 32, 32, 3], [2, 0])
    assert float(baseline_search.r1_penalty(linear, images)) == pytest.approx(float(np.sum(w**2)), rel=1e-5)


def shifted(image: np.ndarray, down: int, right: int) -> np.ndarray:
    """`image` moved by (down, right) pixels, zeros where it left the frame."""
    s = baseline_search.SHIFT
    padded = np.pad(image, [(s, s), (s, s), (0, 0)])
    return padded[s - down : s - down + 32, s - right : s - right + 32]


def test_flip_and_shift_flips_or_not_and_moves_each_image_by_at_most_four_pixels():
    image = np.arange(32 * 32 * 3, dtype="float32").reshape(32, 32, 3) + 1
    moved = baseline_search.flip_and_shift(
        tf.constant(np.repeat(image[None], 64, 0)), tf.random.Generator.from_seed(0)
    )
    moves = range(-baseline_search.SHIFT, baseline_search.SHIFT + 1)
    found = []
    for result in moved.numpy():
        matches = [
            (flip, down, right)
            for flip in (False, True)
            for down in moves
            for right in moves
            if np.array_equal(result, shifted(image[:, ::-1] if flip else image, down, right))
        ]
        assert len(matches) == 1
        found += matches
    assert {flip for flip, _, _ in found} == {False, True} and len({move[1:] for move in found}) > 20


def test_each_penalty_trains_d_alone_and_only_when_asked(nb):
    """Same seed, same batch: with R1 or bCR on, D's loss and D's weights after the step differ from
    the reference's, G's loss and weights do not (the penalty is D's alone); with neither, the
    run's penalty is 0."""
    images = tf.random.stateless_uniform([8, 32, 32, 3], [7, 0], -1, 1)
    metrics, weights = {}, {}
    for levers in ("", "+r1", "+bcr"):
        run = baseline_search.build_candidate_run(candidate(levers), {}, tiny_settings())
        metrics[levers] = nb["make_train_step"](run)(images, tf.constant(0.0)).numpy()
        weights[levers] = [
            [w.numpy() for w in model.trainable_weights] for model in (run.generator, run.discriminator)
        ]
        if not levers:
            assert float(run.discriminator_penalty(images, images, tf.zeros([8, 1]), tf.zeros([8, 1]))) == 0.0
    for levers in ("+r1", "+bcr"):
        assert metrics[levers][0] == pytest.approx(metrics[""][0]) and metrics[levers][1] != metrics[""][1]
        (g, d), (g_ref, d_ref) = weights[levers], weights[""]
        assert all(np.array_equal(a, b) for a, b in zip(g, g_ref, strict=True))
        assert not all(np.allclose(a, b) for a, b in zip(d, d_ref, strict=True))


def test_r1s_gradient_reaches_ds_weights():
    """D(x) = w.x + b: the penalty is ||w||^2, whose gradient in w is 2w."""
    linear = tf.keras.Sequential(
        [tf.keras.Input((32, 32, 3)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(1)]
    )
    kernel = linear.layers[-1].kernel
    with tf.GradientTape() as tape:
        penalty = baseline_search.r1_penalty(linear, tf.random.stateless_normal([4, 32, 32, 3], [3, 0]))
    np.testing.assert_allclose(
        tape.gradient(penalty, kernel).numpy(), 2 * kernel.numpy(), rtol=1e-4, atol=1e-7
    )


def test_a_short_run_sits_the_exam_as_played_and_in_inference_mode_each_epoch(nb):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (32, 32, 32, 3)).astype("float32")
    exam = tiny_exam(inference=True)
    short = search.SearchSetup(images, np.arange(32) % 10, 16, 2, 20, "float32", exam)

    class MeanPixel:
        def metrics(self, images):
            return {"classifier_fid": float(images.mean()), "recognizable": 0.5}

    result = baseline_search.short_run(candidate("+dropout"), 3, short, tiny_settings(), MeanPixel())
    assert [row["epoch"] for row in result["history"]] == [1, 2]
    keys = {"fake_acc", "fake_acc_course", "fresh_fake_acc", "held_out_real_acc", "fresh_fake_acc_inference"}
    assert all(keys <= set(row) for row in result["history"])
    assert result["generator"]["recognizable"] == 0.5


def exam_history(fake_start: float, fake_step: float, fresh_step: float, gap: float) -> list[dict]:
    return [
        {
            "epoch": e,
            "fake_acc": fake_start + fake_step * e,
            "fresh_fake_acc": 0.9 + fresh_step * e,
            "seen_real_acc": 0.8,
            "held_out_real_acc": 0.8 - gap,
        }
        for e in range(1, 31)
    ]


def row(recipe: str, seed: int, history: list[dict], fid: float, recognizable: float) -> dict:
    measured = {"classifier_fid": fid, "recognizable": recognizable}
    return {
        "recipe": recipe,
        "seed": seed,
        "epochs": 30,
        "result": {"history": history, "generator": measured},
    }


def test_the_rule_judges_each_candidate_against_the_reference_at_its_seed():
    rows = [
        row(REF, 44, exam_history(0.90, 0.001, 0.0, 0.02), 40.0, 0.15),  # rises: last-5 mean 0.928
        row(REF, 45, exam_history(0.89, 0.001, 0.0, 0.02), 41.0, 0.16),  # spreads 0.01, 1.0, 0.01
        row(f"{REF}+dropout", 44, exam_history(0.95, -0.005, -0.001, 0.05), 40.5, 0.145),  # passes
        row(f"{REF}+slow_d", 44, exam_history(0.95, -0.005, 0.001, 0.05), 40.5, 0.145),  # fresh fakes rise
        row(f"{REF}+r1", 44, exam_history(0.95, -0.005, -0.001, 0.15), 40.5, 0.145),  # memorises
        row(f"{REF}+bcr", 44, exam_history(0.95, -0.005, -0.001, 0.05), 41.5, 0.145),  # FID beyond spread
        row(f"{REF}+spectral_norm", 44, exam_history(0.83, -0.0001, -0.001, 0.05), 40, 0.12),  # recognizable
    ]
    judged = {j["recipe"].split("+")[1]: j for j in baseline_search.judged_rows(rows)}
    assert judged["dropout"]["passes"]
    assert judged["dropout"]["fake_mean_limit"] == pytest.approx(0.928 - 0.01)
    met = {name: [v["met"] for v in j["verdicts"]] for name, j in judged.items()}
    assert met["slow_d"] == [True, False, True, True]
    assert met["r1"] == [True, True, True, False]
    assert met["bcr"] == [True, True, False, True]
    assert met["spectral_norm"] == [True, True, False, True]
    assert baseline_search.judged_rows(rows[:1] + rows[2:]) == []  # no spread without both references
    longer = {**row(f"{REF}+slow_d", 44, exam_history(0.95, -0.005, -0.001, 0.05), 40.5, 0.145), "epochs": 50}
    again = {j["recipe"].split("+")[1]: j for j in baseline_search.judged_rows([*rows, longer])}
    assert not again["slow_d"]["passes"]  # a row of another length, which would pass, is not judged
    assert baseline_search.next_runs(list(judged.values())) == {
        "combined": None,
        "winner": "dropout",
        "confirmed": False,
    }


def test_two_that_pass_train_together_and_the_best_is_confirmed_at_45():
    good = exam_history(0.95, -0.005, -0.001, 0.05)
    better = exam_history(0.90, -0.005, -0.001, 0.05)
    rows = [
        row(REF, 44, exam_history(0.90, 0.001, 0.0, 0.02), 40.0, 0.15),
        row(REF, 45, exam_history(0.89, 0.001, 0.0, 0.02), 41.0, 0.16),
        row(f"{REF}+dropout", 44, good, 40.5, 0.145),
        row(f"{REF}+slow_d", 44, better, 40.5, 0.145),
    ]
    assert baseline_search.next_runs(baseline_search.judged_rows(rows))["combined"] == "slow_d+dropout"
    rows.append(row(f"{REF}+slow_d", 45, better, 41.0, 0.16))
    assert baseline_search.next_runs(baseline_search.judged_rows(rows)) == {
        "combined": "slow_d+dropout",
        "winner": "slow_d",
        "confirmed": True,
    }


def test_the_plan_runs_the_references_then_each_candidate_then_the_combination_and_the_winner():
    assert baseline_search.search_plan(["dropout", "r1"], "dropout+r1", "dropout") == [
        (REF, 44), (REF, 45), (f"{REF}+dropout", 44), (f"{REF}+r1", 44), (f"{REF}+dropout+r1", 44),
        (f"{REF}+dropout", 45),
    ]  # fmt: skip


def test_the_table_shows_every_run_its_exam_and_what_a_failing_candidate_missed():
    reference = exam_history(0.90, 0.001, 0.0, 0.02)
    rows = [
        row(REF, 44, reference, 40.0, 0.15),
        row(REF, 45, exam_history(0.89, 0.001, 0.0, 0.02), 41.0, 0.16),
        row(f"{REF}+r1", 44, exam_history(0.95, -0.005, -0.001, 0.15), 40.5, 0.145),
    ]
    for each in rows:
        each["result"]["seconds_per_epoch"] = 50.0
    lines = baseline_search.search_table(rows).splitlines()
    assert len(lines) == 2 + 3 and lines[2].startswith("| reference | 44 | 0.901 / 0.930 | 0.928 | +0.010 |")
    assert lines[-1].startswith("| +r1 | 44 |") and lines[-1].endswith("| fails 4. 0.150 |")
    assert "| 0.870 / - |" in lines[-1]  # a history without the inference-mode exam shows a dash
    assert "not judged yet" in baseline_search.search_table(rows[:1] + rows[2:])
    assert "No short runs" in baseline_search.search_table([])


def test_the_curves_draw_a_panel_per_run_with_text_of_at_least_9_points(tmp_path):
    import matplotlib.pyplot as plt

    rows = [row(REF, seed, exam_history(0.9, 0.001, 0.0, 0.02), 40.0, 0.15) for seed in (44, 45, 46, 47, 48)]
    drawn = []
    original = plt.Figure.savefig
    plt.Figure.savefig = lambda fig, *args, **kwargs: drawn.append(fig) or original(fig, *args, **kwargs)
    try:
        path = baseline_search.draw_search_curves(rows, tmp_path / "curves.png")
    finally:
        plt.Figure.savefig = original
    assert path.exists() and len(drawn) == 1
    panels = [ax for ax in drawn[0].axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [f"reference, seed {s}" for s in (44, 45, 46, 47, 48)]
    texts = [t for t in drawn[0].findobj(plt.Text) if t.get_text()]
    assert min(t.get_fontsize() for t in texts) >= 9


def test_the_exam_draws_a_new_dropout_mask_for_each_batch_as_d_does_in_training(nb):
    discriminator = baseline_search.build_candidate_discriminator(candidate("+dropout"), "float32")
    exam = tiny_exam(batch_size=8)
    images = np.repeat(np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype("float32"), 16, 0)
    played = exam.logits(discriminator, images, np.zeros(16, "int32"))
    assert not np.allclose(played[:8], played[8:])  # the same batch twice: two masks
    after = exam.logits(discriminator, images, np.zeros(16, "int32"), training=False)
    assert np.allclose(after, after[0])  # no dropout, moving statistics: one logit for one image
