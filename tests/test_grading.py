"""./run grade (scripts/grade.py) and the lessons' nbgrader metadata (scripts/nbgrader_metadata.py).

Two grading runs are shared by the tests (module-scoped fixtures, two jobs each):

* every lesson, for the teacher edition and an untouched student edition;
* lessons 2 and 5, for the odd submissions: a planted conv2d_backward bug, functions that
  call cnnlib.ops, an endless loop in a function, an endless loop when my_cnn.py is
  imported, a missing notebook and a corrupt one.

Plus nbgrader's own generate_assignment and autograde commands on the layout
docs/TEACHING.md documents.
"""
import csv
import hashlib
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import time

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="nbgrader is not installed: ./run setup dev installs it (on Python 3.11+; nbgrader 0.9 needs 3.11)")

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
TEACHER_MODULE = NOTEBOOKS / "my_cnn.py"
ODD_LESSONS = ["02_convolution", "05_backprop"]
ODD_TIMEOUT = 120

def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


grader = _load("grade")
metadata = _load("nbgrader_metadata")
builder = _load("build_student_edition")


# ------------------------------------------------------------------ helpers
def teacher_copy(folder, lessons=LESSONS):
    """A student folder holding the teacher edition (every answer right)."""
    folder.mkdir(parents=True)
    for path in lessons:
        shutil.copyfile(path, folder / path.name)
    shutil.copyfile(TEACHER_MODULE, folder / "my_cnn.py")
    return folder


def with_module(folder, text):
    (folder / "my_cnn.py").write_text(text, encoding="utf-8")
    return folder


def hashes(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def rows_of(folder):
    with open(folder / "grades.csv", newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        return reader.fieldnames, list(reader)


def by_key(results):
    return {(r.student, r.lesson): r for r in results}


def items_mentioning(lessons, *names):
    """The grade_ids of the autograded cells (in ``lessons``) whose source names any of ``names``."""
    found = set()
    for path in LESSONS:
        if path.stem not in lessons:
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            if metadata.is_autograded_test(cell) and any(name in cell.source for name in names):
                found.add(metadata.nbgrader_of(cell)["grade_id"])
    return found


def failing(result):
    return {item.name for item in result.items if item.score < item.max_score}


# ------------------------------------------------------------------ the two shared runs
@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """Every lesson: the teacher edition and an untouched student edition; (DIR, results, before, seconds)."""
    submissions = tmp_path_factory.mktemp("class")
    teacher_copy(submissions / "teacher")
    builder.build(LESSONS + [TEACHER_MODULE], submissions / "untouched")
    (submissions / "feedback").mkdir()           # an earlier run's output: not a student
    (submissions / ".ipynb_checkpoints").mkdir()
    before = hashes(submissions)
    start = time.monotonic()
    results = grader.grade(submissions, jobs=2, timeout=300, log=lambda line: None)
    return submissions, results, before, time.monotonic() - start


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory):
    """Lessons 2 and 5 for six odd submissions; (DIR, results, seconds)."""
    submissions = tmp_path_factory.mktemp("odd")
    lessons = [p for p in LESSONS if p.stem in ODD_LESSONS]
    text = TEACHER_MODULE.read_text(encoding="utf-8")
    # Each odd module is the teacher's with one function redefined at its end (or a loop there).
    flipped_dx = ("\n_right_conv2d_backward = conv2d_backward\n\n"
                  "def conv2d_backward(dout, x, w, stride=1, padding=0):\n"
                  "    _, dw, db = _right_conv2d_backward(dout, x, w, stride, padding)\n"
                  "    dx, _, _ = _right_conv2d_backward(dout, x, w[:, :, ::-1, ::-1], stride, padding)  # BUG\n"
                  "    return dx, dw, db\n")
    with_module(teacher_copy(submissions / "conv_bug", lessons), text + flipped_dx)
    delegating = ("\nfrom cnnlib import ops\n\n"
                  "def conv2d_forward(x, w, b, stride=1, padding=0):\n"
                  "    return ops.conv2d_forward(x, w, b, stride=stride, padding=padding)[0]\n\n"
                  "def relu_forward(x):\n"
                  "    return ops.relu_forward(x)[0]\n")
    with_module(teacher_copy(submissions / "delegates", lessons), text + delegating)
    with_module(teacher_copy(submissions / "loop_in_function", lessons),
                text + "\ndef relu_backward(dout, x):\n    while True:\n        pass\n")
    with_module(teacher_copy(submissions / "loop_at_import", lessons), text + "\nwhile True:\n    pass\n")
    missing = teacher_copy(submissions / "missing_file", lessons)
    (missing / "lessons").mkdir()                  # downloaded into a subfolder: not graded, but named
    (missing / "05_backprop.ipynb").rename(missing / "lessons" / "05_backprop.ipynb")
    (submissions / "__MACOSX" / "missing_file").mkdir(parents=True)      # left by unzipping on a Mac
    corrupt = teacher_copy(submissions / "corrupt", lessons)
    data = (corrupt / "02_convolution.ipynb").read_bytes()
    (corrupt / "02_convolution.ipynb").write_bytes(data[: len(data) // 2])
    start = time.monotonic()
    results = grader.grade(submissions, lessons=ODD_LESSONS, jobs=1, timeout=ODD_TIMEOUT, log=lambda line: None)
    return submissions, results, time.monotonic() - start


# ------------------------------------------------------------------ the lessons' metadata
def test_lessons_nbgrader_metadata_is_valid():
    assert metadata.course_problems(LESSONS) == []
    items = [item for path in LESSONS for item in metadata.graded_items(nbformat.read(path, as_version=4))]
    assert items, "the lessons have no autograded test cell"
    assert all(points > 0 for _, points in items)


def test_metadata_problems_are_found(tmp_path):
    nb = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n")
    graded = nbformat.v4.new_code_cell("assert f() == 1\n")
    graded.metadata["nbgrader"] = {"grade": True, "grade_id": "same", "locked": True, "points": 0,
                                   "schema_version": 3, "solution": False}
    old = nbformat.v4.new_code_cell("assert f() == 1\n")
    old.metadata["nbgrader"] = {"grade": True, "grade_id": "old", "points": 1, "schema_version": 2,
                                "locked": True, "solution": False}
    nb.cells = [solution, graded, old]
    nbformat.write(nb, tmp_path / "01_a.ipynb")
    other = nbformat.v4.new_notebook()
    again = nbformat.v4.new_code_cell("### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS\n")
    again.metadata["nbgrader"] = {"grade": True, "grade_id": "same", "locked": False, "points": 1,
                                  "schema_version": 3, "solution": False}
    other.cells = [again]
    nbformat.write(other, tmp_path / "02_b.ipynb")
    (tmp_path / "03_c.ipynb").write_text("{not json", encoding="utf-8")
    problems = metadata.course_problems(sorted(tmp_path.glob("*.ipynb")))
    text = "\n".join(problems)
    assert "01_a.ipynb, cell 0: the cell has a '# BEGIN SOLUTION' region but is not an nbgrader solution" in text
    assert "01_a.ipynb, cell 1: grade cell 'same' has points 0" in text
    assert "01_a.ipynb, cell 2: metadata.nbgrader.schema_version is 2" in text
    assert "02_b.ipynb, cell 0: grade_id 'same' is also used in 01_a.ipynb, cell 1" in text
    assert "02_b.ipynb, cell 0: a '### BEGIN HIDDEN TESTS' region outside an autograded test cell" in text
    assert "03_c.ipynb: not a readable notebook" in text
    assert len(problems) == 6, problems


def test_an_unreadable_notebook_is_named_with_what_to_do(tmp_path):
    student = tmp_path / "ada"
    (student / ".ipynb_checkpoints").mkdir(parents=True)
    broken = student / "02_convolution.ipynb"
    broken.write_text('{"cells": [', encoding="utf-8")
    assert "ask the student to open it in JupyterLab" in grader._readable_notebook(broken)
    nbformat.write(nbformat.v4.new_notebook(), student / ".ipynb_checkpoints" / "02_convolution-checkpoint.ipynb")
    assert grader._readable_notebook(broken) == (
        "02_convolution.ipynb is not a readable notebook; Jupyter's last checkpoint of it is "
        "ada/.ipynb_checkpoints/02_convolution-checkpoint.ipynb: check it with the student, copy it over the "
        "broken file and grade again")
    nbformat.write(nbformat.v4.new_notebook(), broken)
    assert grader._readable_notebook(broken) is None


def test_grade_refuses_what_it_cannot_grade(tmp_path):
    with pytest.raises(grader.GradingError, match="holds no student folder"):
        grader.grade(tmp_path)
    (tmp_path / "feedback").mkdir()
    with pytest.raises(grader.GradingError, match="holds no student folder"):
        grader.grade(tmp_path)
    (tmp_path / "ann").mkdir()
    with pytest.raises(grader.GradingError, match="no lesson '9'"):
        grader.grade(tmp_path, lessons=["9"])
    with pytest.raises(grader.GradingError, match="--timeout must be a number of seconds > 0"):
        grader.grade(tmp_path, timeout=0)
    assert not (tmp_path / "grades.csv").exists()


# ------------------------------------------------------------------ every lesson
@pytest.mark.slow
def test_teacher_edition_gets_full_marks(full_run):
    submissions, results, _, seconds = full_run
    rows = [r for r in results if r.student == "teacher"]
    assert [r.lesson for r in rows] == [p.stem for p in LESSONS]
    assert sum(r.max_score for r in rows) > 0
    for r in rows:
        assert r.score == r.max_score, f"{r.lesson}: {[(i.name, i.message) for i in r.items if i.score < i.max_score]}"
        assert r.note == ""
    print(f"two students, every lesson, two jobs: {seconds:.0f} s")


@pytest.mark.slow
def test_untouched_student_edition_gets_zero_and_not_written_yet(full_run):
    _, results, _, _ = full_run
    rows = [r for r in results if r.student == "untouched"]
    assert len(rows) == len(LESSONS)
    for r in rows:
        assert r.score == 0, f"{r.lesson}: {[(i.name, i.message) for i in r.items if i.score]}"
        if r.max_score:
            assert r.note.startswith("not written yet: "), f"{r.lesson}: {r.note!r}"


@pytest.mark.slow
def test_grades_csv_feedback_and_students_files(full_run):
    submissions, results, before, _ = full_run
    columns, rows = rows_of(submissions)
    assert columns == ["student", "lesson", "score", "max_score", "note"]
    assert [(row["student"], row["lesson"]) for row in rows] == [(r.student, r.lesson) for r in results]
    assert {row["student"] for row in rows} == {"teacher", "untouched"}      # not feedback/ nor a hidden folder
    for row, r in zip(rows, results):
        assert (float(row["score"]), float(row["max_score"]), row["note"]) == (r.score, r.max_score, r.note)
    after = hashes(submissions)
    assert {k: v for k, v in after.items() if k in before} == before, "a student's file changed"
    written = {p.as_posix() for p in set(after) - set(before)}
    assert written == {"grades.csv", "totals.csv", "items.csv", "feedback/teacher.html", "feedback/untouched.html"}
    umask = os.umask(0)
    os.umask(umask)
    for name in written:       # the mode open() would give (0644 under the usual umask), not mkstemp's 0600
        assert (submissions / name).stat().st_mode & 0o777 == 0o666 & ~umask, f"{name} has mkstemp's private mode"
    with open(submissions / "totals.csv", newline="", encoding="utf-8") as file:
        totals = {row["student"]: (float(row["score"]), float(row["max_score"])) for row in csv.DictReader(file)}
    most = sum(r.max_score for r in results if r.student == "teacher")
    assert totals == {"teacher": (most, most), "untouched": (0.0, most)}
    page = (submissions / "feedback" / "untouched.html").read_text(encoding="utf-8")
    conv = next(i for r in results if r.student == "untouched" for i in r.items if "conv2d-backward" in i.name)
    assert conv.name in page and "not written yet" in page and "0 / " in page
    with open(submissions / "items.csv", newline="", encoding="utf-8") as file:
        items = list(csv.DictReader(file))
    assert len(items) == sum(len(r.items) for r in results)
    assert all(row["message"].startswith("✓") for row in items if row["student"] == "teacher")


# ------------------------------------------------------------------ odd submissions
@pytest.mark.slow
def test_planted_conv_backward_bug_loses_exactly_its_points(odd_run):
    _, results, _ = odd_run
    rows = by_key(results)
    expected = items_mentioning(ODD_LESSONS, "conv2d_backward")
    assert expected, "no autograded item checks conv2d_backward"
    lost = set().union(*(failing(rows["conv_bug", lesson]) for lesson in ODD_LESSONS))
    said = {item.name: item.message for lesson in ODD_LESSONS for item in rows["conv_bug", lesson].items}
    assert lost == expected, {name: said.get(name) for name in lost ^ expected}
    item = next(i for i in rows["conv_bug", "05_backprop"].items if i.name in expected)
    assert item.score == 0 and "dx" in item.message, item.message


@pytest.mark.slow
def test_functions_that_call_cnnlib_get_zero_for_those_items(odd_run):
    _, results, _ = odd_run
    rows = by_key(results)
    expected = items_mentioning(ODD_LESSONS, "conv2d_forward", "relu_forward")
    lost = set().union(*(failing(rows["delegates", lesson]) for lesson in ODD_LESSONS))
    assert lost == expected
    for lesson in ODD_LESSONS:
        for item in rows["delegates", lesson].items:
            if item.name in expected:
                assert item.score == 0 and "cnnlib" in item.message, item.message


@pytest.mark.slow
def test_endless_loop_in_a_function_is_stopped_by_the_check(odd_run):
    _, results, _ = odd_run
    rows = by_key(results)
    lost = set().union(*(failing(rows["loop_in_function", lesson]) for lesson in ODD_LESSONS))
    assert lost == items_mentioning(ODD_LESSONS, "relu_backward")
    item = next(i for i in rows["loop_in_function", "05_backprop"].items if i.name in lost)
    assert "was stopped" in item.message, item.message
    assert all(r.seconds < ODD_TIMEOUT for r in results if r.student == "loop_in_function")


@pytest.mark.slow
def test_endless_loop_at_import_is_graded_within_the_time_limit(odd_run):
    _, results, seconds = odd_run
    module_items = items_mentioning(ODD_LESSONS, "my_cnn")
    for lesson in ODD_LESSONS:
        r = by_key(results)["loop_at_import", lesson]
        assert {item.name for item in r.items if item.score < item.max_score} == {
            item.name for item in r.items if item.name in module_items}, "the notebook's own items are graded"
        assert r.score == sum(item.max_score for item in r.items if item.name not in module_items) < r.max_score
        assert "my_cnn.py did not finish importing within" in r.note, r.note
    assert seconds < 4 * ODD_TIMEOUT


@pytest.mark.slow
def test_missing_and_corrupt_notebooks_get_rows_with_reasons(odd_run):
    submissions, results, seconds = odd_run
    rows = by_key(results)
    assert rows["missing_file", "05_backprop"].note.startswith(
        "missing 05_backprop.ipynb (found lessons/05_backprop.ipynb: put the file directly in missing_file/")
    assert not any(student == "__MACOSX" for student, _ in rows)
    assert rows["missing_file", "05_backprop"].score == 0
    assert rows["missing_file", "02_convolution"].score == rows["missing_file", "02_convolution"].max_score
    assert rows["corrupt", "02_convolution"].note == ("02_convolution.ipynb is not a readable notebook; it was "
                                                      "probably cut off in the upload or edited outside Jupyter: "
                                                      "ask the student to open it in JupyterLab, save it and "
                                                      "hand it in again")
    assert rows["corrupt", "05_backprop"].score == rows["corrupt", "05_backprop"].max_score
    _, csv_rows = rows_of(submissions)
    assert len(csv_rows) == 6 * len(ODD_LESSONS)
    print(f"six odd students, two lessons, two jobs: {seconds:.0f} s")


# ------------------------------------------------------------------ nbgrader's own commands
@pytest.mark.slow
def test_nbgrader_commands_on_the_documented_layout(tmp_path):
    """docs/TEACHING.md's layout: generate_assignment, then autograde a submission with its own my_cnn.py."""
    course = tmp_path / "course"
    source = course / "source" / "lessons"
    source.mkdir(parents=True)
    lesson = NOTEBOOKS / "03_pooling.ipynb"
    shutil.copyfile(lesson, source / lesson.name)
    stubs, _ = builder.student_module(TEACHER_MODULE.read_text(encoding="utf-8"), "my_cnn.py")
    (source / "my_cnn.py").write_text(stubs, encoding="utf-8")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'cnn-from-scratch'\n"
        "c.Autograde.exclude_overwriting = {'lessons': ['my_cnn.py']}\n"
        "c.Execute.timeout = 300\n"
        "from nbgrader.preprocessors import ClearHiddenTests, GetGrades\n"
        "from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor\n"
        "c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]\n",
        encoding="utf-8")
    env = grader._environment()

    def nbgrader(*args):
        done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    nbgrader("generate_assignment", "lessons")
    released = (course / "release" / "lessons" / "my_cnn.py").read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in released and "NotImplementedError" in released
    # nbgrader's own release holds no answer, hidden test or teacher output either
    release_text = (course / "release" / "lessons" / lesson.name).read_text(encoding="utf-8")
    for secret in ("**Answer.**", "BEGIN HIDDEN TESTS", "seed=3613", "✓"):
        assert secret not in release_text, f"nbgrader's release shows {secret!r}"
    assert "YOUR ANSWER HERE" in release_text
    submitted = course / "submitted" / "alice" / "lessons"
    submitted.mkdir(parents=True)
    shutil.copyfile(course / "release" / "lessons" / lesson.name, submitted / lesson.name)
    shutil.copyfile(TEACHER_MODULE, submitted / "my_cnn.py")       # alice wrote every function
    nbgrader("autograde", "lessons")
    nbgrader("generate_feedback", "lessons")         # with TEACHING.md's config: no hidden test shown
    page = (course / "feedback" / "alice" / "lessons" / f"{lesson.stem}.html").read_text(encoding="utf-8")
    assert "maxpool_forward" in page and "BEGIN HIDDEN TESTS" not in page and "seed=3613" not in page
    assert (course / "autograded" / "alice" / "lessons" / "my_cnn.py").read_text() == TEACHER_MODULE.read_text()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "cnn-from-scratch") as gradebook:
        submission = gradebook.find_submission("lessons", "alice")
        teacher = nbformat.read(lesson, as_version=4)
        items = metadata.graded_items(teacher)
        written = sum(metadata.nbgrader_of(c)["points"] for c in teacher.cells
                      if c.cell_type == "markdown" and metadata.nbgrader_of(c).get("grade"))
        assert items and written > 0
        # every autograded point; the written answers wait for the teacher (manually graded cells)
        assert submission.score == sum(points for _, points in items)
        assert submission.max_score == sum(points for _, points in items) + written


# ------------------------------------------------------------------ notes about the student's module
def test_a_module_that_does_not_import_is_named_with_its_error_and_line(tmp_path):
    (tmp_path / "my_cnn.py").write_text("import numpy as np\n\ndef relu_forward(x)\n    return x\n", encoding="utf-8")
    hang, error = grader._probe_import(tmp_path, 20)
    assert hang is None and error.startswith("my_cnn.py does not import: SyntaxError") and "(line 3)" in error, error
    (tmp_path / "my_cnn.py").write_text("import numpy as np\n", encoding="utf-8")
    assert grader._probe_import(tmp_path, 20) == (None, None)


def test_a_module_that_reaches_into_the_checks_is_flagged_for_review(tmp_path):
    module = tmp_path / "my_cnn.py"
    module.write_text("import __main__\n__main__.check_relu_forward = lambda *a, **k: print('✓')\n", encoding="utf-8")
    note = grader._suspicious(module)
    assert note.startswith("review my_cnn.py by hand: it mentions") and "__main__" in note, note
    module.write_text(TEACHER_MODULE.read_text(encoding="utf-8"), encoding="utf-8")
    assert grader._suspicious(module) is None, "the teacher's solutions must raise no flag"
