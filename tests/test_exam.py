"""Issue 27, item 1: D's exam after each epoch, on held-out real images and fresh fakes, judged
with batch statistics, changing no variable training reads, saved in the history and drawn."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import tiny_run, tiny_step7_recipe, train_step_of  # noqa: E402

import dcgan_eval as evaluation  # noqa: E402
import dcgan_utils as utils  # noqa: E402


def tiny_exam(count: int = 24, batch_size: int = 8, inference: bool = False) -> evaluation.DiscriminatorExam:
    rng = np.random.default_rng(1)
    split = (rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, count))
    other = (rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, count))
    return evaluation.exam_of(split, other, batch_size, seed=5, count=count, inference=inference)


@pytest.fixture(params=["dcgan", "step7"])
def trained_run(request, nb, tmp_path):
    """A tiny opened run of each kind after one epoch of training on 16 images."""
    recipe = (
        tiny_step7_recipe(diffaugment=True, ema_decay=0.999, ac_weight=1.0)
        if request.param == "step7"
        else None
    )
    run = tiny_run(nb, tmp_path, request.param, recipe=recipe, opened=True)
    images = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype("float32")
    data = nb["TrainingData"]((images, np.arange(16) % 10) if recipe else images, 8)
    nb["train"](run, train_step_of(nb, run), data, 1)
    return run


def test_the_exam_changes_nothing_training_reads_and_repeats_exactly(trained_run):
    variables = utils.checkpoint_variables(trained_run.manager.checkpoint)
    before = [v.numpy().copy() for v in variables]
    exam = tiny_exam(inference=True)  # in inference mode too
    first, second = exam.take(trained_run, 3), exam.take(trained_run, 3)
    assert first == second and set(first) == {*evaluation.EXAM_KEYS, *evaluation.INFERENCE_KEYS}
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, variables, strict=True))


def test_d_judges_each_batch_with_its_own_statistics(trained_run):
    """The exam's logits are D's in training mode, batch by batch, not in inference mode."""
    d, exam = trained_run.discriminator, tiny_exam()
    images, labels = exam.unseen
    conditional = len(d.inputs) == 2
    saved = [v.numpy().copy() for v in d.non_trainable_variables]
    expected = []
    for start in range(0, len(images), 8):
        batch = (
            [images[start : start + 8], labels[start : start + 8]]
            if conditional
            else images[start : start + 8]
        )
        out = d(batch, training=True)
        expected.append(np.asarray(out[0] if conditional else out)[:, 0])
    for v, value in zip(d.non_trainable_variables, saved, strict=True):
        v.assign(value)  # the call above moved the statistics; the exam must not
    inference = np.asarray(
        d([images, labels] if conditional else images, training=False)[0 if conditional else ...]
    )
    got = exam.logits(d, images, labels)
    np.testing.assert_allclose(got, np.concatenate(expected), atol=1e-5)
    assert not np.allclose(got, np.ravel(inference), atol=1e-3)  # inference mode would differ


def test_the_exam_counts_at_both_thresholds(nb, tmp_path, monkeypatch):
    """Logits of fakes -1, 0.25 and 1: caught at logit < 0 is one in three, at < 0.5 two in three."""
    run = tiny_run(nb, tmp_path)
    exam = tiny_exam(count=3, batch_size=3)
    logits = {"fakes": np.array([-1.0, 0.25, 1.0]), "real": np.array([2.0, -2.0, 1.0])}

    def fixed_logits(discriminator, images, labels):
        return logits["real"] if images is exam.seen[0] or images is exam.unseen[0] else logits["fakes"]

    monkeypatch.setattr(exam, "logits", fixed_logits)
    result = exam.take(run, 1)
    assert result["fresh_fake_acc"] == pytest.approx(1 / 3)
    assert result["fresh_fake_acc_course"] == pytest.approx(2 / 3)
    assert result["held_out_real_acc"] == pytest.approx(2 / 3) == result["seen_real_acc"]
    text = evaluation.exam_text({"epoch": 1, **result})
    assert "33% at logit < 0 (ours), 67% at logit < 0.5 (the course's)" in text
    assert "no exam" in evaluation.exam_text({"epoch": 4, "fake_acc": 0.9})


def test_training_saves_the_exam_in_the_history_and_draws_it(nb, tmp_path):
    run = tiny_run(nb, tmp_path, "examined", opened=True, checkpoint_every=1)
    run.exam = tiny_exam()
    images = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype("float32")
    nb["train"](run, train_step_of(nb, run), nb["TrainingData"](images, 8), 2)
    saved = utils.load_history(run.paths["history"])
    assert all(set(evaluation.EXAM_KEYS) <= set(row) for row in saved)
    lines_with, lines_without = drawn_lines(nb, saved, tmp_path), drawn_lines(nb, plain(saved), tmp_path)
    assert lines_with == [
        "real accuracy",
        "fake accuracy",
        "real, held out",
        "fake, fresh",
        "0.5",
    ]
    assert lines_without == ["real accuracy", "fake accuracy", "0.5"]  # an older history draws as before


def plain(history):
    return [{k: v for k, v in row.items() if k not in evaluation.EXAM_KEYS} for row in history]


def drawn_lines(nb, history, folder) -> list[str]:
    import matplotlib.pyplot as plt

    captured = {}
    real_save = utils.save_figure

    def keep(fig, path, **kwargs):
        captured["labels"] = [line.get_label() for line in fig.axes[1].get_lines()]
        real_save(fig, path, **kwargs)

    utils.save_figure = keep
    try:
        nb["draw_train_history"](history, folder / "history.png")
    finally:
        utils.save_figure = real_save
        plt.close("all")
    return captured["labels"]


def test_the_exam_draws_fakes_from_its_own_noise(nb, tmp_path):
    """The fakes' noise is seeded by (seed, epoch): the run's training stream is not touched."""
    run = tiny_run(nb, tmp_path, recipe=tiny_step7_recipe(ema_decay=0.999))
    state = run.noise_rng.state.numpy().copy()
    tiny_exam().take(run, 1)
    assert np.array_equal(state, run.noise_rng.state.numpy())


def test_d_sees_the_exams_images_through_the_runs_augmentation(nb, tmp_path, monkeypatch):
    """A Step 7 run with DiffAugment is examined on augmented images, as it trains on them (with the
    exam's own draws); without DiffAugment, on the images as they are."""
    seen = []
    for diffaugment in (True, False):
        run = tiny_run(nb, tmp_path, f"aug-{diffaugment}", recipe=tiny_step7_recipe(diffaugment=diffaugment))
        exam = tiny_exam()
        judged, real_logits = [], exam.logits

        def recording(d, images, labels, judged=judged, real_logits=real_logits):
            judged.append(images)
            return real_logits(d, images, labels)

        monkeypatch.setattr(exam, "logits", recording)
        exam.take(run, 1)
        seen.append(np.array_equal(judged[1], exam.seen[0]) and np.array_equal(judged[2], exam.unseen[0]))
    assert seen == [False, True]


def test_with_inference_the_exam_also_judges_d_as_used_after_training(nb, tmp_path):
    run = tiny_run(nb, tmp_path)
    exam = tiny_exam(inference=True)
    result = exam.take(run, 1)
    held_out = np.asarray(run.discriminator(exam.unseen[0], training=False))[:, 0]
    assert result["held_out_real_acc_inference"] == pytest.approx(np.mean(held_out > 0))
    assert set(evaluation.INFERENCE_KEYS) <= set(result)
    exam.inference = False
    assert not set(evaluation.INFERENCE_KEYS) & set(exam.take(run, 1))  # only when asked
    assert "D in inference mode: " in evaluation.exam_text({"epoch": 1, **result})
