"""Run a sandbox aiohttp app for real on 127.0.0.1, on its own event loop in a background
thread, so tests can call it over HTTP with ``requests`` while its state stays on that loop."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

from aiohttp import web


class RunningApp:
    """``make_app()`` (called on the app's own loop) served on ``port`` until ``stop()``."""

    def __init__(self, make_app: Callable[[], web.Application], port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner: Any = None
        try:
            self.call(self._start(make_app))
        except BaseException:
            self._close_loop()
            raise

    async def _start(self, make_app: Callable[[], web.Application]) -> None:
        runner = web.AppRunner(make_app())
        await runner.setup()  # runs the app's startup and cleanup contexts (may raise)
        self.runner = runner
        await web.TCPSite(runner, "127.0.0.1", self.port).start()

    def call(self, coroutine: Any, timeout: float = 15) -> Any:
        """Run a coroutine on the app's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)

    def on_loop(self, function: Callable[[], Any]) -> Any:
        """Run a plain function on the app's loop (where its state lives)."""
        async def run() -> Any:
            return function()
        return self.call(run())

    def stop(self) -> None:
        """Shut the app down the way ``web.run_app`` does (shutdown, then cleanup)."""
        if self.runner is not None:
            self.call(self.runner.cleanup())
            self.runner = None
        self._close_loop()

    def _close_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()
