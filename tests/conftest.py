"""Shared test set-up: a headless matplotlib, one BLAS thread, a private IPython dir, tidy figures."""
import os
import pathlib
import tempfile

# One BLAS thread for this process and the notebook kernels it starts (they inherit the
# environment): at our matrix sizes a second thread gains nothing, and with pytest -n 2 on
# two cores, threads fighting for the cores made products up to 50x slower.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# ipywidgets' Output.append_display_data starts an IPython shell, which writes ~/.ipython.
os.environ.setdefault("IPYTHONDIR", tempfile.mkdtemp(prefix="cnnlib-ipython-"))

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# A headless backend for this process only. Not through MPLBACKEND: the nbval kernels
# inherit our environment, and with MPLBACKEND set ipykernel keeps that backend instead of
# its inline one, so plt.show() would store no picture and the stored outputs would differ.
matplotlib.use("Agg")

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture
def close_after():
    """Register widgets (explorers, dashboards) to be closed after the test; closing a
    dashboard also stops and joins its training thread."""
    made = []
    yield made.append
    for widget in made:
        widget.close()
