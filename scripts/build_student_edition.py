"""Build the student edition of the lessons: the same notebooks without the solutions.

Usage:  python scripts/build_student_edition.py                 # notebooks/ -> student/
        python scripts/build_student_edition.py --out DIR       # somewhere else
        python scripts/build_student_edition.py --out DIR notebooks/02_convolution.ipynb

The notebooks in notebooks/ are the teacher edition. For each one we write a copy where

* every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region of a code cell (markers
  included) becomes one line, ``raise NotImplementedError("Exercise: write your code
  here")``, indented like the ``# BEGIN SOLUTION`` line, so the function still parses and
  its check says "not written yet";
* every cell tagged ``solution`` (the answers to the questions) becomes
  "*Write your answer here.*" (a markdown cell) or a stub (a code cell), without the tag;
* all outputs and execution counts are cleared and stored widget state is dropped, so
  the learner's first run is their own;
* the result is validated against the nbformat schema.

An unbalanced or nested marker stops the build with the notebook, the cell and the line,
before anything is written. Only lesson files (``[0-9]*.ipynb``) in the output folder
are replaced; nothing else there is touched.
"""
import argparse
import pathlib
import re
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "student"

BEGIN = re.compile(r"^(?P<indent>[ \t]*)#\s*BEGIN SOLUTION\s*$")
END = re.compile(r"^[ \t]*#\s*END SOLUTION\s*$")
LOOKS_LIKE_MARKER = re.compile(r"#\s*(BEGIN|END)\W*SOLUTION", re.IGNORECASE)   # catches typos
STUB = 'raise NotImplementedError("Exercise: write your code here")'
ANSWER_PLACEHOLDER = "*Write your answer here.*"
SOLUTION_TAG = "solution"


class SolutionMarkerError(ValueError):
    """A ``# BEGIN SOLUTION`` / ``# END SOLUTION`` pair is missing, unmatched or nested."""


def strip_solutions(source, where="cell"):
    """Replace each solution region in ``source`` with an indented stub; return (new source, count).

    >>> code = "def f(x):\\n    # BEGIN SOLUTION\\n    return 2 * x\\n    # END SOLUTION\\n"
    >>> print(strip_solutions(code)[0])
    def f(x):
        raise NotImplementedError("Exercise: write your code here")
    <BLANKLINE>
    """
    out, inside, count = [], None, 0
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        begin, end = BEGIN.match(line.rstrip("\r\n")), END.match(line.rstrip("\r\n"))
        if begin:
            if inside is not None:
                raise SolutionMarkerError(f"{where}, line {number}: '# BEGIN SOLUTION' inside the region "
                                          f"opened on line {inside}; close it with '# END SOLUTION' first")
            inside, count = number, count + 1
            out.append(f"{begin.group('indent')}{STUB}\n")
        elif end:
            if inside is None:
                raise SolutionMarkerError(f"{where}, line {number}: '# END SOLUTION' without a "
                                          "'# BEGIN SOLUTION' above it")
            inside = None
        elif LOOKS_LIKE_MARKER.search(line):
            raise SolutionMarkerError(f"{where}, line {number}: unrecognised marker {line.strip()!r}; "
                                      "write '# BEGIN SOLUTION' or '# END SOLUTION' on a line of its own")
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise SolutionMarkerError(f"{where}, line {inside}: '# BEGIN SOLUTION' is never closed; "
                                  "add '# END SOLUTION' after the solution lines")
    return "".join(out), count


def student_notebook(nb, name="notebook"):
    """Return (student copy of ``nb``, stats); ``nb`` itself is not modified."""
    nb = nbformat.from_dict(nb)   # a deep copy
    stats = {"code": 0, "answers": 0}
    for index, cell in enumerate(nb.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        where = f"{name}, cell {index}"
        if SOLUTION_TAG in tags:
            cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
            cell.source = ANSWER_PLACEHOLDER if cell.cell_type != "code" else f"# Exercise: write your code here\n{STUB}"
            cell.pop("attachments", None)
            stats["answers"] += 1
        elif cell.cell_type == "code":
            cell.source, n = strip_solutions(cell.source, where)
            stats["code"] += n
        elif "BEGIN SOLUTION" in cell.source or "END SOLUTION" in cell.source:
            raise SolutionMarkerError(f"{where}: solution markers in a {cell.cell_type} cell; they only work "
                                      "in code cells (tag a markdown answer 'solution' instead)")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)       # timing metadata from the teacher's run
    nb.metadata.pop("widgets", None)
    nbformat.validate(nb)
    return nb, stats


def build(paths, out_dir):
    """Write the student edition of ``paths`` into ``out_dir``; returns {name: stats}."""
    out_dir = pathlib.Path(out_dir)
    built = {}
    for path in paths:          # convert everything first: a marker error writes nothing
        path = pathlib.Path(path)
        built[path.name] = student_notebook(nbformat.read(path, as_version=4), path.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (nb, _) in built.items():
        nbformat.write(nb, out_dir / name)
    return {name: stats for name, (_, stats) in built.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path,
                        help="teacher notebooks (default: notebooks/[0-9]*.ipynb)")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT,
                        help=f"output folder (default: {DEFAULT_OUT.relative_to(ROOT)}/)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    if not paths:
        sys.exit(f"no notebooks found in {NOTEBOOKS}")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"not found: {', '.join(missing)}")
    try:
        stats = build(paths, args.out)
    except SolutionMarkerError as e:
        sys.exit(f"student edition not built: {e}")
    for name, s in stats.items():
        print(f"{name}: {s['code']} coding exercise(s) stubbed, {s['answers']} answer(s) removed")
    print(f"student edition: {len(stats)} notebook(s) in {args.out}")


if __name__ == "__main__":
    main()
