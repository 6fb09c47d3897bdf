"""Explorers: controls above a picture that redraws when they move (ipywidgets).

May import: ipywidgets, IPython, and :mod:`cnnlib.explore.picture` (the pictures).

The contract
------------
* An explorer takes all its data as arguments (no globals) and is shown by leaving it
  as the last expression of a cell (or with ``display(explorer)``).
* The picture is drawn on the kernel side and shown in an ``ipywidgets.Image``: a redraw
  swaps the PNG bytes in one update, so the output area never collapses or flickers,
  and tests can read the bytes (:attr:`Explorer.png`).
* A subclass implements :meth:`Explorer.build_picture` (a live :class:`Picture` for the
  current control values) and :meth:`Explorer.update_picture` (the same picture updated
  for new values); :meth:`Explorer.picture_key` says what the picture's layout depends
  on (say, the number of channels): when it changes, the picture is built again.
* A callback never fails silently: an exception is shown as one sentence under the
  picture (the previous picture stays), and the next move rebuilds the picture.
* What a browser test waits for is kept out of sight: :attr:`Explorer.marker` is a
  hidden label reading ``"drawn #k"`` after the k-th picture.
* Outside a live kernel the explorer still shows something true. Its display bundle
  carries the picture as ``image/png`` (GitHub, nbconvert HTML and an unrun lesson in
  JupyterLab show that) and a sentence as ``text/plain``. A second output, a short note,
  is hidden by a style rule that lives inside the live widget: where the widget is not
  rendered, the rule is not there and the note says what to do. After a kernel restart
  JupyterLab keeps the dead widget on the page (marked ``jupyter-widgets-disconnected``):
  then the same note shows inside it, above the controls.
* :attr:`Explorer.draw_count` and :attr:`Explorer.last_draw_seconds` let
  ``benchmarks/bench_widgets.py`` measure how fast a control responds (target: 100 ms).
"""
import base64
import html
import time

import ipywidgets as widgets
from IPython.display import display

__all__ = ["Explorer", "RESTART_NOTE", "slider_layout"]

#: Shown in place of an explorer whose kernel is gone (after a restart, or when the lesson
#: was opened without running it).
RESTART_NOTE = ("This explorer needs its kernel: after a kernel restart (or when the lesson was opened "
                "without running it) use Run > Run All Above, then run this cell again.")

#: Sliders and menus get room for their labels and a track long enough to aim with a mouse.
SLIDER_WIDTH = "440px"   # label + a track of at least 250 px + the 72 px readout
DESCRIPTION_WIDTH = "initial"     # the label's own width: never cut


def slider_layout(control):
    """Give a control the width the lessons use: sliders get a track of at least 250 px and
    every label its full width (called by :class:`Explorer` for each control)."""
    style = getattr(control, "style", None)
    if style is not None and hasattr(style, "description_width") and not style.description_width:
        style.description_width = DESCRIPTION_WIDTH
    if isinstance(control, (widgets.IntSlider, widgets.FloatSlider, widgets.FloatLogSlider,
                            widgets.SelectionSlider)) and not control.layout.width:
        control.layout.width = SLIDER_WIDTH
    if isinstance(control, widgets.Dropdown) and not control.layout.width:
        control.layout.width = "max-content"
    return control


class Explorer:
    """Base class: a title, a row of controls, a picture and a line for errors.

    Subclasses build their controls, call ``super().__init__(controls, title=...)``, and
    implement :meth:`build_picture` and :meth:`update_picture`. Every control's ``value``
    change triggers :meth:`refresh` unless ``observe=False`` (then the subclass wires its
    own observers).

    Attributes
    ----------
    picture : Picture or None
        The live picture shown now.
    image : ipywidgets.Image
        Where the picture is shown.
    status : ipywidgets.HTML
        Empty while all is well; one sentence when a redraw failed.
    marker : ipywidgets.Label
        Hidden; reads ``"drawn #<draw_count>"`` (a hook for browser tests).
    draw_count : int
        Pictures drawn so far.
    full_draw_count : int
        How many of them drew the whole figure (the others only the animated artists).
    last_draw_seconds : float or None
        Wall time of the last redraw.
    """

    def __init__(self, controls, *, title=None, observe=True):
        self.controls = [slider_layout(c) for c in controls]
        # align_self: the picture keeps its own size (a VBox would stretch it to the column's
        # width, blurring it and its text); max-width 100% still fits it into a narrow column.
        self.image = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
        self.status = widgets.HTML(value="")
        self.marker = widgets.Label(value="", layout=widgets.Layout(display="none"))
        self.draw_count = 0
        self.last_draw_seconds = None
        self.picture = None
        self._picture_key = None
        self._kept = {}                       # picture_key -> picture, for explorers that switch back and forth
        self._note_class = None
        header = [widgets.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        row = widgets.HBox(self.controls, layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        self._style = widgets.HTML(value="")  # the rules that hide the restart notes, and the note itself
        self.widget = widgets.VBox(header + [self._style, row, self.image, self.status, self.marker])
        self.widget.add_class("cnnlib-explorer")     # hooks for browser tests, invisible to readers
        self.marker.add_class("cnnlib-marker")
        if observe:
            for control in self.controls:
                if hasattr(control, "value"):
                    control.observe(self.refresh, names="value")
        self.refresh()

    # -- what a subclass writes
    def build_picture(self):
        """Return a new live picture (``SomePicture(..., live=True)``) for the current values."""
        raise NotImplementedError

    def update_picture(self):
        """Update :attr:`picture` for the current control values."""
        raise NotImplementedError

    def picture_key(self):
        """What the picture's layout depends on; when it changes, the picture is rebuilt
        (or a picture built earlier for the same key is reused)."""
        return None

    # -- drawing
    @property
    def full_draw_count(self):
        return sum(p.full_draws for p in self._kept.values())

    def refresh(self, *_):
        """Redraw the picture from the controls' current values."""
        start = time.perf_counter()
        try:
            png = self._draw()
        except Exception as e:     # shown in the widget: a callback must not fail silently
            self._kept.pop(self._picture_key, None)    # possibly half updated: build it afresh next time
            self.picture = None
            self.status.value = (f"<span style='color:#b00020'>Could not draw this: {html.escape(type(e).__name__)}: "
                                 f"{html.escape(str(e))}</span>")
            return
        self.show(png)
        self.last_draw_seconds = time.perf_counter() - start

    def show(self, png):
        """Put new PNG bytes on screen (one widget update) and count the picture."""
        self.image.value = png
        if self.status.value:
            self.status.value = ""
        self.draw_count += 1
        self.marker.value = f"drawn #{self.draw_count}"

    def _draw(self):
        key = self.picture_key()
        picture = self._kept.get(key)
        if picture is None:
            picture = self._kept[key] = self.build_picture()
            self.picture, self._picture_key = picture, key
        else:
            self.picture, self._picture_key = picture, key
            self.update_picture()
        return picture.png()

    @property
    def fig(self):
        """The live figure shown now (None before the first picture or after an error)."""
        return None if self.picture is None else self.picture.fig

    @property
    def png(self):
        """The PNG bytes shown now (for tests)."""
        return bytes(self.image.value) or None

    # -- display
    def _ipython_display_(self):
        # Two outputs: the widget (with the picture and a sentence as fallbacks) and the
        # note that only shows when the live widget is not on the page (not rendered, or
        # "Error displaying widget"). After a kernel restart JupyterLab keeps the dead widget
        # on the page and marks its views "jupyter-widgets-disconnected" (the rule hiding
        # the outside note stays): then the same note shows inside it, above the controls.
        self._note_class = note = f"cnnlib-note-{self.widget.model_id}"
        dead = f"cnnlib-dead-{self.widget.model_id}"
        self._style.value = (f"<style>.{note}, .{dead} {{display: none;}} "
                             f".jupyter-widgets-disconnected .{dead} {{display: block;}}</style>"
                             f"<div class='{dead}'><i>{html.escape(RESTART_NOTE)}</i></div>")
        bundle = self.widget._repr_mimebundle_() or {}
        bundle = dict(bundle)
        if self.png:
            bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        bundle["text/plain"] = f"{type(self).__name__}: {RESTART_NOTE}"
        display(bundle, raw=True)
        display({"text/html": f"<div class='{self._note_class}'><i>{html.escape(RESTART_NOTE)}</i></div>",
                 "text/plain": ""}, raw=True)

    def close(self):
        """Close the explorer's widgets (tests call this to free them)."""
        for w in self.controls + [self.image, self.status, self.marker, self._style, self.widget]:
            w.close()
        self.picture, self._kept = None, {}
