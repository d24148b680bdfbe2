"""How the reference images were made: run at commit 7ae7656 (before the lesson rewrite of issue
25), from the repository's root, with that commit's modules (`PYTHONPATH=. python
tests/reference_images/make_references.py`). It needs the old API (dcgan_tools.load_run_generator,
dcgan_lesson.draw), so it does not run against later commits; tests/test_committed_runs.py checks
the images against today's code."""

import numpy as np

import dcgan_lesson as lesson
import dcgan_tools as tools
import dcgan_utils as utils

RUNS = ["baseline", "improved", "conditional", "conditional_ac", "conditional_ac_seed43"]
for name in RUNS:
    paths = utils.make_run_paths(".", name)
    generator, config = tools.load_run_generator(paths)
    noise = np.random.default_rng(7).standard_normal((10, config["noise_dim"])).astype("float32")
    images = np.asarray(lesson.draw(generator, noise), dtype="float32")  # class i mod 10 when conditional
    np.savez_compressed(f"tests/reference_images/{name}.npz", noise=noise, images=images)
    print(name, images.shape, float(images.mean()), len(generator.inputs))
