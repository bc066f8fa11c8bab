"""Authentication and authorization of every route, generated from ``app.routes``.

Nothing here is hand-picked: the routes come from the app itself, so a route
added later is checked without touching this file. For every route that is not
public by name (``PUBLIC_ROUTES``; ``/static`` by prefix):

(a) it declares the one permission it needs;
(b) without credentials it answers 401 (API) or sends the browser to /login (console);
(c) a well-formed key that was never issued gets 401 (the console does not take keys);
(d) a key, or a signed-in person, without the permission gets 403 (an HTML page on
    the console);
(e) a key (API) or a person (console) holding the permission gets through;
(f) every refusal is a ledger event: ``auth.authorized`` denied, or ``auth.apikey``
    failure;
(g) an unsafe method with a session but without its CSRF token gets 403.

One installation per backend (SQLite, PostgreSQL) serves the whole module; the
credentials each check needs are made on it once and reused.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import text

from tests.auth_helpers import (
    BASE_URL,
    GARBAGE_KEY,
    LOGIN_CSRF,
    Console,
    bearer,
    client_for,
    console_login,
    custom_role,
    role_header,
    role_key,
    sign_in_new_user,
    strong_password,
    unique,
)
from tests.conftest import make_settings
from vallum.api.auth import (
    CSRF_FIELD,
    PUBLIC_ROUTES,
    SAFE_METHODS,
    declared_permission,
    page,
    requires,
)
from vallum.app import create_app
from vallum.config import VallumSettings
from vallum.context import Context, initialise
from vallum.governance import audit as audit_service
from vallum.identity import accounts, apikeys, login
from vallum.identity.permissions import BUILTIN_ROLES, Permission
from vallum.store.engine import make_engine

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
#: A real value for path parameters whose value decides what the route shows.
REAL_PATH_VALUES = {"seq": "1"}  # seq 1 (system.initialized) exists, and has a proof
#: Any other path parameter: a value that names nothing, so a granted unsafe
#: request (e) reaches the handler without changing anything.
NOTHING = "999999999"


@dataclass(frozen=True)
class Served:
    method: str
    path: str
    route: Any  # a FastAPI route (or a plain Starlette route or mount)

    @property
    def api(self) -> bool:
        """The REST API answers problem+json; everything else is a console page."""
        return self.path.startswith("/api/")

    @property
    def unsafe(self) -> bool:
        return self.method not in SAFE_METHODS

    @property
    def permission(self) -> Permission | None:
        dependant = getattr(self.route, "dependant", None)
        return None if dependant is None else declared_permission(dependant.dependencies)

    @property
    def url(self) -> str:
        out = self.path
        for name in getattr(self.route, "param_convertors", {}):
            out = out.replace(f"{{{name}}}", REAL_PATH_VALUES.get(name, NOTHING))
        return out

    @property
    def known_params(self) -> bool:
        return all(n in REAL_PATH_VALUES for n in getattr(self.route, "param_convertors", {}))

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def is_public(path: str) -> bool:
    return path in PUBLIC_ROUTES or path == "/static" or path.startswith("/static/")


def served(app: FastAPI) -> list[Served]:
    """Every (method, route) the app serves; a mount counts once, as GET."""
    out = []
    for route in iter_route_contexts(app.routes):
        methods = getattr(route, "methods", None) or {"GET"}
        out.extend(Served(m, route.path, route) for m in sorted(methods) if m != "HEAD")
    return out


# Building the app does no I/O, so the routes are known at collection time.
_APP = create_app(VallumSettings.model_construct(data_dir=Path("unused")))
ROUTES = [r for r in served(_APP) if not is_public(r.path)]
GUARDED = [r for r in ROUTES if r.permission is not None]
UNSAFE = [r for r in GUARDED if r.unsafe]


def _ids(routes: list[Served]) -> list[str]:
    return [str(r) for r in routes]


# -- the installation ------------------------------------------------------------------


@dataclass
class World:
    """One running app, its administrator, and credentials made as checks need them."""

    app: FastAPI
    settings: VallumSettings
    admin: Console
    _keys: dict[str, dict[str, str]] = field(default_factory=dict)
    _people: dict[str, Console] = field(default_factory=dict)
    _custom: dict[Permission, str] = field(default_factory=dict)

    @property
    def ctx(self) -> Context:
        ctx: Context = self.app.state.vallum.ctx
        return ctx

    def key(self, role: str) -> dict[str, str]:
        """The header of a key with every permission of ``role``."""
        if role not in self._keys:
            self._keys[role] = role_header(self.ctx, role)
        return self._keys[role]

    def key_with_only(self, permission: Permission) -> dict[str, str]:
        return self.key(self._only(permission))

    def person(self, role: str) -> Console:
        """Someone holding ``role``, signed in on a browser of their own."""
        if role not in self._people:
            self._people[role] = sign_in_new_user(client_for(self.app), self.ctx, role)
        return self._people[role]

    def _only(self, permission: Permission) -> str:
        """A custom role holding ``permission`` and nothing else."""
        if permission not in self._custom:
            self._custom[permission] = custom_role(self.ctx, permission)
        return self._custom[permission]

    def lacking(self, permission: Permission) -> str:
        """A built-in role without ``permission`` or, if every one has it, a custom
        role holding one unrelated permission."""
        for role, perms in BUILTIN_ROLES.items():
            if permission not in perms:
                return role
        unrelated = next(p for p in Permission if p is not permission)
        return self._only(unrelated)

    def mark(self) -> int:
        return audit_service.last_seq(self.ctx)

    def events(self, since: int) -> list[dict[str, Any]]:
        return [
            {**e.to_dict(), "data": json.loads(e.data) if e.data else {}}
            for e in audit_service.events(self.ctx, since=since, limit=10**9)
        ]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    root = tmp_path_factory.mktemp("security")
    database_url = None
    dropper = None
    if request.param == "postgres":
        import psycopg

        server: str = request.getfixturevalue("postgres_server")
        name = f"vallum_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        database_url = f"{server.rsplit('/', 1)[0]}/{name}"

        def dropper() -> None:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    try:
        with pytest.MonkeyPatch.context() as mp:  # conftest's environment cleaning is per test
            for key in list(os.environ):
                if key.startswith("VALLUM_") and not key.startswith("VALLUM_TEST_"):
                    mp.delenv(key)
            mp.chdir(root)
            conf = make_settings(root / "data", database_url)
        result = initialise(conf)
        assert result.admin is not None
        app = create_app(conf, background_verify=False)
        with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
            admin = console_login(client, "admin", result.admin.password)
            yield World(app, conf, admin)
    finally:
        if dropper is not None:
            dropper()


# -- checks ----------------------------------------------------------------------------


def send(
    client: httpx.Client | Any,
    route: Served,
    headers: dict[str, str] | None = None,
    data: dict[str, str] | None = None,
) -> httpx.Response:
    response: httpx.Response = client.request(
        route.method, route.url, headers=headers or {}, data=data, follow_redirects=False
    )
    return response


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == PROBLEM, response.text[:300]
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def assert_to_login(response: httpx.Response, route: Served) -> None:
    assert response.status_code == 303, response.text[:300]
    assert response.headers["location"] == f"/login?next={route.url}"


def refusal(world: World, since: int, route: Served) -> dict[str, Any]:
    """The one ledger event that recorded the refusal of ``route`` (f)."""
    found = [
        e
        for e in world.events(since)
        if e["subject"] == str(route)
        and (e["action"], e["outcome"])
        in {("auth.authorized", "denied"), ("auth.apikey", "failure")}
    ]
    assert len(found) == 1, (str(route), world.events(since))
    granted = [e for e in world.events(since) if e["outcome"] == "success"]
    assert granted == [], granted
    return found[0]


def test_there_are_guarded_routes() -> None:
    """The generation found what it should (a sanity check on ``served``)."""
    assert {str(r) for r in GUARDED} >= {
        "GET /api/v1/audit/events",
        "GET /api/v1/audit/events/{seq}",
        "GET /",
        "GET /ledger",
    }


def test_every_public_name_is_a_route() -> None:
    """A stale name in PUBLIC_ROUTES would make a future route at that path public."""
    paths = {r.path for r in served(_APP)}
    assert paths >= PUBLIC_ROUTES, sorted(PUBLIC_ROUTES - paths)


def test_the_public_surface_is_exactly_this() -> None:
    """Making a route public is a decision to review here, not a side effect."""
    assert {
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/login",
        "/login/mfa",
        "/logout",
        "/account/password",
        "/account/mfa",
        "/static",
    } == PUBLIC_ROUTES


PUBLIC_GETS = [r for r in served(_APP) if is_public(r.path) and r.method == "GET"]


@pytest.mark.parametrize("route", PUBLIC_GETS, ids=_ids(PUBLIC_GETS))
def test_public_pages_answer_anyone_and_open_nothing(world: World, route: Served) -> None:
    url = "/static/vallum.css" if route.path == "/static" else route.url
    response = client_for(world.app).get(url)
    assert response.status_code in {200, 303}, response.text[:300]
    if response.status_code == 303:  # the pages of a sign-in in progress, without one
        assert response.headers["location"] == "/login"


@pytest.mark.parametrize("route", ROUTES, ids=_ids(ROUTES))
def test_a_declares_a_permission(route: Served) -> None:
    assert route.permission is not None, (
        f"{route} is neither public (PUBLIC_ROUTES) nor declares a permission "
        "(requires(P) / page(P))"
    )


@pytest.mark.parametrize("route", GUARDED, ids=_ids(GUARDED))
def test_b_without_credentials(world: World, route: Served) -> None:
    browser = client_for(world.app)
    for accept in ("*/*", "text/html"):
        mark = world.mark()
        response = send(browser, route, {"accept": accept})
        if route.api:
            body = assert_problem(response, 401)
            assert response.headers["www-authenticate"] == 'Bearer realm="vallum"'
            assert body["code"] == "auth"
        else:
            assert_to_login(response, route)
        event = refusal(world, mark, route)
        assert (event["actor"], event["action"]) == ("anonymous", "auth.authorized")
        assert event["data"] == {"reason": "no credentials"}


@pytest.mark.parametrize("route", GUARDED, ids=_ids(GUARDED))
def test_c_with_a_key_never_issued(world: World, route: Served) -> None:
    browser = client_for(world.app)
    mark = world.mark()
    response = send(browser, route, bearer(GARBAGE_KEY))
    if route.api:
        body = assert_problem(response, 401)
        assert GARBAGE_KEY not in response.text
        assert "0000000000000000" not in body["detail"]
        event = refusal(world, mark, route)
        assert (event["actor"], event["action"]) == ("anonymous", "auth.apikey")
        assert event["data"]["key_id"] == "0000000000000000"
    else:
        # The console takes sessions only: a key is not a way in.
        assert_to_login(response, route)
        assert refusal(world, mark, route)["data"] == {"reason": "no credentials"}


@pytest.mark.parametrize("route", GUARDED, ids=_ids(GUARDED))
def test_d_without_the_permission(world: World, route: Served) -> None:
    permission = route.permission
    assert permission is not None
    role = world.lacking(permission)
    person = world.person(role)
    assert permission not in person_permissions(world, person)
    attempts: list[tuple[Any, dict[str, str], dict[str, str] | None]] = [
        # A session with its CSRF token: refused for the permission, not the token.
        (person.client, {"accept": "text/html", "x-csrf-token": person.csrf}, None),
    ]
    if route.api:
        attempts.append((client_for(world.app), world.key(role), None))
    for client, headers, data in attempts:
        mark = world.mark()
        response = send(client, route, headers, data)
        if route.api:
            body = assert_problem(response, 403)
            assert body["code"] == "policy.violation"
        else:
            assert response.status_code == 403, response.text[:300]
            assert response.headers["content-type"].startswith("text/html")
            assert "Not allowed" in response.text
            assert "default-src 'none'" in response.headers["content-security-policy"]
        assert f"you do not have the {permission} permission" in response.text
        event = refusal(world, mark, route)
        assert (event["action"], event["data"]) == (
            "auth.authorized",
            {"permission": str(permission)},
        )


def person_permissions(world: World, person: Console) -> frozenset[Permission]:
    return accounts.load_account(world.ctx.directory, username=person.username).permissions


@pytest.mark.parametrize("route", GUARDED, ids=_ids(GUARDED))
def test_e_with_the_permission(world: World, route: Served) -> None:
    permission = route.permission
    assert permission is not None
    if route.api:
        # A key of a role holding this permission and nothing else is enough.
        client, headers = client_for(world.app), world.key_with_only(permission)
        actor_prefix = "apikey:"
    else:
        # A person holding it (admin); a key, however good, does not open a page.
        assert_to_login(send(client_for(world.app), route, world.key("admin")), route)
        client, headers = world.admin.client, {"x-csrf-token": world.admin.csrf}
        actor_prefix = "user:admin"
    mark = world.mark()
    response = send(client, route, headers, {} if route.unsafe else None)
    assert response.status_code not in {401, 403} and response.status_code < 500, (
        str(route),
        response.status_code,
        response.text[:500],
    )
    if route.method == "GET" and route.known_params:
        assert response.status_code == 200, response.text[:500]
        kind = "application/json" if route.api else "text/html"
        assert response.headers["content-type"].startswith(kind)
    decisions = [e for e in world.events(mark) if e["action"] == "auth.authorized"]
    assert [(e["subject"], e["outcome"]) for e in decisions] == [(str(route), "success")]
    assert decisions[0]["actor"].startswith(actor_prefix)
    assert decisions[0]["data"] == {"permission": str(permission)}


@pytest.mark.parametrize("route", UNSAFE, ids=_ids(UNSAFE))
def test_g_unsafe_method_needs_the_csrf_token(world: World, route: Served) -> None:
    admin = world.admin  # holds every permission: only the token can be missing
    other = world.person("auditor").csrf  # a real token, of another session
    for headers, data in (
        ({}, None),
        ({}, {"name": "x"}),
        ({}, {CSRF_FIELD: ""}),
        ({}, {CSRF_FIELD: other}),
        ({"x-csrf-token": other}, None),
        ({"x-csrf-token": admin.csrf.upper()}, None),
    ):
        mark = world.mark()
        response = send(admin.client, route, {"accept": "text/html", **headers}, data)
        assert response.status_code == 403, (str(route), headers, data, response.text[:300])
        event = refusal(world, mark, route)
        assert (event["actor"], event["data"]) == ("user:admin", {"reason": "csrf"})


# -- the machinery behind (g), on routes of every kind ---------------------------------


def test_csrf_by_header_or_form_field_on_api_and_console(world: World, tmp_path: Path) -> None:
    """POST routes of both kinds (added to a second app on the same installation)."""
    app = create_app(world.settings, background_verify=False)
    api_dep = Depends(requires(Permission.LEDGER_READ))
    page_dep = Depends(page(Permission.LEDGER_READ))

    @app.post("/api/v1/probe", dependencies=[api_dep])
    def api_probe() -> dict[str, str]:
        return {"ok": "api"}

    @app.post("/probe", dependencies=[page_dep])
    def page_probe() -> dict[str, str]:
        return {"ok": "page"}

    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as runner:
        person = sign_in_new_user(runner, world.ctx, "auditor")
        key = world.key("auditor")
        for path in ("/api/v1/probe", "/probe"):
            assert runner.post(path).status_code == 403
            assert runner.post(path, headers={"x-csrf-token": "nope"}).status_code == 403
            assert runner.post(path, data={CSRF_FIELD: "nope"}).status_code == 403
            assert runner.post(path, headers={"x-csrf-token": person.csrf}).status_code == 200
            assert runner.post(path, data={CSRF_FIELD: person.csrf}).status_code == 200
            assert runner.post(path, files={CSRF_FIELD: (None, person.csrf)}).status_code == 200
            # A token in the query string is not looked at (it would leak into logs).
            assert runner.post(f"{path}?{CSRF_FIELD}={person.csrf}").status_code == 403
        # API keys are not ambient credentials: they need no CSRF token.
        bare = client_for(app)
        assert bare.post("/api/v1/probe", headers=key).status_code == 200
        assert_to_login(bare.post("/probe", headers=key), Served("POST", "/probe", None))


# -- keys and sessions that stop working -----------------------------------------------


def test_revoked_expired_and_narrowed_keys(world: World) -> None:
    d = world.ctx.directory
    browser = client_for(world.app)
    route = Served("GET", "/api/v1/audit/checkpoints", None)
    name = unique("svc-narrowed")
    secret = role_key(world.ctx, "auditor", name=name)
    key_id = secret.split("_")[1]
    assert browser.get(route.url, headers=bearer(secret)).status_code == 200

    # The owner loses the role: the key's scopes are cut to what the owner holds.
    (grant,) = [g for g in accounts.list_grants(d) if g["principal"] == f"service:{name}"]
    accounts.revoke_grant(d, "user:admin", grant["id"], "test")
    d.key_cache.drop(key_id)
    mark = world.mark()
    assert_problem(browser.get(route.url, headers=bearer(secret)), 403)
    assert refusal(world, mark, route)["actor"] == f"apikey:{key_id}"

    # Revoked: 401 at once in this process.
    accounts.grant_role(d, "user:admin", name, "auditor")
    d.key_cache.drop(key_id)
    assert browser.get(route.url, headers=bearer(secret)).status_code == 200
    apikeys.revoke_key(d, "user:admin", key_id, "test")
    mark = world.mark()
    assert_problem(browser.get(route.url, headers=bearer(secret)), 401)
    assert refusal(world, mark, route)["data"] == {"key_id": key_id, "reason": "revoked"}

    # Expired.
    other = role_key(world.ctx, "auditor")
    other_id = other.split("_")[1]
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    run_sql(world.settings, "UPDATE api_keys SET expires_at = :t WHERE id = :i", t=past, i=other_id)
    d.key_cache.drop(other_id)
    mark = world.mark()
    assert_problem(browser.get(route.url, headers=bearer(other)), 401)
    assert refusal(world, mark, route)["data"] == {"key_id": other_id, "reason": "expired"}

    # The right id with a wrong secret.
    mark = world.mark()
    assert_problem(browser.get(route.url, headers=bearer(f"{secret}x")), 401)
    assert refusal(world, mark, route)["data"]["reason"] == "unknown key or wrong secret"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer vk_",
        "Bearer vk_zzzzzzzzzzzzzzzz_x",
        "Bearer vk_000000000000000_x",
        "bearer " + GARBAGE_KEY,
        "Bearer " + "A" * 10_000,
    ],
)
def test_malformed_authorization_is_a_401(world: World, header: str) -> None:
    response = client_for(world.app).get("/api/v1/audit/events", headers={"authorization": header})
    body = assert_problem(response, 401)
    assert len(response.content) < 1000
    assert "A" * 100 not in body["detail"]


def test_a_session_part_way_through_signing_in_opens_nothing(world: World) -> None:
    """Before the password change, and MFA enrolment (security), a session is no caller."""
    username, one_time = _new_person(world, "security")
    browser = client_for(world.app)
    form = browser.get("/login")
    token = LOGIN_CSRF.search(form.text)
    assert token is not None
    signed = browser.post(
        "/login", data={"username": username, "password": one_time, "login_csrf": token.group(1)}
    )
    assert signed.headers["location"] == "/account/password"
    _refused_part_way(world, browser, username, "/account/password", "password change due")
    new = strong_password()
    changed = browser.post(
        "/account/password",
        data={CSRF_FIELD: _csrf(browser), "current": one_time, "new": new, "confirm": new},
    )
    assert changed.headers["location"] == "/account/mfa"
    _refused_part_way(world, browser, username, "/account/mfa", "mfa enrolment due")


def _refused_part_way(world: World, browser: Any, username: str, to: str, reason: str) -> None:
    for route in GUARDED:
        mark = world.mark()
        response = send(browser, route, {"x-csrf-token": _csrf(browser)})
        if route.api:
            assert_problem(response, 401)
        else:
            assert response.status_code == 303
            assert response.headers["location"] == to
        event = refusal(world, mark, route)
        assert (event["actor"], event["data"]) == (f"user:{username}", {"reason": reason})


def _new_person(world: World, role: str) -> tuple[str, str]:
    username = unique(role)
    created = accounts.create_user(world.ctx.directory, "user:admin", username, [role])
    return username, created.one_time_password


def _csrf(browser: Any) -> str:
    return login.csrf_for(str(browser.cookies.get("vallum_session")))


def run_sql(settings: VallumSettings, sql: str, **params: Any) -> None:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


# -- what the OpenAPI document says ----------------------------------------------------


def test_openapi_documents_401_and_403_for_every_guarded_operation() -> None:
    doc = _APP.openapi()
    documented = 0
    for route in GUARDED:
        if not route.api:
            continue
        operation = doc["paths"][route.path][route.method.lower()]
        assert {"401", "403"} <= set(operation["responses"]), str(route)
        documented += 1
    assert documented > 0
