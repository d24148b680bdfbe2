"""The comparison's figures are readable as shown: the class grid's row names beside their rows at a
readable size and its title whole, the confusion matrix's numbers standing out from every cell, and
one title a panel."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import dcgan_reports as reports  # noqa: E402
import dcgan_utils as utils  # noqa: E402

DPI = 80  # what the reports save their figures at


def rendered(fig):
    fig.set_dpi(DPI)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


@pytest.mark.parametrize("panels", [1, 3])
def test_the_class_grids_name_each_row_beside_it_readably_under_one_title_each(panels):
    rng = np.random.default_rng(0)
    names = [f"run {i}, epoch 50" for i in range(panels)]
    row_names = [f"{name} 10/10" for name in utils.CIFAR10_CLASSES]  # the longest: "automobile 10/10"
    grids = {name: (rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8), row_names) for name in names}
    fig = reports.class_grids_figure(grids)
    renderer = rendered(fig)
    whole = fig.bbox
    title = fig._suptitle.get_window_extent(renderer)
    assert whole.x0 <= title.x0 and title.x1 <= whole.x1 and title.y1 <= whole.y1  # not clipped
    for ax, name in zip(fig.axes, names, strict=True):
        assert ax.get_title() == name and not ax.texts  # one title, nothing written over the images
        image = ax.get_window_extent(renderer)
        labels = ax.get_yticklabels()
        assert [label.get_text() for label in labels] == row_names
        boxes = [label.get_window_extent(renderer) for label in labels]
        rows = np.linspace(image.y1, image.y0, 11)  # the 10 rows' top and bottom edges, top row first
        for box, top, bottom in zip(boxes, rows[:-1], rows[1:], strict=True):
            assert box.x1 <= image.x0 and box.x0 >= whole.x0  # beside its row, whole, not on an image
            assert bottom - 2 <= (box.y0 + box.y1) / 2 <= top + 2  # level with its row
            assert box.height >= 9  # pixels as saved: readable
        assert all(upper.y0 >= lower.y1 for upper, lower in zip(boxes, boxes[1:], strict=False))
        assert image.height >= 300  # the 320 pixels of the images shown at about their own size
    plt.close(fig)


def test_every_number_of_the_confusion_matrix_stands_out_from_its_cell():
    confusion = np.diag(np.arange(10, 110, 10))  # the diagonal from light to dark
    confusion[:, 0] += np.arange(10, 0, -1) * 5  # and every shade on the first column
    report = {"generated": {"confusion": confusion.tolist()}}
    fig = reports.confusion_figure(report)
    rendered(fig)
    (ax,) = fig.axes
    (image,) = ax.get_images()
    shares = confusion / confusion.sum(axis=1, keepdims=True)
    assert len(ax.texts) == 100
    for text in ax.texts:
        col, row = (round(value) for value in text.get_position())
        assert text.get_text() == (f"{shares[row, col]:.2f}"[1:] if shares[row, col] < 1 else "1")
        assert reports.contrast(text.get_color(), image.to_rgba(shares[row, col])) >= 4.5  # WCAG AA
        assert text.get_fontsize() >= 9
    plt.close(fig)
    assert reports.contrast("black", "white") == pytest.approx(21.0)
    assert reports.contrast("black", "#08306b") < 4.5  # black on the darkest blue: the old figure's


def test_the_side_by_side_panels_keep_their_one_title_and_name_their_rows(tmp_path, monkeypatch):
    saved = []
    monkeypatch.setattr(reports.utils, "save_figure", lambda fig, path, **kwargs: saved.append(fig))
    import imageio.v3 as iio

    grid = tmp_path / "epoch_0010.png"  # a saved grid, its title ("epoch 10") in its pixels
    iio.imwrite(grid, np.zeros((40, 30, 3), np.uint8))
    reports.draw_side_by_side(
        {"baseline": [grid, grid], "conditional_ac": [grid, grid]}, tmp_path / "grids.png"
    )
    (fig,) = saved
    axes = np.array(fig.axes).reshape(2, 2)
    assert [ax.get_title() for ax in axes.flat] == [""] * 4  # the image's own title is its only one
    assert [row[0].get_ylabel() for row in axes] == ["baseline", "conditional_ac"]
    assert [row[1].get_ylabel() for row in axes] == ["", ""]
    plt.close(fig)


def test_each_run_is_labelled_with_the_epoch_its_restored_checkpoint_holds(tmp_path):
    """Issue 26: asked for EPOCHS = 5, a run trained to 7 is compared at its latest checkpoint, so
    its label says epoch 7, not 5."""
    import keras
    from conftest import tiny_recipe
    from run_files import save_generator_run

    import dcgan_lesson as lesson

    for name, epoch in [("short", 5), ("longer", 7)]:
        generator = lesson.build_generator(16, 8, "float32")
        save_generator_run(tmp_path, name, generator, tiny_recipe(), epoch)
    runs = reports.trained_runs(tmp_path, ["short", "longer", "untrained"], 5)
    assert reports.run_labels(runs) == {"short": "short, epoch 5", "longer": "longer, epoch 7"}
    keras.backend.clear_session()


def test_a_report_not_made_in_this_execution_is_removed(tmp_path):
    path = tmp_path / "per_class_fid.json"
    utils.write_json_or_remove(path, {"run, epoch 50": [1.0, 2.0]})
    assert utils.read_json(path) == {"run, epoch 50": [1.0, 2.0]}
    utils.write_json_or_remove(path, {})  # too few images this time: nothing measured
    assert not path.exists()
    utils.write_json_or_remove(path, {})  # and no error when there was none


def test_the_verdict_gives_the_seed_spread_beside_the_sampling_intervals():
    def ratio(value, low, high):
        return {"vs_baseline": {"fid_ratio": value, "fid_ratio_interval": [low, high]}}

    metrics = {"a, epoch 50": ratio(0.20, 0.19, 0.21), "b, epoch 50": ratio(0.25, 0.24, 0.26)}
    comparison = reports.Comparison(metrics, {}, {}, {})
    text = reports.seed_spread_text(comparison, ["a, epoch 50", "b, epoch 50"])
    assert "a, epoch 50: 0.200x (sampling interval 0.190-0.210)" in text
    assert (
        "Spread across the 2 training seeds: 0.050, wider than the widest sampling interval (0.020)" in text
    )
    assert "one training seed: no seed spread" in reports.seed_spread_text(comparison, ["a, epoch 50"])


def test_agreement_above_the_real_images_comes_with_a_warning():
    report = {
        "generated": {"overall": 0.9, "per_class": [0.9] * 9 + [0.5]},
        "real test images": {"overall": 0.8, "per_class": [0.8] * 10},
        "noise_scale_sweep": {},
    }
    text = reports.label_report_text(report)
    assert "warning: agreement above the classifier's accuracy on real images (airplane," in text
    assert "ship)" in text and "truck" not in text.split("warning")[1]
    report["generated"]["per_class"] = [0.5] * 10
    assert "warning" not in reports.label_report_text(report)
