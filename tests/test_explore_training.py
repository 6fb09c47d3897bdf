"""cnnlib.explore.training: the loss/accuracy curves and the training dashboard (run in the
cell, or Start/Pause/Resume in a background thread). Headless: buttons are clicked with
``.click()``, pictures are read back as PNG bytes."""
import time

import numpy as np
import pytest

from explorer_helpers import (PNG_SIGNATURE, assert_fits_the_screen, assert_like_a_plain_drawing,
                              assert_no_test_marker_visible, assert_same_picture, controls_px, visible_texts)

from cnnlib.explore.training import CurvesPicture, TrainingDashboard, plot_curves, trailing_mean
from cnnlib.layers import Flatten, Linear
from cnnlib.model import Sequential
from cnnlib.optim import SGD
from cnnlib.train import Trainer


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


# ---------------------------------------------------------------------------- the dashboard

def test_dashboard_run_trains_the_plan_and_matches_fit(close_after):
    dash = make_dashboard(close_after, redraw_every=4)
    assert dash.state == "ready" and dash.draw_count == 1 and dash.png.startswith(PNG_SIGNATURE)
    assert dash.info in dash.widget.children, "the running numbers have a line of their own"
    assert dash.progress.max == 3 * 5 and dash.progress.value == 0
    history = dash.run()
    assert dash.state == "done" and dash.progress.value == dash.steps_done == 15
    assert_same_history(history, reference_history())
    assert history["val_acc"][-1] == 1.0, "the toy problem is separable; training should solve it"
    # one draw at start, at steps 4, 8, 12 and at the end of each of the 3 epochs (5, 10, 15)
    assert dash.draw_count == 1 + 3 + 3 and dash.marker.value == "drawn #7" and dash.status.value == ""
    assert len(dash.step_log["t"]) == 15 and dash.step_log["t"][-1] == pytest.approx(3.0)
    assert "epoch 3/3" in dash.info.value and "test acc 1.0000" in dash.info.value
    assert dash.start_button.disabled and dash.pause_button.disabled and dash.resume_button.disabled
    with pytest.raises(RuntimeError, match="make a new dashboard"):
        dash.run()


def test_dashboard_run_hides_its_buttons_and_says_why(close_after):
    dash = make_dashboard(close_after, epochs=1)
    buttons = (dash.start_button, dash.pause_button, dash.resume_button)
    assert all(b.layout.display != "none" for b in buttons)
    assert dash.RUN_NOTE not in " ".join(visible_texts(dash)), "a dashboard with buttons needs no note"
    dash.run()
    assert all(b.layout.display == "none" for b in buttons)
    shown = " ".join(visible_texts(dash))
    assert dash.RUN_NOTE in shown and "Start" not in shown.replace(dash.RUN_NOTE, "")
    assert_no_test_marker_visible(dash)


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


def test_dashboard_draws_from_its_thread(close_after):
    dash = make_dashboard(close_after, epochs=2, batch_size=1, n=200, redraw_every=25)
    png = dash.png
    dash.start_button.click()
    assert dash.join(timeout=60) and dash.state == "done"
    # 16 redraws every 25 steps and 2 at the epochs' ends (steps 200 and 400 are both)
    assert dash.draw_count == 1 + 400 // 25 and dash.status.value == ""
    assert dash.png != png and dash.png.startswith(PNG_SIGNATURE)
    assert len(dash.picture.lines["loss batches"].get_xdata()) == 400


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
    with pytest.raises(ValueError, match="TrainingDashboard: epochs must be an integer >= 1, got 0"):
        TrainingDashboard(trainer, x, y, epochs=0)


def test_dashboard_extends_its_curves_in_place(close_after):
    dash = make_dashboard(close_after, redraw_every=2)
    fig = dash.fig
    dash.run()
    assert dash.fig is fig
    # A whole-figure draw only when a line (and its legend) appears or a limit grows; the
    # other redraws draw the curves over the kept background.
    assert dash.full_draw_count < dash.draw_count
    loss_ax, acc_ax = fig.axes
    batches = [line for line in loss_ax.lines if len(line.get_xdata()) == dash.steps_done]
    assert len(batches) == 2                                   # every batch (faint) and their running mean
    np.testing.assert_allclose(batches[0].get_ydata(), dash.step_log["loss"])
    np.testing.assert_allclose(acc_ax.lines[-1].get_ydata(), dash.history["val_acc"])
    assert acc_ax.get_legend() is not None and loss_ax.get_xlim() == (0.0, 3.0)
    assert loss_ax.get_ylim()[1] >= max(dash.step_log["loss"]) and acc_ax.get_ylim()[1] >= 1.0
    assert_fits_the_screen(dash, controls_px(2))       # buttons and progress, then the numbers
    assert_like_a_plain_drawing(dash)


def test_live_curves_only_widen_their_limits():
    steps = {"t": [0.5, 1.0], "loss": [2.0, 1.0], "acc": [0.2, 0.5]}
    picture = CurvesPicture(None, steps=steps, xlim=(0, 2), live=True)
    picture.png()
    ax_loss, ax_acc = picture.axes
    top = ax_loss.get_ylim()[1]
    picture.update(None, steps={key: values + [v] for (key, values), v in zip(steps.items(), (1.5, 0.5, 0.6))})
    picture.png()
    assert ax_loss.get_ylim()[1] == top and picture.full_draws == 1, "lower loss: the same axes, no full draw"
    picture.update(None, steps={"t": [0.5, 1.0, 1.5], "loss": [2.0, 1.0, 4.0], "acc": [0.2, 0.5, 0.6]})
    picture.png()
    assert ax_loss.get_ylim()[1] >= 4.0 and picture.full_draws == 2
    static = CurvesPicture(None, steps={"t": [0.5, 1.0, 1.5], "loss": [2.0, 1.0, 0.5], "acc": [0.2, 0.5, 0.6]})
    assert static.axes[0].get_ylim()[1] == pytest.approx(2.0 * 1.05), "a static picture fits its data"


# ---------------------------------------------------------------------------- plot_curves

def test_plot_curves_draws_epochs_steps_or_nothing():
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


def test_plot_curves_compares_runs_in_the_same_axes():
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2)
    plot_curves(None, steps={"t": [1, 2], "loss": [1.0, 0.5], "acc": [0.5, 0.6]}, axes=axes, label="A", color="red")
    plot_curves(None, steps={"t": [1, 2, 3], "loss": [3.0, 2.0, 1.0], "acc": [0.2, 0.3, 0.4]}, axes=axes, label="B",
                color="blue")
    assert [line.get_label() for line in axes[0].get_legend().get_lines()] == ["A", "B"]
    assert axes[0].get_ylim()[1] >= 3.0 and axes[0].get_xlim()[1] >= 3.0, "the limits cover both runs"
    assert axes[1].get_ylim()[0] <= 0.2


def test_trailing_mean():
    np.testing.assert_allclose(trailing_mean([1.0, 2.0, 3.0, 4.0], 3), [1.0, 1.5, 2.0, 3.0])
    assert trailing_mean([], 5).size == 0


def test_one_code_path_static_and_live_curves_are_the_same():
    history = {"epoch": [1, 2], "loss": [0.9, 0.5], "train_acc": [0.7, 0.8],
               "val_loss": [0.8, 0.6], "val_acc": [0.75, 0.79]}
    steps = {"t": [0.5, 1.0, 1.5, 2.0], "loss": [2.0, 1.0, 0.7, 0.5], "acc": [0.1, 0.5, 0.7, 0.8]}
    static = CurvesPicture(history, steps=steps)
    live = CurvesPicture(history, steps=steps, live=True)
    assert_same_picture(static.fig, live.fig)
    assert [ax.get_xlim() for ax in static.axes] == [ax.get_xlim() for ax in live.axes]
    assert all(line.get_animated() for line in live.lines.values())
    assert not any(line.get_animated() for line in static.lines.values())


# ---------------------------------------------------------------------------- estimate_my_training

def _teacher_my_cnn():
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "my_cnn.py"
    spec = importlib.util.spec_from_file_location("my_cnn_for_estimate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lenet_data(n=130, seed=0):
    r = np.random.default_rng(seed)
    return r.normal(size=(n, 1, 28, 28)).astype(np.float32), r.integers(0, 10, size=n)


def test_estimate_my_training_times_every_function_and_leaves_the_net_as_it_was(capsys):
    from cnnlib.explore.training import estimate_my_training
    from cnnlib.explore.learner import learner_net
    from cnnlib.model import build_lenet
    my_cnn = _teacher_my_cnn()
    net = learner_net(my_cnn, build_lenet(rng=0).astype(np.float32))
    before = [p.copy() for layer in net.layers for p in layer.params.values()]
    x, y = _lenet_data()
    estimate = estimate_my_training(net, my_cnn, x, y, epochs=2, batch_size=64, n_val=100)
    after = [p for layer in net.layers for p in layer.params.values()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert {"conv2d_forward", "conv2d_backward", "maxpool_forward", "maxpool_backward", "relu_forward",
            "relu_backward", "linear_forward", "linear_backward", "softmax_cross_entropy",
            "adam_step"} <= set(estimate["functions"])
    assert estimate["batch_seconds"] == pytest.approx(sum(estimate["functions"].values()))
    # 2 epochs of 3 steps each, at least: the estimate is no less than 6 timed batches.
    assert estimate["seconds"] >= 6 * estimate["batch_seconds"]
    out = capsys.readouterr().out
    assert "One batch of 64 through your functions" in out and "2 epoch(s) of 130 images (6 steps)" in out


def test_estimate_my_training_stops_a_slow_net_and_names_the_slow_function():
    from cnnlib.explore.training import estimate_my_training
    from cnnlib.explore.learner import learner_net
    from cnnlib.model import build_lenet
    my_cnn = _teacher_my_cnn()
    fast = my_cnn.conv2d_backward

    def slow_conv2d_backward(*args):
        time.sleep(0.05)
        return fast(*args)

    my_cnn.conv2d_backward = slow_conv2d_backward
    net = learner_net(my_cnn, build_lenet(rng=0).astype(np.float32))
    x, y = _lenet_data()
    with pytest.raises(RuntimeError, match=r"longer than the 1 s this cell allows\. Most of each batch is "
                                           r"conv2d_backward .*pass budget=None"):
        estimate_my_training(net, my_cnn, x, y, epochs=4, budget=1.0)
    assert estimate_my_training(net, my_cnn, x, y, epochs=4, budget=None)["seconds"] > 1.0


def test_estimate_my_training_refuses_a_plain_net():
    from cnnlib.explore.training import estimate_my_training
    x, y = toy_data()
    with pytest.raises(ValueError, match="learner_net"):
        estimate_my_training(toy_model(), None, x, y, epochs=1)
    with pytest.raises(ValueError, match="optimizer must be"):
        estimate_my_training(toy_model(), None, x, y, epochs=1, optimizer="sgd")
