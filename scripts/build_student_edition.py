"""Build the student edition of the lessons: the same notebooks without the solutions.

Usage:  python scripts/build_student_edition.py                 # notebooks/ -> student/
        python scripts/build_student_edition.py --out DIR       # somewhere else
        python scripts/build_student_edition.py --out DIR notebooks/02_convolution.ipynb

The notebooks in notebooks/ are the teacher edition. For each one we write a copy where

* every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region of a code cell (markers
  included; ``### BEGIN SOLUTION`` as nbgrader writes it works too) becomes one line,
  ``raise NotImplementedError("Exercise: write your code here")``, indented like the
  ``# BEGIN SOLUTION`` line, so the function still parses and its check says "not
  written yet"; a ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region is
  removed;
* every cell tagged ``solution`` (the answers to the questions) becomes
  "*Write your answer here.*" (a markdown cell) or two comment lines inviting the learner's
  own working (a code cell: it must not stop Run All), without the tag;
* all outputs and execution counts are cleared, stored widget state is dropped, and a
  cell keeps only the metadata Jupyter, nbval and nbgrader use, so the learner's first
  run is their own;
* the result is validated against the nbformat schema.

Python modules beside the lessons (``notebooks/*.py``, such as the learner's own
``my_cnn.py``) get the same treatment of their ``# BEGIN SOLUTION`` regions.

It fails closed: anything that looks like a solution marker or tag but is not exactly
one stops the build with the notebook, the cell and the line (or the tag or metadata
key), before anything is written. That covers a marker in another case or spelling
(``# begin solution``, ``# BEGIN_SOLUTION``, ``# BEGIN  SOLUTION``, ``# BEGIN SOLUTIONS``),
a marker in a markdown or raw cell (``<!-- BEGIN SOLUTION -->``), a tag other than
``solution`` that names a solution or an answer (``Solution``, ``solutions``, ``answer``),
an answer cell ("**Answer.** ...") without the tag, and cell or notebook metadata whose
keys or text name a solution or an answer (nbgrader's own ``solution`` flag excepted).

It never destroys work. It writes only into a folder that does not exist yet (or is
empty), or one it made itself: that folder holds ``.student-edition.json``, which
records the SHA-256 of every file the build wrote. It refuses ``notebooks/`` (and the
folder of any notebook it reads), and it never replaces a file that differs from what it
wrote last time (a student's edits): it stops, names the file, and writes nothing.

The marker also records the SHA-256 of each teacher file a student file was built from,
so ``--outdated DIR`` can say, without writing anything, whether the lessons changed since
DIR was made (``./run lessons`` uses it for the learner's ``my-work/``).
"""
import argparse
import hashlib
import json
import os
import pathlib
import re
import sys
import tempfile

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "student"
MARKER_FILE = ".student-edition.json"
MARKER_KIND = "cnnlib student edition"

BEGIN = re.compile(r"^(?P<indent>[ \t]*)#+[ \t]*BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*#+[ \t]*END SOLUTION[ \t]*$")
BEGIN_HIDDEN = re.compile(r"^[ \t]*#+[ \t]*BEGIN HIDDEN TESTS[ \t]*$")
END_HIDDEN = re.compile(r"^[ \t]*#+[ \t]*END HIDDEN TESTS[ \t]*$")
# Anything else that reads as "begin/end solution" or "begin/end hidden tests", in any case
# or spelling: begin_solution, BeginSolution, END  SOLUTIONS, <!-- Begin Solution -->, ...
LOOKS_LIKE_MARKER = re.compile(r"\b(begin|start|end|stop)[\W_]*(solutions?|hidden[\W_]*tests?)\b", re.IGNORECASE)
LOOKS_LIKE_ANSWER_CELL = re.compile(r"^\s*(\*\*|__)\s*answers?(?![a-z])", re.IGNORECASE)   # "**Answer.** ..."
SOLUTION_WORDS = re.compile(r"solution|answer", re.IGNORECASE)
STUB = 'raise NotImplementedError("Exercise: write your code here")'
ANSWER_PLACEHOLDER = "*Write your answer here.*"
# The code cell that computes a written answer: comments only, so Run All goes on past it.
WORKING_PLACEHOLDER = ("# Your working for this exercise (optional, not graded): compute, print, compare.\n"
                       "# Your answer goes in the text cell for it.\n")
SOLUTION_TAG = "solution"
# What a student's cell keeps: Jupyter's own keys, nbval's tags, nbgrader's cell data.
KEPT_CELL_METADATA = ("tags", "nbgrader", "editable", "deletable", "collapsed", "scrolled", "jupyter",
                      "slideshow", "name")
# nbgrader's cell metadata keys; its "solution" is a flag (true/false), not an answer.
NBGRADER_KEYS = {"grade", "grade_id", "locked", "points", "schema_version", "solution", "task", "checksum",
                 "cell_type"}


class SolutionMarkerError(ValueError):
    """A solution marker, tag or metadata entry is missing, unmatched, nested or not exactly right."""


class OutputFolderError(ValueError):
    """The output folder is not one the build may write into, or holds work it must not replace."""


# ---------------------------------------------------------------------------- one cell's source

def strip_solutions(source, where="cell"):
    """Replace each solution region in ``source`` with an indented stub; return (new source, count).

    Hidden-test regions are removed without a stub. A line that looks like a marker but
    is not exactly one raises :class:`SolutionMarkerError` naming ``where`` and the line.

    >>> code = "def f(x):\\n    # BEGIN SOLUTION\\n    return 2 * x\\n    # END SOLUTION\\n"
    >>> print(strip_solutions(code)[0])
    def f(x):
        raise NotImplementedError("Exercise: write your code here")
    <BLANKLINE>
    """
    out, inside, hidden, count = [], None, None, 0
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        text = line.rstrip("\r\n")
        begin, end = BEGIN.match(text), END.match(text)
        if begin:
            if inside is not None or hidden is not None:
                opened = inside if inside is not None else hidden
                raise SolutionMarkerError(f"{where}, line {number}: '# BEGIN SOLUTION' inside the region "
                                          f"opened on line {opened}; close it first")
            inside, count = number, count + 1
            out.append(f"{begin.group('indent')}{STUB}\n")
        elif end:
            if inside is None:
                raise SolutionMarkerError(f"{where}, line {number}: '# END SOLUTION' without a "
                                          "'# BEGIN SOLUTION' above it")
            inside = None
        elif BEGIN_HIDDEN.match(text):
            if inside is not None or hidden is not None:
                raise SolutionMarkerError(f"{where}, line {number}: '### BEGIN HIDDEN TESTS' inside another "
                                          "region; close it first")
            hidden = number
        elif END_HIDDEN.match(text):
            if hidden is None:
                raise SolutionMarkerError(f"{where}, line {number}: '### END HIDDEN TESTS' without a "
                                          "'### BEGIN HIDDEN TESTS' above it")
            hidden = None
        elif LOOKS_LIKE_MARKER.search(text):
            raise SolutionMarkerError(f"{where}, line {number}: unrecognised marker {text.strip()[:80]!r}; "
                                      "write '# BEGIN SOLUTION' or '# END SOLUTION' (upper case, one space) "
                                      "on a line of its own")
        elif inside is None and hidden is None:
            out.append(line)
    if inside is not None:
        raise SolutionMarkerError(f"{where}, line {inside}: '# BEGIN SOLUTION' is never closed; "
                                  "add '# END SOLUTION' after the solution lines")
    if hidden is not None:
        raise SolutionMarkerError(f"{where}, line {hidden}: '### BEGIN HIDDEN TESTS' is never closed")
    return "".join(out), count


def _refuse_markers_in_text(source, where, cell_type):
    """Markdown and raw cells: no marker of any kind (they work in code cells only)."""
    for number, line in enumerate(source.splitlines(), start=1):
        if LOOKS_LIKE_MARKER.search(line) or "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            raise SolutionMarkerError(f"{where}, line {number}: solution marker {line.strip()[:80]!r} in a "
                                      f"{cell_type} cell; markers only work in code cells (tag a "
                                      f"{cell_type} answer 'solution' instead)")
    first = next((line for line in source.splitlines() if line.strip()), "")
    if LOOKS_LIKE_ANSWER_CELL.match(first):
        raise SolutionMarkerError(f"{where}, line 1: the cell starts like an answer ({first.strip()[:40]!r}) "
                                  "but is not tagged 'solution'; tag it so its text is replaced")


# ---------------------------------------------------------------------------- tags and metadata

def _check_tags(tags, where):
    """True if the cell is tagged ``solution``; a tag that nearly is raises."""
    for tag in tags:
        if tag == SOLUTION_TAG:
            continue
        letters = re.sub(r"[^a-z]", "", str(tag).lower())
        if "solution" in letters or letters.startswith("answer") or letters in ("sol", "soln", "solns"):
            raise SolutionMarkerError(f"{where}: tag {tag!r} looks like a solution tag but is not "
                                      f"'{SOLUTION_TAG}' exactly; write '{SOLUTION_TAG}' (lower case, "
                                      "singular) or remove it")
    return SOLUTION_TAG in tags


def _metadata_leaks(value, path):
    """(key path, reason) for every place in metadata that names or holds a solution."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if path.endswith(".nbgrader") and key in NBGRADER_KEYS:
                if key == "solution" and not isinstance(item, bool):
                    yield here, "nbgrader's 'solution' is a flag (true or false), not text"
                    continue
            elif SOLUTION_WORDS.search(str(key)):
                yield here, "its key names a solution or an answer"
                continue
            yield from _metadata_leaks(item, here)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _metadata_leaks(item, f"{path}[{i}]")
    elif isinstance(value, str):
        if LOOKS_LIKE_MARKER.search(value) or "BEGIN SOLUTION" in value or "END SOLUTION" in value:
            yield path, "its text holds a solution marker"


def _check_metadata(metadata, where, skip=("tags",)):
    for key, value in metadata.items():
        if key in skip:
            continue
        for path, reason in _metadata_leaks({key: value}, "metadata"):
            raise SolutionMarkerError(f"{where}: {path}: {reason}; answers belong in a cell tagged "
                                      f"'{SOLUTION_TAG}' or between '# BEGIN SOLUTION' and '# END SOLUTION', "
                                      "never in metadata")


# ---------------------------------------------------------------------------- a whole notebook

def student_notebook(nb, name="notebook"):
    """Return (student copy of ``nb``, stats); ``nb`` itself is not modified.

    Raises
    ------
    SolutionMarkerError
        For anything that looks like a solution marker, tag or answer but is not
        exactly one (see the module's docstring), naming ``name``, the cell and the line.
    """
    nb = nbformat.from_dict(nb)   # a deep copy
    stats = {"code": 0, "answers": 0}
    _check_metadata(nb.metadata, f"{name}, notebook", skip=("widgets",))
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        metadata = cell.get("metadata", {})
        tags = list(metadata.get("tags", []))
        is_answer = _check_tags(tags, where)
        _check_metadata(metadata, where)
        nbgrader_solution = metadata.get("nbgrader", {}).get("solution") is True
        if is_answer:
            cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
            cell.source = ANSWER_PLACEHOLDER if cell.cell_type != "code" else WORKING_PLACEHOLDER
            cell.pop("attachments", None)
            stats["answers"] += 1
        elif cell.cell_type == "code":
            cell.source, n = strip_solutions(cell.source, where)
            stats["code"] += n
            if nbgrader_solution and n == 0:
                raise SolutionMarkerError(f"{where}: an nbgrader solution cell without a '# BEGIN SOLUTION' "
                                          "region would reach students whole; mark the answer, or set "
                                          "metadata.nbgrader.solution to false")
        else:
            _refuse_markers_in_text(cell.source, where, cell.cell_type)
            if nbgrader_solution:
                raise SolutionMarkerError(f"{where}: an nbgrader solution {cell.cell_type} cell must also be "
                                          f"tagged '{SOLUTION_TAG}', so that its text is replaced")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in list(cell.metadata):
            if key not in KEPT_CELL_METADATA:  # timing from the teacher's run, anything unknown
                del cell.metadata[key]
    nb.metadata.pop("widgets", None)
    nbformat.validate(nb)
    return nb, stats


def student_module(source, name="module"):
    """The student copy of a Python module beside the lessons; returns (text, stats)."""
    text, n = strip_solutions(source, name)
    return text, {"code": n, "answers": 0}


# ---------------------------------------------------------------------------- the output folder

def _sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def _content_sha256(path):
    """SHA-256 of what a student edition is built from: a notebook's cells (type and source,
    not outputs or run metadata, so re-running the lessons changes nothing), or a module's text."""
    path = pathlib.Path(path)
    if path.suffix != ".ipynb":
        return _sha256(path)
    cells = [[c.get("cell_type"), "".join(c.get("source", ""))] for c in json.loads(path.read_text("utf-8"))["cells"]]
    return hashlib.sha256(json.dumps(cells).encode("utf-8")).hexdigest()


def _read_record(out_dir):
    """The folder's marker as a dict, checked to be this build's; raises OutputFolderError."""
    marker = out_dir / MARKER_FILE
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
        files = record["files"]
        if record.get("kind") != MARKER_KIND or not isinstance(files, dict):
            raise ValueError("not written by this script")
        return record
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise OutputFolderError(f"{marker} cannot be read ({error}); this folder may hold a student's work, "
                                "so nothing is written. Build into a new folder with --out.") from None


def _read_marker(out_dir):
    """The files this build wrote into ``out_dir`` last time: {name: SHA-256}."""
    return {str(k): str(v) for k, v in _read_record(out_dir)["files"].items()}


def _read_sources(out_dir):
    """The teacher files ``out_dir``'s files were built from: {name: SHA-256} ({} if not recorded)."""
    sources = _read_record(out_dir).get("sources", {})
    return {str(k): str(v) for k, v in sources.items()} if isinstance(sources, dict) else {}


def _write_marker(out_dir, files, sources=None):
    _write_atomically(out_dir / MARKER_FILE, json.dumps(
        {"kind": MARKER_KIND, "note": "written by scripts/build_student_edition.py: the SHA-256 of each file "
                                      "it wrote, so that a re-run never replaces a file someone changed, "
                                      "and of the teacher file each was built from (sources)",
         "files": dict(sorted(files.items())),
         "sources": dict(sorted((sources or {}).items()))}, indent=1).encode("utf-8"))


def outdated(out_dir, sources):
    """The teacher files in ``sources`` that changed, or are new, since ``out_dir`` was built.

    Parameters
    ----------
    out_dir : path
        A folder this build made (it holds ``.student-edition.json``).
    sources : list of path
        The teacher's files as they are now (see :func:`default_sources`).

    Returns
    -------
    list of str
        Their names, sorted; empty when every one is what the folder was built from.

    Raises
    ------
    OutputFolderError
        If ``out_dir`` has no readable marker of this build.
    """
    recorded = _read_sources(pathlib.Path(out_dir))
    return sorted(pathlib.Path(p).name for p in sources
                  if recorded.get(pathlib.Path(p).name) != _content_sha256(p))


def _write_atomically(path, data):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_folder(out_dir, sources):
    """Why the build must not write into ``out_dir`` at all (raises), else what it wrote there before.

    Returns
    -------
    dict or None
        {name: SHA-256} from the folder's marker, or None for a new (or empty) folder.
    """
    out_dir = pathlib.Path(out_dir)
    resolved = out_dir.resolve()
    teacher = NOTEBOOKS.resolve()
    sources_folders = {pathlib.Path(p).resolve().parent for p in sources}
    if resolved == teacher or teacher in resolved.parents or resolved in sources_folders:
        inside = " inside" if resolved not in sources_folders | {teacher} else ""
        raise OutputFolderError(f"{out_dir} is{inside} the folder where the teacher's notebooks are; the "
                                "student edition never goes there. Choose another folder with --out "
                                "(the default is student/).")
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        raise OutputFolderError(f"{out_dir} is a file, not a folder; choose another folder with --out.")
    if (out_dir / MARKER_FILE).exists() or (out_dir / MARKER_FILE).is_symlink():
        return _read_marker(out_dir)
    if any(out_dir.iterdir()):
        raise OutputFolderError(f"{out_dir} already holds files and was not made by this script (it has no "
                                f"{MARKER_FILE}); nothing is written, so nothing there is lost. Build into a "
                                "new folder with --out.")
    return None       # an empty folder: nothing in it can be lost


def check_targets(out_dir, recorded, names):
    """Raise if writing ``names`` into ``out_dir`` would replace anything but the build's own files."""
    out_dir = pathlib.Path(out_dir)
    for name in names:
        target = out_dir / name
        if not os.path.lexists(target):
            continue
        if target.is_symlink() or not target.is_file():
            raise OutputFolderError(f"{target} is not a plain file; the build stops and writes nothing. "
                                    "Move it away, or build into a new folder with --out.")
        if name not in recorded:
            raise OutputFolderError(f"{target} was not written by this script; the build stops and writes "
                                    "nothing. Move it away, or build into a new folder with --out.")
        if _sha256(target) != recorded[name]:
            raise OutputFolderError(f"{target} has changed since the student edition was built there (someone "
                                    "worked in it); the build stops and writes nothing, so those changes are "
                                    "kept. Build into a new folder with --out, or move the file away first.")


def build(paths, out_dir):
    """Write the student edition of ``paths`` into ``out_dir``; returns {name: stats}.

    Every file is converted and every check passes before anything is written; see the
    module's docstring for what the build refuses.
    """
    out_dir = pathlib.Path(out_dir)
    recorded = check_output_folder(out_dir, paths)
    sources = _read_sources(out_dir) if recorded is not None else {}
    built = {}
    for path in paths:          # convert everything first: an error writes nothing
        path = pathlib.Path(path)
        if path.suffix == ".py":
            text, stats = student_module(path.read_text(encoding="utf-8"), path.name)
        else:
            nb, stats = student_notebook(nbformat.read(path, as_version=4), path.name)
            text = nbformat.writes(nb)
            text += "" if text.endswith("\n") else "\n"     # as nbformat.write does
        built[path.name] = (text.encode("utf-8"), stats, _content_sha256(path))
    if recorded is not None:
        check_targets(out_dir, recorded, list(built))
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        recorded = {}
        _write_marker(out_dir, recorded)   # the folder is ours from its first moment
    for name, (data, _, source) in built.items():
        _write_atomically(out_dir / name, data)
        recorded[name] = hashlib.sha256(data).hexdigest()
        sources[name] = source
        _write_marker(out_dir, recorded, sources)
    return {name: stats for name, (_, stats, _) in built.items()}


def default_sources():
    """The teacher's lessons and the Python modules beside them."""
    return sorted(NOTEBOOKS.glob("[0-9]*.ipynb")) + sorted(NOTEBOOKS.glob("*.py"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path,
                        help="teacher notebooks or modules (default: notebooks/[0-9]*.ipynb and notebooks/*.py)")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT,
                        help=f"output folder: new, empty, or made by this script "
                             f"(default: {DEFAULT_OUT.relative_to(ROOT)}/)")
    parser.add_argument("--outdated", type=pathlib.Path, metavar="DIR",
                        help="write nothing; print one line if the teacher files changed since DIR was built")
    args = parser.parse_args(argv)
    if args.outdated is not None:
        return report_outdated(args.outdated, args.notebooks or default_sources())
    paths = args.notebooks or default_sources()
    if not paths:
        sys.exit(f"no notebooks found in {NOTEBOOKS}")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"not found: {', '.join(missing)}")
    try:
        stats = build(paths, args.out)
    except (SolutionMarkerError, OutputFolderError) as e:
        sys.exit(f"student edition not built: {e}")
    for name, s in stats.items():
        print(f"{name}: {s['code']} coding exercise(s) stubbed, {s['answers']} answer(s) removed")
    n_modules = sum(name.endswith(".py") for name in stats)
    modules = f" and {n_modules} module(s)" if n_modules else ""
    print(f"student edition: {len(stats) - n_modules} notebook(s){modules} in {args.out}")


def report_outdated(out_dir, sources):
    """Print one line if the lessons changed since ``out_dir`` was built; never writes, never fails."""
    try:
        changed = outdated(out_dir, sources)
    except OutputFolderError:
        print(f"{out_dir} was not made by the student build, so whether the lessons changed since "
              "cannot be told; it is used as it is.")
        return
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        print(f"The lessons were updated after {out_dir.name}/ was made ({shown}); your copy is kept as it is. "
              f"For a fresh copy beside it: ./run student --out {out_dir.name}-2")


if __name__ == "__main__":
    main()
