"""Who may open and use the administration pages, and the CSRF check on every form.

``ROUTES`` lists every route of the users, keys, access and reviews pages with
the permission it declares; a test fails when a route is added without being
listed here (and so without being checked below). Another module may import
``ROUTES`` to count these routes as tested.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute

from tests.integration.console.conftest import SETUP_ACTOR, Site
from vallum.api.auth import CSRF_FIELD, declared_permission
from vallum.console import access_pages, gateway_pages, keys_pages, reviews_pages, users_pages
from vallum.identity import accounts
from vallum.identity.permissions import Permission as P

#: (method, path) -> the permission the route declares. Paths with ids are filled by ``_url``.
ROUTES: dict[tuple[str, str], P] = {
    ("GET", "/users"): P.USERS_READ,
    ("POST", "/users/create"): P.USERS_MANAGE,
    ("POST", "/users/service"): P.USERS_MANAGE,
    ("POST", "/users/grant"): P.USERS_MANAGE,
    ("POST", "/users/grants/{grant_id}/revoke"): P.USERS_MANAGE,
    ("POST", "/users/{username}/disable"): P.USERS_MANAGE,
    ("POST", "/users/{username}/enable"): P.USERS_MANAGE,
    ("GET", "/roles"): P.ROLES_READ,
    ("POST", "/roles/create"): P.ROLES_MANAGE,
    ("GET", "/keys"): P.KEYS_READ,
    ("POST", "/keys/create"): P.KEYS_CREATE,
    ("POST", "/keys/{key_id}/rotate"): P.KEYS_ROTATE,
    ("POST", "/keys/{key_id}/revoke"): P.KEYS_REVOKE,
    ("GET", "/access"): P.ACCESS_REQUEST,
    ("POST", "/access/request"): P.ACCESS_REQUEST,
    ("POST", "/access/{request_id}/withdraw"): P.ACCESS_REQUEST,
    ("POST", "/access/{request_id}/approve"): P.ACCESS_APPROVE,
    ("POST", "/access/{request_id}/deny"): P.ACCESS_APPROVE,
    ("POST", "/access/break-glass"): P.ACCESS_BREAK_GLASS,
    ("POST", "/access/{request_id}/review"): P.ACCESS_APPROVE,
    ("GET", "/reviews"): P.REVIEWS_READ,
    ("POST", "/reviews/start"): P.REVIEWS_MANAGE,
    ("GET", "/reviews/{campaign_id}"): P.REVIEWS_READ,
    ("POST", "/reviews/{campaign_id}/items/{item_id}/certify"): P.REVIEWS_CERTIFY,
    ("POST", "/reviews/{campaign_id}/items/{item_id}/revoke"): P.REVIEWS_CERTIFY,
    ("POST", "/reviews/{campaign_id}/close"): P.REVIEWS_MANAGE,
    ("GET", "/gateway"): P.MONITOR_READ,
}
PAGES = [path for method, path in ROUTES if method == "GET" and "{" not in path]
POSTS = [path for method, path in ROUTES if method == "POST"]
PARAMS = {
    "{grant_id}": "1",
    "{username}": "admin",
    "{key_id}": "0123456789abcdef",
    "{request_id}": "1",
    "{campaign_id}": "1",
    "{item_id}": "1",
}


def _url(path: str) -> str:
    for name, value in PARAMS.items():
        path = path.replace(name, value)
    return path


def _all_but(site: Site, permission: P) -> str:
    return site.role(*(p for p in P if p != permission))


def test_every_admin_route_is_listed_with_its_permission() -> None:
    served: dict[tuple[str, str], P | None] = {}
    for module in (users_pages, keys_pages, access_pages, reviews_pages, gateway_pages):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods or ():
                served[(method, route.path)] = declared_permission(route.dependant.dependencies)
    assert served == ROUTES


def test_signed_out_pages_send_the_browser_to_sign_in(site: Site) -> None:
    browser = site.browser()
    for path in PAGES:
        response = browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path}"
    response = browser.post("/users/create", data={"username": "mallory", CSRF_FIELD: "x"})
    assert response.status_code == 303
    assert not any(e["action"] == "users.created" for e in site.events() if "mallory" in e["raw"])


def test_each_page_opens_with_its_permission_and_not_without(site: Site) -> None:
    probe = site.person(site.role(P.CONTROLS_READ))
    d = site.ctx.directory
    for path in PAGES:
        permission = ROUTES[("GET", path)]
        # Every permission but this one: refused, and recorded.
        grant = accounts.grant_role(d, SETUP_ACTOR, probe.username, _all_but(site, permission))
        mark = site.last_seq()
        refused = probe.client.get(path, headers={"accept": "text/html"})
        assert refused.status_code == 403, path
        assert "Not allowed" in refused.text
        assert f"you do not have the {permission} permission" in refused.text
        (decision,) = [e for e in site.events(mark) if e["action"] == "auth.authorized"]
        assert decision["outcome"] == "denied"
        assert decision["subject"] == f"GET {path}"
        assert decision["data"] == {"permission": str(permission)}
        accounts.revoke_grant(d, SETUP_ACTOR, grant, "test")
        # This one only: the page, without any of the forms that change things.
        grant = accounts.grant_role(d, SETUP_ACTOR, probe.username, site.role(permission))
        mark = site.last_seq()
        page = probe.client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert page.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "<script" not in page.text.lower()
        assert not re.search(r'<form method="post" action="/(users|roles|keys|reviews)', page.text)
        (decision,) = [e for e in site.events(mark) if e["action"] == "auth.authorized"]
        assert decision["outcome"] == "success"
        assert decision["actor"] == f"user:{probe.username}"
        accounts.revoke_grant(d, SETUP_ACTOR, grant, "test")


def test_each_form_needs_its_own_permission(site: Site) -> None:
    """A valid session and CSRF token, every permission but the route's: 403, nothing done."""
    probe = site.person(site.role(P.CONTROLS_READ))
    d = site.ctx.directory
    for path in POSTS:
        permission = ROUTES[("POST", path)]
        grant = accounts.grant_role(d, SETUP_ACTOR, probe.username, _all_but(site, permission))
        mark = site.last_seq()
        response = probe.client.post(_url(path), data=probe.form(name="x", reason="r" * 20))
        assert response.status_code == 403, (path, response.text[:300])
        assert [(e["action"], e["outcome"], e["data"]) for e in site.events(mark)] == [
            ("auth.authorized", "denied", {"permission": str(permission)})
        ], path
        accounts.revoke_grant(d, SETUP_ACTOR, grant, "test")


def test_a_form_without_the_sessions_csrf_token_is_refused(site: Site) -> None:
    admin = site.admin()
    other = site.person("auditor")  # a real token, of another session
    for token in (None, "", "0" * 64, other.csrf):
        for path in POSTS:
            data: dict[str, Any] = {"username": "victim", "name": "victim", "reason": "x" * 20}
            if token is not None:
                data[CSRF_FIELD] = token
            mark = site.last_seq()
            response = admin.client.post(_url(path), data=data)
            assert response.status_code == 403, (path, response.text[:300])
            assert [(e["action"], e["outcome"], e["data"]) for e in site.events(mark)] == [
                ("auth.authorized", "denied", {"reason": "csrf"})
            ], path
    assert "victim" not in {a.username for a in accounts.list_accounts(site.ctx.directory)}
    # The same form with the session's own token goes through.
    ok = admin.client.post("/users/service", data=admin.form(name="victim"))
    assert ok.status_code == 303
