"""Re-execute lessons in a fresh kernel and save them with their outputs (what nbval compares).

Usage:  python scripts/run_notebooks.py                 # every notebook in notebooks/
        python scripts/run_notebooks.py notebooks/02_convolution.ipynb

Each notebook runs top to bottom in a new kernel, from the notebooks/ folder, exactly as
a learner's "Restart kernel and run all" would. Widget state is not stored (the widgets
are re-created when a learner runs the lesson), which keeps the files small and their
diffs readable. A notebook that raises is not saved, and the script exits non-zero.
"""
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TIMEOUT_PER_CELL = 600
# What JupyterLab itself writes for the kernel `pip install ipykernel` registers: a lesson
# stored with anything else opens marked as modified.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def run(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=TIMEOUT_PER_CELL, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    client.execute()
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:                      # run timestamps only make diffs noisy
        cell.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = KERNELSPEC
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv):
    paths = [pathlib.Path(a).resolve() for a in argv] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    failed = []
    for path in paths:
        try:
            print(f"{path.name}: {run(path):.1f} s", flush=True)
        except CellExecutionError as e:
            failed.append(path.name)
            print(f"{path.name}: FAILED, not saved\n{e}", file=sys.stderr, flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main(sys.argv[1:])
