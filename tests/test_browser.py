"""The lessons in a real browser: JupyterLab and Notebook 7 + headless Chromium, driven through the UI.

What a learner does, we do: open the lesson in JupyterLab on a laptop's screen (a
1366x768 window with the file browser open), clear its stored outputs, run every cell
from the Run menu, and look at the page. Lessons 2 and 6 (the explorers' sliders, the
confusion matrix, the canvas) are opened in Jupyter Notebook 7 as well (``jupyter
notebook``, /notebooks/<path>, the same window, no file browser beside it), through the
same steps and checks: the two interfaces differ only in what :data:`INTERFACES` lists.
For each lesson we assert:

* as opened, before anything runs (not trusted: a fresh server), every explorer shows
  its stored PNG picture and the restart sentence, no widget repr or "Error displaying
  widget", and (JupyterLab: Notebook 7 has no tabs) the tab is not marked modified
  (checked on the Python the lessons were stored with: JupyterLab rewrites
  ``language_info``, which holds the Python version);
* every code cell ran (a number in its prompt) and no cell shows an error or stderr text
  that the stored lesson does not show too (an error stops "Run All", so it would be the
  last thing a learner sees);
* every cell whose stored output is a widget renders one (no "Error displaying widget");
* no test marker is visible: the explorers' ``"drawn #k"`` label is hidden (we read it
  with ``textContent``), and the restart note stays hidden while the kernel lives;
* every explorer is readable without scrolling or zooming: controls and picture within
  :data:`EXPLORER_MAX_HEIGHT` px, the picture shown at its own size (the ``<img>``'s
  rendered width is its natural width: never shrunk or stretched), text at least
  :data:`MIN_FONT_PX` px, slider tracks at least :data:`MIN_SLIDER_TRACK` px, and no
  dropdown label cut (the widest option's text fits the closed menu);
* every explorer with a slider answers it: we move it a step :data:`SLIDER_MOVES` times
  (JupyterLab: an arrow key on the handle; Notebook 7, whose shortcuts take the arrow
  keys: a mouse drag of the handle), wait each time for the kernel's hidden ``"drawn #k+1"``
  marker, and sample the output area's height on every animation frame meanwhile: it must
  never drop below the smaller of its heights before and after (no collapse, no flicker);
  lesson 2 must have a filter explorer;
* the confusion-matrix explorer (a grid of buttons): with the explorer's top, then its
  bottom, at the edge of the notebook's visible area, a click on a matrix cell redraws a
  new picture that is entirely in view;
* in the training lesson, a stroke drawn with the mouse on the draw-a-digit canvas
  updates the net's prediction;
* after Kernel > Restart Kernel, every explorer's output shows the sentence that says to
  use Run > Run All Above (a dead explorer must never look alive and silent).

Screenshots of what the learner sees go to ``test-artifacts/screenshots/`` (gitignored),
named after the interface's server module and the lesson (``notebook__06_full_training__top.png``).

Set-up facts (see NOTEBOOK_TESTING.md): Debian ``chromium`` driven by Python playwright
through ``executable_path`` (never a browser download); one server per interface for the
module (``python -m jupyterlab``, ``python -m notebook``) on 127.0.0.1 with a free port, a
random token and temp root/settings/workspace dirs; the lessons run from a temp copy, so
autosave never touches notebooks/.
Without /usr/bin/chromium the tests skip, except under ``CI=true``, where they fail.
``CNNLIB_BROWSER_NOTEBOOKS=DIR`` points the test at other notebooks (to try the harness).
"""
import dataclasses
import json
import os
import pathlib
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
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
RESTART_SECONDS = 60
VIEWPORT = {"width": 1366, "height": 768}    # a laptop screen; the file browser stays open
EXPLORER_MAX_HEIGHT = 640      # px: controls + picture fit the notebook area (about 650 px) at once
MIN_SLIDER_TRACK = 250         # px: long enough to aim with a mouse
MIN_FONT_PX = 10
SLIDER_MOVES = 3               # one-step moves per explorer while sampling the output's height
MARKER = re.compile(r"^drawn #(\d+)$")
REDRAW_FAILED = "Could not draw this"        # the start of an explorer's error line
RESTART_SENTENCE = "Run All Above"           # what the restart note tells the learner to use
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STDERR_MIME = "application/vnd.jupyter.stderr"
PROGRESS_BAR = re.compile(r"\d+%\|")


@dataclasses.dataclass(frozen=True)
class Interface:
    """What differs between the front ends we open the lessons in. Notebook 7 is built from
    JupyterLab's own parts, so the notebook panel, its cells, menus (Edit > Clear Outputs of
    All Cells, Run > Run All Cells, Kernel > Restart Kernel…) and kernel indicator are the same."""
    title: str            # in messages
    module: str           # `python -m MODULE` starts its server
    url: str              # a lesson's address on the server: {base}, {notebook}, {workspace}, {token}
    lessons: tuple        # the lessons opened in it, by number ("02": 02_*.ipynb); () means all
    file_browser: bool    # JupyterLab's file browser stays open beside the notebook
    tabs: bool            # the lesson opens in a tab, marked with a dot when modified (Notebook 7: no tabs)
    slider_keys: bool     # arrow keys move a focused slider (Notebook 7: no, see INTERFACES)


INTERFACES = {
    "lab": Interface(
        "JupyterLab", "jupyterlab", "{base}/lab/workspaces/{workspace}/tree/notebooks/{notebook}?token={token}",
        lessons=(), file_browser=True, tabs=True, slider_keys=True),
    # Notebook 7 (7.6) runs its keyboard shortcuts before the page's widgets see the key
    # (JupyterLab lets them bubble up first): an arrow key on a focused slider moves the
    # notebook's cursor to another cell instead (jupyter/notebook#7716, open). Its learners
    # move sliders with the mouse, and so do we.
    "notebook7": Interface(
        "Notebook 7", "notebook", "{base}/notebooks/notebooks/{notebook}?token={token}",
        lessons=("02", "06"), file_browser=False, tabs=False, slider_keys=False),
}
CASES = [pytest.param(lesson, key, id=f"{key}-{lesson.stem}") for key, ui in INTERFACES.items()
         for lesson in LESSONS if not ui.lessons or lesson.stem[:2] in ui.lessons]


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


class Server:
    """A JupyterLab or Notebook 7 server (``ui``) on 127.0.0.1 serving a temp copy of the lessons."""

    def __init__(self, tmp, ui):
        self.tmp, self.ui = tmp, ui
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
        self.log_path = tmp / f"{ui.module}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", ui.module, "--no-browser", "--allow-root", "--ip=127.0.0.1",
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
                raise RuntimeError(f"{self.ui.title} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"{self.ui.title} did not answer within {SERVER_START_SECONDS} s:\n{self.log()}")

    def api(self, method, path):
        request = urllib.request.Request(self.base + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def url(self, notebook, workspace):
        return self.ui.url.format(base=self.base, notebook=notebook, workspace=workspace, token=self.token)

    def shut_down_sessions(self):
        """Stop every kernel, so lessons never compete for the CPU."""
        for session in self.api("GET", "/api/sessions"):
            for attempt in range(20):
                try:
                    self.api("DELETE", f"/api/sessions/{session['id']}")
                    break
                except urllib.error.HTTPError as e:    # a kernel still restarting cannot be stopped yet
                    if attempt == 19:
                        raise RuntimeError(f"could not stop session {session['id']}: {e}\n{self.log()}") from e
                    time.sleep(0.5)

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
def server(chromium, tmp_path_factory, request):
    """The server of the interface named by the test's ``server`` parameter (a key of INTERFACES)."""
    running = Server(tmp_path_factory.mktemp(request.param), INTERFACES[request.param])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium, headless=True,
            args=CHROMIUM_ARGS, viewport=VIEWPORT)
        context.set_default_timeout(30_000)
        yield context
        context.close()


@pytest.fixture
def lesson_page(server, browser):
    """A fresh page (and workspace) for one lesson; kernels are shut down afterwards."""
    page = browser.new_page()
    console_errors = []
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    page.console_errors = console_errors
    yield page
    page.close()
    server.shut_down_sessions()


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


def _kernel_ready(page, server):
    """The page says "idle" before its kernel has even started (a moment later it says
    "initializing", then "connecting"); a Run All sent then was sometimes lost. Ready means:
    the server has a kernel for the notebook, idle, and the page says idle, twice in a row."""
    def both_idle():
        kernels = [s["kernel"] for s in server.api("GET", "/api/sessions") if s.get("kernel")]
        return (len(kernels) == 1 and kernels[0].get("execution_state") == "idle"
                and page.evaluate(KERNEL_STATUS_JS) == "idle")
    _wait_for(lambda: both_idle() and (time.sleep(0.5) or both_idle()), 120, "the kernel to start")


def _run_all(page, nb, server, timeout=LESSON_RUN_SECONDS):
    """Clear outputs, Run > Run All Cells, and wait until every code cell has run (or one failed)."""
    _wait_for(lambda: len(page.evaluate(CELLS_JS)) == len(nb.cells), 60, f"the {len(nb.cells)} cells to load")
    _kernel_ready(page, server)
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


# ------------------------------------------------------------------ explorers on the page
# An explorer (cnnlib.explore.Explorer) is the box whose direct child is the hidden
# "drawn #k" marker label. We tag each with data-cnnlib-explorer=k so locators can find it.
EXPLORERS_JS = r"""() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const cells = Array.from(panel.querySelectorAll('.jp-WindowedPanel-viewport > .jp-Cell'));
  const markers = Array.from(panel.querySelectorAll('.jp-OutputArea .widget-label'))
    .filter(label => /^drawn #\d+$/.test(label.textContent.trim()));
  return markers.map((marker, k) => {
    const box = marker.parentElement;
    box.setAttribute('data-cnnlib-explorer', String(k));
    const img = box.querySelector('img.widget-image');
    const r = img ? img.getBoundingClientRect() : null;
    const title = box.querySelector('.widget-html');
    return {
      index: k,
      cell: cells.indexOf(box.closest('.jp-Cell')),
      title: title ? title.textContent.trim().slice(0, 80) : '',
      markerShown: marker.getClientRects().length > 0,
      height: box.getBoundingClientRect().height,
      picture: img ? {naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
                      width: r.width, height: r.height} : null,
      sliders: box.querySelectorAll('.widget-hslider .noUi-handle').length,
      buttonGrid: box.querySelectorAll('.widget-gridbox button').length,
      canvas: box.querySelectorAll('canvas').length,
    };
  });
}"""

# Everything a learner reads in the lesson's outputs: markers, slider tracks, menus, text size.
LAYOUT_JS = r"""([minFont]) => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const areas = Array.from(panel.querySelectorAll('.jp-OutputArea'));
  const measure = document.createElement('canvas').getContext('2d');
  const sliders = [], menus = [], small = [];
  for (const area of areas) {
    for (const track of area.querySelectorAll('.widget-hslider .noUi-target')) {
      const label = track.closest('.widget-hslider').querySelector('.widget-label');
      sliders.push({label: label ? label.textContent.trim() : '', width: track.getBoundingClientRect().width});
    }
    for (const select of area.querySelectorAll('.widget-dropdown select')) {
      const cs = getComputedStyle(select);
      measure.font = cs.font;
      const widest = Array.from(select.options).reduce((best, o) => {
        const w = measure.measureText(o.text).width;
        return w > best.width ? {text: o.text, width: w} : best;
      }, {text: '', width: 0});
      const room = select.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
      menus.push({widest: widest.text, textWidth: widest.width, room: room});
    }
    for (const el of area.querySelectorAll('.jupyter-widgets *')) {
      const ownText = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
      const size = parseFloat(getComputedStyle(el).fontSize);
      if (ownText && el.getClientRects().length && size < minFont)
        small.push({text: el.textContent.trim().slice(0, 40), px: size});
    }
  }
  return {visibleText: areas.map(area => area.innerText).join('\n'), sliders, menus, small};
}"""

FILE_BROWSER_OPEN_JS = """() => {
  const fb = document.getElementById('filebrowser');
  return !!fb && fb.getClientRects().length > 0 && fb.getBoundingClientRect().width > 100;
}"""

# Heights of an explorer's output area on every animation frame (what the screen paints).
SAMPLE_START_JS = """(k) => {
  const area = document.querySelector(`[data-cnnlib-explorer="${k}"]`).closest('.jp-OutputArea');
  const s = window.__cnnlibHeights = {min: Infinity, frames: 0, stop: false};
  const tick = () => {
    s.min = Math.min(s.min, area.getBoundingClientRect().height);
    s.frames += 1;
    if (!s.stop) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  return area.getBoundingClientRect().height;
}"""
SAMPLE_STOP_JS = """(k) => {
  const s = window.__cnnlibHeights;
  s.stop = true;
  const area = document.querySelector(`[data-cnnlib-explorer="${k}"]`).closest('.jp-OutputArea');
  return {min: s.min, frames: s.frames, after: area.getBoundingClientRect().height};
}"""

# Scroll the notebook so that an explorer's top (or bottom) is at the top (or bottom) edge
# of the notebook's visible area; return where its picture is relative to that area.
SCROLL_EXPLORER_JS = """([k, edge]) => {
  const box = document.querySelector(`[data-cnnlib-explorer="${k}"]`);
  const scroller = box.closest('.jp-WindowedPanel-outer');
  const b = box.getBoundingClientRect(), s = scroller.getBoundingClientRect();
  scroller.scrollTop += edge === 'top' ? b.top - s.top : b.bottom - s.bottom;
}"""
PICTURE_IN_VIEW_JS = """(k) => {
  const box = document.querySelector(`[data-cnnlib-explorer="${k}"]`);
  const s = box.closest('.jp-WindowedPanel-outer').getBoundingClientRect();
  const p = box.querySelector('img.widget-image').getBoundingClientRect();
  return {pictureTop: p.top, pictureBottom: p.bottom, viewTop: Math.max(s.top, 0),
          viewBottom: Math.min(s.bottom, window.innerHeight)};
}"""


def _explorers(page):
    """Tag every explorer on the page; return what we know about each (see EXPLORERS_JS)."""
    return page.evaluate(EXPLORERS_JS)


def _explorer(page, k):
    return page.locator(f'[data-cnnlib-explorer="{k}"]')


def _marker(box):
    """The explorer's hidden "drawn #k" marker, read as text (it is never visible)."""
    return next((int(m.group(1)) for t in box.locator(":scope > .widget-label").all_text_contents()
                 if (m := MARKER.match(t.strip()))), None)


def _redraw_failed(box):
    text = box.inner_text()
    return text[text.index(REDRAW_FAILED):][:300] if REDRAW_FAILED in text else None


def _wait_for_redraw(box, count, what):
    """Wait until the marker reads "drawn #count+1" (or the error line shows); return the error."""
    _wait_for(lambda: (_marker(box) or 0) > count or _redraw_failed(box), MARKER_SECONDS,
              f"the marker to read 'drawn #{count + 1}' after {what}")
    return _redraw_failed(box)


def _picture_src(box):
    images = box.locator("img.widget-image")
    return images.first.get_attribute("src") if images.count() else None


def _ensure_file_browser(page):
    """A learner's screen: the file browser stays open beside the notebook."""
    if not page.evaluate(FILE_BROWSER_OPEN_JS):
        page.click('.jp-SideBar [data-id="filebrowser"]')
    _wait_for(lambda: page.evaluate(FILE_BROWSER_OPEN_JS), 10, "the file browser to be open")


def _layout_problems(page, explorers):
    """Everything a learner at 1366x768 would find unreadable, as sentences."""
    seen = page.evaluate(LAYOUT_JS, [MIN_FONT_PX])
    problems = []
    if "drawn #" in seen["visibleText"]:
        at = seen["visibleText"].index("drawn #")
        problems.append(f"a test marker is visible: ...{seen['visibleText'][max(0, at - 80):at + 20]!r}")
    for s in seen["sliders"]:
        if s["width"] < MIN_SLIDER_TRACK:
            problems.append(f"slider {s['label']!r}: track {s['width']:.0f} px < {MIN_SLIDER_TRACK} px")
    for m in seen["menus"]:
        if m["textWidth"] > m["room"] + 1:
            problems.append(f"dropdown label {m['widest']!r} is cut: it needs {m['textWidth']:.0f} px, "
                            f"the menu shows {m['room']:.0f} px")
    for t in seen["small"][:5]:
        problems.append(f"text {t['text']!r} is {t['px']:.1f} px (< {MIN_FONT_PX} px)")
    for e in explorers:
        name = f"explorer {e['index'] + 1} ({e['title']!r}, cell {e['cell']})"
        if e["markerShown"]:
            problems.append(f"{name}: its 'drawn #k' marker is displayed")
        if e["height"] > EXPLORER_MAX_HEIGHT:
            problems.append(f"{name}: {e['height']:.0f} px tall (controls + picture), more than "
                            f"{EXPLORER_MAX_HEIGHT} px: a learner cannot see a control and its picture at once")
        p = e["picture"]
        if p is None:
            problems.append(f"{name}: no picture (img.widget-image)")
        elif not p["naturalWidth"]:
            problems.append(f"{name}: the picture did not load")
        elif abs(p["width"] - p["naturalWidth"]) > 1:
            problems.append(f"{name}: the picture is {p['naturalWidth']} px wide but shown "
                            f"{p['width']:.0f} px wide (scaled: its text is not the size it was drawn at)")
    return problems


def _step_slider(page, handle, keys):
    """Move a slider by one step as a learner would: an arrow key on its focused handle, or
    (``keys`` false: where the keys never reach the slider) a drag of the handle with the
    mouse, released as soon as the value changes. Returns how it was moved, for messages."""
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    if keys:
        handle.focus()
        page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
        return "an arrow key on the slider"
    start = handle.get_attribute("aria-valuenow")
    track = handle.locator("xpath=ancestor::*[contains(@class, 'noUi-target')][1]").bounding_box()
    grip = handle.bounding_box()
    x, y = grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for dx in range(2, int(track["width"]) + 2, 2):      # the value snaps to the next step on the way
        page.mouse.move(x - dx if at_max else x + dx, y)
        if handle.get_attribute("aria-valuenow") != start:
            break
    page.mouse.up()
    return "a mouse drag of the slider's handle"


def _nudge_slider(page, k, keys=True, moves=SLIDER_MOVES):
    """Move explorer k's first slider by a step (see _step_slider), ``moves`` times, waiting for
    each redraw, while sampling its output area's height on every frame. Returns (error, heights, srcs)."""
    box = _explorer(page, k)
    handle = box.locator(".widget-hslider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    srcs = [_picture_src(box)]
    before = page.evaluate(SAMPLE_START_JS, k)
    page.wait_for_function("() => window.__cnnlibHeights.frames > 1")
    error = None
    for _ in range(moves):
        count = _marker(box)
        error = _wait_for_redraw(box, count, _step_slider(page, handle, keys))
        srcs.append(_picture_src(box))
        if error:
            break
    page.wait_for_timeout(100)          # a few more frames after the last picture
    heights = page.evaluate(SAMPLE_STOP_JS, k)
    heights["before"] = before
    return error, heights, srcs


def _click_confusion_cells(page, k, stem):
    """With the explorer's top, then its bottom, at the edge of the visible notebook area,
    click a matrix cell; the picture it redraws must be a new one, entirely in view. (The
    cells clicked, the first and the last diagonal one, are neither each other nor the
    explorer's first choice: the largest mistake, off the diagonal.)"""
    box = _explorer(page, k)
    buttons = box.locator(".widget-gridbox button")
    problems = []
    for edge, button in (("top", buttons.first), ("bottom", buttons.last)):
        page.evaluate(SCROLL_EXPLORER_JS, [k, edge])
        count, src = _marker(box), _picture_src(box)
        button.click()
        error = _wait_for_redraw(box, count, "a click on a confusion-matrix cell")
        if error:
            problems.append(f"confusion explorer: a click failed: {error}")
            continue
        if _picture_src(box) == src:
            problems.append(f"confusion explorer: a click on its {edge} matrix cell redrew the same picture")
        place = page.evaluate(PICTURE_IN_VIEW_JS, k)
        _shot(page, f"{stem}__confusion_click_{edge}.png")
        if place["pictureTop"] < place["viewTop"] - 1 or place["pictureBottom"] > place["viewBottom"] + 1:
            problems.append(f"confusion explorer (its {edge} at the {edge} of the view): the picture spans "
                            f"y={place['pictureTop']:.0f}..{place['pictureBottom']:.0f} px, the visible area "
                            f"{place['viewTop']:.0f}..{place['viewBottom']:.0f} px: the click changed a picture "
                            f"out of sight")
    return problems


STORED_OUTPUTS_JS = """(indices) => {
  const cells = Array.from(document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-viewport > .jp-Cell'));
  return indices.map(i => {
    const area = cells[i].querySelector('.jp-OutputArea');
    const img = area && area.querySelector('.jp-OutputArea-output[data-mime-type="image/png"] img');
    return {cell: i, picture: !!img && img.naturalWidth > 0, text: area ? area.innerText : ''};
  });
}"""
DIRTY_JS = "() => document.querySelectorAll('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty').length > 0"


def _first_look_problems(page, nb, ui):
    """The lesson as opened, before anything runs (a fresh server: the notebook is not
    trusted, so the page shows each explorer's stored fallbacks instead of its widget).
    Each explorer must show its PNG picture and the restart sentence, never a widget repr
    or "Error displaying widget"; and the tab (where ``ui`` has tabs) must not be marked modified."""
    problems = []
    with_picture = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and any(
        WIDGET_MIME in o.get("data", {}) and "image/png" in o.get("data", {}) for o in c.get("outputs", []))]

    def shown():
        seen = page.evaluate(STORED_OUTPUTS_JS, with_picture)
        return seen if all(s["picture"] for s in seen) else None
    try:
        seen = _wait_for(shown, 20, "the stored pictures to show")
    except AssertionError:
        seen = page.evaluate(STORED_OUTPUTS_JS, with_picture)
    for s in seen:
        if not s["picture"]:
            problems.append(f"cell {s['cell']} as stored (lesson not run): no PNG picture shown: {s['text'][:200]!r}")
        if RESTART_SENTENCE not in s["text"]:
            problems.append(f"cell {s['cell']} as stored (lesson not run): no {RESTART_SENTENCE!r} sentence")
        for bad in ("Error displaying widget", "VBox(", "HBox("):
            if bad in s["text"]:
                problems.append(f"cell {s['cell']} as stored (lesson not run) shows {bad!r}")
    # JupyterLab rewrites the kernelspec and language_info it gets from the kernel; any
    # difference marks the lesson modified the moment it opens. The Python version is part
    # of language_info, so this only holds on the Python the lessons were stored with.
    stored = nb.metadata.get("language_info", {}).get("version")
    if ui.tabs and stored == platform.python_version() and page.evaluate(DIRTY_JS):
        problems.append(f"the lesson opens marked modified (its tab shows the dirty dot) before anything ran: "
                        f"its stored kernelspec {dict(nb.metadata.get('kernelspec', {}))} or language_info "
                        f"differs from what JupyterLab writes for this kernel")
    return problems


def _restart_kernel(page):
    _menu(page, "Kernel", "Restart Kernel…")
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()


def _restart_notes(page, explorers):
    """Per explorer: does its cell's output show the restart sentence (innerText: only what is displayed)?"""
    return [page.evaluate("""([k, sentence]) => {
        const box = document.querySelector(`[data-cnnlib-explorer="${k}"]`);
        return box.closest('.jp-OutputArea').innerText.includes(sentence);
      }""", [e["index"], RESTART_SENTENCE]) for e in explorers]


# ------------------------------------------------------------------ the test
@pytest.mark.parametrize("lesson, server", CASES, indirect=["server"])
def test_lesson_in_browser(lesson, server, lesson_page):
    try:
        _check_lesson(lesson, server, lesson_page)
    except BaseException:
        _shot(lesson_page, f"{_stem(lesson, server.ui)}__FAILED.png")      # what the page showed when it failed
        raise


def _stem(lesson, ui):
    """The screenshots' name prefix: the interface's server module and the lesson."""
    return f"{ui.module}__{lesson.stem}"


def _check_lesson(lesson, server, page):
    ui, stem = server.ui, _stem(lesson, server.ui)
    nb = nbformat.read(lesson, as_version=4)
    start = time.perf_counter()
    page.goto(server.url(lesson.name, workspace=f"test-{lesson.stem}"))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=90_000)
    if ui.file_browser:
        _ensure_file_browser(page)
    _wait_for(lambda: len(page.evaluate(CELLS_JS)) == len(nb.cells), 60, f"the {len(nb.cells)} cells to load")
    _kernel_ready(page, server)
    first_look = _first_look_problems(page, nb, ui)
    cells = _run_all(page, nb, server)
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
    assert not problems, f"{lesson.name} in {ui.title}:\n" + "\n".join(problems)

    # 2. Screenshots of every widget a learner meets.
    widget_cells = [i for i, c in enumerate(nb.cells) if _expected(c)[1]]
    dom_cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-viewport > .jp-Cell")
    for k, i in enumerate(widget_cells):
        _shot(dom_cells.nth(i).locator(".jp-Cell-outputWrapper"), f"{stem}__widget{k + 1}_cell{i}.png")

    # 3. Readable at 1366x768: no markers, nothing too tall, shrunk, short or cut; the
    #    restart note hidden while the kernel lives.
    explorers = _explorers(page)
    if lesson.stem.startswith("02"):
        titles = [e["title"] for e in explorers if e["sliders"]]
        assert any("filter" in t.lower() for t in titles), (
            f"lesson 2 should have a filter explorer with a slider; explorers found: {titles}")
    problems = first_look + _layout_problems(page, explorers)
    problems += [f"explorer {e['index'] + 1} ({e['title']!r}) shows the restart note while its kernel runs"
                 for e, shown in zip(explorers, _restart_notes(page, explorers)) if shown]

    # 4. Every explorer with a slider answers it, and its output never collapses meanwhile.
    for e in explorers:
        if not e["sliders"]:
            continue
        k, name = e["index"], f"explorer {e['index'] + 1} ({e['title']!r})"
        error, heights, srcs = _nudge_slider(page, k, keys=ui.slider_keys)
        _shot(_explorer(page, k), f"{stem}__explorer{k + 1}_after_slider.png")
        if error:
            problems.append(f"{name} failed after a slider move: {error}")
            continue
        if len(set(srcs)) != len(srcs):
            problems.append(f"{name}: the picture was not replaced after every move")
        floor = min(heights["before"], heights["after"])
        if heights["min"] < floor - 1:
            problems.append(f"{name}: its output area dropped to {heights['min']:.0f} px during a redraw "
                            f"(it was {heights['before']:.0f} px before, {heights['after']:.0f} px after; "
                            f"{heights['frames']} frames sampled): the page jumps and flickers")

    # 5. The confusion matrix: a click changes a picture the learner can see.
    for e in explorers:
        if e["buttonGrid"]:
            problems += _click_confusion_cells(page, e["index"], stem)
    if lesson.stem.startswith("06"):
        assert any(e["buttonGrid"] for e in explorers), (
            f"lesson 6 should have the confusion-matrix explorer; explorers found: {[e['title'] for e in explorers]}")

    # 6. Draw-a-digit: a mouse stroke changes the prediction.
    if "DrawDigit" in "".join(c.source for c in nb.cells if c.cell_type == "code"):
        drawers = [e for e in explorers if e["canvas"]]
        assert drawers, "the draw-a-digit canvas did not render"
        problems += _draw_digit_stroke(page, drawers[0]["index"], stem)

    # 7. After a kernel restart every explorer says so, in words.
    if explorers:
        _restart_kernel(page)
        try:
            _wait_for(lambda: all(_restart_notes(page, explorers)) and page.evaluate(KERNEL_STATUS_JS) == "idle",
                      RESTART_SECONDS, "the kernel to restart and every explorer to show the restart sentence")
        except AssertionError:
            missing = [e for e, shown in zip(explorers, _restart_notes(page, explorers)) if not shown]
            problems += [f"explorer {e['index'] + 1} ({e['title']!r}): no visible {RESTART_SENTENCE!r} sentence "
                         f"after a kernel restart (it looks alive but is dead)" for e in missing]
        first = _explorer(page, explorers[0]["index"])
        first.scroll_into_view_if_needed()
        _shot(page, f"{stem}__after_restart.png")

    assert not problems, (f"{lesson.name} in {ui.title} at {VIEWPORT['width']}x{VIEWPORT['height']}:\n"
                          + "\n".join(problems))
    print(f"{lesson.name} in {ui.title}: run all + checks {time.perf_counter() - start:.1f} s "
          f"(run all {run_seconds:.1f} s, {len(explorers)} explorers)")


def _draw_digit_stroke(page, k, stem):
    """Draw a "1" with the mouse on the DrawDigit canvas; the kernel must predict and redraw."""
    box = _explorer(page, k)
    canvas = box.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    count = _marker(box)
    bounds = canvas.bounding_box()
    x0, y0, w, h = bounds["x"], bounds["y"], bounds["width"], bounds["height"]
    # A "1": a short flag, then a vertical stroke down the middle.
    points = [(0.42, 0.25), (0.5, 0.18)] + [(0.5, 0.18 + 0.64 * t / 12) for t in range(1, 13)]
    page.mouse.move(x0 + points[0][0] * w, y0 + points[0][1] * h)
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(x0 + fx * w, y0 + fy * h, steps=3)
    page.mouse.up()
    error = _wait_for_redraw(box, count, "a stroke on the draw-a-digit canvas")
    _shot(box, f"{stem}__draw_digit_after_stroke.png")
    if error:
        return [f"draw-a-digit failed after a stroke: {error}"]
    said = box.inner_text()
    if not re.search(r"The net says \d \(\d+% sure\)", said):
        return [f"draw-a-digit: no prediction shown after a stroke: {said[:300]!r}"]
    return []
