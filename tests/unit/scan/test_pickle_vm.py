"""Hand-made pickles: the static VM resolves imports without executing anything."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest

from vallum.scan import FileResult, Verdict
from vallum.scan.allowlist import is_allowed, is_denied
from vallum.scan.classify import Kind, classify
from vallum.scan.service import scan_bytes, scan_file


def _short_str(s: str) -> bytes:
    raw = s.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _scan(data: bytes) -> FileResult:
    return scan_bytes(data, "mem")


def _imports(result: FileResult) -> list[str]:
    return [f.message for f in result.findings if f.rule == "pickle.import.not-allowed"]


def test_plain_data_pickle_is_safe() -> None:
    data = pickle.dumps({"lr": 0.1, "layers": [1, 2, 3], "name": "x", "s": {1, 2}}, protocol=4)
    assert _scan(data).verdict is Verdict.SAFE


def test_stack_global_with_strings_from_memo() -> None:
    # Module and name are memoised first, popped, then fetched back with BINGET.
    data = (
        b"\x80\x04"
        + _short_str("os")
        + b"\x94"  # MEMOIZE -> 0
        + _short_str("system")
        + b"\x94"  # MEMOIZE -> 1
        + b"00"  # POP POP
        + b"h\x00h\x01"  # BINGET 0, BINGET 1
        + b"\x93"  # STACK_GLOBAL
        + _short_str("true")
        + b"\x85R."
    )
    result = _scan(data)
    assert result.verdict is Verdict.UNSAFE
    assert any("os.system" in m for m in _imports(result))
    assert any(f.severity == "critical" for f in result.findings)


def test_protocol_0_global() -> None:
    result = _scan(b"cos\nsystem\n(S'true'\ntR.")
    assert result.format == "pickle"
    assert result.verdict is Verdict.UNSAFE


def test_second_pickle_in_a_stream_is_scanned() -> None:
    first = pickle.dumps({"a": 1}, protocol=2)
    second = b"\x80\x02csubprocess\nPopen\nX\x04\x00\x00\x00true\x85R."
    result = _scan(first + second)
    assert result.verdict is Verdict.UNSAFE
    assert any("subprocess.Popen" in m for m in _imports(result))


def test_truncated_stream_is_unscannable() -> None:
    data = pickle.dumps({"a": [1, 2, 3], "b": "text"}, protocol=4)
    result = _scan(data[: len(data) // 2])
    assert result.verdict is Verdict.UNSCANNABLE
    assert any(f.rule == "pickle.malformed" for f in result.findings)


def test_truncated_malicious_stream_is_still_unsafe() -> None:
    result = _scan(b"\x80\x02cos\nsystem\nX\x04\x00\x00")
    assert result.verdict is Verdict.UNSAFE


def test_garbage_is_unscannable() -> None:
    result = _scan(bytes(range(7, 200)) * 3)
    assert result.verdict is Verdict.UNSCANNABLE
    assert result.format == "unknown"


def test_malformed_protocol_2_garbage_is_unscannable() -> None:
    result = _scan(b"\x80\x02\xff\xfe\xfd")
    assert result.verdict is Verdict.UNSCANNABLE


def test_dotted_name_is_judged_on_the_full_target() -> None:
    # module "builtins" is allowlisted for a few names; "os.path.join" via a dotted name is not.
    result = _scan(b"\x80\x04" + _short_str("os") + _short_str("path.join") + b"\x93)R.")
    assert result.verdict is Verdict.UNSAFE
    assert any("os.path.join" in m for m in _imports(result))
    assert not is_allowed("sklearn.linear_model", "LogisticRegression.__init__")


def test_getattr_on_an_import_is_unsafe_but_on_a_literal_is_not() -> None:
    safe = b"\x80\x04" + _short_str("builtins") + _short_str("getattr") + b"\x93"
    safe += _short_str("hello") + _short_str("upper") + b"\x86R."
    assert _scan(safe).verdict is Verdict.SAFE
    bad = b"\x80\x04" + _short_str("builtins") + _short_str("getattr") + b"\x93"
    bad += _short_str("posixpath") + _short_str("join") + b"\x93"
    bad += _short_str("system") + b"\x86R."
    assert _scan(bad).verdict is Verdict.UNSAFE


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sklearn.linear_model", "LogisticRegression"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch", "FloatStorage"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("collections", "OrderedDict"),
    ],
)
def test_allowlist_admits_what_formats_need(module: str, name: str) -> None:
    assert is_allowed(module, name)


@pytest.mark.parametrize(
    ("module", "name"),
    [("sklearn.utils", "eval"), ("sklearn.x", "load"), ("builtins", "eval"), ("os", "system")],
)
def test_allowlist_refuses_functions(module: str, name: str) -> None:
    assert not is_allowed(module, name)


def test_denylist_covers_submodules_and_builtins() -> None:
    assert is_denied("os.path", "join")
    assert is_denied("builtins", "__import__")
    assert not is_denied("mypackage", "Thing")


def test_npy_with_object_dtype_scans_its_pickle() -> None:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - len(header) % 64) + b"\n"
    payload = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload
    result = _scan(data)
    assert result.format == "numpy-npy"
    assert result.verdict is Verdict.UNSAFE


def test_classify_by_content() -> None:
    assert classify(b"\x80\x04\x95") is Kind.PICKLE
    assert classify(b"PK\x03\x04rest") is Kind.ZIP
    assert classify(b"GGUF\x03\x00") is Kind.GGUF
    assert classify(b"\x89HDF\r\n\x1a\nxx") is Kind.HDF5
    assert classify(struct.pack("<Q", 20) + b'{"a": 1}') is Kind.SAFETENSORS
    assert classify(b"hello world") is Kind.UNKNOWN


def test_size_limit_and_unreadable(tmp_path: Path) -> None:
    p = tmp_path / "big.pkl"
    p.write_bytes(pickle.dumps(list(range(100))))
    big = scan_file(p, max_bytes=10)
    assert big.verdict is Verdict.UNSCANNABLE
    assert big.findings[0].rule == "file.too-large"


def test_parser_bug_becomes_unscannable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from vallum.scan import dispatch

    def boom(*_: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(dispatch, "scan_pickle_stream", boom)
    p = tmp_path / "x.pkl"
    p.write_bytes(pickle.dumps([1]))
    result = scan_file(p)
    assert result.verdict is Verdict.UNSCANNABLE
    assert result.findings[0].rule == "scanner.error"


def test_verdict_has_no_truthiness_shortcut() -> None:
    assert "__bool__" not in vars(Verdict)
