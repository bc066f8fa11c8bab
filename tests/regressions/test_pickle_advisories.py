"""One test per published scanner bypass, named after its advisory.

Each payload is assembled by hand (``pickle_asm``) and only ever scanned. The
scanner is an allowlist, so none of these needed a new rule: each test pins that
the technique stays caught (``unsafe``, or at least never ``safe``).
"""

from __future__ import annotations

from pathlib import Path

from tests.regressions.pickle_asm import Asm, patch_zip, payload, torch_zip, zip_member_bytes
from vallum.scan import FileResult, Verdict
from vallum.scan.service import scan_bytes, scan_file


def _scan(data: bytes, name: str = "model.bin") -> FileResult:
    return scan_bytes(data, name)


def _unsafe(data: bytes, *, target: str = "") -> FileResult:
    result = _scan(data)
    assert result.verdict is Verdict.UNSAFE, result.findings
    if target:
        assert any(target in f.message for f in result.findings), result.findings
    return result


def _critical(data: bytes, target: str = "") -> None:
    result = _unsafe(data, target=target)
    assert any(f.severity == "critical" for f in result.findings), result.findings


# --- CVEs ---------------------------------------------------------------------------


def test_cve_2025_1716_pip_main() -> None:
    _critical(payload("pip", "main", ["install", "evil-package"]), "pip.main")


def test_cve_2025_1889_pickle_member_with_non_pickle_extension() -> None:
    hidden = payload("posix", "system", "true", proto=2)
    data = zip_member_bytes(
        [
            ("m/data.pkl", Asm(2).empty_dict().stop()),
            ("m/extra/state.data", hidden),
            ("m/version", b"3\n"),
        ]
    )
    _critical(data, "posix.system")


def test_cve_2025_1889_and_10155_pickle_named_like_something_else(tmp_path: Path) -> None:
    for name in ("weights.txt", "pytorch_model.bin", "model.safetensors", "config.json"):
        path = tmp_path / name
        path.write_bytes(payload("os", "system", "true", proto=2))
        result = scan_file(path)
        assert result.format == "pickle"
        assert result.verdict is Verdict.UNSAFE


def test_cve_2025_1944_zip_local_and_central_names_differ() -> None:
    data = torch_zip(payload("os", "system", "true", proto=2))
    result = _unsafe(patch_zip(data, local_name="archive/data.pk_"), target="os.system")
    assert any(f.rule == "zip.name-mismatch" for f in result.findings)


def test_cve_2025_1945_zip_flag_bits_set() -> None:
    # The "encrypted" and other flag bits make zipfile refuse the member; torch ignores them.
    data = patch_zip(torch_zip(payload("os", "system", "true", proto=2)), flag_bits=0x0001 | 0x0040)
    _critical(data, "os.system")


def test_cve_2025_10156_zip_crc_mismatch() -> None:
    data = patch_zip(torch_zip(payload("os", "system", "true", proto=2)), crc_xor=0xDEADBEEF)
    result = _scan(data)
    assert result.verdict is Verdict.UNSAFE
    assert any("os.system" in f.message for f in result.findings)


def test_cve_2025_10157_asyncio_subprocess_internals_by_dotted_name() -> None:
    data = Asm(4).stack_global("asyncio.unix_events", "_UnixSubprocessTransport._start")
    _critical(data.value(("true",)).reduce().stop(), "_UnixSubprocessTransport._start")


def test_cve_2026_56315_stdlib_command_runners() -> None:
    for module, name in [
        ("uuid", "_get_command_stdout"),
        ("imaplib", "IMAP4_stream"),
        ("_pyrepl.pager", "pipe_pager"),
        ("_osx_support", "_read_output"),
        ("_aix_support", "_read_cmd_output"),
    ]:
        _unsafe(payload(module, name, "id"), target=f"{module}.{name}")


def test_cve_2026_56304_logging_filehandler_creates_files() -> None:
    _unsafe(payload("logging", "FileHandler", "x.log"), target="logging.FileHandler")


# --- picklescan GHSAs: "one more callable" ------------------------------------------


def test_ghsa_xp4f_hrf8_rxw7_ensurepip_run_pip() -> None:
    _unsafe(payload("ensurepip", "_run_pip", ["install", "evil"]), target="ensurepip._run_pip")


def test_ghsa_v7x6_rv5q_mhwc_timeit_timeit() -> None:
    _critical(payload("timeit", "timeit", "__import__('os').system('id')"), "timeit.timeit")


def test_ghsa_5qwp_399c_mjwf_trace_trace_run() -> None:
    _critical(payload("trace", "Trace.run", "import os"), "trace.Trace.run")


def test_ghsa_g344_hcph_8vgg_trace_trace_runctx() -> None:
    _critical(payload("trace", "Trace.runctx", "import os", None), "runctx")


def test_ghsa_x696_vm39_cp64_profile_profile_run() -> None:
    _critical(payload("profile", "Profile.run", "import os"), "profile.Profile.run")


def test_ghsa_9w88_8rmg_7g2p_cprofile_runctx() -> None:
    _critical(payload("cProfile", "runctx", "import os", None, None), "cProfile.runctx")


def test_ghsa_f54q_57x4_jg88_lib2to3_grammar_loads() -> None:
    _critical(payload("lib2to3.pgen2.grammar", "Grammar.loads", b"\x80\x04N."), "Grammar.loads")


def test_ghsa_3vg9_h568_4w9m_idlelib_debugobj() -> None:
    _critical(payload("idlelib.debugobj", "ObjectTreeItem", "x", "y"), "idlelib.debugobj")


def test_ghsa_m869_42cg_3xwr_idlelib_run_executive_runcode() -> None:
    _critical(payload("idlelib.run", "Executive.runcode", "import os"), "Executive.runcode")


def test_ghsa_fqq6_7vqf_w3fg_doctest_debug_script() -> None:
    _unsafe(payload("doctest", "debug_script", "import os"), target="doctest.debug_script")


def test_ghsa_4whj_rm5r_c2v8_torch_utils_bottleneck() -> None:
    data = payload("torch.utils.bottleneck.__main__", "run_autograd_prof", "import os", None)
    _critical(data, "torch.utils.bottleneck")


def test_ghsa_m273_6v24_x4m4_operator_attrgetter() -> None:
    _critical(payload("operator", "attrgetter", "system"), "operator.attrgetter")


def test_ghsa_955r_x9j8_7rhh_operator_methodcaller_via_private_module() -> None:
    _critical(payload("_operator", "methodcaller", "system", "id"), "_operator.methodcaller")


def test_ghsa_84r2_jw7c_4r5q_nested_pickle_loads() -> None:
    inner = payload("os", "system", "id", proto=2)
    _critical(payload("_pickle", "loads", inner), "_pickle.loads")


def test_ghsa_vqmv_47xg_9wpr_venv_and_pip_package_manipulation() -> None:
    _critical(payload("venv", "create", "venv-dir", False, False, False, True), "venv.create")


def test_ghsa_hgrh_qx5j_jfwx_network_modules() -> None:
    _critical(payload("http.client", "HTTPConnection", "evil.example"), "http.client")


def test_ghsa_r8g5_cgf2_4m4m_idlelib_pyshell() -> None:
    data = payload("idlelib.pyshell", "ModifiedInterpreter.runcode", "import os")
    _critical(data, "idlelib.pyshell")


def test_ghsa_vvpj_8cmc_gx39_pkgutil_resolve_name_universal_gadget() -> None:
    _critical(payload("pkgutil", "resolve_name", "os:system"), "pkgutil.resolve_name")


def test_picklescan_issue_66_importlib_import_module_then_getattr() -> None:
    data = Asm(4).stack_global("builtins", "getattr")
    data.call("importlib", "import_module", "os").str_("system").tuple2().reduce()
    data.value(("id",)).reduce()
    _critical(data.stop(), "importlib.import_module")


def test_fickling_pr_210_numpy_f2py_crackfortran_getlincoef() -> None:
    data = payload("numpy.f2py.crackfortran", "getlincoef", "__import__('os')", None)
    _critical(data, "numpy.f2py")


def test_fickling_pr_210_functools_partial_wrapper() -> None:
    data = Asm(4).stack_global("functools", "partial")
    data.stack_global("os", "system").str_("id").tuple2().reduce().empty_tuple().reduce()
    _critical(data.stop(), "functools.partial")


def test_modelscan_pr_346_mailcap_findmatch() -> None:
    _unsafe(payload("mailcap", "findmatch", "caps", "text/plain"), target="mailcap.findmatch")


def test_modelscan_exact_module_match_bypassed_by_submodule() -> None:
    # Deny-lists that match "subprocess" exactly miss "asyncio.subprocess" and os.path.
    _critical(payload("asyncio.subprocess", "create_subprocess_shell", "id"), "asyncio.subprocess")


# --- VM-level techniques ----------------------------------------------------------


def test_picklescan_issue_14_memo_confusion_binput_mixed_with_memoize() -> None:
    # memo[0]/memo[1] are set by BINPUT to "os"/"system"; MEMOIZE then stores safe-looking
    # names at indices 2 and 3. A scanner that counts MEMOIZE only reads the wrong strings.
    data = Asm(4).binstring("os").binput(0).binstring("system").binput(1)
    data.str_("torch._utils").memoize().str_("_rebuild_tensor_v2").memoize()
    data.pop().pop().pop().pop().binget(0).binget(1).raw(b"\x93").value(("id",)).reduce()
    _critical(data.stop(), "os.system")


def test_picklescan_issue_22_stack_global_from_binget_after_put() -> None:
    data = Asm(4).str_("subprocess").memoize().pop().str_("getoutput").memoize().pop()
    data.binget(0).binget(1).raw(b"\x93").value(("id",)).reduce()
    _critical(data.stop(), "subprocess.getoutput")


def test_protocol_0_python2_names_are_mapped_like_the_unpickler() -> None:
    # fix_imports maps __builtin__ -> builtins and commands -> subprocess below protocol 3.
    _critical(b"c__builtin__\neval\n(S'1'\ntR.", "builtins.eval")
    _critical(b"ccommands\ngetoutput\n(S'id'\ntR.", "subprocess.getoutput")


def test_getattr_on_an_allowlisted_import_is_a_dotted_import() -> None:
    data = Asm(4).stack_global("builtins", "getattr")
    data.stack_global("collections", "OrderedDict").str_("fromkeys").tuple2().reduce()
    result = _unsafe(data.stop(), target="collections.OrderedDict.fromkeys")
    assert result.findings


def test_getattr_dunder_reaches_globals() -> None:
    data = Asm(4).stack_global("builtins", "getattr")
    data.stack_global("torch._utils", "_rebuild_tensor_v2").str_("__globals__").tuple2().reduce()
    _critical(data.stop())


def test_getattr_passed_as_an_argument_escapes() -> None:
    # _rebuild_from_type_v2(func, type, args, state) calls func(*args): here getattr.
    data = Asm(4).stack_global("torch._tensor", "_rebuild_from_type_v2").mark()
    data.stack_global("builtins", "getattr").stack_global("torch", "Tensor")
    data.value(("abc", "upper")).empty_dict().tuple_().reduce()
    result = _scan(data.stop())
    assert result.verdict is Verdict.UNSAFE
    assert any(f.rule == "pickle.getattr.escapes" for f in result.findings)


def test_getattr_on_the_result_of_a_call() -> None:
    data = Asm(4).stack_global("builtins", "getattr")
    data.stack_global("collections", "OrderedDict").empty_tuple().reduce()
    data.str_("setdefault").tuple2().reduce().value(("k", "v")).reduce()
    result = _scan(data.stop())
    assert result.verdict is Verdict.UNSAFE
    assert any(f.rule == "pickle.call.unresolved" for f in result.findings)


def test_modelaudit_pr_1216_str_format_reaching_into_arguments() -> None:
    data = Asm(4).stack_global("builtins", "getattr").str_("{0[x]}").str_("format")
    data.tuple2().reduce().stack_global("collections", "OrderedDict").tuple1().reduce()
    assert _scan(data.stop()).verdict is Verdict.UNSAFE


def test_ext1_extension_registry_import() -> None:
    data = Asm(2).raw(b"\x82\x01").value(("id",)).reduce().stop()
    result = _scan(data)
    assert result.verdict is Verdict.UNSAFE
    assert any(f.rule == "pickle.import.extension" for f in result.findings)


def test_torch_load_from_bytes_nested_checkpoint_is_scanned() -> None:
    inner = payload("os", "system", "id", proto=2)
    data = Asm(2).global_("torch.storage", "_load_from_bytes").value((inner,)).reduce().stop()
    result = _scan(data)
    assert result.verdict is Verdict.UNSAFE
    assert any("nested" in f.location and "os.system" in f.message for f in result.findings)


def test_build_on_an_import_monkeypatches_it() -> None:
    data = Asm(4).stack_global("collections", "OrderedDict").empty_dict()
    data.str_("__reduce__").str_("x").raw(b"s").build()
    assert _scan(data.stop()).verdict is Verdict.UNSAFE


def test_marshal_code_object_and_function_type() -> None:
    data = Asm(4).stack_global("types", "FunctionType")
    data.call("marshal", "loads", b"\xe3\x00").empty_dict().tuple2().reduce()
    _critical(data.stop(), "marshal.loads")


def test_stack_global_name_built_by_a_call_is_unresolved() -> None:
    # "".join(["o", "s"]) as the module of STACK_GLOBAL: no constant string to judge.
    data = Asm(4).stack_global("builtins", "getattr").str_("").str_("join").tuple2().reduce()
    data.value((["o", "s"],)).reduce().str_("system").raw(b"\x93").value(("id",)).reduce()
    result = _scan(data.stop())
    assert result.verdict is Verdict.UNSAFE
    assert any(f.rule == "pickle.import.unresolved" for f in result.findings)


def test_allowlisted_loader_handed_to_a_higher_order_function() -> None:
    # numpy's __randomstate_ctor(name, ctor) calls ctor(name): with torch's
    # _load_from_bytes that is a nested torch.load the VM never sees called.
    inner = payload("os", "system", "id", proto=2)
    data = Asm(2).global_("numpy.random._pickle", "__randomstate_ctor").mark().bytes_(inner)
    data.global_("torch.storage", "_load_from_bytes").tuple_().reduce()
    result = _scan(data.stop())
    assert result.verdict is Verdict.UNSAFE
    assert any(f.rule == "pickle.call.escapes" for f in result.findings)


def test_numpy_random_state_is_safe() -> None:
    # What numpy writes for RandomState: __randomstate_ctor("MT19937", __bit_generator_ctor).
    data = Asm(2).global_("numpy.random._pickle", "__randomstate_ctor").mark().str_("MT19937")
    data.global_("numpy.random._pickle", "__bit_generator_ctor").tuple_().reduce()
    assert _scan(data.stop()).verdict is Verdict.SAFE


def test_method_of_a_loaded_object_handed_to_a_higher_order_function() -> None:
    # _rebuild_from_type_v2(func, ...) calls func(*args): here a bound method of an object.
    data = Asm(4).stack_global("torch._tensor", "_rebuild_from_type_v2").mark()
    data.stack_global("builtins", "getattr").stack_global("collections", "OrderedDict")
    data.empty_tuple().reduce().str_("update").tuple2().reduce()
    data.stack_global("torch", "Tensor").empty_tuple().empty_dict().tuple_()
    result = _scan(data.reduce().stop())
    assert result.verdict is Verdict.UNSAFE
    assert any(f.rule == "pickle.call.escapes" for f in result.findings)


def test_codecs_encode_with_a_codec_that_imports_modules() -> None:
    ok = Asm(2).global_("_codecs", "encode").value(("abc", "latin1")).reduce().stop()
    assert _scan(ok).verdict is Verdict.SAFE
    bad = Asm(2).global_("_codecs", "encode").value(("abc", "zlib_codec")).reduce().stop()
    assert _scan(bad).verdict is Verdict.UNSAFE
