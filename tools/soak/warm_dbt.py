"""dbt for the soak without its start-up: a server imports dbt once and forks a child per call.

Each dbt invocation spends about 4 s before it reads the project: Python starting, then importing
dbt, its DuckDB adapter and the lake plugin. A simulated day invokes dbt two or three times, so
the soak points dagster-dbt's ``dbt_executable`` at a small client instead. The client hands its
arguments, working directory, environment and standard streams to the server; the server forks,
and the child runs dbt's own command line on them, as the ``dbt`` executable would. The child's
exit status becomes the client's. dbt's work and its output are unchanged, so dagster-dbt sees
the same events and artifacts.

This module imports only the standard library at its top: the client runs it without the
virtualenv's site-packages, to start quickly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import NoReturn

# Imported by the server before it forks: what every dbt run of this project loads.
PRELOADED = (
    "dbt.cli.main",
    "dbt.adapters.duckdb",
    "dbt.parser.manifest",
    "dbt.task.build",
    # Loads Babel's locale data as it imports: a fifth of a second.
    "dbt_common.clients.agate_helper",
    "orchestration.lib.lake.dbt_duckdb_plugin",
    # What the plugin opens the lake with.
    "pyiceberg.catalog.sql",
    "sqlalchemy.dialects.sqlite",
    "pyiceberg.io.pyarrow",
)
_STANDARD_STREAMS = (0, 1, 2)
_REPOSITORY = Path(__file__).resolve().parents[2]


class WarmDbt:
    """The server process, its socket, and the client executable (written in ``workdir``)."""

    def __init__(self, workdir: Path) -> None:
        # A short path: a Unix socket's path holds at most 107 bytes, a workdir may be longer.
        self.socket_path = Path(tempfile.mkdtemp(prefix="guardduty-dbt-")) / "socket"
        self.executable = workdir / "dbt"
        self.process: subprocess.Popen | None = None
        self.executable.write_text(
            f"#!{sys.executable} -S\n"
            "import sys\n"
            f"sys.path.insert(0, {str(_REPOSITORY)!r})\n"
            "from tools.soak.warm_dbt import run_client\n"
            f"run_client({str(self.socket_path)!r})\n"
        )
        self.executable.chmod(0o755)

    def start(self, timeout: float = 60.0) -> None:
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 (fixed argv)
            [sys.executable, "-m", "tools.soak.warm_dbt", str(self.socket_path)],
            cwd=_REPOSITORY,
        )
        deadline = time.monotonic() + timeout
        while not self.socket_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the warm dbt server did not start")
            time.sleep(0.1)

    def children_cpu_seconds(self) -> float:
        """CPU time of the dbt runs that have finished (Linux: the server's /proc stat)."""
        if self.process is None:
            return 0.0
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return 0.0
        # cutime and cstime, fields 16 and 17, counted after the command name in parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)


def serve(socket_path: str) -> None:
    import importlib

    # A process that ignores SIGTERM (a test runner may) passes that on to the processes it
    # starts; this server must stop when asked.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for module in PRELOADED:
        importlib.import_module(module)
    _warm_up(Path(socket_path).parent)
    # Reaped as they exit, so their CPU time counts as the server's children's.
    signal.signal(signal.SIGCHLD, _reap_children)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staged = f"{socket_path}.{os.getpid()}"
    listener.bind(staged)
    listener.listen()
    os.replace(staged, socket_path)
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            _run_dbt(connection)
        connection.close()


def _warm_up(scratch: Path) -> None:
    """Parse the project twice in the server (the second time from the first's partial-parse
    state) and compile its macros, so every child inherits what dbt builds on its first command
    and then keeps for the life of the process: the JSON schemas that validate flags, project and
    profile, mashumaro's (de)serialisers of the manifest's classes, and dbt's cache of compiled
    macro templates (keyed by the macro's text). The parses write only in ``scratch``.
    """
    from dbt.cli.main import dbtRunner
    from dbt_common.clients.jinja import template_cache

    from orchestration.lib.environment import DBT_PROJECT_DIR

    # Without the static parser: its Rust library holds locks that a forked child would inherit
    # (a child's parse then waited forever).
    arguments = ["parse", "--quiet", "--no-static-parser"]
    arguments += ["--target-path", str(scratch), "--log-path", str(scratch)]
    arguments += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    for _ in range(2):
        parsed = dbtRunner().invoke(arguments)
        if not parsed.success:
            print(
                f"warm dbt: the warm-up parse failed ({parsed.exception}); each dbt run starts "
                "cold",
                file=sys.stderr,
            )
            return
    for macro in parsed.result.macros.values():
        template_cache.get_node_template(macro)


def _reap_children(*_: object) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _run_dbt(connection: socket.socket) -> NoReturn:
    """In the forked child: become the client's dbt process, then exit with dbt's status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _, streams, _, _ = socket.recv_fds(connection, 1, len(_STANDARD_STREAMS))
    request = json.loads(_read_all(connection))
    for received, standard in zip(streams, _STANDARD_STREAMS, strict=True):
        os.dup2(received, standard)
        os.close(received)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["environment"])
    sys.argv = ["dbt", *request["arguments"]]
    status = 1
    try:
        from dbt.cli.main import cli

        cli.main(args=request["arguments"], prog_name="dbt")
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    connection.sendall(bytes([status & 0xFF]))
    # A normal exit, so dbt's multiprocessing resources are released as after the real dbt.
    sys.exit(status)


def run_client(socket_path: str) -> None:
    """The ``dbt`` executable the soak gives dagster-dbt."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(socket_path)
    socket.send_fds(connection, [b"\0"], list(_STANDARD_STREAMS))
    request = {"arguments": sys.argv[1:], "cwd": os.getcwd(), "environment": dict(os.environ)}
    connection.sendall(json.dumps(request).encode())
    connection.shutdown(socket.SHUT_WR)
    status = connection.recv(1)
    sys.exit(status[0] if status else 1)


def _read_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


if __name__ == "__main__":
    serve(sys.argv[1])
