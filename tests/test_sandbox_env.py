"""When `make run` starts the sandbox, and what it points at it (tools/sandbox_env.py)."""
from __future__ import annotations

import json
import stat

import pytest

from tools import sandbox_env


def configured(tmp_path, **env: str) -> tuple[bool, dict[str, str]]:
    values = {"RASA_PORT": "5005", "SANDBOX_DATA_DIR": str(tmp_path), **env}
    return sandbox_env.configure(values), values


def test_without_credentials_both_sides_point_at_the_sandbox(tmp_path):
    runs, env = configured(tmp_path, SANDBOX_PORT="8123")
    assert runs
    assert env["WHATSAPP_API_URL"] == "http://127.0.0.1:8123/v25.0"
    assert env["XENDIT_API_URL"] == "http://127.0.0.1:8123/xendit"
    assert env["SANDBOX_PRODUCT_URL"] == "http://127.0.0.1:5005"
    for secret in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN",
                   "XENDIT_SECRET_KEY", "XENDIT_CALLBACK_TOKEN"):
        assert len(env[secret]) >= 16, secret
    assert env["WHATSAPP_FLOW_ID"] and env["XENDIT_SECRET_KEY"].startswith("xnd_development_")
    private = tmp_path / "flows_private.pem"
    assert env["WHATSAPP_FLOWS_PRIVATE_KEY"] == str(private)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert env["SANDBOX_FLOWS_PUBLIC_KEY"] == str(tmp_path / "flows_public.pem")
    numbers = {b["phone_number_id"]: b["name"] for b in json.loads(env["SANDBOX_BUSINESSES"])}
    assert numbers == {"110000000000001": "Ubud Serenity Spa",
                       "110000000000002": "Canggu Glow Salon"}


def test_secrets_are_new_each_run_and_the_key_pair_is_kept(tmp_path):
    first = configured(tmp_path)[1]
    key = (tmp_path / "flows_private.pem").read_bytes()
    second = configured(tmp_path)[1]
    assert first["WHATSAPP_APP_SECRET"] != second["WHATSAPP_APP_SECRET"]
    assert first["XENDIT_CALLBACK_TOKEN"] != second["XENDIT_CALLBACK_TOKEN"]
    assert (tmp_path / "flows_private.pem").read_bytes() == key  # the Flow keeps working


def test_real_whatsapp_credentials_are_left_alone_and_only_xendit_is_sandboxed(tmp_path):
    sides, env = configured(tmp_path, WHATSAPP_ACCESS_TOKEN="real-token",
                            WHATSAPP_APP_SECRET="real-secret", MONGODB_URL="mongodb://db",
                            ACTION_SERVER_TOKEN="internal",
                            WHATSAPP_API_URL="https://graph.facebook.com/v25.0")
    assert sides == ("xendit",)
    assert env["WHATSAPP_ACCESS_TOKEN"] == "real-token"
    assert env["WHATSAPP_APP_SECRET"] == "real-secret"
    assert env["WHATSAPP_API_URL"] == "https://graph.facebook.com/v25.0"
    assert "WHATSAPP_FLOWS_PRIVATE_KEY" not in env
    assert env["XENDIT_API_URL"].endswith("/xendit")
    # the sandbox process gets nothing real: no WhatsApp secret, database or internal token
    process = sandbox_env.process_env(env, sides)
    assert process["SANDBOX_SIDES"] == "xendit"
    assert not [k for k in process if k.startswith("WHATSAPP_")]
    assert "MONGODB_URL" not in process and "ACTION_SERVER_TOKEN" not in process
    assert process["XENDIT_SECRET_KEY"] == env["XENDIT_SECRET_KEY"]


def test_real_xendit_credentials_never_reach_the_sandbox(tmp_path):
    sides, env = configured(tmp_path, XENDIT_SECRET_KEY="xnd_production_real",
                            XENDIT_CALLBACK_TOKEN="real-callback", SANDBOX_GRAPH_TOKEN="t")
    assert sides == ("whatsapp",)
    process = sandbox_env.process_env(env, sides)
    assert not [k for k in process if k.startswith("XENDIT_")]
    assert process["WHATSAPP_APP_SECRET"] == env["WHATSAPP_APP_SECRET"]
    assert process["WHATSAPP_ACCESS_TOKEN"] == "t" and "SANDBOX_GRAPH_TOKEN" not in process


@pytest.mark.parametrize("env", [
    {"WHATSAPP_ACCESS_TOKEN": "real", "XENDIT_SECRET_KEY": "xnd_production_real"},
    {"PRODUCTION": "1"},
    {"PRODUCTION": "true", "XENDIT_SECRET_KEY": "xnd_production_real"},
    {"SANDBOX": "0"},
    {"SANDBOX": "false"},
], ids=["both credentials", "production", "production, one credential", "turned off",
        "turned off (false)"])
def test_nothing_of_the_sandbox_runs(tmp_path, env):
    runs, values = configured(tmp_path, **env)
    assert not runs
    assert not any(k.startswith("SANDBOX_") and k != "SANDBOX_DATA_DIR" for k in values)
    assert "WHATSAPP_API_URL" not in values and "XENDIT_API_URL" not in values
    assert not (tmp_path / "flows_private.pem").exists()
