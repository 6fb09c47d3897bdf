"""A simulated student for the hub's tests and load test: starts the hub, logs in through the
login form, gets their server, opens notebooks and runs them cell by cell in a kernel of
their own server (REST to start it, the kernel's websocket to run code), as JupyterLab does.

Used by tests/test_hub.py and benchmarks/bench_classroom.py; loopback addresses only.
Needs what requirements-hub.txt installs (requests and websocket-client come with
JupyterHub and Jupyter Server, psutil with ipykernel).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import requests
import websocket

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "classroom" / "jupyterhub_config.py"
PROXY = ROOT / ".tools" / "node_modules" / ".bin" / "configurable-http-proxy"
LOOPBACK = "127.0.0.1"


def free_port():
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def missing_pieces(python=sys.executable):
    """What the hub needs and is not installed, as (what, the command that installs it)."""
    missing = []
    for module in ("jupyterhub",):
        done = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
        if done.returncode != 0:
            missing.append((f"the Python package {module}", "./run hub --install-only"))
    if not PROXY.exists():
        missing.append(("configurable-http-proxy (npm)", "./run hub --install-only"))
    return missing


class Hub:
    """A JupyterHub on 127.0.0.1 with the classroom configuration, in its own process group.

    Use as a context manager: the whole group (hub, proxy, students' servers and kernels) is
    stopped on exit, whatever happened, so no process is left behind.
    """

    def __init__(self, state, auth="dummy", mem=None, log=None):
        self.state = Path(state)
        self.port, self.hub_port, self.api_port = free_port(), free_port(), free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log_path = Path(log or self.state / "hub.log")
        self.env = dict(os.environ, CNNLIB_HUB_STATE=str(self.state), CNNLIB_HUB_AUTH=auth,
                        CNNLIB_HUB_IP=LOOPBACK, CNNLIB_HUB_PORT=str(self.port))
        # The lessons must limit BLAS threads themselves: the test checks they do.
        self.env.pop("OPENBLAS_NUM_THREADS", None)
        if mem:
            self.env["CNNLIB_HUB_MEM"] = mem
        self.proc = None

    def __enter__(self):
        self.state.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        jupyterhub = Path(sys.executable).parent / "jupyterhub"
        self.proc = subprocess.Popen(
            [str(jupyterhub), "-f", str(CONFIG), f"--JupyterHub.hub_port={self.hub_port}",
             f"--ConfigurableHTTPProxy.api_url=http://{LOOPBACK}:{self.api_port}"],
            cwd=self.state, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        try:
            self.wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def wait_until_up(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not answer within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.3)

    def log_tail(self, chars=3000):
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def processes(self):
        """Every live process the hub started (proxy, servers, kernels) and the hub itself:
        its descendants, found from one pass over the process table."""
        if self.proc is None:
            return []
        children = {}
        for proc in psutil.process_iter(["ppid"]):
            children.setdefault(proc.info["ppid"], []).append(proc)
        try:
            found, queue = [psutil.Process(self.proc.pid)], [self.proc.pid]
        except psutil.Error:
            return []
        while queue:
            for proc in children.get(queue.pop(), []):
                found.append(proc)
                queue.append(proc.pid)
        return found

    def stop(self):
        """Stop the hub and everything it started: its group, and the servers it started in
        sessions of their own (each is a child of the hub)."""
        if self.proc is None:
            return
        family = self.processes()
        # The proxy runs in a session of its own; should the hub have died first, its pid
        # file still names it.
        try:
            proxy = psutil.Process(int((self.state / "jupyterhub-proxy.pid").read_text()))
            if "configurable-http-proxy" in " ".join(proxy.cmdline()) and proxy not in family:
                family.append(proxy)
        except (OSError, ValueError, psutil.Error):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        for proc in family:
            try:
                proc.terminate()
            except psutil.Error:
                pass
        gone, alive = psutil.wait_procs(family, timeout=10)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Student:
    """One student at the hub: a browser's session (cookies), then an API token of their own."""

    def __init__(self, hub_url, name, password="class-password"):
        self.hub_url, self.name, self.password = hub_url, name, password
        self.http = requests.Session()
        self.token = None
        self.server = f"{hub_url}/user/{name}"

    def login(self):
        """Log in through the login form; returns the seconds it took."""
        start = time.perf_counter()
        page = self.http.get(f"{self.hub_url}/hub/login", timeout=30)
        page.raise_for_status()
        xsrf = self.http.cookies.get("_xsrf")
        answer = self.http.post(f"{self.hub_url}/hub/login", data={
            "username": self.name, "password": self.password, "_xsrf": xsrf}, allow_redirects=False, timeout=60)
        if answer.status_code != 302 or "jupyterhub-session-id" not in self.http.cookies:
            raise RuntimeError(f"{self.name} could not log in: {answer.status_code} {answer.text[:300]}")
        elapsed = time.perf_counter() - start
        # A token of the student's own, for their server's REST API and kernels. The hub
        # gives the logged-in session a new XSRF cookie: the request carries that one.
        self.http.get(f"{self.hub_url}/hub/home", timeout=30).raise_for_status()
        xsrf = [cookie.value for cookie in self.http.cookies if cookie.name == "_xsrf"][-1]
        made = self.http.post(f"{self.hub_url}/hub/api/users/{self.name}/tokens",
                              headers={"X-XSRFToken": xsrf}, json={"note": "simulated student"}, timeout=30)
        if made.status_code != 201:
            raise RuntimeError(f"{self.name} got no token: {made.status_code} {made.text[:300]}")
        self.token = made.json()["token"]
        return elapsed

    def _headers(self):
        return {"Authorization": f"token {self.token}"}

    def start_server(self, timeout=180):
        """Ask the hub for this student's server and wait until it is ready; returns seconds."""
        start = time.perf_counter()
        asked = requests.post(f"{self.hub_url}/hub/api/users/{self.name}/server", headers=self._headers(), timeout=60)
        if asked.status_code not in (201, 202, 400):  # 400: already running
            raise RuntimeError(f"{self.name}'s server did not start: {asked.status_code} {asked.text[:300]}")
        deadline = time.monotonic() + timeout
        while True:
            user = requests.get(f"{self.hub_url}/hub/api/users/{self.name}", headers=self._headers(), timeout=30).json()
            server = user.get("servers", {}).get("", {})
            if server.get("ready"):
                return time.perf_counter() - start
            if not server.get("pending") and time.monotonic() > start + 10 and not server:
                raise RuntimeError(f"{self.name}'s server stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}'s server was not ready within {timeout} s")
            time.sleep(0.5)

    def api(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 60)
        answer = requests.request(method, f"{self.server}/api/{path}", headers=self._headers(), **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def open_notebook(self, path):
        """Open a notebook as JupyterLab does: its page, then its contents; returns (seconds, notebook)."""
        start = time.perf_counter()
        page = requests.get(f"{self.server}/lab/tree/{path}", headers=self._headers(), timeout=60)
        page.raise_for_status()
        notebook = self.api("GET", f"contents/{path}")["content"]
        return time.perf_counter() - start, notebook

    def upload(self, local, path):
        """Save a file into the student's folder through their server (their finished work)."""
        local = Path(local)
        folder = path.rpartition("/")[0]
        if folder:
            self.api("PUT", f"contents/{folder}", json={"type": "directory"})
        if local.suffix == ".ipynb":
            model = {"type": "notebook", "format": "json", "content": json.loads(local.read_text(encoding="utf-8"))}
        else:
            model = {"type": "file", "format": "text", "content": local.read_text(encoding="utf-8")}
        self.api("PUT", f"contents/{path}", json=model)

    def kernel(self, notebook_path):
        """A kernel for ``notebook_path`` (started in its folder, as JupyterLab starts one)."""
        session = self.api("POST", "sessions", json={"path": notebook_path, "type": "notebook", "name": "",
                                                      "kernel": {"name": "python3"}})
        return Kernel(self, session)


class Kernel:
    """A kernel of a student's server, run through its websocket (Jupyter's JSON messages)."""

    def __init__(self, student, session):
        self.student, self.session_id = student, session["id"]
        self.id = session["kernel"]["id"]
        url = student.server.replace("http://", "ws://") + f"/api/kernels/{self.id}/channels"
        self.client_session = uuid.uuid4().hex
        self.ws = websocket.create_connection(f"{url}?session_id={self.client_session}",
                                              header=[f"Authorization: token {student.token}"], timeout=600)

    def pid(self):
        """The kernel process's id (asked of the kernel itself)."""
        outputs, errors = self.execute("import os; print(os.getpid())")
        return int("".join(outputs).strip())

    def execute(self, code, timeout=600):
        """Run ``code``; returns (stream outputs, errors as 'Name: value' strings)."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": self.student.name, "session": self.client_session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        outputs, errors, replied, idle = [], [], False, False
        deadline = time.monotonic() + timeout
        while not (replied and idle):
            self.ws.settimeout(max(1.0, deadline - time.monotonic()))
            message = self._message(self.ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            if kind == "stream":
                outputs.append(message["content"]["text"])
            elif kind == "error":
                errors.append(f"{message['content']['ename']}: {message['content']['evalue']}")
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                idle = True
            if time.monotonic() > deadline:
                raise TimeoutError(f"a cell ran for more than {timeout} s")
        return outputs, errors

    @staticmethod
    def _message(frame):
        """A websocket frame as a message dict. Messages with binary buffers (widgets' comm
        messages) come as bytes: a count, the offsets, then the JSON message and its buffers."""
        if isinstance(frame, str):
            return json.loads(frame)
        count = int.from_bytes(frame[:4], "big")
        offsets = [int.from_bytes(frame[4 + 4 * i:8 + 4 * i], "big") for i in range(count)]
        end = offsets[1] if count > 1 else len(frame)
        return json.loads(frame[offsets[0]:end].decode("utf-8"))

    def run_all(self, notebook, after_first=None, timeout=600):
        """Run every code cell in order, as Run All does, stopping at the first error.

        ``after_first``: code run right after the first code cell (the test's probe).
        Returns (seconds, errors, what the probe printed).
        """
        start, probe = time.perf_counter(), None
        cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        for number, cell in enumerate(cells):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            _, errors = self.execute(source, timeout=timeout)
            if errors:
                return time.perf_counter() - start, [f"code cell {number + 1}: {e}" for e in errors], probe
            if number == 0 and after_first:
                probe, errors = self.execute(after_first)
                if errors:
                    return time.perf_counter() - start, [f"probe: {e}" for e in errors], probe
        return time.perf_counter() - start, [], probe

    def close(self):
        try:
            self.ws.close()
        finally:
            try:
                self.student.api("DELETE", f"sessions/{self.session_id}")
            except requests.RequestException:
                pass
