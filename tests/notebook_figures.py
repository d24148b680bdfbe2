"""Figures of how the notebook reads (issues 10 and 18): cell counts and lengths, headings that do
not open their cell, and functions that read notebook-level data they do not take as arguments.
`python tests/notebook_figures.py` prints them."""

from __future__ import annotations

import ast
import builtins
import json
import statistics
import sys
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "dcgan_cifar10.ipynb"


def code_lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip())


def notebook_level_data(trees: list[ast.Module]) -> set[str]:
    """Names assigned at notebook level that are not functions, classes or imported modules."""
    assigned, defined = set(), set()
    for tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            else:
                for child in ast.walk(node):
                    if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                        assigned.add(child.id)
    return assigned - defined


def functions_reading_globals(trees: list[ast.Module], data: set[str]) -> dict[str, list[str]]:
    """Notebook-level function (or method) name -> the notebook-level data names it reads without
    taking them as arguments. Names bound anywhere inside it (nested functions included) are its own."""
    functions = []
    for tree in trees:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                functions.append(node)
            elif isinstance(node, ast.ClassDef):
                functions += [item for item in node.body if isinstance(item, ast.FunctionDef)]
    found = {}
    for function in functions:
        inside = list(ast.walk(function))
        local = {node.arg for node in inside if isinstance(node, ast.arg)}
        local |= {
            node.id for node in inside if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
        }
        local |= {node.name for node in inside if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        read = {node.id for node in inside if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        outside = sorted((read - local) & data - set(dir(builtins)))
        if outside:
            found[function.name] = outside
    return found


def headings_inside_cells(cells: list[dict]) -> list[str]:
    """Every `#` or `##` heading of a markdown cell that is not the cell's first line: the table of
    contents, collapsible headings and any tool that cuts the notebook at a step expect it there."""
    found = []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            lines = "".join(cell["source"]).splitlines()
            found += [line for line in lines[1:] if line.startswith(("# ", "## "))]
    return found


def prose_words(cells: list[dict]) -> dict[str, int]:
    """Markdown words (split on whitespace) of Steps 0-6, from the Step 0 heading to the Step 7
    heading, and of Step 7, from its heading to the rubric's heading (or the end)."""
    words, part = {"steps_0_to_6": 0, "step_7": 0}, None
    for cell in cells:
        text = "".join(cell["source"])
        if text.startswith("## Step 0"):
            part = "steps_0_to_6"
        elif text.startswith("## Step 7"):
            part = "step_7"
        elif text.startswith("## ") and part == "step_7":
            part = None
        if part and cell["cell_type"] == "markdown":
            words[part] += len(text.split())
    return words


def linked_images(cells: list[dict]) -> list[str]:
    """Markdown image links in code outputs: they show in a local Jupyter, not on GitHub or in an
    exported page, where only embedded images show."""
    found = []
    for cell in cells:
        for output in cell.get("outputs", []):
            text = "".join(output.get("data", {}).get("text/markdown", ""))
            found += [line for line in text.splitlines() if "![" in line]
    return found


def figures(notebook: Path = NOTEBOOK) -> dict:
    cells = json.loads(notebook.read_text())["cells"]
    code = [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"]
    lengths = [code_lines(source) for _, source in code]
    # the parameters cell is a list of settings to change, not code to follow: not in the longest
    parameters = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    longest = max(code_lines(source) for i, source in code if i not in parameters)
    after_markdown = sum(1 for i, _ in code if i > 0 and cells[i - 1]["cell_type"] == "markdown")
    trees = [ast.parse(source) for _, source in code]
    return {
        "cells": len(cells),
        "median_code_lines": statistics.median(lengths),
        "longest_code_cell": longest,
        "code_after_markdown": after_markdown / len(code),
        "headings_inside_cells": headings_inside_cells(cells),
        "functions_reading_notebook_data": functions_reading_globals(trees, notebook_level_data(trees)),
        "prose_words": prose_words(cells),
        "linked_images": linked_images(cells),
    }


def missed(found: dict) -> list[str]:
    """What the figures miss against issue 10's, 18's and 25's targets."""
    problems = []
    if found["cells"] > 105:
        problems.append(f"{found['cells']} cells (at most 105)")
    if found["median_code_lines"] > 8:
        problems.append(f"median code cell {found['median_code_lines']} lines (at most 8)")
    if found["longest_code_cell"] > 30:
        problems.append(f"longest code cell {found['longest_code_cell']} lines (at most 30)")
    if found["code_after_markdown"] < 0.85:
        problems.append(f"{found['code_after_markdown']:.0%} of code cells after markdown (at least 85%)")
    if found["headings_inside_cells"]:
        problems.append(f"headings that do not open their cell: {found['headings_inside_cells']}")
    words = found["prose_words"]
    if words["step_7"] > min(1100, words["steps_0_to_6"]):
        most = f"at most 1,100 and Steps 0-6's {words['steps_0_to_6']}"
        problems.append(f"Step 7 has {words['step_7']} words of prose ({most})")
    if found["linked_images"]:
        problems.append(f"images linked, not embedded: {found['linked_images']}")
    if found["functions_reading_notebook_data"]:
        problems.append(f"functions reading notebook-level data: {found['functions_reading_notebook_data']}")
    return problems


if __name__ == "__main__":
    found = figures(Path(sys.argv[1]) if len(sys.argv) > 1 else NOTEBOOK)
    print(json.dumps(found, indent=1))
    print("\n".join(missed(found)) or "all targets met")
