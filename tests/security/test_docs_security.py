"""Every control error code is documented with its status; every security flag is in the
README's Security section (docs drift is a bug)."""

from __future__ import annotations

from pathlib import Path

from paysandbox.cli import _parser
from paysandbox.control.errors import STATUS

ROOT = Path(__file__).resolve().parents[2]


def test_control_error_codes_are_documented() -> None:
    table = (ROOT / "docs" / "control.md").read_text()
    for code, status in STATUS.items():
        [row] = [line for line in table.splitlines() if line.startswith(f"| `{code}` |")]
        assert f"| {status} |" in row, code


def test_security_flags_are_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Security", 1)[1].split("\n## ", 1)[0]
    serve = _parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    group = next(g for g in serve._action_groups if g.title and g.title.startswith("security"))
    flags = [opt for action in group._group_actions for opt in action.option_strings]
    assert len(flags) == 9
    for flag in flags:
        assert f"`{flag}" in section, flag
    for key in (
        "control_token",
        "control_token_attempts",
        "header_timeout_seconds",
        "body_timeout_seconds",
    ):
        assert key in section, key
    assert "PAYSANDBOX_CONTROL_TOKEN" in section
