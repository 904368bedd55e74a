"""Shared fixtures: a throw-away PostgreSQL cluster on a loopback port, one thread, a finished tiny study."""

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

import pytest

from tests.tiny_study import candidate, study  # noqa: F401 - fixtures shared by several folders

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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql://nasbox:<password>@127.0.0.1:<port>/nasbox`` on a fresh cluster."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[dev]')")
    root = Path(tempfile.mkdtemp(prefix="nasbox-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    pwfile = root / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    run = lambda cmd: subprocess.run(_as_owner(cmd), check=True, capture_output=True, text=True)  # noqa: E731
    run([str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "--pwfile", str(pwfile), "--auth=scram-sha-256",
         "-E", "UTF8"])
    run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o",
         f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=100", "start"])
    try:
        env = {**os.environ, "PGPASSWORD": PG_PASSWORD}
        for _ in range(50):
            done = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, "-d", "postgres", "-c",
                                   f"CREATE DATABASE {PG_DB}"], env=env, capture_output=True, text=True)
            if done.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"could not create the database: {done.stderr}")
        yield f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/{PG_DB}"
    finally:
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


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
    import nasbox.evaluate.classics as classics

    before = dict(classics.TIMING)
    classics.TIMING.update(min_runs=3, max_runs=5, budget_s=0.01, max_warmup_s=0.05)
    yield
    classics.TIMING.clear()
    classics.TIMING.update(before)
