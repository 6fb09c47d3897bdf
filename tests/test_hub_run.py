"""`./run hub` (run.py): its options, the class's passwords, what it installs (the hub's
requirements once per change, the proxy from npm when missing, a clear message without npm),
the address it prints and what it starts. Fast and offline: pip, npm and jupyterhub are
recorded instead of run."""
import json
import os
import pathlib
import stat

import pytest

from conftest import front_door_copy, load_run_py

FILES = ("run", "run.py", "requirements.txt", "requirements-dev.txt", "requirements-hub.txt", "pyproject.toml")
posix_only = pytest.mark.skipif(os.name == "nt", reason="the hub runs on Linux and macOS servers")


run = load_run_py("run_py_hub")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the front door's files, made run.py's working folder, with no hub settings
    in the environment (the test sets its own)."""
    folder = front_door_copy(tmp_path, monkeypatch, run, FILES)
    # cmd_hub sets some of these for jupyterhub: monkeypatch restores each as it was.
    for name in {"CNNLIB_HUB_IP", "CNNLIB_HUB_PORT", *(n for n in os.environ if n.startswith("CNNLIB_HUB_"))}:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return folder


@pytest.fixture
def started(project, monkeypatch):
    """What `hub` sets up, installs and starts, recorded instead of done; npm is on the PATH,
    and "installing" the proxy makes its file."""
    record = {"setup": [], "hand_over": [], "try": []}
    monkeypatch.setattr(run, "setup", lambda venv, level, python=None, command="setup":
                        record["setup"].append((str(venv), level, command)))
    monkeypatch.setattr(run, "hand_over", lambda argv: record["hand_over"].append([str(a) for a in argv]) or 0)

    def fake_try(argv, **kwargs):
        record["try"].append([str(a) for a in argv])
        if "npm" in pathlib.Path(argv[0]).name:
            proxy = project / run.HUB_PROXY
            proxy.parent.mkdir(parents=True, exist_ok=True)
            proxy.write_text("#!/bin/sh\n")
        return run.subprocess.CompletedProcess(argv, record.get("status", 0))

    monkeypatch.setattr(run, "_try", fake_try)
    monkeypatch.setattr(run.shutil, "which", lambda name: "/usr/bin/npm" if name == "npm" else None)
    (project / ".venv").mkdir()
    return record


JUPYTERHUB = str(pathlib.Path(".venv", "bin", "jupyterhub"))
PYTHON = str(pathlib.Path(".venv", "bin", "python"))
PIP_HUB = [PYTHON, "-m", "pip", "install", "--quiet", "-r", "requirements-hub.txt"]
NPM_PROXY = ["/usr/bin/npm", "install", "--prefix", ".tools", "--no-audit", "--no-fund", "--loglevel=error",
             "configurable-http-proxy@5.3.0"]


@posix_only
def test_hub_installs_what_it_needs_then_starts_jupyterhub_on_loopback(started, project, capsys):
    assert run.main(["hub"]) == 0
    assert started["setup"] == [(".venv", "lessons", "hub")]
    assert started["try"] == [PIP_HUB, NPM_PROXY]
    assert started["hand_over"] == [[JUPYTERHUB, "-f", "classroom/jupyterhub_config.py"]]
    assert os.environ["CNNLIB_HUB_IP"] == "127.0.0.1" and os.environ["CNNLIB_HUB_PORT"] == "8000"
    passwords = json.loads((project / ".hub" / "passwords.json").read_text())
    out = capsys.readouterr().out
    assert "The class's hub: http://127.0.0.1:8000/  (this machine only;" in out
    assert f"the class password: {passwords['class']}" in out
    assert passwords["teacher"] not in out and "password in .hub/passwords.json" in out
    # JupyterHub wants 8 characters or more for the class's, 32 or more for the teacher's.
    assert len(passwords["class"]) >= 8 and len(passwords["teacher"]) >= 32
    assert stat.S_IMODE((project / ".hub" / "passwords.json").stat().st_mode) == 0o600


@posix_only
def test_a_second_start_installs_nothing_and_keeps_the_class_password(started, project, capsys):
    assert run.main(["hub"]) == 0
    first = json.loads((project / ".hub" / "passwords.json").read_text())
    started["try"].clear()
    assert run.main(["hub"]) == 0
    assert started["try"] == []
    assert json.loads((project / ".hub" / "passwords.json").read_text()) == first
    # A changed requirements-hub.txt is installed again.
    (project / "requirements-hub.txt").write_text("jupyterhub>=5.3,<7\n# changed\n")
    assert run.main(["hub"]) == 0
    assert started["try"] == [PIP_HUB]


@posix_only
@pytest.mark.parametrize("text", ["{not json", '{"class": "abcdefgh"}', '["class", "teacher"]'])
def test_a_broken_passwords_file_is_named_and_kept(started, project, capsys, text):
    (project / ".hub").mkdir()
    (project / ".hub" / "passwords.json").write_text(text)
    assert run.main(["hub"]) == 1
    err = capsys.readouterr().err
    assert "passwords.json is not a JSON object with a \"class\" and a \"teacher\" password" in err
    assert "Fix it, or delete it" in err
    assert (project / ".hub" / "passwords.json").read_text() == text
    assert started["hand_over"] == []


@posix_only
def test_the_teacher_passes_an_address_a_port_and_jupyterhub_options(started, capsys):
    assert run.main(["hub", "--ip", "0.0.0.0", "--port=8123", "--debug"]) == 0
    assert (os.environ["CNNLIB_HUB_IP"], os.environ["CNNLIB_HUB_PORT"]) == ("0.0.0.0", "8123")
    assert started["hand_over"] == [[JUPYTERHUB, "-f", "classroom/jupyterhub_config.py", "--debug"]]
    assert "http://THIS-SERVER:8123/  (every address of this server" in capsys.readouterr().out


@posix_only
def test_passwords_given_in_the_environment_are_used_and_not_saved(started, project, monkeypatch, capsys):
    monkeypatch.setenv("CNNLIB_HUB_PASSWORD", "class-7b-2026")
    monkeypatch.setenv("CNNLIB_HUB_ADMIN_PASSWORD", "y" * 40)
    assert run.main(["hub"]) == 0
    out = capsys.readouterr().out
    assert "the class password: class-7b-2026" in out and "password in CNNLIB_HUB_ADMIN_PASSWORD" in out
    assert not (project / ".hub" / "passwords.json").exists()


@posix_only
def test_install_only_installs_and_starts_nothing(started, capsys):
    assert run.main(["hub", "--install-only"]) == 0
    assert started["try"] == [PIP_HUB, NPM_PROXY] and started["hand_over"] == []
    assert "The hub is installed: ./run hub starts it." in capsys.readouterr().out


@posix_only
def test_without_npm_it_says_how_to_get_it(started, monkeypatch, capsys):
    monkeypatch.setattr(run.shutil, "which", lambda name: None)
    assert run.main(["hub"]) == 1
    assert started["hand_over"] == []
    err = capsys.readouterr().err
    assert "configurable-http-proxy, comes from the npm registry, and npm is not" in err
    assert "sudo apt install nodejs npm" in err and "then run ./run hub again" in err


@posix_only
@pytest.mark.parametrize("failing, message", [
    (0, "pip could not install requirements-hub.txt into .venv"),
    (1, "npm could not install configurable-http-proxy@5.3.0 into .tools/"),
])
def test_a_failed_install_stops_and_marks_nothing(started, project, monkeypatch, capsys, failing, message):
    calls = []
    fake = run._try

    def failing_try(argv, **kwargs):
        calls.append(argv)
        if len(calls) - 1 == failing:
            return run.subprocess.CompletedProcess(argv, 1)
        return fake(argv, **kwargs)

    monkeypatch.setattr(run, "_try", failing_try)
    assert run.main(["hub"]) == 1
    assert message in capsys.readouterr().err and started["hand_over"] == []
    assert (project / ".venv" / run.HUB_INSTALLED).exists() == (failing == 1)


@pytest.mark.parametrize("args, message", [
    (["--port", "eighty"], "./run hub --port takes a port number from 1 to 65535 (such as 8000), not 'eighty'."),
    (["--port", "70000"], "not '70000'"),
    (["--ip"], "./run hub --ip needs a value (--ip 127.0.0.1)."),
])
def test_bad_options_say_what_to_give(started, capsys, args, message):
    assert run.main(["hub", *args]) == 2
    assert message in capsys.readouterr().err and started["setup"] == []


def test_hub_is_in_the_help():
    assert "./run hub" in run.help_text("posix") and "requirements-hub.txt" in run.help_text("posix")
