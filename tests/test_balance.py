"""Issue 27, item 2: the balancing candidates (dcgan_balance.py), their state in the checkpoint,
their short runs with D's exam, and the rule fixed before they ran."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_recipe, tiny_settings
from test_caches import MeanPixelYardstick
from test_exam import tiny_exam

import dcgan_balance as balance
import dcgan_search as search
import dcgan_utils as utils


def step7(**changes) -> dict:
    return {**search.make_recipe("conditional+diffaugment+ema+ac", tiny_recipe()), **changes}


def batch(count: int = 8):
    images = tf.random.stateless_uniform([count, 32, 32, 3], [7, 0], -1, 1)
    return images, tf.range(count) % 10


def all_weights(run) -> list[np.ndarray]:
    return [
        w.numpy() for model in (run.generator, run.discriminator, run.ema_generator) for w in model.weights
    ]


def test_with_both_candidates_off_the_step_is_step_7s_draw_for_draw(nb):
    plain = nb["build_conditional_run"](step7(), {}, tiny_settings())
    balanced = balance.build_balanced_run(step7(), {}, tiny_settings())
    plain_step, balanced_step = (
        nb["make_conditional_train_step"](plain),
        balance.make_balanced_train_step(balanced),
    )
    for _ in range(2):
        expected, got = plain_step(batch(), tf.constant(0.1)), balanced_step(batch(), tf.constant(0.1))
        assert np.array_equal(expected.numpy(), got.numpy())
    assert all(np.array_equal(a, b) for a, b in zip(all_weights(plain), all_weights(balanced), strict=True))


def test_lecams_penalty_by_hand():
    anchors = tf.Variable([0.5, -0.5])
    real, fake = tf.constant([[1.0], [0.0]]), tf.constant([[-1.0], [1.0]])
    penalty = balance.lecam_penalty(real, fake, anchors)
    # anchors first move toward this batch's means (real 0.5, fake 0.0) at decay 0.99
    assert anchors.numpy() == pytest.approx([0.5, 0.99 * -0.5 + 0.01 * 0.0])
    real_anchor, fake_anchor = 0.5, -0.495
    by_hand = np.mean(np.maximum([1.0 - fake_anchor, 0.0 - fake_anchor], 0) ** 2) + np.mean(
        np.maximum([real_anchor + 1.0, real_anchor - 1.0], 0) ** 2
    )
    assert float(penalty) == pytest.approx(by_hand)


def test_lecam_adds_its_penalty_to_ds_loss_only(nb):
    """Same draws, LeCam at weight 0.1 or off: G's loss and the accuracies match, D's loss differs by
    0.1 x the penalty, and the anchors moved."""
    off = balance.build_balanced_run(step7(), {}, tiny_settings())
    on = balance.build_balanced_run(step7(lecam_weight=0.1), {}, tiny_settings())
    metrics_off = balance.make_balanced_train_step(off)(batch(), tf.constant(0.0)).numpy()
    metrics_on = balance.make_balanced_train_step(on)(batch(), tf.constant(0.0)).numpy()
    assert metrics_on[0] == metrics_off[0] and metrics_on[2:].tolist() == metrics_off[2:].tolist()
    assert metrics_on[1] > metrics_off[1]
    assert not np.array_equal(on.lecam_anchors.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("target, direction", [(-1.0, +1), (1.0, -1)])
def test_adas_p_moves_by_a_batch_over_500k_images_toward_the_target(nb, target, direction):
    """r_t is in [-1, 1]: a target of -1 is always below it (D too sure of reals: p rises), 1 always
    above (p falls, and stays at 0)."""
    run = balance.build_balanced_run(step7(ada_target=target), {}, tiny_settings())
    assert float(run.augment_strength.numpy()) == 0.0  # ADA starts with no augmentation
    run.augment_strength.assign(0.5)
    step = balance.make_balanced_train_step(run)
    for _ in range(3):
        step(batch(), tf.constant(0.0))
    assert float(run.augment_strength.numpy()) == pytest.approx(0.5 + direction * 3 * 8 / 500_000)


def test_p_and_the_anchors_are_in_the_checkpoint(nb, tmp_path):
    run = balance.build_balanced_run(
        step7(ada_target=0.6, lecam_weight=0.1), utils.make_run_paths(tmp_path, "b"), tiny_settings()
    )
    parts = utils.checkpoint_parts(run)
    assert parts["augment_strength"] is run.augment_strength and parts["lecam_anchors"] is run.lecam_anchors
    run.manager = nb["make_checkpoint"](run)
    assert any(v is run.augment_strength for v in utils.checkpoint_variables(run.manager.checkpoint))


def test_a_balanced_short_run_sits_the_exam_each_epoch_and_keeps_its_average(nb, tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (32, 32, 32, 3)).astype("float32")
    short = search.SearchSetup(images, np.arange(32) % 10, 16, 2, 20, "float32", tiny_exam())
    recipe = search.make_recipe("conditional+diffaugment+ac+ada", tiny_recipe())
    result = search.short_run(recipe, 3, short, tiny_settings(), MeanPixelYardstick(), tmp_path / "avg.npz")
    assert [row["epoch"] for row in result["history"]] == [1, 2]
    for row in result["history"]:
        assert {"held_out_real_acc", "fresh_fake_acc", "augment_p", "anchor_real"} <= set(row)
    assert 0 < result["history"][-1]["augment_p"] <= 4 * 16 / 500_000  # 4 steps of 16 images
    assert len(utils.load_arrays(tmp_path / "avg.npz")) > 0


def row(recipe: str, seed: int, fake_acc: float, seen: float, held_out: float, fid: float) -> dict:
    last = {"epoch": 10, "fake_acc": fake_acc, "seen_real_acc": seen, "held_out_real_acc": held_out}
    last |= {"real_acc": 0.7, "fresh_fake_acc": 0.8, "fresh_fake_acc_course": 0.9}
    ema = {"classifier_fid": fid, "label_agreement": 0.8}
    return {"recipe": recipe, "seed": seed, "epochs": 10, "result": {"history": [last], "ema": ema}}


def test_the_rule_needs_both_lower_by_more_than_the_references_spread_and_no_worse_fid():
    ref = balance.REFERENCE
    rows = [
        row(ref, 44, 0.90, 0.95, 0.85, 3.0),  # gap 0.10
        row(ref, 45, 0.88, 0.94, 0.85, 3.2),  # spreads: fake 0.02, gap 0.01, FID 0.2
        row(f"{ref}+lecam03", 44, 0.80, 0.90, 0.86, 3.1),  # passes
        row(f"{ref}+lecam10", 44, 0.89, 0.90, 0.86, 3.1),  # fake accuracy within the spread
        row(f"{ref}+ada", 44, 0.70, 0.90, 0.86, 3.5),  # FID worse beyond the spread
    ]
    verdicts = {v["recipe"].split("+")[-1]: v for v in balance.verdict_rows(rows, 10)}
    assert verdicts["lecam03"]["passes"] and verdicts["lecam03"]["CAS no worse beyond the spread"] is None
    assert (
        not verdicts["lecam10"]["passes"]
        and not verdicts["lecam10"]["fake accuracy lower by more than the spread"]
    )
    assert not verdicts["ada"]["passes"] and not verdicts["ada"]["FID no worse beyond the spread"]
    assert balance.verdict_rows(rows[:1] + rows[2:], 10) == []  # no spread without both reference seeds


def test_the_plan_runs_the_reference_twice_then_each_candidate_then_the_leader():
    ref = balance.REFERENCE
    assert balance.balance_plan(["lecam03", "ada"], "ada") == [
        (ref, 44), (ref, 45), (f"{ref}+lecam03", 44), (f"{ref}+ada", 44), (f"{ref}+ada", 45),
    ]  # fmt: skip


def test_the_table_shows_each_run_with_its_verdict_and_the_gap():
    ref = balance.REFERENCE
    rows = [row(ref, 44, 0.90, 0.95, 0.85, 3.0), row(ref, 45, 0.88, 0.94, 0.85, 3.2)]
    rows += [row(f"{ref}+lecam03", 44, 0.80, 0.90, 0.86, 3.1), row(f"{ref}+ada", 44, 0.70, 0.90, 0.86, 3.5)]
    rows[0]["result"] |= {"cas": 0.61}
    rows[0]["result"]["ema"]["per_class_kid"] = 12.5
    rows[3]["result"]["history"][-1]["augment_p"] = 0.365
    rows[2]["result"]["history"][-1]["augment_p"] = 1.0  # without ADA: every image, not shown as ADA's p
    floor = {"classifier_fid": 0.08, "per_class_kid": 0.31, "label_agreement": 0.857, "cas": 0.736}
    lines = balance.balance_table(rows, 10, floor).splitlines()
    assert len(lines) == 2 + 4 + 1
    assert lines[2].startswith(
        f"| {ref} | 44 | 0.900 | 0.700 | 0.950 | 0.850 | +0.100 | 0.800 / 0.900 | 3.00 | 12.50 | 80.0% "
        "| 0.610 |"
    )
    assert lines[3].endswith("| 3.20 | - | 80.0% | - | - | reference |")  # not measured: "-"
    assert lines[4].startswith("| +lecam03 | 44 |") and lines[4].endswith("| - | - | passes |")
    assert lines[5].endswith("| 0.365 | fails |")
    assert lines[6] == (
        "| real test images (the floor) | - | - | - | - | - | - | - | 0.08 | 0.31 | 85.7% "
        "| 0.736 (trained on real) | - | - |"
    )
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert "No balanced short runs of 5 epochs" in balance.balance_table(rows, 5)


def test_the_exam_curves_draw_one_panel_per_short_run(tmp_path):
    ref = balance.REFERENCE
    rows = [row(ref, 44, 0.90, 0.95, 0.85, 3.0), row(ref, 45, 0.88, 0.94, 0.85, 3.2)]
    two = utils.read_png(balance.draw_exam_curves(rows, 10, tmp_path / "two.png"))
    three = utils.read_png(
        balance.draw_exam_curves(
            [*rows, row(f"{ref}+ada", 44, 0.7, 0.9, 0.86, 3.5)], 10, tmp_path / "three.png"
        )
    )
    assert two.shape[0] == three.shape[0] and three.shape[1] > 1.3 * two.shape[1]
