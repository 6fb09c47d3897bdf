"""Running a learner's function inside a check, and turning what went wrong into plain words.

May import: the standard library, NumPy and :mod:`cnnlib.explore.checks._lockout`. Nothing
that draws (a check must run in a bare kernel and under a grader).

The contract
------------
* A check either prints one line starting with ``"✓"`` and returns None, or raises
  :class:`CheckFailed`, whose message starts with ``"✗ <exercise>:"`` and says in plain
  words what went wrong and on which hidden case. In IPython it shows as that message
  alone, with no traceback through the checks (``_render_traceback_``), and it is raised
  without a chained context.
* :func:`call` runs the learner's function once, guarded:

  - **time limit**: a call that runs longer than :data:`TIME_LIMIT_SECONDS` is stopped
    (``SIGALRM`` when called from the main thread, where a kernel runs its cells; a
    watchdog thread that raises in the caller's thread elsewhere) and the check says
    where the learner's code was running;
  - **no library**: cnnlib's core is locked (:mod:`._lockout`); a call into it fails the
    check with "your function called cnnlib.ops.conv2d_forward: write it yourself with
    NumPy";
  - **output captured**: what the learner's code prints (stdout and stderr, warnings
    included) is collected over the whole check and shown once, before the verdict,
    cut to the first and last :data:`OUTPUT_HEAD_LINES` / :data:`OUTPUT_TAIL_LINES`
    lines with a note of how many were cut, so a ``print`` in a loop cannot flood the
    notebook;
  - **exceptions** become a verdict naming the exception, the case and the line of the
    learner's code that raised it; a ValueError about broadcasting adds the check's own
    hint (where this exercise's windows or rows come from), or :data:`BROADCAST_HINT`.
* :func:`consume` reads a learner's generator the same way, never more than a given
  number of items (a generator that never stops is read a bounded number of times).
* Every ``check_*`` function is decorated with :func:`reports_output`, which shows the
  captured output and then the verdict.
"""
import collections
import contextlib
import functools
import io
import itertools
import os
import signal
import sys
import threading
import time
import traceback
import warnings

import numpy as np

from cnnlib.explore.checks._lockout import LibraryCall, Lockout, library_name

__all__ = ["BROADCAST_HINT", "CheckFailed", "OUTPUT_HEAD_LINES", "OUTPUT_TAIL_LINES", "TIME_LIMIT_SECONDS", "call",
           "consume", "count", "fail", "learner_line", "passed", "reports_output"]

# The checks' hidden cases are tiny (a 5x5 image, a batch of 10): an honest loop solution
# answers each in milliseconds, even on a busy school machine. Longer than this, and the
# learner's code is stuck in a loop.
TIME_LIMIT_SECONDS = 5.0

# What is shown of a learner's printed output: the first and the last lines (the first
# print of a debugging loop and where it ended), each cut to a readable length.
OUTPUT_HEAD_LINES = 10
OUTPUT_TAIL_LINES = 10
OUTPUT_LINE_CHARS = 300

# What a ValueError about broadcasting gets when the check has no words of its own for it.
BROADCAST_HINT = ("Two arrays' shapes do not line up: print the shapes of the arrays on that line (.shape) and "
                  "compare them with the shapes in your function's docstring")


class CheckFailed(AssertionError):
    """A learner's answer is not right yet; the message says why, in plain words.

    IPython shows an exception with a ``_render_traceback_`` method by printing the lines
    it returns, so a failed check shows the plain-words message alone, without frames
    from inside the checks.

    >>> CheckFailed("✗ demo: the result is None")._render_traceback_()
    ['✗ demo: the result is None']
    """

    def _render_traceback_(self):
        return str(self).splitlines()


def count(n, noun, plural=None):
    """``n`` and ``noun``, the noun in the plural unless ``n`` is 1.

    >>> count(1, "row"), count(3, "row"), count(1, "example is", "examples are")
    ('1 row', '3 rows', '1 example is')
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def fail(exercise, message):
    """Raise the check's "✗" verdict (without a chained "During handling of ..." context)."""
    raise CheckFailed(f"✗ {exercise}: {message}") from None


# ============================================================================ output capture
class _Capture(io.TextIOBase):
    """A text stream that keeps the first and last lines written to it and counts the rest.

    Memory stays bounded however much is written: OUTPUT_HEAD_LINES + OUTPUT_TAIL_LINES
    lines of at most OUTPUT_LINE_CHARS characters each.
    """

    encoding = "utf-8"

    def __init__(self):
        super().__init__()
        self.n_lines = 0
        self.head, self.tail = [], collections.deque(maxlen=OUTPUT_TAIL_LINES)
        self._line, self._line_chars = [], 0

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        *complete, rest = text.split("\n")
        for piece in complete:
            self._extend(piece)
            self._end_line()
        self._extend(rest)
        return len(text)

    def _extend(self, piece):
        room = OUTPUT_LINE_CHARS - min(self._line_chars, OUTPUT_LINE_CHARS)
        if room:
            self._line.append(piece[:room])
        self._line_chars += len(piece)

    def _end_line(self):
        line = "".join(self._line)
        if self._line_chars > OUTPUT_LINE_CHARS:
            line += f" ... ({self._line_chars - OUTPUT_LINE_CHARS:,} more characters)"
        (self.head if len(self.head) < OUTPUT_HEAD_LINES else self.tail).append(line)
        self.n_lines += 1
        self._line, self._line_chars = [], 0

    def render(self):
        """The shortened output as text ending in a newline, or "" when nothing was printed."""
        if self._line_chars:
            self._end_line()
        if not self.n_lines:
            return ""
        lines = ["Your function printed (while the check ran it on its hidden cases):", *self.head]
        cut = self.n_lines - len(self.head) - len(self.tail)
        if cut:
            lines.append(f"... {count(cut, 'line')} cut: your function printed {self.n_lines:,} lines in all ...")
        lines.extend(self.tail)
        return "\n".join(lines) + "\n"


class _Session:
    """One check's run: the learner's output collected over all its calls, and its ✓ line."""

    def __init__(self):
        self.capture = _Capture()
        self.verdict = None


_sessions = threading.local()


def _current_session():
    stack = getattr(_sessions, "stack", None)
    return stack[-1] if stack else None


def reports_output(check):
    """Decorate a ``check_*`` function: show the learner's captured output, then the verdict.

    The learner's output from all the check's calls comes first, shortened; then the
    "✓" line, or the :class:`CheckFailed` propagates.
    """
    @functools.wraps(check)
    def run(*args, **kwargs):
        stack = _sessions.__dict__.setdefault("stack", [])
        session = _Session()
        stack.append(session)
        try:
            return check(*args, **kwargs)
        finally:
            stack.pop()
            sys.stdout.write(session.capture.render())
            if session.verdict is not None:
                print(session.verdict)
    return run


def passed(exercise, detail):
    """The check's "✓" line: printed now, or after the learner's output inside a check. Returns None."""
    line = f"✓ {exercise}: {detail}"
    session = _current_session()
    if session is None:
        print(line)
    else:
        session.verdict = line


# ============================================================================ time limit
class _TimeUp(BaseException):
    """Raised in the learner's code when its time is up (a BaseException: ``except Exception``
    in the learner's code does not swallow it)."""


class _Deadline:
    """Stop the code in the ``with`` block after ``seconds`` with :class:`_TimeUp`.

    In the main thread (where IPython kernels run cells) this uses ``SIGALRM``, which
    interrupts any Python loop; the alarm repeats every ``_REPEAT`` seconds, so a bare
    ``except:`` in the learner's loop cannot keep it going. A timer or handler that was
    set before (pytest-timeout, say) is put back afterwards. Elsewhere a watchdog thread
    raises the exception asynchronously in the calling thread (CPython's
    ``PyThreadState_SetAsyncExc``), which also interrupts any Python loop. Without
    either, the block runs without a limit.
    """

    _REPEAT = 0.2

    def __init__(self, seconds):
        self.seconds = seconds
        self.mode = None

    def __enter__(self):
        if not self.seconds or self.seconds <= 0:
            return self
        if (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGALRM) is not None):
            self._start_alarm()
        else:
            self._start_watchdog()
        return self

    # -------------------------------------------------------------- main thread: SIGALRM
    def _start_alarm(self):
        self.active = True
        self.mode = "alarm"

        def handler(signum, frame):
            if self.active:
                raise _TimeUp()
        self._old_handler = signal.signal(signal.SIGALRM, handler)
        self._started = time.monotonic()
        self._old_timer = signal.setitimer(signal.ITIMER_REAL, self.seconds, self._REPEAT)

    def _stop_alarm(self):
        self.active = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._old_handler)
        delay, interval = self._old_timer
        if delay:   # someone else's alarm was pending: re-arm what is left of it
            left = delay - (time.monotonic() - self._started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), interval)

    # -------------------------------------------------------------- other threads: a watchdog
    def _start_watchdog(self):
        try:
            import ctypes
            self._set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
            self._c_ulong, self._py_object = ctypes.c_ulong, ctypes.py_object
        except (ImportError, AttributeError):
            return                      # not CPython: no way to stop a loop from outside
        self.mode = "watchdog"
        self._thread_id = threading.get_ident()
        self._lock = threading.Lock()
        self._done = self._fired = False
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self):
        with self._lock:
            if not self._done:
                self._fired = True
                self._set_async_exc(self._c_ulong(self._thread_id), self._py_object(_TimeUp))

    def _stop_watchdog(self):
        self._timer.cancel()
        with self._lock:
            self._done = True
            if self._fired:         # raised already, or still pending: clear a pending one
                self._set_async_exc(self._c_ulong(self._thread_id), None)

    def __exit__(self, *exc):
        stop = {"alarm": self._stop_alarm, "watchdog": self._stop_watchdog}.get(self.mode)
        while stop is not None:
            try:
                stop()
                break
            except _TimeUp:     # the time ran out while we were stopping the clock: the block is over
                continue
        return False


# ============================================================================ calling the learner
_LIBRARY_DIRS = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep
                      for m in (np, os, traceback))
_CHECKS_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def learner_line(error):
    """Where in the learner's own code ``error`` was raised: "line 3: `e / s`", or ""."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        path = os.path.abspath(frame.filename)
        if path.startswith((_CHECKS_DIR,) + _LIBRARY_DIRS) or frame.filename.startswith("<frozen"):
            continue
        code = (frame.line or "").strip()
        return f"line {frame.lineno}: `{code}`" if code else f"line {frame.lineno}"
    return ""


@contextlib.contextmanager
def _guarded(learner_fn, quiet):
    """Capture output, lock the library and set the time limit around one call; yields the Lockout."""
    session = _current_session()
    own_capture = None if session is not None else _Capture()
    capture = session.capture if session is not None else own_capture
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(contextlib.redirect_stdout(capture))
            stack.enter_context(contextlib.redirect_stderr(capture))
            if quiet:       # the check judges the result; NumPy's overflow warnings would only distract
                stack.enter_context(warnings.catch_warnings())
                warnings.simplefilter("ignore", RuntimeWarning)
                stack.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"))
            lockout = stack.enter_context(Lockout(learner_fn))
            stack.enter_context(_Deadline(TIME_LIMIT_SECONDS))    # innermost: off before anything is restored
            yield lockout
    finally:
        if own_capture is not None:
            sys.stdout.write(own_capture.render())


def _unsaved_slip(fn):
    """Why the file ``fn`` was loaded from does not compile now ("my_cnn.py, line 12: ..."), or None.

    A module that no longer compiles cannot be reloaded, so Python (and autoreload) keep
    running the version loaded before: a check would then judge old code without a word.
    """
    path = getattr(getattr(fn, "__code__", None), "co_filename", "")
    if not path.endswith(".py") or os.path.abspath(path).startswith((_CHECKS_DIR,) + _LIBRARY_DIRS):
        return None
    try:
        stat = os.stat(path)
    except OSError:         # a cell's code, or a file gone since: nothing to compare
        return None
    return _compile_slip(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _compile_slip(path, mtime_ns, size):
    """:func:`_unsaved_slip` for one saved version of a file (a check calls it hundreds of times)."""
    try:
        with open(path, "rb") as file:
            compile(file.read(), path, "exec")
    except OSError:
        return None
    except SyntaxError as e:
        code = (e.text or "").strip()
        return f"{os.path.basename(path)}, line {e.lineno}: {e.msg}" + (f": `{code}`" if code else "")
    except ValueError:      # e.g. a NUL byte in the file
        return f"{os.path.basename(path)} is not Python source"
    return None


def _library_message(name, case):
    on = f" (here {case})" if case else ""
    return (f"your function called {name}: write it yourself with NumPy. While a check runs your "
            f"function{on}, cnnlib's own ops, layers, losses, optimisers, model and training helpers are "
            "switched off, so that the check sees your own code")


def call(exercise, fn, *args, case="", quiet=False, learner=None, broadcast_hint=BROADCAST_HINT):
    """Call the learner's function ``fn(*args)``, guarded; return its result or fail in plain words.

    Parameters
    ----------
    exercise : str
        The exercise's name, the start of every verdict.
    fn : callable
        The learner's function (or, with ``learner``, a function of ours that runs
        learner code, such as reading the learner's generator).
    *args
        Its arguments.
    case : str
        Names the hidden case ("image 5x5, kernel 3x3"); every failure mentions it, so the
        learner can rebuild the input that broke their code.
    quiet : bool
        Silence NumPy's floating-point warnings during the call.
    learner : callable, optional
        The learner's function whose names are searched for cnnlib functions; ``fn``
        when not given.
    broadcast_hint : str
        What a ValueError about broadcasting adds, in the words of this exercise (where
        its windows or rows come from); :data:`BROADCAST_HINT` when the check has none.
    """
    where = f" ({case})" if case else ""
    if not callable(fn):
        fail(exercise, f"expected a function, got {type(fn).__name__}")
    name = library_name(fn) if learner is None else None
    if name is not None:
        fail(exercise, f"you passed {name} itself: write your own function with NumPy and pass that")
    slip = _unsaved_slip(learner if learner is not None else fn)
    if slip is not None:
        fail(exercise, f"your file does not compile ({slip}). Until it does, Python keeps running the version "
                       "of your function it loaded before, so this check would judge old code: fix that line, "
                       "save the file and run the check again")
    lockout = None
    try:
        with _guarded(learner if learner is not None else fn, quiet) as lockout:
            result = fn(*args)
    except LibraryCall as e:
        fail(exercise, _library_message(lockout.called if lockout is not None and lockout.called else e.name,
                                        case))
    except _TimeUp as e:
        if lockout is not None and lockout.called:
            fail(exercise, _library_message(lockout.called, case))
        message = (f"your function ran for more than {TIME_LIMIT_SECONDS:g} s{where} and was stopped. These "
                   "hidden cases are tiny, so it should take well under a second: look for a loop that never "
                   "ends (a `while` whose condition stays true, a counter or index that is never increased)")
        line = learner_line(e)
        if line:
            message += f"\n  it was running your code at {line}"
        fail(exercise, message)
    except NotImplementedError:
        fail(exercise, "not written yet - replace the `raise NotImplementedError` line with your code")
    except CheckFailed:
        raise
    except MemoryError:
        fail(exercise, f"your function ran out of memory{where}: on these small cases that means an array "
                       "far too large or a list that grows in a loop that never ends")
    except Exception as e:
        if lockout is not None and lockout.called:
            fail(exercise, _library_message(lockout.called, case))
        line = learner_line(e)
        message = f"your function raised {type(e).__name__}{where}: {e}"
        if line:
            message += f"\n  in your code, {line}"
        if isinstance(e, ValueError) and "broadcast" in str(e) and broadcast_hint:
            message += f"\n  {broadcast_hint}"
        fail(exercise, message)
    if lockout.called:          # the learner's code caught the LibraryCall and went on
        fail(exercise, _library_message(lockout.called, case))
    return result


def consume(exercise, iterable, limit, *, case="", learner=None):
    """Up to ``limit`` items of the learner's ``iterable`` as a list, read under :func:`call`'s guard.

    A list or tuple is returned whole; anything else is read lazily and never more than
    ``limit`` times, so a generator that never stops costs ``limit`` items, not the
    kernel. The caller compares the length with ``limit`` to see whether it stopped.
    """
    if isinstance(iterable, (list, tuple)):
        return list(iterable)

    def read():
        return list(itertools.islice(iter(iterable), limit))
    return call(exercise, read, case=case, learner=learner if learner is not None else iterable)
