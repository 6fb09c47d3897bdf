"""The lessons in a real browser: JupyterLab + headless Chromium, driven through the UI.

What a learner does, we do: open the lesson in JupyterLab, clear its stored outputs, run
every cell from the Run menu, and look at the page. For each lesson we assert:

* every code cell ran (a number in its prompt) and no cell shows an error or stderr text
  that the stored lesson does not show too (an error stops "Run All", so it would be the
  last thing a learner sees);
* every cell whose stored output is a widget renders one (no "Error displaying widget");
* every explorer answers its slider: we press ArrowRight on the slider handle and wait for
  the kernel's ``"drawn #k+1"`` marker in the explorer's status line, then check that the
  picture (its ``src``) changed; lesson 2 must have a filter explorer;
* in the training lesson, a stroke drawn with the mouse on the draw-a-digit canvas
  updates the net's probabilities (its ``"predicted #k"`` status marker).

Screenshots of what the learner sees go to ``test-artifacts/screenshots/`` (gitignored).

Set-up facts (see NOTEBOOK_TESTING.md): Debian ``chromium`` driven by Python playwright
through ``executable_path`` (never a browser download); one JupyterLab server for the
module on 127.0.0.1 with a free port, a random token and temp root/settings/workspace
dirs; the lessons run from a temp copy, so autosave never touches notebooks/.
Without /usr/bin/chromium the tests skip, except under ``CI=true``, where they fail.
``CNNLIB_BROWSER_NOTEBOOKS=DIR`` points the test at other notebooks (to try the harness).
"""
import json
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

pytestmark = pytest.mark.browser

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = pathlib.Path(os.environ.get("CNNLIB_BROWSER_NOTEBOOKS", ROOT / "notebooks"))
LESSONS = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_SECONDS = 90
LESSON_RUN_SECONDS = 300       # generous: the machine is shared; a lesson alone takes < 60 s
MARKER_SECONDS = 60            # kernel redraw after a slider move or a stroke
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STDERR_MIME = "application/vnd.jupyter.stderr"
PROGRESS_BAR = re.compile(r"\d+%\|")


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def chromium():
    """The Chromium binary, or a skip (a failure under CI=true) that says how to get it."""
    problem = None
    if not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} not found: install Debian's chromium (`apt-get install -y chromium`)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Python playwright is not installed (`pip install -r requirements.txt`)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)
    return CHROMIUM


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 serving a temp copy of the lessons."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.root = tmp / "root"
        shutil.copytree(NOTEBOOK_DIR, self.root / "notebooks",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        settings = tmp / "lab-settings"
        _write_json(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
                    {"fetchNews": "false", "checkForUpdates": False})
        # Keep every cell in the DOM, so cell i on the page is cell i of the file.
        _write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
                    {"windowingMode": "none"})
        self.port, self.token = _free_port(), secrets.token_hex(24)
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "CI")}
        env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
                   JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
                   JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), IPYTHONDIR=str(tmp / "ipython"))
        self.log_path = tmp / "jupyterlab.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
             f"--port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.root)
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()          # never leave a server behind
            raise

    def _wait_until_up(self):
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_SECONDS} s:\n{self.log()}")

    def api(self, method, path):
        request = urllib.request.Request(self.base + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def url(self, notebook, workspace):
        return f"{self.base}/lab/workspaces/{workspace}/tree/notebooks/{notebook}?token={self.token}"

    def shut_down_sessions(self):
        """Stop every kernel, so lessons never compete for the CPU."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def log(self):
        self._log.flush()
        return self.log_path.read_text()[-4000:]

    def stop(self):
        if self.proc.poll() is not None:
            self._log.close()
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self._log.close()


def _write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    server = Lab(tmp_path_factory.mktemp("jupyterlab"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(30_000)
        yield context
        context.close()


@pytest.fixture
def lesson_page(lab, browser, request):
    """A fresh page (and workspace) for one lesson; kernels are shut down afterwards."""
    page = browser.new_page()
    console_errors = []
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    page.console_errors = console_errors
    yield page
    page.close()
    lab.shut_down_sessions()


# ------------------------------------------------------------------ page helpers
CELLS_JS = """() => Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-viewport > .jp-Cell'))
  .map(cell => ({
    code: cell.classList.contains('jp-CodeCell'),
    prompt: ((cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '').trim(),
    stderr: Array.from(cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="%s"]'))
                 .map(e => e.textContent.slice(0, 3000)),
    widgets: cell.querySelectorAll('.jupyter-widgets').length,
    text: (cell.querySelector('.jp-Cell-outputWrapper') || {}).textContent || '',
  }))""" % STDERR_MIME
KERNEL_STATUS_JS = """() => {
  const el = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
  return el ? el.getAttribute('data-status') : null;
}"""


def _menu(page, menu, item):
    page.click(f".lm-MenuBar-itemLabel:text-is('{menu}')")
    page.click(f".lm-Menu-itemLabel:text-is('{item}')")


def _wait_for(predicate, timeout, what, interval=0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _expected(cell):
    """What the stored lesson says a cell shows: stderr/error output? a widget?"""
    outputs = cell.get("outputs", [])
    stderr = any(o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr") for o in outputs)
    # Progress bars (tqdm.auto) are widgets too, but they close themselves when done.
    widget = any(WIDGET_MIME in o.get("data", {}) and not PROGRESS_BAR.search(o["data"].get("text/plain", ""))
                 for o in outputs)
    return stderr, widget


def _run_all(page, nb, timeout=LESSON_RUN_SECONDS):
    """Clear outputs, Run > Run All Cells, and wait until every code cell has run (or one failed)."""
    _wait_for(lambda: len(page.evaluate(CELLS_JS)) == len(nb.cells), 60, f"the {len(nb.cells)} cells to load")
    _wait_for(lambda: page.evaluate(KERNEL_STATUS_JS) == "idle", 120, "the kernel to start")
    _menu(page, "Edit", "Clear Outputs of All Cells")
    _menu(page, "Run", "Run All Cells")
    runnable = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]

    def finished():
        cells = page.evaluate(CELLS_JS)
        if len(cells) != len(nb.cells):
            raise AssertionError(f"the page shows {len(cells)} cells, the file has {len(nb.cells)}")
        prompts = [cells[i]["prompt"] for i in runnable]
        if "[*]:" in prompts or page.evaluate(KERNEL_STATUS_JS) != "idle":
            return None
        if all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            return cells
        # "Run All" stops at an error: done if some cell shows one.
        if any(cells[i]["stderr"] and not _expected(nb.cells[i])[0] for i in runnable):
            return cells
        return None

    return _wait_for(finished, timeout, "Run All Cells to finish", interval=0.5)


def _shot(locator, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    locator.screenshot(path=str(path))
    return path


def _explorers(page):
    """Widget boxes with a slider and a "drawn #k" status label (cnnlib.widgets.Explorer)."""
    boxes = page.locator(".jp-Cell .widget-vbox").filter(has=page.locator(".widget-slider")).filter(
        has=page.locator(".widget-label", has_text=re.compile(r"^drawn #\d+$")))
    return [boxes.nth(i) for i in range(boxes.count())]


def _status(box):
    labels = box.locator(".widget-label").all_text_contents()
    return next((t for t in labels if re.match(r"^(drawn #\d+|error:)", t)), None)


def _picture(box):
    images = box.locator(".widget-output img")
    return images.first.get_attribute("src") if images.count() else None


def _nudge_slider(page, box):
    """Press an arrow key on the explorer's first slider; return (old, new status, old, new src)."""
    handle = box.locator(".widget-slider .noUi-handle").first
    before_status, before_src = _status(box), _picture(box)
    count = int(before_status.split("#")[1])
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    want = f"drawn #{count + 1}"
    _wait_for(lambda: _status(box) == want or (_status(box) or "").startswith("error:"), MARKER_SECONDS,
              f"the explorer's status to read {want!r} after moving the slider")
    return before_status, _status(box), before_src, _picture(box)


# ------------------------------------------------------------------ the test
@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_in_browser(lesson, lab, lesson_page):
    page, stem = lesson_page, lesson.stem
    nb = nbformat.read(lesson, as_version=4)
    start = time.perf_counter()
    page.goto(lab.url(lesson.name, workspace=f"test-{stem}"))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=90_000)
    cells = _run_all(page, nb)
    run_seconds = time.perf_counter() - start
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first
    page.locator(".jp-NotebookPanel .jp-WindowedPanel-viewport > .jp-Cell").first.scroll_into_view_if_needed()
    _shot(panel, f"{stem}__top.png")

    # 1. Every code cell ran, and nothing went wrong that the stored lesson does not show.
    problems = []
    for i, (cell, seen) in enumerate(zip(nb.cells, cells)):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        expect_stderr, expect_widget = _expected(cell)
        if seen["stderr"] and not expect_stderr:
            problems.append(f"cell {i} shows an error/stderr output:\n{seen['stderr'][0][-1500:]}")
        elif not re.fullmatch(r"\[\d+\]:", seen["prompt"]):
            problems.append(f"cell {i} did not run (prompt {seen['prompt']!r})")
        if expect_widget and not seen["widgets"]:
            problems.append(f"cell {i} should show a widget but none rendered")
        if "Error displaying widget" in seen["text"]:
            problems.append(f"cell {i}: {seen['text'].strip()[:300]}")
    if problems and page.console_errors:
        problems.append("JavaScript errors on the page: " + "; ".join(page.console_errors[:5]))
    assert not problems, f"{lesson.name} in JupyterLab:\n" + "\n".join(problems)

    # 2. Screenshots of every widget a learner meets.
    widget_cells = [i for i, c in enumerate(nb.cells) if _expected(c)[1]]
    dom_cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-viewport > .jp-Cell")
    for k, i in enumerate(widget_cells):
        _shot(dom_cells.nth(i).locator(".jp-Cell-outputWrapper"), f"{stem}__widget{k + 1}_cell{i}.png")

    # 3. Every explorer answers its slider through the kernel.
    explorers = _explorers(page)
    if stem.startswith("02"):
        titles = [box.locator(".widget-html").first.text_content() or "" for box in explorers]
        assert any("filter" in t.lower() for t in titles), (
            f"lesson 2 should have a filter explorer with a slider; explorers found: {titles}")
    for k, box in enumerate(explorers):
        old_status, new_status, old_src, new_src = _nudge_slider(page, box)
        assert new_status.startswith("drawn #"), f"explorer {k + 1} failed after a slider move: {new_status}"
        assert new_src and new_src != old_src, f"explorer {k + 1}: the picture did not change ({new_status})"
        _shot(box, f"{stem}__explorer{k + 1}_after_slider.png")

    # 4. Draw-a-digit: a mouse stroke changes the prediction.
    canvases = page.locator(".jp-Cell canvas")
    if "DrawDigit" in "".join(c.source for c in nb.cells if c.cell_type == "code"):
        assert canvases.count(), "the draw-a-digit canvas did not render"
        _draw_digit_stroke(page, stem)

    print(f"{lesson.name}: run all + checks {time.perf_counter() - start:.1f} s "
          f"(run all {run_seconds:.1f} s, {len(explorers)} explorers)")


def _draw_digit_stroke(page, stem):
    """Draw a "1" with the mouse on the DrawDigit canvas; the kernel must predict and redraw."""
    box = page.locator(".jp-Cell .widget-vbox").filter(has=page.locator("canvas")).filter(
        has=page.locator(".widget-label", has_text=re.compile(r"^drawn #\d+$"))).first
    canvas = box.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    before = _status(box)
    count = int(before.split("#")[1])
    bounds = canvas.bounding_box()
    x0, y0, w, h = bounds["x"], bounds["y"], bounds["width"], bounds["height"]
    # A "1": a short flag, then a vertical stroke down the middle.
    points = [(0.42, 0.25), (0.5, 0.18)] + [(0.5, 0.18 + 0.64 * t / 12) for t in range(1, 13)]
    page.mouse.move(x0 + points[0][0] * w, y0 + points[0][1] * h)
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(x0 + fx * w, y0 + fy * h, steps=3)
    page.mouse.up()
    want = f"drawn #{count + 1}"
    _wait_for(lambda: _status(box) == want or (_status(box) or "").startswith("error:"), MARKER_SECONDS,
              f"the draw-a-digit status to read {want!r} after a stroke")
    assert _status(box) == want, f"draw-a-digit failed after a stroke: {_status(box)}"
    said = box.locator(".widget-html").filter(has_text="The net says").first.text_content()
    assert re.search(r"The net says \d \(\d+% sure\)", said), f"no prediction shown: {said!r}"
    _shot(box, f"{stem}__draw_digit_after_stroke.png")
    return said
