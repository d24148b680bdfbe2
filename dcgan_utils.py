"""Plumbing for dcgan_cifar10.ipynb that no learner needs to read.

Reading and checking a local ``cifar-10-batches-py`` folder, checking the
notebook's parameters, choosing a precision, atomic file writes, the JSON
history file, the lock that keeps two kernels off one run, restoring the newest
readable checkpoint, the offline sample-quality numbers (with bootstrap
intervals and nearest neighbours), and the ``export`` and ``strip-images``
commands. The GAN itself lives in the notebook.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import pickle
import secrets
import sys
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
HOW_TO_PROVIDE = (
    "Provide the extracted CIFAR-10 python folder: download cifar-10-python.tar.gz, "
    "extract it, and set the notebook parameter DATA_DIR (or the environment "
    "variable CIFAR10_DIR) to the 'cifar-10-batches-py' folder."
)


class DataFolderError(ValueError):
    """The CIFAR-10 folder is missing or not in the official python format."""


class ParameterError(ValueError):
    """A notebook parameter has a wrong type or value."""


class RunLockedError(RuntimeError):
    """Another process is training the same run."""


# ----------------------------------------------------------------- data ----
def resolve_data_dir(data_dir: str = "", environ: dict | None = None) -> Path | None:
    """The folder named by the parameter, else by $CIFAR10_DIR, else None."""
    environ = os.environ if environ is None else environ
    chosen = data_dir or environ.get("CIFAR10_DIR", "")
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    # Accept the folder that contains cifar-10-batches-py as well.
    if (path / "cifar-10-batches-py").is_dir():
        path = path / "cifar-10-batches-py"
    return path


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch as (uint8 N x 32 x 32 x 3 images, int64 labels)."""

    def broken(problem: str) -> DataFolderError:
        return DataFolderError(f"{path}: {problem} This is not an intact CIFAR-10 batch. " + HOW_TO_PROVIDE)

    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except Exception as err:  # truncated, corrupt or not a pickle at all
        raise broken(
            f"cannot be read ({type(err).__name__}: {err}); the file is truncated or corrupt."
        ) from None
    if not isinstance(batch, dict):
        raise broken(f"holds a {type(batch).__name__}, not a CIFAR-10 batch dict.")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise broken("has no 'data' or 'labels' entry.")
    data = np.asarray(data)
    labels = np.asarray(labels)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise broken(
            f"'data' is {data.dtype} with shape {data.shape}; CIFAR-10 batches hold "
            "uint8 rows of 3072 values (32 x 32 x 3)."
        )
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise broken(f"{labels.shape} labels for {len(data)} images.")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise broken("labels outside 0..9.")
    # Official layout: 1024 red, 1024 green, 1024 blue values per row.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def load_cifar10_folder(folder: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 N x 32 x 32 x 3, RGB) and labels of a cifar-10-batches-py folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFolderError(f"CIFAR-10 folder {folder} does not exist. " + HOW_TO_PROVIDE)
    names = TRAIN_BATCHES if split == "train" else ("test_batch",)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataFolderError(
            f"{folder} is not a cifar-10-batches-py folder: {', '.join(missing)} missing. " + HOW_TO_PROVIDE
        )
    parts = [_read_batch(folder / n) for n in names]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if len(images) == 0:
        raise DataFolderError(f"{folder} holds no images. " + HOW_TO_PROVIDE)
    return images, labels


def load_cifar10(data_dir: str = "", split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 from a local folder if one is named, else from keras.datasets."""
    folder = resolve_data_dir(data_dir)
    if folder is not None:
        return load_cifar10_folder(folder, split)
    cached = Path.home() / ".keras" / "datasets" / "cifar-10-batches-py"
    if not cached.is_dir():  # Keras keeps its download here; it fetches only when it is absent
        print(
            "No DATA_DIR or CIFAR10_DIR names a local cifar-10-batches-py folder: Keras now downloads "
            "CIFAR-10 (about 170 MB). To use a local copy instead, set DATA_DIR (or CIFAR10_DIR) to it."
        )
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as err:
        raise DataFolderError(
            f"No local CIFAR-10 folder was named and keras.datasets.cifar10.load_data() "
            f"failed ({type(err).__name__}: {err}). " + HOW_TO_PROVIDE
        ) from None
    if split == "train":
        return x_train, y_train.reshape(-1).astype(np.int64)
    return x_test, y_test.reshape(-1).astype(np.int64)


# ----------------------------------------------------------- parameters ----
def check_positive_int(name: str, value) -> int:
    """value itself if it is an int > 0 (not a bool), else a ParameterError."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}.")
    return value


def check_count(name: str, value) -> int:
    """value itself if it is an int >= 0 (not a bool), else a ParameterError; 0 means "none"."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParameterError(f"{name} must be an integer of 0 or more, got {value!r}.")
    return value


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ParameterError(f"PRECISION must be one of {PRECISIONS}, got {precision!r}.")
    return precision


def cpu_supports_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path(cpuinfo).read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_precision(
    requested: str, has_gpu: bool, has_bf16_cpu: bool, run_precision: str | None = None
) -> str:
    """The Keras dtype policy to use: `requested`; for 'auto', the precision an existing run was
    made with (so it resumes on any machine), else the best one for this machine."""
    check_precision(requested)
    if requested != "auto":
        return requested
    if run_precision:
        return run_precision
    if has_gpu:
        return "mixed_float16"
    return "mixed_bfloat16" if has_bf16_cpu else "float32"


@contextlib.contextmanager
def native_stderr_silenced():
    """Send what native code writes to file descriptor 2 to /dev/null for the duration: TensorFlow's
    C++ start-up lines (oneDNN, CUDA probing) are written before its log level applies, and
    Jupyter would show them in the cell's output."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# ---------------------------------------------------------------- files ----
def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: never half-written. The temporary
    file is created with mode 0o666 less the process umask, as open() would make it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode())


HISTORY_KEYS = ("gen_loss", "disc_loss", "real_acc", "fake_acc", "seconds", "images_per_sec")


def load_history(path: str | Path, epochs: int | None = None) -> list[dict]:
    """The per-epoch history list saved by save_history ([] if there is none). With `epochs`
    (the checkpoint's epoch), exactly epochs 1..epochs: rows past it are dropped (the history is
    saved before the checkpoint), and rows the file lacks (it was deleted) are marked missing."""
    path = Path(path)
    try:
        history = json.loads(path.read_text()) if path.exists() else []
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        kept = "" if epochs is None else f"The checkpoint (epochs 1-{epochs}) is intact. "
        raise ParameterError(
            f"The history file {path} is damaged ({type(err).__name__}: {err}). {kept}To continue, put "
            "back an intact copy (for a committed run: git checkout -- <file>), or delete the file: "
            "training then continues from the checkpoint, with the lost epochs marked missing."
        ) from None
    if epochs is None:
        return history
    history = history[:epochs]
    if len(history) < epochs:
        print(f"{path}: epochs {len(history) + 1}-{epochs} are missing from the history; marked missing.")
        missing = dict.fromkeys(HISTORY_KEYS, float("nan"))
        history += [{"epoch": e, **missing, "missing": True} for e in range(len(history) + 1, epochs + 1)]
    return history


def save_history(path: str | Path, history: list[dict]) -> None:
    epochs = [row["epoch"] for row in history]
    if epochs != list(range(1, len(history) + 1)):
        raise ValueError(f"history must hold epochs 1..{len(history)} once each, got {epochs}")
    atomic_write_json(path, history)


def save_figure(fig, path: str | Path, **kwargs) -> None:
    """Save a matplotlib figure as PNG atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **kwargs)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_npy(path: str | Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_arrays(path: str | Path, arrays: list[np.ndarray]) -> None:
    """A list of arrays (a model's get_weights()) as one .npz; read back with load_arrays."""
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_arrays(path: str | Path) -> list[np.ndarray]:
    """The list that atomic_write_arrays saved, in its order."""
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


# ------------------------------------------------------------ run state ----
def check_run_name(run_name: str, parameter: str = "RUN_NAME") -> str:
    """A run name is one plain folder name: letters, digits, '-', '_' or '.'."""
    ok = isinstance(run_name, str) and run_name not in ("", ".", "..")
    if not ok or not all(c.isalnum() or c in "-_." for c in run_name):
        raise ParameterError(
            f"{parameter} must be a plain folder name (letters, digits, -_.), got {run_name!r}."
        )
    return run_name


def check_batch_fits(batch_size: int, image_count: int) -> None:
    check_positive_int("BATCH_SIZE", batch_size)
    if batch_size > image_count:
        raise ParameterError(
            f"BATCH_SIZE {batch_size} is larger than the {image_count} training images: "
            "lower BATCH_SIZE or raise MAX_TRAIN_IMAGES."
        )


def read_json(path: str | Path) -> dict:
    """A JSON file's contents, or {} when it does not exist yet (a new run, an empty cache)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def saved_run_config(path: str | Path) -> dict:
    """The settings a run folder was made with ({} for a new run)."""
    return read_json(path)


def run_precision(requested: str, config_path: str | Path, has_gpu: bool) -> str:
    """choose_precision() for the run whose settings are saved at `config_path` (none: a new run)."""
    saved = saved_run_config(config_path).get("precision")
    return choose_precision(requested, has_gpu, cpu_supports_bf16(), saved)


def check_run_config(path: str | Path, config: dict) -> None:
    """Refuse to resume a run folder under settings other than those it was made with. Reads only:
    a new run's settings are written by save_run_config once its checkpoint has been checked."""
    path = Path(path)
    if not path.exists():
        return
    saved = saved_run_config(path)
    differ = [
        f"{key.upper()} is {config[key]!r}, the run used {saved.get(key)!r}"
        for key in config
        if saved.get(key) != config[key]
    ]
    if differ:
        raise ParameterError(
            f"The run folder {path.parent} was made with other settings: {'; '.join(differ)}. "
            "Use those settings to resume it, or another RUN_NAME for a new run; nothing was changed."
        )


def save_run_config(path: str | Path, config: dict) -> None:
    """Record the settings that shape a run's checkpoint, when the run has none recorded yet."""
    if not Path(path).exists():
        atomic_write_json(path, config)


def restore_checkpoint(checkpoint, manager) -> int:
    """Restore the newest readable checkpoint of `manager` (none: a new run); returns its epoch.

    A checkpoint that does not fit the models (another width or architecture) stops with a
    ParameterError. A damaged one (a file cut short by a full disk or a bad copy) is named in one
    line and the previous one is restored instead; the history and grids are then cut back to it
    as after a kill.
    """
    import tensorflow as tf

    newest_first = list(reversed(manager.checkpoints))
    for i, path in enumerate(newest_first):
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError) as err:
            raise ParameterError(
                f"The checkpoint {path} does not fit the models built from the parameters "
                f"(another BASE_FILTERS, NOISE_DIM or architecture?): {str(err)[:300]} ... "
                "Resume it with the settings it was made with, or choose another RUN_NAME; "
                "nothing on disk was changed."
            ) from None
        except (IndexError, tf.errors.OpError) as err:
            problem = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
            if i + 1 == len(newest_first):
                raise ParameterError(
                    f"The checkpoint {path} cannot be read ({problem}) and there is no earlier one. "
                    "Restore the run folder from a copy, or choose another RUN_NAME to start afresh."
                ) from None
            print(f"The checkpoint {path} cannot be read ({problem}); resuming from {newest_first[i + 1]}.")
            continue
        return int(checkpoint.epoch.numpy())
    return 0


_held_locks: dict[str, int] = {}  # lock file -> open descriptor, for this process's runs


def lock_run(folder: str | Path) -> Path:
    """Hold an exclusive lock on a run folder for as long as this process lives.

    The lock is an flock on `folder/.run.lock`: the system releases it when the process ends,
    even by kill -9, so a lock left by a dead process never blocks the next run. Locking the
    same folder again from the same process (a rerun cell) is a no-op.
    """
    path = Path(folder) / ".run.lock"
    key = str(path.resolve())
    if key in _held_locks:
        return path
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunLockedError(
            f"The run in {folder} is being trained by another process (pid {holder}). "
            "Two kernels must not train the same RUN_NAME at once: wait for it to finish, "
            "stop it, or choose another RUN_NAME. Nothing was changed."
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held_locks[key] = fd
    return path


# ----------------------------------------------------------- evaluation ----
# Sample-quality numbers computed from a classifier's features and class probabilities, so that
# runs can be compared offline (no downloaded Inception weights needed).


def _sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature set (N x D), in float64: the Gaussian that FID fits."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_from_stats(stats_a: tuple, stats_b: tuple) -> float:
    """Frechet distance between two Gaussians given as (mean, covariance)."""
    (mean_a, cov_a), (mean_b, cov_b) = stats_a, stats_b
    root_a = _sqrtm_psd(cov_a)
    # tr(sqrt(cov_a cov_b)) = tr(sqrt(root_a cov_b root_a)), whose argument is symmetric PSD.
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    distance = ((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(distance, 0.0))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N x D each), as in FID."""
    return frechet_from_stats(gaussian_stats(features_a), gaussian_stats(features_b))


def bootstrap_fids(
    features: np.ndarray, reference: np.ndarray, draws: int = 200, seed: int = 0
) -> np.ndarray:
    """FIDs of `draws` resamples (with replacement) of `features` against the fixed `reference`:
    how much the FID of this many images would vary from one draw of images to the next."""
    features = np.asarray(features, dtype=np.float64)
    reference_stats = gaussian_stats(reference)
    rng = np.random.default_rng(seed)
    return np.array(
        [
            frechet_from_stats(
                gaussian_stats(features[rng.integers(0, len(features), len(features))]), reference_stats
            )
            for _ in range(draws)
        ]
    )


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` share of `values`, e.g. a 95% bootstrap interval."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(np.asarray(values, dtype=np.float64), [tail, 100 - tail])
    return float(low), float(high)


def kernel_distance(
    features_a: np.ndarray, features_b: np.ndarray, subsets: int = 10, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the kernel (x.y / d + 1)^3, mean and std over random subsets."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    size = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    dim = a.shape[1]
    estimates = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (size * (size - 1))
        estimates.append(within - 2 * k_xy.mean())
    return float(np.mean(estimates)), float(np.std(estimates))


def classifier_score(probabilities: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))), the Inception Score formula applied to any classifier."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(axis=1).mean()))


def confident_share(probabilities: np.ndarray, threshold: float = 0.9) -> float:
    """Share of images whose top class probability is at least `threshold` ("recognizable")."""
    return float((np.asarray(probabilities).max(axis=1) >= threshold).mean())


def class_histogram(probabilities: np.ndarray) -> np.ndarray:
    """How many images the classifier assigns to each class (argmax), one count per class."""
    probabilities = np.asarray(probabilities)
    return np.bincount(probabilities.argmax(axis=1), minlength=probabilities.shape[1])


def effective_classes(histogram: np.ndarray) -> float:
    """exp(entropy) of a class histogram: 10 when 10 classes are equally common, 1 for one class."""
    counts = np.asarray(histogram, dtype=np.float64)
    shares = counts[counts > 0] / counts.sum()
    return float(np.exp(-(shares * np.log(shares)).sum()))


def nearest_neighbours(queries: np.ndarray, references: np.ndarray, chunk: int = 1024):
    """For each query feature vector, the index of the nearest reference vector (Euclidean) and
    the distance to it: (indices, distances)."""
    queries = np.asarray(queries, dtype=np.float64)
    references = np.asarray(references, dtype=np.float64)
    reference_norms = (references**2).sum(axis=1)
    indices, distances = [], []
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk]
        # |q - r|^2 = |q|^2 - 2 q.r + |r|^2, a block of queries against every reference at once
        squared = (block**2).sum(axis=1, keepdims=True) - 2 * block @ references.T + reference_norms
        nearest = squared.argmin(axis=1)
        indices.append(nearest)
        distances.append(np.sqrt(np.clip(squared[np.arange(len(block)), nearest], 0, None)))
    return np.concatenate(indices), np.concatenate(distances)


def export_images(images: np.ndarray, folder: str | Path) -> Path:
    """Write uint8 images (N x 32 x 32 x 3) as folder/NNNNN.png and folder/images.npz (key `images`),
    the inputs clean-fid and torch-fidelity take."""
    from PIL import Image

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected uint8 images of shape N x 32 x 32 x 3, got {images.dtype} {images.shape}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        atomic_write_bytes(folder / f"{i:05d}.png", buffer.getvalue())
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images)
    atomic_write_bytes(folder / "images.npz", buffer.getvalue())
    return folder


# ------------------------------------------------------------ classifier ----
CLASSIFIER_FILE = "classifier.weights.h5"
CLASSIFIER_INFO = "classifier.json"


def build_classifier(widths: tuple[int, int, int] = (32, 64, 128)):
    """A small CIFAR-10 classifier in the style of airbench: uint8-range RGB in, 10 logits out.

    A 2x2 stem convolution, then three blocks of [3x3 conv, 2x2 max pool, batch norm, GELU,
    3x3 conv, batch norm, GELU] (31 -> 15 -> 7 -> 3 pixels); global max pooling gives the
    widths[-1] "features" that the classifier-FID and KID compare.
    """
    import keras
    from keras import layers

    inputs = keras.Input((32, 32, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)  # 0..255 -> [-1, 1]
    x = layers.Conv2D(24, 2, padding="valid")(x)  # (31, 31, 24)
    x = layers.Activation("gelu")(x)
    for width in widths:
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D()(x)  # halves the size
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("gelu")(x)
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("gelu")(x)
    features = layers.GlobalMaxPooling2D(name="features")(x)  # (widths[-1],)
    logits = layers.Dense(10, name="logits")(features)
    return keras.Model(inputs, logits, name="cifar10_classifier")


def train_classifier(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    epochs: int,
    batch_size: int = 256,
    seed: int = 0,
    verbose: int = 2,
):
    """Train build_classifier() with SGD (Nesterov, weight decay), a one-cycle learning rate and
    random flips and translations. Returns (model, test accuracies as classifier_accuracy gives
    them); `verbose=2` prints each epoch."""
    import keras
    import tensorflow as tf
    from keras import layers

    check_positive_int("CLASSIFIER_EPOCHS", epochs)
    keras.utils.set_random_seed(seed)
    total = epochs * max(len(train_images) // batch_size, 1)

    class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
        """Rises linearly to `peak` over `warmup` steps, then falls linearly to 0 at the end."""

        def __init__(self, peak: float, warmup: int):
            self.peak, self.warmup = peak, warmup

        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            rising = self.peak * step / self.warmup
            falling = self.peak * tf.maximum(total - step, 0.0) / max(total - self.warmup, 1)
            return tf.minimum(rising, falling)

    augment = keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", interpolation="nearest", seed=seed),
        ]
    )
    batches = (
        tf.data.Dataset.from_tensor_slices((train_images.astype("float32"), train_labels))
        .shuffle(len(train_images), seed=seed)
        .batch(batch_size)
        .map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    model = build_classifier()
    model.compile(
        optimizer=keras.optimizers.SGD(
            OneCycle(0.1, max(total // 5, 1)), momentum=0.9, nesterov=True, weight_decay=5e-4
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=True,
    )
    model.fit(batches, epochs=epochs, verbose=verbose)
    return model, classifier_accuracy(model, test_images, test_labels)


def classifier_accuracy(model, images: np.ndarray, labels: np.ndarray) -> dict:
    """Test accuracy as the metrics use the classifier (each image and its mirror image averaged),
    and of one view alone."""
    _, probabilities = classifier_outputs(model, images)
    _, single = classifier_outputs(model, images, mirror=False)
    return {
        "test_accuracy": round(float((probabilities.argmax(axis=1) == labels).mean()), 4),
        "test_accuracy_single_view": round(float((single.argmax(axis=1) == labels).mean()), 4),
    }


def load_or_train_classifier(folder: str | Path, data_dir: str, epochs: int, seed: int = 0):
    """The evaluation classifier cached in `folder` (weights + its test accuracy), trained first
    if the folder holds none. Returns (model, info dict)."""
    folder = Path(folder)
    weights, info_path = folder / CLASSIFIER_FILE, folder / CLASSIFIER_INFO
    if weights.exists() and info_path.exists():
        model = build_classifier()
        model.load_weights(weights)
        return model, json.loads(info_path.read_text())
    train_images, train_labels = load_cifar10(data_dir, "train")
    test_images, test_labels = load_cifar10(data_dir, "test")
    model, accuracies = train_classifier(
        train_images, train_labels, test_images, test_labels, epochs, seed=seed
    )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".tmp-classifier.weights.h5"  # Keras insists on the suffix; renamed when complete
    model.save_weights(tmp)
    os.replace(tmp, weights)
    info = {
        **accuracies,
        "epochs": epochs,
        "train_images": len(train_images),
        "test_images": len(test_images),
        "seed": seed,
    }
    atomic_write_json(info_path, info)
    return model, info


def classifier_outputs(
    model, images: np.ndarray, batch_size: int = 500, mirror: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate features, class probabilities) of uint8 images N x 32 x 32 x 3.

    With `mirror`, each image and its left-right mirror image are both classified and their
    features and logits averaged: CIFAR-10's classes do not change in a mirror, and the average
    is steadier than either view (about 1.3 points more test accuracy here).
    """
    import keras

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected uint8 images of shape N x 32 x 32 x 3, got {images.dtype} {images.shape}")
    both = keras.Model(model.input, [model.get_layer("features").output, model.output])
    views = [images, images[:, :, ::-1]] if mirror else [images]
    features, logits = 0.0, 0.0
    for view in views:
        outputs = [
            both(view[i : i + batch_size].astype("float32"), training=False)
            for i in range(0, len(view), batch_size)
        ]
        features = features + np.concatenate([np.asarray(f) for f, _ in outputs]) / len(views)
        logits = logits + np.concatenate([np.asarray(g) for _, g in outputs]).astype(np.float64) / len(views)
    logits = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return features.astype(np.float64), probabilities


# -------------------------------------------------------------- notebook ----
NOTEBOOK = Path(__file__).resolve().with_name("dcgan_cifar10.ipynb")


def notebook_cells(tag: str, notebook: str | Path = NOTEBOOK) -> list[str]:
    """The sources of the notebook's code cells that carry `tag`."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    return [
        "".join(cell["source"])
        for cell in cells
        if cell["cell_type"] == "code" and tag in cell.get("metadata", {}).get("tags", [])
    ]


def run_cell(source: str, name: str, namespace: dict, notebook: str | Path = NOTEBOOK) -> None:
    """Execute one cell's source in `namespace`, registered so that inspect (and so AutoGraph)
    can read the functions it defines."""
    import linecache

    filename = f"{Path(notebook).name}:{name}"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)


def notebook_definitions(notebook: str | Path = NOTEBOOK, **overrides) -> dict:
    """A namespace holding the notebook's parameters (with overrides) and every function its
    `definitions` cells define, without running anything else."""
    namespace: dict = {"__name__": "notebook_definitions"}
    for source in notebook_cells("parameters", notebook):
        run_cell(source, "parameters", namespace, notebook)
    namespace.update(overrides)
    for i, source in enumerate(notebook_cells("definitions", notebook)):
        run_cell(source, f"definitions-{i}", namespace, notebook)
    return namespace


def export_run(
    run_name: str,
    count: int,
    out: str | Path,
    output_dir: str | Path = ".",
    seed: int = 0,
    class_name: str | None = None,
) -> Path:
    """Export `count` images of a trained run (its final generator, as the notebook samples it)
    as out/NNNNN.png and out/images.npz, for clean-fid or torch-fidelity. A class-conditional run
    draws every class equally often, or only `class_name` when given."""
    check_positive_int("count", count)
    if class_name is not None and class_name not in CIFAR10_CLASSES:
        raise ParameterError(
            f"class {class_name!r} is not a CIFAR-10 class: one of {', '.join(CIFAR10_CLASSES)}."
        )
    nb = notebook_definitions()
    paths = nb["make_run_paths"](str(output_dir), run_name)
    generator, config = nb["load_run_generator"](paths)
    label = None if class_name is None else CIFAR10_CLASSES.index(class_name)
    if label is not None and len(generator.inputs) == 1:
        raise ParameterError(f"run {run_name!r} is not class-conditional: it cannot draw a chosen class.")
    images = nb["generate_images"](generator, count, config["noise_dim"], seed, label)
    return export_images(images, out)


def strip_embedded_images(notebook: str | Path) -> int:
    """Replace the images embedded in a notebook's outputs by a one-line note, in place: a run's
    executed copy stays a readable record without megabytes of base64 (the images themselves are
    saved files). Returns how many were removed."""
    path = Path(notebook)
    document = json.loads(path.read_text())
    removed = 0
    for cell in document["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            images = [key for key in data if key.startswith("image/")]
            for key in images:
                del data[key]
                removed += 1
            if images:
                data["text/plain"] = ["[image removed from this record; the run saved it as a file]"]
    atomic_write_bytes(path, (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode())
    return removed


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Commands for the runs of dcgan_cifar10.ipynb.")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write N images of a run as PNGs and an .npz (key 'images')")
    export.add_argument("--run", required=True, help="run name, e.g. baseline or improved")
    export.add_argument("--count", type=int, default=10_000, help="number of images (default 10000)")
    export.add_argument("--out", required=True, help="folder to write")
    export.add_argument("--output-dir", default=".", help="the notebook's OUTPUT_DIR (default .)")
    export.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    export.add_argument(
        "--class", dest="class_name", help="a class-conditional run: only this class, e.g. horse"
    )
    strip = sub.add_parser("strip-images", help="remove embedded images from executed notebooks, in place")
    strip.add_argument("notebooks", nargs="+", help="executed .ipynb files")
    args = parser.parse_args(argv)
    if args.command == "strip-images":
        for notebook in args.notebooks:
            print(f"{notebook}: {strip_embedded_images(notebook)} images removed")
        return
    folder = export_run(args.run, args.count, args.out, args.output_dir, args.seed, args.class_name)
    what = f"{args.class_name} images" if args.class_name else "images"
    print(f"wrote {args.count} {what} of run {args.run!r} to {folder}/ (PNGs and images.npz)")


if __name__ == "__main__":
    main()
