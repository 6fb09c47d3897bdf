"""JupyterHub for a class on one Linux server: each student gets their own copy of the
student edition on first login, the teacher is the hub's admin.

Started by ``./run hub`` (which installs requirements-hub.txt and the proxy first, and sets
the variables below); by hand: ``.venv/bin/jupyterhub -f classroom/jupyterhub_config.py``.
classroom/README.md says what each choice means for a teacher and what a real server uses.

Settings, from the environment (``./run hub`` sets them from its options):

CNNLIB_HUB_IP        the address to listen on; default 127.0.0.1 (this machine only)
CNNLIB_HUB_PORT      the port students open; default 8000
CNNLIB_HUB_STATE     the hub's folder: its database, cookie secret and the students' homes
                     (STATE/home/NAME); default .hub/ in the project (gitignored)
CNNLIB_HUB_TEACHER   the admin's user name; default teacher
CNNLIB_HUB_AUTH      shared (default): students log in with their own name and the class
                     password, the teacher with theirs: CNNLIB_HUB_PASSWORD and
                     CNNLIB_HUB_ADMIN_PASSWORD, else STATE/passwords.json (./run hub makes
                     it); or dummy (any name and password: tests only, 127.0.0.1 only)
CNNLIB_HUB_ROSTER    optional: a file with the class list, one name a line; only they log in
CNNLIB_HUB_MEM       each student's memory, e.g. 1G (default 1.5G, see README.md)
CNNLIB_HUB_CPU       each student's CPU share as cores, e.g. 0.5 (default 1; a guideline
                     here: local processes cannot be held to it, SystemdSpawner can)
"""
import asyncio
import json
import os
import resource
import sys
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner

c = get_config()  # noqa: F821  (JupyterHub provides it to its config file)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent       # the project's .venv/bin: the hub runs from there
STATE = Path(os.environ.get("CNNLIB_HUB_STATE") or ROOT / ".hub").resolve()
HOMES = STATE / "home"
TEACHER = os.environ.get("CNNLIB_HUB_TEACHER", "teacher")
AUTH = os.environ.get("CNNLIB_HUB_AUTH", "shared")
PASSWORDS = "passwords.json"            # in STATE: the class's and the teacher's, made by ./run hub
MY_WORK = "my-work"                     # each student's copy, as `./run lessons` names it
FIRST_PAGE = f"/lab/tree/{MY_WORK}/01_motivation.ipynb"
# The proxy, installed by `./run hub` from the npm registry into the gitignored .tools/.
PROXY = ROOT / ".tools" / "node_modules" / ".bin" / "configurable-http-proxy"
# What a student's server keeps from the hub's environment. OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE keep OpenBLAS correct on processors that need them; CNNLIB_DATA_DIR
# points at a full MNIST. BLAS threads are not here: each lesson limits them itself.
ENV_KEEP = ["PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "CNNLIB_DATA_DIR"]


def number(name, default, kind, example):
    """The setting CNNLIB_HUB_<name> as a number, or a clear error naming what to give."""
    text = os.environ.get(f"CNNLIB_HUB_{name}", default)
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"CNNLIB_HUB_{name} is {text!r}; give {example}") from None


STATE.mkdir(parents=True, exist_ok=True)
HOMES.mkdir(exist_ok=True)

# ---------------------------------------------------------------- the hub and its proxy
c.JupyterHub.ip = os.environ.get("CNNLIB_HUB_IP", "127.0.0.1")
c.JupyterHub.port = number("PORT", "8000", int, "a port number such as 8000")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.JupyterHub.default_url = "/hub/home"

# ---------------------------------------------------------------- who logs in
LOOPBACK = ("127.0.0.1", "localhost", "::1")
c.Authenticator.admin_users = {TEACHER}
if AUTH == "shared":
    # Each student types their own name and the class password; the teacher logs in with
    # their own, longer one. (NativeAuthenticator, with a password per student, does not
    # run on JupyterHub 6: README.md.)
    passwords = {"class": os.environ.get("CNNLIB_HUB_PASSWORD"), "teacher": os.environ.get("CNNLIB_HUB_ADMIN_PASSWORD")}
    if not (passwords["class"] and passwords["teacher"]) and (STATE / PASSWORDS).is_file():
        passwords = json.loads((STATE / PASSWORDS).read_text(encoding="utf-8"))
    if not (passwords["class"] and passwords["teacher"]):
        raise ValueError("no class password: set CNNLIB_HUB_PASSWORD (8 characters or more) and "
                         "CNNLIB_HUB_ADMIN_PASSWORD (32 or more), or start the hub with ./run hub, "
                         f"which makes both in {STATE / PASSWORDS}")
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = passwords["class"]
    c.SharedPasswordAuthenticator.admin_password = passwords["teacher"]
    roster = os.environ.get("CNNLIB_HUB_ROSTER")
    if roster:
        # Only the names on the class list (one a line) may log in.
        c.Authenticator.allowed_users = {line.strip() for line in Path(roster).read_text(encoding="utf-8").splitlines()
                                         if line.strip() and not line.startswith("#")}
    else:
        c.Authenticator.allow_all = True
elif AUTH == "dummy":
    # Any name, any password: for the tests, and only ever on this machine's loopback.
    if c.JupyterHub.ip not in LOOPBACK:
        raise ValueError(f"CNNLIB_HUB_AUTH=dummy lets anyone in, so it listens on 127.0.0.1 only, "
                         f"not {c.JupyterHub.ip}; use shared for a class")
    c.JupyterHub.authenticator_class = "dummy"
    c.Authenticator.allow_all = True
else:
    raise ValueError(f"CNNLIB_HUB_AUTH is {AUTH!r}; use shared (a class) or dummy (tests only, "
                     "on 127.0.0.1); classroom/README.md says more")


# ---------------------------------------------------------------- each student's server

def parse_bytes(text):
    """'1.5G' -> 1610612736: JupyterHub's own units (K, M, G, T; powers of 1024)."""
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
    size = str(text).strip().upper()
    scale = units.get(size[-1:], 1)
    try:
        return int(float(size[:-1] if scale > 1 else size) * scale)
    except ValueError:
        raise ValueError(f"CNNLIB_HUB_MEM is {text!r}; give a size such as 1.5G or 800M") from None


class ClassroomSpawner(SimpleLocalProcessSpawner):
    """Each student's server as a local process in their own folder, STATE/home/NAME.

    The hub runs as one user here (SimpleLocalProcessSpawner): folders are separate, but
    nothing stops a student's code from reading another's. A real class server runs each
    student as their own Linux user (README.md: SystemdSpawner or LocalProcessSpawner).
    Memory: each process of the server (it and each kernel) may hold at most mem_limit of
    data (RLIMIT_DATA), so a runaway array fails with MemoryError in that kernel, not the
    machine. CPU: cpu_limit is passed on (CPU_LIMIT) but a local process cannot be held to it.
    """

    def make_preexec_fn(self, name):
        preexec = super().make_preexec_fn(name)
        limit = int(self.mem_limit) if self.mem_limit else None

        def limited():
            preexec()
            if limit:
                resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

        return limited


async def give_the_student_their_copy(spawner):
    """Before a student's server starts: build the student edition into HOME/my-work once.

    Never overwritten: a folder that exists is the student's own work and is left as it is
    (a fresh copy of updated lessons is the teacher's ``./run student --out`` into another
    folder). docs/ is linked beside it so the lessons' ../docs/ links work, as in the project.
    """
    home = Path(spawner.home_dir)
    home.mkdir(parents=True, exist_ok=True)
    docs = home / "docs"
    if not docs.exists() and not docs.is_symlink():
        docs.symlink_to(ROOT / "docs", target_is_directory=True)
    copy = home / MY_WORK
    if copy.exists():
        return
    build = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "scripts" / "build_student_edition.py"), "--out", str(copy),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await build.communicate()
    if build.returncode != 0:
        raise RuntimeError(f"could not build {spawner.user.name}'s copy of the lessons in {copy}:\n"
                           f"{output.decode(errors='replace')[-2000:]}")
    spawner.log.info("Built %s's copy of the lessons in %s", spawner.user.name, copy)


c.JupyterHub.spawner_class = ClassroomSpawner
c.ClassroomSpawner.home_dir_template = str(HOMES / "{username}")
c.Spawner.pre_spawn_hook = give_the_student_their_copy
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
# JupyterLab refuses to run as root (containers, this test machine) unless told it may.
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = FIRST_PAGE
c.Spawner.env_keep = ENV_KEEP
c.Spawner.mem_limit = parse_bytes(os.environ.get("CNNLIB_HUB_MEM", "1.5G"))
c.Spawner.cpu_limit = number("CPU", "1", float, "a number of cores such as 1 or 0.5")
# A whole class logging in at once on a busy server: give each server time to come up.
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 240
c.JupyterHub.concurrent_spawn_limit = 20
