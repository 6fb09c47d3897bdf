"""Issue 12, cases 2 and 3: the student build neither destroys work nor leaks answers.

Before: ``./run student --out notebooks`` overwrote the teacher edition (every solution
gone), a re-run erased a student's edited notebook, and ``# BEGIN_SOLUTION``, a tag
``Solution`` or ``solutions``, ``<!-- Begin Solution -->`` in markdown or text in cell
metadata built with exit 0 and the answer in the student file. Each variant below hides
the answer ``SECRET_ANSWER_4217`` and must either be stripped or stop the build, and no
student file may ever contain the secret.
"""
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "build_student_edition.py"
_spec = importlib.util.spec_from_file_location("build_student_edition_hardening", SCRIPT)
builder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(builder)

SECRET = "SECRET_ANSWER_4217"
LESSONS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def notebook(*cells, **metadata):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata.update(metadata)
    return nb


def code(source, **metadata):
    return nbformat.v4.new_code_cell(source, metadata=metadata)


def markdown(source, **metadata):
    return nbformat.v4.new_markdown_cell(source, metadata=metadata)


def run_build(*args):
    """The build's command line, in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            builder.main([str(a) for a in args])
        except SystemExit as done:          # sys.exit("message") prints it and exits with 1
            status = done.code if isinstance(done.code, int) else 1
            if isinstance(done.code, str):
                print(done.code, file=err)
    return status, out.getvalue(), err.getvalue()


def run_build_process(*args):
    """The same in a fresh process, as `./run student` runs it."""
    done = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    return done.returncode, done.stdout, done.stderr


def everything_under(folder):
    """All bytes of all files below ``folder`` (nothing if it does not exist)."""
    if not folder.exists():
        return b""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def tree_hashes(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------- case 3: near misses

EXERCISE = "def double(x):\n    {begin}\n    return 2 * x  # " + SECRET + "\n    {end}\n"

CODE_VARIANTS = {    # the line that opens (or closes) the region, and the line the error must name
    "underscore": ("# BEGIN_SOLUTION", "# END_SOLUTION", 2),
    "lower-case": ("# begin solution", "# end solution", 2),
    "title-case": ("# Begin Solution", "# End Solution", 2),
    "double-space": ("# BEGIN  SOLUTION", "# END  SOLUTION", 2),
    "plural": ("# BEGIN SOLUTIONS", "# END SOLUTIONS", 2),
    "joined": ("# BEGINSOLUTION", "# ENDSOLUTION", 2),
    "hyphen": ("# BEGIN-SOLUTION", "# END-SOLUTION", 2),
    "start-stop": ("# START SOLUTION", "# STOP SOLUTION", 2),
    "good-begin-bad-end": ("# BEGIN SOLUTION", "# END_SOLUTION", 4),
    "in-a-string": ("print('# BEGIN SOLUTION here')", "pass", 2),
}


@pytest.mark.parametrize("variant", CODE_VARIANTS)
def test_a_near_miss_code_marker_stops_the_build_and_leaks_nothing(tmp_path, variant):
    begin, end, line = CODE_VARIANTS[variant]
    teacher = tmp_path / "07_lesson.ipynb"
    nbformat.write(notebook(markdown("intro"), code(EXERCISE.format(begin=begin, end=end))), teacher)
    out = tmp_path / "student"
    code_, _, err = (run_build_process if variant == "underscore" else run_build)("--out", out, teacher)
    assert code_ == 1
    assert f"student edition not built: 07_lesson.ipynb, cell 1, line {line}:" in err
    assert "Traceback" not in err
    assert not out.exists() and SECRET.encode() not in everything_under(out)


@pytest.mark.parametrize("begin, end", [("# BEGIN SOLUTION", "# END SOLUTION"), ("### BEGIN SOLUTION", "### END SOLUTION"),
                                        ("#BEGIN SOLUTION", "#END SOLUTION")])
def test_the_exact_markers_strip_the_answer(tmp_path, begin, end):
    teacher = tmp_path / "07_lesson.ipynb"
    nbformat.write(notebook(code(EXERCISE.format(begin=begin, end=end))), teacher)
    code_, _, err = run_build("--out", tmp_path / "student", teacher)
    assert code_ == 0, err
    student = (tmp_path / "student" / "07_lesson.ipynb").read_bytes()
    assert SECRET.encode() not in student and builder.STUB.encode() in student.replace(b'\\"', b'"')


@pytest.mark.parametrize("tag", ["Solution", "solutions", "SOLUTION", "solution ", "hide-solution", "answer",
                                 "Answers", "soln"])
def test_a_near_miss_tag_stops_the_build(tmp_path, tag):
    nb = notebook(markdown("Question?"), markdown(f"The answer is {SECRET}.", tags=[tag]))
    with pytest.raises(builder.SolutionMarkerError, match=rf"07.ipynb, cell 1: tag {re.escape(repr(tag))} looks like"):
        builder.student_notebook(nb, "07.ipynb")


@pytest.mark.parametrize("text, line", [
    (f"<!-- Begin Solution -->\n{SECRET}\n<!-- End Solution -->", 1),
    (f"Some prose.\n<!-- BEGIN SOLUTION -->\n{SECRET}\n<!-- END SOLUTION -->", 2),
    (f"```python\n# BEGIN SOLUTION\n{SECRET}\n# END SOLUTION\n```", 2),
    (f"**Answer.** {SECRET}", 1),
    (f"__Answers__: {SECRET}", 1),
], ids=["html-comment", "html-comment-upper", "fenced-code", "untagged-answer", "untagged-answers"])
def test_markdown_near_misses_stop_the_build(tmp_path, text, line):
    teacher = tmp_path / "07.ipynb"
    nbformat.write(notebook(markdown("intro"), markdown(text)), teacher)
    code_, _, err = run_build("--out", tmp_path / "student", teacher)
    assert code_ == 1 and f"07.ipynb, cell 1, line {line}:" in err, err
    assert not (tmp_path / "student").exists()


def test_a_raw_cell_with_a_marker_stops_the_build():
    nb = notebook(nbformat.v4.new_raw_cell(f"# BEGIN SOLUTION\n{SECRET}\n# END SOLUTION"))
    with pytest.raises(builder.SolutionMarkerError, match="07.ipynb, cell 0, line 1: .*in a raw cell"):
        builder.student_notebook(nb, "07.ipynb")


@pytest.mark.parametrize("metadata, where", [
    ({"solution": SECRET}, "metadata.solution"),
    ({"answer": {"text": SECRET}}, "metadata.answer"),
    ({"Solution_Code": SECRET}, "metadata.Solution_Code"),
    ({"hint": f"# BEGIN SOLUTION\n{SECRET}"}, "metadata.hint"),
    ({"extra": {"notes": [f"<!-- begin solution --> {SECRET}"]}}, "metadata.extra.notes[0]"),
    ({"nbgrader": {"solution": SECRET, "grade": False}}, "metadata.nbgrader.solution"),
], ids=["solution-key", "answer-key", "mixed-case-key", "marker-in-text", "nested-marker", "nbgrader-text"])
def test_answer_text_in_cell_metadata_stops_the_build(tmp_path, metadata, where):
    teacher = tmp_path / "07.ipynb"
    nbformat.write(notebook(markdown("intro"), code("x = 1", **metadata)), teacher)
    code_, _, err = run_build("--out", tmp_path / "student", teacher)
    assert code_ == 1 and f"07.ipynb, cell 1: {where}:" in err, err
    assert not (tmp_path / "student").exists()


def test_answer_text_in_notebook_metadata_stops_the_build():
    nb = notebook(code("x = 1"), answers={"q1": SECRET})
    with pytest.raises(builder.SolutionMarkerError, match="07.ipynb, notebook: metadata.answers"):
        builder.student_notebook(nb, "07.ipynb")


def test_unknown_metadata_is_dropped_and_known_metadata_kept(tmp_path):
    cell = code("x = 1", tags=["nbval-ignore-output"], private_notes=SECRET, collapsed=True,
                nbgrader={"grade": True, "grade_id": "q1", "points": 2, "solution": False, "locked": True,
                          "schema_version": 3})
    student, _ = builder.student_notebook(notebook(cell), "07.ipynb")
    kept = student.cells[0].metadata
    assert "private_notes" not in kept and SECRET not in json.dumps(student)
    assert kept["tags"] == ["nbval-ignore-output"] and kept["collapsed"] is True
    assert kept["nbgrader"]["grade_id"] == "q1"


def test_nbgrader_solution_cells_must_be_marked_or_tagged():
    unmarked_code = notebook(code(f"y = {SECRET!r}", nbgrader={"solution": True, "grade": False}))
    with pytest.raises(builder.SolutionMarkerError, match="cell 0: an nbgrader solution cell without"):
        builder.student_notebook(unmarked_code, "07.ipynb")
    untagged_text = notebook(markdown(f"It is {SECRET}.", nbgrader={"solution": True, "grade": True}))
    with pytest.raises(builder.SolutionMarkerError, match="must also be tagged 'solution'"):
        builder.student_notebook(untagged_text, "07.ipynb")
    tagged = notebook(markdown(f"It is {SECRET}.", tags=["solution"], nbgrader={"solution": True, "grade": True}))
    student, _ = builder.student_notebook(tagged, "07.ipynb")
    assert SECRET not in json.dumps(student)


def test_outputs_attachments_and_hidden_tests_do_not_reach_students():
    shown = code("print(answer)")
    shown.outputs = [nbformat.v4.new_output("stream", text=f"{SECRET}\n")]
    shown.execution_count = 4
    answer = markdown("**Answer.** see the picture", tags=["solution"])
    answer["attachments"] = {"a.png": {"image/png": "U0VDUkVUX0FOU1dFUl80MjE3"}}
    graded = code(f"check(f)\n### BEGIN HIDDEN TESTS\nassert f(3) == {SECRET!r}\n### END HIDDEN TESTS\n")
    student, stats = builder.student_notebook(notebook(shown, answer, graded), "07.ipynb")
    text = json.dumps(student)
    assert SECRET not in text and "U0VDUkVUX0FOU1dFUl80MjE3" not in text
    assert student.cells[2].source == "check(f)\n" and stats == {"code": 0, "answers": 1}


def test_an_unclosed_hidden_tests_region_stops_the_build():
    with pytest.raises(builder.SolutionMarkerError, match="line 1: '### BEGIN HIDDEN TESTS' is never closed"):
        builder.strip_solutions(f"### BEGIN HIDDEN TESTS\nassert {SECRET}\n")
    with pytest.raises(builder.SolutionMarkerError, match="unrecognised marker"):
        builder.strip_solutions(f"### begin hidden tests\nassert {SECRET}\n### END HIDDEN TESTS\n")


def test_a_module_beside_the_lessons_is_stripped_too(tmp_path):
    module = tmp_path / "my_cnn.py"
    module.write_text(f'def relu(x):\n    """ReLU."""\n    # BEGIN SOLUTION\n    return x * ({SECRET!r} != 0)\n'
                      "    # END SOLUTION\n")
    code_, out, err = run_build("--out", tmp_path / "student", module)
    assert code_ == 0, err
    student = (tmp_path / "student" / "my_cnn.py").read_text()
    assert SECRET not in student and builder.STUB in student and "0 notebook(s) and 1 module(s)" in out
    compile(student, "my_cnn.py", "exec")
    module.write_text(f"def relu(x):\n    # BEGIN_SOLUTION\n    return {SECRET!r}\n")
    code_, _, err = run_build("--out", tmp_path / "again", module)
    assert code_ == 1 and "my_cnn.py, line 2: unrecognised marker" in err and not (tmp_path / "again").exists()


def test_the_real_lessons_build_and_no_solution_line_reaches_students(tmp_path):
    """The lessons as they stand pass every check above (no false alarms)."""
    stats = builder.build(LESSONS, tmp_path / "student")
    assert len(stats) == len(LESSONS) and sum(s["code"] for s in stats.values()) >= 5   # lesson 3 asks only for my_cnn.py


# ---------------------------------------------------------------------------- case 2: never destroy work

def test_the_teacher_folder_is_refused(tmp_path):
    before = tree_hashes(ROOT / "notebooks")
    for run, target in ((run_build_process, ROOT / "notebooks"), (run_build, ROOT / "notebooks" / "student"),
                        (run_build, ROOT / "notebooks" / ".")):
        code_, _, err = run("--out", target)
        assert code_ == 1 and "where the teacher's notebooks are" in err, err
    assert tree_hashes(ROOT / "notebooks") == before


def test_the_folder_of_the_notebooks_given_is_refused(tmp_path):
    teacher = tmp_path / "course"
    teacher.mkdir()
    nbformat.write(notebook(code(EXERCISE.format(begin="# BEGIN SOLUTION", end="# END SOLUTION"))),
                   teacher / "01_x.ipynb")
    before = tree_hashes(teacher)
    code_, _, err = run_build("--out", teacher, teacher / "01_x.ipynb")
    assert code_ == 1 and "where the teacher's notebooks are" in err
    assert tree_hashes(teacher) == before


def test_a_folder_the_build_did_not_make_is_refused(tmp_path):
    project = tmp_path / "someones-folder"
    project.mkdir()
    (project / "README.md").write_text("my notes\n")
    code_, _, err = run_build("--out", project, LESSONS[0])
    assert code_ == 1 and "was not made by this script" in err
    assert sorted(os.listdir(project)) == ["README.md"]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    code_, _, err = run_build("--out", a_file, LESSONS[0])
    assert code_ == 1 and "is a file, not a folder" in err and a_file.read_text() == "x"


def test_a_new_or_empty_folder_is_used_and_marked(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (tmp_path / "new" / "deeper", empty):
        code_, _, err = run_build("--out", out, LESSONS[0])
        assert code_ == 0, err
        record = json.loads((out / builder.MARKER_FILE).read_text())
        assert record["files"] == {LESSONS[0].name: hashlib.sha256((out / LESSONS[0].name).read_bytes()).hexdigest()}


def test_rebuilding_over_its_own_output_is_fine_but_a_students_edit_stops_it(tmp_path):
    out = tmp_path / "student"
    assert run_build("--out", out, *LESSONS[:2])[0] == 0
    (out / "my_notes.txt").write_text("the student's own file\n")
    assert run_build("--out", out, *LESSONS[:2])[0] == 0          # unchanged files: rebuilt quietly
    assert (out / "my_notes.txt").read_text() == "the student's own file\n"

    edited = out / LESSONS[1].name
    nb = nbformat.read(edited, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("my_answer = 42  # the student's work"))
    nbformat.write(nb, edited)
    before = tree_hashes(out)
    code_, _, err = run_build("--out", out, *LESSONS[:2])
    assert code_ == 1 and f"{edited} has changed since the student edition was built there" in err
    assert tree_hashes(out) == before                             # nothing written, not even the first file
    assert "my_answer = 42" in edited.read_text()


def test_a_file_the_build_did_not_write_is_not_replaced(tmp_path):
    out = tmp_path / "student"
    assert run_build("--out", out, LESSONS[0])[0] == 0
    stranger = out / LESSONS[1].name
    stranger.write_text("a notebook someone put here")
    code_, _, err = run_build("--out", out, LESSONS[0], LESSONS[1])
    assert code_ == 1 and f"{stranger} was not written by this script" in err
    assert stranger.read_text() == "a notebook someone put here"


def test_a_symlink_where_a_notebook_goes_is_refused(tmp_path):
    out = tmp_path / "student"
    assert run_build("--out", out, LESSONS[0])[0] == 0
    target = out / LESSONS[0].name
    target.unlink()
    target.symlink_to(LESSONS[0])                                  # would lead into notebooks/
    before = hashlib.sha256(LESSONS[0].read_bytes()).hexdigest()
    code_, _, err = run_build("--out", out, LESSONS[0])
    assert code_ == 1 and "is not a plain file" in err
    assert hashlib.sha256(LESSONS[0].read_bytes()).hexdigest() == before


def test_an_unreadable_marker_is_refused(tmp_path):
    out = tmp_path / "student"
    assert run_build("--out", out, LESSONS[0])[0] == 0
    (out / builder.MARKER_FILE).write_text("{not json")
    before = tree_hashes(out)
    code_, _, err = run_build("--out", out, LESSONS[0])
    assert code_ == 1 and "cannot be read" in err and tree_hashes(out) == before


def test_the_default_output_folder_is_student_and_git_ignores_it():
    assert builder.DEFAULT_OUT == ROOT / "student"
    assert "/student/" in (ROOT / ".gitignore").read_text().split()
