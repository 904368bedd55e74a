"""Shared fixtures: a throw-away PostgreSQL cluster on a loopback port, one thread, a finished tiny study.

The default suite runs in one process per core (pytest-xdist, ``-n auto`` in pyproject.toml); ``-n 0`` runs it in this one.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One of several test processes (pytest-xdist, pyproject's addopts): one intra-op thread each, for this
    # process and the nasbox commands it starts, so that the workers share the cores instead of each spinning
    # OpenMP threads on all of them (set before torch is imported, which reads it once).
    os.environ["OMP_NUM_THREADS"] = "1"

from tests.tiny_study import candidate, study  # noqa: E402, F401 - fixtures shared by several folders

PG_USER, PG_PASSWORD, PG_DB = "nasbox", "s3cret-pw", "nasbox"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the 'postgres' user then."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


class PostgresServer:
    """A throw-away PostgreSQL cluster on a loopback port that tests may stop and start (an outage)."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir, self.root, self.port = bindir, root, port
        self.data = root / "data"
        self.url = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/{PG_DB}"

    def _ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(_as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]),
                              capture_output=True, text=True)

    def running(self) -> bool:
        return self._ctl("status").returncode == 0

    def start(self) -> None:
        """Start the server (nothing to do when it runs)."""
        if self.running():
            return
        done = self._ctl("-l", str(self.root / "log"), "-w", "-t", "60", "-o",
                         f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c max_connections=200",
                         "start")
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: connections are closed, as in a restart; ``immediate``: as in a crash)."""
        self._ctl("-m", mode, "-w", "stop")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A fresh cluster with the database ``nasbox``; its URL is ``postgres.url`` (see :func:`postgres_url`)."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[dev]')")
    root = Path(tempfile.mkdtemp(prefix="nasbox-pg-"))
    sock = root / "sock"
    sock.mkdir()
    pwfile = root / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        shutil.chown(pwfile, "postgres")
    server = PostgresServer(bindir, root, _free_port())
    subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(server.data), "-U", PG_USER, "--pwfile", str(pwfile),
                              "--auth=scram-sha-256", "-E", "UTF8"]), check=True, capture_output=True, text=True)
    server.start()
    try:
        env = {**os.environ, "PGPASSWORD": PG_PASSWORD}
        for _ in range(50):
            done = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(server.port), "-U", PG_USER, "-d", "postgres",
                                   "-c", f"CREATE DATABASE {PG_DB}"], env=env, capture_output=True, text=True)
            if done.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"could not create the database: {done.stderr}")
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresServer) -> str:
    """``postgresql://nasbox:<password>@127.0.0.1:<port>/nasbox`` on a fresh cluster."""
    return postgres.url


class SmallDisk:
    """A tmpfs of a given size, mounted for one test: a real disk that fills up (ENOSPC)."""

    def __init__(self, path: Path, kib: int) -> None:
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")

    def resize(self, kib: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={kib}k", str(self.path)], check=True, capture_output=True)

    def fill(self, leave: int) -> None:
        """Fill the disk up to ``leave`` bytes free (with a file named ``filler``)."""
        free = shutil.disk_usage(self.path).free
        with (self.path / "filler").open("ab") as f:
            f.write(b"\0" * max(0, free - leave))

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Any]:
    """``small_disk(kib)``: a tmpfs of that size under the test's folder (skipped where mounting is not allowed)."""
    disks: list[SmallDisk] = []

    def make(kib: int, name: str = "disk") -> SmallDisk:
        disks.append(SmallDisk(tmp_path / name, kib))
        return disks[-1]

    yield make
    for disk in disks:
        disk.unmount()


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread for tests of tiny models: they gain nothing from threads, and on a loaded
    2-core machine OpenMP spinning made each small forward pass up to 1000x slower. Restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def _own_cache(tmp_path_factory) -> Iterator[None]:
    """The latency table and other caches of the tests live in a folder of the session's, never in ~/.cache."""
    before = os.environ.get("NASBOX_CACHE_DIR")
    os.environ["NASBOX_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("NASBOX_CACHE_DIR", None)
    else:
        os.environ["NASBOX_CACHE_DIR"] = before


@pytest.fixture(scope="session", autouse=True)
def _brief_classics_timing() -> Iterator[None]:
    """Searches in the tests' own process time the classic networks briefly (a reference mark's precision
    is not what they test; tests/evaluate/test_classics.py checks the measuring with a timer of its own)."""
    import nasbox.zoo.latency as classics

    before = dict(classics.TIMING)
    classics.TIMING.update(min_runs=3, max_runs=5, budget_s=0.01, max_warmup_s=0.05)
    yield
    classics.TIMING.clear()
    classics.TIMING.update(before)
