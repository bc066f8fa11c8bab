"""Secrets never reach the logs: passwords, TOTP secrets, session tokens, API keys.

Runs a whole sign-in, a key's creation and use, and failed attempts with every
logger at DEBUG, then searches everything that was logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.auth_helpers import bearer, client_for, console_login, role_key, totp_code
from vallum.app import create_app
from vallum.config import load_settings
from vallum.context import initialise, open_context


def test_no_secret_is_ever_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    first = initialise(settings)
    assert first.admin is not None
    caplog.set_level(logging.DEBUG)
    ctx = open_context(settings)
    try:
        key = role_key(ctx, "auditor")
    finally:
        ctx.close()
    app = create_app(settings, background_verify=False)
    with client_for(app) as client:
        admin = console_login(client, "admin", first.admin.password)
        assert admin.totp_secret is not None
        assert client.get("/api/v1/audit/events", headers=bearer(key)).status_code == 200
        assert client.get("/api/v1/audit/events", headers=bearer(key + "x")).status_code == 401
        wrong = totp_code(admin.totp_secret, offset=-300)
        client.post("/login/mfa", data=admin.form(code=wrong))
    assert caplog.records, "nothing was logged: the search below would prove nothing"
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    secrets = {
        "one-time password": first.admin.password,
        "new password": admin.password,
        "TOTP secret": admin.totp_secret,
        "session token": admin.token,
        "CSRF token": admin.csrf,
        "API key": key,
        "API key secret part": key.split("_", 2)[2],
        **{f"recovery code {i}": c for i, c in enumerate(admin.recovery_codes)},
    }
    leaked = [name for name, value in secrets.items() if value and value in logged]
    assert leaked == [], f"logged: {leaked}"
