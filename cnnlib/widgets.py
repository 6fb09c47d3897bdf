"""Interactive explorers for the lessons, built on ipywidgets.

The contract
------------
* An explorer takes all its data as arguments (no globals) and is shown by leaving it
  as the last expression of a cell (or with ``display(explorer)``).
* Pictures are drawn on the kernel side: each redraw renders a matplotlib figure to PNG
  and puts it into an ``Output`` widget with ``append_display_data``. That works the same
  in JupyterLab, in Voila, under nbval and in plain pytest, where a test can read the PNG
  from ``explorer.out.outputs``.
* A callback never fails silently: an exception is shown in the explorer's ``status``
  label (and the previous picture stays). After each successful redraw, ``status`` reads
  ``"drawn #k"``; browser tests wait for that marker rather than for pixels to change.
* ``explorer.draw_count`` and ``explorer.last_draw_seconds`` let benchmarks measure how
  fast a slider responds.
"""
import base64
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Image

from cnnlib.viz import figure_to_png

__all__ = ["Explorer"]


class Explorer:
    """Base class: a row of controls above a picture and a status line.

    Subclasses build their controls, call ``super().__init__(controls)``, and implement
    :meth:`figure`, which returns a new matplotlib figure for the current control values.
    Every control's ``value`` change triggers a redraw.
    """

    def __init__(self, controls, *, title=None, observe=True):
        self.controls = list(controls)
        self.out = widgets.Output()
        self.status = widgets.Label(value="")
        self.draw_count = 0
        self.last_draw_seconds = None
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        self.widget = widgets.VBox(header + [widgets.HBox(self.controls) if self.controls else widgets.HBox(),
                                             self.out, self.status])
        if observe:
            for control in self.controls:
                if hasattr(control, "value"):
                    control.observe(self.refresh, names="value")
        self.refresh()

    def figure(self):
        raise NotImplementedError

    def refresh(self, *_):
        """Redraw the picture from the controls' current values."""
        start = time.perf_counter()
        try:
            png = figure_to_png(self.figure())
        except Exception as e:     # shown in the widget: a callback must not fail silently
            plt.close("all")
            self.status.value = f"error: {type(e).__name__}: {e}"
            return
        self.out.outputs = ()
        self.out.append_display_data(Image(data=png, format="png"))
        self.draw_count += 1
        self.last_draw_seconds = time.perf_counter() - start
        self.status.value = f"drawn #{self.draw_count}"

    @property
    def png(self):
        """The PNG bytes currently shown (for tests)."""
        for item in self.out.outputs:
            data = item.get("data", {})
            if "image/png" in data:
                return base64.b64decode(data["image/png"])
        return None

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def close(self):
        """Close the explorer's widgets (tests call this to free them)."""
        for w in self.controls + [self.out, self.status, self.widget]:
            w.close()


# ============================================================================ lessons 1-3
# (motivation, convolution, pooling explorers go here)


# ============================================================================ lessons 4-5
# (softmax, stability lab, gradient-check and backward-pass explorers go here)


# ============================================================================ lesson 6
# (training dashboard, feature maps, confusion matrix, draw-a-digit go here)
