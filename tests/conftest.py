import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def write_fake_cifar(folder: Path, per_batch: int = 20, seed: int = 0) -> Path:
    """A tiny folder in the official cifar-10-batches-py format, with random pixels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, per_batch).tolist(),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=4)
    return folder


@pytest.fixture(scope="session")
def nb():
    """The notebook's `#| export` cells (dcgan_lesson.py, which a test keeps equal to them), as a
    dict of the names they define."""
    import dcgan_lesson

    return vars(dcgan_lesson)


def tiny_recipe(**changes) -> dict:
    """The baseline's recipe at width 8 (the notebook builds it from its parameters), changed."""
    recipe = {
        "gen_filters": 8, "disc_filters": 8, "real_label": 0.9, "instance_noise": 0.1,
        "noise_fade_epochs": 50, "gen_lr": 1e-3, "disc_lr": 1e-3, "beta_1": 0.5, "beta_2": 0.999,
    }  # fmt: skip
    return {**recipe, **changes}


def tiny_step7_recipe(**changes) -> dict:
    """A Step 7 recipe (the class-conditional GAN) on tiny_recipe(), its switches off unless changed."""
    return tiny_recipe(
        **{"conditional": True, "diffaugment": False, "ema_decay": 0.0, "ac_weight": 0.0, **changes}
    )


def tiny_settings(**changes) -> dict:
    settings = {
        "noise_dim": 16, "precision": "float32", "seed": 0, "train_seed": 0, "jit": False,
        "checkpoint_every": 5, "snapshot_every": 0,
    }  # fmt: skip
    return {**settings, **changes}


def tiny_run(
    nb, folder: Path, name: str = "run", recipe: dict | None = None, opened: bool = False, **settings
):
    """The run of `recipe` (tiny_recipe() by default): a GANRun, or a ConditionalGANRun for a Step 7
    recipe, in folder/<output folders>/name, opened (its folder locked, checkpoint restored, seeds
    and history loaded) when `opened`."""
    import dcgan_utils as utils

    recipe = recipe or tiny_recipe()
    build = nb["build_conditional_run"] if recipe.get("conditional") else nb["build_gan_run"]
    run = build(recipe, utils.make_run_paths(folder, name), tiny_settings(**settings))
    if opened:
        utils.open_run(run, nb["make_checkpoint"](run))
    return run


def class_head(discriminator):
    """The projection discriminator's auxiliary classifier: the Dense layer of its 10 class logits."""
    (head,) = [layer for layer in discriminator.layers if type(layer).__name__ == "Dense"]
    assert head.units == 10 and head.output is discriminator.outputs[1]
    return head


def train_step_of(nb, run):
    """The run's compiled train step: make_conditional_train_step for a Step 7 run (its batches are
    (images, labels)), else make_train_step."""
    make = "make_conditional_train_step" if run.recipe.get("conditional") else "make_train_step"
    return nb[make](run)


def search_row(name: str, seed: int, result: dict, epochs: int = 10, precision: str = "float32") -> dict:
    """A row of the search file: the short run of recipe `name` at `seed`, measured as `result`."""
    return {
        "recipe": name,
        "seed": seed,
        "epochs": epochs,
        "settings": {},
        "precision": precision,
        "result": {"epochs": epochs, **result},
    }
