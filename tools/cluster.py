"""Several Rasa servers and action servers on one machine, the way they run on several hosts:
behind nginx, sharing MongoDB (tracker store and booking data) and a Redis lock store.

    python -m tools.cluster            # what `make run-cluster` does; Ctrl-C stops all of it

Also used by the cluster and fault tests, which start, stop and kill single parts. The files it
fills in are cluster/endpoints.yml and cluster/nginx.conf.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from tools import console_env
from tools.mongod import LocalMongod, free_port
from tools.run import (BIN, ROOT, action_server_command, secure_defaults, service_env, stop,
                       supervise, wait_http)

logger = logging.getLogger("cluster")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


class Cluster:
    """``rasa`` Rasa servers and ``actions`` action servers. With ``nginx``, webhooks and action
    calls are spread by nginx; with ``redis``, the Rasa servers share a Redis lock store."""

    def __init__(self, env: Optional[dict[str, str]] = None, rasa: int = 2, actions: int = 2,
                 nginx: bool = True, redis: bool = True, workdir: Optional[Path] = None,
                 port: Optional[int] = None, console: bool = False,
                 prometheus: bool = False) -> None:
        # The action servers believe only the Rasa servers: one token for the whole cluster.
        self.env = service_env() if env is None else secure_defaults(dict(env))
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="cluster-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rasa_ports = [free_port() for _ in range(rasa)]
        self.action_ports = [free_port() for _ in range(actions)]
        self.use_nginx, self.use_redis = nginx, redis
        self.port = (port or free_port()) if nginx else self.rasa_ports[0]
        self.actions_port = free_port() if nginx else self.action_ports[0]
        self.redis_port = free_port()
        self.mongod: Optional[LocalMongod] = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.use_console = console  # the business console (one process: it keeps no state)
        self.use_prometheus = prometheus  # scraping every server, evaluating the alert rules
        self.prometheus_port = free_port()
        self.console_logins: list[str] = []

    # ------------------------------------------------------------------ addresses
    @property
    def url(self) -> str:
        """Where Meta, Xendit and customers' browsers reach the cluster."""
        return f"http://127.0.0.1:{self.port}"

    def rasa_url(self, i: int) -> str:
        """One Rasa server directly (not through nginx)."""
        return f"http://127.0.0.1:{self.rasa_ports[i]}"

    # ------------------------------------------------------------------ whole cluster
    def start(self) -> None:
        """Start every part (MongoDB first unless MONGODB_URL is set) and wait until all serve."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        env = self.env
        if not env.get("MONGODB_URL"):
            self.mongod = LocalMongod()
            env["MONGODB_URL"] = self.mongod.start()
        env.setdefault("MONGODB_DB", "booking")
        env["ACTION_SERVER_URL"] = f"http://127.0.0.1:{self.actions_port}/webhook"
        env.setdefault("PUBLIC_BASE_URL", self.url)
        env["REDIS_HOST"], env["REDIS_PORT"] = "127.0.0.1", str(self.redis_port)
        if subprocess.run([sys.executable, "-m", "tools.seed"], cwd=ROOT, env=env).returncode:
            raise RuntimeError("seeding failed")
        if self.use_redis:
            self._spawn("redis", [REDIS, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no"])
        for i in range(len(self.action_ports)):
            self.start_actions(i, wait=False)
        for i in range(len(self.rasa_ports)):
            self.start_rasa(i, wait=False)
        if self.use_console:
            env.setdefault("CONSOLE_PORT", "8001")
            self.console_logins = console_env.local_owners(env)
            self._spawn("console", console_env.command())
        if self.use_nginx:
            self._start_nginx()
        if self.use_prometheus:
            self._start_prometheus()
        for i in range(len(self.action_ports)):
            self._wait(f"actions{i}", f"http://127.0.0.1:{self.action_ports[i]}/health", 120)
        for i in range(len(self.rasa_ports)):
            self._wait(f"rasa{i}", f"{self.rasa_url(i)}/webhooks/whatsapp/", 300)
        if self.use_console:
            self._wait("console", f"http://127.0.0.1:{env['CONSOLE_PORT']}/health", 60)
        if self.use_prometheus:
            self._wait("prometheus", f"{self.prometheus_url}/-/ready", 60)

    @property
    def prometheus_url(self) -> str:
        """Prometheus, scraping every server (``prometheus``)."""
        return f"http://127.0.0.1:{self.prometheus_port}"

    def scrape_targets(self) -> dict[str, list[str]]:
        """Each server's own address, by job: Prometheus reads /metrics there (nginx's public
        port refuses /metrics)."""
        targets = {"rasa": [f"127.0.0.1:{p}" for p in self.rasa_ports],
                   "actions": [f"127.0.0.1:{p}" for p in self.action_ports]}
        if self.use_console:
            targets["console"] = [f"127.0.0.1:{self.env['CONSOLE_PORT']}"]
        return targets

    def _start_prometheus(self) -> None:
        config = {"global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
                  "rule_files": [str(ROOT / "monitoring" / "alerts.yml")],
                  "scrape_configs": [{"job_name": job, "static_configs": [{"targets": hosts}]}
                                     for job, hosts in self.scrape_targets().items()]}
        token = self.env.get("METRICS_TOKEN")
        for job in config["scrape_configs"] if token else ():
            job["authorization"] = {"credentials": token}  # what /metrics asks for then
        path = self.workdir / "prometheus.yml"
        path.write_text(json.dumps(config, indent=2))  # (JSON is YAML)
        self._spawn("prometheus", [PROMETHEUS, f"--config.file={path}",
                                   f"--storage.tsdb.path={self.workdir / 'prometheus'}",
                                   f"--web.listen-address=127.0.0.1:{self.prometheus_port}"])

    def stop(self) -> None:
        """Stop everything this object started (Rasa servers first, MongoDB last)."""
        for name in sorted(self.procs, key=lambda n: (not n.startswith("rasa"), n)):
            stop(self.procs.pop(name), name)
        if self.mongod is not None:
            self.mongod.stop()
            self.mongod = None

    # ------------------------------------------------------------------ single parts
    def start_actions(self, i: int, wait: bool = True) -> None:
        """Start action server ``i``."""
        port = str(self.action_ports[i])
        self._spawn(f"actions{i}", action_server_command() + ["--port", port])
        if wait:
            self._wait(f"actions{i}", f"http://127.0.0.1:{port}/health", 120)

    def start_rasa(self, i: int, wait: bool = True) -> None:
        """Start Rasa server ``i``."""
        endpoints = ROOT / ("cluster/endpoints.yml" if self.use_redis else "endpoints.yml")
        self._spawn(f"rasa{i}", [str(BIN / "rasa"), "run", "--model", str(ROOT / "models"),
                                 "--port", str(self.rasa_ports[i]), "--credentials",
                                 "credentials.yml", "--endpoints", str(endpoints),
                                 "--interface", "127.0.0.1"])  # reached through nginx
        if wait:
            self._wait(f"rasa{i}", f"{self.rasa_url(i)}/webhooks/whatsapp/", 300)

    def kill(self, name: str) -> None:
        """Kill one part at once (SIGKILL), as a crash would: ``rasa0``, ``actions1``..."""
        process = self.procs.pop(name)
        process.kill()
        process.wait()

    def _start_nginx(self) -> None:
        conf = (ROOT / "cluster" / "nginx.conf").read_text()
        servers = lambda ports: "\n".join(f"        server 127.0.0.1:{p};" for p in ports)
        for key, value in {"@DIR@": str(self.workdir), "@PORT@": str(self.port),
                           "@ACTIONS_PORT@": str(self.actions_port),
                           "@RASA_SERVERS@": servers(self.rasa_ports),
                           "@ACTION_SERVERS@": servers(self.action_ports)}.items():
            conf = conf.replace(key, value)
        path = self.workdir / "nginx.conf"
        path.write_text(conf)
        self._spawn("nginx", [NGINX, "-c", str(path), "-p", str(self.workdir),
                              "-e", str(self.workdir / "error.log")])

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def _wait(self, name: str, url: str, timeout: float) -> None:
        try:
            wait_http(url, self.procs[name], timeout, name)
        except RuntimeError as exc:
            tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{exc}\n--- {name}.log ---\n{tail}") from None


def main(argv: Optional[list[str]] = None) -> int:
    """Start the cluster, print where it is, wait for Ctrl-C, stop it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rasa", type=int, default=2, help="Rasa servers (default 2)")
    parser.add_argument("--actions", type=int, default=2, help="action servers (default 2)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CLUSTER_PORT") or 8080),
                        help="nginx's public port (default $CLUSTER_PORT or 8080)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    for tool in (NGINX, REDIS, PROMETHEUS):
        if not Path(tool).exists():
            print(f"error: {tool} is missing; `make run-cluster` installs nginx, redis-server "
                  "and prometheus", file=sys.stderr)
            return 1
    cluster = Cluster(rasa=args.rasa, actions=args.actions, port=args.port, console=True,
                      prometheus=True)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        cluster.start()
        print(f"MongoDB:        {cluster.env['MONGODB_URL']}", flush=True)
        print(f"Redis:          127.0.0.1:{cluster.redis_port} (lock store)", flush=True)
        print(f"Rasa servers:   {', '.join(cluster.rasa_url(i) for i in range(args.rasa))}",
              flush=True)
        print(f"Action servers: {', '.join(f'http://127.0.0.1:{p}' for p in cluster.action_ports)}"
              f" (behind nginx at :{cluster.actions_port})", flush=True)
        print(f"Public URL:     {cluster.url} (nginx; WhatsApp webhook at "
              f"{cluster.url}/webhooks/whatsapp/webhook; logs in {cluster.workdir})", flush=True)
        print(f"Prometheus:     {cluster.prometheus_url} (every server's /metrics, the alert "
              "rules of monitoring/alerts.yml)", flush=True)
        print(f"Console:        http://127.0.0.1:{cluster.env['CONSOLE_PORT']}\n"
              + "\n".join(cluster.console_logins), flush=True)
        print("Ready. Press Ctrl-C to stop.", flush=True)
        return supervise(lambda: list(cluster.procs.items()))
    except KeyboardInterrupt:
        print("Stopping…", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
