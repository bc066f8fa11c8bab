"""/users and /roles end to end: every form, what the ledger records, what the pages show."""

from __future__ import annotations

import html
import re

import httpx

from tests.auth_helpers import console_login
from tests.integration.console.conftest import NOTICE, Site, error_of, fields, notice_after

XSS = "<script>alert(1)</script>"
PASSWORD = re.compile(r'<p class="secret" id="one-time-password">([^<]+)</p>')


def notice_after_get(page: httpx.Response) -> str:
    assert page.status_code == 200
    found = NOTICE.search(page.text)
    assert found is not None, page.text[:500]
    return html.unescape(found.group(1))


def _row(page: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page, re.S)
    assert found is not None, f"no row {row_id}"
    return found.group(1)


def test_creating_a_person_shows_the_one_time_password_once(site: Site) -> None:
    admin = site.admin()
    mark = site.last_seq()
    created = admin.client.post(
        "/users/create", data=fields(admin, username="carol", role=["auditor", "app-developer"])
    )
    assert created.status_code == 200, created.text[:500]
    assert created.headers["cache-control"] == "no-store"
    found = PASSWORD.search(created.text)
    assert found is not None
    password = found.group(1)
    assert "Copy this one-time password now." in created.text

    events = site.events(mark)
    assert [(e["actor"], e["action"], e["subject"], e["data"]) for e in events] == [
        ("user:admin", "auth.authorized", "POST /users/create", {"permission": "users.manage"}),
        ("user:admin", "users.created", "user:carol", {"roles": ["app-developer", "auditor"]}),
    ]
    users = admin.client.get("/users")
    assert "carol" in _row(users.text, "user-carol")
    assert "auditor" in _row(users.text, "user-carol")
    # Carol signs in with it (and must change it first).
    carol = console_login(site.browser(), "carol", password)
    assert carol.client.get("/users").status_code == 200
    assert all(password not in e["raw"] for e in site.events())
    assert [r for r in site.seen if password in r.text] == [created]


def test_a_refused_person_is_explained_on_the_page(site: Site) -> None:
    admin = site.admin()
    admin.client.post("/users/create", data=admin.form(username="dave"))
    again = error_of(admin.client.post("/users/create", data=admin.form(username="dave")), 400)
    assert again == "a principal named 'dave' already exists"
    hostile = admin.client.post("/users/create", data=admin.form(username=XSS, role="auditor"))
    assert "must be 1-128 of a-z" in error_of(hostile, 400)
    assert "<script" not in hostile.text.lower()
    assert html.escape(XSS) in hostile.text  # shown, escaped
    unknown = admin.client.post("/users/create", data=admin.form(username="erin", role="nope"))
    assert error_of(unknown, 404) == "no role 'nope'"
    empty = admin.client.post("/users/create", data=admin.form(username="  "))
    assert error_of(empty, 400) == "the username is required"
    # A notice is one of the console's own texts; a crafted subject is not shown.
    crafted = admin.client.get("/users", params={"notice": "granted", "subject": XSS})
    assert notice_after_get(crafted) == "Role granted (grant (unnamed))."
    assert "<script" not in crafted.text.lower()
    unknown_notice = admin.client.get("/users", params={"notice": "you-were-hacked"})
    assert 'id="notice"' not in unknown_notice.text


def test_service_accounts_grants_and_disabling(site: Site) -> None:
    admin = site.admin()
    dev = site.person("app-developer")
    mark = site.last_seq()

    made = admin.client.post("/users/service", data=admin.form(name="etl-bot", role="auditor"))
    text, page = notice_after(admin.client, made)
    assert text.startswith("Service account service:etl-bot created.")
    assert "service account" in _row(page, "user-etl-bot")

    assert dev.client.get("/users").status_code == 403
    granted = admin.client.post(
        "/users/grant", data=admin.form(username=dev.username, role="auditor")
    )
    text, page = notice_after(admin.client, granted)
    grant_id = int(re.findall(r"\d+", text)[0])
    assert text == f"Role granted (grant {grant_id})."
    assert f"user:{dev.username}" in _row(page, f"grant-{grant_id}")
    assert dev.client.get("/users").status_code == 200  # permissions are live

    twice = admin.client.post(
        "/users/grant", data=admin.form(username=dev.username, role="auditor")
    )
    assert error_of(twice, 400) == f"{dev.username} already holds auditor"
    no_reason = admin.client.post(f"/users/grants/{grant_id}/revoke", data=admin.form(reason=" "))
    assert error_of(no_reason, 400) == "the reason is required"
    revoked = admin.client.post(
        f"/users/grants/{grant_id}/revoke", data=admin.form(reason="left the audit team")
    )
    assert notice_after(admin.client, revoked)[0] == f"Grant {grant_id} revoked."
    assert dev.client.get("/users").status_code == 403
    gone = admin.client.post(f"/users/grants/{grant_id}/revoke", data=admin.form(reason="again"))
    assert error_of(gone, 404) == f"no active grant {grant_id}"

    disabled = admin.client.post(f"/users/{dev.username}/disable", data=admin.form())
    text, page = notice_after(admin.client, disabled)
    assert text.startswith(f"{dev.username} is disabled")
    assert "disabled" in _row(page, f"user-{dev.username}")
    assert f'id="enable-{dev.username}"' in page
    bounced = dev.client.get("/keys")
    assert bounced.status_code == 303  # the session ended
    assert bounced.headers["location"].startswith("/login")
    enabled = admin.client.post(f"/users/{dev.username}/enable", data=admin.form())
    assert notice_after(admin.client, enabled)[0] == f"{dev.username} is enabled again."

    myself = admin.client.post("/users/admin/disable", data=admin.form())
    assert "cannot disable your own account" in error_of(myself, 400)
    assert 'id="disable-admin"' not in myself.text
    nobody = admin.client.post("/users/nobody/disable", data=admin.form())
    assert error_of(nobody, 404) == "no principal 'nobody'"

    assert site.actions(mark) == [
        ("user:admin", "users.created", "success"),
        ("user:admin", "access.granted", "success"),
        ("user:admin", "access.revoked", "success"),
        ("user:admin", "users.disabled", "success"),
        ("user:admin", "users.enabled", "success"),
    ]
    revoke = next(e for e in site.events(mark) if e["action"] == "access.revoked")
    assert revoke["data"] == {"role": "auditor", "grant": grant_id, "reason": "left the audit team"}
    # MFA: on for the admin (enrolled at sign-in), off for the developer.
    users = admin.client.get("/users").text
    assert ">on<" in _row(users, "user-admin")
    assert ">off<" in _row(users, f"user-{dev.username}")
    assert "n/a" in _row(users, "user-etl-bot")


def test_custom_roles(site: Site) -> None:
    admin = site.admin()
    mark = site.last_seq()
    made = admin.client.post(
        "/roles/create",
        data=fields(
            admin, name="model-signer", description=XSS, permission=["models.read", "models.sign"]
        ),
    )
    text, page = notice_after(admin.client, made)
    assert text == "Role model-signer created."
    row = _row(page, "role-model-signer")
    assert "models.read" in row
    assert "models.sign" in row
    assert "custom" in row
    assert XSS not in page
    assert html.escape(XSS) in row
    (event,) = [e for e in site.events(mark) if e["action"] == "roles.created"]
    assert event["subject"] == "role:model-signer"
    assert event["data"] == {"permissions": ["models.read", "models.sign"]}
    # The new role is offered on /users.
    assert 'value="model-signer"' in admin.client.get("/users").text

    builtin = admin.client.post("/roles/create", data=admin.form(name="admin", permission="x"))
    assert error_of(builtin, 400) == "admin is a built-in role"
    none = admin.client.post("/roles/create", data=admin.form(name="empty-role"))
    assert error_of(none, 400) == "a role needs at least one permission"
    unknown = admin.client.post(
        "/roles/create", data=fields(admin, name="odd-role", permission=["ledger.read", "nope"])
    )
    assert error_of(unknown, 400) == "unknown permission 'nope'"
    bad = admin.client.post("/roles/create", data=admin.form(name="Bad Name", permission="x"))
    assert "must be 2-64 of a-z 0-9 -" in error_of(bad, 400)
    assert [a for _, a, _ in site.actions(mark)] == ["roles.created"]
