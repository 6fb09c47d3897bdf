"""Shared test set-up: a headless matplotlib, a private IPython dir, and tidy figures."""
import os
import pathlib
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# One BLAS thread for this process and the notebook kernels it starts (they inherit the
# environment): at our matrix sizes a second thread gains nothing, and with pytest -n 2 on
# two cores, threads fighting for the cores made products up to 50x slower.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# ipywidgets' Output.append_display_data starts an IPython shell, which writes ~/.ipython.
os.environ.setdefault("IPYTHONDIR", tempfile.mkdtemp(prefix="cnnlib-ipython-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

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
