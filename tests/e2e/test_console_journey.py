"""The console in a real browser: first login with MFA, a key, a JIT approval, the ledger.

Drives Debian's headless Chromium against a real server on loopback, as the
administrator would on day one; screenshots of each step go to the test's
temporary directory.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.e2e.conftest import LiveServer
from vallum.context import open_context
from vallum.governance import audit
from vallum.identity import accounts, jit

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a long and new passphrase 42"


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_first_login_mfa_key_jit_and_ledger(
    live_server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = browser.new_page()
    base = live_server.url

    # Signed out: every page sends you to the login form.
    page.goto(base + "/keys")
    assert page.url.startswith(base + "/login")
    _shot(page, shots, "01-login")

    # One-time password -> forced change -> MFA enrolment -> recovery codes.
    page.fill("#username", "admin")
    page.fill("#password", live_server.admin_password)
    page.click("main button[type=submit]")
    assert page.url == base + "/account/password"
    page.fill("#current", live_server.admin_password)
    page.fill("#new", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("main button[type=submit]")
    assert page.url == base + "/account/mfa"
    assert page.locator("img.qr").count() == 1
    _shot(page, shots, "02-mfa-enrol")
    secret = page.inner_text("#mfa-secret").strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    _shot(page, shots, "03-recovery-codes")
    page.click("text=Continue")
    assert page.url == base + "/"
    assert "SEC-POL-012 controls" in page.content()
    _shot(page, shots, "04-dashboard")

    # Create an API key for a service account; the secret is shown once.
    settings = live_server.settings
    ctx = open_context(settings)
    try:
        accounts.create_service_account(ctx.directory, "user:admin", "triage-app", ["auditor"])
        bob = accounts.create_user(ctx.directory, "user:admin", "bob", ["ml-engineer"])
        assert bob.one_time_password
        request_id = jit.request_role(
            ctx.directory, "bob", "security", dt.timedelta(hours=1), "investigate alert 4711 now"
        )
    finally:
        ctx.close()
    page.goto(base + "/keys")
    page.fill("#create-key-name", "triage-export")
    page.select_option("#create-key-owner", "triage-app")
    page.check("#scope-ledger-read")
    page.click("#create-key button[type=submit]")
    secret_key = page.inner_text("#new-key-secret").strip()
    key_id = page.inner_text("#new-key-id").strip()
    assert secret_key.startswith(f"vk_{key_id}_")
    _shot(page, shots, "05-key-created")
    page.click("#done")
    assert secret_key not in page.content()
    assert page.locator(f"#key-{key_id}").count() == 1

    # Approve bob's just-in-time request (four eyes: admin is not bob).
    page.goto(base + "/access")
    _shot(page, shots, "06-access-pending")
    page.click(f"#approve-{request_id}")
    assert page.locator("#notice").count() == 1
    _shot(page, shots, "07-access-approved")

    # The ledger shows it all, and the page never shows a secret.
    page.goto(base + "/ledger")
    html = page.content()
    for action in ("auth.login", "auth.mfa_enrolled", "apikeys.created", "access.elevated"):
        assert action in html, action
    assert secret_key not in html
    assert live_server.admin_password not in html
    _shot(page, shots, "08-ledger")

    ctx = open_context(settings)
    try:
        recorded = " ".join(
            f"{e.action} {e.data}" for e in audit.events(ctx, since=0, limit=100_000)
        )
        assert secret not in recorded
        assert secret_key not in recorded
        assert NEW_PASSWORD not in recorded
    finally:
        ctx.close()

    # Sign out: the session ends and pages need a login again.
    page.goto(base + "/")
    page.click("form.logout button")
    page.goto(base + "/ledger")
    assert page.url.startswith(base + "/login")
    assert len(list(shots.glob("*.png"))) == 8
