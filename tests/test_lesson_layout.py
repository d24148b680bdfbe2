"""Issue 25: Steps 0-6 are the course's DCGAN and nothing else. The names Step 7 defines are read
from the notebook itself (ast), so the list cannot go stale; each check is also run on a copy of
the notebook broken on purpose, to show that it fails there."""

import ast
import io
import json
import tokenize

import papermill
import pytest
from notebook_cells import NOTEBOOK
from notebook_figures import prose_words


def cells_of(notebook=NOTEBOOK) -> list[dict]:
    return json.loads(notebook.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def code_between(cells: list[dict], first: str, last: str | None) -> list[str]:
    """The code cells from the markdown cell starting with `first` to the one starting with `last`."""
    inside, found = False, []
    for cell in cells:
        text = source(cell)
        if cell["cell_type"] == "markdown" and text.startswith(first):
            inside = True
        elif cell["cell_type"] == "markdown" and last and text.startswith(last):
            inside = False
        elif inside and cell["cell_type"] == "code":
            found.append(text)
    return found


def lesson_parts(cells: list[dict]) -> tuple[list[str], list[str]]:
    """(code of Steps 0-6, code of Step 7 and everything after it)."""
    return code_between(cells, "## Step 0", "## Step 7"), code_between(cells, "## Step 7", None)


def defined_names(codes: list[str]) -> set[str]:
    """Top-level functions, classes and assigned names of the cells."""
    names = set()
    for code in codes:
        for node in ast.parse(code).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):  # not a loop's variable
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def recipe_keys(codes: list[str]) -> set[str]:
    """String keys read from a recipe (`recipe["key"]`, `run.recipe["key"]`, `step7_recipe[...]`)."""
    keys = set()
    for code in codes:
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                holder = ast.unparse(node.value)
                if holder.endswith("recipe") and isinstance(node.slice.value, str):
                    keys.add(node.slice.value)
    return keys


def baseline_recipe_keys(codes: list[str]) -> set[str]:
    """The keys of the dict literal that Steps 0-6 assign to `recipe`."""
    for code in codes:
        for node in ast.parse(code).body:
            if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "recipe":
                return {key.value for key in node.value.keys}
    raise AssertionError("Steps 0-6 assign no recipe")


def step7_names(cells: list[dict]) -> set[str]:
    """Every name Step 7's cells define, and every recipe key they read beyond the baseline's."""
    lesson, step7 = lesson_parts(cells)
    return (defined_names(step7) - defined_names(lesson)) | (
        recipe_keys(step7) - baseline_recipe_keys(lesson)
    )


def mentions(code: str, names: set[str], keys: frozenset = frozenset()) -> set[str]:
    """The names among `names` that a cell's code uses as a name or an attribute, and the `keys`
    it quotes as a string."""
    found = set()
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NAME and token.string in names:
            found.add(token.string)
        elif token.type == tokenize.STRING and token.string.strip("'\"") in keys:
            found.add(token.string.strip("'\""))
    return found


def step7_mentions(cells: list[dict]) -> set[str]:
    lesson, step7 = lesson_parts(cells)
    names, keys = step7_names(cells), frozenset(recipe_keys(step7) - baseline_recipe_keys(lesson))
    found = set().union(*(mentions(code, names, keys) for code in lesson))
    return found | {"the words 'Step 7'" for code in lesson if "Step 7" in code}


def train_step_lines(cells: list[dict]) -> int:
    """Lines of code of Steps 0-6's `train_step` (its def line included; comments and blank lines not)."""
    lesson, _ = lesson_parts(cells)
    for code in lesson:
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.FunctionDef) and node.name == "train_step":
                lines = ast.get_source_segment(code, node).splitlines()
                return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))
    raise AssertionError("Steps 0-6 define no train_step")


def broken(cells: list[dict], marker: str, extra: str) -> list[dict]:
    """A copy of the cells with `extra` appended to the first code cell containing `marker`."""
    copy = json.loads(json.dumps(cells))
    cell = next(c for c in copy if c["cell_type"] == "code" and marker in source(c))
    cell["source"] = source(cell) + extra
    return copy


def test_step7_names_are_read_from_the_notebook():
    names = step7_names(cells_of())
    # a sample of what Step 7 defines, and the recipe switches it reads
    assert {"diff_augment", "ConditionalGANRun", "make_conditional_train_step", "yardstick"} <= names
    assert {"diffaugment", "ema_decay", "ac_weight"} <= names
    assert not names & {"train_step", "generator_loss", "GANRun", "recipe", "real_label"}


def test_steps_0_to_6_mention_no_step7_name():
    assert step7_mentions(cells_of()) == set()


@pytest.mark.parametrize(
    "extra, found",
    [
        ("\n    images = diff_augment(images, rng)", "diff_augment"),
        ('\n    if run.recipe["ac_weight"]:\n        pass', "ac_weight"),
        ("\n# Step 7 adds labels here", "the words 'Step 7'"),
    ],
)
def test_a_step7_name_in_steps_0_to_6_is_caught(extra, found):
    assert found in step7_mentions(broken(cells_of(), "def make_train_step", extra))


def test_train_step_reads_like_tensorflows():
    cells = cells_of()
    assert train_step_lines(cells) <= 20
    padded = broken(cells, "def make_train_step", "")
    code = source(next(c for c in padded if "def make_train_step" in source(c)))
    longer = code.replace(
        "        return tf.stack(", "        gen_loss = gen_loss + 0.0\n" * 5 + "        return tf.stack("
    )
    next(c for c in padded if "def make_train_step" in source(c))["source"] = longer
    assert train_step_lines(padded) == train_step_lines(cells) + 5


def test_the_course_names_its_functions():
    lesson, _ = lesson_parts(cells_of())
    assert {
        "generate_and_save_images",
        "draw_train_history",
        "train_step",
        "make_train_step",
    } <= defined_names(lesson) | {
        n.name for code in lesson for n in ast.walk(ast.parse(code)) if isinstance(n, ast.FunctionDef)
    }


def test_step0_makes_the_three_folders_in_view():
    (step0,) = [c for c in code_between(cells_of(), "## Step 0", "## Step 1") if "makedirs" in c]
    for folder in ("generated_samples", "training_checkpoints", "training_history"):
        assert f'"{folder}"' in step0


def test_step7_prose_is_short():
    assert prose_words(cells_of())["step_7"] <= 1100


def parameters_cell() -> str:
    (cell,) = [c for c in cells_of() if "parameters" in c.get("metadata", {}).get("tags", [])]
    return source(cell)


def test_papermill_lists_every_parameter():
    code = parameters_cell()
    assigned = [node.target.id for node in ast.parse(code).body if isinstance(node, ast.AnnAssign)]
    listed = list(papermill.inspect_notebook(str(NOTEBOOK)))
    assert listed == assigned and len(assigned) == len(ast.parse(code).body)
    assert (
        "SEARCH_RECIPES" in listed
        and "conditional+diffaugment+ac@44"
        in papermill.inspect_notebook(str(NOTEBOOK))["SEARCH_RECIPES"]["default"]
    )


def test_parameters_read_in_order():
    """No line over 100 characters; Steps 0-6's settings first, and none of Step 7's read before it."""
    code = parameters_cell()
    assert max(len(line) for line in code.splitlines()) <= 100
    step7_start = code.index("# Step 7")
    later = {node.target.id for node in ast.parse(code[step7_start:]).body if isinstance(node, ast.AnnAssign)}
    lesson, _ = lesson_parts(cells_of())
    assert set().union(*(mentions(c, later) for c in lesson)) == set()
