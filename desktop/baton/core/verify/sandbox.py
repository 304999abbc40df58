"""Running untrusted Python (a model's answer) in a bubblewrap sandbox, never in Baton's own process.

One run is one ``bwrap`` process: new user, network, PID, IPC, UTS, cgroup and mount namespaces; the only
writable place is a fresh, size-capped tmpfs at ``/tmp`` (the program's working folder, holding ``main.py``;
the sandbox's own root and ``/dev`` are remounted read-only once set up);
``/usr`` (and the ``/lib*``, ``/bin`` links or folders) is mounted read-only, nothing of the home folders,
``/work``, ``/root`` or ``/etc`` (only ``/etc/ld.so.cache``) is visible; the environment is cleared; the
program runs as uid/gid 65534 (nobody). When Baton runs as root, ``bwrap`` itself is started as uid 65534 too,
because the kernel does not enforce the process limit for root's processes (a fork bomb would not stop).

Limits are set by a few lines of Python run *inside* the sandbox before it executes the answer (CPU seconds,
address space, file size, processes, no core files, open files, an alarm at the wall-clock limit); Baton keeps
its own wall-clock limit outside and kills the whole ``bwrap`` process group when it passes, which tears the
PID namespace down with everything in it. Output is read back from unnamed temporary files, capped.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from baton.errors import BatonError

NOBODY = 65534
OUTPUT_CAP_BYTES = 64 * 1024
INSTALL_HINT = "bubblewrap (bwrap) is not installed: apt install bubblewrap"
_GRACE_S = 2.0

# Runs inside the sandbox as ``python3 -I -S -c _LIMITER cpu_s as_bytes fsize_bytes nproc alarm_s python``:
# sets the limits on itself, then becomes the interpreter that runs main.py (limits survive execv).
_LIMITER = """\
import os, resource as r, signal, sys
c, m, f, p, a, py = sys.argv[1:7]
r.setrlimit(r.RLIMIT_CPU, (int(c), int(c) + 1))
for k, v in ((r.RLIMIT_AS, m), (r.RLIMIT_FSIZE, f), (r.RLIMIT_NPROC, p), (r.RLIMIT_CORE, 0), (r.RLIMIT_NOFILE, 256)):
    r.setrlimit(k, (int(v), int(v)))
signal.alarm(int(a))
os.execv(py, [py, "-I", "-S", "main.py"])
"""


class SandboxError(BatonError):
    """The sandbox itself failed to start a run (bwrap refused its set-up): not the program's fault."""


@dataclass(frozen=True)
class Limits:
    """What one run may use. ``cpu_s``: CPU seconds (SIGXCPU, then SIGKILL a second later); ``wall_s``:
    wall-clock seconds before the whole sandbox is killed; ``memory_mb``: address space (MiB), so allocation
    fails with MemoryError; ``file_mb``: largest file the program may write (MiB; the writable tmpfs holds
    four times that, at least 32 MiB); ``nproc``: processes and threads. Raises ValueError when one is not
    positive."""

    cpu_s: float = 5
    wall_s: float = 10
    memory_mb: int = 512
    file_mb: int = 16
    nproc: int = 64

    def __post_init__(self) -> None:
        for name in ("cpu_s", "wall_s", "memory_mb", "file_mb", "nproc"):
            if not getattr(self, name) > 0:
                raise ValueError(f"sandbox limit {name} must be positive, not {getattr(self, name)!r}")

    @property
    def workspace_bytes(self) -> int:
        """Size of the writable tmpfs, bytes."""
        return max(4 * self.file_mb, 32) * 1024 * 1024


@dataclass(frozen=True)
class RunResult:
    """What one sandboxed run did. ``exit_code``: the program's exit status (128 + N when signal N ended it),
    None when Baton killed the sandbox at the wall-clock limit; ``stdout``/``stderr``: decoded text, at most
    64 KiB each (head and tail kept, a ``[... N bytes cut ...]`` line between); ``timed_out``: the wall-clock
    limit ended it; ``killed``: which limit stopped it, best effort (``"wall_time"``, ``"cpu_time"``,
    ``"memory"``, ``"file_size"``, ``"processes"``, ``"signal N"``), None when it ended on its own;
    ``duration_s``: wall-clock seconds from start to end."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    killed: str | None
    duration_s: float

    @property
    def ok(self) -> bool:
        """True when the program exited 0 on its own."""
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True)
class SandboxUnavailable:
    """No sandbox can be had on this machine; ``reason`` is one line saying why (and what to install)."""

    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Sandbox:
    """A working bubblewrap set-up, as :func:`find_sandbox` probed it. ``bwrap``: path of the binary;
    ``python``: the interpreter run inside (its path as seen inside); ``binds``: extra host folders mounted
    read-only at the same path (the interpreter's prefix when it is not under /usr); ``options``: optional
    bwrap flags this version supports. Holds no state between runs: safe to share between threads."""

    bwrap: str
    python: str
    binds: tuple[str, ...] = ()
    options: frozenset[str] = field(default_factory=frozenset)

    def command(self, limits: Limits, source_fd: int) -> list[str]:
        """The bwrap command line for one run of the program readable on ``source_fd`` (a file descriptor that
        is passed to bwrap and copied to /tmp/main.py inside)."""
        cmd = [self.bwrap, "--unshare-all", "--unshare-user"]
        if "--disable-userns" in self.options:
            cmd.append("--disable-userns")
        cmd += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--uid", str(NOBODY), "--gid",
                str(NOBODY), "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            p = Path(top)
            if p.is_symlink():
                cmd += ["--symlink", os.readlink(p), top]
            elif p.is_dir():
                cmd += ["--ro-bind", top, top]
        for b in self.binds:
            cmd += ["--ro-bind", b, b]
        cmd += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache", "--proc", "/proc", "--dev", "/dev"]
        if "--perms" in self.options:
            cmd += ["--perms", "01777"]
        if "--size" in self.options:
            cmd += ["--size", str(limits.workspace_bytes)]
        cmd += ["--tmpfs", "/tmp", "--file", str(source_fd), "/tmp/main.py",
                "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp", "--clearenv",
                "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8",
                "--", self.python, "-I", "-S", "-c", _LIMITER, str(math.ceil(limits.cpu_s)),
                str(limits.memory_mb * 1024 * 1024), str(limits.file_mb * 1024 * 1024), str(limits.nproc),
                str(math.ceil(limits.wall_s) + 1), self.python]
        return cmd

    def run_python(self, source: str, limits: Limits = Limits()) -> RunResult:
        """Run ``source`` as ``/tmp/main.py`` with ``python3 -I -S`` in a fresh sandbox under ``limits``;
        blocks until it ends, at most about ``limits.wall_s`` + 2 s. Raises SandboxError when bwrap itself
        fails to set the sandbox up (its own ``bwrap: ...`` message), OSError when it cannot be started."""
        with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            src.write(source.encode("utf-8", "surrogatepass"))
            src.flush()
            src.seek(0)
            kwargs: dict = {}
            if os.geteuid() == 0:  # root's processes escape RLIMIT_NPROC: run bwrap as nobody
                kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
            start = time.monotonic()
            proc = subprocess.Popen(self.command(limits, src.fileno()), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, pass_fds=(src.fileno(),), start_new_session=True, cwd="/",
                                    env={"PATH": "/usr/bin:/bin"}, **kwargs)
            timed_out = False
            try:
                code: int | None = proc.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                try:
                    proc.wait(timeout=_GRACE_S)
                except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
                    pass
                code = None
            duration = time.monotonic() - start
            stdout, stderr = _read_capped(out), _read_capped(err)
        if not timed_out and code == 1 and stderr.startswith("bwrap: ") and not stdout:
            raise SandboxError(f"the sandbox could not start: {stderr.splitlines()[0]}")
        if code == 128 + signal.SIGALRM:
            timed_out = True
        return RunResult(code, stdout, stderr, timed_out, _killed_by(code, timed_out, stderr), duration)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read_capped(f, cap: int = OUTPUT_CAP_BYTES) -> str:
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if size <= cap:
        data = f.read()
    else:
        head = f.read(cap // 2)
        f.seek(size - cap // 2)
        data = head + f"\n[... {size - cap} bytes cut ...]\n".encode() + f.read()
    return data.decode("utf-8", "replace")


def _killed_by(code: int | None, timed_out: bool, stderr: str) -> str | None:
    """Which limit ended the run, from the exit status and the last lines of stderr (best effort)."""
    if timed_out:
        return "wall_time"
    if code is None or code == 0:
        return None
    if code == 128 + signal.SIGXCPU or code == 128 + signal.SIGKILL:
        return "cpu_time"
    if code == 128 + signal.SIGXFSZ:
        return "file_size"
    tail = stderr[-2000:]
    if "MemoryError" in tail:
        return "memory"
    if "File too large" in tail:
        return "file_size"
    if "Resource temporarily unavailable" in tail or "can't start new thread" in tail:
        return "processes"
    if code > 128:
        return f"signal {code - 128}"
    return None


def _python() -> tuple[str, tuple[str, ...]] | None:
    """The interpreter to run inside and the folders it needs bound: /usr/bin/python3 when there is one, else
    the base interpreter of the running Python with its prefix (read-only)."""
    if os.access("/usr/bin/python3", os.X_OK):
        return "/usr/bin/python3", ()
    base = Path(getattr(sys, "_base_executable", sys.executable) or "").resolve()
    prefix = Path(sys.base_prefix).resolve()
    if not base.is_file() or prefix not in base.parents:
        return None
    if Path("/usr") in prefix.parents or prefix == Path("/usr"):
        return str(base), ()
    return str(base), (str(prefix),)


def _options(bwrap: str) -> frozenset[str]:
    """Optional flags this bwrap knows (from its --help)."""
    try:
        text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(f for f in ("--disable-userns", "--size", "--perms") if f in text)


def find_sandbox() -> Sandbox | SandboxUnavailable:
    """Probe this machine once for a working sandbox: find ``bwrap`` on PATH and an interpreter, then really run
    a trivial program in it and check it ran as uid 65534. Returns a :class:`Sandbox` (the caller keeps it;
    nothing is cached here) or a :class:`SandboxUnavailable` with a one-line reason. Never raises."""
    if not sys.platform.startswith("linux"):
        return SandboxUnavailable(f"running answers needs Linux namespaces (bubblewrap); this is {sys.platform}")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxUnavailable(INSTALL_HINT)
    found = _python()
    if found is None:
        return SandboxUnavailable("no Python interpreter to run answers with (looked for /usr/bin/python3)")
    sandbox = Sandbox(bwrap, found[0], found[1], _options(bwrap))
    try:
        r = sandbox.run_python("import os, sys\nprint(os.getuid(), os.getgid(), sys.version_info[0])\n",
                               Limits(cpu_s=5, wall_s=15))
    except SandboxError as e:
        hint = " (user namespaces may be disabled: sysctl kernel.unprivileged_userns_clone=1)"
        return SandboxUnavailable(f"bubblewrap cannot set up a sandbox here: {e}{hint}")
    except OSError as e:
        return SandboxUnavailable(f"bubblewrap could not be started: {e}")
    if r.stdout.split() != [str(NOBODY), str(NOBODY), "3"]:
        last = (r.stderr.strip().splitlines() or [f"exit status {r.exit_code}"])[-1]
        return SandboxUnavailable(f"the sandbox probe did not run as expected: {last}")
    return sandbox
