"""Every command is documented: help text, a working --help, and a mention in the README."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from posturetest.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
COMMANDS = sorted(main.commands)


def test_there_are_commands_to_document() -> None:
    assert {"export", "datasette-metadata"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_text(name: str) -> None:
    command = main.commands[name]
    assert command.help and command.help.strip(), name
    assert command.get_short_help_str().strip(), name
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{name} {param.opts[0]} has no help"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_exits_zero(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: main {name}" in result.stdout or f"Usage: posturetest {name}" in result.stdout
    first_line = main.commands[name].help.strip().splitlines()[0]  # type: ignore[union-attr]
    assert first_line in " ".join(result.stdout.split())


def test_group_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\b", result.stdout, re.MULTILINE), name


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_the_readme(name: str) -> None:
    text = README.read_text(encoding="utf-8")
    assert re.search(rf"posturetest(\s+\[[^\]]*\])?\s+{re.escape(name)}\b", text), (
        f"README.md does not show `posturetest {name}`"
    )
