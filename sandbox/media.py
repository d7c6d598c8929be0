"""Media kept by the sandbox: what the bot uploads (``POST /media``) and the photos customers
send, under ``data_dir/media``; file access runs in worker threads."""
from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Optional

from sandbox.bodies import media_type


class Media:
    """Uploaded media (the bot's uploads, the customer's photos) under ``data_dir/media``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.types: dict[str, str] = {}

    async def save(self, data: bytes, mime_type: str) -> str:
        """Keep the bytes (their media type reduced to ``type/subtype``); their media id."""
        mime_type = media_type(mime_type)
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))
        await asyncio.to_thread(self._write, media_id, data, mime_type)
        self.types[media_id] = mime_type
        return media_id

    def _write(self, media_id: str, data: bytes, mime_type: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / media_id).write_bytes(data)
        (self.root / f"{media_id}.type").write_text(mime_type)

    async def read(self, media_id: str) -> Optional[tuple[bytes, str]]:
        """(bytes, mime type) of a kept medium, or None."""
        if not media_id.isdigit():
            return None
        return await asyncio.to_thread(self._read, media_id)

    def _read(self, media_id: str) -> Optional[tuple[bytes, str]]:
        path = self.root / media_id
        if not path.exists():
            return None
        kind = self.types.get(media_id) or (self.root / f"{media_id}.type").read_text()
        return path.read_bytes(), media_type(kind)
