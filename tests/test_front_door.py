"""The front door, `./run`: the README's first command really starts JupyterLab on the
learner's own copy of the lessons (my-work/, made once and never overwritten) or, with
--solutions, on the teacher edition; and setting up `.venv` installs each level once and
says what to do when it cannot."""
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import load_run_py

ROOT = pathlib.Path(__file__).resolve().parent.parent
# What `./run setup` reads: a temp copy of these is a project of its own for these tests.
FRONT_DOOR_FILES = ("run", "run.py", "requirements.txt", "requirements-dev.txt", "pyproject.toml")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def _copy_lessons_project(tmp_path):
    """A copy of what `./run lessons` and `./run student` use, sharing this project's .venv,
    so the learner's my-work/ is made in the copy and never in the real project."""
    _venv_is_up_to_date()
    project = tmp_path / "project"
    project.mkdir()
    for name in FRONT_DOOR_FILES:
        shutil.copy2(ROOT / name, project / name)
    for folder, pattern in (("scripts", "*.py"), ("docs", "*.md"), ("notebooks", "*.ipynb"), ("notebooks", "*.py")):
        (project / folder).mkdir(exist_ok=True)
        for path in (ROOT / folder).glob(pattern):
            shutil.copy2(path, project / folder / path.name)
    (project / ".venv").symlink_to(ROOT / ".venv")
    return project


def _venv_is_up_to_date():
    """The copy shares .venv, so `./run` there must find nothing to install: with a stale
    .venv it would `pip install` the copy's requirements (the copy itself, editable) into
    the real one, and the lessons would then import cnnlib from a deleted temp folder."""
    run_py = load_run_py("run_py_for_front_door")
    installed, wanted = run_py.read_installed(ROOT / ".venv"), run_py.requirement_hashes(ROOT)
    if installed.get("lessons") != wanted["lessons"]:
        pytest.fail(".venv was installed from other requirement files than this checkout's: run "
                    "`./run setup dev` first (sharing a stale .venv would let the copy reinstall into it)")


def _serve_lessons(project, tmp_path, *args):
    """Start `./run lessons ARGS` in ``project``, wait until JupyterLab answers, check that it
    serves the page it opens (the notebook and its /lab/tree address), stop it, and return
    what it printed and that page's path."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"))
    proc = subprocess.Popen(
        [str(project / "run"), "lessons", *args, "--no-browser", "--ip", "127.0.0.1", f"--port={port}",
         f"--ServerApp.token={token}", "--ServerApp.port_retries=0"],
        cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"./run lessons exited with {proc.returncode}:\n{proc.stdout.read().decode()[-2000:]}")
            try:
                status, _ = _get(f"{base}/api/status?token={token}")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("./run lessons did not answer within 90 s")
                time.sleep(0.5)
        assert status == 200
        # The address it prints for the learner to open is lesson 1, not the Launcher.
        folder = "notebooks" if "--solutions" in args else "my-work"
        page = f"{folder}/01_motivation.ipynb"
        status, body = _get(f"{base}/api/contents/{page}?content=0&token={token}")
        assert status == 200 and json.loads(body)["type"] == "notebook"
        status, html = _get(f"{base}/lab/tree/{page}?token={token}")
        assert status == 200 and b"JupyterLab" in html
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    printed = proc.stdout.read().decode()
    assert f"{base}/lab/tree/{page}?token=" in printed, printed[-2000:]
    return printed


needs_jupyter = pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "jupyter").exists(),
                                   reason="./run lessons uses the project's .venv; create it with ./run setup")


@needs_jupyter
def test_run_lessons_makes_my_work_once_and_keeps_the_learners_edits(tmp_path):
    project = _copy_lessons_project(tmp_path)
    my_work = project / "my-work"
    printed = _serve_lessons(project, tmp_path)
    # The first run made the student edition there: every lesson, no answers, the build's marker.
    assert "Making your own copy of the lessons in my-work/" in printed
    assert sorted(p.name for p in my_work.glob("*.ipynb")) == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    assert (my_work / ".student-edition.json").is_file()
    lesson = my_work / "01_motivation.ipynb"
    assert "# BEGIN SOLUTION" not in lesson.read_text() and "# BEGIN SOLUTION" in (project / "notebooks" / lesson.name).read_text()
    # The lessons' links to ../docs/ resolve from my-work/ as from notebooks/.
    assert "../docs/NOTATION.md" in lesson.read_text() and (my_work / "../docs/NOTATION.md").is_file()

    # A learner works in lesson 1; nothing below may change it.
    edited = lesson.read_text().replace('"cells": [', '"cells": [{"cell_type": "markdown", "id": "mine", '
                                        '"metadata": {}, "source": "MY OWN NOTES 5821"},', 1)
    lesson.write_text(edited)
    assert "MY OWN NOTES 5821" in lesson.read_text()

    student = _run(project, "student")             # the handout build goes to student/, not my-work/
    assert student.returncode == 0, student
    assert (project / "student" / lesson.name).is_file()
    over = _run(project, "student", "--out", "my-work")   # and refuses to overwrite the learner's edit
    assert over.returncode == 1 and "my-work/01_motivation.ipynb has changed" in over.stderr, over
    assert _run(project, "student", "--out", "notebooks").returncode == 1
    assert lesson.read_text() == edited

    # The teacher updates a lesson: the second run keeps my-work/ as it is and says how to get a fresh copy.
    teacher = project / "notebooks" / "02_convolution.ipynb"
    teacher.write_text(teacher.read_text().replace("Notation", "Notation (updated)", 1))
    printed = _serve_lessons(project, tmp_path)
    assert lesson.read_text() == edited
    assert "Making your own copy" not in printed
    notes = [line for line in printed.splitlines() if "lessons were updated" in line]
    assert len(notes) == 1 and "02_convolution.ipynb" in notes[0] and "./run student --out my-work-2" in notes[0], printed
    assert not (project / "my-work-2").exists()


@needs_jupyter
def test_run_lessons_solutions_serves_the_teacher_edition(tmp_path):
    project = _copy_lessons_project(tmp_path)
    _serve_lessons(project, tmp_path, "--solutions")
    assert not (project / "my-work").exists()   # the teacher edition needs no copy


def test_my_work_says_nothing_when_the_lessons_did_not_change(tmp_path):
    project = _copy_lessons_project(tmp_path)
    build = [str(project / ".venv" / "bin" / "python"), str(project / "scripts" / "build_student_edition.py")]
    subprocess.run([*build, "--out", str(project / "my-work")], check=True, capture_output=True, timeout=120)
    # A re-run of one lesson into the same folder keeps what the others were built from.
    subprocess.run([*build, "--out", str(project / "my-work"), str(project / "notebooks" / "01_motivation.ipynb")],
                   check=True, capture_output=True, timeout=120)
    quiet = subprocess.run([*build, "--outdated", str(project / "my-work")], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    # Re-running a lesson changes its outputs and run metadata, not what students get: still quiet.
    lesson = project / "notebooks" / "03_pooling.ipynb"
    nb = json.loads(lesson.read_text())
    for cell in (c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["outputs"], cell["execution_count"] = [], None
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.99"}
    lesson.write_text(json.dumps(nb, indent=1))
    quiet = subprocess.run([*build, "--outdated", str(project / "my-work")], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stdout == "", quiet
    (project / "notebooks" / "01_motivation.ipynb").unlink()
    (project / "notebooks" / "07_new.ipynb").write_text((project / "notebooks" / "02_convolution.ipynb").read_text())
    note = subprocess.run([*build, "--outdated", str(project / "my-work")], capture_output=True, text=True, timeout=120)
    assert note.returncode == 0 and "(07_new.ipynb)" in note.stdout, note


def _copy_front_door(tmp_path):
    _venv_is_up_to_date()
    project = tmp_path / "project"
    project.mkdir()
    for name in FRONT_DOOR_FILES:
        shutil.copy2(ROOT / name, project / name)
    return project


def _script(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def _run(project, *args, **env):
    return subprocess.run([str(project / "run"), *args], cwd=project, env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=120)


def _assert_says_what_to_do(result, venv):
    assert result.returncode == 1, result
    assert "No module named pip" not in result.stderr
    assert "no pip" in result.stderr
    assert "sudo apt install python3-venv" in result.stderr
    assert f"rm -rf {venv}" in result.stderr


def test_venv_without_pip_says_what_to_do(tmp_path):
    # What `python3 -m venv .venv` leaves on Debian/Ubuntu without python3-venv: a python, no pip.
    project = _copy_front_door(tmp_path)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(project / ".venv")], check=True)
    for command in ("setup", "lessons", "train"):
        result = _run(project, command)
        _assert_says_what_to_do(result, ".venv")
        assert f"./run {command}" in result.stderr
    assert not (project / ".venv" / ".installed").exists()


def test_failed_venv_creation_says_what_to_do(tmp_path):
    # A python3 whose `-m venv` fails half-way, as Debian's does without python3-venv.
    project = _copy_front_door(tmp_path)
    python = _script(tmp_path / "bin" / "python3", f"""#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
    "{sys.executable}" -m venv --without-pip "$3"
    echo "The virtual environment was not created successfully because ensurepip is not available." >&2
    exit 1
fi
exec "{sys.executable}" "$@"
""")
    result = _run(project, "setup", PYTHON=str(python))
    _assert_says_what_to_do(result, ".venv")
    assert "ensurepip is not available" in result.stderr  # Python's own words come first


def test_too_old_python_is_named(tmp_path):
    project = _copy_front_door(tmp_path)
    python = _script(tmp_path / "bin" / "python3", """#!/bin/sh
[ "$1" = --version ] && echo "Python 3.8.18" && exit 0
exit 1
""")
    result = _run(project, "setup", PYTHON=str(python))
    assert result.returncode == 1
    assert "Python 3.8.18 is too old" in result.stderr and "3.10 or newer" in result.stderr
    assert not (project / ".venv").exists()


def test_setup_installs_each_level_once(tmp_path):
    project = _copy_front_door(tmp_path)
    log = tmp_path / "pip.log"
    # A venv whose python records what it is asked to do and succeeds.
    _script(project / ".venv" / "bin" / "python", f'#!/bin/sh\necho "$*" >> "{log}"\n')

    def installs(*args):
        before = log.read_text().splitlines() if log.exists() else []
        result = _run(project, "setup", *args)
        assert result.returncode == 0, result
        after = log.read_text().splitlines() if log.exists() else []
        return [line.split(" -r ")[1] for line in after[len(before):] if " -r " in line]

    assert installs() == ["requirements.txt"]
    assert installs() == []
    assert installs("dev") == ["requirements-dev.txt"]  # the tests after the lessons
    assert installs() == []  # requirements-dev.txt includes requirements.txt
    assert installs("dev") == []
    with (project / "requirements-dev.txt").open("a") as f:
        f.write("# changed\n")
    assert installs() == []  # the lessons' files did not change
    assert installs("dev") == ["requirements-dev.txt"]
    with (project / "requirements.txt").open("a") as f:
        f.write("# changed\n")
    assert installs() == ["requirements.txt"]
    assert installs("dev") == ["requirements-dev.txt"]
    assert _run(project, "setup", "everything").returncode == 2
