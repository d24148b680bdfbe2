"""Issue 25: every committed run still loads and samples with today's code. Each run's latest
checkpoint is restored by dcgan_reports.load_run_generator (the notebook's and the export's way)
and must draw the reference images that the code before the lesson rewrite drew from the same noise
(tests/reference_images, made at 7ae7656)."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT

import dcgan_reports as reports
import dcgan_utils as utils

REFERENCES = sorted((ROOT / "tests" / "reference_images").glob("*.npz"))


def run_paths(name: str) -> dict:
    return utils.make_run_paths(ROOT, name)


def test_every_committed_run_has_a_reference():
    committed = sorted(
        p.name for p in (ROOT / "training_checkpoints").iterdir() if (p / "checkpoint").exists()
    )
    assert [p.stem for p in REFERENCES] == committed


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda p: p.stem)
def test_a_committed_run_draws_its_reference_images(reference):
    saved = np.load(reference)
    generator, _ = reports.load_run_generator(run_paths(reference.stem))
    drawn = reports.draw(generator, saved["noise"])  # a conditional G: image i as class i mod 10
    np.testing.assert_allclose(drawn, saved["images"], atol=1e-4)


def test_the_check_tells_the_average_from_g():
    """Restoring the improved run's G where its average is the sampler draws other images: the
    comparison above would see a wrong role, not only a broken build."""
    saved = np.load(ROOT / "tests" / "reference_images" / "improved.npz")
    generator, config = reports.load_run_generator(run_paths("improved"))
    latest = tf.train.latest_checkpoint(run_paths("improved")["checkpoints"])
    tf.train.Checkpoint(generator=generator).restore(latest).expect_partial()
    assert np.abs(reports.draw(generator, saved["noise"]) - saved["images"]).max() > 0.1
