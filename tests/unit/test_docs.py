"""The guides in docs/ cannot drift from the code they describe.

Each test reads one guide and compares it with the object it documents: the
settings model, the error classes, the click command tree, the export formats,
the key providers, the control catalog, and the built-in roles, permissions and
identity ledger actions, plus a few constants the guides quote (reserved
environment names, protected keys, the ledger data limit, the witness file). A
failure names what to add to (or remove from) which file. The links from
README.md into docs/ are checked too.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path

import annotated_types
import click
import pytest
from click.testing import CliRunner
from pydantic_core import PydanticUndefined

from vallum.api import auth
from vallum.cli.app import cli
from vallum.config import (
    RESERVED_ENV,
    RESERVED_ENV_PREFIX,
    KeyProviderKind,
    VallumSettings,
    load_settings,
)
from vallum.crypto.keyring import PROTECTED_PURPOSES
from vallum.errors import all_error_classes
from vallum.governance.catalog import Framework, load_catalog, parse_duration
from vallum.identity import accounts, apikeys, directory, jit, login, reviews
from vallum.identity.permissions import BUILTIN_ROLES, Permission
from vallum.ledger.event import MAX_DATA_BYTES
from vallum.ledger.export import ExportFormat
from vallum.ledger.witness import FILENAME as WITNESS_FILE

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$", re.MULTILINE)
FENCED = re.compile(r"^```.*?^```$", re.MULTILINE | re.DOTALL)


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def headings(text: str) -> list[re.Match[str]]:
    """Markdown headings, not ``#`` comments inside fenced code blocks."""
    masked = FENCED.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return list(HEADING.finditer(masked))


def sections(text: str, level: int) -> dict[str, str]:
    """Heading title -> body, for headings of ``level``; a body ends at the next
    heading of the same or a higher level."""
    found: dict[str, str] = {}
    heads = headings(text)
    for i, head in enumerate(heads):
        if len(head.group(1)) != level:
            continue
        end = len(text)
        for later in heads[i + 1 :]:
            if len(later.group(1)) <= level:
                end = later.start()
                break
        found[head.group(2)] = text[head.end() : end]
    return found


def line_starting(body: str, prefix: str) -> str:
    """The bullet ``- <prefix>...`` of a section, with its continuation lines."""
    match = re.search(rf"^- {re.escape(prefix)}(.*(?:\n  .*)*)", body, re.MULTILINE)
    assert match is not None, f"no '- {prefix}' line"
    return match.group(1)


# --- configuration.md -------------------------------------------------------------

CONFIG = read("configuration.md")
SETTING_HEADING = re.compile(r"^### `VALLUM_([A-Z0-9_]+)`$", re.MULTILINE)


def setting_sections() -> dict[str, str]:
    return {
        title[len("`VALLUM_") : -1].lower(): body
        for title, body in sections(CONFIG, 3).items()
        if SETTING_HEADING.match(f"### {title}")
    }


def test_every_setting_has_a_section() -> None:
    documented = set(SETTING_HEADING.findall(CONFIG))
    missing = sorted({n.upper() for n in VallumSettings.model_fields} - documented)
    assert not missing, f"add ### `VALLUM_<NAME>` sections to docs/configuration.md: {missing}"


def test_no_section_names_a_setting_that_does_not_exist() -> None:
    documented = set(SETTING_HEADING.findall(CONFIG))
    unknown = documented - {n.upper() for n in VallumSettings.model_fields}
    assert not unknown, f"docs/configuration.md documents settings that do not exist: {unknown}"


def _default_text(name: str) -> str | None:
    field = VallumSettings.model_fields[name]
    if field.default_factory is not None or field.default is PydanticUndefined:
        return None
    if field.default is None:
        return "unset"
    return f"`{field.default}`"


@pytest.mark.parametrize("name", sorted(VallumSettings.model_fields))
def test_setting_section_states_key_default_and_range(name: str) -> None:
    body = setting_sections()[name]
    assert f"`{name}`" in line_starting(body, "TOML key:")
    default = _default_text(name)
    if default is not None:
        assert default in line_starting(body, "Default:"), f"{name}: default should be {default}"
    valid = line_starting(body, "Valid values:")
    for bound in VallumSettings.model_fields[name].metadata:
        for attr in ("ge", "gt", "le", "lt"):
            limit = getattr(bound, attr, None)
            if isinstance(bound, annotated_types.BaseMetadata) and limit is not None:
                assert f"`{limit}`" in valid, f"{name}: the range should mention {limit}"


def _all_commands(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _all_commands(sub, (*path, name))


def _command(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    return cmd


def _long_flags(cmd: click.Command) -> set[str]:
    return {
        opt for p in cmd.params if isinstance(p, click.Option) for opt in p.opts if opt[:2] == "--"
    }


COMMANDS = list(_all_commands(cli))
ALL_FLAGS = set().union(*(_long_flags(_command(path)) for path in COMMANDS))


@pytest.mark.parametrize("name", sorted(VallumSettings.model_fields))
def test_setting_cli_flags_exist_and_are_named(name: str) -> None:
    claimed = set(
        re.findall(r"`(--[a-z-]+)`", line_starting(setting_sections()[name], "CLI flag:"))
    )
    assert claimed <= ALL_FLAGS, f"{name}: no such CLI option {sorted(claimed - ALL_FLAGS)}"
    actual = {
        opt
        for path in COMMANDS
        for p in _command(path).params
        if isinstance(p, click.Option) and p.name == name
        for opt in p.opts
        if opt[:2] == "--"
    }
    assert actual <= claimed, f"{name}: the CLI flag line should name {sorted(actual)}"


def test_example_vallum_toml_loads(tmp_path: Path) -> None:
    example = re.search(r"^```toml\n(.*?)^```$", CONFIG, re.MULTILINE | re.DOTALL)
    assert example is not None, "docs/configuration.md has no example vallum.toml"
    path = tmp_path / "vallum.toml"
    path.write_text(example.group(1), encoding="utf-8")
    load_settings(path)  # raises ConfigError if the example went stale


def test_reserved_environment_names_are_documented() -> None:
    env = sections(CONFIG, 3)["Environment variables"]
    for name in sorted(RESERVED_ENV):
        assert f"`{name}`" in env, f"docs/configuration.md: say that {name} is reserved"
    assert f"`{RESERVED_ENV_PREFIX}`" in env, (
        f"docs/configuration.md: say that names starting with {RESERVED_ENV_PREFIX} are reserved"
    )


def test_the_witness_file_is_named_where_the_data_directory_is_described() -> None:
    assert f"`{WITNESS_FILE}`" in setting_sections()["data_dir"]
    assert f"`DATA_DIR/{WITNESS_FILE}`" in sections(LEDGER, 3)["The witness file"]


def test_every_key_provider_is_documented() -> None:
    encryption = read("encryption.md")
    for kind in KeyProviderKind:
        assert f"`{kind}`" in setting_sections()["key_provider"]
        assert re.search(rf"^### `{re.escape(kind)}`", encryption, re.MULTILINE), kind


# --- errors.md --------------------------------------------------------------------

ERRORS = read("errors.md")
CODE_HEADING = re.compile(r"^### `([a-z0-9_.]+)`$", re.MULTILINE)


def test_every_error_code_has_a_section_and_every_section_a_code() -> None:
    documented = set(CODE_HEADING.findall(ERRORS))
    codes = {cls.code for cls in all_error_classes()}
    assert not codes - documented, f"add to docs/errors.md: {sorted(codes - documented)}"
    assert not documented - codes, f"not error codes: {sorted(documented - codes)}"


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.code)
def test_error_section_states_exit_and_http_status(cls: type) -> None:
    body = sections(ERRORS, 3)[f"`{cls.code}`"]
    assert f"Class: `{cls.__name__}`" in body
    assert f"Exit status: {int(cls.exit_status)}." in body
    assert f"HTTP status: {cls.http_status}" in body


# --- cli.md -----------------------------------------------------------------------

CLI_DOC = read("cli.md")
COMMAND_HEADING = re.compile(r"^#{2,3} `(vallum(?: [a-z][a-z-]*)*)`$", re.MULTILINE)


def _cli_sections() -> dict[str, str]:
    out: dict[str, str] = {}
    for level in (2, 3):
        for title, body in sections(CLI_DOC, level).items():
            match = COMMAND_HEADING.match(f"{'#' * level} {title}")
            if match is not None:
                out[match.group(1)] = body
    return out


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(("vallum", *p)))
def test_every_command_has_a_section_naming_its_options(path: tuple[str, ...]) -> None:
    name = " ".join(("vallum", *path))
    body = _cli_sections().get(name)
    assert body is not None, f"add a `{name}` section to docs/cli.md"
    cmd = _command(path)
    for param in cmd.params:
        if isinstance(param, click.Argument):
            assert param.human_readable_name in body, f"{name}: mention {param.human_readable_name}"
    for flag in _long_flags(cmd):
        assert flag in body, f"{name}: mention {flag}"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(("vallum", *p)))
def test_cli_help_blocks_are_the_real_help(path: tuple[str, ...]) -> None:
    name = " ".join(("vallum", *path))
    block = re.search(r"^```\n(Usage: .*?)\n```$", _cli_sections()[name], re.MULTILINE | re.DOTALL)
    assert block is not None, f"{name}: docs/cli.md has no --help block"
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="vallum", terminal_width=80)
    assert result.exit_code == 0
    assert block.group(1) == result.output.rstrip(), (
        f"update the `{name}` --help block in docs/cli.md to:\n{result.output}"
    )


def test_no_cli_section_names_a_command_that_does_not_exist() -> None:
    real = {" ".join(("vallum", *p)) for p in COMMANDS}
    stale = set(COMMAND_HEADING.findall(CLI_DOC)) - real
    assert not stale, f"docs/cli.md documents commands that do not exist: {sorted(stale)}"


# --- ledger.md --------------------------------------------------------------------

LEDGER = read("ledger.md")


def test_ledger_data_limit_is_stated_in_bytes() -> None:
    assert f"{MAX_DATA_BYTES:,} bytes" in LEDGER, f"docs/ledger.md: state {MAX_DATA_BYTES:,} bytes"


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_every_export_format_is_documented(fmt: ExportFormat) -> None:
    assert re.search(rf"^### .*\(`{fmt}`\)$", LEDGER, re.MULTILINE), (
        f"add a '### <name> (`{fmt}`)' section to docs/ledger.md"
    )


# --- encryption.md ----------------------------------------------------------------


@pytest.mark.parametrize("purpose", sorted(PROTECTED_PURPOSES))
def test_protected_keys_are_documented(purpose: str) -> None:
    assert f"`{purpose}`" in sections(read("encryption.md"), 2)["Crypto-shredding"]
    assert f"`{purpose}`" in _cli_sections()["vallum keys shred"]


# --- controls.md ------------------------------------------------------------------

CONTROLS = read("controls.md")
ROW = re.compile(r"^\| `(SEC-\d+-\d+)` \| (.+?) \| (.+?) \| (\S+) \| `([a-z_]+)` \|$", re.MULTILINE)


def test_automated_controls_table_matches_the_catalog() -> None:
    documented = {
        cid: (title, tuple(re.findall(r"`([a-z_.]+)`", actions)), parse_duration(fresh), ev)
        for cid, title, actions, fresh, ev in ROW.findall(CONTROLS)
    }
    expected = {
        c.id: (c.title, c.evidence.actions, c.evidence.freshness, str(c.evidence.evaluator))
        for c in load_catalog()
        if c.evidence is not None
    }
    for cid in sorted(expected.keys() | documented.keys()):
        assert documented.get(cid) == expected.get(cid), f"docs/controls.md row for {cid}"


def test_every_framework_and_reference_is_documented() -> None:
    for framework in Framework:
        assert f"`{framework}`" in CONTROLS
    for control in load_catalog():
        for ref in control.mappings:
            assert ref.reference in CONTROLS, f"{control.id}: {ref.reference}"


# --- identity.md ------------------------------------------------------------------

IDENTITY = read("identity.md")
HELD = "✓"


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _role_table() -> tuple[list[str], dict[str, set[str]]]:
    """The role columns and, per permission row, the roles ticked, in document order."""
    rows = [ln for ln in sections(IDENTITY, 3)["Built-in roles"].splitlines() if ln[:2] == "| "]
    assert rows, "docs/identity.md: no table under '### Built-in roles'"
    header = _cells(rows[0])
    assert header[0] == "permission", "the role table's first column is 'permission'"
    roles = [h.strip("`") for h in header[1:]]
    table: dict[str, set[str]] = {}
    for row in rows[2:]:
        cells = _cells(row)
        assert len(cells) == len(header), f"docs/identity.md: row {row!r} has the wrong width"
        assert set(cells[1:]) <= {HELD, ""}, f"docs/identity.md: mark holders with {HELD}: {row}"
        table[cells[0].strip("`")] = {
            r for r, mark in zip(roles, cells[1:], strict=True) if mark == HELD
        }
    return roles, table


def test_identity_role_table_matches_the_builtin_roles() -> None:
    roles, table = _role_table()
    assert roles == list(BUILTIN_ROLES), f"the role table's columns should be {list(BUILTIN_ROLES)}"
    assert list(table) == [str(p) for p in Permission], (
        "the role table should have one row per permission, in the order of "
        "`vallum roles permissions`"
    )
    for perm in Permission:
        holders = {role for role, perms in BUILTIN_ROLES.items() if perm in perms}
        assert table[str(perm)] == holders, f"docs/identity.md: {perm} is held by {holders}"


def test_identity_role_table_is_what_vallum_roles_permissions_prints() -> None:
    result = CliRunner().invoke(cli, ["roles", "permissions", "--format", "json"])
    assert result.exit_code == 0, result.output
    printed = {
        row["permission"]: set(row["roles"]) for row in json.loads(result.output)["permissions"]
    }
    assert printed == _role_table()[1], (
        "regenerate the role table in docs/identity.md from "
        "`vallum roles permissions --format json`"
    )


@pytest.mark.parametrize("perm", list(Permission), ids=str)
def test_every_permission_is_in_the_identity_guide(perm: Permission) -> None:
    assert f"`{perm}`" in IDENTITY, f"docs/identity.md: describe the {perm} permission"


def _identity_actions() -> set[str]:
    """The ledger actions the identity code records (string literals like "access.elevated")."""
    source = "".join(
        inspect.getsource(m) for m in (accounts, apikeys, directory, jit, login, reviews, auth)
    )
    found = set(re.findall(r"\"((?:auth|access|apikeys|users|roles|reviews)\.[a-z_]+)\"", source))
    return found - {str(p) for p in Permission}


@pytest.mark.parametrize("action", sorted(_identity_actions()))
def test_every_identity_ledger_action_is_documented(action: str) -> None:
    recorded = sections(IDENTITY, 2)["What the ledger records"]
    assert f"`{action}`" in recorded, f"docs/identity.md: add {action} to 'What the ledger records'"


def test_public_routes_are_named_in_the_identity_guide() -> None:
    body = sections(IDENTITY, 3)["Where permissions are checked"]
    for path in sorted(auth.PUBLIC_ROUTES):
        assert f"`{path}`" in body, f"docs/identity.md: name the public route {path}"


def test_readme_links_to_the_identity_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    anchors = re.findall(r"\]\(docs/identity\.md(?:#([a-z0-9_-]+))?\)", readme)
    assert anchors, "README.md should link to docs/identity.md"
    for anchor in anchors:
        if anchor:
            assert anchor in _anchors(IDENTITY), f"README.md: no #{anchor} in docs/identity.md"


# --- links between the guides -----------------------------------------------------


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for head in headings(text):
        slug = re.sub(r"[^\w\- ]", "", head.group(2).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md")))
def test_links_between_guides_resolve(doc: str) -> None:
    text = read(doc)
    for target, anchor in re.findall(r"\]\(([a-z_-]*\.md)?(?:#([a-z0-9_-]+))?\)", text):
        if not target and not anchor:
            continue
        page = target or doc
        assert (DOCS / page).is_file(), f"{doc}: link to missing {page}"
        if anchor:
            assert anchor in _anchors(read(page)), f"{doc}: no #{anchor} in {page}"


def test_readme_links_into_the_guides_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(docs/([a-z_-]+\.md)(?:#([a-z0-9_-]+))?\)", readme)
    assert links, "README.md links to no guide"
    for page, anchor in links:
        assert (DOCS / page).is_file(), f"README.md: link to missing docs/{page}"
        if anchor:
            assert anchor in _anchors(read(page)), f"README.md: no #{anchor} in docs/{page}"
