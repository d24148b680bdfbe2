"""The offline sample-quality numbers on known inputs."""

import numpy as np
import pytest
from PIL import Image

import dcgan_eval as evaluation
import dcgan_tools as tools


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    return rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8))


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_a_shift(features):
    a, b = features
    assert evaluation.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    near = evaluation.frechet_distance(a, b)  # two samples of one Gaussian: small
    assert near < 0.05
    shifted = [evaluation.frechet_distance(a, b + shift) for shift in (0.5, 1.0, 2.0)]
    # Shifting every one of 8 dimensions by s adds 8 s^2.
    for distance, shift in zip(shifted, (0.5, 1.0, 2.0), strict=True):
        assert distance == pytest.approx(near + 8 * shift**2, rel=0.05)
    assert evaluation.frechet_distance(a, b * 2) == pytest.approx(8.0, rel=0.05)  # std 2: (2 - 1)^2 per dim


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((20000, 2))
    b = rng.standard_normal((20000, 2)) * 3  # cov 9 I: (3 - 1)^2 per dimension
    assert evaluation.frechet_distance(a, b) == pytest.approx(8.0, rel=0.05)


def features_with(mean, cov, count: int, seed: int) -> np.ndarray:
    """`count` feature vectors whose mean and covariance, as FID fits them, are exactly `mean` and `cov`."""
    z = np.random.default_rng(seed).standard_normal((count, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # covariance exactly I
    return np.asarray(mean) + z @ np.linalg.cholesky(cov).T


def test_frechet_distance_of_covariances_that_do_not_commute():
    """FID's trace term is tr(sqrt(A B)), which is tr(sqrt(A) sqrt(B)) only when A and B commute."""
    a, b = np.array([[2.0, 1.0], [1.0, 2.0]]), np.diag([1.0, 4.0])
    assert not np.allclose(a @ b, b @ a)
    # By hand: a 2x2 matrix M with eigenvalues l1, l2 >= 0 has tr sqrt(M) = sqrt(l1 + l2 + 2 sqrt(l1 l2))
    # = sqrt(tr M + 2 sqrt(det M)); for M = A B, tr = 2 + 8 = 10 and det = 3 * 4 = 12. The means differ by
    # (3, -2): 13. So FID = 13 + 4 + 5 - 2 sqrt(10 + 2 sqrt(12)) = 13.7712; tr(sqrt(A) sqrt(B)) =
    # 1.5 (sqrt(3) + 1) would give 13.8038.
    expected = 13 + 4 + 5 - 2 * np.sqrt(10 + 2 * np.sqrt(12))
    set_a, set_b = features_with([0.0, 1.0], a, 500, seed=0), features_with([3.0, -1.0], b, 500, seed=1)
    assert evaluation.frechet_distance(set_a, set_b) == pytest.approx(expected, abs=1e-9)
    assert evaluation.frechet_distance(set_b, set_a) == pytest.approx(expected, abs=1e-9)
    # In 6 dimensions, against scipy's square root of the (non-symmetric) product A B.
    from scipy import linalg

    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, 6, 6))
    a, b = x @ x.T + 0.5 * np.eye(6), y @ y.T + 0.5 * np.eye(6)
    mean_a, mean_b = rng.standard_normal((2, 6))
    trace_root = np.trace(linalg.sqrtm(a @ b)).real
    expected = ((mean_a - mean_b) ** 2).sum() + np.trace(a) + np.trace(b) - 2 * trace_root
    set_a, set_b = features_with(mean_a, a, 400, seed=3), features_with(mean_b, b, 400, seed=4)
    assert evaluation.frechet_distance(set_a, set_b) == pytest.approx(expected, rel=1e-8)


def test_kernel_distance_is_about_zero_for_one_distribution_and_grows(features):
    a, b = features
    same, spread = evaluation.kernel_distance(a, b, subsets=5, subset_size=500)
    assert abs(same) < 3 * spread + 1e-3
    far, _ = evaluation.kernel_distance(a, b + 1.0, subsets=5, subset_size=500)
    farther, _ = evaluation.kernel_distance(a, b + 2.0, subsets=5, subset_size=500)
    assert 0.01 < far < farther


def test_classifier_score_bounds():
    one_hot = np.eye(10)[np.arange(1000) % 10]  # sure of every image, classes balanced
    assert evaluation.classifier_score(one_hot) == pytest.approx(10.0, rel=1e-6)
    assert evaluation.classifier_score(np.full((100, 10), 0.1)) == pytest.approx(1.0)  # unsure of all
    assert evaluation.classifier_score(np.eye(10)[np.zeros(100, int)]) == pytest.approx(1.0)  # one class


def test_confident_share_and_class_histogram():
    probs = np.array([[0.95, 0.05], [0.6, 0.4], [0.1, 0.9], [0.3, 0.7]])
    assert evaluation.confident_share(probs, 0.9) == 0.5
    assert evaluation.class_histogram(probs).tolist() == [2, 2]
    assert evaluation.class_histogram(np.eye(3)[[2, 2]]).tolist() == [0, 0, 2]


def test_export_images_writes_pngs_and_npz(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    folder = tools.export_images(images, tmp_path / "export")
    assert sorted(p.name for p in folder.iterdir()) == ["00000.png", "00001.png", "00002.png", "images.npz"]
    with Image.open(folder / "00001.png") as png:
        assert np.array_equal(np.asarray(png), images[1])
    with np.load(folder / "images.npz") as saved:
        assert saved["images"].dtype == np.uint8 and np.array_equal(saved["images"], images)
    with pytest.raises(ValueError, match="uint8"):
        tools.export_images(images.astype(np.float32), tmp_path / "bad")


def test_effective_classes():
    assert evaluation.effective_classes([5] * 10) == pytest.approx(10.0)
    assert evaluation.effective_classes([0, 7, 0]) == pytest.approx(1.0)
    assert evaluation.effective_classes([1, 1, 0, 0]) == pytest.approx(2.0)


def solid_colour_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is their colour (plus noise): a task any classifier learns at once."""
    rng = np.random.default_rng(seed)
    # The cube's 8 corners, mid grey and brown: at least 143 apart, so the classes never overlap.
    palette = np.array(
        [[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)] + [[128] * 3, [128, 64, 0]]
    )
    labels = rng.integers(0, 10, count)
    noise = rng.normal(0, 12, (count, 32, 32, 3))
    return np.clip(palette[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8), labels


def test_classifier_learns_a_separable_task_and_gives_features_and_probabilities():
    train_x, train_y = solid_colour_images(480, seed=0)
    test_x, test_y = solid_colour_images(100, seed=1)
    model, accuracies = evaluation.train_classifier(
        train_x, train_y, test_x, test_y, epochs=10, batch_size=24, verbose=0
    )
    assert accuracies["test_accuracy"] > 0.8 and accuracies["test_accuracy_single_view"] > 0.8
    features, probabilities = evaluation.classifier_outputs(model, test_x, batch_size=30)
    assert features.shape == (100, 128) and probabilities.shape == (100, 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities.argmax(axis=1) == test_y).mean() == pytest.approx(accuracies["test_accuracy"])
    # The mirror view is averaged in: an image and its mirror image get the same outputs.
    mirrored = evaluation.classifier_outputs(model, test_x[:, :, ::-1].copy())
    assert np.allclose(mirrored[0], features, atol=1e-4) and np.allclose(
        mirrored[1], probabilities, atol=1e-6
    )
    single = evaluation.classifier_outputs(model, test_x, mirror=False)[1]
    assert (single.argmax(axis=1) == test_y).mean() == pytest.approx(accuracies["test_accuracy_single_view"])
    with pytest.raises(ValueError, match="uint8"):
        evaluation.classifier_outputs(model, test_x.astype("float32"))


def test_classifier_is_trained_once_then_loaded_from_its_cache(tmp_path):
    from conftest import write_fake_cifar

    data = write_fake_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    folder = tmp_path / "classifier"
    model, info = evaluation.load_or_train_classifier(folder, str(data), epochs=1)
    assert info["epochs"] == 1 and info["train_images"] == 100 and 0 <= info["test_accuracy"] <= 1
    weights = (folder / evaluation.CLASSIFIER_FILE).read_bytes()
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    # The second call needs no data: it loads the cached weights, which give the same outputs. (A
    # call with other epochs or another seed is refused: tests/test_caches.py.)
    again, info_again = evaluation.load_or_train_classifier(folder, str(tmp_path / "absent"), epochs=1)
    assert info_again == info and (folder / evaluation.CLASSIFIER_FILE).read_bytes() == weights
    assert np.allclose(
        evaluation.classifier_outputs(again, images)[1], evaluation.classifier_outputs(model, images)[1]
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [evaluation.CLASSIFIER_FILE, evaluation.CLASSIFIER_INFO]
    )


def test_nearest_neighbours_on_a_known_case():
    references = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    queries = np.array([[1.0, 1.0], [9.0, 0.5], [0.0, 13.0], [10.0, 0.0]])
    indices, distances = evaluation.nearest_neighbours(queries, references, chunk=3)  # two chunks
    assert indices.tolist() == [0, 1, 2, 1]
    assert np.allclose(distances, [np.sqrt(2), np.sqrt(1.25), 3.0, 0.0])
    rng = np.random.default_rng(0)
    many, pool = rng.standard_normal((50, 8)), rng.standard_normal((300, 8))
    brute = np.linalg.norm(many[:, None] - pool[None], axis=2)
    indices, distances = evaluation.nearest_neighbours(many, pool, chunk=16)
    assert (indices == brute.argmin(axis=1)).all() and np.allclose(distances, brute.min(axis=1))
