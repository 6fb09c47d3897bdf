"""cnnlib.explore.drawing: the draw-a-digit widget, driven the way the browser drives it
(mouse events), and its picture."""
import ipywidgets as widgets
import numpy as np
import pytest
from explorer_helpers import (assert_fits_the_screen, assert_like_a_plain_drawing, assert_no_test_marker_visible,
                              assert_same_picture, controls_px, walk)

from cnnlib.explore.drawing import DigitPicture, DrawDigit
from cnnlib.explore.preprocess import center_of_mass, draw_stroke, preprocess_digit
from cnnlib.layers import Conv2d, Flatten, Linear
from cnnlib.losses import softmax
from cnnlib.model import Sequential, build_lenet, build_seed_net

SEVEN = [[(60, 50), (220, 50)], [(220, 50), (180, 130), (130, 240)]]


@pytest.fixture(scope="module")
def model():
    return build_lenet(rng=0).astype(np.float32)


@pytest.fixture
def widget(model):
    w = DrawDigit(model)
    yield w
    w.close()


def send(canvas, event, x=None, y=None, touches=None):
    """What the browser sends when the learner uses the mouse (or a finger) on the canvas."""
    content = {"event": event}
    if touches is not None:
        content["touches"] = [{"x": tx, "y": ty} for tx, ty in touches]
    else:
        content.update(x=x, y=y)
    canvas._handle_frontend_event(None, content, [])


def test_starts_with_a_prompt_and_a_placeholder(widget):
    assert widget.marker.value == "drawn #1" and widget.status.value == ""
    assert "draw a digit" in widget.prediction.value
    assert widget.probs is None and widget.predicted is None
    assert widget.png.startswith(b"\x89PNG")
    assert widget.raster.shape == (280, 280) and not widget.raster.any()


def test_a_stroke_updates_digit_probabilities_and_feature_maps(widget, model):
    for stroke in SEVEN:
        widget.draw_stroke(stroke)
    assert widget.marker.value == "drawn #3"                       # one prediction per stroke
    expected_raster = np.zeros((280, 280))
    for stroke in SEVEN:
        expected_raster = draw_stroke(expected_raster, stroke, width=20)
    np.testing.assert_allclose(widget.raster, expected_raster)
    np.testing.assert_array_equal(widget.digit, preprocess_digit(expected_raster))
    assert widget.probs.shape == (10,) and (widget.probs >= 0).all()
    np.testing.assert_allclose(widget.probs.sum(), 1.0, rtol=1e-12)
    logits = model.forward(widget.digit[None, None])
    np.testing.assert_allclose(widget.probs, softmax(logits.astype(np.float64))[0], rtol=1e-5)
    assert widget.predicted == int(np.argmax(widget.probs))
    assert f"<b>{widget.predicted}</b>" in widget.prediction.value
    first_conv = model.layers[0].forward(widget.digit[None, None])[0]
    np.testing.assert_allclose(widget.feature_maps, first_conv, rtol=1e-6)
    assert widget.feature_maps.shape == (8, 24, 24)


def test_mouse_events_do_exactly_what_draw_stroke_does(model):
    by_mouse, by_code = DrawDigit(model), DrawDigit(model)
    try:
        points = [(100, 60), (120, 100), (130, 160), (135, 230)]
        send(by_mouse.canvas, "mouse_move", 10, 10)                  # moving without the button: no ink
        assert not by_mouse.raster.any()
        send(by_mouse.canvas, "mouse_down", *points[0])
        for x, y in points[1:]:
            send(by_mouse.canvas, "mouse_move", x, y)
        assert by_mouse.marker.value == "drawn #1"                   # predicts on release, not while drawing
        send(by_mouse.canvas, "mouse_up", *points[-1])
        by_code.draw_stroke(points)
        np.testing.assert_array_equal(by_mouse.raster, by_code.raster)
        np.testing.assert_array_equal(by_mouse.probs, by_code.probs)
        assert by_mouse.strokes == by_code.strokes == [[(float(x), float(y)) for x, y in points]]
        assert by_mouse.marker.value == by_code.marker.value == "drawn #2"
    finally:
        by_mouse.close()
        by_code.close()


def test_leaving_the_canvas_ends_the_stroke_and_touch_works(widget):
    send(widget.canvas, "mouse_down", 140, 40)
    send(widget.canvas, "mouse_move", 140, 200)
    send(widget.canvas, "mouse_out", 140, 281)
    assert widget.marker.value == "drawn #2" and len(widget.strokes) == 1
    send(widget.canvas, "mouse_move", 60, 60)                        # no button: nothing drawn
    assert widget.strokes[0][-1] == (140.0, 281.0)
    send(widget.canvas, "touch_start", touches=[(60, 140)])
    send(widget.canvas, "touch_move", touches=[(220, 140)])
    send(widget.canvas, "touch_end", touches=[])
    assert widget.marker.value == "drawn #3" and len(widget.strokes) == 2
    assert widget.raster[140, 60:220].min() == 1.0                   # the finger's line is there


def test_where_you_draw_does_not_matter(model):
    centre, corner = DrawDigit(model), DrawDigit(model)
    try:
        centre.draw_stroke([(140, 60), (140, 220)])
        corner.draw_stroke([(35, 20), (35, 180)])                    # the same line, near the left edge
        for w in (centre, corner):
            rows, cols = np.flatnonzero(w.digit.any(axis=1)), np.flatnonzero(w.digit.any(axis=0))
            assert rows[-1] - rows[0] + 1 == 20                      # scaled to MNIST's 20-px box
            cy, cx = center_of_mass(w.digit)
            assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5       # centred by mass
        np.testing.assert_array_equal(centre.digit, corner.digit)
        np.testing.assert_array_equal(centre.probs, corner.probs)
    finally:
        centre.close()
        corner.close()


def test_clear_button_starts_again(widget):
    widget.draw_stroke(SEVEN[0])
    widget.clear_button.click()
    assert not widget.raster.any() and widget.strokes == []
    assert widget.probs is None and widget.digit is None
    assert widget.marker.value == "drawn #3"
    assert "draw a digit" in widget.prediction.value


def test_empty_canvas_is_reported_in_the_status_not_raised(widget):
    widget.draw_stroke([(-60, -60), (-30, -40)])                     # entirely off the canvas
    assert "ValueError: the canvas is empty" in widget.status.value
    assert widget.probs is None
    before = widget.png
    widget.draw_stroke([])
    assert "ValueError: a stroke needs at least one (x, y) point" in widget.status.value
    assert widget.png == before                                      # the picture stays
    widget.clear_button.click()                                      # the next picture clears the error
    assert widget.status.value == "" and widget.png.startswith(b"\x89PNG")


def test_errors_inside_callbacks_are_shown(widget, monkeypatch):
    send(widget.canvas, "mouse_down", 100, 100)
    send(widget.canvas, "mouse_move", float("nan"), 100)
    assert "ValueError: draw_stroke: the points contain NaN or infinity" in widget.status.value

    def broken(x):
        raise RuntimeError("the model broke")
    monkeypatch.setattr(widget.model.layers[-1], "forward", broken)
    widget.draw_stroke([(100, 100), (100, 200)])
    assert "RuntimeError: the model broke" in widget.status.value


def test_a_new_browser_tab_gets_the_drawing_repainted(widget, monkeypatch):
    widget.draw_stroke(SEVEN[1])
    calls = []
    monkeypatch.setattr(widget.canvas, "stroke_lines", lambda pts: calls.append(pts))
    send(widget.canvas, "client_ready")
    assert calls == [widget.strokes[0]]


def test_works_with_the_seed_net_and_rejects_unsuitable_models():
    seed = DrawDigit(build_seed_net(rng=0))
    try:
        seed.draw_stroke([(140, 60), (140, 220)])
        assert seed.feature_maps.shape == (8, 26, 26)
        np.testing.assert_allclose(seed.probs.sum(), 1.0)
    finally:
        seed.close()
    with pytest.raises(ValueError, match="no Conv2d"):
        DrawDigit(Sequential(Flatten(), Linear(784, 10, rng=0)))
    with pytest.raises(ValueError, match="10 logits"):
        DrawDigit(Sequential(Conv2d(1, 2, 3, rng=0), Flatten(), Linear(2 * 26 * 26, 5, rng=0)))
    with pytest.raises(TypeError, match="Sequential"):
        DrawDigit(lambda x: x)
    with pytest.raises(ValueError, match="line_width"):
        DrawDigit(build_seed_net(rng=0), line_width=0)
    with pytest.raises(ValueError, match="DrawDigit: canvas_size must be an integer >= 1"):
        DrawDigit(build_seed_net(rng=0), canvas_size=0)


def test_strokes_and_clear_update_one_picture(widget):
    picture, fig = widget.picture, widget.fig
    widget.draw_stroke(SEVEN[0])
    widget.draw_stroke(SEVEN[1])
    assert widget.fig is fig and widget.full_draw_count == 1, "strokes redraw only what is animated"
    np.testing.assert_allclose([b.get_height() for b in picture.bars], widget.probs)
    assert [b.get_facecolor() for b in picture.bars].count(picture.bars[widget.predicted].get_facecolor()) == 1
    np.testing.assert_array_equal(picture.digit_image.get_array(), widget.digit)
    for c, image in enumerate(picture.maps.images):
        np.testing.assert_array_equal(image.get_array(), widget.feature_maps[c])
    assert not [t for t in picture.probabilities.labels if t.get_visible() and t.get_text()], "bars only"
    widget.clear_button.click()
    assert widget.fig is fig and widget.full_draw_count == 1
    assert not picture.digit_image.get_array().any() and not any(b.get_height() for b in picture.bars)
    widget.draw_stroke(SEVEN[0])
    assert_like_a_plain_drawing(widget)


def test_fits_the_screen_and_gives_the_prediction_a_line(widget):
    widget.draw_stroke(SEVEN[0])
    assert_no_test_marker_visible(widget)
    # The canvas and the picture side by side, within 900 px; the prediction on the line
    # above them, beside the Clear button (not in a narrow column under the canvas).
    row = next(w for w in widget.widget.children if widget.image in getattr(w, "children", ()))
    assert widget.canvas in row.children
    assert_fits_the_screen(widget, controls_px(1), beside_px=widget.canvas_size)
    line = next(w for w in widget.widget.children if widget.prediction in getattr(w, "children", ()))
    assert widget.clear_button in line.children and widget.canvas not in list(walk(line))
    assert widget.prediction.layout.width in (None, "")
    # The line names the net's own answer (this net is untrained: which digit is not the point).
    k = int(np.argmax(widget.probs))
    assert widget.predicted == k
    assert isinstance(widget.prediction, widgets.HTML)
    assert f"The net says <b>{k}</b> ({widget.probs[k]:.0%} sure)" in widget.prediction.value


def test_digit_picture_one_code_path_and_checks(rng):
    digit, probs, maps = rng.random((28, 28)), rng.dirichlet(np.ones(10)), rng.normal(size=(8, 24, 24))
    static = DigitPicture(digit, probs, maps, maps_title="maps")
    live = DigitPicture(digit, probs, maps, maps_title="maps", live=True)
    assert_same_picture(static.fig, live.fig)
    assert [b.get_height() for b in static.bars] == [b.get_height() for b in live.bars]
    empty = DigitPicture(n_maps=20, map_shape=(5, 5))                 # nothing drawn yet: 16 empty maps
    assert len(empty.maps.images) == 16 and not any(b.get_height() for b in empty.bars)
    with pytest.raises(ValueError, match=r"DigitPicture: expected a \(28, 28\) digit"):
        live.update(np.zeros((20, 20)), probs, maps)
    with pytest.raises(ValueError, match="DigitPicture: expected 10 probabilities"):
        live.update(digit, probs[:5], maps)
    with pytest.raises(ValueError, match="n_maps"):
        DigitPicture()
