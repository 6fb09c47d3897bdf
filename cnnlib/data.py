"""MNIST for the lessons: a bundled offline sample, and the full set, verified.

Contract
--------
``load_mnist(name)`` returns ``(x_train, y_train), (x_test, y_test)`` with images as
uint8 arrays of shape (N, 28, 28) (0 = background, 255 = ink) and labels as int64
arrays of shape (N,) holding the digits 0-9. The arrays are fresh and writable.

- ``"sample"`` (the default) reads ``cnnlib/resources/mnist_sample.npz``: 4,000 training and
  1,000 test images, 400 and 100 of each digit, drawn once (seeded) from MNIST's training
  and test sets respectively (see ``resources/README.md``). Offline, instant,
  and checked against ``SAMPLE_SHA256`` on every load.
- ``"full"`` reads the four standard IDX ``.gz`` files (60,000 + 10,000 images) from a
  directory: the ``data_dir`` argument, else ``$CNNLIB_DATA_DIR``, else the per-user
  cache where each system keeps them (:func:`user_cache_dir`). Missing files
  are downloaded once by :mod:`cnnlib.download` (its contract says how: mirrors, time
  limits, size caps, no half-written files). Every file, downloaded or found, must
  match the SHA-256 of its gunzipped content in ``MNIST_FILES``: we never hand back
  numbers from a corrupt file.

Everything that goes wrong with the data raises ``MNISTError``, whose message names
the file and says what to do. Only numpy and the standard library are imported here;
:mod:`cnnlib.download` is imported when ``load_mnist("full")`` first runs.

Nothing in the data folder is trusted: each file is checked by streaming (magic number,
declared sizes, SHA-256) before it is read whole, with memory bounded whatever it holds.
"""

import difflib
import gzip
import hashlib
import os
import platform
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

__all__ = ["DATA_DIR_ENV", "MNIST_FILES", "MNIST_SIZES", "SAMPLE_PATH", "SAMPLE_SHA256", "MNISTError",
           "arrays_sha256", "load_mnist", "load_sample", "mnist_dir", "parse_idx", "read_idx"]

DATASETS = ("sample", "full")
H = W = 28  # MNIST's image height and width

# Package data (shipped in the wheel and by `pip install .`): found beside this module.
SAMPLE_PATH = Path(__file__).resolve().parent / "resources" / "mnist_sample.npz"
# SHA-256 over the sample's arrays (names, dtypes, shapes, bytes; see arrays_sha256).
# resources/build_sample.py prints it; a rebuild that changes the data must update it.
SAMPLE_SHA256 = "8b61d3b7745faa99e3f99d63a5425c213e3dcf887c7c9b25c8422abcb926c9c1"
SAMPLE_ARRAYS = ("x_train", "y_train", "x_test", "y_test")

# File name -> SHA-256 of its *gunzipped* content. We hash the content, not the .gz:
# the same bytes can be compressed differently (gzip time stamps, compression level).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# File name -> size of its gunzipped content in bytes (16-byte header + 60000*28*28 pixels, ...).
# A file whose header promises more, or a download bigger than this, is refused early.
MNIST_SIZES = {
    "train-images-idx3-ubyte.gz": 47_040_016,
    "train-labels-idx1-ubyte.gz": 60_008,
    "t10k-images-idx3-ubyte.gz": 7_840_016,
    "t10k-labels-idx1-ubyte.gz": 10_008,
}
MNIST_SPLITS = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

DATA_DIR_ENV = "CNNLIB_DATA_DIR"
DEFAULT_MAX_BYTES = 64 << 20  # cap for files not in MNIST_SIZES (bigger than any MNIST file)
GZIP_MAGIC = b"\x1f\x8b"
CHUNK_SIZE = 1 << 16  # 64 KiB: big enough to be quick, small enough for a live progress bar

_REPLACE_ADVICE = ("Replace it with a good copy, or move it out of the folder and load again to "
                   "re-download it.")

IDX_DTYPE_UBYTE = 0x08  # the only IDX element type MNIST uses
IDX_HEADER_DIMS = {1: "labels", 3: "images"}  # magic 0x00000801 and 0x00000803


class MNISTError(RuntimeError):
    """The MNIST data is missing, cannot be downloaded, or is not what it should be."""


# ---------------------------------------------------------------------------- the sample

def arrays_sha256(arrays):
    """SHA-256 over named arrays: each name, dtype, shape and bytes, in name order.

    Parameters
    ----------
    arrays : mapping of str -> ndarray

    Returns
    -------
    str
        64 hex digits. Unlike a hash of the ``.npz`` file, it does not change with the
        zip's time stamps or compression, only with the data.

    Examples
    --------
    >>> arrays_sha256({"y": np.arange(3)}) == arrays_sha256({"y": np.arange(3)})
    True
    >>> arrays_sha256({"y": np.arange(3)}) == arrays_sha256({"y": np.arange(3, dtype=np.int32)})
    False
    """
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_sample(path=None):
    """Load the bundled MNIST sample and check its integrity.

    Parameters
    ----------
    path : str or Path, optional
        The ``.npz`` file; default ``SAMPLE_PATH`` (``cnnlib/resources/mnist_sample.npz``).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 (4000, 28, 28), int64 (4000,), uint8 (1000, 28, 28), int64 (1000,).

    Raises
    ------
    MNISTError
        If the file is missing, unreadable, or its arrays' SHA-256 is not ``SAMPLE_SHA256``.
    """
    path = Path(SAMPLE_PATH if path is None else path)
    fix = (f"Restore it from git (git checkout -- cnnlib/resources/{path.name}), reinstall cnnlib, "
           f"or rebuild it with 'python resources/build_sample.py' from the project root.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in SAMPLE_ARRAYS}
    except FileNotFoundError:
        raise MNISTError(f"The bundled MNIST sample {path} is missing. {fix}") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise MNISTError(f"The bundled MNIST sample {path} is corrupt and cannot be read "
                         f"({type(error).__name__}: {error}). {fix}") from error
    if arrays_sha256(arrays) != SAMPLE_SHA256:
        raise MNISTError(f"The bundled MNIST sample {path} is corrupt: its arrays do not match "
                         f"the expected SHA-256 {SAMPLE_SHA256}. {fix}")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


# ---------------------------------------------------------------------------- IDX files

def _idx_ndim(magic, name):
    """The number of dimensions an IDX file's 4-byte magic number declares (MNIST: unsigned
    bytes, 1 for labels, 3 for images), or an MNISTError naming the file."""
    magic = bytes(magic[:4])
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise MNISTError(f"{name} is not an IDX file: it starts with {magic.hex(' ')}, "
                         f"not with the magic number 00 00 08 01 (labels) or 00 00 08 03 (images).")
    if magic[2] != IDX_DTYPE_UBYTE or magic[3] == 0:
        raise MNISTError(f"{name} has magic number {magic.hex(' ')}: expected "
                         f"00 00 08 01 (labels) or 00 00 08 03 (images) for MNIST's unsigned bytes.")
    return magic[3]


def parse_idx(data, *, name="IDX data"):
    """Parse the bytes of an IDX file of unsigned bytes (MNIST's format).

    Parameters
    ----------
    data : bytes
        A 4-byte magic number ``00 00 08 D`` (D dimensions; 0x08 = unsigned byte),
        then D big-endian uint32 sizes, then the elements, row-major.
    name : str
        What to call the data in error messages (the file name).

    Returns
    -------
    ndarray, uint8, writable, with the D sizes from the header as its shape.

    Raises
    ------
    MNISTError
        On a wrong magic number, or when the data is shorter or longer than the header says.

    Examples
    --------
    >>> header = bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big")  # 1-D, 3 labels
    >>> parse_idx(header + bytes([7, 0, 9]))
    array([7, 0, 9], dtype=uint8)
    >>> parse_idx(header + bytes([7, 0]), name="labels.idx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cnnlib.data.MNISTError: labels.idx is truncated: its header promises 3 bytes of data ...
    """
    ndim = _idx_ndim(data[:4], name)
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise MNISTError(f"{name} is truncated: it ends inside its {header_size}-byte header.")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    got = len(data) - header_size
    if got < expected:
        raise MNISTError(f"{name} is truncated: its header promises {expected} bytes of data "
                         f"(shape {shape}), but it holds {got}.")
    if got > expected:
        raise MNISTError(f"{name} is corrupt: its header promises {expected} bytes of data "
                         f"(shape {shape}), but it holds {got}.")
    # a copy, so the caller gets a writable array that owns its memory
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def _open_content(path):
    """A binary stream of the file's content: gunzipped when it starts with gzip's magic bytes.

    We look at the bytes, not the name, so an IDX file that a browser or a tool already
    gunzipped (still called ``.gz``, or without the ``.gz``) is read as it is.
    """
    raw = open(path, "rb")
    try:
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            return gzip.GzipFile(fileobj=raw, mode="rb"), raw
        raw.seek(0)
        return raw, raw
    except BaseException:
        raw.close()
        raise


def _read_up_to(stream, n):
    """Up to ``n`` bytes from ``stream`` (fewer only at its end)."""
    parts, left = [], n
    while left > 0:
        chunk = stream.read(min(left, CHUNK_SIZE))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _idx_header(stream, name):
    """Read and check an IDX header from ``stream``; return (header bytes, shape)."""
    start = _read_up_to(stream, 4)
    ndim = _idx_ndim(start, name)
    sizes = _read_up_to(stream, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise MNISTError(f"{name} is truncated: it ends inside its {4 + 4 * ndim}-byte header.")
    shape = tuple(int.from_bytes(sizes[4 * i: 4 * i + 4], "big") for i in range(ndim))
    return start + sizes, shape


def _check_idx_stream(path, *, sha256=None, max_bytes=None):
    """Stream the file once: magic, declared sizes, length and SHA-256; return the IDX shape.

    Memory stays at one chunk whatever the file holds (a gzip bomb is cut off as soon as
    it passes the size its header declares, or ``max_bytes``).
    """
    path = Path(path)
    name = str(path)
    try:
        stream, raw = _open_content(path)
        with raw, stream:
            try:
                header, shape = _idx_header(stream, name)
            except MNISTError as not_idx:
                _blame_the_gzip(path, stream is not raw, stream, max_bytes, not_idx)
                raise
            expected = int(np.prod(shape, dtype=np.int64))
            if max_bytes is not None and len(header) + expected > max_bytes:
                raise MNISTError(f"{name} is not an MNIST file: its header promises {expected:,} bytes of data "
                                 f"(shape {shape}), more than the {max_bytes:,} bytes this file has in MNIST.")
            digest = hashlib.sha256(header)
            got = 0
            while got <= expected:          # read at most one byte past what the header declares
                chunk = stream.read(min(CHUNK_SIZE, expected + 1 - got))
                if not chunk:
                    break
                digest.update(chunk)
                got += len(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise MNISTError(f"{path} is not a valid gzip file, or is truncated ({type(error).__name__}: "
                         f"{error}). {_REPLACE_ADVICE}") from error
    except OSError as error:
        raise MNISTError(f"Cannot read {path}: {error}") from error
    if got < expected:
        raise MNISTError(f"{name} is truncated: its header promises {expected} bytes of data "
                         f"(shape {shape}), but it holds {got}.")
    if got > expected:
        raise MNISTError(f"{name} is corrupt: its header promises {expected} bytes of data "
                         f"(shape {shape}), but it holds more.")
    if sha256 is not None and digest.hexdigest() != sha256:
        raise MNISTError(f"{path} is not the expected file: the SHA-256 of its content is "
                         f"{digest.hexdigest()}, expected {sha256}. {_REPLACE_ADVICE}")
    return shape


def _blame_the_gzip(path, gzipped, stream, max_bytes, not_idx):
    """Raise a gzip error instead of ``not_idx`` when the gzip layer is what is broken.

    A corrupt deflate stream can decode into garbage before zlib notices, and a file
    called ``.gz`` that is neither gzip nor IDX is most likely a broken download: in
    both cases "not a valid gzip file" is the helpful message. Returns if neither.
    """
    if gzipped:
        try:
            left = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes   # read on, a chunk at a time
            while left > 0 and (chunk := stream.read(min(CHUNK_SIZE, left))):
                left -= len(chunk)
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise MNISTError(f"{path} is not a valid gzip file, or is truncated ({type(error).__name__}: "
                             f"{error}). {_REPLACE_ADVICE}") from error
    elif path.suffix == ".gz":
        raise MNISTError(f"{path} is not a valid gzip file, or is truncated: it starts with neither gzip's "
                         f"1f 8b nor an IDX magic number ({not_idx}). {_REPLACE_ADVICE}") from not_idx


def read_idx(path, *, sha256=None, max_bytes=None):
    """Read an IDX file (gzip-compressed or not) into an array, after checking it by streaming.

    Parameters
    ----------
    path : str or Path
        Gzipped or plain IDX; we tell them apart by the content, not the name, so an
        already gunzipped copy still called ``.gz`` is read as it is.
    sha256 : str, optional
        If given, the SHA-256 that the (gunzipped) content must have.
    max_bytes : int, optional
        The most content (header included) the file may hold; a header that promises
        more is refused before anything else is read.

    Returns
    -------
    ndarray, uint8, shaped as the IDX header says: (N,) labels or (N, 28, 28) images.

    Raises
    ------
    MNISTError
        If the file is unreadable, not valid gzip, truncated, has a wrong magic number,
        does not match its header, is bigger than ``max_bytes``, or (with ``sha256``) has
        other content than expected. The file itself is left alone: it may be the
        user's own copy.

    Notes
    -----
    Two passes: the first streams the file and checks the magic number, the declared
    sizes, the length and the SHA-256 with one chunk in memory; only then does the
    second read it into an array of the declared shape. A gzip bomb costs time, not memory.
    """
    path = Path(path)
    shape = _check_idx_stream(path, sha256=sha256, max_bytes=max_bytes)
    array = np.empty(shape, dtype=np.uint8)
    try:
        stream, raw = _open_content(path)
        with raw, stream:
            _idx_header(stream, str(path))
            view = memoryview(array).cast("B")
            filled = 0
            while filled < array.size:
                n = stream.readinto(view[filled:filled + (1 << 20)])
                if not n:
                    break
                filled += n
    except (OSError, EOFError, zlib.error) as error:
        raise MNISTError(f"Cannot read {path}: {error}") from error
    if filled != array.size:   # changed between the two passes
        raise MNISTError(f"{path} changed while it was being read; load again.")
    return array


# ---------------------------------------------------------------------------- where the files are

def mnist_dir(data_dir=None):
    """The directory that holds (or will hold) the full MNIST files.

    Parameters
    ----------
    data_dir : str or Path, optional
        Used as given when not None.

    Returns
    -------
    Path
        ``data_dir``, else ``$CNNLIB_DATA_DIR``, else ``user_cache_dir() / "mnist"``.
        Nothing is created.

    Examples
    --------
    >>> mnist_dir("/data/mnist").as_posix()
    '/data/mnist'
    """
    return _resolve_dir(data_dir)[0]


def _resolve_dir(data_dir):
    """(directory, how it was chosen: words for the error messages)."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "given by the data_dir argument"
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser(), f"given by ${DATA_DIR_ENV}"
    return user_cache_dir() / "mnist", "the default per-user cache"


def user_cache_dir(system=None, environ=None, home=None):
    """cnnlib's per-user cache folder, where each system keeps caches (platformdirs' rules).

    Windows: ``%LOCALAPPDATA%\\cnnlib\\Cache``; macOS: ``~/Library/Caches/cnnlib``; elsewhere
    ``$XDG_CACHE_HOME/cnnlib`` (an absolute one: the XDG spec ignores relative paths), else
    ``~/.cache/cnnlib``. ``system`` ("Windows", "Darwin", "Linux"; default: this one),
    ``environ`` and ``home`` are for tests. Nothing is created.
    """
    system = system or platform.system()
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else Path(home)
    if system == "Windows":
        local = environ.get("LOCALAPPDATA")
        return (Path(local) if local else home / "AppData" / "Local") / "cnnlib" / "Cache"
    if system == "Darwin":
        return home / "Library" / "Caches" / "cnnlib"
    cache = environ.get("XDG_CACHE_HOME")
    absolute = cache and PurePosixPath(cache).is_absolute()     # on the systems that use XDG
    return (Path(cache) if absolute else home / ".cache") / "cnnlib"


def _check_not_a_file(directory, chosen_by):
    """A data folder that is an existing file gets a message about the folder, not about mkdir."""
    if directory.exists() and not directory.is_dir():
        hint = (f" (that is one of the MNIST files; its folder is {directory.parent})"
                if directory.name in MNIST_FILES or directory.name + ".gz" in MNIST_FILES else "")
        raise MNISTError(f"{directory} ({chosen_by}) is a file, not a folder{hint}. Point data_dir=... or "
                         f"${DATA_DIR_ENV} at the folder that holds the MNIST files.")


def _local_copy(directory, name):
    """The file for ``name`` in ``directory``: ``name`` itself, or its already gunzipped twin
    (``train-images-idx3-ubyte`` for ``train-images-idx3-ubyte.gz``); None if neither is there."""
    for candidate in (name, name[:-3] if name.endswith(".gz") else None):
        if candidate and (directory / candidate).is_file():
            return directory / candidate
    return None


def _load_full(data_dir, download, progress):
    from cnnlib.download import fetch_mnist   # here, not at the top: cnnlib.download imports this module
    directory = fetch_mnist(data_dir, download=download, progress=progress)
    splits = []
    for split, (images_name, labels_name) in MNIST_SPLITS.items():
        images_path, labels_path = _local_copy(directory, images_name), _local_copy(directory, labels_name)
        images = read_idx(images_path, sha256=MNIST_FILES[images_name], max_bytes=MNIST_SIZES.get(images_name))
        labels = read_idx(labels_path, sha256=MNIST_FILES[labels_name], max_bytes=MNIST_SIZES.get(labels_name))
        if images.ndim != 3 or images.shape[1:] != (H, W):
            raise MNISTError(f"{images_path} should hold {H}x{W} images, "
                             f"but its header gives the shape {images.shape}.")
        if labels.ndim != 1:
            raise MNISTError(f"{labels_path} should hold one label per image, "
                             f"but its header gives the shape {labels.shape}.")
        if len(images) != len(labels):
            raise MNISTError(f"The MNIST {split} files do not match: {images_path.name} holds "
                             f"{len(images)} images but {labels_path.name} holds {len(labels)} labels.")
        if labels.size and labels.max() > 9:
            raise MNISTError(f"{labels_path} holds a label {labels.max()}; "
                             f"digits are 0-9.")
        splits.append((images, labels.astype(np.int64)))
    return tuple(splits)


def load_mnist(name="sample", data_dir=None, download=True, progress=True):
    """Load MNIST as uint8 images and int64 labels.

    Parameters
    ----------
    name : {"sample", "full"}
        ``"sample"``: the bundled 4,000 + 1,000 image sample, offline (the other
        arguments do not apply). ``"full"``: the 60,000 + 10,000 images.
    data_dir : str or Path, optional
        For ``"full"``: the folder with the four IDX ``.gz`` files. Default
        ``$CNNLIB_DATA_DIR``, else the per-user cache (:func:`mnist_dir`).
    download : bool
        For ``"full"``: download missing files (once; they are cached in ``data_dir``).
        False never touches the network.
    progress : bool
        For ``"full"``: show a download progress bar.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        Images uint8 (N, 28, 28), 0-255; labels int64 (N,), 0-9.

    Raises
    ------
    ValueError
        For an unknown ``name``.
    MNISTError
        If the data is missing, cannot be downloaded, or fails its checks.

    Notes
    -----
    The sample's training images come from MNIST's training set and its test images from
    MNIST's test set, so its test images are unseen by a model trained on the sample or on
    the full training set.

    Examples
    --------
    >>> (x_train, y_train), (x_test, y_test) = load_mnist()
    >>> x_train.shape, x_train.dtype, y_train.shape, y_train.dtype
    ((4000, 28, 28), dtype('uint8'), (4000,), dtype('int64'))
    >>> np.bincount(y_test).tolist()
    [100, 100, 100, 100, 100, 100, 100, 100, 100, 100]
    """
    if name == "sample":
        return load_sample()
    if name == "full":
        return _load_full(data_dir, download, progress)
    guess = difflib.get_close_matches(str(name), DATASETS, n=1)
    hint = f"Did you mean {guess[0]!r}? " if guess else ""
    raise ValueError(f"Unknown MNIST dataset {name!r}. {hint}"
                     f"Choose one of {', '.join(map(repr, DATASETS))}.")
