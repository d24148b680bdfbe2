"""Plumbing for dcgan_cifar10.ipynb that no learner needs to read.

Reading and checking a local ``cifar-10-batches-py`` folder, checking the
notebook's parameters, choosing a precision, atomic file writes, the JSON
history file, the lock that keeps two kernels off one run, and the offline
sample-quality numbers. The GAN itself lives in the notebook.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pickle
import tempfile
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


# ---------------------------------------------------------------- files ----
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)  # an ordinary file's mode, not mkstemp's 0600
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode())


def load_history(path: str | Path) -> list[dict]:
    """The per-epoch history list saved by save_history, or [] if there is none."""
    path = Path(path)
    if not path.exists():
        return []
    return json.loads(path.read_text())


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


# ------------------------------------------------------------ run state ----
def check_run_name(run_name: str) -> str:
    """A run name is one plain folder name: letters, digits, '-', '_' or '.'."""
    ok = isinstance(run_name, str) and run_name not in ("", ".", "..")
    if not ok or not all(c.isalnum() or c in "-_." for c in run_name):
        raise ParameterError(
            f"RUN_NAME must be a plain folder name (letters, digits, -_.), got {run_name!r}."
        )
    return run_name


def check_batch_fits(batch_size: int, image_count: int) -> None:
    check_positive_int("BATCH_SIZE", batch_size)
    if batch_size > image_count:
        raise ParameterError(
            f"BATCH_SIZE {batch_size} is larger than the {image_count} training images: "
            "lower BATCH_SIZE or raise MAX_TRAIN_IMAGES."
        )


def saved_run_config(path: str | Path) -> dict:
    """The settings a run folder was made with ({} for a new run)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def check_run_config(path: str | Path, config: dict) -> None:
    """Save the settings that shape a run's checkpoint; refuse to resume under other ones."""
    path = Path(path)
    if not path.exists():
        atomic_write_json(path, config)
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


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N x D each), as in FID."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrtm_psd(cov_a)
    # tr(sqrt(cov_a cov_b)) = tr(sqrt(root_a cov_b root_a)), whose argument is symmetric PSD.
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    distance = ((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(distance, 0.0))


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
