"""cnnlib as a package: what the wheel carries, and that it works installed outside the checkout.

The fast tests check the files that describe the package (pyproject.toml, the two
requirements files, the sample's location). The slow one builds a wheel from a copy of
the package's sources, installs it into a fresh venv in a temp folder (numpy comes from
PyPI or pip's cache) and runs ``load_mnist()`` and the training CLI from there.
"""
import email
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

import cnnlib
from cnnlib import data

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE_DIR = pathlib.Path(cnnlib.__file__).resolve().parent


def _requirement_lines(path):
    """The requirement lines of a requirements file: no comments, no -e/-r options."""
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("-")]


def _normal(requirements):
    """Requirements in packaging's spelling, so '3.11' and "3.11" in a marker compare equal."""
    from packaging.requirements import Requirement  # pytest depends on packaging

    return {str(Requirement(line)) for line in requirements}


def _pyproject():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_sample_is_package_data():
    assert data.SAMPLE_PATH.is_file()
    assert data.SAMPLE_PATH.resolve().is_relative_to(PACKAGE_DIR)
    package_data = _pyproject()["tool"]["setuptools"]["package-data"]["cnnlib"]
    relative = data.SAMPLE_PATH.resolve().relative_to(PACKAGE_DIR)
    assert any(relative.match(pattern) for pattern in package_data), (relative, package_data)


def test_build_sample_writes_where_the_loader_reads():
    spec = importlib.util.spec_from_file_location("build_sample", ROOT / "resources" / "build_sample.py")
    build_sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_sample)  # defines constants and functions only
    assert build_sample.OUTPUT.resolve() == data.SAMPLE_PATH.resolve()


def test_requirements_match_the_extras():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    lessons = set(project["dependencies"]) | set(extras["lessons"])
    assert _normal(_requirement_lines(ROOT / "requirements.txt")) == _normal(lessons)
    dev_lines = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev_lines
    assert _normal(_requirement_lines(ROOT / "requirements-dev.txt")) == _normal(set(extras["dev"]) - {"cnnlib[lessons]"})
    assert "cnnlib[lessons]" in extras["dev"]
    # Learners and Binder install requirements.txt: no test tool may sneak in there.
    test_tools = {re.split(r"[<>=!~ \[]", line)[0] for line in _requirement_lines(ROOT / "requirements-dev.txt")}
    assert test_tools.isdisjoint(re.split(r"[<>=!~ \[]", line)[0] for line in lessons)


def test_build_requirement_reads_the_spdx_license():
    pyproject = _pyproject()
    assert pyproject["project"]["license"] == "MIT"
    (requirement,) = pyproject["build-system"]["requires"]
    match = re.fullmatch(r"setuptools>=(\d+)", requirement)
    assert match and int(match.group(1)) >= 77, "license = 'MIT' (SPDX) needs setuptools >= 77"
    assert "MIT License" in (ROOT / "LICENSE").read_text()


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_wheel_installs_and_trains_outside_the_checkout(tmp_path):
    # Build from a copy of exactly what the wheel is made of, so no build/ or egg-info
    # folder is written into the checkout (and no stale build/ file can slip in).
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "cnnlib", src / "cnnlib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path / "dist"), str(src)])
    (wheel,) = (tmp_path / "dist").glob("cnnlib-*.whl")

    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(whl.read(metadata_name))
    assert "cnnlib/resources/mnist_sample.npz" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # Every module of the package, subpackages included, is in the wheel.
    modules = {p.relative_to(src).as_posix() for p in (src / "cnnlib").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "resources/"))]
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == _pyproject()["project"]["requires-python"]
    assert set(metadata.get_all("Provides-Extra")) == {"lessons", "dev"}
    requires = metadata.get_all("Requires-Dist")
    assert any(r.startswith("numpy") and "extra" not in r for r in requires)
    assert all(any(r.startswith(name) and 'extra == "lessons"' in r for r in requires)
               for name in ("matplotlib", "ipywidgets", "ipycanvas", "jupyterlab", "ipykernel", "tqdm", "pillow",
                            "threadpoolctl"))

    # A fresh venv with no pip of its own: the running pip installs into it (--python).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)])

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    probe = ("import json, sys, cnnlib\n"
             "from cnnlib.data import SAMPLE_PATH, load_mnist\n"
             "(x, y), (xt, yt) = load_mnist()\n"
             "print(json.dumps({'cnnlib': cnnlib.__file__, 'sample': str(SAMPLE_PATH),\n"
             "                  'shapes': [a.shape for a in (x, y, xt, yt)], 'x_dtype': str(x.dtype),\n"
             "                  'matplotlib': 'matplotlib' in sys.modules}))\n")
    info = json.loads(_run([str(python), "-c", probe], cwd=outside, env=env).stdout)
    site = venv.resolve()
    assert pathlib.Path(info["cnnlib"]).resolve().is_relative_to(site), info
    assert pathlib.Path(info["sample"]).resolve().is_relative_to(site), info
    assert info["shapes"] == [[4000, 28, 28], [4000], [1000, 28, 28], [1000]]
    assert info["x_dtype"] == "uint8" and not info["matplotlib"]

    result = _run([str(python), "-m", "cnnlib", "train", "--model", "seed", "--epochs", "1"], cwd=outside, env=env)
    match = re.search(r"^test accuracy: (0\.\d{4})$", result.stdout, flags=re.MULTILINE)
    assert match, result.stdout
    # One epoch of the seed net on the sample: far above chance (0.1) when the data is right.
    assert float(match.group(1)) > 0.5, result.stdout
    assert sorted(p.name for p in outside.iterdir()) == []  # trained without writing into the cwd
