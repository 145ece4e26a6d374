"""The PostgreSQL + PostGIS cluster this project runs for itself when no DATABASE_URL is set.

The data directory lives inside the project (`.cadastre/pgdata`). `initdb` and `postgres`
refuse to run as root, and CI runs as root, so when we are root every server command runs as
Debian's unprivileged `postgres` account, which owns the data directory. The server listens on
loopback only, on a port chosen free the first time and kept in `.cadastre/cluster.json`
together with a generated password (scram-sha-256; the file is readable by its owner only).

Two roles: the superuser `cadastre` (migrations, the admin command line) and the web app's
least-privilege `cadastre_app` (portal/platform/roles.py), whose generated password is kept in
the same file; `ensure_app_database()` creates it and grants it on a database.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from portal.platform import queries
from portal.platform.roles import APP_ROLE, create_login_role, grant_app_role, role_exists, set_password

__all__ = ["Cluster", "ClusterError", "ClusterStatus"]

SUPERUSER = "cadastre"
MIN_VERSION = 15
SERVER_CONF = """\
# Written by `cadastre db start`; tuned for one machine with a few GB to spare.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = 1GB
effective_cache_size = 8GB
work_mem = 32MB
maintenance_work_mem = 1GB
max_wal_size = 8GB
checkpoint_timeout = 15min
random_page_cost = 1.1
jit = off
wal_level = replica
max_wal_senders = 10
logging_collector = off
log_min_messages = warning
"""


class ClusterError(RuntimeError):
    """The managed cluster cannot be created, started or reached; the message says what to do."""


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    port: int | None
    data_dir: Path
    version: str | None


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    version: int

    def __getitem__(self, name: str) -> str:
        return str(self.bindir / name)


def find_binaries() -> Binaries:
    """The newest PostgreSQL >= 15 server install that also has PostGIS 3.

    Raises ClusterError naming the Debian packages to install.
    """
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)
    servers = []
    for postgres in candidates:
        try:
            version = int(postgres.parent.parent.name)
        except ValueError:
            continue
        if version >= MIN_VERSION and (postgres.parent / "initdb").exists():
            servers.append(Binaries(postgres.parent, version))
    if not servers:
        raise ClusterError(
            "PostgreSQL server binaries (15 or newer) are not installed: "
            "run `apt-get install postgresql-15 postgresql-15-postgis-3`, "
            "or set DATABASE_URL to a PostGIS server you already have."
        )
    for binaries in sorted(servers, key=lambda b: -b.version):
        control = Path(f"/usr/share/postgresql/{binaries.version}/extension/postgis.control")
        if control.exists():
            return binaries
    version = servers[0].version
    raise ClusterError(
        f"PostGIS is not installed for PostgreSQL {version}: "
        f"run `apt-get install postgresql-{version}-postgis-3`."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Cluster:
    """A PostgreSQL cluster whose files live in `state_dir` and which only we start and stop."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.data_dir = self.state_dir / "pgdata"
        self.log_file = self.state_dir / "log" / "postgres.log"
        self.config_file = self.state_dir / "cluster.json"
        self._run_as = "postgres" if os.geteuid() == 0 else None

    # -- state -------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        """cluster.json as it was saved (JSON: the port is an int, the rest strings)."""
        if self.config_file.exists():
            return dict(json.loads(self.config_file.read_text()))
        return {}

    def _save_config(self, config: dict[str, object]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.config_file.with_suffix(".tmp")
        _write_private(tmp, json.dumps(config, indent=2))  # it holds the superuser's password
        tmp.replace(self.config_file)

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop between processes (parallel test runs, a server and a CLI)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "cluster.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- running server commands ---------------------------------------------------------
    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = args if self._run_as is None else ["runuser", "-u", self._run_as, "--", *args]
        result = subprocess.run(command, capture_output=True, text=True, cwd="/")
        if check and result.returncode != 0:
            raise ClusterError(
                f"`{' '.join(args)}` failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result

    def _give_to_server_account(self, path: Path) -> None:
        if self._run_as is None:
            return
        account = pwd.getpwnam(self._run_as)
        os.chown(path, account.pw_uid, account.pw_gid)

    def _check_reachable(self) -> None:
        if self._run_as is None:
            return
        try:
            pwd.getpwnam(self._run_as)
        except KeyError:
            raise ClusterError(
                "running as root, the cluster needs the unprivileged `postgres` account: "
                "run `apt-get install postgresql-15` (it creates the account)."
            ) from None
        probe = self._run(["test", "-x", str(self.state_dir)], check=False)
        if probe.returncode != 0:
            raise ClusterError(
                f"the `postgres` account cannot reach {self.state_dir}: give the folders above it "
                "search permission (chmod o+x) or set CADASTRE_STATE_DIR to a folder it can reach."
            )

    # -- lifecycle ---------------------------------------------------------------------
    def init(self) -> None:
        """Create the data directory with a superuser `cadastre` and a generated password."""
        binaries = find_binaries()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o755)
        self._check_reachable()
        config = self._config()
        password = str(config.get("password") or secrets.token_urlsafe(24))
        if self.data_dir.exists() and not any(self.data_dir.iterdir()):
            self.data_dir.rmdir()
        self.data_dir.mkdir(mode=0o700)
        self._give_to_server_account(self.data_dir)
        self.log_file.parent.mkdir(exist_ok=True)
        self._give_to_server_account(self.log_file.parent)
        pwfile = self.data_dir.parent / f".pw-{secrets.token_hex(4)}"
        _write_private(pwfile, password + "\n")
        self._give_to_server_account(pwfile)
        try:
            self._run([
                binaries["initdb"], "-D", str(self.data_dir), "-U", SUPERUSER,
                f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=peer",
                "-E", "UTF8", "--no-locale", "--no-instructions",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        conf = self.data_dir / "cadastre.conf"
        conf.write_text(SERVER_CONF)
        self._give_to_server_account(conf)
        with open(self.data_dir / "postgresql.conf", "a") as handle:
            handle.write("\ninclude 'cadastre.conf'\n")
        config.update(password=password, user=SUPERUSER, port=config.get("port") or _free_port())
        self._save_config(config)

    def init_replica(self, primary: Cluster) -> None:
        """Make this cluster a streaming replica of `primary` (which must be running): a base
        backup with the standby settings written (-R); `start()` then runs it as a hot standby."""
        binaries = find_binaries()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o755)
        self._check_reachable()
        self.data_dir.mkdir(mode=0o700)
        self._give_to_server_account(self.data_dir)
        self.log_file.parent.mkdir(exist_ok=True)
        self._give_to_server_account(self.log_file.parent)
        self._run([binaries["pg_basebackup"], "-D", str(self.data_dir), "-R", "-X", "stream", "-c", "fast",
                   "-d", primary.url("postgres")])
        source = primary._config()
        self._save_config({"password": source["password"], "user": source["user"], "port": _free_port(),
                           "replica_of": str(primary.state_dir)})

    def status(self) -> ClusterStatus:
        if not self.initialised:
            return ClusterStatus(False, None, self.data_dir, None)
        version = (self.data_dir / "PG_VERSION").read_text().strip()
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return ClusterStatus(False, None, self.data_dir, version)
        result = self._run([find_binaries()["pg_ctl"], "status", "-D", str(self.data_dir)], check=False)
        if result.returncode != 0:
            return ClusterStatus(False, None, self.data_dir, version)
        lines = pid_file.read_text().splitlines()
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
        return ClusterStatus(True, port, self.data_dir, version)

    def start(self) -> ClusterStatus:
        """Create the cluster the first time, start it if it is not running; idempotent."""
        with self._lock():
            if not self.initialised:
                self.init()
            current = self.status()
            if current.running:
                return current
            config = self._config()
            port = int(config.get("port") or 0)
            if not port or _port_in_use(port):
                port = _free_port()
                config["port"] = port
                self._save_config(config)
            self._run([
                find_binaries()["pg_ctl"], "start", "-D", str(self.data_dir), "-w", "-t", "120",
                "-l", str(self.log_file), "-o", f"-p {port}",
            ])
            return self.status()

    def stop(self) -> None:
        with self._lock():
            if self.status().running:
                self._run([find_binaries()["pg_ctl"], "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])

    # -- connecting ----------------------------------------------------------------------
    def url(self, database: str, *, app: bool = False) -> str:
        """The superuser's URL of `database`, or with `app` the least-privilege app role's."""
        config = self._config()
        port = self.status().port or config.get("port")
        user, key = (APP_ROLE, "app_password") if app else (SUPERUSER, "password")
        password = quote(str(config.get(key, "")), safe="")
        return f"postgresql://{user}:{password}@127.0.0.1:{port}/{quote(database, safe='')}"

    def ensure_app_database(self, database: str) -> str:
        """`ensure_database`, then the app role: created the first time (its password generated
        and kept in cluster.json) and granted on `database`'s tables as they are now (run after
        migrations); returns the app role's URL."""
        self.ensure_database(database)
        with self._lock():  # one process at a time: concurrent GRANTs on one table collide
            config = self._config()
            password = str(config.get("app_password") or "")
            with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
                if not password:
                    password = secrets.token_urlsafe(24)
                    if role_exists(conn, APP_ROLE):
                        set_password(conn, APP_ROLE, password)
                    else:
                        create_login_role(conn, APP_ROLE, password)
                    config["app_password"] = password
                    self._save_config(config)
                elif not role_exists(conn, APP_ROLE):
                    create_login_role(conn, APP_ROLE, password)
            with psycopg.connect(self.url(database)) as conn:
                grant_app_role(conn, APP_ROLE)
        return self.url(database, app=True)

    def ensure_database(self, database: str) -> str:
        """Start the cluster if needed, create `database` with PostGIS, and return its URL."""
        self.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
                    if not queries.database_exists(conn, database):
                        queries.create_database(conn, database)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            queries.create_postgis(conn)
        return self.url(database)

    def drop_database(self, database: str) -> None:
        """Start the cluster if needed and drop `database` (its sessions ended) if it exists."""
        self.start()
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            queries.drop_database(conn, database, force=True, if_exists=True)

    def destroy(self) -> None:
        """Stop the cluster and delete its data directory (tests and `cadastre db destroy`)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _write_private(path: Path, text: str) -> None:
    """Write `path` mode 0600 from the start (never readable by others, even for a moment)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
