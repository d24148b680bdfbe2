"""Issue 26: a resumed run equals one that never stopped, bit for bit. Each run trains in processes
of its own with op determinism on (it holds for a whole process), in float32, on 32 tiny images
(4 steps an epoch): 3 epochs straight; 2 epochs, then a new process that resumes for the third;
and 2 epochs, then a stop in the middle of epoch 3 and the training call made again."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


def train(folder: Path, recipe: str, epochs: int, stop_at_call: int = 0) -> None:
    command = [sys.executable, str(HERE / "resume_worker.py"), str(folder), recipe, str(epochs)]
    done = subprocess.run(
        command + ([str(stop_at_call)] if stop_at_call else []), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]


def state(folder: Path, epochs: int) -> dict[str, np.ndarray]:
    with np.load(folder / f"state-{epochs}.npz") as saved:
        return {name: saved[name] for name in saved.files}


def assert_identical(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    different = [name for name in expected if not np.array_equal(got[name], expected[name])]
    assert not different, f"{len(different)} of {len(expected)} differ, e.g. {different[:3]}"


@pytest.fixture(scope="module", params=["dcgan", "step7"])
def straight(request, tmp_path_factory):
    """(recipe, the state of a run trained 3 epochs without a stop)."""
    folder = tmp_path_factory.mktemp(f"straight-{request.param}")
    train(folder, request.param, 3)
    return request.param, state(folder, 3)


def test_a_run_resumed_in_a_new_process_equals_one_that_never_stopped(straight, tmp_path):
    recipe, expected = straight
    train(tmp_path, recipe, 2)
    train(tmp_path, recipe, 3)  # a new process: the checkpoint of epoch 2 is restored
    assert_identical(state(tmp_path, 3), expected)


def test_a_run_stopped_mid_epoch_and_continued_equals_one_that_never_stopped(straight, tmp_path):
    recipe, expected = straight
    train(tmp_path, recipe, 3, stop_at_call=2 * 4 + 3)  # epoch 3, after two of its four steps
    assert_identical(state(tmp_path, 3), expected)


def test_the_check_can_fail(straight, tmp_path):
    """A control: a run trained one epoch more differs in most of its variables."""
    recipe, expected = straight
    train(tmp_path, recipe, 4)
    later = state(tmp_path, 4)
    assert sum(not np.array_equal(later[name], expected[name]) for name in expected) > len(expected) // 2
