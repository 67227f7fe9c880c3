"""Every shell example in README.md and docs/*.md runs, in order, against a fresh server.

Conventions for the documents (so new examples are tested without touching this file):

* A fenced ```` ```sh ```` block is run with bash; the blocks of one file run in order, sharing
  the shell variables they assign (``S=…``, ``TOKEN=$(…)``), and each file starts from a reset
  sandbox. ``http://127.0.0.1:8080`` and ``localhost:8080`` are replaced by the test server's
  address. A block that must not run (set-up commands, fragments) is preceded by
  ``<!-- doc-test: skip (the reason) -->``.
* ``# → EXPECTED`` (continued on the following ``#`` lines) is the documented answer of the
  ``curl`` just above it: every piece between ``…`` must appear in the answer, in order,
  whitespace ignored; a leading ``HTTP 409`` is the expected status.
* Without ``# → HTTP NNN`` a ``curl`` must answer 2xx/3xx; a failing command fails the block.

A failure names the file, the block and the line of the command.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .support import LiveServer

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)
_SKIP = re.compile(r"<!--\s*doc-test:\s*skip\b[^>]*-->\s*\Z")
_CURL = re.compile(r"(?<![\w./-])curl\s")
_ASSIGN = re.compile(r"(?:^|[;\s])([A-Za-z_][A-Za-z0-9_]*)=")
_SEP = "\x1e"

PRELUDE = r"""
set -eo pipefail
[ -f "$DOC_STATE" ] && source "$DOC_STATE"
curl() {
  local out code
  out=$(command curl -sS -w '\n%{http_code}' "$@") || { echo "curl failed: $*" >&2; return 1; }
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  printf '%s\n' "$out"
  printf '%s\n%s\n%s\n' "$code" "$out" "$DOC_SEP" >> "$DOC_LOG"
}
"""


@dataclass
class Block:
    doc: str
    number: int
    line: int  # of the first line of the block's text
    text: str
    skip: bool


@dataclass
class Expect:
    curl_index: int
    line: int
    text: str


def blocks(path: Path) -> list[Block]:
    source = path.read_text("utf-8")
    found = []
    for n, m in enumerate(_BLOCK.finditer(source), 1):
        before = source[: m.start()]
        found.append(
            Block(
                path.name,
                n,
                before.count("\n") + 2,
                m.group(1),
                bool(_SKIP.search(before.rstrip() + "\n")),
            )
        )
    return found


def _code_part(line: str) -> str:
    """The line without its comment (a ``#`` at the start or after two spaces)."""
    if line.lstrip().startswith("#"):
        return ""
    return re.split(r"\s{2,}#|^\s*#", line, maxsplit=1)[0]


def expectations(text: str) -> tuple[int, list[Expect], list[int]]:
    """(number of curl calls in the text, expectations, the line of each curl)."""
    lines = text.split("\n")
    curls: list[int] = []
    expects: list[Expect] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("# →"):
            parts = [stripped.removeprefix("# →")]
            while i + 1 < len(lines) and lines[i + 1].strip().startswith("#  "):
                i += 1
                parts.append(lines[i].strip().removeprefix("#"))
            if not curls:
                raise AssertionError(f"line {i + 1}: an expected answer without a curl above it")
            expects.append(Expect(len(curls) - 1, i + 1, " ".join(parts)))
        else:
            curls.extend(i + 1 for _ in _CURL.finditer(_code_part(line)))
        i += 1
    return len(curls), expects, curls


def matches(expected: str, body: str) -> bool:
    squash = re.sub(r"\s+", "", body)
    pos = 0
    for piece in re.sub(r"\s+", "", expected).split("…"):
        if not piece:
            continue
        at = squash.find(piece, pos)
        if at < 0:
            return False
        pos = at + len(piece)
    return True


def _variables(text: str) -> list[str]:
    names = {m.group(1) for line in text.split("\n") for m in _ASSIGN.finditer(_code_part(line))}
    return sorted(names)


def run_doc(path: Path, server: LiveServer, work: Path) -> None:
    state = work / "state.sh"
    host = server.base_url.removeprefix("http://")
    for block in blocks(path):
        if block.skip:
            continue
        where = f"{block.doc} block {block.number} (line {block.line})"
        script = block.text.replace("http://127.0.0.1:8080", server.base_url).replace(
            "localhost:8080", host
        )
        names = _variables(block.text) or ["DOC_NOTHING"]
        # Variables and functions the block defines carry over to the next blocks.
        save = f'\ndeclare -p {" ".join(names)} 2>/dev/null >> "$DOC_STATE" || true\n'
        save += 'declare -f >> "$DOC_STATE"\n'
        log = work / f"log-{block.number}"
        log.write_text("")
        got = subprocess.run(
            ["bash", "-c", PRELUDE + script + save],
            cwd=work,
            env={
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": str(work),
                "DOC_STATE": str(state),
                "DOC_LOG": str(log),
                "DOC_SEP": _SEP,
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        calls = [c.split("\n", 1) for c in log.read_text().split(f"\n{_SEP}\n") if c]
        answers = [(int(c[0]), c[1] if len(c) > 1 else "") for c in calls]
        if got.returncode != 0:
            pytest.fail(
                f"{where}: exit status {got.returncode} after {len(answers)} curl calls\n"
                f"stderr: {got.stderr[-2000:]}\nstdout: {got.stdout[-2000:]}"
            )
        count, expects, curl_lines = expectations(script)
        if count != len(answers):
            pytest.fail(f"{where}: {count} curl commands in the text but {len(answers)} ran")
        expected_status = {}
        for e in expects:
            m = re.match(r"\s*HTTP (\d{3})\b(.*)$", e.text)
            text = e.text
            if m:
                expected_status[e.curl_index] = int(m.group(1))
                text = m.group(2)
            status, body = answers[e.curl_index]
            if not matches(text, body):
                pytest.fail(
                    f"{where}: the answer of the curl on line "
                    f"{block.line + curl_lines[e.curl_index] - 1} does not match the documented "
                    f"one on line {block.line + e.line - 1}\n"
                    f"documented: {text.strip()}\nanswered:   {body[:3000]}"
                )
        for n, (status, body) in enumerate(answers):
            want = expected_status.get(n)
            if (want is None and status >= 400) or (want is not None and status != want):
                pytest.fail(
                    f"{where}: the curl on line {block.line + curl_lines[n] - 1} answered HTTP "
                    f"{status}, documented {want or '2xx'}: {body[:1000]}"
                )
        # Every answer of a control route is JSON (never a framework default body).
        for _status, body in answers:
            if body.startswith("{"):
                json.loads(body)


RUNNABLE = [p for p in DOCS if any(not b.skip for b in blocks(p))]


def test_the_documents_with_examples_are_found() -> None:
    names = {p.name for p in RUNNABLE}
    assert {"README.md", "control.md", "kplus.md", "kplus-app.md", "nicepay.md"} <= names
    assert "smart2pay.md" in names


@pytest.mark.parametrize("path", RUNNABLE, ids=[p.name for p in RUNNABLE])
def test_shell_examples(
    path: Path, server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    run_doc(path, server, tmp_path)


def test_the_runner_catches_a_wrong_documented_answer(
    server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    doc = tmp_path / "wrong.md"
    doc.write_text(
        "```sh\ncurl -s http://127.0.0.1:8080/_sandbox/clock\n"
        '# → {"now":…,"offsetSeconds":5}\n```\n'
    )
    with pytest.raises(pytest.fail.Exception, match=r"wrong.md block 1 \(line 2\).*line 2"):
        run_doc(doc, server, tmp_path)


def test_the_runner_catches_an_undocumented_error_status(
    server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    doc = tmp_path / "415.md"
    doc.write_text(
        "<!-- doc-test: skip (not an example) -->\n```sh\nexit 1\n```\n\n"
        "```sh\nS=http://127.0.0.1:8080\n```\n\n"
        "```sh\ncurl -s $S/_sandbox/clock/advance -d '{\"seconds\":60}'\n```\n"
    )
    with pytest.raises(pytest.fail.Exception, match=r"415.md block 3 .*HTTP 415"):
        run_doc(doc, server, tmp_path)
