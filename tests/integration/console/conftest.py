"""A running console on a real installation (SQLite and PostgreSQL), and people on it.

``site`` initialises an installation, runs the app's lifespan and hands out
browsers: TestClients on the same app with their own cookies, signed in through
the real pages (``tests.auth_helpers.console_login``). Every response any of
them receives is kept (``Site.seen``) so a test can say where a secret appeared,
and is checked for leaked tracebacks.
"""

from __future__ import annotations

import html
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.auth_helpers import (
    BASE_URL,
    Console,
    client_for,
    console_login,
    sign_in_new_user,
    unique,
)
from vallum.api.auth import CSRF_FIELD
from vallum.app import create_app
from vallum.config import VallumSettings
from vallum.context import Context, initialise
from vallum.governance import audit as audit_service
from vallum.identity import accounts
from vallum.identity.permissions import Permission

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

LEAKS = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]*\", line \d+|<class '")
SETUP_ACTOR = "cli:test-setup"


@dataclass
class Site:
    """The app under test, its browsers and what they were shown."""

    app: Any
    admin_password: str
    seen: list[httpx.Response] = field(default_factory=list)
    _admin: Console | None = None

    @property
    def ctx(self) -> Context:
        ctx: Context = self.app.state.vallum.ctx
        return ctx

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        found = LEAKS.search(response.text)
        assert found is None, f"{response.request.url} leaked {found.group(0)!r}"
        self.seen.append(response)

    def browser(self) -> TestClient:
        client = client_for(self.app)
        client.event_hooks = {"request": [], "response": [self._keep]}
        return client

    def admin(self) -> Console:
        """The first administrator, signed in (password changed, MFA enrolled)."""
        if self._admin is None:
            self._admin = console_login(self.browser(), "admin", self.admin_password)
        return self._admin

    def person(self, *roles: str) -> Console:
        """A new person holding ``roles`` (the first at creation), signed in."""
        console = sign_in_new_user(self.browser(), self.ctx, roles[0])
        for role in roles[1:]:
            accounts.grant_role(self.ctx.directory, SETUP_ACTOR, console.username, role)
        return console

    def role(self, *permissions: Permission | str) -> str:
        """A new custom role holding exactly ``permissions``."""
        name = unique("role")
        accounts.create_role(
            self.ctx.directory, SETUP_ACTOR, name, [str(p) for p in permissions], "test role"
        )
        return name

    def last_seq(self) -> int:
        return audit_service.last_seq(self.ctx)

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        """Ledger events after ``since``, with their data decoded."""
        found = audit_service.events(self.ctx, since=since, limit=10**9)
        return [
            {
                "seq": e.seq,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "outcome": e.outcome,
                "data": json.loads(e.data) if e.data else {},
                "raw": f"{e.actor} {e.action} {e.subject} {e.data}",
            }
            for e in found
        ]

    def actions(self, since: int = 0) -> list[tuple[str, str, str]]:
        """(actor, action, outcome) of the events after ``since``, without auth decisions."""
        return [
            (e["actor"], e["action"], e["outcome"])
            for e in self.events(since)
            if e["action"] != "auth.authorized"
        ]


@pytest.fixture
def site(settings: VallumSettings) -> Iterator[Site]:
    result = initialise(settings)
    assert result.admin is not None
    app = create_app(settings, background_verify=False)
    with TestClient(app, base_url=BASE_URL, follow_redirects=False):
        yield Site(app, result.admin.password)


# -- reading pages ---------------------------------------------------------------

NOTICE = re.compile(r'<p class="notice" id="notice" role="status">([^<]*)</p>')
ERROR = re.compile(r'<p class="error" id="error" role="alert">([^<]*)</p>')


def fields(console: Console, **values: str | list[str]) -> dict[str, str | list[str]]:
    """Form fields (a list is a repeated field, as checkboxes send) with the CSRF token."""
    return {CSRF_FIELD: console.csrf, **values}


def post(console: Console, path: str, **values: str | list[str]) -> httpx.Response:
    """Submit a form as ``console``, with its CSRF token."""
    response: httpx.Response = console.client.post(path, data=fields(console, **values))
    return response


def notice_after(client: TestClient, response: httpx.Response) -> tuple[str, str]:
    """Follow a form's 303: (the notice the page shows, the page)."""
    assert response.status_code == 303, response.text[:800]
    page = client.get(response.headers["location"])
    assert page.status_code == 200, page.text[:500]
    found = NOTICE.search(page.text)
    assert found is not None, page.text[:800]
    return html.unescape(found.group(1)), page.text


def error_of(response: httpx.Response, status: int) -> str:
    """The error a page shown again after a refused form says (with its status)."""
    assert response.status_code == status, response.text[:800]
    assert response.headers["content-type"].startswith("text/html")
    found = ERROR.search(response.text)
    assert found is not None, response.text[:800]
    return html.unescape(found.group(1))
