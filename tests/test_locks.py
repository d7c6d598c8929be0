"""channels.locks.HostLockStore: one conversation's turns one at a time across the worker
processes of a Rasa server (real processes, a real lock file)."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rasa.core.lock_store import LockError

from channels.locks import HostLockStore

HOLDER = textwrap.dedent("""
    import asyncio, sys
    from channels.locks import HostLockStore

    async def main():
        async with HostLockStore(path=sys.argv[1]).lock(sys.argv[2]):
            print("held", flush=True)
            sys.stdin.readline()  # until the test says so (or kills this process)
        print("released", flush=True)

    asyncio.run(main())
""")


def holder(path: Path, conversation: str) -> subprocess.Popen:
    """Another process holding ``conversation``'s lock until its stdin gets a line."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), conversation],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_another_process_holding_a_conversation_makes_a_turn_wait_and_then_go(tmp_path):
    path = tmp_path / "locks"
    other = holder(path, "62811")
    store = HostLockStore(path=str(path))

    async def turn(lifetime: float) -> str:
        async with store.lock("62811", lock_lifetime=lifetime):
            return "ran"

    with pytest.raises(LockError):  # held elsewhere for longer than the lock's lifetime
        asyncio.run(turn(0.2))
    other.stdin.write("go\n")
    other.stdin.flush()
    assert other.stdout.readline().strip() == "released"
    assert asyncio.run(turn(5)) == "ran"
    other.wait(10)


def test_a_process_that_dies_holding_a_conversation_leaves_it_free(tmp_path):
    path = tmp_path / "locks"
    other = holder(path, "62811")
    other.kill()
    other.wait(10)
    store = HostLockStore(path=str(path))

    async def turn() -> str:
        async with store.lock("62811", lock_lifetime=5):
            return "ran"

    assert asyncio.run(turn()) == "ran"


def test_other_conversations_are_not_held_up(tmp_path):
    path = tmp_path / "locks"
    store = HostLockStore(path=str(path))
    free = next(c for c in (f"6281{i}" for i in range(100))
                if store.stripe(c) != store.stripe("62811"))
    other = holder(path, "62811")

    async def turn() -> str:
        async with store.lock(free, lock_lifetime=0.5):
            return "ran"

    try:
        assert asyncio.run(turn()) == "ran"
    finally:
        other.kill()
        other.wait(10)


def test_turns_of_one_conversation_in_one_process_run_one_at_a_time(tmp_path):
    store = HostLockStore(path=str(tmp_path / "locks"))
    inside: list[int] = []
    overlaps: list[int] = []

    async def turn(i: int) -> None:
        async with store.lock("62811", lock_lifetime=5):
            inside.append(i)
            if len(inside) > 1:
                overlaps.append(i)
            await asyncio.sleep(0)  # give the others every chance to enter
            inside.remove(i)

    async def main() -> None:
        await asyncio.gather(*(turn(i) for i in range(20)))

    asyncio.run(main())
    assert overlaps == []
    assert store._local == {}  # nothing kept once no turn waits


TAKER = textwrap.dedent("""
    import asyncio, sys
    from channels.locks import HostLockStore

    async def main():
        async with HostLockStore(path=sys.argv[1]).lock(sys.argv[2], lock_lifetime=2):
            print("ran", flush=True)

    asyncio.run(main())
""")


def another_process_can_take(path: Path, conversation: str) -> bool:
    done = subprocess.run([sys.executable, "-c", TAKER, str(path), conversation],
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    return done.stdout.strip() == "ran"


def test_a_turn_that_fails_gives_the_lock_back_to_every_process(tmp_path):
    path = tmp_path / "locks"
    store = HostLockStore(path=str(path))

    async def failing() -> None:
        async with store.lock("62811", lock_lifetime=5):
            raise ValueError("the turn failed")

    with pytest.raises(ValueError):
        asyncio.run(failing())
    assert another_process_can_take(path, "62811")  # the byte itself was unlocked


def test_a_turn_cancelled_while_waiting_leaves_nothing_behind(tmp_path):
    path = tmp_path / "locks"
    store = HostLockStore(path=str(path))
    other = holder(path, "62811")

    locks: list[asyncio.Lock] = []

    async def cancelled() -> None:
        waiting = asyncio.create_task(store.lock("62811", lock_lifetime=30).__aenter__())
        while store._local == {}:  # until it waits
            await asyncio.sleep(0)
        locks.append(store._local[store.stripe("62811")][0])
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    try:
        asyncio.run(cancelled())
        assert store._local == {} and not locks[0].locked()
    finally:
        other.stdin.write("go\n")
        other.stdin.flush()
        other.wait(10)

    async def turn() -> str:
        async with store.lock("62811", lock_lifetime=2):
            return "ran"

    assert asyncio.run(turn()) == "ran"


def test_a_symbolic_link_at_the_lock_file_path_is_refused_at_the_start(tmp_path):
    target = tmp_path / "elsewhere"
    (tmp_path / "locks").symlink_to(target)
    with pytest.raises(LockError, match="cannot open"):
        HostLockStore(path=str(tmp_path / "locks"))
    assert not target.exists()  # nothing created through the link


def test_a_turn_waiting_for_its_conversation_gives_its_turn_slot_to_other_turns(tmp_path):
    from channels.rasa_patches import TurnSlot

    path = tmp_path / "locks"
    store = HostLockStore(path=str(path))
    other = holder(path, "62811")

    async def main() -> list[str]:
        slots, done = asyncio.Semaphore(1), []

        async def waiting_turn() -> None:
            async with TurnSlot(slots):
                async with store.lock("62811", lock_lifetime=30):
                    done.append("62811")

        async def other_turn() -> None:
            async with TurnSlot(slots):  # the only slot: free while 62811 waits
                done.append("another customer")
            other.stdin.write("go\n")  # then the holder lets 62811 go
            other.stdin.flush()

        first = asyncio.create_task(waiting_turn())
        while store._local == {}:  # until 62811's turn waits for its conversation
            await asyncio.sleep(0)
        await asyncio.wait_for(other_turn(), 10)
        await asyncio.wait_for(first, 10)
        return done

    try:
        assert asyncio.run(main()) == ["another customer", "62811"]
    finally:
        other.kill()
        other.wait(10)
