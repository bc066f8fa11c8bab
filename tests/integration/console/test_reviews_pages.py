"""/reviews end to end: start a campaign, certify and revoke items, close it."""

from __future__ import annotations

import datetime as dt
import html
import re

from tests.integration.console.conftest import SETUP_ACTOR, Site, error_of, notice_after
from vallum.identity import accounts, apikeys

XSS = "<script>alert(1)</script>"
ITEM = re.compile(r'<tr id="item-(\d+)">(.*?)</tr>', re.S)


def _items(page: str) -> dict[int, str]:
    return {int(i): row for i, row in ITEM.findall(page)}


def _find(items: dict[int, str], *needles: str) -> int:
    (found,) = [i for i, row in items.items() if all(n in row for n in needles)]
    return found


def test_a_review_campaign_from_start_to_close(site: Site) -> None:
    d = site.ctx.directory
    admin = site.admin()
    dev = site.person("app-developer")
    auditor = site.person("auditor")
    accounts.create_service_account(d, SETUP_ACTOR, "etl-bot", ["auditor"])
    key = apikeys.create_key(
        d,
        SETUP_ACTOR,
        name="etl",
        owner="etl-bot",
        scopes=["ledger.read"],
        expires_in=dt.timedelta(days=30),
    )
    assert 'id="start-review"' not in auditor.client.get("/reviews").text
    mark = site.last_seq()

    started = admin.client.post("/reviews/start", data=admin.form(name=f"Q3 {XSS}", days="30"))
    assert started.headers["location"].startswith("/reviews/1?")
    text, page = notice_after(admin.client, started)
    assert text == "Review campaign 1 started."
    assert XSS not in page
    assert html.escape(f"Q3 {XSS}") in page
    listing = admin.client.get("/reviews").text
    assert html.escape(f"Q3 {XSS}") in listing
    assert XSS not in listing

    items = _items(page)
    mine = _find(items, "user:admin", "grant")
    devs = _find(items, f"user:{dev.username}", "role app-developer")
    bots_grant = _find(items, "service:etl-bot", "grant")
    bots_key = _find(items, "service:etl-bot", key.info.id)
    assert f'id="certify-{mine}"' not in items[mine]
    assert "your own access" in items[mine]
    assert f'<button type="submit" id="certify-{devs}">Certify</button>' in items[devs]
    assert f'id="revoke-item-{bots_key}"' in items[bots_key]
    assert 'id="certify-' not in auditor.client.get("/reviews/1").text  # may read, not decide

    certified = admin.client.post(f"/reviews/1/items/{devs}/certify", data=admin.form())
    assert notice_after(admin.client, certified)[0] == f"Item {devs} certified."
    short = admin.client.post(f"/reviews/1/items/{bots_key}/revoke", data=admin.form(reason="x"))
    assert error_of(short, 400) == "the reason must be 10-1000 characters"
    revoked = admin.client.post(
        f"/reviews/1/items/{bots_key}/revoke", data=admin.form(reason="nobody runs the ETL now")
    )
    assert notice_after(admin.client, revoked)[0].startswith(f"Item {bots_key} revoked")
    assert apikeys.get_key(d, key.info.id).status == "revoked"
    own = admin.client.post(f"/reviews/1/items/{mine}/certify", data=admin.form())
    assert error_of(own, 403) == "four eyes: you cannot review your own access"
    stray = admin.client.post("/reviews/1/items/9999/certify", data=admin.form())
    assert error_of(stray, 404) == "campaign 1 has no item 9999"
    assert admin.client.get("/reviews/999", headers={"accept": "text/html"}).status_code == 404

    closed = admin.client.post("/reviews/1/close", data=admin.form())
    text, page = notice_after(admin.client, closed)
    assert text == "Campaign 1 closed."
    section = re.search(r'<section class="card" id="unreviewed">(.*?)</section>', page, re.S)
    assert section is not None
    shown = {int(i) for i in re.findall(r'<li id="unreviewed-(\d+)">', section.group(1))}
    assert shown == set(items) - {devs, bots_key}
    assert {mine, bots_grant} <= shown
    assert 'id="certify-' not in page
    assert 'id="close-review"' not in page
    late = admin.client.post(f"/reviews/1/items/{bots_grant}/certify", data=admin.form())
    assert error_of(late, 400) == "campaign 1 is closed; start a new one"
    twice = admin.client.post("/reviews/1/close", data=admin.form())
    assert error_of(twice, 400) == "campaign 1 is already closed"

    assert [(actor, action) for actor, action, _ in site.actions(mark)] == [
        ("user:admin", "reviews.started"),
        ("user:admin", "access.reviewed"),
        ("user:admin", "apikeys.revoked"),
        ("user:admin", "access.reviewed"),
        ("user:admin", "access.refused"),
        ("user:admin", "reviews.closed"),
    ]
    events = site.events(mark)
    closing = next(e for e in events if e["action"] == "reviews.closed")
    assert set(closing["data"]["unreviewed"]) == shown
    assert closing["outcome"] == "failure"  # items were left unreviewed
    decided = [e for e in events if e["action"] == "access.reviewed"]
    assert [(e["data"]["item"], e["data"]["decision"]) for e in decided] == [
        (devs, "certified"),
        (bots_key, "revoked"),
    ]
    assert all(e["data"]["via"] == "console" for e in decided)


def test_a_refused_campaign_is_explained(site: Site) -> None:
    admin = site.admin()
    nameless = admin.client.post("/reviews/start", data=admin.form(name=" ", days="30"))
    assert error_of(nameless, 400) == "a campaign name must be 1-255 characters"
    late = admin.client.post("/reviews/start", data=admin.form(name="Q3", days="400"))
    assert error_of(late, 400) == "the deadline in days must be a whole number from 1 to 366"
    assert "No review campaigns yet." in admin.client.get("/reviews").text
