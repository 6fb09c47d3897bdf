"""The model file: what ``Sequential.save`` writes and ``Sequential.load`` reads back.

May import: NumPy, the standard library and :mod:`cnnlib.layers`. It never imports
:mod:`cnnlib.model`: :func:`load` is handed the class to build and the layer types
(``Sequential.load`` passes its own, Residual included), so the two modules do not import
each other.

The contract
------------
* A model file is a ``.npz`` (a zip of ``.npy`` arrays) with exactly these entries:

  - ``architecture.npy``: one string, the JSON text
    ``{"format": "cnnlib.Sequential", "version": FORMAT_VERSION, "layers": [...]}``
    where each layer is ``{"type": "Conv2d", "config": {"in_channels": 1, ...}}``, its
    class name and the arguments of its constructor (``layer.config()``): integers, and
    numbers for BatchNorm2d's ``eps`` and ``momentum`` and Dropout's ``p``. A ``Residual``'s
    config counts its body's and shortcut's layers, which follow it in the list (so the
    JSON never nests deeper);
  - ``param/<i>.<name>.npy``: one per parameter, ``<i>`` the layer's index and ``<name>``
    its key in ``layer.params`` (``param/0.w.npy``; ``param/3.body.0.w.npy`` inside a
    Residual), float32 or float64, all the same;
  - ``buffer/<i>.<name>.npy``: the same for ``layer.buffers`` (BatchNorm2d's running
    statistics). Files from before buffers existed hold none, and load as they did.

  Nothing is pickled, so loading a file never runs code.
* :func:`save` writes the file atomically: to a temporary file beside ``path``, flushed
  to disk, then renamed into place, so a failed or interrupted save never leaves half a
  model. ``overwrite=False`` refuses to replace an existing file, also one that appears
  while we write. A new file gets the mode ``open`` would give it (0666 minus the umask);
  a replaced file keeps its own.
* :func:`load` trusts nothing in the file. It refuses (``ValueError``, naming the
  problem) a file bigger than ``MAX_FILE_BYTES``; an architecture longer than
  ``MAX_ARCHITECTURE_CHARS`` characters, nested deeper than ``MAX_JSON_DEPTH``, with
  duplicate keys or NaN/Infinity, of another format or version, with more than
  ``MAX_LAYERS`` layers (those inside Residuals counted), a layer type not in
  ``LAYER_CONFIG_LIMITS`` or a config that is not exactly its arguments within their
  ranges (or that its constructor refuses), a Residual whose layers run past the list, or
  more than ``MAX_PARAMETERS`` parameters and statistics in all; unknown, duplicate or
  missing entries; an array whose dtype, shape or declared size in the zip directory and
  ``.npy`` header differs from what the architecture says; and NaN or infinite weights or
  a negative running variance. All
  but the last are checked *before* any weight is read, so a crafted file cannot make
  it allocate more than the model it describes.
"""
import errno
import json
import os
import stat
import tempfile
import zipfile
import zlib

import numpy as np
import numpy.lib.format as npy_format

from cnnlib.layers import LAYER_TYPES

__all__ = ["FORMAT_VERSION", "MAX_LAYERS", "MAX_PARAMETERS", "MAX_ARCHITECTURE_CHARS", "MAX_JSON_DEPTH",
           "PARAMETER_DTYPES", "LAYER_CONFIG_LIMITS", "MAX_FILE_BYTES", "save", "load"]

FORMAT_VERSION = 1

# What Sequential.load accepts. A file outside these limits is refused before anything
# big is allocated; the limits sit far above every net of the lessons (LeNet: 10 layers,
# 37,610 parameters) and far below what would exhaust a laptop's memory.
MAX_LAYERS = 64
MAX_PARAMETERS = 10_000_000          # 40 MB in float32, 80 MB in float64
MAX_ARCHITECTURE_CHARS = 65_536      # the JSON text; LeNet's is about 800 characters
MAX_JSON_DEPTH = 4                   # {"layers": [{"config": {...}}]}: four levels
PARAMETER_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Each layer type's constructor arguments as saved: name -> (smallest, largest), integers
# unless the bounds are floats.
LAYER_CONFIG_LIMITS = {
    "Conv2d": {"in_channels": (1, 1024), "out_channels": (1, 1024), "kernel_size": (1, 32),
               "stride": (1, 32), "padding": (0, 32)},
    "MaxPool2d": {"kernel_size": (1, 32), "stride": (1, 32)},
    "AvgPool2d": {"kernel_size": (1, 32), "stride": (1, 32)},
    "ReLU": {},
    "Flatten": {},
    "Linear": {"in_features": (1, 100_000), "out_features": (1, 100_000)},
    "BatchNorm2d": {"num_features": (1, 1024), "eps": (0.0, 1.0), "momentum": (0.0, 1.0)},
    "Dropout": {"p": (0.0, 1.0)},
}
RESIDUAL_CONFIG_LIMITS = {"body": (1, MAX_LAYERS - 1), "shortcut": (0, MAX_LAYERS - 2)}
MAX_ARRAYS_PER_LAYER = 4             # BatchNorm2d: gamma, beta, running_mean, running_var
# The largest file such a model makes: its weights in float64, plus room for the zip's
# and the .npy headers and the architecture. Bigger files are refused unopened.
MAX_FILE_BYTES = 8 * MAX_PARAMETERS + (1 << 24)
ARCHITECTURE_ENTRY = "architecture.npy"
PARAM_PREFIX = "param/"
BUFFER_PREFIX = "buffer/"


def save(model, path, *, overwrite=True):
    """Write ``model``'s architecture and parameters to ``path`` (.npz), atomically.

    Parameters
    ----------
    model : cnnlib.model.Sequential
    path : str or path-like
    overwrite : bool, default True
        False refuses to replace a file that is already at ``path`` (``FileExistsError``),
        also one that appears while we write.

    Raises
    ------
    OSError
        If the file cannot be written (a missing folder, a full disk, no permission).
        ``path`` is then untouched and the model is unchanged, so it can be saved elsewhere.
    """
    path = os.fspath(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, "a file is already there (pass overwrite=True to replace it)",
                              path)
    spec = {"format": "cnnlib.Sequential", "version": FORMAT_VERSION, "layers": _flatten(model.layers)}
    arrays = {"architecture": np.array(json.dumps(spec))}
    arrays.update({f"{PARAM_PREFIX}{name}": p for name, p in model.named_parameters()})
    arrays.update({f"{BUFFER_PREFIX}{name}": b for name, b in model.named_buffers()})
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)   # replacing a file: keep its mode
    except OSError:
        mode = _new_file_mode()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".cnnlib-", suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())     # a full disk shows up here, before the rename
        os.chmod(tmp, mode)          # mkstemp makes the file private (0600)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _flatten(layers):
    """The architecture's list: each layer, a Residual followed by its body's and shortcut's."""
    specs = []
    for layer in layers:
        specs.append({"type": type(layer).__name__, "config": layer.config()})
        for part in (getattr(layer, "body", None), getattr(layer, "shortcut", None)):
            specs += _flatten(part.layers) if part is not None else []
    return specs


def load(path, model_class, layer_types=LAYER_TYPES):
    """Check the whole file at ``path``, then build ``model_class(*layers)`` with its parameters.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` written by :func:`save`.
    model_class : type
        The model to build from the layers, ``Sequential`` (or a subclass).
    layer_types : dict
        Class by name, for the types the file names (``cnnlib.model.LAYER_TYPES``).

    Returns
    -------
    model_class
        With the stored parameters, float32 or float64 as saved.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a zip, or breaks any rule of this module's contract.
    """
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise ValueError(f"{path!r} holds {size:,} bytes, more than a cnnlib model file of at most "
                             f"{MAX_PARAMETERS:,} parameters can ({MAX_FILE_BYTES:,})")
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no model file at {path!r}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path!r} is not a readable cnnlib model file ({e}); "
                         "save it again with model.save(path)") from None
    with zf:
        try:
            return _load_checked(zf, path, model_class, layer_types)
        except (OSError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as e:
            # NotImplementedError: an unknown compression; RuntimeError: an encrypted entry
            raise ValueError(f"{path!r} is not a readable cnnlib model file ({e}); "
                             "save it again with model.save(path)") from None


def _load_checked(zf, path, model_class, layer_types):
    """:func:`load`'s checks and reads, on the open zip ``zf``."""
    infos = zf.infolist()
    names = [info.filename for info in infos]
    if len(names) > 1 + MAX_ARRAYS_PER_LAYER * MAX_LAYERS:
        raise ValueError(f"{path!r} does not describe a cnnlib model: it holds {len(names)} entries, "
                         f"more than a model of at most {MAX_LAYERS} layers can have")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{path!r} does not describe a cnnlib model: the entries {twice} appear twice")
    entries = dict(zip(names, infos))
    if ARCHITECTURE_ENTRY not in entries:
        raise ValueError(f"{path!r} does not describe a cnnlib model: it holds no architecture "
                         f"(entries: {sorted(names)[:5]})")
    spec = _parse_architecture(_read_architecture(zf, entries[ARCHITECTURE_ENTRY], path), path)
    model = model_class(*_build(spec["layers"], layer_types, path))
    expected = {f"{prefix}{name}.npy": name for prefix, pairs in ((PARAM_PREFIX, model.named_parameters()),
                                                                  (BUFFER_PREFIX, model.named_buffers()))
                for name, _ in pairs}
    unknown = sorted(set(entries) - set(expected) - {ARCHITECTURE_ENTRY})
    missing = sorted(name for entry, name in expected.items() if entry not in entries)
    buffers_only = all(entry.startswith(BUFFER_PREFIX) for entry in expected if entry not in entries)
    if unknown:
        raise ValueError(f"{path!r}: unknown entries {unknown[:5]}; a cnnlib model file holds only "
                         f"'architecture', one 'param/<layer>.<name>' per parameter and one "
                         f"'buffer/<layer>.<name>' per running statistic")
    if missing:
        what = "running statistics" if buffers_only else "parameters"
        raise ValueError(f"{path!r}: {what} {missing} of the architecture are missing")

    # Every header first: name, dtype, shape and declared size, before any data is read.
    by_name = {}
    dtypes = set()
    for i, layer in enumerate(model.layers):
        for prefix, store in ((PARAM_PREFIX, layer.params), (BUFFER_PREFIX, layer.buffers)):
            for pname in store:
                entry = f"{prefix}{i}.{pname}.npy"
                dtype = _check_param_header(zf, entries[entry], f"{i}.{pname}", layer, store[pname].shape, path)
                dtypes.add(dtype)
                by_name[entry] = (layer, prefix, pname)
    if len(dtypes) > 1:
        raise ValueError(f"{path!r}: parameters mix the dtypes {sorted(d.name for d in dtypes)}; "
                         "a model file holds float32 or float64 weights, not both")
    for entry, (layer, prefix, pname) in by_name.items():
        with zf.open(entries[entry]) as f:
            value = npy_format.read_array(f, allow_pickle=False)
            if f.read(1):     # reading to the end also checks the zip's CRC
                raise ValueError(f"{path!r}: {entry} holds more bytes than its header says")
        value = value.astype(value.dtype.newbyteorder("="), copy=False)   # native byte order
        name = entry[len(prefix):-4]
        if not np.isfinite(value).all():
            raise ValueError(f"{path!r}: {'parameter' if prefix == PARAM_PREFIX else 'statistic'} {name} "
                             "contains NaN or infinity")
        if prefix == BUFFER_PREFIX:
            if pname.endswith("running_var") and (value < 0).any():
                raise ValueError(f"{path!r}: running variance {name} has negative values")
            layer.buffers[pname] = value
            continue
        layer.params[pname] = value
        layer.grads[pname] = np.zeros_like(value)
    return model


def _build(specs, layer_types, path):
    """The layers of the checked architecture ``specs``, Residuals taking the layers that follow them."""
    position = 0

    def take(residual=None):
        nonlocal position
        if position == len(specs):
            raise ValueError(f"{path!r} does not describe a cnnlib model: layer {residual} (Residual) "
                             "counts more body and shortcut layers than follow it")
        i, kind, config = position, specs[position]["type"], dict(specs[position]["config"])
        position += 1
        if kind == "Residual":
            for part in ("body", "shortcut"):
                config[part] = [take(i) for _ in range(config[part])] or None
        try:
            return layer_types[kind](**config)
        except (KeyError, ValueError) as e:
            raise ValueError(f"{path!r}: layer {i} ({kind}) cannot be built: {e}") from None

    layers = []
    while position < len(specs):
        layers.append(take())
    return layers


def _new_file_mode():
    """The mode ``open()`` gives a new file: 0666 minus the process's umask."""
    try:
        with open("/proc/self/status") as status:      # Linux: read it without changing it
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)        # elsewhere the only way to read the umask is to set it
    os.umask(mask)
    return 0o666 & ~mask


def _link_no_clobber(tmp, path):
    """Put ``tmp`` at ``path`` unless something is there already (atomically where links work)."""
    try:
        os.link(tmp, path)        # fails with FileExistsError if path appeared meanwhile
    except FileExistsError:
        raise
    except OSError:               # a file system without hard links
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "a file is already there", path) from None
        os.replace(tmp, path)


def _read_architecture(zf, info, path):
    """The architecture's JSON text, read only after its header shows a short string."""
    limit = 4 * MAX_ARCHITECTURE_CHARS + 4096     # UTF-32 text plus a .npy header
    if info.file_size > limit:
        raise ValueError(f"{path!r}: the architecture declares {info.file_size:,} bytes; a cnnlib "
                         f"architecture is at most {MAX_ARCHITECTURE_CHARS:,} characters")
    with zf.open(info) as f:
        shape, _, dtype = _read_npy_header(f, "architecture", path)
        if shape != () or dtype.kind != "U":
            raise ValueError(f"{path!r}: the architecture should be one string, got an array of "
                             f"dtype {dtype} and shape {shape}")
        if dtype.itemsize // 4 > MAX_ARCHITECTURE_CHARS:
            raise ValueError(f"{path!r}: the architecture has {dtype.itemsize // 4:,} characters, more "
                             f"than the {MAX_ARCHITECTURE_CHARS:,} allowed")
    with zf.open(info) as f:
        return str(npy_format.read_array(f, allow_pickle=False))


def _read_npy_header(f, what, path):
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            return npy_format.read_array_header_1_0(f)
        if version == (2, 0):
            return npy_format.read_array_header_2_0(f)
    except ValueError as e:
        raise ValueError(f"{path!r}: {what} is not a valid .npy array ({e})") from None
    raise ValueError(f"{path!r}: {what} uses .npy format version {version}, which cnnlib does not write")


def _check_param_header(zf, info, name, layer, shape, path):
    """Check one parameter's dtype, shape and declared size from its headers; return its dtype."""
    with zf.open(info) as f:
        got_shape, _, dtype = _read_npy_header(f, f"parameter {name}", path)
        header_size = f.tell()
    if dtype not in PARAMETER_DTYPES and dtype.newbyteorder("=") not in PARAMETER_DTYPES:
        raise ValueError(f"{path!r}: parameter {name} of {layer!r} has dtype {dtype}; cnnlib model files "
                         f"hold float32 or float64 weights only (convert with model.astype(np.float32))")
    if tuple(got_shape) != tuple(shape):
        raise ValueError(f"{path!r}: parameter {name} of {layer!r} has shape {tuple(got_shape)}, "
                         f"expected {tuple(shape)}")
    want = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if info.file_size != want:
        raise ValueError(f"{path!r}: parameter {name} declares {info.file_size:,} bytes, but its shape "
                         f"{tuple(shape)} and dtype {dtype} need {want:,}")
    return dtype.newbyteorder("=")


def _json_depth(text, limit):
    """How deeply ``text`` nests brackets (strings skipped); stops counting past ``limit``."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a key appears twice among {keys}")
    return dict(pairs)


def _refuse_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _parse_architecture(text, path):
    """Check the architecture's JSON against the limits; return it as a dict."""
    def bad(problem):
        return ValueError(f"{path!r} does not describe a cnnlib model: {problem}")

    if _json_depth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise bad(f"the architecture is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        spec = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        raise bad(f"the architecture is not valid JSON ({e})") from None
    if not isinstance(spec, dict):
        raise bad(f"the architecture should be a JSON object, got {type(spec).__name__} {text[:40]!r}")
    if set(spec) != {"format", "version", "layers"}:
        raise bad(f"the architecture's keys are {sorted(spec)}, expected ['format', 'layers', 'version']")
    if spec["format"] != "cnnlib.Sequential":
        raise bad(f"format {spec['format']!r}, expected 'cnnlib.Sequential'")
    if spec["version"] != FORMAT_VERSION or isinstance(spec["version"], bool):
        raise bad(f"format version {spec['version']!r}, this cnnlib reads {FORMAT_VERSION}")
    layers = spec["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        what = f"{len(layers)} layers" if isinstance(layers, list) else f"a {type(layers).__name__}"
        raise bad(f"'layers' should be a list of 1 to {MAX_LAYERS} layers, got {what}")
    n_params = 0
    for i, entry in enumerate(layers):
        if not isinstance(entry, dict) or set(entry) != {"type", "config"}:
            raise bad(f"layer {i} should be an object with keys 'type' and 'config', got {str(entry)[:60]}")
        kind, config = entry["type"], entry["config"]
        known = {**LAYER_CONFIG_LIMITS, "Residual": RESIDUAL_CONFIG_LIMITS}
        if not isinstance(kind, str) or kind not in known:
            raise bad(f"layer {i} has type {str(kind)[:40]!r}; known types: {', '.join(known)}")
        limits = known[kind]
        if not isinstance(config, dict) or set(config) != set(limits):
            keys = sorted(config) if isinstance(config, dict) else type(config).__name__
            raise bad(f"layer {i} ({kind}) has config {keys}, expected {sorted(limits)}")
        for key, (low, high) in limits.items():
            value = config[key]
            number = (int, float) if isinstance(low, float) else int
            if isinstance(value, bool) or not isinstance(value, number):
                kind_of = "a number" if number is not int else "an integer"
                raise bad(f"layer {i} ({kind}): {key} should be {kind_of}, got {str(value)[:40]!r}")
            if not low <= value <= high:
                raise bad(f"layer {i} ({kind}): {key} = {value} is outside the allowed range {low}..{high}")
        n_params += _count_parameters(kind, config) + (2 * config["num_features"] if kind == "BatchNorm2d" else 0)
    if n_params > MAX_PARAMETERS:
        raise bad(f"the architecture has {n_params:,} parameters, more than the {MAX_PARAMETERS:,} "
                  "a cnnlib model file may hold")
    return spec


def _count_parameters(kind, config):
    """Parameters a layer of this type and config holds, without building it."""
    if kind == "Conv2d":
        c = config
        return c["out_channels"] * c["in_channels"] * c["kernel_size"] ** 2 + c["out_channels"]
    if kind == "Linear":
        return config["in_features"] * config["out_features"] + config["out_features"]
    if kind == "BatchNorm2d":
        return 2 * config["num_features"]
    return 0
