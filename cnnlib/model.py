"""A model is a list of layers run in order: :class:`Sequential`, and the two nets we train.

The contract
------------
* ``model.forward(x)`` runs every layer; ``model.backward(dout)`` runs them in reverse
  and fills every layer's ``grads``.
* ``model.save(path)`` writes one ``.npz`` with the architecture (as JSON text) and the
  parameters, atomically; ``Sequential.load(path)`` rebuilds the same model. Nothing is
  pickled, so loading a file never runs code.
* ``load`` trusts nothing in the file: it checks the architecture against the limits
  below and every array's name, dtype, shape and size in the zip directory and the
  ``.npy`` headers *before* it reads any weights, so a crafted file cannot make it
  allocate more than the model it describes (at most ``MAX_PARAMETERS`` numbers).
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

from cnnlib.init import as_rng
from cnnlib.layers import LAYER_TYPES, Conv2d, Flatten, Layer, Linear, MaxPool2d, ReLU

__all__ = ["Sequential", "build_seed_net", "build_lenet"]

FORMAT_VERSION = 1

# What Sequential.load accepts. A file outside these limits is refused before anything
# big is allocated; the limits sit far above every net of the lessons (LeNet: 10 layers,
# 37,610 parameters) and far below what would exhaust a laptop's memory.
MAX_LAYERS = 64
MAX_PARAMETERS = 10_000_000          # 40 MB in float32, 80 MB in float64
MAX_ARCHITECTURE_CHARS = 65_536      # the JSON text; LeNet's is about 800 characters
MAX_JSON_DEPTH = 4                   # {"layers": [{"config": {...}}]}: four levels
PARAMETER_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Each layer type's constructor arguments as saved: name -> (smallest, largest) integer.
LAYER_CONFIG_LIMITS = {
    "Conv2d": {"in_channels": (1, 1024), "out_channels": (1, 1024), "kernel_size": (1, 32),
               "stride": (1, 32), "padding": (0, 32)},
    "MaxPool2d": {"kernel_size": (1, 32), "stride": (1, 32)},
    "AvgPool2d": {"kernel_size": (1, 32), "stride": (1, 32)},
    "ReLU": {},
    "Flatten": {},
    "Linear": {"in_features": (1, 100_000), "out_features": (1, 100_000)},
}
# The largest file such a model makes: its weights in float64, plus room for the zip's
# and the .npy headers and the architecture. Bigger files are refused unopened.
MAX_FILE_BYTES = 8 * MAX_PARAMETERS + (1 << 24)
ARCHITECTURE_ENTRY = "architecture.npy"
PARAM_PREFIX = "param/"


class Sequential:
    """Layers applied one after another.

    >>> from cnnlib.layers import Linear, ReLU
    >>> model = Sequential(Linear(4, 3, rng=0), ReLU(), Linear(3, 2, rng=1))
    >>> model(np.ones((5, 4))).shape
    (5, 2)
    >>> model.n_params
    23
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is {layer!r}, not a cnnlib layer")
        self.layers = list(layers)

    def __repr__(self):
        inner = "".join(f"\n  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout, *, input_grad=True):
        """Backpropagate ``dout`` through every layer; returns dL/dx (None if not asked for).

        ``input_grad=False`` skips the gradient of the input image, which training never
        uses, so the first convolution saves a whole col2im.
        """
        for i in range(len(self.layers) - 1, -1, -1):
            dout = self.layers[i].backward(dout, input_grad=input_grad or i > 0)
            if dout is None:
                break
        return dout

    def predict(self, x, batch_size=256):
        """Logits for ``x`` in batches of ``batch_size`` (keeps memory flat for big x)."""
        x = np.asarray(x)
        if x.shape[0] == 0:
            raise ValueError("Sequential.predict: got an empty batch")
        return np.concatenate([self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    @property
    def n_params(self):
        return int(sum(p.size for layer in self.layers for p in layer.params.values()))

    def named_parameters(self):
        """``("0.w", array)`` pairs, in layer order."""
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers) for name, p in layer.params.items()]

    def astype(self, dtype):
        """Convert every parameter to ``dtype`` (we train in float32); returns self."""
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def summary(self, input_shape):
        """A table of each layer's output shape and parameter count.

        >>> print(build_seed_net(rng=0).summary((1, 28, 28)))
        layer                                  output shape    params
        Conv2d(1→8, k=3, stride=1, padding=0)  (8, 26, 26)         80
        MaxPool2d(k=2, stride=2)               (8, 13, 13)          0
        Flatten()                              (1352,)              0
        Linear(1352→10)                        (10,)            13530
        total                                                   13610
        """
        shape, table = tuple(input_shape), []
        for layer in self.layers:
            shape = tuple(layer.output_shape(shape))
            table.append((repr(layer), str(shape), sum(p.size for p in layer.params.values())))
        width = max(len(name) for name, _, _ in table) + 2
        rows = [f"{'layer':<{width}}{'output shape':<14}{'params':>8}"]
        rows += [f"{name:<{width}}{shape:<14}{n:>8}" for name, shape, n in table]
        rows.append(f"{'total':<{width + 14}}{self.n_params:>8}")
        return "\n".join(rows)

    # ------------------------------------------------------------------ save / load
    def save(self, path, *, overwrite=True):
        """Write the architecture and parameters to ``path`` (.npz), atomically.

        Parameters
        ----------
        path : str or path-like
        overwrite : bool, default True
            False refuses to replace a file that is already at ``path`` (``FileExistsError``),
            also one that appears while we write.

        Raises
        ------
        OSError
            If the file cannot be written (a missing folder, a full disk, no permission).
            ``path`` is then untouched and the model is unchanged, so it can be saved elsewhere.

        Notes
        -----
        The file appears only once it is complete: we write a temporary file beside it,
        flush it to disk, and rename it into place, so an interrupted or failed save never
        leaves half a model. A new file gets the usual mode (0666 minus the umask, as
        ``open`` gives it); a replaced file keeps its own mode.
        """
        path = os.fspath(path)
        if not overwrite and os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "a file is already there (pass overwrite=True to replace it)",
                                  path)
        spec = {"format": "cnnlib.Sequential", "version": FORMAT_VERSION,
                "layers": [{"type": type(layer).__name__, "config": layer.config()} for layer in self.layers]}
        arrays = {"architecture": np.array(json.dumps(spec))}
        arrays.update({f"param/{name}": p for name, p in self.named_parameters()})
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

    @classmethod
    def load(cls, path):
        """Rebuild a model saved by :meth:`save`, after checking the whole file; never unpickles.

        Parameters
        ----------
        path : str or path-like
            A ``.npz`` written by :meth:`save`.

        Returns
        -------
        Sequential
            With the stored parameters, float32 or float64 as saved.

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        ValueError
            If the file is not a zip, or does not describe a model within these limits
            (checked before any weight is read):

            * the architecture: a JSON object ``{"format", "version", "layers"}`` of at
              most ``MAX_ARCHITECTURE_CHARS`` characters and ``MAX_JSON_DEPTH`` levels;
              1 to ``MAX_LAYERS`` layers, each ``{"type", "config"}`` with a type of
              ``LAYER_CONFIG_LIMITS`` and exactly its integer arguments, each within its
              stated range; at most ``MAX_PARAMETERS`` parameters in all;
            * the arrays: exactly one ``param/<layer>.<name>`` per parameter of that
              architecture (no unknown or missing entries), each float32 or float64 (the
              same for all), of the layer's shape, with a declared size that matches;
            * the values: no NaN or infinity.
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
                return cls._load_checked(zf, path)
            except (OSError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as e:
                # NotImplementedError: an unknown compression; RuntimeError: an encrypted entry
                raise ValueError(f"{path!r} is not a readable cnnlib model file ({e}); "
                                 "save it again with model.save(path)") from None

    @classmethod
    def _load_checked(cls, zf, path):
        infos = zf.infolist()
        names = [info.filename for info in infos]
        if len(names) > 1 + 2 * MAX_LAYERS:
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
        layers = [LAYER_TYPES[entry["type"]](**entry["config"]) for entry in spec["layers"]]
        model = cls(*layers)
        expected = {f"{PARAM_PREFIX}{name}.npy": (name, p.shape) for name, p in model.named_parameters()}
        unknown = sorted(set(entries) - set(expected) - {ARCHITECTURE_ENTRY})
        missing = sorted(name for entry, (name, _) in expected.items() if entry not in entries)
        if unknown:
            raise ValueError(f"{path!r}: unknown entries {unknown[:5]}; a cnnlib model file holds only "
                             f"'architecture' and one 'param/<layer>.<name>' per parameter")
        if missing:
            raise ValueError(f"{path!r}: parameters {missing} of the architecture are missing")

        # Every header first: name, dtype, shape and declared size, before any data is read.
        by_name = {}
        dtypes = set()
        for i, layer in enumerate(model.layers):
            for pname in layer.params:
                entry = f"{PARAM_PREFIX}{i}.{pname}.npy"
                dtype = _check_param_header(zf, entries[entry], f"{i}.{pname}", layer,
                                            layer.params[pname].shape, path)
                dtypes.add(dtype)
                by_name[entry] = (layer, pname)
        if len(dtypes) > 1:
            raise ValueError(f"{path!r}: parameters mix the dtypes {sorted(d.name for d in dtypes)}; "
                             "a model file holds float32 or float64 weights, not both")
        for entry, (layer, pname) in by_name.items():
            with zf.open(entries[entry]) as f:
                value = npy_format.read_array(f, allow_pickle=False)
                if f.read(1):     # reading to the end also checks the zip's CRC
                    raise ValueError(f"{path!r}: {entry} holds more bytes than its header says")
            value = value.astype(value.dtype.newbyteorder("="), copy=False)   # native byte order
            if not np.isfinite(value).all():
                raise ValueError(f"{path!r}: parameter {entry[len(PARAM_PREFIX):-4]} contains NaN or infinity")
            layer.params[pname] = value
            layer.grads[pname] = np.zeros_like(value)
        return model


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
        if not isinstance(kind, str) or kind not in LAYER_CONFIG_LIMITS:
            raise bad(f"layer {i} has type {str(kind)[:40]!r}; known types: {', '.join(LAYER_CONFIG_LIMITS)}")
        limits = LAYER_CONFIG_LIMITS[kind]
        if not isinstance(config, dict) or set(config) != set(limits):
            keys = sorted(config) if isinstance(config, dict) else type(config).__name__
            raise bad(f"layer {i} ({kind}) has config {keys}, expected {sorted(limits)}")
        for key, (low, high) in limits.items():
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad(f"layer {i} ({kind}): {key} should be an integer, got {str(value)[:40]!r}")
            if not low <= value <= high:
                raise bad(f"layer {i} ({kind}): {key} = {value} is outside the allowed range {low}..{high}")
        n_params += _count_parameters(kind, config)
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
    return 0


def build_seed_net(rng=None):
    """The classic tutorial net: Conv2d(1,8,3) MaxPool2d(2) Flatten Linear(1352,10).

    It has no ReLU: the max-pool is its only non-linearity.
    """
    rng = as_rng(rng)
    return Sequential(Conv2d(1, 8, 3, rng=rng), MaxPool2d(2), Flatten(), Linear(13 * 13 * 8, 10, rng=rng))


def build_lenet(rng=None):
    """The LeNet-style net we train to 99% on MNIST.

    Conv2d(1,8,5) ReLU MaxPool2d(2) Conv2d(8,16,5) ReLU MaxPool2d(2) Flatten
    Linear(256,128) ReLU Linear(128,10); input (N, 1, 28, 28).
    """
    rng = as_rng(rng)
    return Sequential(
        Conv2d(1, 8, 5, rng=rng), ReLU(), MaxPool2d(2),       # 28 -> 24 -> 12
        Conv2d(8, 16, 5, rng=rng), ReLU(), MaxPool2d(2),      # 12 -> 8 -> 4
        Flatten(),                                            # 16*4*4 = 256
        Linear(256, 128, rng=rng), ReLU(),
        Linear(128, 10, rng=rng),
    )
