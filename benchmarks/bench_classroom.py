"""How many students does one server hold? A class at the classroom hub, simulated on loopback.

Usage:  .venv/bin/python benchmarks/bench_classroom.py --students 5 [10 20] [--lessons 1 2 3 4 5 6]
            [--max-minutes 25] [--mem 1.5G] [--json results.json]

Needs `./run hub --install-only` first. For each class size N we start the hub of classroom/
(dummy login, 127.0.0.1 only, a free port, its own temporary folder) and N simulated students
(classroom/hubclient.py), all at once. Each logs in through the login form, gets their server
(and so their own copy of the student edition), then, lesson by lesson, opens the lesson in
their copy, saves their finished version (the teacher edition, and my_cnn.py) beside it through
their server, and runs it as Run All does: every code cell in order, in a kernel of their own
server, through its websocket. All N work on the same lesson at the same time (the class
presses Run All together), and a lesson starts when all have finished the one before, as a
class moves on together.

Measured, per lesson: each student's wall time to run it (median, slowest) and their kernel's
CPU time (user + system: what the lesson costs, whatever the load), against one student
alone (measured first, on its own hub: `--no-solo` skips it and reuses nothing), the slow-down
(median / alone), each student's peak memory (RSS of their kernel's process tree, and of their
server with its kernels, sampled every 0.5 s from /proc), failures (a cell's error, a time-out,
a server that did not start), and how the hub answers while the class works: every 2 s an
observer who logged in before the class opens lesson 1 again (page and contents), and a
latecomer logs in through the form. Every request goes to 127.0.0.1; every run is bounded by
--max-minutes (students still running then are stopped and counted as failed), and the hub and
everything it started are stopped at the end, whatever happened.

The machine's load is printed before and after: run it when nothing else heavy runs (`uptime`,
`pgrep -f bench_resnet`), since the students share the cores with whatever else is running.
Not simulated: students in a real browser (headless Chromium); these speak the REST and
websocket protocol JupyterLab speaks. docs/TEACHING.md (Option 2) has the results.
"""
import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The simulated student, shared with tests/test_hub.py (classroom/ is not a package).
spec = importlib.util.spec_from_file_location("hubclient", ROOT / "classroom" / "hubclient.py")
hubclient = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hubclient)
psutil = hubclient.psutil

LESSONS = {int(p.name[:2]): p.name for p in sorted((ROOT / "notebooks").glob("0[1-6]_*.ipynb"))}
SAMPLE_EVERY = 0.5    # seconds between memory samples
PROBE_EVERY = 2.0     # seconds between the observer's and the latecomer's requests
MAX_STUDENTS = 40     # a bound on the simulated class (2 cores, 24 GiB here)
MIB = 1024 ** 2


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class MemoryWatch:
    """Samples every student's processes from /proc: peak RSS of their kernel's tree and of
    their whole server (the single-user server with its kernels), per lesson."""

    def __init__(self, hub):
        self.hub, self.lesson = hub, None
        self.kernel_peak, self.server_peak = {}, {}     # (student, lesson) -> bytes
        self.users = {}                                 # pid -> student, from the environment
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _user(self, proc):
        if proc.pid not in self.users:
            try:
                self.users[proc.pid] = proc.environ().get("JUPYTERHUB_USER")
            except psutil.Error:
                self.users[proc.pid] = None
        return self.users[proc.pid]

    def _run(self):
        while not self.stop.wait(SAMPLE_EVERY):
            lesson = self.lesson
            if lesson is None:
                continue
            servers, kernels = {}, {}
            for proc in self.hub.processes():
                user = self._user(proc)
                if not user:
                    continue
                try:
                    rss = proc.memory_info().rss
                    is_kernel = "ipykernel" in " ".join(proc.cmdline())
                except psutil.Error:
                    continue
                servers[user] = servers.get(user, 0) + rss
                if is_kernel:
                    kernels[user] = kernels.get(user, 0) + rss
            for table, found in ((self.server_peak, servers), (self.kernel_peak, kernels)):
                for user, rss in found.items():
                    table[user, lesson] = max(table.get((user, lesson), 0), rss)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


class Probe:
    """While the class works: an observer reopens lesson 1 and a latecomer logs in, every 2 s."""

    def __init__(self, hub, observer):
        self.hub, self.observer = hub, observer
        self.open_times, self.login_times, self.failures = [], [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        number = 0
        while not self.stop.wait(PROBE_EVERY):
            number += 1
            try:
                seconds, _ = self.observer.open_notebook(f"my-work/{LESSONS[1]}")
                self.open_times.append(seconds)
                self.login_times.append(hubclient.Student(self.hub.url, f"latecomer{number}").login())
            except Exception as error:  # a slow or refused answer is what we measure
                self.failures.append(f"{type(error).__name__}: {error}"[:200])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=120)


def run_class(n, lessons, deadline, mem, log_folder):
    """N students through ``lessons`` together on a fresh hub; a dict of everything measured."""
    result = {"students": n, "lessons": {}, "failures": [], "login": [], "spawn": [], "open": []}
    state = pathlib.Path(tempfile.mkdtemp(prefix=f"bench-class-{n}-"))
    with hubclient.Hub(state, auth="dummy", mem=mem, log=log_folder / f"hub-{n}.log") as hub:
        observer = hubclient.Student(hub.url, "observer")
        observer.login()
        observer.start_server()
        students = [hubclient.Student(hub.url, f"student{i + 1:02d}") for i in range(n)]
        ready = {}

        def arrive(student):
            try:
                result["login"].append(student.login())
                result["spawn"].append(student.start_server(timeout=max(10, deadline - time.monotonic())))
                ready[student.name] = True
            except Exception as error:
                result["failures"].append(f"{student.name} could not start: {type(error).__name__}: {error}"[:300])

        with MemoryWatch(hub) as memory, Probe(hub, observer) as probe:
            memory.lesson = 0
            threads = [threading.Thread(target=arrive, args=(s,)) for s in students]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for number in lessons:
                memory.lesson = number
                times, errors, cpu = {}, [], {}

                def work(student, number=number):
                    kernel = None
                    try:
                        seconds, _ = student.open_notebook(f"my-work/{LESSONS[number]}")
                        result["open"].append(seconds)
                        student.upload(ROOT / "notebooks" / "my_cnn.py", "finished/my_cnn.py")
                        path = f"finished/{LESSONS[number]}"
                        student.upload(ROOT / "notebooks" / LESSONS[number], path)
                        _, notebook = student.open_notebook(path)
                        kernel = student.kernel(path)
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise TimeoutError("the run's time was up")
                        process = psutil.Process(kernel.pid())
                        cpu_before = sum(process.cpu_times()[:2])
                        seconds, cell_errors, _ = kernel.run_all(notebook, timeout=left)
                        cpu[student.name] = sum(process.cpu_times()[:2]) - cpu_before
                        if cell_errors:
                            errors.append(f"{student.name}, lesson {number}: {cell_errors[0]}"[:300])
                        else:
                            times[student.name] = seconds
                    except Exception as error:
                        errors.append(f"{student.name}, lesson {number}: {type(error).__name__}: {error}"[:300])
                    finally:
                        if kernel is not None:
                            try:
                                kernel.close()
                            except Exception:
                                pass

                working = [threading.Thread(target=work, args=(s,)) for s in students if s.name in ready]
                started = time.perf_counter()
                for thread in working:
                    thread.start()
                for thread in working:
                    thread.join()
                wall = time.perf_counter() - started
                kernel_peaks = [memory.kernel_peak.get((s.name, number), 0) for s in students if s.name in ready]
                server_peaks = [memory.server_peak.get((s.name, number), 0) for s in students if s.name in ready]
                result["lessons"][number] = {
                    "times": sorted(times.values()), "wall": wall, "errors": errors,
                    "cpu": sorted(cpu[name] for name in times),
                    "kernel_peak_mib": max(kernel_peaks, default=0) / MIB,
                    "server_peak_mib": max(server_peaks, default=0) / MIB,
                    "kernel_peak_median_mib": statistics.median(kernel_peaks) / MIB if kernel_peaks else 0}
                result["failures"] += errors
                print(f"  N={n} lesson {number}: {len(times)}/{len(working)} finished, median "
                      f"{statistics.median(times.values()) if times else float('nan'):.1f} s, slowest "
                      f"{max(times.values(), default=float('nan')):.1f} s, kernel peak "
                      f"{result['lessons'][number]['kernel_peak_mib']:.0f} MiB, load {load()}", flush=True)
                if time.monotonic() > deadline:
                    result["failures"].append(f"time was up after lesson {number}")
                    break
        result["probe_open"], result["probe_login"] = probe.open_times, probe.login_times
        result["probe_failures"] = probe.failures
    return result


def quantiles(values):
    if not values:
        return "-"
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    return f"{statistics.median(values):.2f} / {p95:.2f} / {values[-1]:.2f}"


def report(solo, classes, lessons):
    lines = ["", f"load {load()}; {os.cpu_count()} cores, "
                 f"{psutil.virtual_memory().total / 1024 ** 3:.1f} GiB", ""]
    lines.append("| lesson | alone (s) | N | median (s) | slowest (s) | slow-down | kernel CPU (s) "
                 "| kernel peak (MiB) | server + kernel peak (MiB) | finished |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for number in lessons:
        alone = solo["lessons"].get(number, {}).get("times", []) if solo else []
        base = alone[0] if alone else None
        for result in classes:
            row = result["lessons"].get(number)
            if not row:
                continue
            median = statistics.median(row["times"]) if row["times"] else None
            cells = [str(number), f"{base:.1f}" if base else "-", str(result["students"]),
                     f"{median:.1f}" if median else "-", f"{max(row['times']):.1f}" if median else "-",
                     f"{median / base:.1f}x" if median and base else "-",
                     f"{statistics.median(row['cpu']):.1f}" if row.get("cpu") else "-", f"{row['kernel_peak_mib']:.0f}",
                     f"{row['server_peak_mib']:.0f}", f"{len(row['times'])}/{result['students']}"]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| N | login (s) median / p95 / max | server start (s) | open a lesson (s) "
                  "| observer's reopen while the class works (s) | latecomer's login (s) | failures |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for result in classes:
        lines.append(f"| {result['students']} | {quantiles(result['login'])} | {quantiles(result['spawn'])} | "
                     f"{quantiles(result['open'])} | {quantiles(result['probe_open'])} | "
                     f"{quantiles(result['probe_login'])} | {len(result['failures']) + len(result['probe_failures'])} |")
    for result in classes:
        for failure in (result["failures"] + result["probe_failures"])[:10]:
            lines.append(f"N={result['students']}: {failure}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[5], help="class sizes, each run on its own")
    parser.add_argument("--lessons", type=int, nargs="+", default=sorted(LESSONS), choices=sorted(LESSONS))
    parser.add_argument("--max-minutes", type=float, default=25, help="bound on each class's run")
    parser.add_argument("--mem", default="1.5G", help="each student's memory limit (CNNLIB_HUB_MEM)")
    parser.add_argument("--no-solo", action="store_true", help="skip the one-student baseline")
    parser.add_argument("--json", type=pathlib.Path, help="also save every measurement here")
    args = parser.parse_args(argv)
    if any(not 1 <= n <= MAX_STUDENTS for n in args.students):
        parser.error(f"--students: from 1 to {MAX_STUDENTS}")
    if args.json and args.json.exists():
        parser.error(f"--json: {args.json} exists; give a new file name (measurements are never written over a file)")
    missing = hubclient.missing_pieces()
    if missing:
        parser.error(f"{missing[0][0]} is not installed: {missing[0][1]} installs it")
    logs = pathlib.Path(tempfile.mkdtemp(prefix="bench-classroom-logs-"))
    print(f"load before: {load()}; hub logs in {logs}", flush=True)
    solo, classes = None, []
    try:
        if not args.no_solo:
            print("one student alone:", flush=True)
            solo = run_class(1, args.lessons, time.monotonic() + 60 * args.max_minutes, args.mem, logs)
        for n in args.students:
            print(f"a class of {n}:", flush=True)
            classes.append(run_class(n, args.lessons, time.monotonic() + 60 * args.max_minutes, args.mem, logs))
    except KeyboardInterrupt:
        print("stopped (Ctrl+C); the hub and its processes were stopped", flush=True)
    except Exception:
        traceback.print_exc()
    print(report(solo, classes, args.lessons))
    if args.json:
        args.json.write_text(json.dumps({"solo": solo, "classes": classes, "load_after": load()}, indent=1))
    return 0 if classes and not any(r["failures"] for r in classes) else 1


if __name__ == "__main__":
    sys.exit(main())
