"""TensorFlow SavedModel (saved_model.pb), frozen GraphDefs and Keras SavedModel metadata.

Every NodeDef is decoded, in the graph and in every library function. Ops that run
Python (PyFunc family), read or write files, or map files into memory are
findings. Checkpoint ops (Save/Restore family) are standard when their file name
comes from the saver's filename tensor (TF1 graphs) or from an argument of a
function that only the saver calls (TF2 ``__inference__traced_save``); with a
file name built from constants they are findings. Keras metadata (keras_metadata.pb)
holds each layer's JSON config, walked like a .keras config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from vallum.scan import protobuf as pb
from vallum.scan.job import Job
from vallum.scan.keras import check_config
from vallum.scan.verdict import Severity

PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
FILE_OPS = frozenset(
    {
        "ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "WholeFileReader",
        "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2", "FixedLengthRecordReader",
        "FixedLengthRecordReaderV2", "TFRecordReader", "TFRecordReaderV2", "LMDBReader",
        "IdentityReader", "IdentityReaderV2", "TextLineDataset", "TFRecordDataset",
        "TFRecordDatasetV2", "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2",
        "MatchingFilesDataset", "ExperimentalMatchingFilesDataset", "LMDBDataset",
        "ExperimentalLMDBDataset", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset",
        "SqlDataset", "ExperimentalSqlDataset", "SaveDataset", "SaveDatasetV2", "LoadDataset",
        "DatasetToTFRecord", "ExperimentalDatasetToTFRecord", "SnapshotDataset",
        "SnapshotDatasetV2", "InitializeTableFromTextFile", "InitializeTableFromTextFileV2",
        "CreateSummaryFileWriter", "CreateSummaryDbWriter", "DebugIdentity",
        "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary",
        "DebugNumericSummaryV2", "LoadAndRemapMatrix", "GenerateVocabRemapping",
        "DecodeProtoV2", "EncodeProto", "FileSystemSetConfiguration", "ParseExampleDataset",
    }
)  # fmt: skip
NETWORK_OPS = frozenset(
    {
        "RpcClient", "RpcCall", "RpcCheckStatus", "RpcServer", "RpcServerStart",
        "RpcServerRegister", "DataServiceDataset", "DataServiceDatasetV2",
        "DataServiceDatasetV3", "DataServiceDatasetV4", "RegisterDataset", "RegisterDatasetV2",
        "GcsConfigureCredentials", "GcsConfigureBlockCache", "BigQueryReader",
        "GenerateBigQueryReaderPartitions",
    }
)  # fmt: skip
CHECKPOINT_OPS = frozenset(
    {
        "Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice",
        "MergeV2Checkpoints", "ShardedFilename", "ShardedFilespec",
    }
)  # fmt: skip


@dataclass
class _Graph:
    """One scope: the graph or one library function."""

    name: str
    nodes: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # name -> (op, inputs)
    calls: list[tuple[str, list[str]]] = field(default_factory=list)  # (callee, inputs)


def _node(data: memoryview) -> tuple[str, str, list[str], list[str]]:
    """(name, op, inputs, functions referenced from attrs) of a NodeDef."""
    n = pb.fields(data)
    funcs: list[str] = []
    for entry in pb.messages(n, 5):  # map<string, AttrValue>
        e = pb.fields(entry)
        for value in pb.messages(e, 2):
            _attr_functions(pb.fields(value), funcs)
    return pb.first_string(n, 1), pb.first_string(n, 2), pb.strings(n, 3), funcs


def _attr_functions(value: dict[int, list[pb.Field]], out: list[str]) -> None:
    # AttrValue.func (a NameAttrList) and AttrValue.list.func
    out.extend(pb.first_string(pb.fields(func), 1) for func in pb.messages(value, 10))
    for lst in pb.messages(value, 1):
        out.extend(pb.first_string(pb.fields(func), 1) for func in pb.messages(pb.fields(lst), 9))


def _base(name: str) -> str:
    return name.lstrip("^").split(":", 1)[0]


def _sources(scope: _Graph, start: str, limit: int = 10_000) -> set[str]:
    """Names reached walking inputs backwards from ``start`` (names outside = arguments)."""
    seen: set[str] = set()
    todo = [_base(start)]
    while todo and len(seen) < limit:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in scope.nodes:
            todo.extend(_base(i) for i in scope.nodes[name][1])
    return seen


class _Checker:
    def __init__(self, job: Job, location: str) -> None:
        self.job = job
        self.location = location
        self.scopes: dict[str, _Graph] = {}
        self.saver_file = ""
        self.count = 0

    def add_scope(self, name: str, node_defs: list[memoryview]) -> None:
        scope = _Graph(name)
        for data in node_defs:
            self.count += 1
            if self.count > self.job.limits.max_config_nodes:
                raise pb.ProtobufError("too many nodes")
            node_name, op, inputs, funcs = _node(data)
            scope.nodes[node_name] = (op, inputs)
            scope.calls.extend((f, inputs) for f in funcs)
        self.scopes[name] = scope

    def judge(self) -> None:
        report = self.job.report
        saver_fns = self._saver_functions()
        for scope in self.scopes.values():
            for node_name, (op, inputs) in scope.nodes.items():
                where = f"{self.location}:{scope.name}/{node_name[:80]}"
                if op in PYTHON_OPS:
                    report.add("tf.op.py-func", Severity.CRITICAL, f"{op} runs Python code", where)
                elif op in FILE_OPS:
                    report.add("tf.op.file-io", Severity.HIGH, f"{op} reads or writes files", where)
                elif op in NETWORK_OPS:
                    report.add("tf.op.network", Severity.HIGH, f"{op} talks to the network", where)
                elif op == "PrintV2" or op == "Print":
                    report.add("tf.op.print", Severity.INFO, f"{op} writes to a stream", where)
                elif op in CHECKPOINT_OPS and not self._standard(scope, inputs, saver_fns):
                    report.add(
                        "tf.op.file-io",
                        Severity.HIGH,
                        f"{op} outside the standard checkpoint path (file name not from the saver)",
                        where,
                    )

    def _standard(self, scope: _Graph, inputs: list[str], saver_fns: set[str]) -> bool:
        if not inputs:
            return False
        sources = _sources(scope, inputs[0])
        if scope.name == "graph":
            return bool(self.saver_file) and _base(self.saver_file) in sources
        return scope.name in saver_fns and any(s not in scope.nodes for s in sources)

    def _saver_functions(self) -> set[str]:
        """Library functions called only with the saver's filename tensor as input 0."""
        good: set[str] = set()
        bad: set[str] = set()
        graph = self.scopes.get("graph")
        for scope in self.scopes.values():
            for callee, inputs in scope.calls:
                from_saver = (
                    scope is graph
                    and bool(self.saver_file)
                    and bool(inputs)
                    and _base(self.saver_file) in _sources(scope, inputs[0])
                )
                (good if from_saver else bad).add(callee)
        return good - bad


def scan_savedmodel(job: Job, data: memoryview, location: str, *, graph_only: bool = False) -> str:
    checker = _Checker(job, location)
    try:
        if graph_only:
            _graph_def(checker, data)
        else:
            model = pb.fields(data)
            for meta in pb.messages(model, 2):
                m = pb.fields(meta)
                for saver in pb.messages(m, 3):
                    checker.saver_file = pb.first_string(pb.fields(saver), 1)
                for graph in pb.messages(m, 2):
                    _graph_def(checker, graph)
        checker.judge()
    except pb.ProtobufError as exc:
        job.report.incomplete("tf.malformed", f"SavedModel does not decode: {exc}", location)
    return "tf-graphdef" if graph_only else "tf-savedmodel"


def _graph_def(checker: _Checker, data: memoryview) -> None:
    g = pb.fields(data)
    checker.add_scope("graph", pb.messages(g, 1))
    for library in pb.messages(g, 2):
        for function in pb.messages(pb.fields(library), 1):
            f = pb.fields(function)
            signature = pb.messages(f, 1)
            name = pb.first_string(pb.fields(signature[-1]), 1) if signature else "?"
            checker.add_scope(name, pb.messages(f, 3))


def scan_keras_metadata(job: Job, data: memoryview, location: str) -> str:
    """keras_metadata.pb: one JSON config per saved layer."""
    report = job.report
    try:
        for node in pb.messages(pb.fields(data), 1):
            n = pb.fields(node)
            where = f"{location}:{pb.first_string(n, 3)[:80]}"
            text = pb.first_string(n, 5)
            if not text:
                continue
            try:
                config = json.loads(text)
            except (ValueError, RecursionError):
                report.incomplete("keras.config-json", "layer metadata is not JSON", where)
                continue
            check_config(config, where, report, max_nodes=job.limits.max_config_nodes)
    except pb.ProtobufError as exc:
        report.incomplete("tf.malformed", f"Keras metadata does not decode: {exc}", location)
    return "keras-metadata"
