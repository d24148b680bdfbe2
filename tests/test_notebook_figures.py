"""Issue 10's figures of how the notebook reads, on a known notebook and on the real one."""

import json

import pytest
from notebook_figures import figures, missed


def test_figures_of_a_known_notebook(tmp_path):
    def cell(kind, source):
        return {
            "cell_type": kind,
            "metadata": {},
            "source": source,
            **({"outputs": []} if kind == "code" else {}),
        }

    cells = [
        cell("markdown", "# title"),
        cell("code", "SIZE = 3\nimport numpy as np\n\n"),  # 2 lines
        cell("code", "def f(x):\n    return x * SIZE\n"),  # no markdown before it; reads SIZE
        cell("markdown", "why\n## Step 1. inside"),
        cell(
            "code",
            "def g(x, SIZE):\n    def h(y):\n        return y + x\n"
            "    return h(SIZE) + np.pi\nprint(g(1, 2))",
        ),
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    found = figures(path)
    assert found["cells"] == 5 and found["median_code_lines"] == 2 and found["longest_code_cell"] == 5
    assert found["code_after_markdown"] == pytest.approx(2 / 3)
    assert found["functions_reading_notebook_data"] == {"f": ["SIZE"]}  # g takes SIZE; h's x is g's
    assert found["headings_inside_cells"] == ["## Step 1. inside"]
    assert missed(found) == [
        "67% of code cells after markdown (at least 85%)",
        "headings that do not open their cell: ['## Step 1. inside']",
        "functions reading notebook-level data: {'f': ['SIZE']}",
    ]


def test_the_notebook_meets_issue_10s_figures():
    assert missed(figures()) == []


def test_the_committed_notebook_is_small_quiet_and_maps_to_the_course():
    """Under 2 MB, each embedded GIF a light one (under 200 KB), no TensorFlow or CUDA log lines
    in its outputs, and every step heading carries the course's own Korean title."""
    from notebook_figures import NOTEBOOK

    assert NOTEBOOK.stat().st_size < 2_000_000
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    outputs = [output for cell in cells for output in cell.get("outputs", [])]
    gifs = [output["data"]["image/gif"] for output in outputs if "image/gif" in output.get("data", {})]
    assert gifs and all(len("".join(gif)) < 200_000 * 4 / 3 for gif in gifs)  # base64 of 200 KB
    text = "".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    for log_line in ("cuInit", "cudart", "absl::", "oneDNN custom operations"):
        assert log_line not in text
    markdown = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"]
    headings = [line for text in markdown for line in text.splitlines() if line.startswith("## Step ")]
    assert [h.split(".")[0] for h in headings] == [f"## Step {i}" for i in range(8)]
    assert all(any("\uac00" <= char <= "\ud7a3" for char in heading) for heading in headings), headings
