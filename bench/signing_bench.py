"""Model signing benchmark: Vallum sign/verify of a 1 GiB multi-file model against the
floor of two ``openssl dgst -sha256`` processes in parallel, with model_signing's CLI.

    make bench                                   # with the other benchmarks
    python bench/signing_bench.py                # 1 GiB, 3 rounds
    python bench/signing_bench.py --size-mib 256 --rounds 1

The model (four large weight shards plus small config/tokenizer files, as a
Hugging Face checkpoint is laid out) is written to a temporary directory and read
once so that every contender hashes from the page cache. Each round measures, one
after the other: the floor (the files split by size between two openssl processes
running at once: SHA-256 of every byte on both cores), Vallum's ``sign_model`` and
``verify_model`` in-process, the ``vallum sign`` / ``vallum verify`` CLI (which adds
interpreter start-up and imports), and ``model_signing sign key`` / ``verify key``.
The median of the rounds is printed as a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vallum.signing import sign_model, verify_model

BIN = Path(sys.executable).parent
MIB = 1 << 20


def build_model(root: Path, size_mib: int) -> Path:
    """Four equal weight shards take all but 24 MiB; small files make up the rest."""
    model = root / "model"
    model.mkdir()
    small = {
        "config.json": 4096,
        "generation_config.json": 512,
        "tokenizer.json": 16 * MIB,
        "tokenizer_config.json": 8192,
        "special_tokens_map.json": 1024,
        "model.safetensors.index.json": 64 * 1024,
        "vocab.txt": 8 * MIB - 78336,
    }
    shard = (size_mib * MIB - sum(small.values())) // 4
    sizes = {f"model-0000{i}-of-00004.safetensors": shard for i in range(1, 5)} | small
    block = os.urandom(8 * MIB)
    for name, size in sizes.items():
        with open(model / name, "wb") as f:
            left = size
            while left > 0:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n
                block = block[1:] + block[:1]  # different bytes in every block
    return model


def warm(model: Path) -> None:
    for p in model.iterdir():
        with open(p, "rb", buffering=0) as f:
            while f.read(16 * MIB):
                pass


def split_two(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """Largest first onto the lighter of two lists (how Vallum's pool schedules too)."""
    a: list[Path] = []
    b: list[Path] = []
    load = [0, 0]
    for p in sorted(files, key=lambda p: p.stat().st_size, reverse=True):
        i = 0 if load[0] <= load[1] else 1
        (a if i == 0 else b).append(p)
        load[i] += p.stat().st_size
    return a, b


def floor(model: Path) -> float:
    a, b = split_two([p for p in model.iterdir() if p.name != "model.sig"])
    start = time.perf_counter()
    procs = [
        subprocess.Popen(["openssl", "dgst", "-sha256", *map(str, part)], stdout=subprocess.DEVNULL)
        for part in (a, b)
        if part
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("openssl dgst failed")
    return time.perf_counter() - start


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(args: list[str | Path]) -> None:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {done.stderr.strip()[-400:]}")


def make_key(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / "bench.key", directory / "bench.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vallum-signing-bench-") as tmp:
        root = Path(tmp)
        private, public = make_key(root)
        model = build_model(root, opts.size_mib)
        sig = model / "model.sig"
        warm(model)
        # Load model_signing and sigstore once, so the in-process figures are hashing
        # and signing, not imports.
        tiny = root / "tiny"
        tiny.mkdir()
        (tiny / "f").write_bytes(b"x")
        sign_model(tiny, private_key=private)
        verify_model(tiny, public_key=public)

        vallum = BIN / "vallum"
        ms = BIN / "model_signing"
        data_dir = root / "no-data"  # uninitialised: nothing is recorded
        results: dict[str, list[float]] = {}
        contenders: list[tuple[str, Callable[[], object]]] = [
            ("floor", lambda: None),
            ("vallum sign_model", lambda: sign_model(model, private_key=private)),
            ("vallum verify_model", lambda: verify_model(model, public_key=public)),
            (
                "vallum sign (CLI)",
                lambda: run(
                    [vallum, "--data-dir", data_dir, "sign", model, "--private-key", private]
                ),
            ),
            (
                "vallum verify (CLI)",
                lambda: run(
                    [vallum, "--data-dir", data_dir, "verify", model, "--public-key", public]
                ),
            ),
            (
                "vallum sign (CLI), 1-byte model: start-up cost",
                lambda: run(
                    [vallum, "--data-dir", data_dir, "sign", tiny, "--private-key", private]
                ),
            ),
            (
                "model_signing sign key (CLI)",
                lambda: run(
                    [ms, "sign", "key", model, "--private_key", private, "--signature", sig]
                ),
            ),
            (
                "model_signing verify key (CLI)",
                lambda: run(
                    [ms, "verify", "key", model, "--signature", sig, "--public_key", public]
                ),
            ),
        ]
        for r in range(opts.rounds):
            for name, fn in contenders:
                seconds = floor(model) if name == "floor" else timed(fn)
                results.setdefault(name, []).append(seconds)
            print(f"round {r + 1}/{opts.rounds} done", file=sys.stderr)

    med = {name: statistics.median(v) for name, v in results.items()}
    base = med["floor"]
    gib = opts.size_mib / 1024
    print(
        f"### {dt.datetime.now(dt.UTC).date()}, {platform.processor() or platform.machine()} "
        f"({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"{subprocess.run(['openssl', 'version'], capture_output=True, text=True).stdout.strip()}"
    )
    print()
    print(
        f"`python bench/signing_bench.py --size-mib {opts.size_mib} --rounds {opts.rounds}`: "
        f"{gib:g} GiB in 11 files, page cache warm, median of {opts.rounds} rounds"
    )
    print()
    print("| what | seconds | GiB/s | x floor |")
    print("| --- | --- | --- | --- |")
    for name, seconds in med.items():
        print(f"| {name} | {seconds:.3f} | {gib / seconds:.2f} | {seconds / base:.2f} |")
    pair = med["vallum sign_model"] + med["vallum verify_model"]
    cli = med["vallum sign (CLI)"] + med["vallum verify (CLI)"]
    peer = med["model_signing sign key (CLI)"] + med["model_signing verify key (CLI)"]
    print()
    print(f"- sign+verify (API) / 2 x floor: {pair / (2 * base):.2f} (target <= 1.2)")
    startup = med["vallum sign (CLI), 1-byte model: start-up cost"]
    print(f"- sign+verify (CLI) / 2 x floor: {cli / (2 * base):.2f}")
    print(f"- sign+verify (CLI) less start-up / 2 x floor: {(cli - 2 * startup) / (2 * base):.2f}")
    print(f"- model_signing CLI sign+verify / 2 x floor: {peer / (2 * base):.2f}")
    print(f"- raw rounds: { {k: [round(x, 3) for x in v] for k, v in results.items()} }")


if __name__ == "__main__":
    main()
