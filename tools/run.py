"""Run the assistant locally: MongoDB (unless MONGODB_URL is set), seed, the sandbox (a local
WhatsApp phone and Xendit, unless real credentials are set: tools/sandbox_env.py), action
server and Rasa server in the foreground; Ctrl-C stops all of it.

    python -m tools.run          # servers (what `make run` does)
    python -m tools.run shell    # action server + `rasa shell` (what `make shell` does)
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterable, Optional

from booking.settings import production
from tools import console_env, sandbox_env, seed
from tools.mongod import LocalMongod

logger = logging.getLogger("run")
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def service_env() -> dict[str, str]:
    """The environment shared by every server, with local defaults filled in."""
    env = dict(os.environ)
    env.setdefault("MONGODB_DB", "booking")
    env.setdefault("RASA_PORT", "5005")
    env.setdefault("CONSOLE_PORT", "8001")
    env.setdefault("ACTION_SERVER_PORT", "5055")
    env.setdefault("ACTION_SERVER_URL", f"http://127.0.0.1:{env['ACTION_SERVER_PORT']}/webhook")
    secure_defaults(env)
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{env['RASA_PORT']}")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SANIC_REGISTER", "false")
    return env


def secure_defaults(env: dict[str, str]) -> dict[str, str]:
    """The settings that keep internal surfaces internal (SECURITY.md), filled in ``env``."""
    env.setdefault("ACTION_SERVER_HOST", "127.0.0.1")
    # Rasa sends it (endpoints.yml), the action server refuses calls without it; one per run
    # unless the deployment sets its own.
    env["ACTION_SERVER_TOKEN"] = env.get("ACTION_SERVER_TOKEN") or secrets.token_urlsafe(32)
    # socket.io session tokens: one key for every Rasa server of the run (a cluster shares it)
    env["CHAT_SESSION_SECRET"] = env.get("CHAT_SESSION_SECRET") or secrets.token_urlsafe(32)
    # Sanic refuses bodies over this before buffering them (413), headers that trickle in
    # (408) and requests not answered in time, a body that trickles in included (503).
    env.setdefault("SANIC_REQUEST_MAX_SIZE", str(3 * 1024 * 1024))  # http_guard.LARGEST_BODY
    env.setdefault("SANIC_REQUEST_TIMEOUT", "10")
    env.setdefault("SANIC_RESPONSE_TIMEOUT", "30")
    return env


def action_server_command() -> list[str]:
    """The action server (actions/server.py: loopback by default, token checked)."""
    return [sys.executable, "-m", "actions.server"]


def rasa_workers(env: dict[str, str]) -> int:
    """How many processes serve the Rasa server: ``RASA_WORKERS``, else one per core (at most
    four: each holds its own copy of the model). A turn is CPU on one process's event loop,
    so one process uses one core."""
    try:
        return max(1, int(env.get("RASA_WORKERS") or min(os.cpu_count() or 1, 4)))
    except ValueError:
        raise RuntimeError(f"RASA_WORKERS must be a number, not {env['RASA_WORKERS']!r}")


def rasa_server_env(files: ExitStack, env: dict[str, str], workers: int) -> dict[str, str]:
    """The Rasa server's environment: Sanic's worker processes (they share the port and, for
    their turns, ``channels.locks.HostLockStore``'s lock file) and, with several, a directory
    in which their metrics add up (``booking.metrics``). Both in a fresh directory only this
    user can open (``mkdtemp``: 0700), removed when ``files`` closes."""
    import shutil
    import tempfile

    env = {**env, "SANIC_WORKERS": str(workers)}
    # One process per core: TensorFlow's own thread pools would only compete with the others
    # (the NLU's inference is small: its threads wait on each other more than they help).
    env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
    env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    folder = Path(tempfile.mkdtemp(prefix="booking-rasa-"))
    files.callback(shutil.rmtree, folder, True)
    env["RASA_LOCK_FILE"] = env.get("RASA_LOCK_FILE") or str(folder / "conversations.locks")
    if workers > 1:
        (folder / "metrics").mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(folder / "metrics")
    return env


def rasa_server_command(env: dict[str, str], loopback_only: bool = False) -> list[str]:
    """The Rasa server with our channels (credentials.yml); browsers may call the local
    channels from any origin unless PRODUCTION is set."""
    command = [str(BIN / "rasa"), "run", "--model", str(ROOT / "models"), "--port",
               env["RASA_PORT"], "--credentials", "credentials.yml", "--endpoints",
               "endpoints.yml"]
    if loopback_only:
        command += ["--interface", "127.0.0.1"]
    return command if production(env) else command + ["--cors", "*"]


def talk_in_terminal(server_url: str) -> int:
    """Rasa's shell prompt, speaking to our REST channel (never Rasa's own cmdline channel,
    which lets its client claim any channel and metadata)."""
    import asyncio
    import uuid

    from rasa.core.channels.console import record_messages

    try:
        asyncio.run(record_messages(uuid.uuid4().hex, server_url, use_response_stream=False))
    except AttributeError:  # Rasa's prompt on Ctrl-C at a button choice: ``None.rfind``
        print("Bye", flush=True)
    return 0


def sandbox_banner(env: dict[str, str], sides: tuple[str, ...]) -> str:
    """What the sandbox stands in for, and where to open it."""
    base = f"http://127.0.0.1:{env['SANDBOX_PORT']}"
    names = " and ".join({"whatsapp": "WhatsApp", "xendit": "Xendit"}[side] for side in sides)
    lines = [f"Sandbox:       {base} stands in for {names}"]
    if "xendit" in sides:
        lines.append(f"Payments:      {base}/xendit/ (checkout pages, payouts, refunds)")
    if "whatsapp" in sides:
        lines.append(f"Open {base} to chat as a customer")
    return "\n".join(lines)


def wait_http(url: str, process: subprocess.Popen, timeout: float, name: str,
              expect: bytes = b"") -> None:
    """Poll ``url`` until it answers 200 (with ``expect`` in the body: not some other server
    on the port); fail early if ``process`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and expect in response.read():
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{name} did not answer at {url} within {timeout:.0f}s")


def stop(process: Optional[subprocess.Popen], name: str, timeout: float = 20.0) -> None:
    """Ask a child to stop (SIGTERM), then kill it if it does not; then whatever is left of its
    session (children start in a session of their own: Sanic's worker processes would outlive
    a main process that died)."""
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in %.0fs; killing it", name, timeout)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)  # (a group keeps its id while any member lives)
        except (ProcessLookupError, PermissionError):
            break
        if sig == signal.SIGTERM:
            time.sleep(0.5)  # (time to stop cleanly before the kill)
    if process.poll() is None:
        process.wait()


def supervise(children: Callable[[], Iterable[tuple[str, subprocess.Popen]]]) -> int:
    """Wait until one of the servers exits (then 1: the caller stops the rest), or Ctrl-C."""
    while True:
        for name, process in children():
            if process.poll() is not None:
                print(f"{name} exited with code {process.returncode}; stopping",
                      file=sys.stderr, flush=True)
                return 1
        time.sleep(0.5)


def start_mongodb(stack: ExitStack, env: dict[str, str]) -> None:
    """Use MONGODB_URL when set, else start the local replica set under .data/mongo."""
    if env.get("MONGODB_URL"):
        print(f"MongoDB:       {env['MONGODB_URL']} (from MONGODB_URL)", flush=True)
        return
    server = LocalMongod()
    env["MONGODB_URL"] = server.start()
    if server.started_here:
        stack.callback(server.stop)
    print(f"MongoDB:       {env['MONGODB_URL']} (data in {server.data_dir}, log {server.log_path})",
          flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    """Start everything, wait for Ctrl-C (or the shell to end), stop everything."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", nargs="?", choices=["serve", "shell"], default="serve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    env = service_env()
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children: list[tuple[str, subprocess.Popen]] = []
    with ExitStack() as stack:
        try:
            start_mongodb(stack, env)  # stopped last: callbacks run in reverse order
            files = stack.enter_context(ExitStack())  # removed once the children stopped
            stack.callback(lambda: [stop(p, n) for n, p in reversed(children)])
            os.environ.update(MONGODB_URL=env["MONGODB_URL"], MONGODB_DB=env["MONGODB_DB"])
            if seed.main([]) != 0:
                return 2
            sandbox = sandbox_env.configure(env)
            if sandbox:
                phone = subprocess.Popen(sandbox_env.command(), cwd=ROOT,
                                         env=sandbox_env.process_env(env, sandbox),
                                         start_new_session=True)
                children.append(("sandbox", phone))
                wait_http(f"http://127.0.0.1:{env['SANDBOX_PORT']}/health", phone, 60, "sandbox",
                          expect=b'"service": "sandbox"')
            actions = subprocess.Popen(action_server_command(), cwd=ROOT, env=env,
                                       start_new_session=True)
            children.append(("action server", actions))
            wait_http(f"http://127.0.0.1:{env['ACTION_SERVER_PORT']}/health", actions, 120,
                      "action server")
            print(f"Action server: http://127.0.0.1:{env['ACTION_SERVER_PORT']}/webhook",
                  flush=True)
            shell = args.mode == "shell"
            if not shell:  # starts while the Rasa server loads its model
                logins = console_env.local_owners(env)
                console = subprocess.Popen(console_env.command(), cwd=ROOT, env=env,
                                           start_new_session=True)
                children.append(("console", console))
            workers = 1 if shell else rasa_workers(env)
            rasa = subprocess.Popen(rasa_server_command(env, loopback_only=shell), cwd=ROOT,
                                    env=rasa_server_env(files, env, workers),
                                    start_new_session=True)
            children.append(("rasa server", rasa))
            wait_http(f"http://127.0.0.1:{env['RASA_PORT']}/", rasa, 300, "rasa server")
            if shell:  # our own REST channel: the shell is a local customer, `rest:<id>`
                if "xendit" in sandbox:
                    print(f"Payment links open the sandbox checkout "
                          f"(http://127.0.0.1:{env['SANDBOX_PORT']}/xendit/)", flush=True)
                return talk_in_terminal(f"http://127.0.0.1:{env['RASA_PORT']}")
            local = ("PRODUCTION is set: REST and socket.io are off" if production(env) else
                     "REST: /webhooks/rest/webhook, socket.io: /socket.io")
            print(f"Rasa server:   http://127.0.0.1:{env['RASA_PORT']} ({local}; {workers} "
                  f"worker process{'es' if workers > 1 else ''})", flush=True)
            wait_http(f"http://127.0.0.1:{env['CONSOLE_PORT']}/health", console, 60, "console",
                      expect=b'"console"')
            print(f"Console:       http://127.0.0.1:{env['CONSOLE_PORT']} (for the business; "
                  f"`make admin ARGS=\"reset --username NAME\"` sets a new password)\n"
                  + "\n".join(logins), flush=True)
            if sandbox:
                print(sandbox_banner(env, sandbox), flush=True)
            print("Ready. Press Ctrl-C to stop.", flush=True)
            return supervise(lambda: children)
        except KeyboardInterrupt:
            print("Stopping…", flush=True)
            return 0
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
