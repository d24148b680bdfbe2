"""The benchmark's hand count of the FLOPs a train step executes."""

import importlib.util

import keras
import pytest
from conftest import ROOT
from keras import layers

spec = importlib.util.spec_from_file_location("train_speed", ROOT / "benchmarks" / "train_speed.py")
train_speed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_speed)


def built(layer, input_shape):
    model = keras.Sequential([keras.Input(input_shape), layer])
    return model.layers[0]


def test_layer_flops_match_the_closed_forms():
    # A 4x4 stride-2 conv from 32x32x3 to 16x16x64: every output value is a 4*4*3 dot product.
    conv = built(layers.Conv2D(64, 4, 2, "same"), (32, 32, 3))
    assert train_speed.layer_flops(conv) == 2 * (16 * 16 * 64) * (4 * 4 * 3)
    # Its transpose from 16x16x64 to 32x32x3: every input value is spread over a 4x4x3 block.
    transpose = built(layers.Conv2DTranspose(3, 4, 2, "same"), (16, 16, 64))
    assert train_speed.layer_flops(transpose) == 2 * (16 * 16 * 64) * (4 * 4 * 3)
    assert train_speed.layer_flops(built(layers.Dense(7), (5,))) == 2 * 5 * 7
    assert train_speed.layer_flops(built(layers.ReLU(), (5,))) == 0


def test_step_flops_of_the_notebook_design(nb):
    generator = nb["build_generator"](100, 64, "float32")
    discriminator = nb["build_discriminator"](64, "float32")
    g = train_speed.model_flops(generator)
    d = train_speed.model_flops(discriminator)
    assert len(g) == 4 and len(d) == 4  # dense + 3 transposed convs; 3 convs + dense
    # G: forward, weight gradients, input gradients above its first layer. D: two judged batches,
    # each forward and both gradients (no input gradient into the images), plus G's loss back
    # through D on the fakes.
    expected = (2 * sum(g) + sum(g[1:])) + 2 * (2 * sum(d) + sum(d[1:])) + sum(d)
    assert train_speed.step_flops(generator, discriminator) == expected
    assert train_speed.step_flops(generator, discriminator) / 1e6 == pytest.approx(350, abs=5)
    assert train_speed.step_flops(generator, discriminator, 3) - expected == 2 * sum(d) + sum(d[1:])
