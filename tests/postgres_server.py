"""A throwaway PostgreSQL server for tests (tests/test_deploy_postgres.py).

`initdb` a cluster in a fresh directory under the system temp dir, start it on a free port of
127.0.0.1 (trust authentication, its unix socket inside that directory, no fsync), create a
database, and stop and remove it all afterwards. PostgreSQL refuses to run as root: as root, the
cluster belongs to `nobody` and every PostgreSQL command runs as that user (the directory is made
traversable for it; pytest's own tmp_path under /tmp/pytest-of-root is not).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Debian/Ubuntu's postgresql-NN packages; PG_BIN overrides, then whatever `initdb` is on PATH.
PG_BIN_CANDIDATES = [f"/usr/lib/postgresql/{v}/bin" for v in (17, 16, 15, 14)]
UNPRIVILEGED_USER = "nobody"


def find_pg_bin() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None."""
    candidates = [os.environ.get("PG_BIN", "")] + PG_BIN_CANDIDATES
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if candidate and all((Path(candidate) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    return None


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path  # the temp dir: data/, the socket and the server log
    port: int = 0
    user: str = "postgres"  # the database superuser (not the OS user)
    db_name: str = "dagster"
    _os_user: pwd.struct_passwd | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def dagster_env(self) -> dict[str, str]:
        """The DAGSTER_PG_* variables deploy/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": self.db_name,
        }

    def connect(self):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, dbname=self.db_name, connect_timeout=10
        )

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """A PostgreSQL command as the cluster's OS user, in the cluster's directory."""
        kwargs = {}
        if self._os_user is not None:
            kwargs = {"user": self._os_user.pw_uid, "group": self._os_user.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        if self._os_user is not None:
            env["HOME"] = str(self.root)
        result = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
                f"\n--- server log ---\n{self.log_tail()}"
            )
        return result

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def start(self) -> None:
        if os.geteuid() == 0:
            self._os_user = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(self.root, self._os_user.pw_uid, self._os_user.pw_gid)
        self.root.chmod(0o700)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": "100",
            # a throwaway cluster: durability buys nothing
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/postgres_server.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        last_error: Exception | None = None
        for _ in range(3):  # a port taken between free_port() and the server's bind: try another
            self.port = free_port()
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    f"-p {self.port}",
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
                break
            except RuntimeError as exc:
                last_error = exc
        else:
            raise RuntimeError(f"PostgreSQL did not start: {last_error}")
        self._create_database()

    def _create_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                con = psycopg2.connect(
                    host=self.host, port=self.port, user=self.user, dbname="postgres", connect_timeout=5
                )
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.db_name}"')
        finally:
            con.close()

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")


@contextlib.contextmanager
def postgres_server(bin_dir: Path) -> Iterator[PostgresServer]:
    """A running server with an empty database `dagster`; stopped and deleted on exit, also on errors."""
    # As root, the directory must be reachable by `nobody`: /tmp is, a TMPDIR under /root is not.
    base = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
    root = Path(tempfile.mkdtemp(prefix="trace_platform_pg_", dir=base))
    server = PostgresServer(bin_dir=bin_dir, root=root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
