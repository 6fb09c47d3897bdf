"""Downloading the full MNIST: mirrors, time limits, size caps, and no half-written files.

May import: the standard library, :mod:`cnnlib.data` (the file names, their sizes
and SHA-256, ``MNISTError``) and :mod:`cnnlib.train`'s progress bar (tqdm is imported when
a download starts, and is optional). :mod:`cnnlib.data` imports this module only when
``load_mnist("full")`` runs, so importing it never loads the network code.

The contract
------------
* :func:`fetch_mnist` makes sure the four MNIST files are in the data directory
  (:func:`cnnlib.data.mnist_dir`), downloading each missing one from ``MNIST_MIRRORS``
  in turn; a mirror that failed for one file is tried last for the next ones. With
  ``download=False`` it never touches the network.
* :func:`download_file` fetches one file from a list of URLs and keeps it only if the
  SHA-256 of its content (gunzipped, for a ``.gz``) is the expected one. Each URL gets
  a stall timeout (``DOWNLOAD_TIMEOUT`` seconds without a byte), an overall deadline per
  file (``$CNNLIB_DOWNLOAD_TIMEOUT``, else ``DOWNLOAD_DEADLINE``) and a size cap (the
  file's size in :data:`cnnlib.data.MNIST_SIZES`, else ``DEFAULT_MAX_BYTES``, plus what
  gzip may add); a server that sends or announces more, or sends less than it announced,
  is cut off and the next URL is tried.
* Nothing is left behind by a failure: the file is written to a ``.NAME.PID.XXXX.part``
  file beside its destination and renamed into place only once verified; the part file
  is deleted on every failure, Ctrl-C included, and one left by a killed process is
  deleted by the next call (:func:`remove_stale_parts`). Folders are created only for a
  file that arrives, and removed again otherwise.
* Every failure raises :class:`cnnlib.data.MNISTError`, listing each URL tried and why
  it failed, and saying what to do without a network.
"""
import contextlib
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
import zlib
from http.client import HTTPException
from pathlib import Path

from cnnlib import data
from cnnlib.train import progress_bar, write_line

__all__ = ["DOWNLOAD_TIMEOUT_ENV", "MNIST_MIRRORS", "download_file", "download_timeout", "fetch_mnist",
           "remove_stale_parts"]

# Public mirrors of the original files, tried in order (the original site rate-limits).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

DOWNLOAD_TIMEOUT_ENV = "CNNLIB_DOWNLOAD_TIMEOUT"
DOWNLOAD_TIMEOUT = 30.0  # stall timeout: seconds without a byte before we give up on a mirror
# Overall deadline per file and mirror: 15 minutes fetch the 9.9 MB training images at
# 11 KB/s (90 kbit/s), slower than a school network shared by a class should ever be.
DOWNLOAD_DEADLINE = 900.0
WAIT_TICK = 0.5  # seconds between updates of the "waiting for the server" note
GZIP_SLACK = 64 << 10  # bytes a .gz may exceed its content by (headers, stored blocks)
STALE_PART_SECONDS = 3600.0  # a .part file without a process id is stale after an hour
USER_AGENT = "cnnlib-mnist/0.1 (python urllib)"


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
        raise data.MNISTError(f"${DOWNLOAD_TIMEOUT_ENV} is {text!r}; set it to a number of seconds per file, "
                              f"such as {DOWNLOAD_DEADLINE:g}, or unset it.")
    return value


def _content_sha256(path, *, gunzip, max_bytes=None):
    """SHA-256 of the file's content, gunzipped on the fly if ``gunzip``; stops past ``max_bytes``."""
    digest = hashlib.sha256()
    opener = gzip.open if gunzip else open
    size = 0
    with opener(path, "rb") as stream:
        while chunk := stream.read(data.CHUNK_SIZE):
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
                    chunk = response.read1(data.CHUNK_SIZE)   # what has arrived, without waiting for more
                    hand_over(("data", chunk))
                    if not chunk:
                        return
        except BaseException as error:  # handed to the caller's thread, which raises it
            # urllib's own timeout (each read, and the connection) is the same stall as ours:
            # whichever fires first, the user reads the same sentence.
            if isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError):
                error = _Stalled(f"timed out: no data for {stall:g} s")
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
        from ``cnnlib.data.MNIST_SIZES`` for MNIST's file names, else
        ``cnnlib.data.DEFAULT_MAX_BYTES``. The download itself may exceed it by 1% and
        64 KiB (what gzip can add); a server that announces or sends more is cut off at once.
    progress : bool
        Show a progress bar (none if tqdm is not installed), a note while a server
        keeps us waiting, and a line when we move on to the next URL.

    Returns
    -------
    Path
        ``dest``, now holding the verified file.

    Raises
    ------
    cnnlib.data.MNISTError
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
    content_cap = data.MNIST_SIZES.get(dest.name, data.DEFAULT_MAX_BYTES) if max_bytes is None else int(max_bytes)
    download_cap = content_cap + content_cap // 100 + GZIP_SLACK   # gzip can grow incompressible data a little
    try:
        created = _make_dirs(dest.parent)
    except OSError as error:
        raise data.MNISTError(f"Cannot create the directory {dest.parent} for {dest.name} ({error}). "
                              f"Choose a writable folder with data_dir=... or ${data.DATA_DIR_ENV}.") from error
    remove_stale_parts(dest.parent, dest.name)
    failures, failed_urls = [], []
    try:
        for n, url in enumerate(urls):
            try:
                fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.{os.getpid()}.",
                                                suffix=".part")
            except OSError as error:
                raise data.MNISTError(f"Cannot write into {dest.parent} ({error}). Choose a writable "
                                      f"folder with data_dir=... or ${data.DATA_DIR_ENV}.") from error
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
    raise data.MNISTError(f"Could not download {dest.name} into {dest.parent}. Tried:\n  {tried}\n"
                          f"Without network access, put the file there yourself, or point data_dir=... "
                          f"or ${data.DATA_DIR_ENV} at a folder that holds it.")


class _WrongContent(ValueError):
    """A download that arrived whole but is not the file we want."""


def fetch_mnist(data_dir=None, *, download=True, progress=True, mirrors=None, files=None,
                timeout=DOWNLOAD_TIMEOUT, deadline=None):
    """Make sure the MNIST files are in the data directory; download the missing ones.

    Parameters
    ----------
    data_dir : str or Path, optional
        See :func:`cnnlib.data.mnist_dir`.
    download : bool
        If False, never touch the network: missing files are an error.
    progress : bool
        Show a progress bar while downloading, and a line when a mirror fails.
    mirrors : sequence of str, optional
        Base URLs, each followed by the file name; default ``MNIST_MIRRORS``. A mirror
        that fails for one file is tried last for the next ones.
    files : mapping of str -> str, optional
        File name -> SHA-256 of its gunzipped content; default ``cnnlib.data.MNIST_FILES``.
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
    cnnlib.data.MNISTError
        If the directory is a file, files are missing and ``download`` is False, or the
        download fails. A folder created for a download that failed is removed again.
    """
    mirrors = list(MNIST_MIRRORS if mirrors is None else mirrors)
    files = data.MNIST_FILES if files is None else files
    directory, chosen_by = data._resolve_dir(data_dir)
    data._check_not_a_file(directory, chosen_by)
    for name in files:            # part files a killed download left behind
        remove_stale_parts(directory, name)
    missing = [name for name in files if data._local_copy(directory, name) is None]
    needed = f"MNIST needs all of {', '.join(files)} in {directory} ({chosen_by})."
    if missing and not download:
        what = "No MNIST file" if len(missing) == len(files) else f"{', '.join(missing)}: not"
        raise data.MNISTError(
            f"{what} found in {directory} ({chosen_by}), and download=False. "
            f"Put {', '.join(files)} there, or point load_mnist(data_dir=...) or the "
            f"{data.DATA_DIR_ENV} environment variable at a folder that holds them, or allow the "
            f"download with download=True.")
    for name in missing:
        try:
            _, failed = _download([base.rstrip("/") + "/" + name for base in mirrors], directory / name,
                                  files[name], timeout=timeout, deadline=deadline, max_bytes=None,
                                  progress=progress)
        except data.MNISTError as error:
            raise data.MNISTError(f"{error}\n{needed}") from error
        failed_bases = {url[: -len(name)] for url in failed}
        mirrors = ([m for m in mirrors if m.rstrip("/") + "/" not in failed_bases]
                   + [m for m in mirrors if m.rstrip("/") + "/" in failed_bases])
    return directory
