"""joblib writes array bytes inside the pickle stream: the VM skips exactly what joblib reads."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.regressions.pickle_asm import Asm, payload
from vallum.scan import Verdict
from vallum.scan.service import scan_bytes

#: ``joblib.dump`` (joblib 1.6, numpy 2.4, protocol 4) of a dict holding a float64 (2, 3)
#: array, an int32 array, an object array ['a', None, 3], an OrderedDict and a '<U2'
#: array: generated once, stored as bytes (it is never loaded).
REAL_JOBLIB = Path(__file__).with_name("data") / "real.joblib"


def _wrapper(asm: Asm, shape: tuple[int, ...], descr: str, *, aligned: bool = True) -> Asm:
    asm.stack_global("joblib.numpy_pickle", "NumpyArrayWrapper").empty_tuple().newobj()
    asm.empty_dict().mark()
    asm.str_("subclass").stack_global("numpy", "ndarray")
    asm.str_("shape").value(shape)
    asm.str_("order").str_("C")
    asm.str_("dtype").stack_global("numpy", "dtype").value((descr, False, True)).reduce()
    asm.str_("allow_mmap").value(True)
    if aligned:
        asm.str_("numpy_array_alignment_bytes").value(16)
    return asm.raw(b"u").build()


def test_real_joblib_file_is_safe() -> None:
    result = scan_bytes(REAL_JOBLIB.read_bytes(), "model.joblib")
    assert result.verdict is Verdict.SAFE, result.findings


def test_array_bytes_that_look_like_opcodes_are_data() -> None:
    raw = b"cos\nsystem\n(S'id'\ntR." + bytes(3)  # 24 bytes = 3 float64
    asm = _wrapper(Asm(4).empty_dict().str_("coef_"), (3,), "f8")
    asm.raw(bytes([4]) + b"\xff" * 4 + raw).raw(b"s")
    result = scan_bytes(asm.stop(), "model.joblib")
    assert result.verdict is Verdict.SAFE, result.findings


def test_import_after_the_array_bytes_is_judged() -> None:
    asm = _wrapper(Asm(4).empty_dict().str_("coef_"), (2,), "i4", aligned=False)
    asm.raw(struct.pack("<2i", 1, 2)).raw(b"s0")
    asm.call("os", "system", "id")
    result = scan_bytes(asm.stop(), "model.joblib")
    assert result.verdict is Verdict.UNSAFE
    assert any("os.system" in f.message for f in result.findings)


def test_object_array_is_a_nested_pickle_and_is_scanned() -> None:
    asm = _wrapper(Asm(4).empty_dict().str_("meta"), (1,), "O8")
    asm.raw(payload("posix", "system", "id", proto=2)).raw(b"s")
    result = scan_bytes(asm.stop(), "model.joblib")
    assert result.verdict is Verdict.UNSAFE
    assert any("posix.system" in f.message for f in result.findings)


def test_array_running_past_the_end_is_unscannable() -> None:
    asm = _wrapper(Asm(4), (1000, 1000), "f8", aligned=False).raw(b"\x00" * 8)
    result = scan_bytes(asm.stop(), "model.joblib")
    assert result.verdict is Verdict.UNSCANNABLE


def test_wrapper_with_an_unreadable_dtype_is_unscannable() -> None:
    asm = _wrapper(Asm(4), (2,), "weird", aligned=False).raw(b"\x00" * 8)
    result = scan_bytes(asm.stop(), "model.joblib")
    assert result.verdict is Verdict.UNSCANNABLE


def test_protocol_2_wrapper_state_built_with_dict_opcode() -> None:
    asm = Asm(2).global_("joblib.numpy_pickle", "NumpyArrayWrapper").empty_tuple().newobj()
    asm.mark().str_("shape").value((2,)).str_("dtype")
    asm.global_("numpy", "dtype").value(("i4", False, True)).reduce()
    asm.raw(b"d").build().raw(struct.pack("<2i", 7, 8)).raw(b"0")
    asm.call("os", "system", "id")
    result = scan_bytes(asm.stop(), "model.joblib")
    assert result.verdict is Verdict.UNSAFE
    assert any("os.system" in f.message for f in result.findings)


@pytest.mark.parametrize(
    "path", sorted(p for p in REAL_JOBLIB.parent.iterdir() if p.suffix in (".pkl", ".joblib"))
)
def test_real_numpy_sklearn_and_joblib_files_are_safe(path: Path) -> None:
    result = scan_bytes(path.read_bytes(), path.name)
    assert result.verdict is Verdict.SAFE, result.findings
