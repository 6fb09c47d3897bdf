"""Teacher and student editions: the solutions pass, the student copy hides them, stubs fail helpfully.

Exercises are discovered from the lessons themselves, so a lesson that lands later is
covered without touching this file: a coding exercise is a code cell with a
``# BEGIN SOLUTION`` region, checked by the next code cell that calls ``check_*(...)``;
a question's answer is a cell tagged ``solution``.
"""
import contextlib
import importlib.util
import io
import pathlib
import re
import subprocess
import sys

import nbformat
import pytest

from cnnlib.explore.checks import CheckFailed

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SCRIPT = ROOT / "scripts" / "build_student_edition.py"
CHECK_CALL = re.compile(r"\bcheck_\w+\(")
# The learner's own module: exercises "(implement, in `my_cnn.py`)", checked by cells that call
# check_*(my_cnn.<function>).
MY_CNN = ROOT / "notebooks" / "my_cnn.py"
MY_CNN_EXERCISE = "(implement, in `my_cnn.py`)"
MY_CNN_CHECK = re.compile(r"\bcheck_\w+\(my_cnn\.")

_spec = importlib.util.spec_from_file_location("build_student_edition", SCRIPT)
builder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(builder)


def read(path):
    return nbformat.read(path, as_version=4)


def is_solution_cell(cell):
    return "solution" in cell.get("metadata", {}).get("tags", [])


def exercises(nb):
    """[(exercise cell index, check cell index)] for every coding exercise in ``nb``."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "# BEGIN SOLUTION" in cell.source:
            check = next((j for j in range(i + 1, len(nb.cells))
                          if nb.cells[j].cell_type == "code" and CHECK_CALL.search(nb.cells[j].source)), None)
            assert check is not None, f"cell {i} is a coding exercise but no later cell calls a check_* function"
            found.append((i, check))
    return found


def my_cnn_checks(nb):
    """Indices of the cells that check functions of the learner's my_cnn.py."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and MY_CNN_CHECK.search(c.source)]


@contextlib.contextmanager
def my_cnn_from(folder):
    """``import my_cnn`` finds ``folder/my_cnn.py`` (a fresh import, not a cached one)."""
    sys.modules.pop("my_cnn", None)
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("my_cnn", None)


def normalised(line):
    """A line without surrounding blanks or a trailing comment."""
    return re.sub(r"\s+#.*$", "", line).strip()


def solution_lines(nb):
    """Lines that appear only inside solutions, not elsewhere in the lesson (a lesson may
    derive a formula in the text and then ask for it as an exercise)."""
    inside, outside = set(), set()
    for cell in nb.cells:
        if is_solution_cell(cell):
            inside.update(normalised(line) for line in cell.source.splitlines())
            continue
        region = False
        for line in cell.source.splitlines():
            if builder.BEGIN.match(line):
                region = True
            elif builder.END.match(line):
                region = False
            else:
                (inside if region else outside).add(normalised(line))
    return {line for line in inside - outside if len(line) > 3}


def plain_python(source):
    """A cell's source without IPython magics, so tests can exec it."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def run_cells(nb, indices, my_cnn_folder=None):
    """Exec the setup cell and then ``indices`` in one namespace; returns what they printed.

    ``import my_cnn`` finds the one in ``my_cnn_folder`` (default: the teacher's, in notebooks/).
    """
    namespace = {"__name__": "__lesson__"}
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), my_cnn_from(my_cnn_folder or MY_CNN.parent):
        for i in [setup] + list(indices):
            exec(compile(plain_python(nb.cells[i].source), f"<cell {i}>", "exec"), namespace)
    return printed.getvalue()


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    builder.build(builder.default_sources(), out)
    return out


lesson_params = pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])


# ------------------------------------------------------------------ the lessons as they stand
@lesson_params
def test_lesson_ends_with_3_to_5_exercises(lesson):
    nb = read(lesson)
    # A written answer is a markdown cell tagged solution; a code cell tagged solution only
    # computes and checks what such an answer states (it is not an exercise of its own).
    # The concept-check answers ("Check your understanding", before the exercises) are not
    # exercises: count only what follows the "## Exercises" heading.
    start = next((i for i, c in enumerate(nb.cells)
                  if c.cell_type == "markdown" and c.source.lstrip().startswith("## Exercises")), None)
    assert start is not None, f"{lesson.name}: no '## Exercises' section"
    n_coding = sum(i > start for i, _ in exercises(nb))
    n_coding += sum(c.cell_type == "markdown" and MY_CNN_EXERCISE in c.source for c in nb.cells[start:])
    n_answers = sum(is_solution_cell(c) and c.cell_type == "markdown" for c in nb.cells[start:])
    assert 3 <= n_coding + n_answers <= 5, f"{lesson.name}: {n_coding} coding + {n_answers} written exercises"
    assert n_coding >= 1, f"{lesson.name}: no coding exercise with a check"
    for cell in nb.cells:
        if is_solution_cell(cell) and cell.cell_type == "markdown":
            assert cell.source.startswith("**Answer.**"), f"{lesson.name}: an answer cell should start with **Answer.**"


@lesson_params
def test_teacher_solutions_pass_their_checks(lesson):
    nb = read(lesson)
    for ex, check in exercises(nb):
        stored = "".join(o.get("text", "") for o in nb.cells[check].outputs if o.output_type == "stream")
        assert stored.startswith("✓"), f"{lesson.name} cell {check}: stored check output is {stored!r}"
        printed = run_cells(nb, [i for i, _ in exercises(nb) if i <= ex] + [check])
        assert printed.strip().splitlines()[-1].startswith("✓"), f"{lesson.name} cell {check} printed {printed!r}"


@lesson_params
def test_teacher_my_cnn_passes_the_lessons_checks(lesson):
    nb = read(lesson)
    for i in my_cnn_checks(nb):
        stored = "".join(o.get("text", "") for o in nb.cells[i].outputs if o.output_type == "stream")
        assert stored.startswith("✓"), f"{lesson.name} cell {i}: stored check output is {stored!r}"
        printed = run_cells(nb, [i])
        assert printed.strip() and all(line.startswith("✓") for line in printed.strip().splitlines()), \
            f"{lesson.name} cell {i} printed {printed!r}"


@lesson_params
def test_student_my_cnn_fails_each_check_saying_not_written_yet(lesson, student_dir):
    nb = read(lesson)
    for i in my_cnn_checks(nb):
        with pytest.raises(CheckFailed) as failure:
            run_cells(nb, [i], student_dir)
        assert "not written yet" in str(failure.value), str(failure.value)


def test_the_lessons_each_ask_for_my_cnn_functions_and_check_every_one():
    asked = set()
    for lesson in LESSONS:
        for i in my_cnn_checks(read(lesson)):
            asked.update(re.findall(r"my_cnn\.(\w+)", read(lesson).cells[i].source))
    with my_cnn_from(MY_CNN.parent):
        import my_cnn
        written = {name for name, value in vars(my_cnn).items()
                   if callable(value) and getattr(value, "__module__", "") == "my_cnn"}
    assert asked == written, f"functions never checked: {written - asked}; checked but missing: {asked - written}"


def test_student_my_cnn_keeps_every_function_and_no_solution(student_dir):
    teacher, student = MY_CNN.read_text(), (student_dir / "my_cnn.py").read_text()
    assert "SOLUTION" not in student
    assert student.count(builder.STUB) == teacher.count("# BEGIN SOLUTION") >= 11
    assert re.findall(r"^def (\w+)\(", student, re.M) == re.findall(r"^def (\w+)\(", teacher, re.M)
    inside = [normalised(line) for block in re.findall(r"# BEGIN SOLUTION\n(.*?)# END SOLUTION", teacher, re.S)
              for line in block.splitlines()]
    # The docstrings state some formulas as code (the spec): only lines found nowhere else count.
    outside = {normalised(line) for line in re.sub(r"# BEGIN SOLUTION\n.*?# END SOLUTION", "", teacher,
                                                    flags=re.S).splitlines()}
    leaked = [line for line in inside if len(line) > 12 and line in student and not any(line in o for o in outside)]
    assert not leaked, f"solution lines in the student's my_cnn.py: {leaked[:3]}"


@lesson_params
def test_student_notebook_is_valid_and_starts_clean(lesson, student_dir):
    teacher, student = read(lesson), read(student_dir / lesson.name)
    nbformat.validate(student)
    assert "widgets" not in student.metadata
    assert [c.cell_type for c in student.cells] == [c.cell_type for c in teacher.cells]
    for i, (t, s) in enumerate(zip(teacher.cells, student.cells)):
        if s.cell_type == "code":
            assert s.outputs == [] and s.execution_count is None, f"cell {i} keeps outputs"
        if not is_solution_cell(t) and "# BEGIN SOLUTION" not in t.source and "BEGIN HIDDEN TESTS" not in t.source:
            assert s.source == t.source, f"cell {i} changed but holds no solution"


@lesson_params
def test_student_notebook_contains_no_solution_text(lesson, student_dir):
    teacher, student = read(lesson), read(student_dir / lesson.name)
    text = "\n".join(c.source for c in student.cells)
    assert "SOLUTION" not in text
    assert not any(is_solution_cell(c) for c in student.cells)
    leaked = sorted(line for line in solution_lines(teacher) if line in text)
    assert not leaked, f"{lesson.name}: solution lines in the student edition: {leaked[:5]}"
    for t, s in zip(teacher.cells, student.cells):
        if is_solution_cell(t) and t.cell_type == "markdown":
            assert s.source == builder.ANSWER_PLACEHOLDER
    stubs = [s for t, s in zip(teacher.cells, student.cells)
             if s.cell_type == "code" and builder.STUB in s.source and not is_solution_cell(t)]
    assert len(stubs) == len(exercises(teacher))
    for t, s in zip(teacher.cells, student.cells):
        if is_solution_cell(t) and t.cell_type == "code":     # an answer's computation: room for the learner's
            assert s.source == builder.WORKING_PLACEHOLDER and s.outputs == []
            exec(compile(s.source, "<working>", "exec"), {})   # comments only: Run All goes on past it


@lesson_params
def test_each_stub_fails_its_check_with_a_helpful_message(lesson, student_dir):
    teacher, student = read(lesson), read(student_dir / lesson.name)
    for ex, check in exercises(teacher):
        with pytest.raises(CheckFailed) as failure:
            run_cells(student, [i for i, _ in exercises(teacher) if i <= ex] + [check], student_dir)
        message = str(failure.value)
        assert message.startswith("✗") and "not written yet" in message, message
        assert "NotImplementedError" in message, f"the message should say which line to replace: {message}"


def test_command_line_builds_into_a_folder(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "handout")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "handout").glob("*.ipynb")) == [p.name for p in LESSONS]
    assert f"{len(LESSONS)} notebook(s)" in result.stdout


# ------------------------------------------------------------------ the builder on small cases
def make_notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_stub_keeps_indentation_and_the_code_around_it():
    source = ("class Net:\n    def forward(self, x):\n        y = x + 1\n        # BEGIN SOLUTION\n"
              "        z = y * 2\n        return z\n        # END SOLUTION\n\nnet = Net()\n")
    stripped, count = builder.strip_solutions(source)
    assert count == 1
    assert stripped == ("class Net:\n    def forward(self, x):\n        y = x + 1\n"
                        f"        {builder.STUB}\n\nnet = Net()\n")
    compile(stripped, "<stub>", "exec")


def test_solution_tagged_cells_lose_their_content_and_tag():
    answer = nbformat.v4.new_markdown_cell("**Answer.** 42", metadata={"tags": ["solution", "keep-me"]})
    code = nbformat.v4.new_code_cell("x = 42", metadata={"tags": ["solution"]})
    code.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    code.execution_count = 3
    nb = make_notebook(answer, code)
    nb.metadata["widgets"] = {"state": {}}
    student, stats = builder.student_notebook(nb)
    assert stats == {"code": 0, "answers": 2}
    assert student.cells[0].source == builder.ANSWER_PLACEHOLDER
    assert student.cells[0].metadata["tags"] == ["keep-me"]
    assert "tags" not in student.cells[1].metadata and "42" not in student.cells[1].source
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert "widgets" not in student.metadata
    assert nb.cells[0].source == "**Answer.** 42", "the teacher notebook must not change"


@pytest.mark.parametrize("source,message", [
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    # END SOLUTION\n", "without a '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\nx = 1\n# BEGIN SOLUTION\ny = 2\n# END SOLUTION\n", "inside the region opened on line 1"),
    ("def f():\n    # BEGIN SOLUTIONS\n    return 1\n    # END SOLUTION\n", "unrecognised marker"),
    ("def f():\n    # begin solution\n    return 1\n", "unrecognised marker"),
])
def test_unbalanced_markers_are_refused_clearly(source, message):
    nb = make_notebook(nbformat.v4.new_markdown_cell("intro"), nbformat.v4.new_code_cell(source))
    with pytest.raises(builder.SolutionMarkerError, match=re.escape(message)) as error:
        builder.student_notebook(nb, "07_broken.ipynb")
    assert "07_broken.ipynb, cell 1, line" in str(error.value)


def test_markers_in_markdown_are_refused():
    nb = make_notebook(nbformat.v4.new_markdown_cell("```\n# BEGIN SOLUTION\n```"))
    with pytest.raises(builder.SolutionMarkerError, match="only work in code cells"):
        builder.student_notebook(nb, "x.ipynb")


def test_command_line_refuses_a_broken_notebook_and_writes_nothing(tmp_path):
    broken = tmp_path / "01_broken.ipynb"
    nbformat.write(make_notebook(nbformat.v4.new_code_cell("# BEGIN SOLUTION\nx = 1\n")), broken)
    fine = tmp_path / "02_fine.ipynb"
    nbformat.write(make_notebook(nbformat.v4.new_code_cell("x = 1")), fine)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), str(fine), str(broken)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "student edition not built: 01_broken.ipynb, cell 0, line 1: '# BEGIN SOLUTION' is never closed" \
        in result.stderr
    assert not out.exists()
