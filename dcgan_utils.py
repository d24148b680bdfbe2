"""Run safety for dcgan_cifar10.ipynb: what keeps a run's files whole, not what makes the GAN.

Reading and checking a local ``cifar-10-batches-py`` folder and the notebook's parameters,
choosing a precision, a run's folders, atomic file writes, the JSON history, the lock that keeps
two kernels off one run, opening a run (its settings checked, its newest readable checkpoint
restored, its seeds and history loaded), the rollback that saves the last finished epoch when
training stops early, and the progress line. The evaluation is in ``dcgan_eval.py``, Step 7's
search and the command line in ``dcgan_tools.py``; the GAN itself is in the notebook.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import pickle
import re
import secrets
import sys
import time
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


def load_cifar10(data_dir: str = "", split: str = "train", limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 from a local folder if one is named, else from keras.datasets; with `limit`, only
    the first `limit` images."""
    images, labels = _load_cifar10(data_dir, split)
    return (images[:limit], labels[:limit]) if limit else (images, labels)


def load_data(data_dir: str = "", limit: int = 0) -> tuple[tuple, tuple]:
    """((train images, labels), (test images, labels)), as keras.datasets.cifar10.load_data()
    gives them but with one class id per label; with `limit`, only the first `limit` training
    images. The images are uint8 RGB, N x 32 x 32 x 3."""
    return load_cifar10(data_dir, "train", limit), load_cifar10(data_dir, "test")


def _load_cifar10(data_dir: str, split: str) -> tuple[np.ndarray, np.ndarray]:
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


# TensorFlow's C++ start-up lines that say nothing is wrong: written before its log level applies
KNOWN_NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine",  # a CPU-only machine
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
    "rebuild TensorFlow with the appropriate compiler flags",
    "Unable to register cu",  # cuDNN/cuFFT/cuBLAS factories registered twice, harmless
    "computation_placer.cc",
    "TF-TRT Warning: Could not find TensorRT",
    "failed call to cuInit",  # no GPU driver; device_name() then says the CPU is used
)


def is_known_noise(line: str) -> bool:
    return any(text in line for text in KNOWN_NOISE)


@contextlib.contextmanager
def native_stderr_filtered():
    """Catch what native code writes to file descriptor 2 for the duration, then pass on every line
    but TensorFlow's known start-up noise (KNOWN_NOISE) through sys.stderr, where Jupyter shows it:
    a CUDA library that fails to load, or any other error, is still seen."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        try:
            os.dup2(caught.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if line.strip() and not is_known_noise(line)))


def device_name() -> str:
    """What TensorFlow trains on: its GPUs by name, else the CPU's model name and core count."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
        return "GPU " + ", ".join(names)
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = "CPU"
    return f"{model}, {os.cpu_count()} cores (no GPU found)"


# ---------------------------------------------------------------- files ----
def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: never half-written. The temporary
    file is created with mode 0o666 less the process umask, as open() would make it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:  # a full disk, say: the message names the file that was not written
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, f"{err.strerror or err}; could not write {path}", str(path)) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


TEMPORARY_FILE = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")  # what atomic_write_bytes leaves


def sweep_temporary_files(folders) -> list[Path]:
    """Delete the temporary files of atomic writes that a killed process (kill -9) left in
    `folders` and below them; a file of a process still alive is kept. Returns those deleted."""
    swept = []
    for folder in folders:
        for path in Path(folder).rglob(".*.tmp"):
            match = TEMPORARY_FILE.match(path.name)
            if match and not process_alive(int(match.group(1))):
                path.unlink(missing_ok=True)
                swept.append(path)
    return swept


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


@contextlib.contextmanager
def locked(path: str | Path):
    """Hold an exclusive lock on `path` (through path.lock beside it) for the duration: the
    read-modify-write of a file that several kernels add to, such as the search's cache."""
    lock_path = Path(path).with_name(Path(path).name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for the other writer
        yield
    finally:
        os.close(fd)  # releases the lock


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode())


METRIC_NAMES = ("gen_loss", "disc_loss", "real_acc", "fake_acc", "fake_acc_course")  # a train step's
HISTORY_KEYS = (*METRIC_NAMES, "seconds", "images_per_sec")


def write_json_or_remove(path: str | Path, obj) -> None:
    """Write `obj` to `path` when it holds anything, else remove the file: a report this execution
    did not make is never left on disk from an earlier one."""
    if obj:
        atomic_write_json(path, obj)
    else:
        Path(path).unlink(missing_ok=True)


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


_figure_label = ""  # set by label_figures: a quick look marks every figure it saves


def label_figures(label: str) -> None:
    """From now on, every figure saved with save_figure carries `label` in its title ("" for none)."""
    global _figure_label
    _figure_label = label


def save_figure(fig, path: str | Path, **kwargs) -> None:
    """Save a matplotlib figure as PNG atomically (titled with the label_figures label, if any),
    then close it: a saved figure is done, and an open one would hold its memory."""
    import matplotlib.pyplot as plt

    if _figure_label:
        title = fig._suptitle.get_text() if fig._suptitle is not None else ""
        fig.suptitle(f"{_figure_label}\n{title}" if title else _figure_label, color="firebrick", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **kwargs)
    plt.close(fig)
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


def format_or_dash(value, form: str) -> str:
    """`value` formatted, or "-" where it was not measured (None): a table's empty cell."""
    return "-" if value is None else format(value, form)


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


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def run_precision(requested: str, config_path: str | Path, gpu: bool | None = None) -> str:
    """choose_precision() for the run whose settings are saved at `config_path` (none: a new run);
    `gpu` defaults to whether TensorFlow sees one."""
    saved = saved_run_config(config_path).get("precision")
    return choose_precision(requested, has_gpu() if gpu is None else gpu, cpu_supports_bf16(), saved)


RECIPE_DEFAULTS = {  # what runs recorded before these keys existed used
    "noise_fade_epochs": 50,
    "ac_weight": 0.0,
    "class_embedding": 0,
    "spectral_hinge": False,
}


def check_run_config(path: str | Path, config: dict) -> None:
    """Refuse to resume a run folder under settings other than those it was made with. Reads only:
    a new run's settings are written by save_run_config once its checkpoint has been checked."""
    path = Path(path)
    if not path.exists():
        return
    saved = saved_run_config(path)
    if "recipe" in saved:
        saved["recipe"] = {**RECIPE_DEFAULTS, **saved["recipe"]}
    differ = []
    for key in config.keys() & saved.keys():  # a setting an older run did not record is not compared
        if key == "recipe":  # likewise a recipe key the run's code did not have yet
            changed = {k: v for k, v in config[key].items() if k in saved[key] and saved[key][k] != v}
            if changed:
                used = {k: saved[key][k] for k in changed}
                differ.append(f"RECIPE is {changed}, the run used {used}")
        elif saved[key] != config[key]:
            differ.append(f"{key.upper()} is {config[key]!r}, the run used {saved[key]!r}")
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


# ------------------------------------------------------------ parameters, all at once ----
POSITIVE = (
    "EPOCHS BATCH_SIZE NOISE_DIM NOISE_FADE_EPOCHS CHECKPOINT_EVERY BASE_FILTERS CLASSIFIER_EPOCHS "
    "EVAL_IMAGES CURVE_IMAGES"
).split()
COUNTS = ("SNAPSHOT_EVERY", "SEARCH_EPOCHS", "MAX_TRAIN_IMAGES", "SEED", "TRAIN_SEED", "CLASSIFIER_SEED")


def check_parameters(namespace: dict) -> None:
    """Check the notebook's parameters (its UPPER_CASE names) before any work: one ParameterError
    naming the first wrong one."""
    for name in POSITIVE:
        check_positive_int(name, namespace[name])
    for name in COUNTS:
        check_count(name, namespace[name])
    check_precision(namespace["PRECISION"])
    for name in ("RUN_NAME", "STEP7_RUN_NAME"):
        check_run_name(namespace[name], name)
    for repeat in namespace["STEP7_REPEATS"].split():
        check_run_name(repeat, "STEP7_REPEATS")
    step7_runs = [namespace["STEP7_RUN_NAME"], *namespace["STEP7_REPEATS"].split()]
    if namespace["RUN_NAME"] in step7_runs:
        raise ParameterError(
            f"STEP7_RUN_NAME and STEP7_REPEATS must differ from RUN_NAME ({namespace['RUN_NAME']!r}): "
            "runs never share files."
        )
    for name in ("GEN_LR", "DISC_LR", "BETA_1", "BETA_2", "REAL_LABEL", "INSTANCE_NOISE"):
        value = namespace[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ParameterError(f"{name} must be a number from 0 to 1, got {value!r}.")


def make_run_paths(output_dir: str | Path, run_name: str) -> dict[str, Path]:
    """Create a run's three folders (no-op if they exist) and name the files inside them."""
    check_run_name(run_name)
    root = Path(output_dir)
    samples = root / "generated_samples" / run_name
    checkpoints = root / "training_checkpoints" / run_name
    history = root / "training_history" / run_name
    for folder in (samples, checkpoints, history):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "samples": samples,
        "checkpoints": checkpoints,
        "seeds": checkpoints / "sample_seeds.npy",
        "config": checkpoints / "run_config.json",
        "history": history / "history.json",
        "history_plot": history / "train_history.png",
        "snapshots": history / "generator_snapshots",  # G every few epochs, for the metric curve
    }


def remove_folder(folder: str | Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------ opening a run ----
def load_or_make_seeds(path: str | Path, count: int, noise_dim: int, seed: int) -> np.ndarray:
    """The run's fixed sample noise (count, noise_dim): loaded if saved, else made and saved."""
    path = Path(path)
    if path.exists():
        seeds = np.load(path)
        if seeds.shape != (count, noise_dim):
            raise ParameterError(
                f"{path} holds seeds of shape {seeds.shape}, but NOISE_DIM is {noise_dim}: "
                "this run folder belongs to a different NOISE_DIM; use another RUN_NAME."
            )
        return seeds
    seeds = np.random.default_rng(seed).standard_normal((count, noise_dim)).astype("float32")
    atomic_write_npy(path, seeds)
    return seeds


def run_train_seed(requested: int, config_path: str | Path, seed: int) -> int:
    """The training seed of the run whose settings are saved at `config_path`: a new run takes
    `requested`; an existing one keeps its own (`seed`, the sample seed, if it recorded none)."""
    saved = saved_run_config(config_path)
    return saved.get("train_seed", seed) if saved else requested


def settings_of_run(settings: dict, config_path: str | Path, precision: str, train_seed: int) -> dict:
    """`settings` with a run's own precision and training seed: those it was made with, for a run
    that exists; else the requested ones (precision "auto": the machine's best)."""
    train_seed = run_train_seed(train_seed, config_path, settings["seed"])
    return {**settings, "precision": run_precision(precision, config_path), "train_seed": train_seed}


def run_config(run) -> dict:
    """The settings that shape a run's checkpoint, as its folder records them."""
    return {
        "noise_dim": run.settings["noise_dim"],
        "train_seed": run.settings["train_seed"],
        "base_filters": run.recipe["disc_filters"],
        "precision": run.settings["precision"],
        "recipe": run.recipe,
    }


def open_run(run, manager) -> None:
    """Open a GANRun's folder for training, given its checkpoint manager: lock the folder, sweep
    what a killed process left half-written, check the run's settings against those it was made
    with (reading only), restore the newest readable checkpoint, then record the settings and load
    the 16 seeds and the history so far."""
    lock_run(run.paths["checkpoints"])  # one kernel per run: a second one stops here
    sweep_temporary_files([run.paths["samples"], run.paths["checkpoints"], run.paths["history"].parent])
    config = run_config(run)
    check_run_config(run.paths["config"], config)  # nothing is written before the restore
    run.manager = manager
    epoch = restore_checkpoint(manager.checkpoint, manager)
    save_run_config(run.paths["config"], config)
    run.seeds = load_or_make_seeds(run.paths["seeds"], 16, run.settings["noise_dim"], run.settings["seed"])
    run.history = load_history(run.paths["history"], epoch)  # epochs 1..epoch
    assert [row["epoch"] for row in run.history] == list(range(1, epoch + 1)), "history does not match"


# ------------------------------------------------------------ during training ----
def without_labels(model, inputs, labels):
    """`inputs` for a model that takes no class (ParameterError if labels were given): an
    unconditional generator asked for a class must say so, naming it, not quietly draw any class."""
    if labels is not None:
        asked = sorted({int(label) for label in np.asarray(labels).ravel()})
        named = ", ".join(f"{label} ({CIFAR10_CLASSES[label]})" for label in asked)
        raise ParameterError(f"{model.name} is not class-conditional: it cannot draw class {named}.")
    return inputs


def class_grid_inputs(seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The noise and labels of a 10x10 class grid: row c draws class c from the first 10 seeds."""
    classes, seed_index = np.divmod(np.arange(100), 10)
    return seeds[seed_index], classes


def class_row_names(predicted: np.ndarray | None, per_row: int) -> list[str]:
    """The class grid's row names: each class, and with `predicted` (the class a classifier gives
    each image, row by row) how many of the row's images it calls that class, e.g. "horse 7/10"."""
    if predicted is None:
        return list(CIFAR10_CLASSES)
    rows = np.asarray(predicted).reshape(len(CIFAR10_CLASSES), per_row)
    hits = (rows == np.arange(len(CIFAR10_CLASSES))[:, None]).sum(axis=1)
    return [f"{name} {hit}/{per_row}" for name, hit in zip(CIFAR10_CLASSES, hits, strict=True)]


def check_finite(metrics: np.ndarray, epoch: int, step: int) -> None:
    """Stop training (FloatingPointError) on a NaN or infinite loss, before it is checkpointed."""
    if not np.isfinite(metrics).all():
        raise FloatingPointError(
            f"non-finite loss at epoch {epoch}, step {step}: gen_loss={metrics[0]}, disc_loss={metrics[1]}. "
            "Training stopped; the latest checkpoint holds the last good epoch."
        )


class EpochMeter:
    """An epoch's progress bar (`bar`, over its batches) and its running metric sums, kept where the
    train step runs. The host reads them every `every` steps and at the epoch's end, not after each
    step, so a GPU never waits for it: then the progress bar shows the running means, and a step
    whose metrics were not finite stops training (FloatingPointError naming that step) before
    anything is checkpointed."""

    def __init__(self, batches, epoch: int, epochs: int, every: int = 25):
        import tensorflow as tf
        from tqdm import tqdm

        self.bar = tqdm(batches, desc=f"epoch {epoch}/{epochs}", file=sys.stdout, mininterval=10)
        self.tf, self.epoch, self.epochs, self.every = tf, epoch, epochs, every
        self.steps, self.images, self.start = 0, 0, time.perf_counter()
        self.sums = tf.zeros(len(METRIC_NAMES))
        self.first_bad = tf.constant(0)  # the first step whose metrics were not finite (0: none yet)
        self.bad_metrics = tf.zeros(len(METRIC_NAMES))  # and its metrics

    def add(self, metrics, batch) -> None:
        """One step's metrics (a device tensor; not read here) and its batch."""
        tf = self.tf
        self.steps += 1
        self.images += tf.nest.flatten(batch)[0].shape[0]
        self.sums += metrics
        newly_bad = (self.first_bad == 0) & ~tf.reduce_all(tf.math.is_finite(metrics))
        self.first_bad = tf.where(newly_bad, self.steps, self.first_bad)
        self.bad_metrics = tf.where(newly_bad, metrics, self.bad_metrics)
        if self.steps % self.every == 0 or self.steps == self.bar.total:  # the last one before the bar closes
            self.read()

    def read(self) -> np.ndarray:
        """The running means, shown on the bar; stops on a non-finite step."""
        first_bad = int(self.first_bad)  # the one wait for the device, every `every` steps
        if first_bad:
            check_finite(self.bad_metrics.numpy(), self.epoch, first_bad)
        means, seconds = self.sums.numpy() / self.steps, time.perf_counter() - self.start
        left = time_left(seconds, self.steps, int(self.bar.total), self.epoch, self.epochs)
        self.bar.set_postfix_str(progress_text(means, self.images / seconds, left), refresh=False)
        return means

    def result(self) -> dict:
        """The epoch's mean metrics, its seconds and images per second (after a last read)."""
        means = dict(zip(METRIC_NAMES, self.read().tolist(), strict=True))
        seconds = time.perf_counter() - self.start
        report_divergence(means, self.epoch)
        return {**means, "seconds": round(seconds, 2), "images_per_sec": round(self.images / seconds, 1)}


def report_divergence(means: dict, epoch: int) -> None:
    """One line when an epoch's losses are finite but far beyond any working GAN's."""
    if max(abs(means["gen_loss"]), abs(means["disc_loss"])) > 1e3:
        print(
            f"epoch {epoch}: the losses diverged (G {means['gen_loss']:.3g}, D {means['disc_loss']:.3g}); "
            "training goes on, stop it to keep the last checkpoint"
        )


def time_left(seconds: float, steps_done: int, steps_per_epoch: int, epoch: int, epochs: int) -> str:
    """The run's remaining time as h:mm, at the pace of this epoch's first `steps_done` steps."""
    steps_left = steps_per_epoch - steps_done + (epochs - epoch) * steps_per_epoch
    minutes = round(seconds / steps_done * steps_left / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def progress_text(means: np.ndarray, images_per_sec: float, left: str) -> str:
    g_loss, d_loss, real_acc, fake_acc = means[:4]
    return (
        f"G {g_loss:.3f} D {d_loss:.3f} real {real_acc:.2f} fake {fake_acc:.2f} "
        f"{images_per_sec:.0f} img/s, run left {left}"
    )


def history_lines(history: list[dict], steps: int, epochs: int, last: int = 5) -> str:
    """The last `last` epochs of a history as the training loop's progress bar left them, e.g.
    "epoch 50/50: 100%|##########| 390/390 [04:22<00:00, 1.49it/s, G 3.587 D 0.529 ...]"."""
    from tqdm import tqdm

    lines = []
    for row in history[-last:]:
        means = [row.get(name, np.nan) for name in METRIC_NAMES]  # older histories lack the last
        left = time_left(row["seconds"], steps, steps, row["epoch"], epochs)
        text = progress_text(means, row["images_per_sec"], left)
        lines.append(
            tqdm.format_meter(
                steps, steps, row["seconds"], prefix=f"epoch {row['epoch']}/{epochs}", postfix=text
            )
        )
    return "\n".join(lines)


def save_snapshot(generator, folder: str | Path, epoch: int, every: int) -> None:
    """G's weights after `epoch` (batch-norm statistics included) every `every` epochs (0: never),
    for Step 7's metric curve."""
    if every and epoch % every == 0:
        atomic_write_arrays(Path(folder) / f"generator_epoch_{epoch:04d}.npz", generator.get_weights())


def checkpoint_parts(run) -> dict:
    """A run's (a dataclass's) models, optimizers, random generators and variables, by field name:
    what its checkpoint saves beside the epoch."""
    import dataclasses

    import keras
    import tensorflow as tf

    kept = (keras.Model, keras.optimizers.Optimizer, tf.random.Generator, tf.Variable)
    parts = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}
    return {name: part for name, part in parts.items() if isinstance(part, kept)}


def checkpoint_variables(checkpoint) -> list:
    """Every variable a run's checkpoint saves, in a fixed order: each model's weights, each
    optimizer's state, each random generator's state, and each variable of its own (the epoch, and
    any state a recipe adds)."""
    import keras
    import tensorflow as tf

    found = []
    for name in sorted(key for key in vars(checkpoint) if not key.startswith("_")):
        part = getattr(checkpoint, name)
        if isinstance(part, keras.Model):
            found += part.weights
        elif isinstance(part, keras.optimizers.Optimizer):
            found += part.variables
        elif isinstance(part, tf.random.Generator):
            found.append(part.state)
        elif isinstance(part, tf.Variable):
            found.append(part)
    return found


class saved_on_stop:  # noqa: N801 (used as a context manager, like contextlib's)
    """`with saved_on_stop(run, save) as guard:` around a training loop that calls
    `guard.finished(epoch)` once an epoch's state is final. If the loop stops early (Ctrl-C, a
    non-finite loss, a full disk, any error), every variable of the checkpoint (weights, optimizers,
    noise generator, epoch) is put back to the last finished epoch, which is saved with `save(run)`
    unless its checkpoint exists; the history is cut back to it, a message says how to continue,
    and the exception goes on. So the kernel, the files and the next training cell agree."""

    def __init__(self, run, save):
        self.run, self.save = run, save
        self.variables = checkpoint_variables(run.manager.checkpoint)
        self.done = self.saved = run.epoch
        self.state = [variable.numpy() for variable in self.variables]  # the epoch training starts from

    def __enter__(self):
        return self

    def finished(self, epoch: int) -> None:
        self.done = epoch
        latest = self.run.manager.latest_checkpoint
        if latest is not None and latest.endswith(f"-{epoch}"):
            self.saved = epoch
        self.state = [variable.numpy() for variable in self.variables]

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is None or not issubclass(kind, (Exception, KeyboardInterrupt)):
            return False
        for variable, value in zip(self.variables, self.state, strict=True):
            variable.assign(value)
        if self.done > self.saved:
            self.save(self.run)
        del self.run.history[self.done :]
        print(
            f"Stopped after epoch {self.done} ({kind.__name__}: {error}). Saved: epochs 1-{self.done}, "
            f"checkpoint in {self.run.paths['checkpoints']}; the models in memory are back at that "
            f"epoch too. Run the training cell again to continue from epoch {self.done + 1}."
        )
        return False


def checkpoint_epoch(folder: str | Path) -> int:
    """The epoch saved in a run folder's latest checkpoint (0 when it has none): the run's finished
    epochs, whatever its history file holds."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(folder))
    return 0 if latest is None else int(tf.train.load_variable(latest, "epoch/.ATTRIBUTES/VARIABLE_VALUE"))


# ------------------------------------------------------------ images ----
def read_png(path: str | Path) -> np.ndarray:
    """A PNG file as uint8 RGB (an alpha channel dropped)."""
    import imageio.v3 as iio

    return iio.imread(path)[..., :3]


def saved_grids(sample_dir: str | Path, epochs) -> list[np.ndarray]:
    """The saved sample grids of `epochs` (an iterable of epoch numbers) as RGB frames; a grid that
    was lost is left out, so a GIF of the rest can still be made."""
    files = [Path(sample_dir) / f"epoch_{epoch:04d}.png" for epoch in epochs]
    return [read_png(file) for file in files if file.exists()]


def light_gif(sample_dir: str | Path, epochs: int, every: int = 10) -> Path:
    """A light copy of a run's progress GIF to embed in the notebook: the grids of epoch 1, every
    `every`-th epoch and the last, each halved (a 32x32 image back near its own size), as
    sample_dir/training_progress_light.gif."""
    chosen = sorted({1, *range(every, epochs + 1, every), epochs})
    frames = [frame[::2, ::2] for frame in saved_grids(sample_dir, chosen)]
    path = Path(sample_dir) / "training_progress_light.gif"
    atomic_write_bytes(path, gif_bytes(frames, frame_ms=400))
    return path


def embeddable_picture(path: str | Path, max_bytes: int = 60_000) -> bytes:
    """A picture's bytes to embed in the notebook: the PNG itself when small, else the same
    picture as a JPEG (quality 60: five runs' grids side by side keep the notebook under 2 MB),
    so the notebook stays light enough to open anywhere."""
    import imageio.v3 as iio

    data = Path(path).read_bytes()
    if len(data) <= max_bytes:
        return data
    return iio.imwrite("<bytes>", read_png(path), extension=".jpeg", quality=60)


def gif_bytes(frames: list[np.ndarray], frame_ms: int = 150) -> bytes:
    """uint8 RGB frames as a GIF that loops forever. Frames of other sizes (a grid titled "epoch 10"
    is wider than "epoch 9", and a committed run's grids are larger than today's) are padded with
    white at the bottom and right to the largest."""
    import imageio.v3 as iio

    height, width = max(f.shape[0] for f in frames), max(f.shape[1] for f in frames)
    same = [
        np.pad(f, [(0, height - f.shape[0]), (0, width - f.shape[1]), (0, 0)], constant_values=255)
        for f in frames
    ]
    return iio.imwrite("<bytes>", same, extension=".gif", duration=frame_ms, loop=0)


def samples_from_average(config: dict) -> bool:
    """Whether a run's saved settings say it samples from its average of G: every class-conditional
    (Step 7) run, and an unconditional one trained with an average (the run `improved`)."""
    recipe = config.get("recipe", {})
    return bool(recipe.get("conditional", False) or recipe.get("ema_decay", 0.0) > 0)
