"""The library lockout: while a check runs the learner's function, cnnlib's core does not answer.

May import: the standard library and the cnnlib modules it locks (the core's, and
:mod:`cnnlib.explore.loops`, NumPy only). Nothing else from :mod:`cnnlib.explore` (the checks
must run in a bare kernel and under a grader).

The contract
------------
An exercise asks the learner to write something cnnlib already has (a convolution, a
softmax, a momentum step). A solution that just calls cnnlib would pass every hidden case,
so while :class:`Lockout` is active, in the thread that entered it:

* every function and every method (and property) of every class defined in the modules
  of :data:`LOCKED_MODULES` raises :class:`LibraryCall` instead of running, and the first
  such call is remembered in :attr:`Lockout.called`;
* the learner's function is searched for names it holds itself, where patching the module
  cannot reach: its globals (``from cnnlib.ops import conv2d_forward`` in a notebook),
  its closure cells and default arguments, and, in turn, those of the learner's own helper
  functions it refers to. Every such cnnlib function is swapped for the same stand-in.

Other threads are untouched: a stand-in called from any other thread (a training
dashboard running in the background) simply calls the original. Everything is put back
when the lockout ends, also after an exception or a time-out. :class:`LibraryCall` derives
from ``BaseException``, so a learner's ``except Exception`` cannot swallow it, and a call
is remembered even when a bare ``except:`` does.
"""
import functools
import importlib
import threading
import types

__all__ = ["LOCKED_MODULES", "LibraryCall", "Lockout", "library_name"]

# The core the exercises rebuild: ops (conv, pooling, ReLU, linear), layers, losses
# (softmax, cross-entropy), optim (SGD, Adam), model (parameter counts) and train
# (minibatches), and the loop versions of conv and pooling (cnnlib.explore.loops).
# cnnlib.init, cnnlib.gradcheck and cnnlib.data stay usable.
LOCKED_MODULES = ("cnnlib.ops", "cnnlib.layers", "cnnlib.losses", "cnnlib.optim", "cnnlib.model",
                  "cnnlib.train", "cnnlib.explore.loops")

# Dunder methods that do the work (building an object, calling a layer); the rest
# (__repr__, __eq__, ...) stay, so printing a layer is not reported as a library call.
_LOCKED_DUNDERS = ("__init__", "__call__")

# How many functions the search of the learner's names may visit (their helpers, and the
# helpers' helpers): a learner's exercise uses a handful; this only bounds the cost.
_MAX_FUNCTIONS_SEARCHED = 200


class LibraryCall(BaseException):
    """Raised when the learner's code calls into a locked cnnlib module; ``name`` says what."""

    def __init__(self, name):
        super().__init__(f"{name} is not available while a check runs your function")
        self.name = name


def _defined_in_locked_module(obj):
    module = getattr(obj, "__module__", None) or ""
    return any(module == name or module.startswith(name + ".") for name in LOCKED_MODULES)


def _qualified_name(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def library_name(fn):
    """``"cnnlib.ops.conv2d_forward"`` when ``fn`` is (a bound method of, or a partial of) a
    locked cnnlib function or class, else None.

    >>> from cnnlib.losses import SoftmaxCrossEntropy, softmax
    >>> library_name(softmax), library_name(SoftmaxCrossEntropy().forward), library_name(len)
    ('cnnlib.losses.softmax', 'cnnlib.losses.SoftmaxCrossEntropy.forward', None)
    """
    for _ in range(10):              # unwrap bound methods and partials (bounded: no cycles)
        if isinstance(fn, types.MethodType):
            fn = fn.__func__
        elif isinstance(fn, functools.partial):
            fn = fn.func
        else:
            break
    if isinstance(fn, (types.FunctionType, type)) and _defined_in_locked_module(fn):
        return _qualified_name(fn)
    return None


def _code_names(code):
    """Every global or attribute name ``code`` and the functions nested in it refer to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


# ---------------------------------------------------------------------------- stand-ins
# The active lockout (set and cleared under Lockout._lock). Stand-ins are made once per
# process and look it up when called: outside a lockout, or from another thread, they
# call the original.
_current = None


def _make_stand_in(original, name):
    @functools.wraps(original)
    def stand_in(*args, **kwargs):
        lockout = _current
        if lockout is None or threading.get_ident() != lockout.thread:
            return original(*args, **kwargs)
        if lockout.called is None:
            lockout.called = name
        raise LibraryCall(name)
    stand_in.__locked_original__ = original
    return stand_in


def _stand_in_entry(raw, name):
    """The stand-in for one entry of a class's ``__dict__`` (same kind: function, static,
    class method or property), or None to leave the entry alone."""
    if isinstance(raw, types.FunctionType):
        return _make_stand_in(raw, name)
    if isinstance(raw, staticmethod):
        return staticmethod(_make_stand_in(raw.__func__, name))
    if isinstance(raw, classmethod):
        return classmethod(_make_stand_in(raw.__func__, name))
    if isinstance(raw, property):
        def wrap(f):
            return None if f is None else _make_stand_in(f, name)
        return property(wrap(raw.fget), wrap(raw.fset), wrap(raw.fdel), raw.__doc__)
    return None


def _build_table():
    """([(owner, key, original entry, stand-in)], {id(original function): stand-in}) for the locked modules."""
    entries, functions, classes_done = [], {}, set()
    for module_name in LOCKED_MODULES:
        module = importlib.import_module(module_name)
        for key, obj in list(vars(module).items()):
            if isinstance(obj, types.FunctionType) and _defined_in_locked_module(obj):
                if id(obj) not in functions:
                    # The public name: cnnlib.ops.conv2d_forward even if ops keeps it in a submodule.
                    public = obj.__module__.startswith(module_name + ".") and not key.startswith("_")
                    name = f"{module_name}.{key}" if public else _qualified_name(obj)
                    functions[id(obj)] = _make_stand_in(obj, name)
                entries.append((module, key, obj, functions[id(obj)]))
            elif isinstance(obj, type) and _defined_in_locked_module(obj) and id(obj) not in classes_done:
                classes_done.add(id(obj))
                for attr, raw in list(vars(obj).items()):
                    if attr.startswith("__") and attr not in _LOCKED_DUNDERS:
                        continue
                    stand_in = _stand_in_entry(raw, f"{_qualified_name(obj)}.{attr}")
                    if stand_in is not None:
                        entries.append((obj, attr, raw, stand_in))
                        if isinstance(raw, types.FunctionType):
                            functions[id(raw)] = stand_in
    return entries, functions


_table = None


def _stand_ins():
    """The table of :func:`_build_table`, rebuilt when a locked module or class changed since."""
    global _table
    if _table is None or any(vars(owner).get(key) is not raw for owner, key, raw, _ in _table[0]):
        _table = _build_table()
    return _table


class Lockout:
    """Make cnnlib's core unavailable to ``learner_fn`` in this thread, for a ``with`` block.

    Parameters
    ----------
    learner_fn : callable
        The learner's function: its globals, closure and defaults (and those of the
        learner's helper functions it names) are searched for cnnlib functions.

    Attributes
    ----------
    called : str or None
        The first locked name the learner's code called (``"cnnlib.ops.conv2d_forward"``).

    Notes
    -----
    Lockouts do not nest: an inner one (a check run from inside a learner's function)
    leaves the outer one in charge. Lockouts in two threads take turns (a lock), so one
    never saves the other's stand-ins as the originals.
    """

    _lock = threading.RLock()
    _depth = 0

    def __init__(self, learner_fn):
        self.learner_fn = learner_fn
        self.called = None
        self.thread = threading.get_ident()
        self._undo = []             # (restore function, args) in the order they were made
        self._functions = {}        # id(original function) -> stand-in

    def _lock_modules(self):
        entries, self._functions = _stand_ins()
        for owner, key, raw, stand_in in entries:
            self._undo.append((setattr, (owner, key, raw)))
            setattr(owner, key, stand_in)

    def _swap(self, value):
        """The stand-in for ``value`` if it is a locked function or a bound method of one, else None."""
        if isinstance(value, types.FunctionType):
            return self._functions.get(id(value))
        if isinstance(value, types.MethodType) and isinstance(value.__func__, types.FunctionType):
            stand_in = self._functions.get(id(value.__func__))
            return None if stand_in is None else types.MethodType(stand_in, value.__self__)
        return None

    def _lock_learner_namespaces(self):
        """Swap cnnlib functions the learner's code holds by name, closure or default.

        The search follows the learner's own helper functions, up to
        ``_MAX_FUNCTIONS_SEARCHED`` of them, and never into NumPy.
        """
        seen, todo = set(), [self.learner_fn]
        while todo and len(seen) < _MAX_FUNCTIONS_SEARCHED:
            fn = todo.pop()
            while isinstance(fn, (types.MethodType, functools.partial)):
                fn = fn.__func__ if isinstance(fn, types.MethodType) else fn.func
            if (not isinstance(fn, types.FunctionType) or id(fn) in seen or _defined_in_locked_module(fn)
                    or (fn.__module__ or "").split(".")[0] == "numpy"):
                continue
            seen.add(id(fn))
            namespace = fn.__globals__
            for key in _code_names(fn.__code__) & namespace.keys():
                value = namespace[key]
                stand_in = self._swap(value)
                if stand_in is not None:
                    self._undo.append((self._restore_item, (namespace, key, value, stand_in)))
                    namespace[key] = stand_in
                elif isinstance(value, (types.FunctionType, types.MethodType, functools.partial)):
                    todo.append(value)
            for cell in fn.__closure__ or ():
                try:
                    value = cell.cell_contents
                except ValueError:      # an empty cell: a name assigned later in the outer function
                    continue
                stand_in = self._swap(value)
                if stand_in is not None:
                    self._undo.append((self._restore_cell, (cell, value, stand_in)))
                    cell.cell_contents = stand_in
                elif isinstance(value, (types.FunctionType, types.MethodType, functools.partial)):
                    todo.append(value)
            if fn.__defaults__ and any(self._swap(v) is not None for v in fn.__defaults__):
                self._undo.append((setattr, (fn, "__defaults__", fn.__defaults__)))
                fn.__defaults__ = tuple(self._swap(v) or v for v in fn.__defaults__)
            if fn.__kwdefaults__ and any(self._swap(v) is not None for v in fn.__kwdefaults__.values()):
                self._undo.append((setattr, (fn, "__kwdefaults__", dict(fn.__kwdefaults__))))
                fn.__kwdefaults__ = {k: self._swap(v) or v for k, v in fn.__kwdefaults__.items()}

    @staticmethod
    def _restore_item(namespace, key, original, stand_in):
        if namespace.get(key) is stand_in:      # the learner's code may have rebound the name itself
            namespace[key] = original

    @staticmethod
    def _restore_cell(cell, original, stand_in):
        try:
            if cell.cell_contents is stand_in:
                cell.cell_contents = original
        except ValueError:
            pass

    # ------------------------------------------------------------------ the with block
    def __enter__(self):
        global _current
        Lockout._lock.acquire()
        Lockout._depth += 1
        if Lockout._depth > 1:
            return self
        try:
            self._lock_modules()
            self._lock_learner_namespaces()
            _current = self
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _restore(self):
        global _current
        if _current is self:
            _current = None
        while self._undo:
            undo, args = self._undo.pop()
            undo(*args)

    def __exit__(self, *exc):
        try:
            self._restore()
        finally:
            Lockout._depth -= 1
            Lockout._lock.release()
        return False
