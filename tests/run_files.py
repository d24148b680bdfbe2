"""A trained run's files as dcgan_reports.load_run_generator reads them (run_config.json and a
checkpoint holding the sampling generator and the epoch), written for a generator made here."""

from __future__ import annotations

from pathlib import Path

import dcgan_utils as utils


def save_generator_run(output_dir: str | Path, name: str, generator, recipe: dict, epoch: int) -> dict:
    """`generator` saved as run `name`'s final sampler (as "ema_generator" when the run samples from
    an average of G, else "generator", the names a run's checkpoint gives them) at `epoch`; returns
    its paths."""
    import tensorflow as tf

    paths = utils.make_run_paths(output_dir, name)
    noise_dim = generator.inputs[0].shape[-1]
    config = {"noise_dim": noise_dim, "base_filters": recipe["gen_filters"], "precision": "float32"}
    utils.save_run_config(paths["config"], {**config, "recipe": recipe})
    role = "ema_generator" if utils.samples_from_average({"recipe": recipe}) else "generator"
    checkpoint = tf.train.Checkpoint(**{role: generator}, epoch=tf.Variable(epoch, dtype=tf.int64))
    tf.train.CheckpointManager(checkpoint, paths["checkpoints"], max_to_keep=2).save(checkpoint_number=epoch)
    return paths
