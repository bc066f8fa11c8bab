"""Envelope encryption: field ciphertexts, data keys, sealed values, shredding."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select, text

from tests.helpers import tamper
from tests.unit.crypto.support import (
    assert_absent,
    events_named,
    flip,
    fresh_keyring,
    key_row,
)
from vallum.context import Context
from vallum.crypto.keyring import FIELD_VERSION
from vallum.errors import IntegrityError, KeyDestroyedError, NotFoundError
from vallum.store.models import SealedValue

HEADER = 1 + 16 + 12
TAG = 16


def test_encrypt_decrypt_round_trip(ctx: Context) -> None:
    key_id = ctx.keyring.new_data_key("test.fields")
    for plaintext in (b"", b"x", "PHI: é ü 漢字".encode(), bytes(range(256)) * 400):
        ct = ctx.keyring.encrypt(plaintext, key_id, b"table:row:1")
        assert ct[:1] == FIELD_VERSION
        assert ctx.keyring.key_id_of(ct) == key_id
        assert len(ct) == HEADER + len(plaintext) + TAG
        if len(plaintext) >= 8:
            assert plaintext not in ct
        assert ctx.keyring.decrypt(ct, b"table:row:1") == plaintext
        # A process with a cold cache unwraps the key through the master key.
        assert fresh_keyring(ctx).decrypt(ct, b"table:row:1") == plaintext
    # Same plaintext twice: fresh nonce, different ciphertext.
    a = ctx.keyring.encrypt(b"same", key_id, b"aad")
    b = ctx.keyring.encrypt(b"same", key_id, b"aad")
    assert a != b
    assert a[17:HEADER] != b[17:HEADER]


def test_tampered_or_misplaced_ciphertext_is_refused(ctx: Context) -> None:
    key_id = ctx.keyring.new_data_key("test.fields")
    other_key = ctx.keyring.new_data_key("test.fields")
    ct = ctx.keyring.encrypt(b"a secret value of some length", key_id, b"users:7:email")
    decrypt = ctx.keyring.decrypt

    # Wrong associated data: the value was moved to another row or column.
    for aad in (b"users:8:email", b"users:7:phone", b"", b"users:7:email\x00"):
        with pytest.raises(IntegrityError, match="failed authentication"):
            decrypt(ct, aad)

    # Any flipped bit in the nonce, body or tag.
    for i in (17, HEADER - 1, HEADER, HEADER + 5, len(ct) - TAG, len(ct) - 1):
        with pytest.raises(IntegrityError):
            decrypt(flip(ct, i), b"users:7:email")

    # Truncated or malformed.
    for bad in (b"", b"\x01", ct[:17], ct[:HEADER], ct[: HEADER + TAG - 1], ct[:-1]):
        with pytest.raises(IntegrityError):
            decrypt(bad, b"users:7:email")
    with pytest.raises(IntegrityError, match="malformed"):
        decrypt(b"\x02" + ct[1:], b"users:7:email")
    with pytest.raises(IntegrityError):
        decrypt(ct + b"\x00", b"users:7:email")

    # The key id inside the value is authenticated too: pointing it at another
    # live key, or at a key that does not exist, fails as tampering.
    moved = ct[:1] + uuid.UUID(hex=other_key).bytes + ct[17:]
    with pytest.raises(IntegrityError):
        decrypt(moved, b"users:7:email")
    nowhere = ct[:1] + uuid.uuid4().bytes + ct[17:]
    with pytest.raises(IntegrityError) as caught:
        decrypt(nowhere, b"users:7:email")
    assert not isinstance(caught.value, KeyDestroyedError)

    assert decrypt(ct, b"users:7:email") == b"a secret value of some length"


def test_wrapped_key_cannot_be_moved_to_another_row(ctx: Context) -> None:
    """The wrapping binds the data key id: a DBA copying a wrapped key to another
    row (to make old ciphertext readable under a key they control) gets nothing."""
    victim = ctx.keyring.new_data_key("test.victim")
    target = ctx.keyring.new_data_key("test.target")
    victim_ct = ctx.keyring.encrypt(b"victim data", victim, b"v")
    target_ct = ctx.keyring.encrypt(b"target data", target, b"t")
    wrapped = key_row(ctx.engine, victim).wrapped

    tamper(ctx.engine, "UPDATE data_keys SET wrapped = :w WHERE id = :id", w=wrapped, id=target)
    cold = fresh_keyring(ctx)
    with pytest.raises(IntegrityError, match="failed to unwrap"):
        cold.data_key(target)
    with pytest.raises(IntegrityError):
        cold.decrypt(target_ct, b"t")
    # Rewriting the victim's ciphertext to name the target key fails as well.
    renamed = victim_ct[:1] + uuid.UUID(hex=target).bytes + victim_ct[17:]
    with pytest.raises(IntegrityError):
        cold.decrypt(renamed, b"v")
    assert cold.decrypt(victim_ct, b"v") == b"victim data"

    # Changing the recorded master key id breaks the unwrap, not the data.
    tamper(
        ctx.engine,
        "UPDATE data_keys SET master_key_id = 'mk-0000000000000000' WHERE id = :id",
        id=victim,
    )
    with pytest.raises(IntegrityError, match="not in"):
        fresh_keyring(ctx).decrypt(victim_ct, b"v")


def test_sealed_values(ctx: Context) -> None:
    kr = ctx.keyring
    kr.seal("test.api_token", b"first secret")
    assert kr.unseal("test.api_token") == b"first secret"
    assert fresh_keyring(ctx).unseal("test.api_token") == b"first secret"
    with pytest.raises(NotFoundError):
        kr.unseal("test.nothing")

    with ctx.engine.connect() as conn:
        first = conn.execute(select(SealedValue).where(SealedValue.name == "test.api_token")).one()
    assert b"first secret" not in first.ciphertext
    assert key_row(ctx.engine, first.data_key_id).purpose == "sealed:test.api_token"

    # Overwriting re-encrypts under a new key and shreds the old one.
    kr.seal("test.api_token", b"second secret")
    assert kr.unseal("test.api_token") == b"second secret"
    with ctx.engine.connect() as conn:
        second = conn.execute(select(SealedValue).where(SealedValue.name == "test.api_token")).one()
    assert second.data_key_id != first.data_key_id
    old = key_row(ctx.engine, first.data_key_id)
    assert old.wrapped is None
    assert old.master_key_id is None
    assert old.destroyed_at is not None
    # A copy of the old ciphertext (from a backup, say) is now unrecoverable.
    with pytest.raises(KeyDestroyedError):
        fresh_keyring(ctx).decrypt(first.ciphertext, b"sealed:test.api_token")
    with pytest.raises(KeyDestroyedError):
        kr.decrypt(first.ciphertext, b"sealed:test.api_token")

    # A sealed value is bound to its name: swapping ciphertexts between names fails.
    kr.seal("test.other", b"other secret")
    tamper(
        ctx.engine,
        "UPDATE sealed_values SET ciphertext = :c WHERE name = 'test.other'",
        c=second.ciphertext,
    )
    with pytest.raises(IntegrityError):
        fresh_keyring(ctx).unseal("test.other")


def test_shred_destroys_the_key_and_records_it_without_key_material(ctx: Context) -> None:
    key_id = ctx.keyring.new_data_key("test.shred")
    ct = ctx.keyring.encrypt(b"to be forgotten", key_id, b"aad")
    dek = ctx.keyring.data_key(key_id)
    wrapped = key_row(ctx.engine, key_id).wrapped
    assert wrapped is not None

    ctx.keyring.shred(key_id, ctx.record, reason="erasure request #42")

    for kr in (ctx.keyring, fresh_keyring(ctx)):
        with pytest.raises(KeyDestroyedError, match="destroyed"):
            kr.decrypt(ct, b"aad")
        with pytest.raises(KeyDestroyedError):
            kr.data_key(key_id)
    row = key_row(ctx.engine, key_id)
    assert row.wrapped is None
    assert row.master_key_id is None
    assert row.destroyed_at is not None
    with ctx.engine.connect() as conn:
        null_count = conn.execute(
            text("SELECT count(*) FROM data_keys WHERE id = :id AND wrapped IS NULL"),
            {"id": key_id},
        ).scalar_one()
    assert null_count == 1
    assert key_id not in list(ctx.keyring.live_key_ids())

    shredded = [e for e in events_named(ctx, "keys.shredded") if e.subject == f"data_key:{key_id}"]
    assert len(shredded) == 1
    event = shredded[0]
    assert event.outcome == "success"
    assert event.data_obj() == {"purpose": "test.shred", "reason": "erasure request #42"}
    whole = json.dumps(event.to_dict()).encode()
    assert_absent(whole, dek, "the keys.shredded event")
    assert_absent(whole, bytes(wrapped), "the keys.shredded event")

    # Shredding again changes nothing that was recorded about the destruction.
    ctx.keyring.shred(key_id)
    assert key_row(ctx.engine, key_id).destroyed_at == row.destroyed_at
    with pytest.raises(NotFoundError):
        ctx.keyring.shred(uuid.uuid4().hex)
