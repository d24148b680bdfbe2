"""Issue 25: the README a newcomer reads in one screen. It is at most 12 KB, with the two commands in its
first 40 lines (the test one as .ci/run runs it) and its sections in the order the issue asks. Every
number it quotes is recomputed from the committed file it comes from and looked for, formatted as
quoted, in the section that quotes it; a number no check produces fails the last of those tests. Its
data instructions are run on a tiny fake cifar-10-python.tar.gz, and every local link and picture of
the README and of docs/ exists."""

import ast
import builtins
import functools
import json
import operator
import re
import shlex
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, write_fake_cifar

import dcgan_eval as evaluation
import dcgan_utils as utils

README = ROOT / "README.md"
DOCS = ROOT / "docs"
HISTORY = ROOT / "training_history"
CHECKPOINTS = ROOT / "training_checkpoints"
NOTEBOOK = ROOT / "dcgan_cifar10.ipynb"
MAX_BYTES = 12_000
FIRST_SCREEN = 40  # lines
SETUP = "python3 -m venv .venv && . .venv/bin/activate && pip install -r requirements-lock.txt"
MAIN_COMMAND = (
    f"{SETUP} && python ../shared/data/build_cifar10.py data && "
    "CIFAR10_DIR=data/cifar-10-batches-py papermill dcgan_cifar10.ipynb dcgan_cifar10.ipynb"
)
TEST_COMMAND = f"{SETUP} && python -m pytest -q"
SECTIONS = (  # issue 25's order, after the title and what it is
    "Results",  # three pictures and one results table
    "The two commands",
    "Get the data without `../shared`",
    "A quick look",
    "Resume",
    "Troubleshooting",
    "The model",
    "The course's rubric, answered",
    "File layout",
)
RUNS = ("baseline", "improved", "conditional", "conditional_ac", "conditional_ac_seed43")
RUBRIC_TARGET = 0.5  # the course's rubric: the fake accuracy should trend toward 0.5 (not a result)
NUMBER = r"\d+(?:\.\d+)?%|\d+(?:\.\d+)?x\b|\d+\.\d+|\d+e-\d+"  # what the README quotes as numbers


# ------------------------------------------------------------------------------- reading ----
def readme() -> str:
    return README.read_text()


def section(title: str) -> str:
    """The README's `## title` section, up to the next `## ` heading."""
    text = readme()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def flat(text: str) -> str:
    return " ".join(text.split())


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line number of the opening fence, language, body) of every fenced block."""
    return [
        (text[: m.start()].count("\n") + 1, m.group(1), m.group(2))
        for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, flags=re.M | re.S)
    ]


def prose(text: str) -> str:
    """`text` without its fenced blocks, inline code and link targets."""
    text = re.sub(r"^```.*?^```$", " ", text, flags=re.M | re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def read(path: str):
    return json.loads((HISTORY / path).read_text())


def history(run: str) -> list[dict]:
    return read(f"{run}/history.json")


def metrics() -> dict:
    return read("comparison/metrics.json")


def code_cells() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def parameters() -> dict:
    """The notebook's parameters cell, each setting with its value."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    (source,) = ["".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    return {
        node.target.id: ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.AnnAssign)
    }


def quick_look_settings() -> dict:
    """What `if QUICK_LOOK:` sets in the notebook: literal values, and the source of the others."""
    settings = {}
    for source in code_cells():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.If) and ast.unparse(node.test) == "QUICK_LOOK":
                for statement in node.body:
                    if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Tuple):
                        for name, value in zip(statement.targets[0].elts, statement.value.elts, strict=True):
                            try:
                                settings[name.id] = ast.literal_eval(value)
                            except ValueError:
                                settings[name.id] = ast.unparse(value)
    return settings


def interval(pair) -> str:
    return f"{pair[0]:.2f}-{pair[1]:.2f}"


def short_exponent(value: float) -> str:
    """2e-4 as the README writes it (Python writes 2e-04)."""
    return re.sub(r"e-0*", "e-", f"{value:.0e}")


# ------------------------------------------------ the numbers quoted, from their files ----
# Each function gives the section that quotes some numbers and the phrases, recomputed from the
# committed files, that it must contain.
def results_table() -> tuple[str, list[str]]:
    all_metrics = metrics()
    agreement = read("comparison/label_agreement.json")
    classifier = json.loads((CHECKPOINTS / "classifier/classifier.json").read_text())
    (ceiling,) = read("comparison/cas_ceiling.json").values()
    rows = []
    for run in RUNS:
        m = all_metrics[f"{run}, epoch 50"]
        vs = m.get("vs_baseline")
        labels = agreement.get(f"{run}, epoch 50")
        cas = (
            [v for k, v in read(f"{run}/cas.json").items() if k.startswith(f"{run}, epoch 50; ")]
            if labels
            else []
        )
        cells = [
            f"{m['classifier_fid']:.2f} ({interval(m['fid_interval'])})",
            f"{vs['fid_ratio']:.2f}x" if vs else "",
            f"{m['recognizable']:.1%}",
            f"{labels['generated']['overall']:.1%}" if labels else "",
            f"{cas[0]['overall']:.3f} ({cas[0]['overall'] / ceiling['overall']:.2f}x)" if cas else "",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    real = all_metrics["real test images"]
    real_accuracy = agreement["conditional_ac, epoch 50"]["real test images"]["overall"]
    assert round(real_accuracy, 4) == classifier["test_accuracy"]
    rows.append(
        f"| real test images | {real['classifier_fid']:.2f} | | {real['recognizable']:.1%} | "
        f"{real_accuracy:.1%} (the classifier's accuracy) | {ceiling['overall']:.3f} (trained on real) |"
    )
    threshold = evaluation.confident_share.__defaults__[0]
    params = parameters()
    assert all(all_metrics[key]["images"] == params["EVAL_IMAGES"] for key in all_metrics)
    caption = [
        f"compares {params['EVAL_IMAGES']:,} images with the {classifier['train_images']:,} training images",
        f"the classifier is at least {threshold:.0%} sure",
        f"a classifier trained on {params['EVAL_IMAGES']:,} of the run's images (the ceiling: real ones)",
        f"Epoch {params['EPOCHS']} of {params['EPOCHS']}",
    ]
    return "Results", rows + caption


def commands_timings() -> tuple[str, list[str]]:
    """The README quotes the last fresh-clone timings; the development record's table holds them."""
    text = flat(section("The two commands"))
    main_commit, test_commit = re.findall(r"fresh clone of `(\w+)`", text)  # each command's last clone
    development = (DOCS / "development.md").read_text().splitlines()

    def row(commit: str, command: str) -> str:
        return next(
            line for line in development if line.startswith(f"| fresh clone of `{commit}` | {command} |")
        )

    main_time = re.search(r"\| (\d+ min \d+ s) \|", row(main_commit, "the main command")).group(1)
    test_time, passed = re.search(
        r"\| (\d+ min \d+ s)[^|]*\| (\d+) passed", row(test_commit, "the test command")
    ).groups()
    return "The two commands", [
        f"fresh clone of `{main_commit}` on a 2-core CPU it took {main_time}",
        f"the tests, in a fresh clone of `{test_commit}`, {test_time} ({passed} passed",
    ]


def quick_look() -> tuple[str, list[str]]:
    quick = quick_look_settings()
    development = (DOCS / "development.md").read_text()
    row = next(line for line in development.splitlines() if "| the quick look |" in line)
    seconds = re.search(r"\| (\d+ min \d+ s) \|", row).group(1)
    assert quick["SEARCH_EPOCHS"] == 0 and "quick_look" in quick["OUTPUT_DIR"]
    return "A quick look", [
        f"It trains {quick['EPOCHS']} epochs on {quick['MAX_TRAIN_IMAGES']:,} images, runs no search, "
        f"trains a {quick['CLASSIFIER_EPOCHS']}-epoch classifier "
        f"and measures {quick['EVAL_IMAGES']:,} images",
        "the folder `quick_look/`",
        f"It took {seconds} on a 2-core CPU",
    ]


def resume() -> tuple[str, list[str]]:
    seeds = np.load(CHECKPOINTS / "baseline/sample_seeds.npy")
    return "Resume", [
        f"the same {len(seeds)} sample seeds",
        f"`CHECKPOINT_EVERY` epochs ({parameters()['CHECKPOINT_EVERY']} by default)",
    ]


def troubleshooting_speed() -> tuple[str, list[str]]:
    quoted = []
    for run in ("baseline", "improved"):
        minutes = sum(row["seconds"] for row in history(run)) / 60
        precision = json.loads((CHECKPOINTS / f"{run}/run_config.json").read_text())["precision"]
        quoted.append(f"{minutes:.0f} min for `{run}` ({precision.removeprefix('mixed_')},")
    return "Troubleshooting", quoted


@functools.cache
def built_models() -> tuple:
    """The baseline's generator and discriminator, built from the notebook's parameters."""
    import dcgan_lesson as lesson

    p = parameters()
    return (
        lesson.build_generator(p["NOISE_DIM"], p["BASE_FILTERS"], "float32"),
        lesson.build_discriminator(p["BASE_FILTERS"], "float32"),
    )


def convolutions(model, kind: str) -> str:
    """'three 4x4 stride-2 ...' as the README describes a model's convolutions of `kind`."""
    layers = [layer for layer in model.layers if type(layer).__name__ == kind]
    (kernel,) = {layer.kernel_size for layer in layers}
    (strides,) = {layer.strides for layer in layers}
    assert kernel[0] == kernel[1] and strides[0] == strides[1]
    count = {2: "two", 3: "three", 4: "four"}[len(layers)]
    return f"{count} {kernel[0]}x{kernel[1]} stride-{strides[0]}", [layer.filters for layer in layers]


def model() -> tuple[str, list[str]]:
    p = parameters()
    generator, discriminator = built_models()
    (block,) = [layer.target_shape for layer in generator.layers if type(layer).__name__ == "Reshape"]
    g_convs, g_filters = convolutions(generator, "Conv2DTranspose")
    d_convs, d_filters = convolutions(discriminator, "Conv2D")
    assert generator.layers[-1].activation.__name__ == "tanh" and discriminator.output_shape == (None, 1)
    assert p["GEN_LR"] == p["DISC_LR"]
    step7_real_target = json.loads((CHECKPOINTS / "conditional_ac/run_config.json").read_text())["recipe"][
        "real_label"
    ]
    return "The model", [
        f"The generator turns {generator.input_shape[-1]} noise numbers into a "
        f"{'x'.join(map(str, block))} block with a Dense layer, then {g_convs} transposed convolutions "
        f"({', '.join(map(str, g_filters[:-1]))} and {g_filters[-1]} channels)",
        f"{d_convs} convolutions ({', '.join(map(str, d_filters))} channels) with LeakyReLU, then one logit",
        f"Adam (learning rate {short_exponent(p['GEN_LR'])}, beta1 {p['BETA_1']:g}) "
        f"on batches of {p['BATCH_SIZE']}",
        f'(real target {p["REAL_LABEL"]:g}, fake target 0, so that "can\'t tell" is logit 0',
        f"(std {p['INSTANCE_NOISE']:g}, fading to 0 over {p['NOISE_FADE_EPOCHS']} epochs)",
        f"The committed `baseline` and Step 7's runs were trained with {step7_real_target:g} for real images",
    ]


def rubric() -> tuple[str, list[str]]:
    all_metrics = metrics()
    ac, seed43 = all_metrics["conditional_ac, epoch 50"], all_metrics["conditional_ac_seed43, epoch 50"]
    baseline, real = all_metrics["baseline, epoch 50"], all_metrics["real test images"]
    rows = []
    for run in RUNS:
        fake = np.array([row["fake_acc"] for row in history(run)])
        lowest = int(np.argmin(fake))
        rows.append(
            f"| `{run}` | {fake[0]:.2f} | {fake[lowest]:.2f} ({history(run)[lowest]['epoch']}) | "
            f"{fake[-1]:.2f} | {fake[-10:].mean():.2f} |"
        )
    fid = fid_checks()
    return "The course's rubric, answered", [
        f"recognizes {ac['recognizable']:.1%} of its images, as many as real test images "
        f"({real['recognizable']:.1%}); the baseline's: {baseline['recognizable']:.1%}",
        f"trend toward {RUBRIC_TARGET}",
        *rows,
        f"classifier-FID {ac['classifier_fid']:.2f} against the baseline's {baseline['classifier_fid']:.2f}: "
        f"{ac['vs_baseline']['fid_ratio']:.2f}x, with a 95% BCa bootstrap interval of "
        f"{interval(ac['vs_baseline']['fid_ratio_interval'])}",
        f"scores {seed43['vs_baseline']['fid_ratio']:.2f}x too "
        f"({interval(seed43['vs_baseline']['fid_ratio_interval'])})",
        f"The target was {fid['fid_ratio'].bar}x or less, with the interval's upper end below "
        f"{fid['fid_ratio_upper'].bar}",
    ]


def fid_checks() -> dict:
    """The classifier-FID checks of Step 7's verdict (dcgan_eval.TARGETS), by the number they judge:
    the ratio to the baseline's and the upper end of its interval."""
    checks = {check.value: check for target in evaluation.TARGETS for check in target.checks}
    return {name: checks[name] for name in ("fid_ratio", "fid_ratio_upper")}


def file_layout() -> tuple[str, list[str]]:
    header = (ROOT / "requirements-lock.txt").read_text().splitlines()[:5]
    (platform,) = [
        re.search(r"Linux x86_64, Python [\d.]+", line).group() for line in header if "Python" in line
    ]
    return "File layout", [f"for {platform} |"]


QUOTED = (
    results_table,
    commands_timings,
    quick_look,
    resume,
    troubleshooting_speed,
    model,
    rubric,
    file_layout,
)


@pytest.mark.parametrize("quoted", QUOTED, ids=lambda f: f.__name__)
def test_the_readme_quotes_the_committed_files(quoted):
    title, phrases = quoted()
    text = flat(section(title))
    for phrase in phrases:
        assert flat(phrase) in text, (title, phrase)


def test_each_results_row_is_its_runs():
    """The results table's numbers are on the row of the run they belong to."""
    lines = [flat(line) for line in section("Results").splitlines() if line.startswith("| ")]
    rows = results_table()[1]
    for run, row in zip(RUNS, rows, strict=False):
        (line,) = [line for line in lines if re.match(rf"\| `{run}`( \(|\s\|)", line)]
        assert line.endswith(flat(row)), run
    assert flat(rows[len(RUNS)]) in lines


def test_every_number_the_readme_quotes_is_checked():
    """Each decimal, percentage, ratio or exponent in the README's prose is one that a check above
    recomputed from the files: a number added without a check fails here."""
    checked = set()
    for quoted in QUOTED:
        for phrase in quoted()[1]:
            checked.update(re.findall(NUMBER, prose(phrase)))
    found = re.findall(NUMBER, prose(readme()))
    assert found, "no number found: the pattern is broken"
    assert not sorted(set(found) - checked)


# ------------------------------------------------------------------- the claims in words ----
def test_no_committed_run_reaches_the_rubrics_fake_accuracy():
    """'No committed run's gets there', and 'DiffAugment ... holds the others lower' than the baseline."""
    runs = [path.parent.name for path in sorted(HISTORY.glob("*/history.json"))]
    assert set(RUNS) <= set(runs)
    assert min(row["fake_acc"] for run in runs for row in history(run)) > RUBRIC_TARGET
    last_10 = {run: np.mean([row["fake_acc"] for row in history(run)][-10:]) for run in RUNS}
    assert all(last_10[run] < last_10["baseline"] for run in RUNS if run != "baseline")
    assert "No committed run's gets there" in section("The course's rubric, answered")


def test_both_ac_runs_meet_the_fid_target():
    """'met by both': each check's comparison holds for both training seeds."""
    compare = {"<=": operator.le, "<": operator.lt}
    for run in ("conditional_ac", "conditional_ac_seed43"):
        vs = metrics()[f"{run}, epoch 50"]["vs_baseline"]
        measured = {"fid_ratio": vs["fid_ratio"], "fid_ratio_upper": vs["fid_ratio_interval"][1]}
        for name, check in fid_checks().items():
            assert check.against is None and compare[check.op](measured[name], check.bar), (run, name)


def test_the_readme_counts_the_committed_runs():
    finished = [
        path.name
        for path in CHECKPOINTS.iterdir()
        if (path / "checkpoint").exists()
        and f"ckpt-{parameters()['EPOCHS']}" in (path / "checkpoint").read_text()
    ]
    assert sorted(finished) == sorted(RUNS)
    assert "Five trained 50-epoch runs are committed" in flat(readme())


def test_the_troubleshooting_messages_are_the_codes():
    """Each message the table quotes is raised by the code: its error class exists and each literal
    part of it (between the ... the README puts for names and numbers) is in a module's source."""
    sources = "\n".join(path.read_text() for path in ROOT.glob("*.py"))
    messages = re.findall(r"^\| `(\w+): ([^`]+)` \|", section("Troubleshooting"), flags=re.M)
    assert len(messages) >= 4
    for error, message in messages:
        assert hasattr(utils, error) or hasattr(builtins, error), error
        assert f"raise {error}(" in sources, error
        for part in message.split("..."):
            assert part.strip() in sources, (error, part)


def test_the_resume_cell_is_where_the_readme_says():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    text = ["".join(c["source"]) for c in cells]
    step6 = next(i for i, t in enumerate(text) if t.startswith("## Step 6"))
    (opening,) = [i for i, t in enumerate(text) if t.startswith("Open the run")]
    assert opening > step6 and cells[opening + 1]["cell_type"] == "code"
    assert "the cell to run to continue a run, or to skip training" in flat(text[opening])
    said = 'In Step 6, the cell after "Open the run" is the one to run to continue a run'
    assert said in flat(section("Resume"))


def test_the_data_section_describes_what_the_code_accepts():
    text = flat(section("Get the data without `../shared`"))
    assert "(about 170 MB)" in text and "about 170 MB" in Path(utils.__file__).read_text()
    assert "`DATA_DIR` wins when both are set" in text
    assert utils.resolve_data_dir("a", {"CIFAR10_DIR": "b"}) == Path("a")
    assert "`data_batch_1` to `data_batch_5` and `test_batch`" in text
    assert utils.TRAIN_BATCHES == tuple(f"data_batch_{i}" for i in range(1, 6))
    assert "JPEG (quality 75)" in text and "`../shared/data/build_cifar10.py`" in text


# ------------------------------------------------------------------------- size and order ----
def test_the_readme_fits_in_12_kb():
    assert len(README.read_bytes()) <= MAX_BYTES


def test_the_two_commands_are_in_the_first_screen():
    first_screen = "\n".join(readme().splitlines()[:FIRST_SCREEN]) + "\n"
    bodies = [body.strip() for _, language, body in fenced_blocks(first_screen) if language == "bash"]
    assert MAIN_COMMAND in bodies
    assert TEST_COMMAND in bodies


def test_the_test_command_is_what_ci_runs():
    """.ci/run sets up the same virtual environment from the same lock file, then runs the README's
    test command as its last line."""
    lines = [
        line.strip()
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#") and not line.startswith("set ")
    ]
    steps = TEST_COMMAND.split(" && ")
    assert lines[-1] == steps[-1]
    assert steps[0] in lines and steps[1] in lines
    install = next(line for line in lines if "requirements" in line)
    assert install.split()[-2:] == steps[2].split()[-2:] == ["-r", "requirements-lock.txt"]
    assert MAIN_COMMAND.startswith(" && ".join(steps[:3]) + " && ")


def test_the_sections_come_in_the_issues_order():
    text = readme()
    assert text.startswith("# DCGAN on CIFAR-10\n")
    headings = re.findall(r"^## (.+)$", prose_headings(text), flags=re.M)
    assert headings == list(SECTIONS)
    results = section("Results")
    assert len(re.findall(r"!\[[^\]]*\]\([^)]+\)", results)) == 3
    assert len([line for line in results.splitlines() if re.match(r"\|-", line)]) == 1


def prose_headings(text: str) -> str:
    """`text` without its fenced blocks (a shell comment is not a heading)."""
    return re.sub(r"^```.*?^```$", "", text, flags=re.M | re.S)


# --------------------------------------------------------------------- the data, for real ----
def test_the_data_instructions_work_on_a_tiny_fake_download(tmp_path, monkeypatch):
    """Make a cifar-10-python.tar.gz in the official layout, then follow the README: its URL, its
    `tar` line run as written, and its CIFAR10_DIR setting, read by the notebook's loader."""
    (block,) = [
        body for _, _, body in fenced_blocks(section("Get the data without `../shared`")) if "tar " in body
    ]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert any(c.endswith("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz") for c in commands)
    source = write_fake_cifar(tmp_path / "made" / "cifar-10-batches-py", per_batch=7)
    (source / "batches.meta").write_bytes(b"meta")  # the real archive holds it too; it is not read
    download = tmp_path / "work"
    download.mkdir()
    with tarfile.open(download / "cifar-10-python.tar.gz", "w:gz") as archive:
        archive.add(source, arcname="cifar-10-batches-py")

    (extract,) = [c for c in commands if c.startswith("tar ")]
    if shutil.which("tar"):
        subprocess.run(shlex.split(extract), cwd=download, check=True)
    else:  # what `tar xzf` does
        assert shlex.split(extract)[1:] == ["xzf", "cifar-10-python.tar.gz"]
        with tarfile.open(download / "cifar-10-python.tar.gz") as archive:
            archive.extractall(download, filter="data")

    (run,) = [c for c in commands if "papermill" in c]
    setting = re.match(r"CIFAR10_DIR=(\S+) ", run).group(1)
    folder = Path(setting.replace("$PWD", str(download)))
    assert folder == download / "cifar-10-batches-py" and folder.is_dir()
    monkeypatch.setenv("CIFAR10_DIR", str(folder))
    images, labels = utils.load_cifar10("", "train")
    assert images.shape == (5 * 7, 32, 32, 3) and images.dtype == np.uint8 and labels.shape == (5 * 7,)
    images, _ = utils.load_cifar10(str(folder), "test")
    assert images.shape == (7, 32, 32, 3)
    images, _ = utils.load_cifar10(str(download), "train")  # the folder that holds it works too
    assert images.shape == (5 * 7, 32, 32, 3)


# ---------------------------------------------------------------------------- links exist ----
def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def anchors(path: Path) -> set[str]:
    """GitHub's anchor of each heading of a markdown file."""
    headings = re.findall(r"^#+ (.+)$", prose_headings(path.read_text()), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_local_link_and_picture_exists(page):
    targets = re.findall(r"\]\(([^)\s]+)\)", prose_headings(page.read_text()))
    assert targets or page != README
    for target in targets:
        if re.match(r"\w+:", target):  # https:, mailto:
            continue
        name, _, anchor = target.partition("#")
        path = (page.parent / name).resolve() if name else page
        assert path.exists(), (page.name, target)
        if anchor:
            assert anchor in anchors(path), (page.name, target)


def test_the_readme_links_the_development_record():
    for name in ("development.md", "runs.md", "guide.md", "speed.md"):
        assert f"](docs/{name}" in readme(), name


def test_the_file_layout_names_files_that_exist():
    for path in re.findall(r"^\| `([^`]+)` \|", section("File layout"), flags=re.M):
        assert (ROOT / path).exists(), path


def test_the_development_record_gives_the_lost_grids():
    """docs/development.md: conditional_ac's grids of epochs 1-4, 6-9 and 11-14 are lost, its seed 43
    kept all 50: as the committed folders show."""
    grids = {
        run: {int(p.stem.split("_")[1]) for p in (ROOT / "generated_samples" / run).glob("epoch_*.png")}
        for run in ("conditional_ac", "conditional_ac_seed43")
    }
    lost = sorted(set(range(1, 51)) - grids["conditional_ac"])
    assert lost == [*range(1, 5), *range(6, 10), *range(11, 15)]
    assert grids["conditional_ac_seed43"] == set(range(1, 51))
    assert "epochs 1-4, 6-9 and 11-14 are missing" in flat((DOCS / "development.md").read_text())
