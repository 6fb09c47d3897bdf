"""run.py, the front door's logic, on this machine and (where a path or a word differs) as on
Windows: which handler each command reaches and what it starts, venv's layout on both systems,
the messages that say what to do, and that ``./run`` is only a way to start ``run.py``.
Fast and offline: the venvs and Pythons here are small shell scripts, and nothing is installed."""
import ast
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import pytest

from conftest import front_door_copy, load_run_py

ROOT = pathlib.Path(__file__).resolve().parent.parent
FRONT_DOOR_FILES = ("run", "run.py", "requirements.txt", "requirements-dev.txt", "pyproject.toml")
posix_only = pytest.mark.skipif(os.name == "nt", reason="drives ./run and sh scripts")


run = load_run_py("run_py")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the front door's files, made run.py's working folder (main() goes there)."""
    return front_door_copy(tmp_path, monkeypatch, run, FRONT_DOOR_FILES)


def _script(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def _fake_venv(project, python_text):
    """A venv whose python is ``python_text`` (sh), set up as if both levels were installed."""
    python = _script(run.venv_program(project / ".venv", "python"), python_text)
    hashes = run.requirement_hashes(project)
    (project / ".venv" / ".installed").write_text(f"lessons {hashes['lessons']}\ndev {hashes['dev']}\n")
    return python


def _run(project, *args, **env):
    return subprocess.run([str(project / "run"), *args], cwd=project, env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------- dispatch

@pytest.fixture
def started(project, monkeypatch):
    """What the commands set up and start, recorded instead of done."""
    record = {"setup": [], "hand_over": [], "call": []}
    monkeypatch.setattr(run, "setup", lambda venv, level, python=None, command="setup":
                        record["setup"].append((str(venv), level, command)))
    monkeypatch.setattr(run, "hand_over", lambda argv: record["hand_over"].append([str(a) for a in argv]) or 0)
    monkeypatch.setattr(run, "call", lambda argv: record["call"].append([str(a) for a in argv]) or 0)
    monkeypatch.setattr(run, "browser", lambda: None)
    return record


def test_every_command_in_the_help_has_a_handler_and_no_other():
    listed = {usage.split()[0] for usage, _ in run.USAGE}
    assert listed | {"help"} == set(run.COMMANDS)
    for name in listed:
        assert f"  ./run {name}" in run.help_text("posix")
        assert f"  py run.py {name}" in run.help_text("nt")


PYTHON = str(pathlib.Path(".venv", "bin", "python"))


@posix_only
@pytest.mark.parametrize("argv, level, started_argv", [
    (["train", "--model", "seed"], "lessons", [PYTHON, "-m", "cnnlib", "train", "--model", "seed"]),
    (["student", "--out", "hand-out"], "lessons", [PYTHON, "scripts/build_student_edition.py", "--out", "hand-out"]),
    (["notebooks", "notebooks/02_convolution.ipynb"], "dev",
     [PYTHON, "scripts/run_notebooks.py", "notebooks/02_convolution.ipynb"]),
    (["test", "-k", "conv"], "dev",
     [PYTHON, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-rs", "--nbval", "--nbval-current-env",
      "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "tests", "cnnlib", "notebooks", "-k", "conv"]),
])
def test_each_command_sets_up_its_level_then_starts_its_program(started, argv, level, started_argv):
    assert run.main(argv) == 0
    assert started["setup"] == [(".venv", level, argv[0])]
    assert started["hand_over"] == [started_argv]


@posix_only
@pytest.mark.parametrize("args, folder, interface_args", [
    ([], "my-work", ["lab", "--LabApp.default_url=/lab/tree/my-work/01_motivation.ipynb"]),
    (["--solutions"], "notebooks", ["lab", "--LabApp.default_url=/lab/tree/notebooks/01_motivation.ipynb"]),
    (["--notebook"], "my-work", ["notebook", "--JupyterNotebookApp.default_url=/notebooks/my-work/01_motivation.ipynb"]),
    (["--solutions", "--notebook"], "notebooks",
     ["notebook", "--JupyterNotebookApp.default_url=/notebooks/notebooks/01_motivation.ipynb"]),
])
def test_lessons_opens_lesson_1_in_the_interface_asked_for(started, project, args, folder, interface_args):
    for name in ("notebooks", "my-work"):
        (project / name).mkdir()
        (project / name / "01_motivation.ipynb").write_text("{}")
    assert run.main(["lessons", *args, "--no-browser", "--port=9"]) == 0
    assert started["setup"] == [(".venv", "lessons", "lessons")]
    jupyter = str(pathlib.Path(".venv", "bin", "jupyter"))
    [interface, default_url] = interface_args
    assert started["hand_over"] == [[jupyter, interface, f"--notebook-dir={project}", default_url,
                                     *run.as_root_args(), "--no-browser", "--port=9"]]
    # my-work/ exists, so it is only checked against the lessons (a note), never rebuilt.
    build = [PYTHON, "scripts/build_student_edition.py", "--outdated", "my-work"]
    assert started["call"] == ([build] if folder == "my-work" else [])


@posix_only
def test_lessons_builds_my_work_once_and_stops_if_the_build_fails(started, project, monkeypatch, capsys):
    monkeypatch.setattr(run, "call", lambda argv: started["call"].append([str(a) for a in argv]) or 3)
    assert run.main(["lessons"]) == 3     # the build's own status; the server is not started
    assert started["call"] == [[PYTHON, "scripts/build_student_edition.py", "--out", "my-work"]]
    assert started["hand_over"] == []
    assert "Making your own copy of the lessons in my-work/" in capsys.readouterr().out


def test_a_folder_without_lesson_1_opens_as_a_folder():
    assert run.lessons_argv("my-work", "lab", root=pathlib.Path("/p"))[3] == "--LabApp.default_url=/lab/tree/my-work"
    assert run.lessons_argv("my-work", "notebook", root=pathlib.Path("/p"))[3] == \
        "--JupyterNotebookApp.default_url=/tree/my-work"


@pytest.mark.parametrize("argv", [["setup"], ["setup", "dev"]])
def test_setup_command_sets_up_the_level_named(started, argv):
    assert run.main(argv) == 0
    assert started["setup"] == [(".venv", argv[1] if len(argv) > 1 else "lessons", "setup")]
    assert started["hand_over"] == []


def test_unknown_setup_level_is_refused_with_exit_2(started, capsys):
    assert run.main(["setup", "everything"]) == 2
    assert run.run_command() + " setup takes 'dev' or nothing, not 'everything'." in capsys.readouterr().err
    assert started["setup"] == []


@pytest.mark.parametrize("argv", [[], ["help"], ["--help"], ["-h"]])
def test_help_prints_every_command(started, capsys, argv):
    assert run.main(argv) == 0
    assert capsys.readouterr().out == run.help_text() + "\n"
    assert started["setup"] == []


def test_unknown_command_exits_2_with_the_help(started, capsys):
    assert run.main(["lesson"]) == 2
    printed = capsys.readouterr()
    assert printed.out == run.help_text() + "\n"
    assert "has no command 'lesson'" in printed.err
    assert started["setup"] == [] and started["hand_over"] == []


def test_one_blas_thread_unless_the_user_chose(started, monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    run.main(["help"])
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    run.main(["help"])
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"


def test_full_mnist_beside_the_project_is_found_unless_named(project, monkeypatch):
    monkeypatch.delenv("CNNLIB_DATA_DIR", raising=False)
    run.full_mnist()
    assert "CNNLIB_DATA_DIR" not in os.environ      # nothing beside this copy
    beside = project / run.SHARED_MNIST
    beside.mkdir(parents=True)
    run.full_mnist()
    assert pathlib.Path(os.environ["CNNLIB_DATA_DIR"]).resolve() == beside.resolve()
    monkeypatch.setenv("CNNLIB_DATA_DIR", "/elsewhere")
    run.full_mnist()
    assert os.environ["CNNLIB_DATA_DIR"] == "/elsewhere"


# ---------------------------------------------------------------- ./run is only a way in

@posix_only
def test_run_help_equals_python_run_py_help():
    wrapper = subprocess.run([str(ROOT / "run"), "help"], capture_output=True, text=True, timeout=30)
    direct = subprocess.run([sys.executable, str(ROOT / "run.py"), "help"], capture_output=True, text=True,
                            timeout=30, cwd="/")
    assert wrapper.returncode == direct.returncode == 0
    assert wrapper.stdout == direct.stdout and "./run lessons" in wrapper.stdout
    assert wrapper.stderr == direct.stderr == ""


@posix_only
def test_run_passes_arguments_and_exit_status_through(tmp_path):
    wrapper = subprocess.run([str(ROOT / "run"), "nonsense", "a b"], capture_output=True, text=True, timeout=30)
    assert wrapper.returncode == 2 and "has no command 'nonsense'" in wrapper.stderr
    # No python3 on the PATH: $PYTHON runs run.py.
    bin_dir = _script(tmp_path / "bin" / "mypython", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n').parent
    for tool in ("dirname",):
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = {"PATH": str(bin_dir), "PYTHON": "mypython"}
    via_python = subprocess.run(["/bin/sh", str(ROOT / "run"), "help"], capture_output=True, text=True,
                                timeout=30, env=env)
    assert via_python.returncode == 0 and "./run lessons" in via_python.stdout, via_python
    nothing = subprocess.run(["/bin/sh", str(ROOT / "run"), "lessons"], capture_output=True, text=True,
                             timeout=30, env={"PATH": str(bin_dir)})
    assert nothing.returncode == 1 and "No python3 found" in nothing.stderr and "PYTHON=" in nothing.stderr


# ---------------------------------------------------------------- venv's layout, both systems

@pytest.mark.parametrize("os_name, folder, suffix", [("nt", "Scripts", ".exe"), ("posix", "bin", "")])
def test_venv_layout(os_name, folder, suffix):
    for name in ("python", "jupyter"):
        assert run.venv_program(pathlib.Path(".venv"), name, os_name) == pathlib.Path(".venv", folder, name + suffix)
    # The same folder as venv's own scheme for that system (Python 3.11+ names them).
    scheme = {"nt": "nt_venv", "posix": "posix_venv"}[os_name]
    if scheme not in sysconfig.get_scheme_names():
        pytest.skip(f"this Python has no {scheme} scheme")
    assert run.venv_program("V", "python", os_name).parent == pathlib.Path(
        sysconfig.get_path("scripts", scheme, vars={"base": "V"}))


def test_this_systems_layout_is_the_one_venv_makes(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "v")], check=True, timeout=60)
    assert run.venv_program(tmp_path / "v", "python").is_file()


# ---------------------------------------------------------------- messages

@posix_only
def test_grade_on_a_python_too_old_for_nbgrader_says_what_to_do(project):
    _fake_venv(project, '#!/bin/sh\ncase "$1" in --version) echo "Python 3.10.13";; -c) exit 1;; esac\n')
    result = _run(project, "grade", "submissions")
    assert result.returncode == 1
    assert "./run grade uses nbgrader 0.9, which needs Python 3.11 or newer; .venv has" in result.stderr
    assert "Python 3.10.13" in result.stderr
    assert "PYTHON=python3.11 ./run grade DIR there (the lessons themselves run on 3.10)" in result.stderr


def test_grade_words_on_windows():
    assert run.name_a_python("3.11", "grade DIR", "nt") == "py -3.11 run.py grade DIR"
    assert run.name_a_python("3.11", "grade DIR", "posix") == "PYTHON=python3.11 ./run grade DIR"


def test_nbgrader_pin_is_installed_without_its_marker(tmp_path):
    requirements = tmp_path / "requirements-dev.txt"
    requirements.write_text('pytest>=8\n# nbgrader for grading\nnbgrader>=0.9.6,<0.10; python_version >= "3.11"\n')
    assert run.nbgrader_pin(requirements) == "nbgrader>=0.9.6,<0.10"
    requirements.write_text("pytest>=8\n")
    with pytest.raises(run.Stop, match="names no nbgrader version"):
        run.nbgrader_pin(requirements)


@posix_only
def test_a_python_that_is_not_there_is_named(project):
    result = _run(project, "setup", PYTHON="no-such-python3.99")
    assert result.returncode == 1
    assert "No 'no-such-python3.99' found. Install Python 3.10 or newer" in result.stderr
    assert "PYTHON=/path/to/python3 ./run setup" in result.stderr
    assert not (project / ".venv").exists()


def test_naming_a_python_on_windows_uses_the_py_launcher():
    assert run.name_a_python_path("lessons", "nt").startswith("py -3.X run.py lessons")
    assert run.name_a_python_path("lessons", "posix") == "PYTHON=/path/to/python3 ./run lessons"


def test_no_pip_on_windows_says_what_to_do_there():
    lines = "\n".join(run.no_pip(".venv", "lessons", "nt").lines)
    assert "no pip" in lines and "Remove-Item -Recurse -Force .venv" in lines and "py run.py lessons" in lines
    assert "apt" not in lines and "rm -rf" not in lines and "./run" not in lines


@posix_only
@pytest.mark.skipif(not pathlib.Path(os.path.expanduser("~/.pyenv/versions/3.8.18/bin/python3")).exists(),
                    reason="needs pyenv's Python 3.8.18")
def test_run_py_on_an_old_python3_says_it_is_too_old(project):
    old = os.path.expanduser("~/.pyenv/versions/3.8.18/bin/python3")
    result = subprocess.run([old, "run.py", "setup"], cwd=project, capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "PYTHON"})
    assert result.returncode == 1
    assert "Python 3.8.18 is too old: cnnlib needs Python 3.10 or newer" in result.stderr
    assert not (project / ".venv").exists()


def test_run_py_parses_on_python_3_8():
    # So an old python3 runs it far enough to say it is too old (the test above, where 3.8 is installed).
    ast.parse((ROOT / "run.py").read_text(), feature_version=(3, 8))


def test_browser_test_on_macos_or_windows_is_skipped_with_a_reason(monkeypatch, capsys):
    monkeypatch.setattr(run, "CHROMIUM", pathlib.Path("/no/such/chromium"))
    monkeypatch.setattr(run, "_try", lambda *a, **k: pytest.fail(f"ran {a}: apt is Linux's"))
    for platform in ("darwin", "win32"):
        run.browser(platform)
        assert "only Linux has: here it is skipped" in capsys.readouterr().err


def test_requirement_hashes_match_the_earlier_bash_front_door():
    # sha256 of `cat FILES...`, as the bash ./run recorded it: venvs it set up are not reinstalled.
    hashes = run.requirement_hashes(ROOT)
    for level, (_, files) in run.LEVELS.items():
        joined = b"".join((ROOT / name).read_bytes() for name in files)
        if shutil.which("sha256sum"):
            out = subprocess.run(["sha256sum"], input=joined, capture_output=True, check=True).stdout
            assert hashes[level] == out.split()[0].decode()
        assert hashes[level] == hashlib.sha256(joined).hexdigest()


# ---------------------------------------------------------------- test-pythons: finding Pythons

def test_py_launcher_listing_is_read_in_both_formats():
    new = (" -V:3.13 *        C:\\Users\\Ada\\AppData\\Local\\Programs\\Python\\Python313\\python.exe\n"
           " -V:3.10          C:\\Program Files\\Python310\\python.exe\n")
    old = ("Installed Pythons found by py Launcher for Windows\n"
           " -3.9-64        C:\\Python39\\python.exe *\n"
           " -3.8-32        C:\\Python38-32\\python.exe\n")
    assert run.py_launcher_paths(new) == ["C:\\Users\\Ada\\AppData\\Local\\Programs\\Python\\Python313\\python.exe",
                                          "C:\\Program Files\\Python310\\python.exe"]
    assert run.py_launcher_paths(old) == ["C:\\Python39\\python.exe", "C:\\Python38-32\\python.exe"]
    assert run.py_launcher_paths("No installed Pythons found!\n") == []


def test_pythons_on_unix_are_python3_then_pyenvs(tmp_path):
    for version in ("3.12.1", "3.10.13"):
        _script(tmp_path / "versions" / version / "bin" / "python3", "#!/bin/sh\n")
    found, where = run.python_candidates("posix", {"PYENV_ROOT": str(tmp_path)}, which=lambda name: "/usr/bin/python3")
    assert found == ["/usr/bin/python3", str(tmp_path / "versions/3.10.13/bin/python3"),
                     str(tmp_path / "versions/3.12.1/bin/python3")]
    assert str(tmp_path / "versions") in where


@posix_only
def test_find_pythons_keeps_supported_ones_oldest_first_one_per_version(project, tmp_path):
    def fake(name, version, supported=True):
        return str(_script(tmp_path / name, f"""#!/bin/sh
case "$2" in
    *sys.exit*) exit {0 if supported else 1} ;;
    *print*) echo {version} ;;
esac
"""))
    pythons = [fake("a", "3.12"), fake("b", "3.10"), fake("c", "3.12"), fake("d", "3.9", supported=False),
               str(tmp_path / "missing")]
    assert run.find_pythons(pythons) == [("3.10", pythons[1]), ("3.12", pythons[0])]


# ---------------------------------------------------------------- handing over to a program

@posix_only
def test_hand_over_replaces_this_process_on_unix():
    # The program runs in run.py's own process (same pid), so signals and the status are its own.
    script = ("import os, sys, importlib.util\n"
              f"spec = importlib.util.spec_from_file_location('r', {str(ROOT / 'run.py')!r})\n"
              "r = importlib.util.module_from_spec(spec); spec.loader.exec_module(r)\n"
              "print(os.getpid(), flush=True)\n"
              "r.hand_over([sys.executable, '-c', 'import os, sys; print(os.getpid()); sys.exit(5)'])\n"
              "print('not reached')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 5
    before, after = result.stdout.split()
    assert before == after


def test_hand_over_waits_for_the_program_on_windows(monkeypatch):
    monkeypatch.setattr(run, "is_windows", lambda os_name=None: True)
    assert run.hand_over([sys.executable, "-c", "import sys; sys.exit(4)"]) == 4
    with pytest.raises(run.Stop, match="Could not start"):
        run.hand_over([str(pathlib.Path("no", "such", "program"))])
