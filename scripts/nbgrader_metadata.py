"""Check the lessons' nbgrader cell metadata, for the whole course at once.

Usage:  python scripts/nbgrader_metadata.py                      # notebooks/[0-9]*.ipynb
        python scripts/nbgrader_metadata.py A.ipynb B.ipynb ...   # these notebooks

The six lessons are ONE nbgrader assignment (``./run grade`` and a teacher's own nbgrader
course both use them that way), so nbgrader's rules hold across all of them, plus the
rules of this course's two editions:

* every ``metadata.nbgrader`` has ``schema_version`` 3 and passes nbgrader's own v3 schema
  and checks (a grade, solution or locked cell has a non-empty ``grade_id``, a grade cell
  has ``points``, a markdown grade cell is also a solution cell, and so on);
* a ``grade_id`` is used once in the whole course, not only once per notebook (nbgrader's
  gradebook and our grades.csv name an item by it);
* a grade cell is worth something: ``points > 0``;
* a code cell with a ``# BEGIN SOLUTION`` region is an nbgrader solution cell (else
  nbgrader's generate_assignment stops, or the region reaches students whole), and a
  ``### BEGIN HIDDEN TESTS`` region sits in an autograded test cell (a locked grade cell);

Exit status 0 when everything holds; 1 with one line per problem, naming the notebook,
the cell and what to change, otherwise. It also prints (without failing) each cell tagged
``solution`` that is no nbgrader solution cell: nbgrader's own ``release/`` copy would show
that answer, so a teacher hands out the student edition instead (docs/TEACHING.md).
"""
import argparse
import pathlib
import re
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SCHEMA_VERSION = 3
SOLUTION_TAG = "solution"
BEGIN_SOLUTION = re.compile(r"^[ \t]*#+[ \t]*BEGIN SOLUTION[ \t]*$", re.MULTILINE)
BEGIN_HIDDEN = re.compile(r"^[ \t]*#+[ \t]*BEGIN HIDDEN TESTS[ \t]*$", re.MULTILINE)


def nbgrader_of(cell):
    """The cell's ``metadata.nbgrader`` dict, or {} when it has none."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_autograded_test(cell):
    """True for an nbgrader autograder test cell: a code cell with ``grade: true``, not a solution."""
    meta = nbgrader_of(cell)
    return cell.get("cell_type") == "code" and meta.get("grade") is True and meta.get("solution") is not True


def graded_items(nb):
    """The autograded items of one notebook, in order.

    Returns
    -------
    list of (grade_id, points)
        One entry per autograder test cell (see :func:`is_autograded_test`). Written
        answers (markdown grade cells) are graded by the teacher and are not listed.
    """
    return [(nbgrader_of(c)["grade_id"], float(nbgrader_of(c).get("points", 0)))
            for c in nb.cells if is_autograded_test(c)]


def notebook_problems(nb, name="notebook"):
    """Every problem with one notebook's nbgrader metadata, as "name, cell i: ..." lines."""
    # Imported here: the lessons and the student build need no nbgrader, only grading does.
    from nbgrader.nbgraderformat import ValidationError
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

    validator = MetadataValidatorV3()
    problems = []
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        meta = nbgrader_of(cell)
        source = cell.get("source", "")
        tags = cell.get("metadata", {}).get("tags", [])
        if meta:
            version = meta.get("schema_version")
            if version != SCHEMA_VERSION:
                problems.append(f"{where}: metadata.nbgrader.schema_version is {version!r}; "
                                f"set it to {SCHEMA_VERSION} (the schema nbgrader 0.9 writes)")
                continue
            try:
                validator.validate_cell(cell)
            except ValidationError as error:
                first = str(error).splitlines()[0]
                problems.append(f"{where}: nbgrader rejects the metadata: {first}")
                continue
            if meta.get("grade") and not float(meta.get("points", 0)) > 0:
                problems.append(f"{where}: grade cell {meta.get('grade_id')!r} has points "
                                f"{meta.get('points')!r}; give it points > 0, or make it no grade cell")
        if cell.get("cell_type") == "code" and BEGIN_SOLUTION.search(source) and meta.get("solution") is not True:
            problems.append(f"{where}: the cell has a '# BEGIN SOLUTION' region but is not an nbgrader solution "
                            "cell; set metadata.nbgrader to solution: true, grade: false, locked: false, with a "
                            f"grade_id and schema_version {SCHEMA_VERSION}")
        if BEGIN_HIDDEN.search(source) and not (is_autograded_test(cell) and meta.get("locked") is True):
            problems.append(f"{where}: a '### BEGIN HIDDEN TESTS' region outside an autograded test cell; move it "
                            "into a cell with grade: true, locked: true and points, or remove it")
    return problems


def released_answers(nb, name="notebook"):
    """Cells tagged ``solution`` that nbgrader's generate_assignment would release as they are.

    nbgrader clears only its own solution cells; our student edition also blanks every
    cell tagged ``solution``. Returns "name, cell i" strings.
    """
    return [f"{name}, cell {index}" for index, cell in enumerate(nb.cells)
            if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []) and nbgrader_of(cell).get("solution") is not True]


def course_problems(paths):
    """Every problem across the course: each notebook's, then grade_ids used in two places.

    Parameters
    ----------
    paths : list of path-like
        The teacher notebooks of the course (one nbgrader assignment).

    Returns
    -------
    list of str
        Empty when the course's metadata is right.
    """
    problems, seen = [], {}
    for path in paths:
        path = pathlib.Path(path)
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as error:       # any unreadable file is one problem line, not a crash
            problems.append(f"{path.name}: not a readable notebook ({type(error).__name__}: {error})")
            continue
        problems.extend(notebook_problems(nb, path.name))
        for index, cell in enumerate(nb.cells):
            meta = nbgrader_of(cell)
            grade_id = meta.get("grade_id")
            if not grade_id or not (meta.get("grade") or meta.get("solution") or meta.get("locked")):
                continue
            here = f"{path.name}, cell {index}"
            if grade_id in seen:
                problems.append(f"{here}: grade_id {grade_id!r} is also used in {seen[grade_id]}; grade ids must "
                                "be unique across the course (all lessons are one assignment)")
            else:
                seen[grade_id] = here
    return problems


def default_notebooks():
    return sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path,
                        help="teacher notebooks (default: notebooks/[0-9]*.ipynb)")
    args = parser.parse_args(argv)
    paths = args.notebooks or default_notebooks()
    problems = course_problems(paths)
    for line in problems:
        print(line)
    if not problems:
        notebooks = [(p, nbformat.read(p, as_version=4)) for p in paths]
        n_items = sum(len(graded_items(nb)) for _, nb in notebooks)
        print(f"nbgrader metadata ok: {len(paths)} notebook(s), {n_items} autograded item(s)")
        released = [where for p, nb in notebooks for where in released_answers(nb, p.name)]
        if released:
            print(f"note: {len(released)} answer cell(s) tagged 'solution' are no nbgrader solution cells "
                  f"({', '.join(released[:3])}{', ...' if len(released) > 3 else ''}): nbgrader's release/ "
                  "would show them; hand out the student edition (./run student) instead")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
