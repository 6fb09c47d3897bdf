"""Grade a class's work on the lessons with nbgrader: ``./run grade DIR``.

Usage:  python scripts/grade.py DIR [--timeout SECONDS] [--jobs N]

DIR holds one folder per student, each with that student's copies of the student-edition
files, under the same names: ``01_motivation.ipynb`` ... ``06_full_training.ipynb`` and
``my_cnn.py``. A folder named ``feedback`` (what this script writes) and hidden folders
are not students. The script

1. builds an nbgrader course in a temporary folder (never inside DIR or notebooks/):
   ``source/lessons/`` holds the teacher notebooks (with the hidden tests) and the
   STUDENT edition of ``my_cnn.py`` (stubs only, so no solution can reach a release);
   ``nbgrader generate_assignment`` records every graded item in the gradebook;
2. copies each student's files into ``submitted/<student>/lessons/`` (the students' own
   files are only read, never changed);
3. runs ``nbgrader autograde`` once per (student, notebook), in a fresh kernel, with the
   student's own ``my_cnn.py`` (``Autograde.exclude_overwriting``) and the teacher's test
   cells (nbgrader puts the hidden tests back), each within ``--timeout`` seconds all
   told, so one hanging notebook costs only its own time;
4. writes ``DIR/grades.csv`` (student, lesson, score, max_score, note), ``DIR/totals.csv``
   (student, score, max_score), ``DIR/items.csv`` (one row per graded item, with the check's
   first line) and ``DIR/feedback/<student>.html``.
   Each is written to a temporary file first and then renamed over the old one.

A student folder with a missing or unreadable notebook, or code that hangs, gets its rows
with what could be graded and a reason in plain words; the run goes on. Written answers
are not graded here: the teacher grades them with docs/TEACHING.md's rubric.
"""
import argparse
import concurrent.futures
import csv
import dataclasses
import html
import importlib.util
import io
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ASSIGNMENT = "lessons"
COURSE_ID = "cnn-from-scratch"
STUDENT_MODULE = "my_cnn.py"
FEEDBACK_DIR = "feedback"
DEFAULT_TIMEOUT = 300      # seconds per notebook: a lesson runs in 8-16 s here, training with loops takes longer
IMPORT_TIME_LIMIT = 20     # seconds for `import my_cnn` alone: more means a loop at the top level
GRADES_COLUMNS = ["student", "lesson", "score", "max_score", "note"]
ITEMS_COLUMNS = ["student", "lesson", "item", "score", "max_score", "message"]
NOT_WRITTEN = "not written yet"


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


metadata = _load_script("nbgrader_metadata")
builder = _load_script("build_student_edition")


class GradingError(ValueError):
    """The run cannot start: DIR, the teacher notebooks or nbgrader are not as they must be."""


# ============================================================================ results
@dataclasses.dataclass
class Item:
    """One autograded test cell's result for one student."""
    name: str                  # the cell's grade_id
    score: float
    max_score: float
    message: str = ""          # what the check said (its "✓" line or its "✗" message)

    @property
    def label(self):
        """The exercise the check names ("✗ conv2d_backward: ..."), else the grade_id."""
        match = re.match(r"✗ ([^:\n]+):", self.message.strip())
        return match.group(1) if match else self.name


@dataclasses.dataclass
class LessonResult:
    """One (student, notebook): its items and, when not everything could be graded, why."""
    student: str
    lesson: str                # the notebook's name without .ipynb
    items: list
    max_score: float
    notes: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self):
        return sum(item.score for item in self.items)

    @property
    def note(self):
        """The row's note: the reasons, then the items not written yet, in plain words."""
        unwritten = [item.label for item in self.items if NOT_WRITTEN in item.message and item.score == 0]
        wrong = [item.label for item in self.items if item.score < item.max_score and NOT_WRITTEN not in item.message]
        parts = list(self.notes)
        if unwritten:
            parts.append(f"{NOT_WRITTEN}: {', '.join(sorted(unwritten))}")
        if wrong and not self.notes:
            parts.append(f"check failed: {', '.join(sorted(wrong))}")
        return "; ".join(parts)


def _points(value):
    """2.0 -> "2", 1.5 -> "1.5": how a score reads in grades.csv."""
    return f"{value:g}"


# ============================================================================ the nbgrader course
def _inside(path, folder):
    path, folder = pathlib.Path(path).resolve(), pathlib.Path(folder).resolve()
    return path == folder or folder in path.parents


def _nbgrader(course, *args, timeout=None):
    """Run ``python -m nbgrader ARGS`` in ``course``; returns the CompletedProcess (or raises TimeoutExpired).

    The command runs in a process group of its own, so a timeout ends it and everything it
    started (the kernel also stops by itself once its parent is gone).
    """
    env = _environment()
    process = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


def _environment():
    """The environment of nbgrader and the kernels: this Python's bin folder first on PATH (nbgrader
    runs its `alembic` from there), one BLAS thread (as the lessons set), no .pyc files in the course."""
    path = os.pathsep.join([str(pathlib.Path(sys.executable).parent), os.environ.get("PATH", "")])
    return dict(os.environ, PATH=path, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"),
                PYTHONDONTWRITEBYTECODE="1")


def _kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.communicate()


def write_config(course, timeout):
    """The course's nbgrader_config.py: its folder, the student's module kept, the time limit."""
    text = (
        "# Written by scripts/grade.py for one grading run.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        "# Autograde runs the student's own my_cnn.py, not the source folder's copy (stubs).\n"
        f"c.Autograde.exclude_overwriting = {{{ASSIGNMENT!r}: [{STUDENT_MODULE!r}]}}\n"
        "# One cell may use the notebook's whole time; scripts/grade.py ends the notebook at the limit.\n"
        f"c.Execute.timeout = {int(timeout)}\n"
        "c.Execute.startup_timeout = 60\n"
    )
    (pathlib.Path(course) / "nbgrader_config.py").write_text(text, encoding="utf-8")


def build_course(course, teacher_dir, notebooks, timeout):
    """Make the nbgrader course in ``course`` and run generate_assignment.

    Parameters
    ----------
    course : path
        A new, empty folder.
    teacher_dir : path
        The teacher edition: the notebooks and ``my_cnn.py`` with its solutions.
    notebooks : list of path
        The teacher notebooks to grade (all lessons are one assignment).
    timeout : int
        Seconds per notebook.

    Returns
    -------
    dict
        ``{lesson: [(grade_id, points), ...]}``, the autograded items of each notebook.
    """
    course = pathlib.Path(course)
    source = course / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    write_config(course, timeout)
    items = {}
    for path in notebooks:
        shutil.copyfile(path, source / path.name)
        items[path.stem] = metadata.graded_items(nbformat.read(path, as_version=4))
    module = pathlib.Path(teacher_dir) / STUDENT_MODULE
    if module.is_file():
        # The source copy only shapes the release; it must never hold a solution.
        text, _ = builder.student_module(module.read_text(encoding="utf-8"), STUDENT_MODULE)
        (source / STUDENT_MODULE).write_text(text, encoding="utf-8")
    done = _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force", timeout=600)
    if done.returncode != 0:
        raise GradingError(f"nbgrader generate_assignment failed on the teacher notebooks:\n{_tail(done.stdout)}")
    return items


def _tail(text, lines=15):
    return "\n".join(text.strip().splitlines()[-lines:])


# ============================================================================ one student
def student_folders(submissions):
    """The student folders of ``submissions``, sorted by name.

    Not ``feedback`` (our output), not hidden folders, and not ``__MACOSX`` or other names
    starting with ``__`` (left behind by unzipping on a Mac).
    """
    return sorted(p for p in pathlib.Path(submissions).iterdir()
                  if p.is_dir() and p.name != FEEDBACK_DIR and not p.name.startswith((".", "__")))


def _readable_notebook(path):
    """None if ``path`` is a notebook nbgrader can read, else the reason in plain words."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception:       # JSON errors, schema errors, a binary file: all the same to a teacher
        path = pathlib.Path(path)
        checkpoint = path.parent / ".ipynb_checkpoints" / f"{path.stem}-checkpoint{path.suffix}"
        advice = (f"; Jupyter's last checkpoint of it is {checkpoint.relative_to(path.parent.parent)}: check it "
                  "with the student, copy it over the broken file and grade again" if checkpoint.is_file() else
                  "; it was probably cut off in the upload or edited outside Jupyter: ask the student to "
                  "open it in JupyterLab, save it and hand it in again")
        return f"{path.name} is not a readable notebook{advice}"
    return None


def _look_alike(folder, name):
    """", found <other>: ..." when a file that is probably ``name`` sits elsewhere in ``folder``."""
    stem = pathlib.Path(name).stem
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != name and path.name.startswith(stem) and path.suffix == pathlib.Path(name).suffix \
                and ".ipynb_checkpoints" not in path.parts:
            return (f" (found {path.relative_to(folder)}: put the file directly in {folder.name}/ under the name "
                    f"{name}, then grade again)")
        if path.is_file() and path.name == name:
            return (f" (found {path.relative_to(folder)}: put the file directly in {folder.name}/, then grade again)")
    return ""


def _probe_import(folder, limit):
    """Import the student's my_cnn.py alone in a fresh Python, within ``limit`` s.

    Returns ``(hang, error)``: the reason the import hangs (the lessons then run with a
    my_cnn.py that raises ImportError at once, so only the module's items fail), or the error it raises, such as "SyntaxError: ... (line 63)" (the lessons still
    run, and their rows say why the module's items fail); ``(None, None)`` when it imports.
    """
    process = subprocess.Popen([sys.executable, "-c", "import my_cnn"], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                               env=_environment(), text=True, errors="replace")
    try:
        _, stderr = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        return (f"{STUDENT_MODULE} did not finish importing within {limit} s (look for a loop at its top level), "
                "so its items were not run"), None
    if process.returncode != 0:
        lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
        where = next((line for line in reversed(lines) if line.startswith('File "') and STUDENT_MODULE in line), "")
        line_number = re.search(r"line (\d+)", where)
        error = (lines[-1] if lines else "an error")[:200]
        at = f" (line {line_number.group(1)})" if line_number else ""
        return None, f"{STUDENT_MODULE} does not import: {error}{at}"
    return None, None


#: What a my_cnn.py has no reason to touch: the notebook's namespace, the checks, other modules'
#: attributes. A file that mentions one gets a note asking the teacher to read it: the checks
#: run in the same Python as the student's code, so no autograder can rule tampering out.
SUSPICIOUS = re.compile(r"__main__|\bbuiltins\b|\bcheck_\w+|cnnlib\.explore|\bsetattr\s*\(|sys\.modules|"
                        r"\bglobals\s*\(|get_ipython|\binspect\b|sys\._getframe")


def _suspicious(module_path):
    """A note naming what in the student's my_cnn.py deserves a look by hand, or None."""
    try:
        text = module_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = sorted(set(match.group(0).strip() for match in SUSPICIOUS.finditer(text)))
    if not found:
        return None
    return f"review {STUDENT_MODULE} by hand: it mentions {', '.join(found[:5])}"


def _messages(autograded_nb):
    """{grade_id: what the cell printed or raised}, from an autograded notebook."""
    found = {}
    for cell in autograded_nb.cells:
        grade_id = metadata.nbgrader_of(cell).get("grade_id")
        if not grade_id or cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            error = errors[-1]
            text = str(error.get("evalue", "")).strip()
            if error.get("ename") == "NotImplementedError":
                text = f"{NOT_WRITTEN} ({text})" if text else NOT_WRITTEN
            elif error.get("ename") == "CellTimeoutError":
                text = "the cell ran out of time"
            elif not text.startswith("✗"):
                text = f"{error.get('ename', 'error')}: {text}"
        else:
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        found[grade_id] = text.strip()
    return found


class Grader:
    """Grades students one notebook at a time in one nbgrader course (one worker's copy)."""

    def __init__(self, course, items, timeout, log):
        self.course = pathlib.Path(course)
        self.items = items
        self.timeout = timeout
        self.log = log

    def _submission(self, student):
        return self.course / "submitted" / student / ASSIGNMENT

    def collect(self, folder):
        """Copy the student's files into submitted/; returns {lesson: reason it cannot be graded}."""
        target = self._submission(folder.name)
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        blocked = {}
        for lesson in self.items:
            path = folder / f"{lesson}.ipynb"
            if not path.is_file():
                blocked[lesson] = f"missing {path.name}" + _look_alike(folder, path.name)
                continue
            reason = _readable_notebook(path)
            if reason:
                blocked[lesson] = reason
                continue
            shutil.copyfile(path, target / path.name)
        module = folder / STUDENT_MODULE
        if module.is_file():
            shutil.copyfile(module, target / STUDENT_MODULE)
        return blocked

    def results_of(self, student, lesson):
        """The items the gradebook holds for (student, lesson), with the checks' messages."""
        from nbgrader.api import Gradebook, MissingEntry

        autograded = self.course / "autograded" / student / ASSIGNMENT / f"{lesson}.ipynb"
        messages = _messages(nbformat.read(autograded, as_version=4)) if autograded.is_file() else {}
        scores = {}
        with Gradebook(f"sqlite:///{self.course / 'gradebook.db'}", COURSE_ID) as gradebook:
            try:
                submitted = gradebook.find_submission_notebook(lesson, ASSIGNMENT, student)
            except MissingEntry:
                submitted = None
            for grade in submitted.grades if submitted is not None else []:
                scores[grade.name] = grade.auto_score
        return [Item(name, float(scores.get(name) or 0.0), points, messages.get(name, ""))
                for name, points in self.items[lesson]]

    def grade_student(self, folder):
        """[LessonResult] for one student folder, one per lesson."""
        student = folder.name
        blocked = self.collect(folder)
        module_note = review_note = None
        if not (folder / STUDENT_MODULE).is_file():
            module_note = f"missing {STUDENT_MODULE}" + _look_alike(folder, STUDENT_MODULE)
        else:
            hang, module_note = _probe_import(self._submission(student), IMPORT_TIME_LIMIT)
            review_note = _suspicious(folder / STUDENT_MODULE)
            if hang:    # grade the notebooks' own items; the module's fail at once, not after the time limit
                module_note = hang
                (self._submission(student) / STUDENT_MODULE).write_text(f"raise ImportError({hang!r})\n",
                                                                       encoding="utf-8")
        results = []
        for lesson, items in self.items.items():
            max_score = sum(points for _, points in items)
            result = LessonResult(student, lesson, [], max_score)
            if lesson in blocked:
                result.notes.append(blocked[lesson])
                result.items = [Item(name, 0.0, points, blocked[lesson]) for name, points in items]
                results.append(result)
                continue
            start = time.monotonic()
            try:
                done = _nbgrader(self.course, "autograde", ASSIGNMENT, "--student", student, "--notebook", lesson,
                                 "--force", timeout=self.timeout)
            except subprocess.TimeoutExpired:
                result.seconds = time.monotonic() - start
                reason = f"timed out after {_points(self.timeout)} s"
                result.notes.append(reason)
                result.items = [Item(name, 0.0, points, reason) for name, points in items]
                results.append(result)
                continue
            result.seconds = time.monotonic() - start
            if done.returncode != 0:
                self.log(f"  nbgrader autograde failed for {student}/{lesson}:\n{_tail(done.stdout)}")
                result.notes.append("nbgrader could not grade this notebook (see the run's log)")
            result.items = self.results_of(student, lesson)
            uses_module = "my_cnn" in (self.course / "source" / ASSIGNMENT / f"{lesson}.ipynb").read_text(
                encoding="utf-8")
            if module_note and uses_module and any(item.score < item.max_score for item in result.items):
                result.notes.append(module_note)
            if review_note and uses_module:
                result.notes.append(review_note)
            results.append(result)
        return results


# ============================================================================ writing the results
def _write_atomically(path, text):
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = pathlib.Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        # mkstemp makes the file private (0600); give it the mode a plain open() would (0644 under
        # the usual umask), so a teaching assistant or a web server on a shared hub can read it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def _csv_text(columns, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def grades_csv(results):
    """grades.csv's text: one row per (student, lesson)."""
    return _csv_text(GRADES_COLUMNS, [[r.student, r.lesson, _points(r.score), _points(r.max_score), r.note]
                                      for r in results])


def totals_csv(results):
    """totals.csv's text: one row per student, the autograded points of every lesson added up."""
    students = list(dict.fromkeys(r.student for r in results))
    return _csv_text(["student", "score", "max_score"],
                     [[s, _points(sum(r.score for r in results if r.student == s)),
                       _points(sum(r.max_score for r in results if r.student == s))] for s in students])


def items_csv(results):
    """items.csv's text: one row per graded item, with the first line of what its check said."""
    rows = []
    for r in results:
        for item in r.items:
            first = item.message.strip().splitlines()[0] if item.message.strip() else ""
            rows.append([r.student, r.lesson, item.name, _points(item.score), _points(item.max_score), first])
    return _csv_text(ITEMS_COLUMNS, rows)


def feedback_html(student, results):
    """One student's feedback page: per lesson, each item, its points and what its check said."""
    e = html.escape
    total, most = sum(r.score for r in results), sum(r.max_score for r in results)
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>Feedback: {e(student)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #999;padding:.3em .5em;"
        "vertical-align:top;text-align:left}pre{white-space:pre-wrap;margin:0}"
        ".full{background:#e8f0fe}.lost{background:#fdecea}</style>",
        "</head>", "<body>",
        f"<h1>Feedback for {e(student)}</h1>",
        f"<p>Autograded points: <strong>{_points(total)} of {_points(most)}</strong>. "
        "Your written answers are graded by your teacher separately.</p>",
    ]
    for r in results:
        parts.append(f"<h2>{e(r.lesson)}: {_points(r.score)} of {_points(r.max_score)}</h2>")
        if r.note:
            parts.append(f"<p>{e(r.note)}</p>")
        if not r.items:
            parts.append("<p>No autograded items in this lesson.</p>")
            continue
        parts.append("<table><tr><th>item</th><th>points</th><th>what the check said</th></tr>")
        for item in r.items:
            css = "full" if item.score >= item.max_score else "lost"
            parts.append(f'<tr class="{css}"><td>{e(item.name)}</td>'
                         f"<td>{_points(item.score)} / {_points(item.max_score)}</td>"
                         f"<td><pre>{e(item.message)}</pre></td></tr>")
        parts.append("</table>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_results(submissions, results):
    """grades.csv, items.csv and feedback/<student>.html in ``submissions``, each written atomically."""
    submissions = pathlib.Path(submissions)
    _write_atomically(submissions / "grades.csv", grades_csv(results))
    _write_atomically(submissions / "totals.csv", totals_csv(results))
    _write_atomically(submissions / "items.csv", items_csv(results))
    feedback = submissions / FEEDBACK_DIR
    feedback.mkdir(exist_ok=True)
    by_student = {}
    for r in results:
        by_student.setdefault(r.student, []).append(r)
    for student, rows in by_student.items():
        _write_atomically(feedback / f"{student}.html", feedback_html(student, rows))


# ============================================================================ the whole run
def teacher_notebooks(teacher_dir, lessons=None):
    """The teacher notebooks to grade: all ``0N_*.ipynb``, or those ``lessons`` names.

    ``lessons`` holds notebook names without ``.ipynb`` (``05_backprop``) or lesson
    numbers (``5``); a name that matches no notebook raises :class:`GradingError`.
    """
    notebooks = sorted(pathlib.Path(teacher_dir).glob("[0-9]*.ipynb"))
    if not lessons:
        return notebooks
    chosen = []
    for wanted in lessons:
        match = [p for p in notebooks if p.stem == wanted or (wanted.isdigit() and p.stem.split("_")[0].lstrip("0")
                                                               == wanted.lstrip("0"))]
        if not match:
            raise GradingError(f"no lesson {wanted!r} in {teacher_dir}; name one of "
                               f"{', '.join(p.stem for p in notebooks)} (or its number)")
        chosen += [p for p in match if p not in chosen]
    return sorted(chosen)


def grade(submissions, *, teacher_dir=NOTEBOOKS, lessons=None, timeout=DEFAULT_TIMEOUT, jobs=1, keep_course=False,
          log=print):
    """Grade every student folder in ``submissions``; write the results there and return them.

    Parameters
    ----------
    submissions : path
        The folder of student folders (see the module's docstring).
    teacher_dir : path
        The teacher edition to grade against: notebooks with nbgrader metadata, and my_cnn.py.
    lessons : list of str, optional
        Grade only these lessons (see :func:`teacher_notebooks`); default: all.
    timeout : int
        Seconds per (student, notebook), kernel start included.
    jobs : int
        Students graded at the same time (each job has its own copy of the course).
    keep_course : bool
        Keep the temporary nbgrader course (its autograded notebooks) and log where it is.
    log : callable
        Where progress lines go.

    Returns
    -------
    list of LessonResult
        One per (student, lesson), students in name order.

    Raises
    ------
    GradingError
        When ``submissions`` holds no student folder, the teacher notebooks' metadata is
        wrong, or nbgrader cannot generate the assignment.
    """
    submissions, teacher_dir = pathlib.Path(submissions), pathlib.Path(teacher_dir)
    if not submissions.is_dir():
        raise GradingError(f"{submissions} is not a folder; give the folder that holds one folder per student")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise GradingError(f"--timeout must be a number of seconds > 0, got {timeout!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise GradingError(f"--jobs must be an integer >= 1, got {jobs!r}")
    folders = student_folders(submissions)
    if not folders:
        raise GradingError(f"{submissions} holds no student folder; put each student's files in a folder of "
                           "their own (DIR/<student>/01_motivation.ipynb ..., DIR/<student>/my_cnn.py)")
    notebooks = teacher_notebooks(teacher_dir, lessons)
    if not notebooks:
        raise GradingError(f"no teacher notebooks (0N_*.ipynb) in {teacher_dir}")
    if sys.version_info < (3, 11):
        raise GradingError(f"grading uses nbgrader 0.9, which needs Python 3.11 or newer; this is Python "
                           f"{sys.version.split()[0]}. Run it with a newer Python (for ./run grade: "
                           "PYTHON=python3.11 in a checkout whose .venv was made with it)")
    if importlib.util.find_spec("nbgrader") is None:
        raise GradingError("nbgrader is not installed; `./run grade` installs it, or: pip install nbgrader")
    problems = metadata.course_problems(notebooks)
    if problems:
        raise GradingError("the teacher notebooks' nbgrader metadata is not right:\n  " + "\n  ".join(problems))

    base = pathlib.Path(tempfile.mkdtemp(prefix="cnnlib-grading-"))
    for forbidden in (submissions, NOTEBOOKS, teacher_dir):
        if _inside(base, forbidden):
            shutil.rmtree(base)
            raise GradingError(f"the temporary folder {base} lies inside {forbidden}; set TMPDIR elsewhere")
    try:
        course = base / "course"
        start = time.monotonic()
        items = build_course(course, teacher_dir, notebooks, timeout)
        n_items = sum(len(v) for v in items.values())
        log(f"nbgrader course ready ({len(items)} notebooks, {n_items} autograded items) in "
            f"{time.monotonic() - start:.0f} s; grading {len(folders)} student(s), {_points(timeout)} s per notebook")
        jobs = min(jobs, len(folders))
        courses = [course] + [base / f"course-{k}" for k in range(1, jobs)]
        for extra in courses[1:]:
            shutil.copytree(course, extra)
            write_config(extra, timeout)
        free = list(courses)
        lock = threading.Lock()

        def work(folder):
            with lock:
                mine = free.pop()
            try:
                began = time.monotonic()
                rows = Grader(mine, items, timeout, log).grade_student(folder)
                score, most = sum(r.score for r in rows), sum(r.max_score for r in rows)
                log(f"{folder.name}: {_points(score)} of {_points(most)} points in {time.monotonic() - began:.0f} s")
                return rows
            finally:
                with lock:
                    free.append(mine)

        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            per_student = list(pool.map(work, folders))
        results = [row for rows in per_student for row in rows]
        write_results(submissions, results)
        log(f"wrote {submissions / 'grades.csv'}, totals.csv, items.csv and "
            f"{submissions / FEEDBACK_DIR}/<student>.html in {time.monotonic() - start:.0f} s")
        return results
    finally:
        if keep_course:
            log(f"the nbgrader course is kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("submissions", type=pathlib.Path, metavar="DIR",
                        help="the folder with one folder per student")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds per notebook, kernel start included (default: {DEFAULT_TIMEOUT})")
    parser.add_argument("--jobs", type=int, default=1, help="students graded at the same time (default: 1)")
    parser.add_argument("--teacher", type=pathlib.Path, default=NOTEBOOKS,
                        help="the teacher edition to grade against (default: notebooks/)")
    parser.add_argument("--lessons", help="grade only these lessons, by number or name: 2,5 or 05_backprop "
                                           "(default: all)")
    parser.add_argument("--keep-course", action="store_true",
                        help="keep the temporary nbgrader course (its autograded notebooks) and say where")
    args = parser.parse_args(argv)
    try:
        lessons = [name.strip() for name in args.lessons.split(",") if name.strip()] if args.lessons else None
        grade(args.submissions, teacher_dir=args.teacher, lessons=lessons, timeout=args.timeout, jobs=args.jobs,
              keep_course=args.keep_course)
    except GradingError as error:
        sys.exit(f"grading did not run: {error}")


if __name__ == "__main__":
    main()
