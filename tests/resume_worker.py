"""Train a tiny run in a process of its own with TensorFlow's op determinism on, for
test_exact_resume.py: `python resume_worker.py FOLDER RECIPE EPOCHS [STOP_AT_CALL]`.

RECIPE is "dcgan" (Steps 0-6) or "step7" (the conditional GAN with DiffAugment, the AC term and the
average). The run lives in FOLDER and continues from its checkpoint, as rerunning the notebook does.
With STOP_AT_CALL, the train step's call of that number (counted in this process) raises
KeyboardInterrupt, as Ctrl-C would, and the training call is then made again. D sits its exam
after each epoch. Every variable the checkpoint saves, and the history's metrics and exams, are
written to FOLDER/state-EPOCHS.npz."""

import contextlib
import io
import sys

import numpy as np
import tensorflow as tf
from conftest import tiny_recipe, tiny_run, tiny_step7_recipe, train_step_of

import dcgan_eval as evaluation
import dcgan_lesson as lesson
import dcgan_utils as utils


def main(folder: str, recipe_name: str, epochs: int, stop_at_call: int = 0) -> None:
    tf.config.experimental.enable_op_determinism()
    recipe = {
        "dcgan": tiny_recipe(),
        "step7": tiny_step7_recipe(diffaugment=True, ema_decay=0.999, ac_weight=1.0),
    }[recipe_name]
    nb = vars(lesson)
    run = tiny_run(nb, folder, "resumed", recipe=recipe, opened=True, checkpoint_every=1, train_seed=3)
    pixels = np.random.default_rng(0).uniform(-1, 1, (32, 32, 32, 3)).astype("float32")
    labels = np.arange(32) % 10
    data = lesson.TrainingData((pixels, labels) if recipe_name == "step7" else pixels, 8)
    run.exam = evaluation.DiscriminatorExam((pixels[:16], labels[:16]), (pixels[16:], labels[16:]), 8, 1, 16)
    train_step, calls = train_step_of(nb, run), [0]

    def step(batch, noise_std):
        calls[0] += 1
        if calls[0] == stop_at_call:
            raise KeyboardInterrupt
        return train_step(batch, noise_std)

    with contextlib.redirect_stdout(io.StringIO()):
        with contextlib.suppress(KeyboardInterrupt):
            lesson.train(run, step, data, epochs)
        lesson.train(run, step, data, epochs)  # continues after a stop; trains nothing otherwise
    variables = utils.checkpoint_variables(run.manager.checkpoint)
    metrics = [[row[name] for name in (*utils.METRIC_NAMES, *evaluation.EXAM_KEYS)] for row in run.history]
    arrays = {
        f"v{i:03d} {v.path if hasattr(v, 'path') else v.name}": v.numpy() for i, v in enumerate(variables)
    }
    np.savez(f"{folder}/state-{epochs}.npz", metrics=np.array(metrics), **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(int, sys.argv[4:]))
