"""Writing files without ever losing the user's data: the one place that decides how vidreid writes.

* Atomic, fsynced writes (`atomic_path`, `atomic_write_text`, `atomic_write_bytes`): the data goes to a temporary
  file in the destination folder (`.tmp-<8 random characters><real name>`), is fsynced, then `os.replace`d over the
  real name and the folder is fsynced, so after a crash or a power loss the name holds either the old or the whole new
  content. A failed write (no space, permission ...) deletes the temp file, leaves the old file as it was, and raises
  `OutputError` naming the path.
* The no-clobber rule (`check_output_file`, `check_writable_folder`): a command never writes over a path it did not
  create in this run (an input such as a checkpoint or a config, a finished run, another program's file) unless the
  user passed --overwrite/--force (or --resume for a run); an input is never an output, even with --overwrite.
  They also check, before the work starts, that the output's folder can be created and written.
* `RunLock`: one writer per folder; a second process is refused with the first one's process id. The lock is an
  flock on `<folder>/.vidreid.lock`, released by the kernel when its process dies (after a SIGKILL the file may
  stay, unlocked: the next run takes it); a clean exit removes the file.
* `clean_stale_temp_files` / `clean_stale_temp_folders`: the temp files and folders a killed run left behind, removed
  by the next run over the same path (while it holds the lock).
"""
from __future__ import annotations

import errno
import glob
import os
import re
import shutil
import tempfile
from contextlib import contextmanager

from ..errors import OutputError

TEMP_PREFIX = ".tmp-"           # atomic_path's temp files: TEMP_PREFIX + 8 random characters (tempfile) + real name
LOCK_NAME = ".vidreid.lock"     # RunLock's file inside the locked folder
_UMASK = os.umask(0o022)        # read once (os.umask can only be read by setting it) and put back at once
os.umask(_UMASK)

# errno -> the words a user reads in the one-line error
_ERRNO_WORDS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "file name too long",
}


# how libraries word an I/O failure they do not raise as OSError: safetensors ("IoError ... No space left on device",
# "StorageFull"), torch.save's zip writer on a full disk ("unexpected pos N vs M", "file write failed")
_IO_ERROR_TEXTS = ("No space left", "StorageFull", "IoError", "unexpected pos", "write failed")
_FULL_BELOW = 1 << 20                   # free bytes under which a failed write is blamed on a full disk


def _disk_full(folder: str) -> bool:
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < _FULL_BELOW


def os_error_words(e: BaseException) -> str:
    """A short description of an OSError (or a library error wrapping one, e.g. safetensors' 'No space left')."""
    if isinstance(e, OSError) and e.errno in _ERRNO_WORDS:
        return _ERRNO_WORDS[e.errno]
    text = str(e)
    if "No space left" in text or "StorageFull" in text:
        return _ERRNO_WORDS[errno.ENOSPC]
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    return (text.splitlines() or [type(e).__name__])[0]


def os_error_message(e: OSError) -> str:
    """One line for an OSError that reached the CLI: the path(s) it names and the problem."""
    paths = " -> ".join(_output_name(str(p)) for p in (e.filename, e.filename2) if p)
    return f"{paths}: {os_error_words(e)}" if paths else os_error_words(e)


def fsync_path(path: str) -> None:
    """fsync a file or a folder (a folder: makes a rename in it durable); silently skipped where unsupported."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # e.g. a directory on a platform or filesystem that cannot fsync one
        pass
    finally:
        os.close(fd)


def _make_folder(folder: str, path: str) -> None:
    """Create `folder` (and its parents) for writing `path`; OutputError naming the problem, e.g. the file that
    stands where a folder of the path should be."""
    probe = os.path.abspath(folder)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:   # the nearest existing ancestor
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise OutputError(f"cannot write {path}: {probe} is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot write {path}: cannot create folder {e.filename or folder} "
                          f"({os_error_words(e)})") from None


@contextmanager
def atomic_path(path: str):
    """Yield a temporary path in path's folder; on success fsync it and rename it over `path`, on any failure delete
    it and leave `path` untouched. OS errors (and library errors caused by one, e.g. a full disk) become one
    OutputError naming `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    _make_folder(folder, path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=os.path.basename(path), dir=folder)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {os_error_words(e)}") from None
    os.close(fd)
    try:
        yield tmp
        # mkstemp makes 0600 files, and some writers (safetensors' save_file) replace the temp file with one of
        # their own, 0600 too: an output gets what any new file gets
        os.chmod(tmp, 0o666 & ~_UMASK)
        fsync_path(tmp)       # data on disk before the rename makes it visible
        os.replace(tmp, path)
        fsync_path(folder)    # and the rename itself
    except OutputError:
        raise
    except Exception as e:
        full = _disk_full(folder)          # measured now, while the partial temp file still takes its space
        if isinstance(e, OSError) or full or any(t in str(e) for t in _IO_ERROR_TEXTS):
            words = _ERRNO_WORDS[errno.ENOSPC] if full else os_error_words(e)
            old = " (the previous file is unchanged)" if os.path.exists(path) else ""
            raise OutputError(f"cannot write {path}: {words}{old}") from None
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def user_cache_dir(*parts: str) -> str:
    """$XDG_CACHE_HOME/vidreid/<parts> (~/.cache when XDG_CACHE_HOME is unset): what vidreid can compute again
    (model listings, epoch-0 checkpoints, detections), never a user's data."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "vidreid", *parts)


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def raise_naming_output(e: OSError, out: str) -> None:
    """Re-raise `e` if it names its file (os_error_message names our temp's folder), else an OutputError naming the
    output being written: a write that names no file (a full disk under a library's own file object, an error
    re-raised from a worker process) would otherwise say "no space left" and nothing more."""
    if e.filename:
        raise e
    raise OutputError(f"cannot write {out}: {os_error_words(e)} (nothing of it was kept)") from None


def check_replaceable_folder(out: str, force: bool, marker: str, what: str) -> str:
    """OutputError unless `out` is free, or (with `force`) an earlier output of the same kind (holding `marker`):
    atomic_folder's rule, also for callers that check it before hours of work. Returns the absolute path."""
    out = os.path.abspath(out)
    if os.path.lexists(out):
        if not force:
            raise OutputError(f"{out}: already exists; pass --force to replace it, or choose another --out")
        if not os.path.isdir(out) or not os.path.isfile(os.path.join(out, marker)):
            raise OutputError(f"{out}: exists and is not a {what} output (no {marker}); --force only replaces those")
    return out


@contextmanager
def atomic_folder(out: str, force: bool, marker: str, what: str):
    """Yield a new temporary folder next to `out`; on success it replaces `out` in one rename, on failure it is
    deleted. `out` must not exist, or with `force` be an earlier output of the same kind (holding `marker`), so a
    folder the user made is never deleted. `what` names the kind in messages."""
    out = check_replaceable_folder(out, force, marker, what)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=os.path.dirname(out))
    os.chmod(tmp, 0o777 & ~_UMASK)        # mkdtemp makes 0700 folders; an output gets what any new folder gets
    try:
        yield tmp
        if os.path.lexists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
        fsync_path(os.path.dirname(out))
    except OSError as e:
        raise_naming_output(e, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def clean_stale_temp_files(folder: str, names: str) -> list[str]:
    """Delete the temp files atomic_path left in `folder` when its process was killed mid-write: only names
    `.tmp-<8 tempfile characters><real name>` whose real name matches the regex `names` (so another program's
    files are never touched). Call it only where no other process is writing to `folder` (hold its RunLock).
    Returns the deleted paths."""
    pattern = re.compile(re.escape(TEMP_PREFIX) + r"[a-z0-9_]{8}(?:" + names + r")\Z")
    removed = []
    if not os.path.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if pattern.match(name) and os.path.isfile(path):
            try:
                os.unlink(path)
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed


def temp_folder_prefixes(out: str) -> tuple[str, ...]:
    """Prefixes of the sibling folders a dataset writer builds `out` in (`.NAME.tmp-*`) and moves an old one
    aside to (`.NAME.old-*`)."""
    name = os.path.basename(os.path.abspath(out))
    return f".{name}.tmp-", f".{name}.old-"


def clean_stale_temp_folders(out: str) -> list[str]:
    """Delete the `.NAME.tmp-*` / `.NAME.old-*` folders beside `out` that a killed writer of `out` left (call it
    while holding the lock of `out`'s writer). Returns the deleted paths."""
    parent = os.path.dirname(os.path.abspath(out))
    removed = []
    for prefix in temp_folder_prefixes(out):
        for path in sorted(glob.glob(os.path.join(glob.escape(parent), glob.escape(prefix) + "*"))):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


# ---------------------------------------------------------------------------------------------- the no-clobber rule
def same_file(a: str, b: str) -> bool:
    """True when the two paths name the same file (also through links / relative spellings)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _output_name(path: str) -> str:
    """A path as the user knows it: our temporary files and folders (TEMP_PREFIX...) are named by their folder,
    the output's place, not by a random name the user never chose."""
    parts = os.path.abspath(path).split(os.sep)
    for i, part in enumerate(parts):
        if part.startswith(TEMP_PREFIX):
            return f"folder {os.sep.join(parts[:i]) or os.sep} (while writing {part})"
    return path


def check_writable_folder(folder: str, what: str) -> None:
    """Create `folder` if needed and prove it is writable (a temp file is created and removed), before the work
    starts. OutputError naming `what` (e.g. "--out runs/x.onnx") and the problem otherwise."""
    folder = os.path.abspath(folder or ".")
    _make_folder(folder, what)
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + "probe", dir=folder)
    except OSError as e:
        raise OutputError(f"cannot write {what}: folder {folder}: {os_error_words(e)}") from None
    os.close(fd)
    os.unlink(tmp)


def check_output_file(path: str, option: str, overwrite: bool = False, inputs: dict | None = None,
                      flag: str = "--overwrite", hint: str | None = None) -> str:
    """Apply the no-clobber rule to an output file before any work: refuse `path` when it is one of `inputs`
    ({description: path}; even with --overwrite), a folder, or an existing file (unless `overwrite`); check its
    folder is writable. Returns the absolute path."""
    if not path:
        raise OutputError(f"{option}: empty path")
    for desc, src in (inputs or {}).items():
        if src and os.path.exists(path) and same_file(path, src):
            raise OutputError(f"{option} {path} is the {desc} this command reads: refusing to write over it "
                              f"(choose another path)")
    if os.path.isdir(path):
        raise OutputError(f"{option} {path} is a folder; give a file path")
    if os.path.lexists(path) and not overwrite:
        raise OutputError(f"{option} {path} already exists; not replacing a file this command did not write "
                          f"({hint or f'pass {flag} to replace it, or choose another path'})")
    check_writable_folder(os.path.dirname(os.path.abspath(path)), f"{option} {path}")
    return os.path.abspath(path)


# ---------------------------------------------------------------------------------------------- one writer per folder
class RunLock:
    """Exclusive lock on a folder for one process: `with RunLock(folder, what): ...`. A second process asking for
    the same folder gets OutputError naming the holder's process id. flock-based: released when the holder exits,
    however it exits."""

    def __init__(self, folder: str, what: str = "folder", name: str = LOCK_NAME):
        self.folder, self.what = os.path.abspath(folder), what
        self.path = os.path.join(self.folder, name)
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        import fcntl
        _make_folder(self.folder, f"{self.what} {self.folder}")
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise OutputError(f"cannot lock {self.what} {self.folder}: {os_error_words(e)}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                try:
                    holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                finally:
                    os.close(fd)
                raise OutputError(f"{self.what} {self.folder} is in use by another vidreid process (pid {holder}, "
                                  f"lock file {self.path}); wait for it to finish or choose another folder") from None
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                break
            os.close(fd)       # the holder removed the file between our open and our flock: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file, then unlock (removing first: a process that opened the old file sees, after its
        flock, that the name no longer refers to it, and retries on a fresh file)."""
        if self._fd is not None:
            import fcntl
            try:
                os.unlink(self.path)
            except OSError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
