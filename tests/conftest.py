"""Shared test set-up: a headless matplotlib, one BLAS thread, a private IPython dir, tidy figures."""
import importlib.util
import os
import pathlib
import shutil
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


def load_run_py(module_name):
    """run.py (the front door, a script outside any package) loaded as a module."""
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def front_door_copy(tmp_path, monkeypatch, run, files):
    """Copy ``files`` of the project into ``tmp_path/project`` and make it run.py's working
    folder and ROOT (monkeypatch restores both after the test, whatever main() did)."""
    folder = tmp_path / "project"
    folder.mkdir()
    for name in files:
        shutil.copy2(ROOT / name, folder / name)
    monkeypatch.chdir(folder)
    monkeypatch.setattr(run, "ROOT", folder)
    return folder


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
