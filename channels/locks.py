"""Rasa's lock store for the worker processes of one Rasa server on one host: a conversation's
turns run one at a time across all of them, without blocking the event loop.

Rasa takes its lock store's lock around every turn (``Agent.handle_message``), and so do the
WhatsApp channel's writes into a conversation outside a turn (a staff reply, a message to a
person: ``channels.whatsapp.staff`` through ``channels.history``). Rasa's in-memory store
serves one process (and a waiting turn polls it once a second); its Redis store serves several
hosts (``make run-cluster``) but makes blocking calls on the event loop. ``make run`` runs one
process per core (``RASA_WORKERS``, Sanic's workers), so they share a lock file instead:

- a conversation maps to one byte of the file (a hash; two conversations that share a byte
  only wait for each other), locked with a POSIX record lock (``fcntl.lockf``), always taken
  without blocking (``LOCK_NB``) and tried again every ``POLL_SECONDS`` while another process
  holds it;
- a POSIX lock belongs to a process, not a coroutine, so inside a process an ``asyncio.Lock``
  per byte lets one coroutine at a time try for it;
- the kernel drops the locks of a process that dies: a crash never leaves a conversation
  locked. The file is opened once per process and never closed (closing any descriptor of
  it would drop every lock the process holds on it).

A turn that waits longer than Rasa's lock lifetime (60 s) gets Rasa's ``LockError`` (the
WhatsApp worker puts its message back to run again: ``channels.whatsapp.worker.outage``).
``make run`` names the file in a private directory of its own (``RASA_LOCK_FILE``); without
it, the file is per user and Rasa port in the temporary directory, opened never through a
symbolic link and only when it is the user's own.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import tempfile
import zlib
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Optional

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore

from channels.rasa_patches import network_wait

STRIPES = 1 << 16  # bytes of the lock file a conversation can map to
POLL_SECONDS = 0.002  # while another process holds a conversation's byte


def default_path() -> str:
    """``RASA_LOCK_FILE``, else one file per user and Rasa port (``RASA_PORT``) in the
    temporary directory (servers on other ports never wait for this one's conversations)."""
    return os.environ.get("RASA_LOCK_FILE") or os.path.join(
        tempfile.gettempdir(),
        f"booking-rasa-{os.getuid()}-{os.environ.get('RASA_PORT') or '5005'}.locks")


async def _within(lock: asyncio.Lock, seconds: float) -> bool:
    """Take ``lock`` within ``seconds`` (False: not taken). Cancelling the caller never leaves
    the lock taken nor lets the caller go on (``asyncio.wait_for`` on Python 3.10 returns a
    result that arrived with the cancellation, swallowing it)."""
    taking = asyncio.ensure_future(lock.acquire())
    try:
        await asyncio.wait({taking}, timeout=seconds)
    except BaseException:
        _abandon(lock, taking)
        raise
    if taking.done():
        return True
    _abandon(lock, taking)
    return False


def _abandon(lock: asyncio.Lock, taking: "asyncio.Future[bool]") -> None:
    """Give up on ``taking``: cancelled (asyncio.Lock passes a lock it had just handed over on
    to the next waiter), or given back if it was taken already."""
    def give_back(done: "asyncio.Future[bool]") -> None:
        if not done.cancelled() and done.exception() is None:
            lock.release()

    if taking.cancel():
        taking.add_done_callback(give_back)  # (should the cancellation come too late)
    else:
        give_back(taking)


class HostLockStore(LockStore):
    """One conversation's turns one at a time across the processes sharing ``path``."""

    def __init__(self, endpoint_config: Any = None, path: Optional[str] = None) -> None:
        kwargs = getattr(endpoint_config, "kwargs", None) or {}
        self.path = path or kwargs.get("path") or default_path()
        self._fd: Optional[int] = None
        self._pid = 0
        self._local: dict[int, tuple[asyncio.Lock, list[int]]] = {}  # byte: lock, users
        self._file()  # a lock file that cannot be used stops the server at its start

    @staticmethod
    def stripe(conversation_id: str) -> int:
        """The byte of the lock file that stands for a conversation."""
        return zlib.crc32(conversation_id.encode("utf-8")) % STRIPES

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # first use, or a forked child
            try:  # (never through a symbolic link someone left at the path)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            except OSError as exc:
                raise LockError(f"cannot open the lock file {self.path}: {exc}") from exc
            if os.fstat(fd).st_uid != os.getuid():  # someone else's file in a shared /tmp
                os.close(fd)
                raise LockError(f"the lock file {self.path} belongs to another user")
            self._fd = fd
            self._pid = os.getpid()
            self._local = {}  # (a parent's asyncio locks belong to its loop)
        return self._fd

    def _try(self, stripe: int) -> bool:
        try:
            fcntl.lockf(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, stripe, os.SEEK_SET)
            return True
        except (BlockingIOError, PermissionError):  # EAGAIN / EACCES: another process has it
            return False

    def _unlock(self, stripe: int) -> None:
        fcntl.lockf(self._file(), fcntl.LOCK_UN, 1, stripe, os.SEEK_SET)

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = POLL_SECONDS) -> AsyncIterator[TicketLock]:
        """Hold the conversation's lock for the body; ``LockError`` after ``lock_lifetime``
        seconds of waiting."""
        stripe = self.stripe(conversation_id)
        self._file()
        local, users = self._local.setdefault(stripe, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            await self._take(local, stripe, lock_lifetime, conversation_id)
            try:
                yield TicketLock(conversation_id)
            finally:
                self._unlock(stripe)
                local.release()
        finally:
            users[0] -= 1
            if not users[0] and self._local.get(stripe, (None,))[0] is local:
                del self._local[stripe]  # memory stays bounded by the turns in flight

    async def _take(self, local: asyncio.Lock, stripe: int, lifetime: float,
                    conversation_id: str) -> None:
        """This process's lock on the byte, then the byte: both held on return, neither on an
        exception (``LockError`` after ``lifetime``). While either is held elsewhere, the
        turn's slot goes to other turns (waiting is no CPU work: ``network_wait``)."""
        if not local.locked():
            await local.acquire()  # (free: taken at once)
            if self._try(stripe):
                return
            local.release()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        refused = LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
        has_local = has_byte = False
        try:
            async with network_wait():
                has_local = await _within(local, lifetime)
                if not has_local:
                    raise refused
                while not self._try(stripe):
                    if loop.time() > deadline:
                        raise refused
                    await asyncio.sleep(POLL_SECONDS)
                has_byte = True
        except BaseException:  # (taking the slot back may be cancelled too)
            if has_byte:
                self._unlock(stripe)
            if has_local:
                local.release()
            raise

    # Rasa's ticket bookkeeping is not used: ``lock`` above is the whole protocol.
    def get_lock(self, conversation_id: str) -> Optional[TicketLock]:
        """No stored tickets (``lock`` holds a byte of the file instead)."""
        return None

    def delete_lock(self, conversation_id: str) -> None:
        """Nothing stored."""

    def save_lock(self, lock: TicketLock) -> None:
        """Nothing stored."""
