"""/keys end to end: a secret is shown once, keys work, rotate and revoke, and a key
never holds more than the person who issues it."""

from __future__ import annotations

import datetime as dt
import re

import httpx

from tests.auth_helpers import bearer
from tests.integration.console.conftest import (
    SETUP_ACTOR,
    Site,
    error_of,
    fields,
    notice_after,
    post,
)
from vallum.identity import accounts, apikeys

SECRET = re.compile(r'<p class="secret" id="new-key-secret">(vk_[0-9a-f]{16}_[A-Za-z0-9_-]+)</p>')
KEY_ID = re.compile(r'<dd class="mono" id="new-key-id">([0-9a-f]{16})</dd>')


def _issued(response: httpx.Response) -> tuple[str, str]:
    """(key id, secret) from the page that shows a new key."""
    assert response.status_code == 200, response.text[:800]
    assert response.headers["cache-control"] == "no-store"
    text = response.text
    assert "Copy the key now: it is shown only once." in text
    secret, key_id = SECRET.search(text), KEY_ID.search(text)
    assert secret is not None and key_id is not None, text[:800]
    assert secret.group(1).startswith(f"vk_{key_id.group(1)}_")
    return key_id.group(1), secret.group(1)


def _row(page: str, key_id: str) -> str:
    found = re.search(rf'<tr id="key-{key_id}">(.*?)</tr>', page, re.S)
    assert found is not None, f"no row for key {key_id}"
    return found.group(1)


def _select(page: str, select_id: str) -> list[str]:
    found = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert found is not None, select_id
    return re.findall(r'<option value="([^"]*)"', found.group(1))


def _scopes_offered(page: str) -> set[str]:
    form = page[page.index('id="create-key"') :]
    return set(re.findall(r'name="scope" value="([^"]+)"', form))


def test_a_key_is_shown_once_works_rotates_and_revokes(site: Site) -> None:
    admin = site.admin()
    accounts.create_service_account(site.ctx.directory, SETUP_ACTOR, "ci-bot", ["auditor"])
    api = site.browser()
    listing = admin.client.get("/keys").text
    assert {"admin", "ci-bot"} <= set(_select(listing, "create-key-owner"))
    mark = site.last_seq()

    created = admin.client.post(
        "/keys/create",
        data=fields(
            admin, name="ci", owner="ci-bot", scope=["controls.read", "ledger.read"], days="30"
        ),
    )
    key_id, secret = _issued(created)
    assert api.get("/api/v1/controls", headers=bearer(secret)).status_code == 200
    listing = admin.client.get("/keys").text
    row = _row(listing, key_id)
    assert "active" in row
    assert "ci-bot" in row
    assert f'id="rotate-{key_id}"' in row
    assert f'id="revoke-{key_id}"' in row

    rotated = admin.client.post(f"/keys/{key_id}/rotate", data=admin.form(overlap="0"))
    new_id, new_secret = _issued(rotated)
    assert f"Key {key_id} rotated" in rotated.text
    assert api.get("/api/v1/controls", headers=bearer(secret)).status_code == 401
    assert api.get("/api/v1/controls", headers=bearer(new_secret)).status_code == 200
    listing = admin.client.get("/keys").text
    assert f'replaced by <span class="mono">{new_id}</span>' in _row(listing, key_id)
    assert "expired" in _row(listing, key_id)

    no_reason = admin.client.post(f"/keys/{new_id}/revoke", data=admin.form(reason=""))
    assert error_of(no_reason, 400) == "the reason is required"
    revoked = admin.client.post(f"/keys/{new_id}/revoke", data=admin.form(reason="leaked in CI"))
    text, listing = notice_after(admin.client, revoked)
    assert text == f"API key {new_id} revoked."
    assert "revoked" in _row(listing, new_id)
    assert f'id="revoke-{new_id}"' not in listing
    assert api.get("/api/v1/controls", headers=bearer(new_secret)).status_code == 401
    assert admin.client.get("/ledger").status_code == 200

    events = site.events(mark)
    ours = [(e["action"], e["subject"]) for e in events if e["action"].startswith("apikeys.")]
    assert ours == [
        ("apikeys.created", f"apikey:{key_id}"),
        ("apikeys.rotated", f"apikey:{new_id}"),
        ("apikeys.revoked", f"apikey:{new_id}"),
    ]
    first = next(e for e in events if e["action"] == "apikeys.created")
    assert first["actor"] == "user:admin"
    assert first["data"]["owner"] == "service:ci-bot"
    assert first["data"]["scopes"] == ["controls.read", "ledger.read"]
    assert next(e for e in events if e["action"] == "apikeys.rotated")["data"]["replaces"] == key_id
    # Each secret was in exactly one response (the page that issued it), never in the ledger.
    for shown, page in ((secret, created), (new_secret, rotated)):
        assert [r for r in site.seen if shown in r.text] == [page]
        assert all(shown.split("_", 2)[2] not in e["raw"] for e in site.events())


def test_a_refused_key_is_explained_on_the_page(site: Site) -> None:
    admin = site.admin()
    accounts.create_service_account(site.ctx.directory, SETUP_ACTOR, "ci-bot", ["auditor"])

    def create(**values: str | list[str]) -> httpx.Response:
        form: dict[str, str | list[str]] = {"name": "k", "owner": "ci-bot", "days": "30"}
        form.update({"scope": "ledger.read", **values})
        return post(admin, "/keys/create", **form)

    expected = "the lifetime in days must be a whole number from 1 to 365"
    assert error_of(create(days="0"), 400) == expected
    assert error_of(create(days="366"), 400) == expected
    assert error_of(create(days="ten"), 400) == expected
    assert error_of(create(scope=[]), 400) == "a key needs at least one scope (a permission)"
    beyond = create(scope="keys.create")
    assert error_of(beyond, 400) == (
        "ci-bot does not hold keys.create; a key cannot exceed its owner"
    )
    assert error_of(create(owner="ghost"), 404) == "no principal 'ghost'"
    assert error_of(create(name="a b"), 400).startswith("key name 'a b' must be")
    assert apikeys.list_keys(site.ctx.directory) == []


def test_a_key_never_holds_more_than_the_person_issuing_it(site: Site) -> None:
    d = site.ctx.directory
    dev = site.person("app-developer")
    accounts.create_service_account(d, SETUP_ACTOR, "dev-bot", ["app-developer"])
    admin_key = apikeys.create_key(
        d,
        SETUP_ACTOR,
        name="admin-key",
        owner="admin",
        scopes=["users.manage"],
        expires_in=dt.timedelta(days=1),
    )
    page = dev.client.get("/keys").text
    assert _scopes_offered(page) == {
        "gateway.use",
        "keys.read",
        "keys.create",
        "keys.rotate",
        "keys.revoke",
        "models.read",
        "controls.read",
        "access.request",
    }
    assert set(_select(page, "create-key-owner")) == {dev.username, "dev-bot"}
    mark = site.last_seq()

    def create(owner: str, scope: str) -> httpx.Response:
        return post(dev, "/keys/create", name="mine", owner=owner, scope=scope, days="7")

    too_much = create(dev.username, "users.manage")
    assert error_of(too_much, 403) == (
        "a key cannot hold permissions you do not hold: users.manage"
    )
    someone_else = create("admin", "controls.read")
    assert error_of(someone_else, 403) == (
        "only holders of users.manage may issue keys owned by other people"
    )
    stolen = dev.client.post(f"/keys/{admin_key.info.id}/rotate", data=dev.form(overlap="24"))
    assert "you do not hold: users.manage" in error_of(stolen, 403)
    assert error_of(create(dev.username, "nope"), 400) == "unknown permission 'nope'"
    own_key, _ = _issued(create(dev.username, "controls.read"))
    bot_key, _ = _issued(create("dev-bot", "gateway.use"))

    refusals = [e for e in site.events(mark) if e["action"] == "access.refused"]
    assert [(e["subject"], e["outcome"], e["data"]["attempt"]) for e in refusals] == [
        (f"user:{dev.username}", "denied", "apikeys.create"),
        ("user:admin", "denied", "apikeys.create"),
        ("user:admin", "denied", "apikeys.rotate"),
    ]
    assert all(e["data"]["via"] == "console" for e in refusals)
    keys = {k.id: k for k in apikeys.list_keys(d)}
    assert set(keys) == {admin_key.info.id, own_key, bot_key}
    assert keys[admin_key.info.id].status == "active"
    assert keys[admin_key.info.id].replaced_by is None
