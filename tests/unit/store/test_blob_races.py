"""Two writers storing the same content at once end with one readable blob."""

from __future__ import annotations

import threading

from vallum.context import Context


def test_concurrent_puts_of_same_content(ctx: Context) -> None:
    payload = b"same model weights " * 70_000  # > 1 MiB: several chunks
    results = []
    errors: list[BaseException] = []

    def put() -> None:
        try:
            results.append(ctx.blobs.put_bytes(payload))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({r.address for r in results}) == 1
    assert sum(r.created for r in results) >= 1
    assert ctx.blobs.get_bytes(results[0].address) == payload
    staged = list((ctx.settings.data_dir / "blobs").rglob("staging-*"))
    assert staged == []
