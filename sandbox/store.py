"""The phone's conversations: every message either side sent, per (business number, customer),
kept in memory, appended to ``chats.jsonl`` so a restart keeps them, and pushed to the pages
that show the chat (server-sent events)."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

logger = logging.getLogger(__name__)
Key = tuple[str, str]  # (business phone_number_id, customer number)
HISTORY_LIMIT = 500  # messages kept per chat
LISTENER_BACKLOG = 500  # events a page may fall behind before it is told to reload


class Chats:
    """Messages by chat and by id, and the listeners of each chat."""

    def __init__(self, data_dir: Optional[Path]) -> None:
        self.path = data_dir / "chats.jsonl" if data_dir else None
        self._chats: dict[Key, list[dict[str, Any]]] = defaultdict(list)
        self._where: dict[str, Key] = {}  # message id -> chat
        self._listeners: dict[Key, set[asyncio.Queue]] = defaultdict(set)
        self._writes: Optional[asyncio.Queue] = None
        self._writer: Optional[asyncio.Task] = None

    # ------------------------------------------------------------------ life cycle
    async def open(self) -> None:
        """Load what an earlier run kept, then start the background writer."""
        if self.path is not None:
            loaded = await asyncio.to_thread(self._load)
            for key, message in loaded:
                self._put(key, message)
            kept = [(key, m) for key, chat in self._chats.items() for m in chat]
            if len(kept) < len(loaded):  # statuses and old messages written over and over
                await asyncio.to_thread(self._rewrite, kept)
        self._writes = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_forever())

    async def close(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._writes is not None and self._writer is not None:
            await self._writes.join()
            self._writer.cancel()

    def _load(self) -> list[tuple[Key, dict[str, Any]]]:
        assert self.path is not None
        if not self.path.exists():
            return []
        loaded = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
                key = (record["business"], record["customer"])
                message = record["message"]
                if not (all(isinstance(k, str) for k in key) and isinstance(message, dict)
                        and isinstance(message.get("id"), str)):
                    raise TypeError("not a kept message")
                loaded.append((key, message))
            except (ValueError, KeyError, TypeError, RecursionError):
                logger.warning("skipped an unreadable line of %s", self.path.name)
        return loaded

    def _rewrite(self, kept: list[tuple[Key, dict[str, Any]]]) -> None:
        """Replace the file with one line per kept message (atomically)."""
        assert self.path is not None
        fresh = self.path.with_suffix(".jsonl.new")
        with fresh.open("w", encoding="utf-8") as handle:
            for key, message in kept:
                handle.write(json.dumps({"business": key[0], "customer": key[1],
                                         "message": message}, separators=(",", ":")) + "\n")
        fresh.replace(self.path)

    async def _write_forever(self) -> None:
        assert self._writes is not None
        while True:
            record = await self._writes.get()
            try:
                if self.path is not None:
                    await asyncio.to_thread(self._append, record)
            except OSError as exc:
                logger.warning("could not keep a message: %s", exc)
            finally:
                self._writes.task_done()

    def _append(self, line: str) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    # ------------------------------------------------------------------ reading
    def history(self, key: Key) -> list[dict[str, Any]]:
        """A chat's messages, oldest first."""
        return list(self._chats.get(key, []))

    def find(self, message_id: str) -> Optional[tuple[Key, dict[str, Any]]]:
        """The chat and message with this id, or None."""
        key = self._where.get(message_id)
        if key is None:
            return None
        message = next((m for m in self._chats[key] if m["id"] == message_id), None)
        return (key, message) if message is not None else None

    # ------------------------------------------------------------------ writing
    def add(self, key: Key, message: dict[str, Any]) -> dict[str, Any]:
        """Keep a new message (``id``, ``direction``, ``message``, ...) and tell the pages."""
        message.setdefault("at", time.time())
        self._put(key, message)
        self._changed(key, message)
        return message

    def update(self, message_id: str, **changes: Any) -> Optional[dict[str, Any]]:
        """Change a kept message (its status, say) and tell the pages; None if unknown."""
        found = self.find(message_id)
        if found is None:
            return None
        key, message = found
        message.update(changes)
        self._changed(key, message)
        return message

    def signal(self, key: Key, event: str, data: dict[str, Any]) -> None:
        """Tell the pages of a chat something that is not a message (the typing indicator).
        A page that fell behind is told to reload instead of being queued without bound."""
        for queue in list(self._listeners.get(key, ())):
            if queue.full():
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(("reload", {}))
            else:
                queue.put_nowait((event, data))

    def _put(self, key: Key, message: dict[str, Any]) -> None:
        chat = self._chats[key]
        if message["id"] in self._where:
            chat[:] = [message if m["id"] == message["id"] else m for m in chat]
        else:
            chat.append(message)
            self._where[message["id"]] = key
        if len(chat) > HISTORY_LIMIT:
            for old in chat[:-HISTORY_LIMIT]:
                self._where.pop(old["id"], None)
            del chat[:-HISTORY_LIMIT]

    def _changed(self, key: Key, message: dict[str, Any]) -> None:
        if self._writes is not None:
            self._writes.put_nowait(json.dumps(  # serialised now: the dict changes later
                {"business": key[0], "customer": key[1], "message": message},
                separators=(",", ":")))
        self.signal(key, "message", message)

    # ------------------------------------------------------------------ listening
    def listen(self, key: Key) -> asyncio.Queue:
        """A queue of (event, data) for one chat; give it back with ``unlisten``."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=LISTENER_BACKLOG)
        self._listeners[key].add(queue)
        return queue

    def hang_up(self) -> None:
        """End every page's event stream (the server is stopping; pages reconnect)."""
        for queues in self._listeners.values():
            for queue in queues:
                while queue.full():
                    queue.get_nowait()
                queue.put_nowait(("close", {}))

    def unlisten(self, key: Key, queue: asyncio.Queue) -> None:
        """Stop telling this queue."""
        listeners = self._listeners.get(key)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                del self._listeners[key]
