"""Jinja chat templates judged from their syntax tree, never rendered.

jinja2's parser builds the AST (parsing runs no template code). Every node must
be a construct on the allowlist below; attribute and item names must be
constants without a leading underscore; names built from strings (``'_' ~ '_'``,
``'%c'|format(95)``) may not be used as attribute or item names; the globals
that give access to Python internals (``cycler``, ``joiner``, ``lipsum``,
``self``, ``config``, ``request`` …) are findings; ``namespace``, ``range`` and
``dict`` are allowed only as direct calls, ``range`` with bounded constants.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from jinja2 import Environment, TemplateSyntaxError, nodes
from jinja2.ext import Extension
from jinja2.parser import Parser

from vallum.scan.verdict import Report, Severity

MAX_TEMPLATE = 1 << 20
MAX_RANGE = 100_000
MAX_REPEAT = 100_000
MAX_ITERATIONS = 10_000_000

#: Globals that expose Python objects (Jinja's own, Flask's, the template itself).
GADGETS = frozenset(
    {
        "cycler", "joiner", "lipsum", "self", "config", "request", "session", "g",
        "url_for", "get_flashed_messages", "environment", "context", "varargs", "kwargs",
    }
)  # fmt: skip
#: Globals allowed only as the callee of a direct call.
CALL_ONLY = frozenset({"namespace", "range", "dict"})
#: Methods of the str / list / dict values a chat template receives.
METHODS = frozenset(
    {
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith",
        "endswith", "upper", "lower", "title", "capitalize", "replace", "items", "keys",
        "values", "get", "join", "count", "index", "find", "rfind", "isdigit", "isalpha",
        "isalnum", "isspace", "isupper", "islower", "isnumeric", "append", "extend",
        "pop", "copy", "update", "center", "ljust", "rjust", "zfill", "swapcase",
        "casefold", "removeprefix", "removesuffix", "partition", "rpartition",
        "cycle", "changed", "strftime",
    }
)  # fmt: skip
#: Python internals reachable without an underscore.
INTERNAL_ATTRS = frozenset(
    {
        "format", "format_map", "mro", "func_globals", "func_code", "im_func", "im_self",
        "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "f_globals",
        "f_locals", "f_back", "f_builtins", "f_code", "tb_frame", "tb_next", "co_code",
        "co_consts", "obj", "exec_module", "load_module", "modules", "builtins", "os",
    }
)  # fmt: skip
FILTERS = frozenset(
    {
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default",
        "dictsort", "e", "escape", "filesizeformat", "first", "float", "forceescape",
        "format", "groupby", "indent", "int", "items", "join", "last", "length", "list",
        "lower", "map", "max", "min", "pprint", "reject", "rejectattr", "replace",
        "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string",
        "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper",
        "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr",
    }
)  # fmt: skip
#: Filters whose ``attribute`` argument (or first positional one) names attributes.
ATTRIBUTE_FILTERS = frozenset(
    {"map", "selectattr", "rejectattr", "sort", "groupby", "unique", "min", "max", "sum"}
)
TESTS = frozenset(
    {
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even",
        "false", "filter", "float", "ge", "greaterthan", "gt", "in", "integer", "iterable",
        "le", "lessthan", "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas",
        "sequence", "string", "test", "true", "undefined", "upper",
    }
)  # fmt: skip
#: Node types that carry no risk of their own (their children are still checked).
PLAIN = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.For, nodes.If, nodes.Assign,
    nodes.AssignBlock, nodes.Macro, nodes.CallBlock, nodes.FilterBlock, nodes.With,
    nodes.Block, nodes.ExprStmt, nodes.Break, nodes.Continue, nodes.Tuple, nodes.List,
    nodes.Dict, nodes.Pair, nodes.Keyword, nodes.CondExpr, nodes.And, nodes.Or, nodes.Not,
    nodes.Neg, nodes.Pos, nodes.Compare, nodes.Operand, nodes.Add, nodes.Sub, nodes.Div,
    nodes.FloorDiv, nodes.Mod, nodes.Concat, nodes.Slice, nodes.ScopedEvalContextModifier,
    nodes.EvalContextModifier, nodes.Const, nodes.Scope,
)  # fmt: skip


class _GenerationTag(Extension):
    """Hugging Face's ``{% generation %}…{% endgeneration %}`` (marks assistant text)."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


# autoescape only affects rendering, which never happens here
_ENV = Environment(
    extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", _GenerationTag], autoescape=True
)


def scan_template(source: str, location: str, report: Report) -> None:
    """Parse ``source`` into an AST and judge every node; renders nothing."""
    if len(source) > MAX_TEMPLATE:
        report.incomplete("template.too-large", "template larger than 1 MiB", location)
        return
    try:
        tree = _ENV.parse(source)
    except (TemplateSyntaxError, RecursionError, MemoryError) as exc:
        report.incomplete("template.syntax", f"template does not parse: {exc}", location)
        return
    _Checker(location, report, tree).run()


def _all(node: nodes.Node, kind: type[nodes.Node] | tuple[type[nodes.Node], ...]) -> Iterator[Any]:
    """``node`` itself and its descendants of type ``kind``."""
    if isinstance(node, kind):
        yield node
    yield from node.find_all(kind)


def _strings(node: nodes.Node) -> Iterator[str]:
    for const in _all(node, nodes.Const):
        if isinstance(const.value, str):
            yield const.value


class _Checker:
    def __init__(self, location: str, report: Report, tree: nodes.Template) -> None:
        self.location = location
        self.report = report
        self.tree = tree
        self.tainted: set[str] = set()
        self.callees: set[int] = set()
        self.macros = {m.name for m in tree.find_all(nodes.Macro)}

    def add(self, rule: str, severity: Severity, message: str, node: nodes.Node) -> None:
        where = f"{self.location}:line {getattr(node, 'lineno', '?')}"
        if severity in (Severity.HIGH, Severity.CRITICAL):
            self.report.add(rule, severity, message, where)
        else:
            self.report.incomplete(rule, message, where)

    def run(self) -> None:
        self._taint()
        for node in self.tree.find_all(nodes.Call):
            self.callees.add(id(node.node))
        self._visit(self.tree)

    def _taint(self) -> None:
        """Variables assigned (or iterated from) expressions holding an underscore string."""
        changed = True
        while changed:
            changed = False
            for node in self.tree.find_all((nodes.Assign, nodes.For)):
                if not isinstance(node, nodes.Assign | nodes.For):
                    continue
                value = node.node if isinstance(node, nodes.Assign) else node.iter
                if self._builds_name(value):
                    for name in _all(node.target, nodes.Name):
                        if name.name not in self.tainted:
                            self.tainted.add(name.name)
                            changed = True

    def _builds_name(self, expr: nodes.Node) -> bool:
        """Whether ``expr`` may evaluate to a string holding an underscore.

        Item and attribute reads return data, not the key they were read with, so
        only the container of a Getitem/Getattr counts; everything else counts
        through all of its children.
        """
        if isinstance(expr, nodes.Const):
            return isinstance(expr.value, str) and "_" in expr.value
        if isinstance(expr, nodes.Name):
            return expr.name in self.tainted
        if isinstance(expr, nodes.Getitem | nodes.Getattr):
            return self._builds_name(expr.node)
        if (
            isinstance(expr, nodes.Filter)
            and expr.name == "format"
            and any("%c" in s for s in _strings(expr))
        ):
            return True
        return any(self._builds_name(child) for child in expr.iter_child_nodes())

    def _check_name_expr(self, expr: nodes.Node, what: str, node: nodes.Node) -> None:
        """An attribute or item name: a constant without a leading underscore."""
        if isinstance(expr, nodes.Const):
            if isinstance(expr.value, str) and any(
                p.startswith("_") or p in INTERNAL_ATTRS for p in expr.value.split(".")
            ):
                self.add(
                    "template.underscore-access",
                    Severity.HIGH,
                    f"{what} {expr.value[:60]!r} reaches Python internals",
                    node,
                )
            return
        if self._builds_name(expr):
            self.add(
                "template.dynamic-name",
                Severity.HIGH,
                f"{what} computed from strings (can spell a dunder name)",
                node,
            )

    def _visit(self, node: nodes.Node, iterations: float = 1) -> None:
        self._check(node)
        if isinstance(node, nodes.For) and isinstance(node.iter, nodes.Call):
            callee = node.iter.node
            if isinstance(callee, nodes.Name) and callee.name == "range":
                iterations *= max([1.0, *(_magnitude(a) for a in node.iter.args)])
                if iterations > MAX_ITERATIONS:
                    self.add(
                        "template.resource-exhaustion",
                        Severity.HIGH,
                        "nested loops run more than 10 million times",
                        node,
                    )
                    iterations = 1
        for child in node.iter_child_nodes():
            self._visit(child, iterations)

    def _check(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Name):
            self._check_global(node)
        elif isinstance(node, nodes.Getattr):
            self._check_name_expr(nodes.Const(node.attr), "attribute", node)
            if id(node) in self.callees and node.attr not in METHODS:
                self.add(
                    "template.method-not-allowed",
                    Severity.MEDIUM,
                    f"call of method {node.attr!r} is outside the allowlist",
                    node,
                )
        elif isinstance(node, nodes.Getitem):
            if not isinstance(node.arg, nodes.Slice):
                self._check_name_expr(node.arg, "item", node)
        elif isinstance(node, nodes.NSRef):
            self._check_name_expr(nodes.Const(node.attr), "namespace attribute", node)
        elif isinstance(node, nodes.Filter):
            self._check_filter(node)
        elif isinstance(node, nodes.Test):
            if node.name not in TESTS:
                self.add("template.test-unknown", Severity.MEDIUM, f"test {node.name!r}", node)
        elif isinstance(node, nodes.Call):
            self._check_call(node)
        elif isinstance(node, nodes.Mul | nodes.Pow):
            self._check_arith(node)
        elif isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
            self.add(
                "template.loads-template",
                Severity.HIGH,
                f"{type(node).__name__.lower()} loads another template",
                node,
            )
        elif isinstance(node, nodes.Const):
            if isinstance(node.value, str) and "__" in node.value:
                self.add(
                    "template.dunder-string", Severity.HIGH, "string holds a dunder name", node
                )
        elif not isinstance(node, PLAIN):
            self.add(
                "template.construct-not-allowed",
                Severity.MEDIUM,
                f"{type(node).__name__} is outside the allowlist",
                node,
            )

    def _check_global(self, node: nodes.Name) -> None:
        name = node.name
        if name.startswith("_"):
            self.add("template.underscore-access", Severity.HIGH, f"name {name!r}", node)
        elif name in GADGETS and name not in self.macros:
            self.add(
                "template.gadget",
                Severity.HIGH,
                f"{name!r} exposes Python objects (SSTI gadget)",
                node,
            )
        elif name in CALL_ONLY and node.ctx == "load" and id(node) not in self.callees:
            self.add(
                "template.gadget",
                Severity.HIGH,
                f"{name!r} used other than as a direct call",
                node,
            )

    def _check_filter(self, node: nodes.Filter) -> None:
        if node.name not in FILTERS:
            self.add("template.filter-unknown", Severity.MEDIUM, f"filter {node.name!r}", node)
            return
        if node.name == "attr":
            arg = node.args[0] if node.args else nodes.Const(None)
            self._check_name_expr(arg, "attr filter name", node)
            if not isinstance(arg, nodes.Const):
                self.add("template.dynamic-name", Severity.HIGH, "attr with a computed name", node)
        elif node.name == "format":
            if any("%c" in s for s in _strings(node)):
                self.add(
                    "template.dynamic-name", Severity.HIGH, "format builds characters (%c)", node
                )
        elif node.name in ATTRIBUTE_FILTERS:
            names = [kw.value for kw in node.kwargs if kw.key == "attribute"]
            if node.name in ("selectattr", "rejectattr") and node.args:
                names.append(node.args[0])
            if node.name == "map" and node.args:
                first = node.args[0]
                if not isinstance(first, nodes.Const) or first.value not in FILTERS:
                    self.add(
                        "template.dynamic-name",
                        Severity.HIGH,
                        "map applies a computed or unknown filter",
                        node,
                    )
                elif first.value == "attr" and len(node.args) > 1:
                    names.append(node.args[1])
            for expr in names:
                self._check_name_expr(expr, f"{node.name} attribute", node)
                if not isinstance(expr, nodes.Const):
                    self.add(
                        "template.dynamic-name",
                        Severity.HIGH,
                        f"{node.name} with a computed attribute name",
                        node,
                    )

    def _check_call(self, node: nodes.Call) -> None:
        callee = node.node
        if isinstance(callee, nodes.Name) and callee.name == "range":
            for arg in node.args:
                value = _magnitude(arg)
                if value > MAX_RANGE:
                    self.add(
                        "template.resource-exhaustion",
                        Severity.HIGH,
                        f"range over {value if value != math.inf else 'a huge number of'} items",
                        node,
                    )

    def _check_arith(self, node: nodes.Mul | nodes.Pow) -> None:
        limit = MAX_REPEAT if isinstance(node, nodes.Mul) else 64
        sides = (node.left, node.right) if isinstance(node, nodes.Mul) else (node.right,)
        if _magnitude(node) > MAX_REPEAT or any(_magnitude(side) > limit for side in sides):
            self.add(
                "template.resource-exhaustion",
                Severity.HIGH,
                "arithmetic on large constants can exhaust memory or time",
                node,
            )
        elif isinstance(node, nodes.Pow) and not isinstance(node.right, nodes.Const):
            self.add(
                "template.resource-exhaustion",
                Severity.HIGH,
                "power with a computed exponent",
                node,
            )


def _magnitude(expr: nodes.Node) -> float:
    """An upper bound of a constant numeric expression's size (0 when not constant)."""
    if isinstance(expr, nodes.Const):
        value = expr.value
        if isinstance(value, str):
            return len(value)  # a repeated string grows with its length
        if isinstance(value, bool) or not isinstance(value, int | float):
            return 0
        return abs(value)
    if isinstance(expr, nodes.Neg | nodes.Pos):
        return _magnitude(expr.node)
    if isinstance(expr, nodes.Add | nodes.Sub):
        return _magnitude(expr.left) + _magnitude(expr.right)
    if isinstance(expr, nodes.Mul):
        return _magnitude(expr.left) * _magnitude(expr.right)
    if isinstance(expr, nodes.Pow):
        base, exponent = _magnitude(expr.left), _magnitude(expr.right)
        if base <= 1:
            return base
        if exponent * math.log2(base) > 64:
            return math.inf
        return float(base**exponent)
    return 0
