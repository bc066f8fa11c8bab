"""Coverage-guided fuzzing of the model scanner (atheris / libFuzzer).

    python fuzz/scan_fuzz.py --seeds fuzz/corpus          # write the seed corpus
    python fuzz/scan_fuzz.py fuzz/corpus -max_total_time=600 -timeout=10 -rss_limit_mb=2048
    VALLUM_FUZZ_TARGET=pickle python fuzz/scan_fuzz.py ...   # the pickle VM alone

Whatever the bytes, ``scan_bytes`` (or, with ``VALLUM_FUZZ_TARGET=pickle``,
``scan_pickle_stream``) must return a verdict: never raise, never hang
(libFuzzer's ``-timeout``), never grow without bound (``-rss_limit_mb``). An input
that breaks this is a crash file libFuzzer writes to the working directory.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import sys
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

#: The slowest a single input of at most ``-max_len`` bytes may take.
PER_INPUT_SECONDS = 2.0


def seeds() -> dict[str, bytes]:
    """Small valid files of every scanned kind, for the fuzzer to mutate."""
    value = {"w": [1.0, 2.0], "name": "x", "t": (1, b"ab"), "s": {1, 2}, "od": OrderedDict(a=1)}
    out = {f"plain_p{p}.pkl": pickle.dumps(value, protocol=p) for p in range(6)}
    out["getattr.pkl"] = pickle.dumps("abc".upper, protocol=4)
    state = (
        b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x06\x00\x00\x00weightq\x02"
        b"ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04"
        b"ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07K\x04tq\x08"
        b"QK\x00K\x04\x85q\tK\x01\x85q\n\x89h\x00)Rq\x0btq\x0cRq\rs."
    )
    out["state_dict.pkl"] = state
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", state)
        zf.writestr("archive/data/0", struct.pack("<4f", 1, 2, 3, 4))
        zf.writestr("archive/version", "3\n")
    out["torch.pt"] = buf.getvalue()
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
    header += b" " * (63 - len(header) % 64) + b"\n"
    out["array.npy"] = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(8)
    return out


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "--seeds":
        target = Path(argv[2])
        target.mkdir(parents=True, exist_ok=True)
        for name, data in seeds().items():
            (target / name).write_bytes(data)
        return
    import atheris

    with atheris.instrument_imports():
        from vallum.scan.pickle_vm import scan_pickle_stream
        from vallum.scan.service import scan_bytes
        from vallum.scan.verdict import Report, Verdict

    pickle_only = os.environ.get("VALLUM_FUZZ_TARGET", "all") == "pickle"

    def test_one_input(data: bytes) -> None:
        started = time.monotonic()
        if pickle_only:
            report = Report()
            scan_pickle_stream(data, "fuzz", report)
            verdict = report.verdict()
        else:
            verdict = scan_bytes(data, "fuzz").verdict
        if verdict not in (Verdict.SAFE, Verdict.UNSAFE, Verdict.UNSCANNABLE):
            raise AssertionError(f"no verdict: {verdict!r}")
        elapsed = time.monotonic() - started
        if elapsed > PER_INPUT_SECONDS:
            raise AssertionError(f"{len(data)} bytes took {elapsed:.1f} s")

    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
