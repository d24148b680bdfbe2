"""The float16 path that PRECISION = "auto" picks on a GPU, run here on the CPU: the loss is scaled
inside the gradient tape (in Step 7's train step too), a step whose gradients overflow is skipped,
and Steps 0-6 train."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_recipe, tiny_run, tiny_step7_recipe, train_step_of, write_fake_cifar
from notebook_cells import run_all_cells

import dcgan_utils as utils


def trainable(model) -> list[np.ndarray]:
    return [variable.numpy().copy() for variable in model.trainable_variables]


def one_batch() -> tf.Tensor:
    return tf.constant(np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32"))


@pytest.mark.parametrize(
    "recipe",
    [tiny_recipe(), tiny_step7_recipe(diffaugment=True, instance_noise=0.0, ema_decay=0.999, ac_weight=1.0)],
    ids=["baseline", "step7"],
)
def test_a_float16_step_is_finite_and_moves_every_variable(nb, tmp_path, recipe):
    run = tiny_run(nb, tmp_path, recipe=recipe, precision="mixed_float16")
    assert isinstance(run.generator_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(run.discriminator_optimizer, keras.optimizers.LossScaleOptimizer)
    dense = next(layer for layer in run.generator.layers if isinstance(layer, keras.layers.Dense))
    assert dense.compute_dtype == "float16"
    before = [trainable(run.generator), trainable(run.discriminator)]
    batch = (one_batch(), tf.range(8)) if recipe.get("conditional") else one_batch()
    metrics = train_step_of(nb, run)(batch, tf.constant(0.1)).numpy()
    assert np.isfinite(metrics).all()
    for model, old in zip((run.generator, run.discriminator), before, strict=True):
        for variable, value in zip(model.trainable_variables, old, strict=True):
            assert not np.array_equal(variable.numpy(), value), variable.path


def test_an_overflowing_float16_step_is_skipped_and_the_scale_drops(nb, tmp_path):
    run = tiny_run(nb, tmp_path, precision="mixed_float16")
    optimizers = (run.generator_optimizer, run.discriminator_optimizer)
    for optimizer in optimizers:
        optimizer.dynamic_scale.assign(3e38)  # loss x scale overflows float32: every gradient is inf
    before = [trainable(run.generator), trainable(run.discriminator)]
    train_step = nb["make_train_step"](run)
    train_step(one_batch(), tf.constant(0.1))
    for model, old in zip((run.generator, run.discriminator), before, strict=True):
        assert all(np.array_equal(v.numpy(), o) for v, o in zip(model.trainable_variables, old, strict=True))
    for optimizer in optimizers:
        assert float(optimizer.dynamic_scale.numpy()) == np.float32(1.5e38)
        assert int(optimizer.inner_optimizer.iterations.numpy()) == 0
    for optimizer in optimizers:
        optimizer.dynamic_scale.assign(1024.0)
    train_step(one_batch(), tf.constant(0.1))  # at a sane scale the next step trains again
    assert not np.array_equal(run.generator.trainable_variables[0].numpy(), before[0][0])


def test_the_notebooks_steps_0_to_6_train_in_float16(tmp_path):
    data = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    namespace = run_all_cells(
        until="## Step 7",
        PRECISION="mixed_float16",
        EPOCHS=2,
        BATCH_SIZE=16,
        BASE_FILTERS=8,
        NOISE_DIM=32,
        MAX_TRAIN_IMAGES=64,
        DATA_DIR=str(data),
        OUTPUT_DIR=str(tmp_path / "out"),
    )
    assert namespace["precision"] == "mixed_float16" and namespace["run"].epoch == 2
    history = namespace["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(np.isfinite([row[key] for key in utils.METRIC_NAMES]).all() for row in history)
    assert (tmp_path / "out" / "generated_samples" / "baseline" / "training_progress.gif").exists()


def test_known_start_up_noise_is_dropped_and_errors_still_show(capfd):
    with utils.native_stderr_filtered():
        os.write(2, b"I0000 00:00 port.cc:153] oneDNN custom operations are on. You may see\n")
        os.write(
            2,
            b"I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\n",
        )
        os.write(
            2, b"W0000 dso_loader.cc:78] Could not load dynamic library 'libcudnn.so.9'; dlerror: absent\n"
        )
    err = capfd.readouterr().err
    assert "libcudnn.so.9" in err
    assert "oneDNN" not in err and "cuda drivers" not in err
    os.write(2, b"after the block\n")  # file descriptor 2 is back
    assert "after the block" in capfd.readouterr().err


def test_the_device_is_named():
    name = utils.device_name()
    assert name.startswith("GPU ") if tf.config.list_physical_devices("GPU") else "no GPU found" in name
