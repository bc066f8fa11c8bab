"""ONNX: the ModelProto decoded from the protobuf wire format, never loaded.

Every graph is walked (the main graph, subgraphs in node attributes, training
graphs, model-local functions). Tensors stored outside the file name their file
in ``external_data``: the ``location`` must be relative, stay inside the model's
directory and, when the model is scanned from disk, not pass through a symbolic
link. Operators from domains other than the standard ones are reported (info):
they need a custom-op library the runtime must load.
"""

from __future__ import annotations

import functools
from pathlib import Path, PurePosixPath

from vallum.scan import protobuf as pb
from vallum.scan.job import Job
from vallum.scan.verdict import Report, Severity

STANDARD_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
     "com.microsoft", "com.microsoft.nchwc", "com.ms.internal.nhwc", "com.microsoft.experimental"}
)  # fmt: skip
MAX_GRAPH_DEPTH = 32

# ModelProto / GraphProto / NodeProto / AttributeProto / TensorProto field numbers
_M_GRAPH, _M_TRAINING, _M_FUNCTIONS = 7, 20, 25
_G_NODE, _G_INIT, _G_SPARSE = 1, 5, 15
_N_OP, _N_ATTR, _N_DOMAIN = 4, 5, 7
_A_T, _A_G, _A_TENSORS, _A_GRAPHS, _A_SPARSE, _A_SPARSES = 5, 6, 11, 12, 22, 23
_T_NAME, _T_EXTERNAL, _T_LOCATION = 8, 13, 14
_F_NODE, _F_DOMAIN = 7, 10


class _Walk:
    def __init__(self, job: Job, location: str) -> None:
        self.job = job
        self.location = location
        self.nodes = 0
        self.domains: set[str] = set()
        self.locations: set[str] = set()

    def budget(self) -> bool:
        self.nodes += 1
        if self.nodes > self.job.limits.max_config_nodes:
            raise pb.ProtobufError("too many nodes")
        return True

    def graph(self, data: memoryview, depth: int) -> None:
        if depth > MAX_GRAPH_DEPTH:
            raise pb.ProtobufError("subgraphs nested too deep")
        g = pb.fields(data)
        for node in pb.messages(g, _G_NODE):
            self.node(node, depth)
        for tensor in pb.messages(g, _G_INIT):
            self.tensor(tensor)
        for sparse in pb.messages(g, _G_SPARSE):
            for part in pb.messages(pb.fields(sparse), 1) + pb.messages(pb.fields(sparse), 2):
                self.tensor(part)

    def node(self, data: memoryview, depth: int) -> None:
        self.budget()
        n = pb.fields(data)
        domain = pb.first_string(n, _N_DOMAIN)
        if domain not in STANDARD_DOMAINS and domain not in self.domains:
            self.domains.add(domain)
            self.job.report.add(
                "onnx.custom-domain",
                Severity.INFO,
                f"operator {pb.first_string(n, _N_OP)[:60]!r} from custom domain {domain[:60]!r} "
                "needs a custom-op library",
                self.location,
            )
        for attr in pb.messages(n, _N_ATTR):
            a = pb.fields(attr)
            for t in pb.messages(a, _A_T) + pb.messages(a, _A_TENSORS):
                self.tensor(t)
            for s in pb.messages(a, _A_SPARSE) + pb.messages(a, _A_SPARSES):
                for part in pb.messages(pb.fields(s), 1) + pb.messages(pb.fields(s), 2):
                    self.tensor(part)
            for sub in pb.messages(a, _A_G) + pb.messages(a, _A_GRAPHS):
                self.graph(sub, depth + 1)

    def tensor(self, data: memoryview) -> None:
        self.budget()
        t = pb.fields(data)
        external = pb.messages(t, _T_EXTERNAL)
        is_external = any(f.value == 1 for f in t.get(_T_LOCATION, ()))
        name = pb.first_string(t, _T_NAME)[:80]
        where = f"{self.location}:{name}"
        entries = {}
        for entry in external:
            e = pb.fields(entry)
            entries[pb.first_string(e, 1)] = pb.first_string(e, 2)
        if not external and not is_external:
            return
        location = entries.get("location")
        if not location:
            self.job.report.incomplete(
                "onnx.external-data", "external tensor without a location", where
            )
            return
        for key in ("offset", "length"):
            if key in entries and not entries[key].isdigit():
                self.job.report.add(
                    "onnx.external-data", Severity.HIGH, f"{key} {entries[key][:40]!r}", where
                )
        self.locations.add(location)
        self.external(location, where)

    def external(self, location: str, where: str) -> None:
        report = self.job.report
        norm = location.replace("\\", "/")
        parts = PurePosixPath(norm).parts
        if norm.startswith(("/", "~")) or (len(norm) > 1 and norm[1] == ":") or "\x00" in norm:
            report.add(
                "onnx.external-data.absolute",
                Severity.HIGH,
                f"external data at absolute path {location[:120]!r}",
                where,
            )
            return
        if ".." in parts:
            report.add(
                "onnx.external-data.traversal",
                Severity.HIGH,
                f"external data path {location[:120]!r} leaves the model directory",
                where,
            )
            return
        base = self.job.base_dir
        if base is None:
            report.add(
                "onnx.external-data",
                Severity.INFO,
                f"tensor data in {location[:120]!r} (not checked: no directory)",
                where,
            )
            return
        self.on_disk(base, parts, location, where)

    def on_disk(self, base: Path, parts: tuple[str, ...], location: str, where: str) -> None:
        report = self.job.report
        current = base
        for part in parts:
            current = current / part
            if current.is_symlink():
                report.add(
                    "onnx.external-data.symlink",
                    Severity.HIGH,
                    f"external data path {location[:120]!r} passes through a symbolic link",
                    where,
                )
                return
        try:
            resolved = current.resolve(strict=True)
        except (OSError, RuntimeError):
            report.add(
                "onnx.external-data.missing",
                Severity.LOW,
                f"external data file {location[:120]!r} not found beside the model",
                where,
            )
            return
        if not resolved.is_relative_to(base.resolve()) or not resolved.is_file():
            report.add(
                "onnx.external-data.traversal",
                Severity.HIGH,
                f"external data {location[:120]!r} is not a file inside the model directory",
                where,
            )


def scan_onnx(job: Job, data: memoryview, location: str) -> str:
    _walk_model(_Walk(job, location), data)
    return "onnx"


def _walk_model(walk: _Walk, data: memoryview) -> None:
    try:
        model = pb.fields(data)
        for graph in pb.messages(model, _M_GRAPH):
            walk.graph(graph, 0)
        for training in pb.messages(model, _M_TRAINING):
            t = pb.fields(training)
            for graph in pb.messages(t, 1) + pb.messages(t, 2):
                walk.graph(graph, 1)
        for function in pb.messages(model, _M_FUNCTIONS):
            for node in pb.messages(pb.fields(function), _F_NODE):
                walk.node(node, 1)
    except pb.ProtobufError as exc:
        walk.job.report.incomplete(
            "onnx.malformed", f"ONNX model does not decode: {exc}", walk.location
        )


def is_external_data(path: Path) -> bool:
    """Whether an ONNX model (``*.onnx``) in this or a parent directory names ``path``
    as its external data; the models are decoded to check, never trusted by name."""
    target = path.resolve()
    for directory in list(path.parents)[:3]:
        try:
            stamp = directory.stat().st_mtime_ns
        except OSError:
            continue
        if target in _external_targets(directory, stamp):
            return True
    return False


@functools.lru_cache(maxsize=64)
def _external_targets(
    directory: Path, _stamp: int, max_models: int = 16, max_bytes: int = 2 << 30
) -> frozenset[Path]:
    """Files the ONNX models of ``directory`` name as external data (cached per mtime)."""
    out: set[Path] = set()
    for model in sorted(directory.glob("*.onnx"))[:max_models]:
        try:
            if model.is_symlink() or not model.is_file() or model.stat().st_size > max_bytes:
                continue
            walk = _Walk(Job(Report(), lambda *_: "", base_dir=directory), str(model))
            _walk_model(walk, memoryview(model.read_bytes()))
        except OSError:
            continue
        for location in walk.locations:
            norm = location.replace("\\", "/")
            if norm.startswith(("/", "~")) or ".." in norm.split("/") or ":" in norm:
                continue
            out.add((directory / norm).resolve())
    return frozenset(out)
