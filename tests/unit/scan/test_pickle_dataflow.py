"""The pickle VM on what CPython itself writes: every benign value is safe, at every protocol."""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import pickle
import pickletools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vallum.scan import Verdict
from vallum.scan.pickle_vm import MAX_ITEMS, scan_pickle_stream
from vallum.scan.service import scan_bytes
from vallum.scan.verdict import Report

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=300)
    | st.binary(max_size=300),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=5)
        | st.frozensets(st.integers(), max_size=4)
    ),
    max_leaves=30,
)


def _scan(data: bytes) -> Report:
    report = Report()
    scan_pickle_stream(data, "mem", report)
    return report


@settings(max_examples=150, deadline=None)
@given(value=plain, protocol=st.sampled_from(list(PROTOCOLS)))
def test_plain_values_are_safe_at_every_protocol(value: object, protocol: int) -> None:
    data = pickle.dumps(value, protocol=protocol)
    report = _scan(data)
    assert report.verdict() is Verdict.SAFE, report.findings


@settings(max_examples=60, deadline=None)
@given(values=st.lists(plain, min_size=1, max_size=4), protocol=st.sampled_from(list(PROTOCOLS)))
def test_every_pickle_of_a_stream_is_found(values: list[object], protocol: int) -> None:
    data = b"".join(pickle.dumps(v, protocol=protocol) for v in values)
    report = Report()
    assert scan_pickle_stream(data, "mem", report) == len(values)
    ends = sum(1 for op, _, _ in pickletools.genops(data) if op.name == "STOP")
    assert ends >= 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_standard_library_containers_are_safe(protocol: int) -> None:
    value = {
        "od": collections.OrderedDict(a=1),
        "dd": collections.defaultdict(list, {"x": [1]}),
        "deque": collections.deque([1, 2]),
        "counter": collections.Counter("aab"),
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "delta": datetime.timedelta(days=2),
        "dec": decimal.Decimal("1.25"),
        "complex": 1 + 2j,
        "sets": ({1, 2}, frozenset({3})),
        "bytes": (b"\x00" * 70000, bytearray(b"ab")),
        "range": range(3),
        "slice": slice(1, 5, 2),
        "args": argparse.Namespace(lr=0.1, epochs=3),
        "bound": "hello".upper,
    }
    report = _scan(pickle.dumps(value, protocol=protocol))
    assert report.verdict() is Verdict.SAFE, report.findings


def test_protocol_5_bytearray8_and_frames_are_skipped_not_copied() -> None:
    data = pickle.dumps({"w": bytearray(3 << 20), "b": b"\x01" * (2 << 20)}, protocol=5)
    started = time.perf_counter()
    report = _scan(data)
    assert report.verdict() is Verdict.SAFE
    assert time.perf_counter() - started < 1.0


def test_getattr_on_a_constant_is_safe_but_stored_getattr_is_not() -> None:
    assert _scan(pickle.dumps("abc".upper, protocol=4)).verdict() is Verdict.SAFE
    stored = b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93."
    report = _scan(stored)
    assert report.verdict() is Verdict.UNSAFE
    assert any("getattr" in f.message for f in report.findings)


def test_copyreg_reconstructor_needs_an_allowlisted_class() -> None:
    ok = pickle.dumps(argparse.Namespace(a=1), protocol=0)
    assert b"copy_reg" in ok and _scan(ok).verdict() is Verdict.SAFE
    bad = ok.replace(b"argparse\nNamespace", b"os\n_wrap_close")
    report = _scan(bad)
    assert report.verdict() is Verdict.UNSAFE


def test_truncated_stream_is_unscannable_not_an_error() -> None:
    data = pickle.dumps(list(range(1000)), protocol=4)
    for cut in (3, len(data) // 2, len(data) - 1):
        assert _scan(data[:cut]).verdict() is Verdict.UNSCANNABLE


def test_time_budget_makes_the_stream_unscannable() -> None:
    report = Report()
    scan_pickle_stream(pickle.dumps([1] * 10, protocol=4), "mem", report, deadline=0.0)
    assert report.verdict() is Verdict.UNSCANNABLE
    assert any("time budget" in f.message for f in report.findings)


def test_too_many_values_is_unscannable() -> None:
    data = b"\x80\x04" + b"N" * (MAX_ITEMS + (2 << 20)) + b"."
    result = scan_bytes(data, "mem")
    assert result.verdict is Verdict.UNSCANNABLE
    assert any("too complex" in f.message for f in result.findings)


def test_exponential_shared_tuples_do_not_blow_up() -> None:
    # t0 = getattr; t(n+1) = (tn, tn) via DUP; escaping t40 must not walk 2**40 nodes.
    body = b"\x8c\x08builtins\x8c\x07getattr\x93" + b"2\x86" * 40 + b"\x85\x8c\x03abc\x86."
    started = time.perf_counter()
    report = _scan(b"\x80\x04" + b"\x8c\x0bcollections\x8c\x0bOrderedDict\x93" + body)
    assert time.perf_counter() - started < 2.0
    assert report.verdict() is Verdict.UNSAFE


def test_findings_are_deduplicated_and_capped() -> None:
    same = b"\x80\x02" + b"cos\nsystem\n0" * 5000 + b"N."
    report = _scan(same)
    assert [f.message for f in report.findings].count(
        "imports os.system, which model formats do not need"
    ) == 1
    many = b"\x80\x02" + b"".join(b"cm%d\nf\n0" % i for i in range(5000)) + b"N."
    report = _scan(many)
    assert report.verdict() is Verdict.UNSAFE
    assert len(report.findings) == 1001
    assert report.findings[-1].rule == "pickle.findings-truncated"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("torch.serialization", "_get_layout"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch.nn.modules.linear", "Linear"),
        ("torch", "bfloat16"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.dtypes", "Float64DType"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("sklearn.tree._tree", "Tree"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("argparse", "Namespace"),
    ],
)
def test_real_format_imports_are_allowed(module: str, name: str) -> None:
    from vallum.scan.allowlist import is_allowed

    assert is_allowed(module, name)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("torch.nn.modules.module", "register_module_forward_hook"),
        ("torch.serialization", "load"),
        ("torch.hub", "load"),
        ("torch.fx.graph_module", "reduce_graph_module"),
        ("torch._ops", "ops"),
        ("torch", "load"),
        ("numpy.testing._private.utils", "runstring"),
        ("sklearn.utils._testing", "TempMemmap"),
        ("functools", "partial"),
        ("builtins", "getattr"),
        ("collections", "OrderedDict.fromkeys"),
        ("torch", "Storage.__init__"),
    ],
)
def test_gadgets_are_not_allowed(module: str, name: str) -> None:
    from vallum.scan.allowlist import is_allowed

    assert not is_allowed(module, name)
