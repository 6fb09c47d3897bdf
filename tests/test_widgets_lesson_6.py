"""Lesson 6 widgets: saliency maps, the training dashboard (run, pause/resume), feature maps
and the clickable confusion matrix. Everything runs headless: buttons are clicked with
``.click()``, pictures are read back as PNG bytes."""
import time

import numpy as np
import pytest

from cnnlib.data import load_mnist
from cnnlib.gradcheck import numerical_gradient, relative_error
from cnnlib.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from cnnlib.model import Sequential, build_lenet, build_seed_net
from cnnlib.optim import SGD
from cnnlib.train import Trainer, to_input
from cnnlib.widgets import ConfusionExplorer, FeatureMapExplorer, TrainingDashboard, saliency_map

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"




@pytest.fixture(scope="module")
def digits():
    (x_train, y_train), (x_test, y_test) = load_mnist()
    return x_test[:60], y_test[:60]


def tiny_model(rng=0):
    """Conv -> ReLU -> pool -> linear on 8x8 inputs, float64: small enough to check numerically."""
    return Sequential(Conv2d(1, 2, 3, rng=rng), ReLU(), MaxPool2d(2), Flatten(), Linear(2 * 3 * 3, 4, rng=rng))


def toy_data(n=40, seed=0):
    """Two separable classes of 1x4x4 'images' (bright top half vs bright bottom half)."""
    r = np.random.default_rng(seed)
    y = r.integers(0, 2, size=n)
    x = r.normal(0, 0.1, size=(n, 1, 4, 4))
    x[y == 0, :, :2] += 1.0
    x[y == 1, :, 2:] += 1.0
    return x, y


def toy_model(rng=0):
    return Sequential(Flatten(), Linear(16, 2, rng=rng))


# ---------------------------------------------------------------------------- saliency

@pytest.mark.parametrize("class_index", [0, 3])
def test_saliency_map_matches_numerical_gradient(class_index, rng):
    model = tiny_model()
    image = rng.normal(size=(1, 8, 8))
    before = image.copy()
    got = saliency_map(model, image, class_index)
    assert got.shape == (8, 8)
    assert np.array_equal(image, before), "saliency_map must not change the image"

    x = image.copy()
    numeric = numerical_gradient(lambda: model.forward(x[None])[0, class_index], x)   # (1, 8, 8)
    assert relative_error(got, np.abs(numeric[0])) < 1e-7
    assert np.abs(numeric).max() > 0, "a degenerate test: the score does not depend on the image"


def test_saliency_map_takes_2d_images_and_float32_models(digits):
    model = build_seed_net(rng=0).astype(np.float32)
    x = to_input(digits[0][:1])[0]                      # (1, 28, 28)
    a = saliency_map(model, x, 7)
    b = saliency_map(model, x[0], 7)                    # (28, 28) works too
    assert a.shape == b.shape == (28, 28) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert (a >= 0).all() and a.max() > 0


def test_saliency_map_rejects_bad_input():
    model = tiny_model()
    with pytest.raises(ValueError, match="class_index must be an integer in \\[0, 4\\)"):
        saliency_map(model, np.zeros((1, 8, 8)), 4)
    with pytest.raises(ValueError, match="expected one float image"):
        saliency_map(model, np.zeros((2, 1, 8, 8)), 0)
    with pytest.raises(ValueError, match="expected one float image"):
        saliency_map(model, np.zeros((8, 8), dtype=np.uint8), 0)


# ---------------------------------------------------------------------------- training dashboard

def make_dashboard(close_after, epochs=3, batch_size=8, n=40, **kwargs):
    x, y = toy_data(n)
    x_val, y_val = toy_data(20, seed=1)
    model = toy_model()
    trainer = Trainer(model, SGD(model, lr=0.5), rng=0)
    dash = TrainingDashboard(trainer, x, y, x_val, y_val, epochs=epochs, batch_size=batch_size, **kwargs)
    close_after(dash)
    return dash


def reference_history(epochs=3, batch_size=8, n=40):
    """The same run through Trainer.fit: the dashboard must record the same numbers."""
    x, y = toy_data(n)
    x_val, y_val = toy_data(20, seed=1)
    model = toy_model()
    return Trainer(model, SGD(model, lr=0.5), rng=0).fit(x, y, epochs, batch_size, x_val, y_val, progress=False)


def assert_same_history(got, expected):
    assert got["epoch"] == expected["epoch"]
    for key in ("loss", "train_acc", "val_loss", "val_acc"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-12, err_msg=key)


def test_dashboard_run_trains_the_plan_and_matches_fit(close_after):
    dash = make_dashboard(close_after, redraw_every=4)
    assert dash.state == "ready" and dash.draw_count == 1 and dash.png.startswith(PNG_MAGIC)
    assert dash.info in dash.widget.children, "the running numbers have a line of their own"
    assert dash.progress.max == 3 * 5 and dash.progress.value == 0
    history = dash.run()
    assert dash.state == "done" and dash.progress.value == dash.steps_done == 15
    assert_same_history(history, reference_history())
    assert history["val_acc"][-1] == 1.0, "the toy problem is separable; training should solve it"
    # one draw at start, at steps 4, 8, 12 and at the end of each of the 3 epochs (5, 10, 15)
    assert dash.draw_count == 1 + 3 + 3 and dash.status.value == "drawn #7"
    assert len(dash.step_log["t"]) == 15 and dash.step_log["t"][-1] == pytest.approx(3.0)
    assert "epoch 3/3" in dash.info.value and "test acc 1.0000" in dash.info.value
    assert dash.start_button.disabled and dash.pause_button.disabled and dash.resume_button.disabled
    with pytest.raises(RuntimeError, match="make a new dashboard"):
        dash.run()


def test_dashboard_pause_stops_steps_and_resume_continues(close_after):
    # 1,000 single-example steps per epoch: far more than happen between Start and Pause.
    dash = make_dashboard(close_after, epochs=2, batch_size=1, n=400, redraw_every=10_000)
    dash.start_button.click()
    dash.pause_button.click()
    assert dash.wait_until_paused(timeout=10), "the training thread did not reach its pause"
    assert dash.state == "paused" and dash.training, "paused means waiting, not finished"
    assert not dash.resume_button.disabled and dash.pause_button.disabled and dash.start_button.disabled
    paused_at = dash.steps_done
    assert paused_at < 800
    time.sleep(0.05)   # a paused thread takes no step, however long we wait
    assert dash.steps_done == paused_at and dash.progress.value == paused_at
    assert f"paused after step {paused_at} of 800" in dash.info.value

    dash.start_button.click()            # ignored while paused
    dash.resume_button.click()
    assert dash.state == "running" and dash.resume_button.disabled and not dash.pause_button.disabled
    assert dash.join(timeout=60), "training did not finish"
    assert dash.state == "done" and dash.steps_done == 800 and dash.error is None
    # Pausing changes nothing in the numbers: the same batches in the same order.
    assert_same_history(dash.history, reference_history(epochs=2, batch_size=1, n=400))


def test_dashboard_pause_and_resume_repeatedly(close_after):
    dash = make_dashboard(close_after, epochs=1, batch_size=1, n=1000, redraw_every=10_000)
    dash.start_button.click()
    seen = []
    for _ in range(3):
        dash.pause_button.click()
        assert dash.wait_until_paused(timeout=10)
        seen.append(dash.steps_done)
        dash.resume_button.click()
    assert seen == sorted(seen)
    assert dash.join(timeout=60) and dash.steps_done == 1000


def test_dashboard_stop_and_close_end_the_thread(close_after):
    dash = make_dashboard(close_after, epochs=5, batch_size=1, n=1000, redraw_every=10_000)
    dash.start_button.click()
    dash.stop()
    assert not dash.training and dash.state == "stopped" and dash.steps_done < 5000
    dash2 = make_dashboard(close_after, epochs=5, batch_size=1, n=1000, redraw_every=10_000)
    dash2.start_button.click()
    dash2.pause_button.click()
    dash2.close()                         # a paused thread is woken and ended, not left behind
    assert not dash2.training


def test_dashboard_shows_errors_from_the_thread(close_after):
    x, y = toy_data()
    x[5] = np.nan
    model = toy_model()
    dash = TrainingDashboard(Trainer(model, SGD(model, lr=0.1)), x, y, epochs=1, batch_size=40)
    close_after(dash)
    dash.start_button.click()
    assert dash.join(timeout=10)
    assert dash.state == "error" and isinstance(dash.error, ValueError)
    assert dash.info.value.startswith("error: ValueError") and "NaN" in dash.info.value


def test_dashboard_rejects_bad_arguments():
    x, y = toy_data()
    model = toy_model()
    trainer = Trainer(model, SGD(model, lr=0.1))
    with pytest.raises(ValueError, match="expected a cnnlib.train.Trainer"):
        TrainingDashboard(model, x, y)
    with pytest.raises(ValueError, match="same number"):
        TrainingDashboard(trainer, x, y[:-1])
    with pytest.raises(ValueError, match="both x_val and y_val"):
        TrainingDashboard(trainer, x, y, x_val=x)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        TrainingDashboard(trainer, x, y, epochs=0)


# ---------------------------------------------------------------------------- feature maps

def test_feature_map_explorer_layers_channels_and_maps(digits, close_after):
    images, labels = digits
    model = build_lenet(rng=0).astype(np.float32)
    fm = FeatureMapExplorer(model, images[:5], labels[:5])
    close_after(fm)
    assert fm.layer_indices == [0, 1, 2, 3, 4, 5]
    assert fm.status.value == "drawn #1" and fm.png.startswith(PNG_MAGIC)
    assert fm.channel_slider.max == 7                       # Conv2d(1→8)

    fm.layer_menu.value = 3                                 # Conv2d(8→16)
    assert fm.channel_slider.max == 15
    fm.channel_slider.value = 12
    fm.layer_menu.value = 2                                 # back to 8 channels: 12 is clamped
    assert fm.channel_slider.max == 7 and fm.channel_slider.value == 7
    fm.show_all.value = True
    fm.image_slider.value = 4
    assert fm.status.value == f"drawn #{fm.draw_count}" and fm.png.startswith(PNG_MAGIC)

    # The explorer shows the layers' own outputs for that image.
    x = to_input(images[4:5])
    for i, layer in enumerate(model.layers[:6]):
        x = layer.forward(x)
        np.testing.assert_array_equal(fm.activations(4)[i], x[0])


def test_feature_map_explorer_checks_its_input(digits):
    model = build_lenet(rng=0)
    with pytest.raises(ValueError, match="expected a batch of model inputs"):
        FeatureMapExplorer(model, np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match="expected 2 labels"):
        FeatureMapExplorer(model, digits[0][:2], digits[1][:3])
    with pytest.raises(ValueError, match="no Conv2d, ReLU or pooling layer"):
        FeatureMapExplorer(Sequential(Flatten(), Linear(784, 10, rng=0)), digits[0][:2])


# ---------------------------------------------------------------------------- confusion matrix

def test_confusion_explorer_counts_and_clicks(digits, close_after):
    images, labels = digits
    model = build_seed_net(rng=0).astype(np.float32)
    ce = ConfusionExplorer(model, images, labels, max_shown=4)
    close_after(ce)
    pred = model.predict(to_input(images)).argmax(axis=1)
    expected = np.zeros((10, 10), dtype=int)
    for t, p in zip(labels, pred):
        expected[t, p] += 1
    np.testing.assert_array_equal(ce.cm, expected)
    assert [[b.description for b in row] for row in ce.buttons] == expected.astype(str).tolist()
    off = expected * (1 - np.eye(10, dtype=int))
    assert ce.cm[ce.selected] == off.max() and ce.selected[0] != ce.selected[1]
    assert ce.status.value == "drawn #1" and ce.png.startswith(PNG_MAGIC)

    t, p = map(int, np.argwhere(off)[-1])                  # another cell with mistakes in it
    ce.buttons[t][p].click()
    assert ce.selected == (t, p) and ce.draw_count == 2
    assert ce.buttons[t][p].style.font_weight == "bold"
    framed = [(i, j) for i in range(10) for j in range(10) if ce.buttons[i][j].layout.border]
    assert framed == [(t, p)], "only the selected cell is framed"
    idx = ce.examples(t, p)
    assert len(idx) == expected[t, p] and (labels[idx] == t).all() and (pred[idx] == p).all()
    confidence = ce.probs[idx, p]
    assert (np.diff(confidence) <= 0).all(), "most confident first"

    ce.explain.value = "true"
    assert ce.draw_count == 3 and ce.status.value == "drawn #3"
    empty = tuple(map(int, np.argwhere(expected == 0)[0]))
    ce.select(*empty)                                       # an empty cell draws a note, no error
    assert ce.status.value == "drawn #4"
    with pytest.raises(ValueError, match="classes must be in"):
        ce.select(10, 0)


def test_confusion_explorer_checks_labels(digits):
    images, labels = digits
    model = build_seed_net(rng=0)
    with pytest.raises(ValueError, match="expected 60 integer labels"):
        ConfusionExplorer(model, images, labels[:10])
    with pytest.raises(ValueError, match="labels must be in"):
        ConfusionExplorer(model, images, labels + 10)


# ---------------------------------------------------------------------------- the lesson-6 pictures

def test_plot_curves_draws_epochs_steps_or_nothing():
    from cnnlib.viz import plot_curves
    history = {"epoch": [1, 2], "loss": [0.9, 0.5], "train_acc": [0.7, 0.8],
               "val_loss": [0.8, 0.6], "val_acc": [0.75, 0.79]}
    fig = plot_curves(history)
    ax_loss, ax_acc = fig.axes
    assert [line.get_label() for line in ax_acc.lines] == ["train", "test"]
    np.testing.assert_array_equal(ax_acc.lines[1].get_ydata(), [0.75, 0.79])
    steps = {"t": [0.5, 1.0, 1.5, 2.0], "loss": [2.0, 1.0, 0.0, 1.0], "acc": [0.1, 0.2, 0.3, 0.4]}
    fig = plot_curves(None, steps=steps, smooth=2, label="run A")
    smoothed = fig.axes[0].lines[1]
    assert smoothed.get_label() == "run A"
    np.testing.assert_allclose(smoothed.get_ydata(), [2.0, 1.5, 0.5, 0.5])   # trailing mean of 2
    empty = {key: [] for key in history}
    assert len(plot_curves(empty).axes[0].lines) == 0                        # nothing trained yet
    with pytest.raises(ValueError, match="no 'val_acc' list"):
        plot_curves({"epoch": [1], "loss": [1.0], "train_acc": [0.5], "val_loss": [1.0]})


def test_plot_confusion_matrix_writes_the_counts():
    from cnnlib.viz import plot_confusion_matrix
    cm = np.array([[5, 1, 0], [0, 7, 2], [1, 0, 9]])
    fig = plot_confusion_matrix(cm, title="t")
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == sorted(str(n) for n in cm.ravel() if n)                  # zeros stay blank
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))


def test_plot_filters_lays_kernels_out_in_a_mosaic():
    from cnnlib.viz import plot_filters
    w = np.zeros((3, 2, 5, 5))
    w[2, 1, 0, 0] = 1.0
    image = plot_filters(w).axes[0].images[0].get_array()
    assert image.shape == (3 * 6 - 1, 2 * 6 - 1)                             # 1-pixel gaps
    assert image[2 * 6, 1 * 6] == 1.0 and image.mask[5, 0]                   # row = output, column = input
    assert plot_filters(np.ones((8, 1, 3, 3))).axes[0].images[0].get_array().shape == (3, 8 * 4 - 1)
    with pytest.raises(ValueError, match="C_out, C_in, KH, KW"):
        plot_filters(np.ones((8, 3, 3)))


def test_plot_feature_maps_and_saliency_grid():
    from cnnlib.viz import plot_feature_maps, plot_saliency_grid
    fig = plot_feature_maps(np.random.default_rng(0).normal(size=(10, 6, 6)), n_cols=4, highlight=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 10 and len(fig.axes) == 12
    assert shown[0].images[0].get_cmap().name == "RdBu_r"                    # signed maps: diverging
    assert shown[3].spines["top"].get_linewidth() == 3
    assert plot_feature_maps(np.ones((2, 4, 4))).axes[0].images[0].get_cmap().name == "gray"
    fig = plot_saliency_grid(np.zeros((3, 8, 8)), np.ones((3, 8, 8)), ["a", "b", "c"])
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "a"
    with pytest.raises(ValueError, match="same shape"):
        plot_saliency_grid(np.zeros((3, 8, 8)), np.ones((2, 8, 8)))


# ---------------------------------------------------------------------------- fast redraws

from test_widgets_lessons_1_3 import assert_like_a_plain_drawing, assert_redrawn_in_place  # noqa: E402


def test_feature_map_explorer_updates_in_place(digits, close_after):
    images, labels = digits
    model = build_lenet(rng=0).astype(np.float32)
    fm = FeatureMapExplorer(model, images[:5], labels[:5])
    close_after(fm)
    assert_redrawn_in_place(fm, lambda: setattr(fm.image_slider, "value", 3), expect_full_draws=1)
    assert_redrawn_in_place(fm, lambda: setattr(fm.channel_slider, "value", 5), expect_full_draws=1)
    assert_redrawn_in_place(fm, lambda: setattr(fm.layer_menu, "value", 4), expect_full_draws=1)   # ReLU 8x8
    ax_in, ax_map = fm.fig.axes[:2]
    np.testing.assert_array_equal(ax_in.images[0].get_array(), to_input(images[3:4])[0, 0])
    np.testing.assert_array_equal(ax_map.images[0].get_array(), fm.activations(3)[4][5])
    assert ax_map.images[0].get_cmap().name == "gray"          # after ReLU: nothing negative
    assert ax_map.get_title().endswith("channel 5, 8x8") and ax_in.get_title() == f"input #3 (label {labels[3]})"
    assert_like_a_plain_drawing(fm)


def test_feature_map_explorer_grid_frames_the_channel(digits, close_after):
    images, _ = digits
    model = build_lenet(rng=0).astype(np.float32)
    fm = FeatureMapExplorer(model, images[:5])
    close_after(fm)
    fm.show_all.value = True
    grid = [ax for ax in fm.fig.axes if ax.images and ax.get_title().isdigit()]
    assert len(grid) == 8 and grid[0].spines["top"].get_linewidth() == 3
    assert_redrawn_in_place(fm, lambda: setattr(fm.channel_slider, "value", 6))
    assert [ax.spines["top"].get_linewidth() for ax in grid] == [0.8] * 6 + [3] + [0.8]
    assert_redrawn_in_place(fm, lambda: setattr(fm.image_slider, "value", 2))
    for c, ax in enumerate(grid):
        np.testing.assert_array_equal(ax.images[0].get_array(), fm.activations(2)[0][c])
    assert_like_a_plain_drawing(fm)


def test_confusion_explorer_reuses_its_figures(digits, close_after):
    images, labels = digits
    model = build_seed_net(rng=0).astype(np.float32)
    ce = ConfusionExplorer(model, images, labels, max_shown=3)
    close_after(ce)
    full = [tuple(map(int, c)) for c in np.argwhere(ce.cm >= 3)]          # cells with three digits to show
    first, second = full[0], full[1]
    ce.select(*first)
    fig = ce.fig
    assert_redrawn_in_place(ce, lambda: ce.select(*second))
    assert ce.fig is fig
    digits_shown = [ax.images[0].get_array() for ax in fig.axes[:3]]
    expected = to_input(images[ce.examples(*second)[:3]])[:, 0]
    np.testing.assert_array_equal(np.stack(digits_shown), expected)
    assert fig.get_suptitle().startswith(f"true {second[0]}, predicted {second[1]}")
    empty = tuple(map(int, np.argwhere(ce.cm == 0)[0]))
    ce.select(*empty)
    assert ce.fig is not fig and "nothing to show" in ce.fig.axes[0].texts[0].get_text()
    ce.select(*first)
    assert ce.fig is fig, "the three-column figure is kept"
    assert_like_a_plain_drawing(ce)


def test_dashboard_extends_its_curves_in_place(close_after):
    dash = make_dashboard(close_after, redraw_every=2)
    fig = dash.fig
    dash.run()
    assert dash.fig is fig and dash.full_draw_count == dash.draw_count
    loss_ax, acc_ax = fig.axes
    batches = [line for line in loss_ax.lines if len(line.get_xdata()) == dash.steps_done]
    assert len(batches) == 2                                   # every batch (faint) and their running mean
    np.testing.assert_allclose(batches[0].get_ydata(), dash.step_log["loss"])
    np.testing.assert_allclose(acc_ax.lines[-1].get_ydata(), dash.history["val_acc"])
    assert acc_ax.get_legend() is not None and loss_ax.get_xlim() == (0.0, 3.0)
    assert_like_a_plain_drawing(dash)
