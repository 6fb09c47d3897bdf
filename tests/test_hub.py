"""The classroom hub (classroom/jupyterhub_config.py), started for real on 127.0.0.1: two
students log in, each gets a separate copy of the student edition (built once, never
overwritten), lesson 1 runs in each one's own kernel through their own server, the lesson
itself sets one BLAS thread in a kernel the hub started, nothing listens beyond loopback,
and everything stops (the hub's whole process family is ended in a finally).

Needs requirements-hub.txt and the proxy (`./run hub --install-only` installs both); without
them it skips and says so. With CNNLIB_REQUIRE_HUB=1 (set by .ci/run, which installs them
first) it fails instead, so CI cannot quietly skip it.
"""
import importlib.util
import ipaddress
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
REQUIRE_ENV = "CNNLIB_REQUIRE_HUB"
INSTALL = "./run hub --install-only"
FIRST_LESSON = "01_motivation.ipynb"
# Printed by the kernel: the BLAS thread counts threadpoolctl sees.
BLAS_THREADS = ("import numpy\nfrom threadpoolctl import threadpool_info\n"
                "print([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'])")
ENVIRONMENT = "import os; print(os.environ.get('OPENBLAS_NUM_THREADS', 'unset'))"


def _load_client():
    """classroom/hubclient.py, or the reason it cannot be used here."""
    try:
        spec = importlib.util.spec_from_file_location("hubclient", ROOT / "classroom" / "hubclient.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except ImportError as error:
        return None, f"{error.name} is not installed: {INSTALL} installs what the hub needs"
    missing = module.missing_pieces()
    if missing:
        return None, f"{missing[0][0]} is not installed: {missing[0][1]} installs it"
    return module, None


hubclient, MISSING = _load_client()
# All of them need the hub installed, which only the project's .venv has (`./run test-pythons`
# runs the tests that are not slow on venvs without it).
pytestmark = pytest.mark.slow


@pytest.fixture
def client():
    if MISSING:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set but {MISSING}")
        pytest.skip(MISSING)
    return hubclient


def _solved(student, name):
    """The student's finished lesson (the teacher edition, with my_cnn.py) saved into
    finished/ of their folder through their own server, so Run All runs every exercise."""
    student.upload(ROOT / "notebooks" / "my_cnn.py", "finished/my_cnn.py")
    student.upload(ROOT / "notebooks" / name, f"finished/{name}")
    return f"finished/{name}"


def _listening(processes):
    """(process name, address) of every listening TCP socket of these processes."""
    found = []
    for proc in processes:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == "LISTEN":
                    found.append((proc.name(), conn.laddr.ip))
        except Exception:  # the process ended meanwhile
            continue
    return found


def test_two_students_get_their_own_copies_and_run_lesson_1(client, tmp_path):
    start = time.monotonic()
    state = tmp_path / "hub"
    expected = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    hub = client.Hub(state, auth="dummy", mem="1.5G")
    with hub:
        students = [client.Student(hub.url, name) for name in ("ada", "grace")]
        for student in students:
            assert student.login() < 30
            student.start_server()
            latency, notebook = student.open_notebook(f"my-work/{FIRST_LESSON}")
            assert notebook["cells"], "the student's lesson 1 opened empty"

        # Each has a copy of their own: the student edition (no answers), in their own folder.
        homes = [state / "home" / s.name for s in students]
        for home in homes:
            copy = home / "my-work"
            assert sorted(p.name for p in copy.glob("*.ipynb")) == expected
            assert (copy / ".student-edition.json").is_file()
            text = (copy / FIRST_LESSON).read_text()
            assert "# BEGIN SOLUTION" not in text and "Exercise: write your code here" in (copy / "my_cnn.py").read_text()
            assert (home / "docs" / "NOTATION.md").is_file()   # the lessons' ../docs/ links resolve
        assert homes[0].resolve() != homes[1].resolve()
        # ... and what one saves stays in their folder.
        students[0].upload(ROOT / "notebooks" / "my_cnn.py", "only-ada/my_cnn.py")
        assert (homes[0] / "only-ada" / "my_cnn.py").is_file() and not (homes[1] / "only-ada").exists()

        # Lesson 1, Run All, in each student's own kernel. The hub passes no BLAS setting:
        # the kernel starts with every core's thread, and the lesson's first cell sets one.
        kernel_pids = []
        for student in students:
            path = _solved(student, FIRST_LESSON)
            _, notebook = student.open_notebook(path)
            kernel = student.kernel(path)
            try:
                env, errors = kernel.execute(ENVIRONMENT)
                assert not errors and "".join(env).strip() == "unset"
                before, errors = kernel.execute(BLAS_THREADS)
                assert not errors
                threads_before = json.loads("".join(before))
                assert threads_before and all(n == os.cpu_count() for n in threads_before), threads_before
                seconds, errors, probe = kernel.run_all(notebook, after_first=BLAS_THREADS, timeout=120)
                assert errors == [], errors
                assert json.loads("".join(probe)) == [1] * len(threads_before)
                pid = kernel.pid()
                kernel_pids.append(pid)
                # The kernel runs in the student's own finished/ folder, as the hub's child.
                assert any(p.pid == pid for p in hub.processes())
            finally:
                kernel.close()
        assert len(set(kernel_pids)) == 2

        # Loopback only: the proxy, the hub and every student's server.
        listening = _listening(hub.processes())
        assert len(listening) >= 4, listening   # proxy (public and API), hub, two servers
        assert all(ipaddress.ip_address(ip).is_loopback for _, ip in listening), listening

        # Never overwritten: ada's edit survives her server's restart.
        lesson = homes[0] / "my-work" / FIRST_LESSON
        lesson.write_text(lesson.read_text().replace('"cells": [', '"cells": [{"cell_type": "markdown", '
                                                     '"id": "mine", "metadata": {}, "source": "ADA 1815"},', 1))
        edited = lesson.read_text()
        student = students[0]
        stopped = client.requests.delete(f"{hub.url}/hub/api/users/ada/server", headers=student._headers(), timeout=60)
        assert stopped.status_code in (202, 204), stopped.text
        deadline = time.monotonic() + 60
        while client.requests.get(f"{hub.url}/hub/api/users/ada", headers=student._headers(),
                                  timeout=30).json()["servers"]:
            assert time.monotonic() < deadline, "ada's server did not stop"
            time.sleep(0.3)
        student.start_server()
        assert lesson.read_text() == edited
        family = [p.pid for p in hub.processes()]
    # Everything stopped: nothing of the hub's family is left.
    time.sleep(0.5)
    left = [pid for pid in family if _alive(pid)]
    assert left == [], f"processes left behind: {left}"
    assert time.monotonic() - start < 180   # about a minute here; room for a busy CI machine


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended: it only waits for its parent to read its status.
    status = pathlib.Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))


# ---------------------------------------------------------------- the configuration alone

def _config(monkeypatch, tmp_path, **env):
    """classroom/jupyterhub_config.py as JupyterHub loads it, with these CNNLIB_HUB_* settings."""
    from traitlets.config import PyFileConfigLoader
    for name in [n for n in os.environ if n.startswith("CNNLIB_HUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CNNLIB_HUB_STATE", str(tmp_path / "hub"))
    for name, value in env.items():
        monkeypatch.setenv(f"CNNLIB_HUB_{name}", value)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(ROOT / "classroom")).load_config()


def test_the_defaults_suit_a_class_on_this_machine_only(client, monkeypatch, tmp_path):
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "passwords.json").write_text('{"class": "board-2026", "teacher": "%s"}' % ("t" * 32))
    c = _config(monkeypatch, tmp_path)
    assert c.JupyterHub.ip == "127.0.0.1" and c.JupyterHub.port == 8000
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == "board-2026"   # as ./run hub saved them
    assert c.SharedPasswordAuthenticator.admin_password == "t" * 32
    assert c.Authenticator.admin_users == {"teacher"}
    assert c.Spawner.mem_limit == 1.5 * 1024 ** 3 and c.Spawner.cpu_limit == 1.0
    assert c.Spawner.default_url == "/lab/tree/my-work/01_motivation.ipynb"
    assert c.ClassroomSpawner.home_dir_template == str(tmp_path / "hub" / "home" / "{username}")
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path / 'hub' / 'jupyterhub.sqlite'}"
    assert "OPENBLAS_NUM_THREADS" not in c.Spawner.env_keep   # the lessons set it themselves
    assert "OPENBLAS_CORETYPE" in c.Spawner.env_keep
    assert "CNNLIB_HUB_PASSWORD" not in c.Spawner.env_keep


def test_the_teacher_chooses_address_people_and_limits(client, monkeypatch, tmp_path):
    roster = tmp_path / "class.txt"
    roster.write_text("# 7B\nada\n grace \n\n")
    c = _config(monkeypatch, tmp_path, IP="0.0.0.0", PORT="8123", TEACHER="ms-lovelace", ROSTER=str(roster),
                PASSWORD="class-of-2026", ADMIN_PASSWORD="x" * 32, MEM="700M", CPU="0.5")
    assert (c.JupyterHub.ip, c.JupyterHub.port) == ("0.0.0.0", 8123)
    assert c.Authenticator.admin_users == {"ms-lovelace"}
    assert c.SharedPasswordAuthenticator.user_password == "class-of-2026"
    assert c.Authenticator.allowed_users == {"ada", "grace"}
    assert c.Spawner.mem_limit == 700 * 1024 ** 2 and c.Spawner.cpu_limit == 0.5


@pytest.mark.parametrize("name, value, message", [
    ("AUTH", "github", "CNNLIB_HUB_AUTH is 'github'; use shared"),
    ("PASSWORD", "", "no class password: set CNNLIB_HUB_PASSWORD"),
    ("MEM", "lots", "CNNLIB_HUB_MEM is 'lots'; give a size such as 1.5G or 800M"),
    ("PORT", "eighty", "CNNLIB_HUB_PORT is 'eighty'; give a port number such as 8000"),
])
def test_a_wrong_setting_is_named_with_what_to_give(client, monkeypatch, tmp_path, name, value, message):
    with pytest.raises(ValueError, match=message):
        _config(monkeypatch, tmp_path, **{"PASSWORD": "class-of-2026", "ADMIN_PASSWORD": "x" * 32, name: value})


def test_the_tests_login_never_listens_beyond_loopback(client, monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="CNNLIB_HUB_AUTH=dummy lets anyone in, so it listens on 127.0.0.1 only"):
        _config(monkeypatch, tmp_path, AUTH="dummy", IP="0.0.0.0")
