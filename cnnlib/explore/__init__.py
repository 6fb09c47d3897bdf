"""The upper floor: everything that draws or explains (pictures, explorers, exercise checks,
digit preprocessing, model analysis). It imports the NumPy core; the core never imports it.

May import: numpy, matplotlib, Pillow, ipywidgets, ipycanvas, IPython and :mod:`cnnlib`.

One module per topic, not per lesson:

===================  ==========================================================
``picture``          the Picture base class: build a figure once, update it, PNG
``explorer``         the Explorer base class: controls + picture in a widget
===================  ==========================================================

The lessons import what they show from here: ``from cnnlib.explore import plot_pooling``.
"""
from cnnlib.explore.explorer import Explorer
from cnnlib.explore.picture import Picture, figure_to_png

__all__ = ["Explorer", "Picture", "figure_to_png"]
