"""The README's error tables cover every code each provider can return; docs/config.md's tables,
the README's ``serve`` synopsis and its banner are the real keys, flags and lines (docs drift is a
bug)."""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

import msgspec

from paysandbox import config
from paysandbox.cli import _parser, banner, build_settings
from paysandbox.observe.faults import FaultSpec
from paysandbox.providers.kplus.errors import CODES as KPLUS
from paysandbox.providers.nicepay.errors import CODES as NICEPAY
from paysandbox.providers.smart2pay.errors import CODES as SMART2PAY
from paysandbox.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _section(title: str) -> str:
    return README.split(title, 1)[1].split("\n## ", 1)[0]


def test_kplus_codes_in_readme() -> None:
    table = _section("### K PLUS error codes")
    for code, meta in KPLUS.items():
        assert f"`{code}`" in table, code
        row = next(line for line in table.splitlines() if f"`{code}`" in line)
        assert str(meta.http_status) in row, code


def test_nicepay_codes_in_readme() -> None:
    table = _section("## NICEPay v2 Direct in short")
    for name, meta in NICEPAY.items():
        rows = [line for line in table.splitlines() if line.startswith(f"| `{meta.result_cd}` ")]
        assert any(f"| {meta.http_status} |" in r for r in rows), (name, meta.result_cd)


def _listed_smart2pay_codes() -> set[int]:
    table = _section("## Smart2Pay card API in short").split("Return codes", 1)[1]
    listed: set[int] = set()
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith(("| Code", "| ---")):
            continue
        first = line.split("|")[1]
        for part in first.split(","):
            m = re.match(r"\s*(\d+)(?:\s*[–-]\s*(\d+))?\s*$", part)
            assert m, line
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            listed.update(range(lo, hi + 1))
    return listed


def test_smart2pay_codes_in_readme() -> None:
    listed = _listed_smart2pay_codes()
    missing = [c for c in SMART2PAY if int(c) not in listed]
    assert not missing


# ------------------------------------------------------------------ docs/config.md and the CLI

CONFIG_MD = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()


def _config_table(heading: str) -> dict[str, str]:
    """``key → default cell`` of the table under ``## `[section]`…`` in docs/config.md."""
    part = CONFIG_MD.split(f"## `{heading}`", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", part, re.M)
    return {key: cell.strip() for key, cell in rows}


def _literal(cell: str) -> object:
    """A default cell holding one literal (`8080`, `[5, 30]`, `true`, `127.0.0.1`), else None."""
    m = re.fullmatch(r"`([^`]+)`", cell)
    if not m:
        return None
    try:
        return tomllib.loads(f"v = {m.group(1)}")["v"]
    except tomllib.TOMLDecodeError:
        return m.group(1)


def test_config_md_tables_list_every_key_with_its_default() -> None:
    """Every key a config section takes is in its table and every key in a table is taken; a
    default written as one literal is the default the server runs with."""
    s = Settings()
    sections: list[tuple[str, type[msgspec.Struct], dict[str, object]]] = [
        (
            "[server]",
            config.ServerSection,
            {
                "host": s.host,
                "port": s.port,
                "db": s.db_url,
                "sqlite_synchronous": s.sqlite_synchronous,
                "max_body_bytes": s.max_body_bytes,
                "control_token_attempts": s.control_token_attempts,
                "allowed_hosts": s.allowed_hosts,
                "header_timeout_seconds": s.header_timeout_seconds,
                "body_timeout_seconds": s.body_timeout_seconds,
                "keep_alive_seconds": s.keep_alive_seconds,
                "max_connections": s.max_connections,
            },
        ),
        (
            "[delivery]",
            config.DeliverySection,
            {
                "schedule": list(s.retry.schedule),
                "max_attempts": s.retry.max_attempts,
                "timeout_seconds": s.retry.timeout_seconds,
                "poll_seconds": s.delivery_poll_seconds,
            },
        ),
        (
            "[journal]",
            config.JournalSection,
            {
                "enabled": s.journal_enabled,
                "max_entries": s.journal_max_entries,
                "queue_size": s.journal_queue_size,
            },
        ),
        ("[outbound]", config.OutboundSection, {"deny": s.outbound_deny, "allow": []}),
    ]
    for heading, struct, defaults in sections:
        table = _config_table(heading)
        assert set(table) == set(struct.__struct_fields__), heading
        for key, default in defaults.items():
            assert _literal(table[key]) == default, (heading, key, table[key])


def test_config_md_fault_keys_are_the_fault_spec() -> None:
    part = CONFIG_MD.split("## `[[faults]]`", 1)[1].split("\n## ", 1)[0]
    listed = re.search(r"takes it \(([^)]*)\)", part)
    assert listed, "the [[faults]] paragraph lists the keys in parentheses"
    assert set(re.findall(r"`(\w+)`", listed.group(1))) == set(FaultSpec.__struct_fields__)


def _serve_parser() -> argparse.ArgumentParser:
    sub = _parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    serve: argparse.ArgumentParser = sub.choices["serve"]  # type: ignore[attr-defined]
    return serve


def test_readme_synopsis_names_every_serve_flag() -> None:
    synopsis = README.split("## Running it", 1)[1].split("```", 2)[1]
    flags = {
        opt
        for action in _serve_parser()._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    }
    named = set(re.findall(r"\[(--[a-z0-9-]+)", synopsis))
    assert named == flags


def test_readme_banner_lines_are_the_real_banner(fresh_db_url: str) -> None:
    """The banner quoted in the README: each line (but the ``…``) is a line of the real one, in
    order, with the default database named as it is printed."""
    from paysandbox.app import create_app

    settings = build_settings(_parser().parse_args(["serve", "--db", fresh_db_url]))
    real = banner(settings, create_app(settings).state.sandbox.banner_lines()).splitlines()
    real = [
        "database   sqlite:///paysandbox.db" if line.startswith("database ") else line
        for line in real
    ]
    quoted = README.split("On start the server prints", 1)[1].split("```", 2)[1].strip("\n")
    at = 0
    for line in quoted.splitlines():
        if line == "…":
            continue
        assert line in real[at:], line
        at = real.index(line, at) + 1


# ------------------------------------------------------------------ links and file names

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file (fenced code left out)."""
    text = re.sub(r"^```.*?^```", "", path.read_text("utf-8"), flags=re.S | re.M)
    seen: dict[str, int] = {}
    found = set()
    for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, -1) + 1
        seen[slug] = n
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def test_links_and_file_names_in_the_docs_exist() -> None:
    """Relative links reach a file (and its heading); a path in backticks that starts at the
    repository's top (`src/…`, `tests/…`, `docs/…`, `bench/…`) names a file that exists."""
    broken = []
    for doc in DOCS:
        text = doc.read_text("utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path) if path else doc
            if not file.exists() or (anchor and anchor not in _anchors(file)):
                broken.append(f"{doc.name}: {target}")
        for name in re.findall(r"`((?:src|tests|docs|bench)/[\w./-]+)`", text):
            if "<" not in name and not (ROOT / name).exists():
                broken.append(f"{doc.name}: {name}")
    assert not broken


def test_control_md_names_every_control_command_and_option() -> None:
    """docs/control.md's "From a shell" block names every command of ``paysandbox`` but
    ``serve``, and every option each takes (``--url`` / ``--token`` are in the text above it)."""
    part = (ROOT / "docs" / "control.md").read_text().split("## From a shell", 1)[1]
    block = part.split("```", 2)[1]
    sub = _parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    for name, parser in sub.choices.items():  # type: ignore[attr-defined]
        if name == "serve":
            continue
        assert f"paysandbox {name}" in block or f"| {name}" in block, name
        for action in parser._actions:
            for opt in action.option_strings:
                if opt in ("-h", "--help"):
                    continue
                where = block if opt not in ("--url", "--token") else part
                assert opt in where, (name, opt)
