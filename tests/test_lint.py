"""ruff keeps the notebook, the module, the tests and the benchmark clean and formatted."""

import json
import subprocess
import sys

from conftest import ROOT


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check():
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_papermill_parses_every_parameter_with_its_type_and_default():
    """papermill skips a parameter line it cannot parse (then `-p NAME` only warns): every line of
    the parameters cell that assigns a name must show up in `papermill --help-notebook`."""
    import re

    from notebook_cells import NOTEBOOK

    cells = json.loads(NOTEBOOK.read_text())["cells"]
    (source,) = ["".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", [])]
    # a value over several lines (a long string in parentheses) is flattened as papermill reads it
    flat = re.sub(
        r"\(\n((?:\s+.*\n)+?)\)", lambda m: "(" + "".join(m[1].split("\n")).replace("    ", "") + ")", source
    )
    declared = re.findall(r"^(\w+): (\w+) = (.+?)(?:  #.*)?$", flat, flags=re.MULTILINE)
    assert len(declared) == len([line for line in source.splitlines() if re.match(r"^\w+\s*[:=]", line)])
    helped = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(NOTEBOOK)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    for name, type_name, default in declared:
        assert f"{name}: {type_name} (default {default})" in helped, name
    assert len(declared) >= 28
