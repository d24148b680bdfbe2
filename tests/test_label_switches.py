"""Issue 17's switch for a conditional GAN that obeys its label, the auxiliary-classifier term (the
hinge loss with spectral norm and the class embedding lost the label search and were removed with
their code); the label agreement that measures it, and the rule fixed before its search."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import class_head, search_row, tiny_recipe, tiny_run, tiny_step7_recipe, train_step_of

import dcgan_eval as evaluation
import dcgan_search as search
import dcgan_utils as utils

NOISE_DIM = 16


def cross_entropy(class_logits, classes) -> tf.Tensor:
    """Mean cross-entropy of class logits against class ids, written out: -log softmax at the class."""
    log_shares = tf.nn.log_softmax(tf.cast(class_logits, tf.float32))
    return -tf.reduce_mean(tf.gather(log_shares, classes, batch_dims=1))


def test_the_class_loss_on_known_logits(nb):
    sure = tf.constant([[0.0, 0.0, 9.0] + [0.0] * 7])  # sure of class 2
    right = np.log(np.exp(9.0) + 9) - 9.0
    assert float(nb["class_loss"]([2], sure)) == pytest.approx(right, abs=1e-6)
    assert float(nb["class_loss"]([5], sure)) == pytest.approx(right + 9.0, abs=1e-5)
    assert float(nb["class_loss"]([5], tf.zeros([1, 10]))) == pytest.approx(
        np.log(10), rel=1e-6
    )  # a coin toss
    both = nb["class_loss"](tf.constant([2, 5]), tf.concat([sure, sure], 0))  # the mean over the batch
    assert float(both) == pytest.approx(right + 4.5, abs=1e-5)


def test_one_step_takes_gs_class_term_at_the_asked_classes_and_ds_from_the_reals_only(nb, tmp_path):
    """One conditional step with ac_weight 2, no instance noise and no DiffAugment, D's class head
    biased so that every image's class logits favour class 3: its class terms then depend on the
    labels (logits that favour no class would cost ln 10 whatever the labels). The reals are half
    class 3, the classes G is asked (the step's own draw) none. Worked out beforehand from the same
    weights and a copy of the step's noise stream: G's loss, with its class term at the asked
    classes; D's loss, with its class term at the reals' labels only; and, D trained by plain SGD
    (an update of -lr x the gradient), the class head's update, which comes from the reals alone."""
    ac, lr = 2.0, 0.5
    run = tiny_run(nb, tmp_path, recipe=tiny_step7_recipe(ac_weight=ac, instance_noise=0.0))
    generator, discriminator = run.generator, run.discriminator
    head = class_head(discriminator)
    head.bias.assign(5.0 * np.eye(10, dtype="float32")[3])
    run.discriminator_optimizer = keras.optimizers.SGD(lr)
    run.discriminator_optimizer.build(discriminator.trainable_variables)
    train_step = train_step_of(nb, run)
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32"))
    labels = tf.constant([3, 3, 3, 3, 0, 1, 5, 6])
    rng = tf.random.Generator.from_state(run.noise_rng.state.numpy(), run.noise_rng.algorithm)
    noise = rng.normal([8, NOISE_DIM])
    asked = rng.uniform([8], 0, 10, dtype=tf.int32)  # drawn as the step draws them
    assert (asked.numpy() == 3).sum() == 0 and asked.numpy().tolist() != labels.numpy().tolist()
    fakes = generator([noise, asked], training=True)
    kernel, bias = head.kernel.numpy().copy(), head.bias.numpy().copy()
    with tf.GradientTape(persistent=True) as tape:
        real_logits, real_classes = discriminator([images, labels], training=True)
        fake_logits, fake_classes = discriminator([fakes, asked], training=True)
        real_term, fake_term = (
            ac * cross_entropy(real_classes, labels),
            ac * cross_entropy(fake_classes, asked),
        )
    shares = tf.nn.softmax(fake_classes).numpy()
    assert (shares.argmax(axis=1) == 3).all() and shares[:, 3].min() > 0.9  # the fakes' logits favour class 3
    adversarial = [nb["generator_loss"](fake_logits), nb["discriminator_loss"](real_logits, fake_logits, 0.9)]
    expected = [float(adversarial[0] + fake_term), float(adversarial[1] + real_term)]
    wrong = [  # G's class term at the reals' labels; D's class term on the fakes too
        float(adversarial[0] + ac * cross_entropy(fake_classes, labels)),
        float(adversarial[1] + real_term + fake_term),
    ]
    assert min(abs(w - e) for w, e in zip(wrong, expected, strict=True)) > 1.0  # the numbers tell them apart
    metrics = train_step((images, labels), tf.constant(0.0)).numpy()
    assert metrics[:2] == pytest.approx(expected, abs=1e-4)
    # The class head's update: -lr x the gradient of the reals' class term, nothing of the fakes'.
    from_reals = tape.gradient(real_term, [head.kernel, head.bias])
    from_fakes = tape.gradient(fake_term, [head.kernel, head.bias])
    assert min(np.abs(g.numpy()).max() for g in from_fakes) > 1e-2  # what the fakes would have added
    for before, variable, gradient in zip((kernel, bias), (head.kernel, head.bias), from_reals, strict=True):
        assert np.allclose(variable.numpy() - before, -lr * gradient.numpy(), rtol=1e-4, atol=1e-7)


def test_a_label_switch_needs_a_conditional_recipe():
    base = tiny_recipe()
    assert search.make_recipe("conditional+diffaugment+ac", base)["ac_weight"] == 1.0
    with pytest.raises(utils.ParameterError, match="ac_weight needs a class-conditional run"):
        search.make_recipe("diffaugment+ac", base)


def test_label_agreement_and_the_confusion_matrix_on_a_known_case():
    asked = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 2, 0, 2])
    agreement = evaluation.label_agreement(np.eye(10)[predicted], asked)
    assert agreement["overall"] == pytest.approx(6 / 8)
    assert (
        agreement["per_class"][:3] == pytest.approx([0.5, 1.0, 0.75])
        and agreement["per_class"][3:] == [0] * 7
    )
    confusion = np.array(agreement["confusion"])
    assert confusion[0, :3].tolist() == [1, 1, 0] and confusion[2, :3].tolist() == [1, 0, 3]
    assert confusion.sum() == 8


def test_search_plans_take_a_seed_after_an_at():
    plan = search.search_plan("conditional+ema", "conditional conditional+ac@44", 42)
    assert ("conditional+ac", 44) in plan and ("conditional", 42) in plan and ("conditional", 43) in plan


def test_the_label_rule_on_runs_that_meet_it_and_runs_that_miss_it():
    def row(name, seed, agreement, fid, per_class):
        measured = {"label_agreement": agreement, "classifier_fid": fid, "per_class_fid": per_class}
        return search_row(name, seed, {"ema": measured})

    rows = [
        row("ref", 44, 0.40, 15.0, 20.0),
        row("good", 44, 0.46, 15.7, 21.9),  # +6 points, FID 1.047x, per-class 1.095x
        row("fuzzy", 44, 0.60, 16.0, 20.0),  # FID 1.07x
        row("narrow", 44, 0.60, 15.0, 23.0),  # per-class 1.15x
        row("timid", 44, 0.44, 14.0, 19.0),  # +4 points only
        row("blurry", 44, 0.30, 16.0, 23.0),  # misses all three
        search_row(
            "small", 44, {"ema": {"label_agreement": 0.9, "classifier_fid": 10.0}}
        ),  # no per-class FID
    ]

    def verdict(name, seed=44):
        return search.label_verdict(search.label_numbers(rows, name, "ref", seed, 10))

    assert verdict("good") == "wins" and verdict("good", 45) == "not run"
    assert verdict("fuzzy") == "loses: FID 16.00 vs 15.00"
    assert verdict("narrow") == "loses: per-class FID 23.00 vs 20.00"
    assert verdict("timid") == "loses: agreement 44.0% vs 40.0%"
    assert (
        verdict("blurry")
        == "loses: agreement 30.0% vs 40.0%; FID 16.00 vs 15.00; per-class FID 23.00 vs 20.00"
    )
    assert verdict("small") == "not run"  # too few images for a per-class FID: not every number measured
    assert (
        search.label_verdict(search.label_numbers(rows, "good", "ref", 44, 3)) == "not run"
    )  # another length


def test_the_label_rule_is_judged_by_the_one_verdict_engine():
    """LABEL_RULE is data for dcgan_eval.verdicts, as the targets are: its rows say what each missed."""
    numbers = {"label_agreement": 0.46, "classifier_fid": 16.0, "per_class_fid": 20.0}
    numbers |= {
        "reference_label_agreement": 0.40,
        "reference_classifier_fid": 15.0,
        "reference_per_class_fid": 20.0,
    }
    rows = evaluation.verdicts(numbers, search.LABEL_RULE)
    assert [row["met"] for row in rows] == [True, False, True]
    assert rows[1] == {
        "target": "classifier-FID <= 1.05x the reference's",
        "measured": "FID 16.00 vs 15.00",
        "met": False,
    }
    (gain,) = [check.bar for target in search.LABEL_RULE for check in target.checks if check.scale == "plus"]
    assert gain == 0.05 and rows[0]["target"] == "label agreement at least 0.05 above the reference's"


# The reference is the chosen recipe without its label switches, whether or not it has one.
@pytest.mark.parametrize("chosen", ["conditional+diffaugment+ema", "conditional+diffaugment+ema+ac"])
def test_the_label_decision_reads_the_seeds_of_the_search_plan(chosen):
    measured = {"label_agreement": 0.5, "classifier_fid": 15.0, "per_class_fid": 20.0}
    rows = [
        search_row("conditional+diffaugment", 44, {"ema": measured}),
        search_row("conditional+diffaugment+ac", 44, {"ema": {**measured, "label_agreement": 0.7}}),
    ]
    others = (
        "conditional conditional+diffaugment@44 conditional+diffaugment+ac@44 conditional+diffaugment+ac@45"
    )
    text = search.label_decision_text(rows, chosen, others, 10)
    assert text == "conditional+diffaugment+ac against conditional+diffaugment: seed 44 wins, seed 45 not run"
