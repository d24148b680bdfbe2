"""Issue 17's switches for a conditional GAN that obeys its label: the auxiliary-classifier term,
the hinge loss with spectral norm, the class embedding; the label agreement that measures them,
and the rule fixed before their search."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_recipe, tiny_run

import dcgan_eval as evaluation
import dcgan_tools as tools
import dcgan_utils as utils


def conditional_batch():
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    return tf.constant(images), tf.constant(np.arange(8) % 10, tf.int32)


@pytest.mark.parametrize(
    "switches",
    [
        {"ac_weight": 1.0},
        {"spectral_hinge": True},
        {"class_embedding": 4},
        {"ac_weight": 1.0, "spectral_hinge": True},
    ],
)
def test_each_switch_trains_every_variable_it_should(nb, tmp_path, switches):
    recipe = tiny_recipe(conditional=True, **switches)
    run = tiny_run(nb, tmp_path, recipe=recipe)
    before = {
        v.path: v.numpy().copy() for m in (run.generator, run.discriminator) for v in m.trainable_variables
    }
    metrics = run.train_step(conditional_batch(), tf.constant(0.1)).numpy()
    assert np.isfinite(metrics).all()
    unmoved = [
        v.path
        for m in (run.generator, run.discriminator)
        for v in m.trainable_variables
        if np.array_equal(v.numpy(), before[v.path])
    ]
    # Under the hinge loss D's last bias gets -1 from the reals and +1 from the fakes while both
    # logits sit inside the margin, as at the start: its first gradient is exactly 0.
    expected = [
        v.path
        for v in run.discriminator.trainable_variables
        if v.path.split("/")[0].startswith("projection_head") and v.path.endswith("/bias")
    ]
    assert unmoved == (expected if switches.get("spectral_hinge") else [])
    embedded = any(type(layer).__name__ == "Embedding" for layer in run.generator.layers)
    assert embedded == bool(switches.get("class_embedding"))
    layers = [type(layer).__name__ for layer in run.discriminator.layers]
    assert ("SpectralNormalization" in layers) == bool(switches.get("spectral_hinge"))
    assert ("BatchNormalization" in layers) != bool(switches.get("spectral_hinge"))
    assert len(run.discriminator.outputs) == (2 if switches.get("ac_weight") else 1)


def test_the_ac_term_on_known_logits(nb):
    recipe = tiny_recipe(conditional=True, ac_weight=2.0)
    sure = tf.constant([[0.0, 0.0, 9.0] + [0.0] * 7])  # sure of class 2
    real_out = (tf.zeros([1, 1]), sure)
    fake_out = (tf.zeros([1, 1]), tf.zeros([1, 10]))  # a 10-way coin toss
    gen_loss, disc_loss, real_logits, fake_logits = nb["gan_losses"](recipe, real_out, fake_out, [2], [5])
    plain_gen, plain_disc = (
        nb["generator_loss"](fake_logits),
        nb["discriminator_loss"](real_logits, fake_logits, 0.9),
    )
    right = np.log(np.exp(9.0) + 9) - 9.0  # cross-entropy of the sure logits against class 2
    assert float(gen_loss) == pytest.approx(float(plain_gen) + 2.0 * np.log(10), rel=1e-5)  # G: fakes' labels
    assert float(disc_loss) == pytest.approx(float(plain_disc) + 2.0 * right, rel=1e-5)  # D: reals' only
    hinge = tiny_recipe(conditional=True, spectral_hinge=True)
    gen_loss, disc_loss, _, _ = nb["gan_losses"](hinge, tf.constant([[0.5]]), tf.constant([[-2.0]]))
    assert (float(gen_loss), float(disc_loss)) == pytest.approx((2.0, 0.5))


def test_a_label_switch_needs_a_conditional_recipe():
    base = tiny_recipe()
    assert tools.make_recipe("conditional+diffaugment+ac", base)["ac_weight"] == 1.0
    with pytest.raises(utils.ParameterError, match="ac_weight needs a class-conditional run"):
        tools.make_recipe("diffaugment+ac", base)


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
    plan = tools.search_plan("conditional+ema", "conditional conditional+ac@44", 42)
    assert ("conditional+ac", 44) in plan and ("conditional", 42) in plan and ("conditional", 43) in plan


def test_the_label_rule_on_runs_that_meet_it_and_runs_that_miss_it():
    def row(name, seed, agreement, fid, per_class):
        measured = {"label_agreement": agreement, "classifier_fid": fid, "per_class_fid": per_class}
        return f"{name}|{seed}|10|settings, float32", {"epochs": 10, "ema": measured}

    results = dict(
        [
            row("ref", 44, 0.40, 15.0, 20.0),
            row("good", 44, 0.46, 15.7, 21.9),  # +6 points, FID 1.047x, per-class 1.095x
            row("fuzzy", 44, 0.60, 16.0, 20.0),  # FID 1.07x
            row("narrow", 44, 0.60, 15.0, 23.0),  # per-class 1.15x
            row("timid", 44, 0.44, 14.0, 19.0),  # +4 points only
        ]
    )
    verdicts = tools.label_verdicts(results, "ref", ["good", "fuzzy", "narrow", "timid"], [44, 45], 10)
    assert verdicts["good"] == {44: "wins", 45: "not run"}
    assert verdicts["fuzzy"][44] == "loses: FID 16.00 vs 15.00"
    assert verdicts["narrow"][44] == "loses: per-class FID 23.00 vs 20.00"
    assert verdicts["timid"][44] == "loses: agreement 44.0% vs 40.0%"


# The reference is the chosen recipe without its label switches, whether or not it has one.
@pytest.mark.parametrize("chosen", ["conditional+diffaugment+ema", "conditional+diffaugment+ema+ac"])
def test_the_label_decision_reads_the_seeds_of_the_search_plan(chosen):
    measured = {"label_agreement": 0.5, "classifier_fid": 15.0, "per_class_fid": 20.0}
    results = {
        "conditional+diffaugment|44|10|s, float32": {"epochs": 10, "ema": measured},
        "conditional+diffaugment+ac|44|10|s, float32": {
            "epochs": 10,
            "ema": {**measured, "label_agreement": 0.7},
        },
    }
    others = (
        "conditional conditional+diffaugment@44 conditional+diffaugment+ac@44 conditional+diffaugment+ac@45"
    )
    text = tools.label_decision_text(results, chosen, others, 10)
    assert text == "conditional+diffaugment+ac against conditional+diffaugment: seed 44 wins, seed 45 not run"


def test_a_class_blend_of_one_class_draws_that_class_with_the_embedding_too(nb):
    generator = nb["build_conditional_generator"](16, 8, "float32", tiny_recipe(class_embedding=4))
    noise = tf.random.normal([3, 16], seed=1)
    labels = np.array([2, 7, 9])
    drawn = nb["draw"](generator, noise, labels).numpy()
    blended = tools.draw_blended(generator, noise, np.eye(10, dtype="float32")[labels]).numpy()
    assert np.allclose(drawn, blended, atol=1e-5)
