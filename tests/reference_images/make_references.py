"""Reference images of every committed run, drawn by the code at HEAD (before the lesson rewrite)."""
import numpy as np, dcgan_tools as tools, dcgan_utils as utils, dcgan_lesson as lesson
RUNS = ["baseline", "improved", "conditional", "conditional_ac", "conditional_ac_seed43"]
for name in RUNS:
    paths = utils.make_run_paths(".", name)
    generator, config = tools.load_run_generator(paths)
    noise = np.random.default_rng(7).standard_normal((10, config["noise_dim"])).astype("float32")
    images = np.asarray(lesson.draw(generator, noise), dtype="float32")  # class i mod 10 when conditional
    np.savez_compressed(f"tests/reference_images/{name}.npz", noise=noise, images=images)
    print(name, images.shape, float(images.mean()), len(generator.inputs))
