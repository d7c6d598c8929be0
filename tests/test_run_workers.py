"""How `make run` lays out the Rasa server's processes (tools/run.py), without starting it."""
from __future__ import annotations

import os
import stat
from contextlib import ExitStack
from pathlib import Path

import pytest

from tools.run import rasa_server_env, rasa_workers


def test_one_worker_process_per_core_by_default_at_most_four():
    assert rasa_workers({}) == min(os.cpu_count() or 1, 4)
    assert rasa_workers({"RASA_WORKERS": "3"}) == 3
    assert rasa_workers({"RASA_WORKERS": "0"}) == 1
    with pytest.raises(RuntimeError, match="RASA_WORKERS"):
        rasa_workers({"RASA_WORKERS": "many"})


def test_several_workers_add_up_their_metrics_in_a_fresh_private_directory_removed_at_the_end():
    with ExitStack() as stack:
        env = rasa_server_env(stack, {"PROMETHEUS_MULTIPROC_DIR": "/elsewhere"}, 2)
        folder = Path(env["PROMETHEUS_MULTIPROC_DIR"])
        assert env["SANIC_WORKERS"] == "2" and folder.is_dir() and not any(folder.iterdir())
        (folder / "counter_1.db").write_bytes(b"")  # what a worker leaves
        private = Path(env["RASA_LOCK_FILE"]).parent
        assert folder.parent == private and stat.S_IMODE(private.stat().st_mode) == 0o700
    assert not private.exists()


def test_one_worker_keeps_its_metrics_in_memory_and_its_lock_file_private():
    with ExitStack() as stack:
        env = rasa_server_env(stack, {"PROMETHEUS_MULTIPROC_DIR": "/elsewhere"}, 1)
        private = Path(env["RASA_LOCK_FILE"]).parent
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert env["SANIC_WORKERS"] == "1" and "PROMETHEUS_MULTIPROC_DIR" not in env
    assert not private.exists()


def test_a_lock_file_named_by_the_operator_is_kept():
    with ExitStack() as stack:
        env = rasa_server_env(stack, {"RASA_LOCK_FILE": "/srv/booking/rasa.locks"}, 2)
    assert env["RASA_LOCK_FILE"] == "/srv/booking/rasa.locks"
