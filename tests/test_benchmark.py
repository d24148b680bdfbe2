"""The benchmark's hand count of the FLOPs a train step executes."""

import importlib.util

import keras
import numpy as np
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


def multiply_adds(layer) -> int:
    """Multiply-adds of one forward pass per image, from the layer's weights and where they are
    applied: a Dense kernel once, a Conv2D kernel at every output pixel, a Conv2DTranspose kernel
    at every input pixel; 0 for a layer without a kernel."""
    if not hasattr(layer, "kernel"):
        return 0
    if isinstance(layer, layers.Conv2DTranspose):
        return layer.kernel.numpy().size * layer.input.shape[1] * layer.input.shape[2]
    if isinstance(layer, layers.Conv2D):
        return layer.kernel.numpy().size * layer.output.shape[1] * layer.output.shape[2]
    return layer.kernel.numpy().size


def test_step_flops_of_the_notebook_design(nb):
    generator = nb["build_generator"](100, 64, "float32")
    discriminator = nb["build_discriminator"](64, "float32")
    g = [multiply_adds(layer) for layer in generator.layers if multiply_adds(layer)]
    d = [multiply_adds(layer) for layer in discriminator.layers if multiply_adds(layer)]
    # By hand: G 100 -> 4x4x256 (dense), -> 8x8x128, -> 16x16x64, -> 32x32x3 (4x4 kernels, stride 2);
    # D 32x32x3 -> 16x16x64, -> 8x8x128, -> 4x4x256, -> 1.
    assert g == [100 * 4096, 4 * 4 * 256 * 4 * 4 * 128, 8 * 8 * 128 * 4 * 4 * 64, 16 * 16 * 64 * 4 * 4 * 3]
    assert d == [16 * 16 * 64 * 4 * 4 * 3, 8 * 8 * 128 * 4 * 4 * 64, 4 * 4 * 256 * 4 * 4 * 128, 4096]

    def passes(judged: int) -> tuple[list[int], list[int]]:
        """How often each layer's work is done in one step, counted pass by pass. Each backward
        pass through a layer is two of its forward passes' work: weight gradients, and input
        gradients (only where something below needs them)."""
        g_times = [1 + 1 + (i > 0) for i in range(len(g))]  # forward, weight and input gradients
        d_times = [
            judged  # forward, once per judged batch
            + judged  # D's loss: weight gradients, once per batch
            + judged * (i > 0)  # ... and input gradients, down to (not into) the images
            + 1  # G's loss: back through D on the fakes, input gradients down into the images
            for i in range(len(d))
        ]
        return g_times, d_times

    for judged in (2, 3):
        g_times, d_times = passes(judged)
        counted = 2 * (np.dot(g, g_times) + np.dot(d, d_times))  # a multiply-add is 2 FLOPs
        assert train_speed.step_flops(generator, discriminator, judged) == counted
    assert train_speed.step_flops(generator, discriminator) == 349_822_976  # by hand, as above
