"""Train ``--model resnet`` on full MNIST with its defaults; print its test accuracy and wall time.

Usage:  python benchmarks/bench_resnet.py [--data-dir DIR] [-- extra options for `python -m cnnlib train`]

Runs ``python -m cnnlib train --data full --model resnet --no-progress`` in a fresh process (as
``./run train`` does, with one BLAS thread unless OPENBLAS_NUM_THREADS is set), shows its epoch
lines as they come, and ends with one summary line: test accuracy, wall time, the CPU time the
run used, and the load average (at the start, the mean of samples every 10 s, and the end),
since the machines we measure on are shared and the wall time depends on what else runs. The
data come from ``--data-dir``, else ``$CNNLIB_DATA_DIR``, else cnnlib's per-user cache.
Anything after ``--`` goes to the CLI (``-- --seed 1``, ``-- --epochs 12``). Asserts nothing.
"""
import argparse
import os
import re
import resource
import subprocess
import sys
import threading
import time

LOAD_EVERY = 10.0  # seconds between load-average samples


def load_average():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def minutes(seconds):
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CNNLIB_DATA_DIR"),
                        help="folder with the four MNIST .gz files (default: $CNNLIB_DATA_DIR, else the cache)")
    parser.add_argument("extra", nargs="*", help="options for `python -m cnnlib train`, after --")
    args = parser.parse_args()

    command = [sys.executable, "-m", "cnnlib", "train", "--data", "full", "--model", "resnet", "--no-progress"]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    command += args.extra
    env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    print("$", " ".join(command), f"(OPENBLAS_NUM_THREADS={env['OPENBLAS_NUM_THREADS']})", flush=True)

    loads, done = [load_average()], threading.Event()

    def sample_load():
        while not done.wait(LOAD_EVERY):
            loads.append(load_average())

    sampler = threading.Thread(target=sample_load, daemon=True)
    sampler.start()
    start = time.perf_counter()
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as child:
        for line in child.stdout:
            print(line, end="", flush=True)
            lines.append(line.strip())
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    loads.append(load_average())
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = cpu.ru_utime + cpu.ru_stime

    match = re.match(r"test accuracy: (\d\.\d{4})$", lines[-1]) if lines else None
    if child.returncode != 0 or match is None:
        print(f"the run failed (exit status {child.returncode}) after {minutes(wall)}", file=sys.stderr)
        return child.returncode or 1
    accuracy = float(match.group(1))
    print(f"resnet on full MNIST: test accuracy {100 * accuracy:.2f}% in {minutes(wall)} wall "
          f"({minutes(cpu_seconds)} CPU), load average {loads[0]:.1f} at the start, "
          f"{sum(loads) / len(loads):.1f} on average, {loads[-1]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
