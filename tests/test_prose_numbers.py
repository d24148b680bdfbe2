"""Issue 18: the numbers that the notebook's markdown quotes match the committed files they come from.
Each test recomputes a quoted number from the runs' files and looks for it, formatted as quoted, in
the markdown cell that quotes it."""

import json

from conftest import ROOT
from notebook_cells import NOTEBOOK

from dcgan_search import LABEL_RULE

HISTORY = ROOT / "training_history"


def read(path: str):
    return json.loads((HISTORY / path).read_text())


def markdown_cell(starting: str) -> str:
    """The markdown cell that starts with `starting`, its whitespace made single spaces."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    (text,) = [
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "markdown" and "".join(c["source"]).startswith(starting)
    ]
    return " ".join(text.split())


def span(values) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def test_step7s_diagnosis_quotes_the_baseline_history():
    text = markdown_cell("## Step 7")
    fake = {row["epoch"]: row["fake_acc"] for row in read("baseline/history.json")}
    assert f"climbs back to {span([fake[e] for e in range(35, 51)])} as the instance noise fades" in text


def search_rows(name: str) -> dict[int, dict]:
    """The measured numbers of `name`'s 10-epoch short runs, by seed."""
    return {
        row["seed"]: row["result"]
        for row in read("candidate_search.json")["rows"]
        if row["recipe"] == name and row["epochs"] == 10
    }


def test_what_the_search_shows_quotes_the_search_file():
    text = markdown_cell("### What the search shows")
    fake_acc = {}  # recipe: fake accuracy of each of its 10-epoch rows
    for row in read("candidate_search.json")["rows"]:
        if row["epochs"] == 10:
            fake_acc.setdefault(row["recipe"], []).append(row["result"]["fake_acc"])
    with_augment = fake_acc["conditional+diffaugment"] + fake_acc["conditional+diffaugment+ac"]
    without = [acc for name, accs in fake_acc.items() if "diffaugment" not in name for acc in accs]
    assert f"fake accuracy after 10 epochs is {span(with_augment)}, against {span(without)}" in text
    reference = search_rows("conditional+diffaugment")
    for seed, quoted in ((44, "At seed 44, `conditional+diffaugment+ac` agrees"), (45, "At seed 45 it wins")):
        mine, base = search_rows("conditional+diffaugment+ac")[seed]["ema"], reference[seed]["ema"]
        said = text[text.index(quoted) :]
        assert f"{mine['label_agreement']:.1%} of its images, against {base['label_agreement']:.1%}" in said
        assert f"({mine['classifier_fid']:.2f} against {base['classifier_fid']:.2f})" in said
        assert f"({mine['per_class_fid']:.2f} against {base['per_class_fid']:.2f})" in said
    for name, seeds in (("strong_ac", (44, 45)), ("spectral_hinge", (44,)), ("embedding", (44,))):
        said = text[text.index(f"`{name}`") :]
        for seed in seeds:
            measured = search_rows(f"conditional+diffaugment+{name}")[seed]["ema"]
            assert (
                f"{measured['label_agreement']:.1%} agreement, FID {measured['classifier_fid']:.2f}, "
                f"per-class FID {measured['per_class_fid']:.2f}" in said
            ), (name, seed)
    gain = (
        search_rows("conditional+diffaugment+embedding")[44]["ema"]["label_agreement"]
        - reference[44]["ema"]["label_agreement"]
    )
    (asked,) = [
        check.bar for target in LABEL_RULE for check in target.checks if check.value == "label_agreement"
    ]
    needed = asked * 100
    assert f"It gains only {gain * 100:.1f} points, and the rule asks for {needed:.0f}" in text


def test_what_the_comparison_shows_quotes_the_comparison_files():
    text = markdown_cell("### What the comparison shows")
    metrics = read("comparison/metrics.json")
    ac, baseline = metrics["conditional_ac, epoch 50"], metrics["baseline, epoch 50"]
    real = metrics["real test images"]
    ratio = ac["vs_baseline"]["fid_ratio"]
    assert (
        f"{ac['classifier_fid']:.2f} against the baseline's {baseline['classifier_fid']:.2f} ({ratio:.2f}x)"
        in text
    )
    assert (
        f"recognizes {ac['recognizable']:.1%} of its images, as many as real test images "
        f"({real['recognizable']:.1%})" in text
    )
    labels = read("comparison/label_agreement.json")
    mine, before = labels["conditional_ac, epoch 50"], labels["conditional, epoch 50"]
    assert (
        f"{mine['generated']['overall']:.1%} of the time, against {before['generated']['overall']:.1%}"
        in text
    )
    assert f"({mine['generated']['overall']:.1%} against {mine['real test images']['overall']:.1%})" in text
    per_class = read("comparison/per_class_fid.json")
    means = [sum(per_class[f"{run}, epoch 50"]) / 10 for run in ("conditional_ac", "conditional")]
    real_mean = sum(per_class["real test images"]) / 10
    assert (
        f"is {means[0]:.1f} against {means[1]:.1f} for `conditional` (real test images: {real_mean:.2f})"
        in text
    )
    cas = {run: cas_of(run) for run in ("conditional_ac", "conditional", "conditional_ac_seed43")}
    (ceiling,) = read("comparison/cas_ceiling.json").values()
    top = ceiling["overall"]
    assert (
        f"The CAS is {cas['conditional_ac']['overall']:.3f}, {cas['conditional_ac']['overall'] / top:.2f}x"
        in text
    )
    assert f"the ceiling of {top:.3f}" in text
    assert (
        f"(`conditional`: {cas['conditional']['overall']:.3f}, {cas['conditional']['overall'] / top:.2f}x)"
        in text
    )
    weakest = [2, 3, 4]  # bird, cat, deer
    assert "(" + ", ".join(f"{cas['conditional_ac']['per_class'][c]:.2f}" for c in weakest) + ")" in text
    assert "(" + ", ".join(f"{ceiling['per_class'][c]:.2f}" for c in weakest) + ")" in text
    seed43 = cas["conditional_ac_seed43"]["overall"]
    assert f"Its CAS is {seed43:.3f} ({seed43 / top:.2f}x the ceiling)" in text
    for run in ("baseline", "improved", "conditional", "conditional_ac"):
        minutes = sum(row["seconds"] for row in read(f"{run}/history.json")) / 60
        assert f"| {minutes:.0f} min |" in text, run


def cas_of(run: str) -> dict:
    """The CAS of a run's epoch 50 in its cache."""
    (score,) = [v for key, v in read(f"{run}/cas.json").items() if key.startswith(f"{run}, epoch 50; ")]
    return score


def test_the_rubric_quotes_the_ac_runs_fake_accuracy():
    import dcgan_eval as evaluation

    text = markdown_cell("No run's fake accuracy reaches 0.5")
    fake = [row["fake_acc"] for row in read("conditional_ac/history.json")]
    assert f"stays at {span(fake)}" in text
    trend = evaluation.fake_accuracy_trend(read("conditional_ac/history.json"))
    second = evaluation.fake_accuracy_trend(read("conditional_ac_seed43/history.json"))
    assert f"rises by {trend['slope_per_10_epochs']:.3f} per 10 epochs" in text
    assert (
        f"last ten epochs average {trend['last_10_mean']:.2f}" in text and "trend goes away from 0.5" in text
    )
    assert f"{second['slope_per_10_epochs']:.3f}" == f"{trend['slope_per_10_epochs']:.3f}"  # "as fast"
    assert f"average {second['last_10_mean']:.2f}." in text


def test_reading_the_results_quotes_the_baseline_history():
    text = markdown_cell("### Reading the results")
    history = read("baseline/history.json")
    fake = {row["epoch"]: row["fake_acc"] for row in history}
    assert f"falls from {fake[1]:.2f} to {min(fake[e] for e in range(19, 26)):.2f} by epochs 19-25" in text
    closest = min(history, key=lambda row: row["gen_loss"] - row["disc_loss"])
    assert 19 <= closest["epoch"] <= 25
    assert f"(G {closest['gen_loss']:.2f}, D {closest['disc_loss']:.2f})" in text
    assert f"climbs back to {span([fake[e] for e in range(35, 51)])} over epochs 35-50" in text
    assert f"loss doubles to {history[-1]['gen_loss']:.1f}" in text


def test_what_the_comparison_shows_quotes_the_second_seed():
    text = markdown_cell("### What the comparison shows")
    seed43 = read("comparison/metrics.json")["conditional_ac_seed43, epoch 50"]
    agreement = read("comparison/label_agreement.json")["conditional_ac_seed43, epoch 50"]["generated"]
    assert (
        f"Its classifier-FID is {seed43['classifier_fid']:.2f} ({seed43['vs_baseline']['fid_ratio']:.2f}x "
        "the baseline's)" in text
    )
    assert f"asked for {agreement['overall']:.1%} of the time" in text
    assert f"recognizes {seed43['recognizable']:.1%} of its images" in text
    minutes = sum(row["seconds"] for row in read("conditional_ac_seed43/history.json")) / 60
    assert f"| {minutes:.0f} min |" in text


def test_the_rubric_quotes_the_balance_searchs_exam_curves():
    text = markdown_cell("No run's fake accuracy reaches 0.5")
    histories = [row["result"]["history"] for row in read("balance_search.json")["rows"]]
    gap = max(abs(r["seen_real_acc"] - r["held_out_real_acc"]) for h in histories for r in h)
    caught = sum(r["fresh_fake_acc"] >= r["fake_acc"] for h in histories for r in h)
    epochs = sum(len(h) for h in histories)
    assert f"follows the appendix's {len(histories)} short runs" in text.replace("five", "5")
    assert f"never more than {gap:.3f} apart" in text
    assert f"in {caught} of the {epochs} epochs it catches fresh fakes at least as often" in text


def test_what_the_search_shows_quotes_the_balance_searchs_cas_and_kid():
    text = markdown_cell("### What the search shows")
    rows = {
        (row["recipe"].split("+")[-1], row["seed"]): row["result"]
        for row in read("balance_search.json")["rows"]
    }
    cas = {key: f"{result['cas']:.3f}" for key, result in rows.items()}
    kid = {key: f"{result['ema']['per_class_kid']:.0f}" for key, result in rows.items()}
    assert (
        f"{cas['lecam03', 44]} and {cas['lecam10', 44]} against {cas['ac', 44]} and {cas['ac', 45]}" in text
    )
    assert (
        f"({kid['lecam03', 44]} and {kid['lecam10', 44]} against {kid['ac', 44]} and {kid['ac', 45]};" in text
    )
    assert f"CAS is {cas['ada', 44]}, its KID {kid['ada', 44]}." in text
