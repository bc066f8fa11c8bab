"""Credentials for API and console tests: API keys per role, and a console login.

API keys are made the way an operator makes them (a service account holding the
role, then a key scoped to every permission of that role), through the identity
functions, on a ``Directory``: the running app's (``app.state.vallum.ctx``) or
one of a second ``Context`` opened on the same installation (``open_directory``).

``console_login`` drives the real pages with a ``TestClient``: /login, the
forced password change, MFA enrolment (or verification) with pyotp, and returns
the signed-in client with its CSRF token. The client must use ``BASE_URL``
(https): the session cookie is ``Secure`` and httpx only sends it over https.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp

from vallum.api.auth import CSRF_FIELD, SESSION_COOKIE
from vallum.config import VallumSettings
from vallum.context import Context, open_context
from vallum.identity import accounts, apikeys
from vallum.identity.directory import Directory, load_account
from vallum.identity.permissions import Permission

with warnings.catch_warnings():
    # Starlette warns at import that its test client runs on httpx (not httpx2).
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

BASE_URL = "https://testserver"
ADMIN_ACTOR = "user:admin"
KEY_LIFETIME = dt.timedelta(days=1)
#: Well-formed (``vk_`` + 16 hex + ``_`` + secret) but issued to no one.
GARBAGE_KEY = "vk_0000000000000000_x"
LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]*)"')
FORM_CSRF = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')
MFA_SECRET = re.compile(r'<code id="mfa-secret">([A-Z2-7]+)</code>')
RECOVERY_CODE = re.compile(r"<li><code>([a-z2-7]+)</code></li>")


def _directory(where: Directory | Context) -> Directory:
    return where if isinstance(where, Directory) else where.directory


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@contextlib.contextmanager
def open_directory(settings: VallumSettings) -> Iterator[Directory]:
    """The directory of a second Context on an initialised installation (closed after)."""
    ctx = open_context(settings)
    try:
        yield ctx.directory
    finally:
        ctx.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def custom_role(where: Directory | Context, *permissions: Permission) -> str:
    """A new custom role holding exactly ``permissions``; returns its name."""
    name = unique("only")
    accounts.create_role(
        _directory(where), ADMIN_ACTOR, name, [str(p) for p in permissions], "test role"
    )
    return name


def role_key(where: Directory | Context, role: str, *, name: str | None = None) -> str:
    """The secret of a new key for a new service account holding ``role``, with every
    permission of that role as its scopes."""
    d = _directory(where)
    owner = name or unique(f"svc-{role}")
    account = accounts.create_service_account(d, ADMIN_ACTOR, owner, [role])
    issued = apikeys.create_key(
        d,
        ADMIN_ACTOR,
        name=f"{owner}-key",
        owner=owner,
        scopes=sorted(str(p) for p in account.permissions),
        expires_in=KEY_LIFETIME,
    )
    return issued.secret


def role_header(
    where: Directory | Context, role: str, *, name: str | None = None
) -> dict[str, str]:
    """``Authorization: Bearer vk_...`` for a key of ``role`` (see ``role_key``)."""
    return bearer(role_key(where, role, name=name))


def permission_header(where: Directory | Context, permission: Permission) -> dict[str, str]:
    """A key that holds ``permission`` and nothing else (a custom role of one)."""
    return role_header(where, custom_role(where, permission))


def new_user(where: Directory | Context, role: str) -> tuple[str, str]:
    """A person holding ``role``: (username, one-time password)."""
    username = unique(role.replace("-", ""))
    created = accounts.create_user(_directory(where), ADMIN_ACTOR, username, [role])
    return username, created.one_time_password


def strong_password() -> str:
    return f"Tst-{secrets.token_urlsafe(12)}-9x"


# -- console ---------------------------------------------------------------------


@dataclass
class Console:
    """A signed-in console client and what its person knows."""

    client: TestClient
    username: str
    password: str
    csrf: str
    totp_secret: str | None = None
    recovery_codes: list[str] = field(default_factory=list)
    #: Every page the sign-in showed, in order (for tests that inspect the flow).
    pages: list[httpx.Response] = field(default_factory=list)

    @property
    def token(self) -> str:
        return str(self.client.cookies.get(SESSION_COOKIE))

    def form(self, **values: str) -> dict[str, str]:
        """Form fields with this session's CSRF token added."""
        return {CSRF_FIELD: self.csrf, **values}


def totp_code(secret: str, *, offset: float = 0.0) -> str:
    return pyotp.TOTP(secret).at(time.time() + offset)


def client_for(app: Any) -> TestClient:
    """A client for an app whose lifespan another client already runs (own cookies)."""
    return TestClient(app, base_url=BASE_URL, follow_redirects=False)


def _csrf_of(page: httpx.Response) -> str:
    found = FORM_CSRF.search(page.text)
    assert found is not None, f"no CSRF field in {page.request.url}: {page.text[:300]}"
    return found.group(1)


def _expect(response: httpx.Response, status: int) -> httpx.Response:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        f"{response.text[:400]}"
    )
    return response


def console_login(
    client: TestClient,
    username: str,
    password: str,
    *,
    new_password: str | None = None,
    totp_secret: str | None = None,
    next_path: str = "/",
) -> Console:
    """Sign in through the pages, doing every step the server asks for.

    A one-time password is changed to ``new_password`` (a fresh strong one by
    default); MFA is enrolled with pyotp when due, or verified with
    ``totp_secret``. Returns once the server sends the browser to a normal page.
    """
    pages: list[httpx.Response] = []
    form = _expect(client.get("/login", params={"next": next_path}, follow_redirects=False), 200)
    pages.append(form)
    found = LOGIN_CSRF.search(form.text)
    assert found is not None, form.text[:300]
    response = _expect(
        client.post(
            "/login",
            data={
                "username": username,
                "password": password,
                "login_csrf": found.group(1),
                "next": next_path,
            },
            follow_redirects=False,
        ),
        303,
    )
    current = password
    codes: list[str] = []
    for _ in range(5):
        location = response.headers["location"]
        if location == "/account/password":
            page = _expect(client.get(location, follow_redirects=False), 200)
            pages.append(page)
            fresh = new_password or strong_password()
            response = _expect(
                client.post(
                    location,
                    data={
                        CSRF_FIELD: _csrf_of(page),
                        "current": current,
                        "new": fresh,
                        "confirm": fresh,
                    },
                    follow_redirects=False,
                ),
                303,
            )
            current = fresh
        elif location == "/account/mfa":
            page = _expect(client.get(location, follow_redirects=False), 200)
            pages.append(page)
            secret = MFA_SECRET.search(page.text)
            assert secret is not None, page.text[:500]
            totp_secret = secret.group(1)
            done = _expect(
                client.post(
                    location,
                    data={CSRF_FIELD: _csrf_of(page), "code": totp_code(totp_secret)},
                    follow_redirects=False,
                ),
                200,
            )
            pages.append(done)
            codes = RECOVERY_CODE.findall(done.text)
            target = re.search(r'<a class="button" href="([^"]+)">Continue', done.text)
            assert target is not None, done.text[:500]
            return Console(client, username, current, _csrf_of(done), totp_secret, codes, pages)
        elif location == "/login/mfa":
            assert totp_secret is not None, f"{username} must verify MFA: pass totp_secret"
            page = _expect(client.get(location, follow_redirects=False), 200)
            pages.append(page)
            response = _expect(
                client.post(
                    location,
                    # The next time step's code (accepted with one step of drift):
                    # never the enrolment's own code again, however quick the test.
                    data={CSRF_FIELD: _csrf_of(page), "code": totp_code(totp_secret, offset=30)},
                    follow_redirects=False,
                ),
                303,
            )
        else:
            break
    else:  # pragma: no cover - the server kept sending the browser around
        raise AssertionError(f"sign-in did not finish: {response.headers['location']}")
    # Any page rendered for the session carries its CSRF token (the sign-out form).
    page = _expect(client.get("/account/password", follow_redirects=False), 200)
    return Console(client, username, current, _csrf_of(page), totp_secret, codes, pages)


def sign_in_new_user(client: TestClient, where: Directory | Context, role: str) -> Console:
    """A new person holding ``role``, signed in for the first time on ``client``."""
    username, one_time = new_user(where, role)
    return console_login(client, username, one_time)


def holds(where: Directory | Context, username: str) -> frozenset[Permission]:
    """What ``username`` may do right now."""
    return load_account(_directory(where), username=username).permissions
