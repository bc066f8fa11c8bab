"""Signing in to the console, on SQLite and PostgreSQL, through the real pages.

The first login of ``admin`` (one-time password, forced change, MFA enrolment,
recovery codes, dashboard), signing out and in again with a TOTP code or a
recovery code, sessions ending (logout, idle time, lifetime), lockout after
repeated failures, login CSRF, ``next`` never leaving the site, the flags of
every cookie, and that no password, code or token shows up where it should not:
in a later page, or anywhere in the ledger or the database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import html
import json
import re
import urllib.parse
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest
import segno
from sqlalchemy import inspect, select, text

from tests.auth_helpers import (
    BASE_URL,
    FORM_CSRF,
    LOGIN_CSRF,
    MFA_SECRET,
    RECOVERY_CODE,
    Console,
    client_for,
    console_login,
    new_user,
    strong_password,
    totp_code,
)
from vallum.api.auth import CSRF_FIELD, SESSION_COOKIE
from vallum.app import create_app
from vallum.clock import format_time, utcnow
from vallum.config import VallumSettings
from vallum.console.auth_pages import LOGIN_CSRF_COOKIE
from vallum.context import Context, initialise
from vallum.governance import audit as audit_service
from vallum.identity import login
from vallum.store.engine import make_engine
from vallum.store.models import Session

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

LEAKS = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]*\", line \d+|<class '")
#: Form fields whose values are secrets (the login form's and the password page's).
SECRET_FIELDS = ("password", "current", "new", "confirm", "code")
PAST = "2000-01-01T00:00:00.000000Z"


# -- the site --------------------------------------------------------------------------


@dataclass
class Site:
    """The app under test, every request and response it saw, in order."""

    app: Any
    settings: VallumSettings
    admin_password: str
    seen: list[httpx.Response] = field(default_factory=list)
    sent: list[dict[str, list[str]]] = field(default_factory=list)

    @property
    def ctx(self) -> Context:
        ctx: Context = self.app.state.vallum.ctx
        return ctx

    def _keep_request(self, request: httpx.Request) -> None:
        fields = {}
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            fields = urllib.parse.parse_qs(request.content.decode(), keep_blank_values=True)
        self.sent.append(fields)

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        found = LEAKS.search(response.text)
        assert found is None, f"{response.request.url} leaked {found.group(0)!r}"
        self.seen.append(response)

    def browser(self) -> TestClient:
        client = client_for(self.app)
        client.event_hooks = {"request": [self._keep_request], "response": [self._keep]}
        return client

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        return [
            {**e.to_dict(), "data": json.loads(e.data) if e.data else {}}
            for e in audit_service.events(self.ctx, since=since, limit=10**9)
        ]

    def mark(self) -> int:
        return audit_service.last_seq(self.ctx)

    def sql(self, statement: str, **params: Any) -> None:
        """Change the database behind the app's back (as time passing would)."""
        engine = make_engine(self.settings.sqlalchemy_url)
        try:
            with engine.begin() as conn:
                conn.execute(text(statement), params)
        finally:
            engine.dispose()

    def person(self, role: str = "auditor") -> Console:
        """A new person (no MFA unless the role needs it), past the first sign-in."""
        username, one_time = new_user(self.ctx, role)
        return console_login(self.browser(), username, one_time)


@contextlib.contextmanager
def started(settings: VallumSettings) -> Iterator[Site]:
    result = initialise(settings)
    assert result.admin is not None
    app = create_app(settings, background_verify=False)
    with TestClient(app, base_url=BASE_URL, follow_redirects=False):
        yield Site(app, settings, result.admin.password)


@pytest.fixture
def site(settings: VallumSettings) -> Iterator[Site]:
    with started(settings) as s:
        yield s


# -- reading pages ---------------------------------------------------------------------


def login_token(page: httpx.Response) -> str:
    found = LOGIN_CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def csrf_of(page: httpx.Response) -> str:
    found = FORM_CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def error_text(page: httpx.Response) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', page.text)
    assert found is not None, page.text[:800]
    return found.group(1)


def see_other(response: httpx.Response, location: str) -> None:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    assert response.headers["location"] == location


def html_page(response: httpx.Response, status: int = 200) -> str:
    assert response.status_code == status, response.text[:800]
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    return response.text


def post_login(
    client: TestClient, username: str, password: str, *, next_path: str = "/"
) -> httpx.Response:
    form = client.get("/login", params={"next": next_path})
    response: httpx.Response = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "login_csrf": login_token(form),
            "next": next_path,
        },
    )
    return response


def wrong_code(secret: str) -> str:
    """A six-digit code the TOTP check will not accept now."""
    valid = {totp_code(secret, offset=step * 30.0) for step in (-2, -1, 0, 1, 2)}
    return next(c for c in ("914272", "271828", "161803", "141421") if c not in valid)


def token_hash(token: str) -> str:
    """What the sessions table keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def actions(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["outcome"]) for e in events]


# -- the first login of admin ----------------------------------------------------------


def test_first_login_of_admin(site: Site) -> None:
    browser = site.browser()
    start = site.mark()

    # Signed out: the dashboard sends the browser to sign in, and comes back after.
    see_other(browser.get("/"), "/login?next=/")
    form = browser.get("/login", params={"next": "/"})
    html_page(form)
    assert 'name="next" value="/"' in form.text
    assert SESSION_COOKIE not in browser.cookies

    # A wrong password: the same answer as an unknown user, and no session.
    refused = browser.post(
        "/login",
        data={"username": "admin", "password": "not-it", "login_csrf": login_token(form)},
    )
    assert error_text(refused) == "wrong username or password"
    assert refused.status_code == 401
    assert SESSION_COOKIE not in browser.cookies
    unknown = post_login(browser, "nobody", "not-it")
    assert (unknown.status_code, error_text(unknown)) == (401, "wrong username or password")

    # The one-time password: the next stop is the password page, then MFA.
    signed = post_login(browser, "admin", site.admin_password)
    see_other(signed, "/account/password")
    assert browser.cookies.get(SESSION_COOKIE)
    see_other(browser.get("/"), "/account/password")
    see_other(browser.get("/ledger"), "/account/password")
    assert browser.get("/api/v1/controls").status_code == 401

    page = browser.get("/account/password")
    assert "one-time password must be changed" in html_page(page)
    csrf = csrf_of(page)
    assert csrf == login.csrf_for(str(browser.cookies.get(SESSION_COOKIE)))
    new = strong_password()
    for data, error in (
        ({"current": site.admin_password, "new": new, "confirm": new + "x"}, "differ"),
        ({"current": "wrong-current-pw", "new": new, "confirm": new}, "current password"),
        ({"current": site.admin_password, "new": "short", "confirm": "short"}, "12 characters"),
        (
            {
                "current": site.admin_password,
                "new": "x-admin-x-admin",
                "confirm": "x-admin-x-admin",
            },
            "username",
        ),
        (
            {
                "current": site.admin_password,
                "new": site.admin_password,
                "confirm": site.admin_password,
            },
            "differ",
        ),
    ):
        again = browser.post("/account/password", data={CSRF_FIELD: csrf, **data})
        assert again.status_code == 400, again.text[:300]
        assert error in error_text(again), (data, error_text(again))
    # Without the session's CSRF token nothing changes.
    see_other(
        browser.post(
            "/account/password",
            data={CSRF_FIELD: "0" * 64, "current": site.admin_password, "new": new, "confirm": new},
        ),
        "/account/password",
    )
    changed = browser.post(
        "/account/password",
        data={CSRF_FIELD: csrf, "current": site.admin_password, "new": new, "confirm": new},
    )
    see_other(changed, "/account/mfa")
    see_other(browser.get("/"), "/account/mfa")
    assert browser.get("/api/v1/controls").status_code == 401
    # The one-time password is gone.
    assert post_login(site.browser(), "admin", site.admin_password).status_code == 401

    # MFA enrolment: a QR code and the key by hand; a wrong code starts over.
    enrol = browser.get("/account/mfa")
    html_page(enrol)
    assert re.search(r'<img class="qr" src="data:image/svg\+xml[^"]+"', enrol.text)
    first = MFA_SECRET.search(enrol.text)
    assert first is not None and len(first.group(1)) == 32
    failed = browser.post(
        "/account/mfa", data={CSRF_FIELD: csrf, "code": wrong_code(first.group(1))}
    )
    assert failed.status_code == 401
    assert "Start again" in failed.text
    assert first.group(1) not in failed.text
    enrol = browser.get("/account/mfa")
    secret_match = MFA_SECRET.search(enrol.text)
    assert secret_match is not None
    secret = secret_match.group(1)
    assert secret != first.group(1)
    # The QR code is the provisioning URI of this very secret (segno is deterministic).
    uri = pyotp.TOTP(secret).provisioning_uri(name="admin", issuer_name="Vallum")
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    assert qr in html.unescape(enrol.text)
    done = browser.post("/account/mfa", data={CSRF_FIELD: csrf, "code": totp_code(secret)})
    html_page(done)
    codes = RECOVERY_CODE.findall(done.text)
    assert len(codes) == len(set(codes)) == 10
    assert all(len(c) == 16 for c in codes)
    assert '<a class="button" href="/">Continue' in done.text

    # The dashboard, at last; the session also works on the API (reads need no token).
    dashboard = html_page(browser.get("/"))
    assert '<span class="who">admin</span>' in dashboard
    assert f'name="{CSRF_FIELD}" value="{csrf}"' in dashboard  # the sign-out form
    assert browser.get("/api/v1/controls").status_code == 200

    assert [a for a in actions(site.events(start)) if a[1] != "auth.authorized"] == [
        ("anonymous", "auth.login", "failure"),
        ("anonymous", "auth.login", "failure"),
        ("user:admin", "auth.login", "success"),
        ("user:admin", "auth.password_changed", "failure"),
        ("user:admin", "auth.password_changed", "success"),
        ("anonymous", "auth.login", "failure"),  # the old password, tried again
        ("user:admin", "auth.mfa_enrolled", "failure"),
        ("user:admin", "auth.mfa_enrolled", "success"),
    ]

    # Once enrolled, the enrolment page cannot replace (or switch off) the factor.
    see_other(browser.get("/account/mfa"), "/")
    see_other(browser.post("/account/mfa", data={CSRF_FIELD: csrf, "code": "123456"}), "/")
    assert html_page(browser.get("/"))

    # Sign out: the cookie goes, and the token is dead on the server too.
    token = str(browser.cookies.get(SESSION_COOKIE))
    see_other(browser.post("/logout", data={CSRF_FIELD: csrf}), "/login")
    assert SESSION_COOKIE not in browser.cookies
    replay = site.browser()
    cookie = {"cookie": f"{SESSION_COOKIE}={token}"}
    see_other(replay.get("/", headers=cookie), "/login?next=/")
    assert replay.get("/api/v1/controls", headers=cookie).status_code == 401

    # Signing in again needs the TOTP code; nothing opens before it is given.
    mark = site.mark()
    see_other(post_login(browser, "admin", new), "/login/mfa")
    see_other(browser.get("/"), "/login/mfa")
    see_other(browser.get("/account/password"), "/login/mfa")  # not with a password alone
    see_other(browser.get("/account/mfa"), "/login/mfa")
    assert browser.get("/api/v1/controls").status_code == 401
    verify = browser.get("/login/mfa")
    html_page(verify)
    csrf = csrf_of(verify)
    bad = browser.post("/login/mfa", data={CSRF_FIELD: csrf, "code": wrong_code(secret)})
    assert bad.status_code == 401
    see_other(browser.post("/login/mfa", data={CSRF_FIELD: "0" * 64, "code": "1"}), "/login/mfa")
    see_other(
        browser.post("/login/mfa", data={CSRF_FIELD: csrf, "code": totp_code(secret, offset=30)}),
        "/",
    )
    html_page(browser.get("/"))
    assert [a for a in actions(site.events(mark)) if a[1] != "auth.authorized"] == [
        ("user:admin", "auth.login", "success"),
        ("anonymous", "auth.login", "failure"),
        ("user:admin", "auth.login", "success"),
    ]
    assert [
        e["data"].get("stage")
        for e in site.events(mark)
        if e["outcome"] == "success" and e["action"] == "auth.login"
    ] == ["password", "mfa"]

    # A recovery code works once.
    see_other(browser.post("/logout", data={CSRF_FIELD: csrf}), "/login")
    see_other(post_login(browser, "admin", new), "/login/mfa")
    csrf = csrf_of(browser.get("/login/mfa"))
    see_other(browser.post("/login/mfa", data={CSRF_FIELD: csrf, "code": codes[3]}), "/")
    used = [e for e in site.events(mark) if e["data"].get("recovery_code") is True]
    assert len(used) == 1
    see_other(browser.post("/logout", data={CSRF_FIELD: csrf}), "/login")
    see_other(post_login(browser, "admin", new), "/login/mfa")
    csrf = csrf_of(browser.get("/login/mfa"))
    assert browser.post("/login/mfa", data={CSRF_FIELD: csrf, "code": codes[3]}).status_code == 401
    see_other(browser.post("/login/mfa", data={CSRF_FIELD: csrf, "code": codes[4]}), "/")


def test_a_stolen_password_cannot_change_the_password_before_mfa(site: Site) -> None:
    admin = console_login(site.browser(), "admin", site.admin_password)
    thief = site.browser()
    see_other(post_login(thief, "admin", admin.password), "/login/mfa")
    token = login.csrf_for(str(thief.cookies.get(SESSION_COOKIE)))
    grab = strong_password()
    see_other(
        thief.post(
            "/account/password",
            data={CSRF_FIELD: token, "current": admin.password, "new": grab, "confirm": grab},
        ),
        "/login/mfa",
    )
    # Nor turn MFA off by starting an enrolment, nor pass it by finishing one.
    see_other(thief.get("/account/mfa"), "/login/mfa")
    assert admin.totp_secret is not None
    see_other(
        thief.post("/account/mfa", data={CSRF_FIELD: token, "code": totp_code(admin.totp_secret)}),
        "/login/mfa",
    )
    # The real admin's session still works, and the password did not change.
    html_page(admin.client.get("/"))
    assert post_login(site.browser(), "admin", grab).status_code == 401
    see_other(post_login(site.browser(), "admin", admin.password), "/login/mfa")


# -- sessions ending -------------------------------------------------------------------


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
def test_idle_and_lifetime_timeouts(site: Site, column: str) -> None:
    person = site.person()
    html_page(person.client.get("/ledger"))
    digest = token_hash(person.token)
    mark = site.mark()
    site.sql(f"UPDATE sessions SET {column} = :t WHERE token_hash = :h", t=PAST, h=digest)
    see_other(person.client.get("/ledger"), "/login?next=/ledger")
    expired = [e for e in site.events(mark) if e["action"] == "auth.session_expired"]
    assert [(e["actor"], e["data"]) for e in expired] == [
        (f"user:{person.username}", {"reason": "idle" if column == "last_seen_at" else "lifetime"})
    ]
    # Ended for good: putting the time back does not bring it back.
    site.sql(
        f"UPDATE sessions SET {column} = :t WHERE token_hash = :h",
        t=format_time(utcnow() + dt.timedelta(hours=1)),
        h=digest,
    )
    see_other(person.client.get("/ledger"), "/login?next=/ledger")
    assert person.client.get("/api/v1/audit/events").status_code == 401
    with site.ctx.engine.connect() as conn:
        revoked = conn.execute(
            select(Session.revoked_at).where(Session.token_hash == digest)
        ).scalar_one()
    assert revoked is not None


def test_an_active_session_is_kept_alive_by_use(site: Site) -> None:
    person = site.person()
    digest = token_hash(person.token)
    almost = format_time(utcnow() - dt.timedelta(minutes=site.settings.session_idle_minutes - 1))
    site.sql("UPDATE sessions SET last_seen_at = :t WHERE token_hash = :h", t=almost, h=digest)
    html_page(person.client.get("/"))
    with site.ctx.engine.connect() as conn:
        seen = conn.execute(
            select(Session.last_seen_at).where(Session.token_hash == digest)
        ).scalar_one()
    assert seen > almost


def test_a_password_beyond_ascii(site: Site) -> None:
    username, one_time = new_user(site.ctx, "auditor")
    chosen = "Pässwört-für-Ünïcode-✓"
    person = console_login(site.browser(), username, one_time, new_password=chosen)
    see_other(person.client.post("/logout", data=person.form()), "/login")
    see_other(post_login(site.browser(), username, chosen), "/")


def test_changing_the_password_ends_the_other_sessions(site: Site) -> None:
    person = site.person()
    other = site.browser()
    see_other(post_login(other, person.username, person.password), "/")
    html_page(other.get("/ledger"))
    new = strong_password()
    see_other(
        person.client.post(
            "/account/password",
            data=person.form(current=person.password, new=new, confirm=new),
        ),
        "/",
    )
    see_other(other.get("/ledger"), "/login?next=/ledger")
    html_page(person.client.get("/ledger"))


# -- lockout ---------------------------------------------------------------------------


def test_lockout_after_repeated_failures(settings: VallumSettings) -> None:
    conf = settings.model_copy(update={"login_lockout_threshold": 3})
    with started(conf) as site:
        person = site.person()
        see_other(person.client.post("/logout", data=person.form()), "/login")
        browser = site.browser()
        mark = site.mark()
        for _ in range(3):
            refused = post_login(browser, person.username, "wrong-password-here")
            assert (refused.status_code, error_text(refused)) == (401, "wrong username or password")
        # The right password, now too late.
        locked = post_login(browser, person.username, person.password)
        assert locked.status_code == 401
        # The same words as a wrong password: "locked" would confirm the user exists.
        assert error_text(locked) == "wrong username or password"
        assert SESSION_COOKIE not in browser.cookies
        logins = [e for e in site.events(mark) if e["action"] == "auth.login"]
        assert [(e["outcome"], e["data"].get("failures")) for e in logins] == [
            ("failure", 1),
            ("failure", 2),
            ("failure", 3),
            ("denied", None),
        ]
        assert logins[2]["data"]["locked_until"] is not None
        assert logins[3]["data"]["reason"] == "locked"
        # When the lock runs out, the right password works (and the count starts over).
        site.sql(
            "UPDATE users SET locked_until = :t WHERE username = :u", t=PAST, u=person.username
        )
        see_other(post_login(browser, person.username, person.password), "/")


def test_mfa_failures_lock_the_account_too(settings: VallumSettings) -> None:
    conf = settings.model_copy(update={"login_lockout_threshold": 3})
    with started(conf) as site:
        admin = console_login(site.browser(), "admin", site.admin_password)
        assert admin.totp_secret is not None
        browser = site.browser()
        see_other(post_login(browser, "admin", admin.password), "/login/mfa")
        csrf = csrf_of(browser.get("/login/mfa"))
        wrong = wrong_code(admin.totp_secret)
        for _ in range(3):
            assert (
                browser.post("/login/mfa", data={CSRF_FIELD: csrf, "code": wrong}).status_code
                == 401
            )
        right = totp_code(admin.totp_secret, offset=30)
        late = browser.post("/login/mfa", data={CSRF_FIELD: csrf, "code": right})
        assert late.status_code == 401
        assert "locked" in error_text(late)
        see_other(browser.get("/"), "/login/mfa")


# -- login CSRF ------------------------------------------------------------------------


def test_login_csrf(site: Site) -> None:
    person = site.person()
    mark = site.mark()
    # No cookie (a cross-site form post): 400, and the password is not even checked.
    fresh = site.browser()
    no_cookie = fresh.post(
        "/login",
        data={"username": person.username, "password": person.password, "login_csrf": "x" * 32},
    )
    assert no_cookie.status_code == 400
    assert "expired" in error_text(no_cookie)
    # A cookie, and another value in the form.
    browser = site.browser()
    token = login_token(browser.get("/login"))
    assert browser.cookies.get(LOGIN_CSRF_COOKIE) == token
    mismatched = browser.post(
        "/login",
        data={"username": person.username, "password": person.password, "login_csrf": token[:-1]},
    )
    assert mismatched.status_code == 400
    # No field at all; a value that is not ASCII (compare_digest refuses such text).
    missing = browser.post(
        "/login", data={"username": person.username, "password": person.password}
    )
    assert missing.status_code == 400
    odd = browser.post(
        "/login",
        data={"username": person.username, "password": person.password, "login_csrf": "é" * 8},
    )
    assert odd.status_code == 400
    # The form shown again after a refusal carries a new token, with its cookie: it works.
    token = login_token(odd)
    assert browser.cookies.get(LOGIN_CSRF_COOKIE) == token
    assert SESSION_COOKIE not in fresh.cookies and SESSION_COOKIE not in browser.cookies
    assert [e for e in site.events(mark) if e["action"] == "auth.login"] == []
    # The same browser, the matching value: in.
    see_other(
        browser.post(
            "/login",
            data={"username": person.username, "password": person.password, "login_csrf": token},
        ),
        "/",
    )
    assert LOGIN_CSRF_COOKIE not in browser.cookies  # used once, then dropped


# -- open redirects --------------------------------------------------------------------

#: Targets that are not a plain path on this site: ``next`` falls back to "/".
HOSTILE_NEXT = [
    "//evil.example",
    "//evil.example/",
    "///evil.example",
    "https://evil.example",
    "https://evil.example/login",
    "http:evil.example",
    "javascript:alert(1)",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "/ledger\r\nSet-Cookie: planted=1",
    "evil.example",
    "",
]
#: Paths that look odd but are paths on this site (percent-encoding is not decoded
#: into the authority by a browser): kept, and still land here.
ODD_PATHS = ["/%2F/evil.example", "/%5Cevil.example", "/%09/evil.example"]


def lands_on_this_site(location: str) -> bool:
    """Where a browser would go: it drops tabs and newlines, and reads \\ as /."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/").strip()
    target = urllib.parse.urlsplit(urllib.parse.urljoin(f"{BASE_URL}/login", cleaned))
    return (target.scheme, target.netloc) == ("https", "testserver")


def test_next_never_leaves_the_site(site: Site) -> None:
    person = site.person()
    see_other(person.client.post("/logout", data=person.form()), "/login")
    for target in HOSTILE_NEXT + ODD_PATHS:
        expected = target if target in ODD_PATHS else "/"
        browser = site.browser()
        form = browser.get("/login", params={"next": target})
        shown = re.search(r'name="next" value="([^"]*)"', form.text)
        assert shown is not None
        assert html.unescape(shown.group(1)) == expected, repr(target)
        response = post_login(browser, person.username, person.password, next_path=target)
        assert response.status_code == 303, repr(target)
        location = response.headers["location"]
        assert location == expected, (repr(target), location)
        assert lands_on_this_site(location), (repr(target), location)
        assert "planted" not in response.headers.get("set-cookie", "")


def test_next_keeps_a_path_on_this_site(site: Site) -> None:
    person = site.person()
    see_other(person.client.post("/logout", data=person.form()), "/login")
    see_other(person.client.get("/ledger", params={"before": "5"}), "/login?next=/ledger")
    see_other(
        post_login(person.client, person.username, person.password, next_path="/ledger?before=5"),
        "/ledger?before=5",
    )


# -- cookies ---------------------------------------------------------------------------


def test_every_cookie_is_httponly_secure_samesite_strict(site: Site) -> None:
    admin = console_login(site.browser(), "admin", site.admin_password)
    see_other(admin.client.post("/logout", data=admin.form()), "/login")
    assert admin.totp_secret is not None
    console_login(site.browser(), "admin", admin.password, totp_secret=admin.totp_secret)
    headers = [h for r in site.seen for h in r.headers.get_list("set-cookie")]
    names = {h.split("=", 1)[0] for h in headers}
    assert names == {SESSION_COOKIE, LOGIN_CSRF_COOKIE}
    # Set, and deleted (at sign-out, and the login token after use).
    assert any(h.startswith(f'{SESSION_COOKIE}="";') for h in headers)
    assert any(h.startswith(f'{LOGIN_CSRF_COOKIE}="";') for h in headers)
    for header in headers:
        attributes = {a.strip().split("=")[0].lower(): a for a in header.split(";")[1:]}
        assert "httponly" in attributes, header
        assert "secure" in attributes, header
        assert attributes.get("samesite", "").strip().lower() == "samesite=strict", header
        assert attributes.get("path", "").strip() == "Path=/", header
        assert "domain" not in attributes, header  # host-only


# -- secrets ---------------------------------------------------------------------------


def _boundary(value: str) -> re.Pattern[str]:
    """``value`` not inside a longer run of letters or digits (a code inside a hash)."""
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])")


def test_no_password_code_or_token_where_it_should_not_be(site: Site) -> None:
    planted_password = "Planted-Passw0rd-QX7v!"
    planted_wrong = "Wrong-Planted-9f1c!q"
    browser = site.browser()
    assert post_login(browser, "admin", planted_wrong).status_code == 401
    admin = console_login(browser, "admin", site.admin_password, new_password=planted_password)
    assert admin.totp_secret is not None
    tokens = {admin.token, admin.csrf}
    see_other(browser.post("/logout", data=admin.form()), "/login")
    see_other(post_login(browser, "admin", planted_password), "/login/mfa")
    assert (
        browser.post(
            "/login/mfa",
            data={
                CSRF_FIELD: csrf_of(browser.get("/login/mfa")),
                "code": wrong_code(admin.totp_secret),
            },
        ).status_code
        == 401
    )
    again = console_login(site.browser(), "admin", planted_password, totp_secret=admin.totp_secret)
    tokens |= {again.token, again.csrf, str(browser.cookies.get(SESSION_COOKIE))}
    recovery = admin.recovery_codes[0]
    third = site.browser()
    see_other(post_login(third, "admin", planted_password), "/login/mfa")
    see_other(
        third.post(
            "/login/mfa", data={CSRF_FIELD: csrf_of(third.get("/login/mfa")), "code": recovery}
        ),
        "/",
    )
    tokens.add(str(third.cookies.get(SESSION_COOKIE)))
    # Pages that show what the ledger holds, read after all of that.
    for path in ("/", "/ledger", "/api/v1/audit/events?limit=1000"):
        assert again.client.get(path).status_code == 200

    typed = {v for fields in site.sent for name in SECRET_FIELDS for v in fields.get(name, [])}
    typed |= {site.admin_password, planted_password, planted_wrong}
    assert {planted_password, planted_wrong, recovery} <= typed
    shown_once = {admin.totp_secret, *admin.recovery_codes}

    # In pages: nothing typed, no session token; the MFA key and recovery codes only
    # on the one page that showed them.
    for response in site.seen:
        body = response.text
        where = f"{response.request.method} {response.request.url}"
        for secret in (typed - shown_once) | (tokens - {admin.csrf, again.csrf}):
            if len(secret) < 6:
                continue
            assert not _boundary(secret).search(body), f"{where} shows a secret"
            assert secret not in response.headers.get("location", ""), where
        for secret in shown_once:
            if secret in body:
                assert response.request.url.path == "/account/mfa", where
    assert sum(admin.totp_secret in r.text for r in site.seen) == 1
    assert sum(recovery in r.text for r in site.seen) == 1

    # Nowhere in the ledger, and nowhere in the database in clear.
    ledger_text = "\n".join(
        f"{e['actor']} {e['action']} {e['subject']} {json.dumps(e['data'])}" for e in site.events()
    )
    everything = typed | tokens | shown_once
    for secret in everything:
        if len(secret) >= 6:
            assert not _boundary(secret).search(ledger_text), "the ledger holds a secret"
    stored = _database_text(site)
    for secret in everything:
        if len(secret) >= 8:
            assert secret not in stored, "the database holds a secret in clear"
    assert admin.token not in stored and again.token not in stored


def _database_text(site: Site) -> str:
    """Every value of every table, as text (bytes decoded leniently)."""
    out = []
    with site.ctx.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        out.append(bytes(value).decode("latin-1"))
                    else:
                        out.append(str(value))
    return "\n".join(out)


# -- hostile input to the sign-in forms ------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("ad\x00min", "x"),  # PostgreSQL refuses NUL in text
        ("admin", "pass\x00word"),
        ("\x1b[31madmin", "x"),  # a terminal escape, for whoever reads the ledger
        ("é" * 128, "x" * 1024),
        ("<script>alert(1)</script>", "x"),
        ("' OR 1=1 --", "' OR '1'='1"),
    ],
)
def test_hostile_sign_in_input_is_a_plain_refusal(site: Site, username: str, password: str) -> None:
    browser = site.browser()
    mark = site.mark()
    refused = post_login(browser, username, password)
    assert refused.status_code == 401, refused.text[:300]
    assert error_text(refused) == "wrong username or password"
    assert "<script>alert" not in refused.text
    assert SESSION_COOKIE not in browser.cookies
    (event,) = [e for e in site.events(mark) if e["action"] == "auth.login"]
    assert event["outcome"] == "failure"
    assert not re.search(r"[\x00-\x1f\x7f]", event["subject"])
    assert password not in json.dumps(event)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/login/mfa", {"code": "\x00" * 64, CSRF_FIELD: "x"}),
        ("/account/mfa", {"code": "1" * 65, CSRF_FIELD: "x"}),
        ("/account/password", {"current": "a", "new": "b", "confirm": "c"}),
        ("/logout", {}),
        ("/login", {"username": "u" * 129, "password": "p", "login_csrf": "t"}),
    ],
)
def test_malformed_sign_in_forms_are_a_400_or_a_redirect(
    site: Site, path: str, data: dict[str, str]
) -> None:
    response = site.browser().post(path, data=data)
    assert response.status_code in {303, 400}, response.text[:300]


def test_a_totp_code_is_accepted_once(site: Site) -> None:
    """RFC 6238 section 5.2: a code that was accepted is not accepted again."""
    admin = console_login(site.browser(), "admin", site.admin_password)
    assert admin.totp_secret is not None
    code = totp_code(admin.totp_secret, offset=30)  # a step the enrolment did not use
    see_other(admin.client.post("/logout", data=admin.form()), "/login")
    first = site.browser()
    see_other(post_login(first, "admin", admin.password), "/login/mfa")
    accepted = first.post(
        "/login/mfa", data={CSRF_FIELD: csrf_of(first.get("/login/mfa")), "code": code}
    )
    assert accepted.status_code == 303
    second = site.browser()
    see_other(post_login(second, "admin", admin.password), "/login/mfa")
    replayed = second.post(
        "/login/mfa", data={CSRF_FIELD: csrf_of(second.get("/login/mfa")), "code": code}
    )
    assert replayed.status_code == 401


def test_logout_without_the_csrf_token_changes_nothing(site: Site) -> None:
    admin = console_login(site.browser(), "admin", site.admin_password)
    response = admin.client.post("/logout", data={CSRF_FIELD: "forged"}, follow_redirects=False)
    assert response.status_code == 303
    assert "set-cookie" not in response.headers
    assert admin.client.get("/ledger", follow_redirects=False).status_code == 200
