"""The README documents every command, option and mitmproxy option."""

from __future__ import annotations

import re
from pathlib import Path

import click
from mitmproxy.test import taddons

from phitrace.cli.main import main
from phitrace.proxy.addon import PhiTrace

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        full = f"{prefix}{name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found += _commands(command, full + " ")
    return found


def test_readme_has_exactly_two_setup_commands() -> None:
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", setup, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["make run", "make test"]


def test_every_command_and_option_is_documented() -> None:
    missing = []
    for name, command in _commands(main):
        if f"phitrace {name.split()[0]}" not in README:
            missing.append(name)
        for param in command.params:
            if isinstance(param, click.Option):
                for flag in param.opts:
                    if flag.startswith("--") and f"`{flag}" not in README:
                        missing.append(f"{name} {flag}")
    assert not missing, f"undocumented in README.md: {missing}"


async def test_every_mitmproxy_option_is_documented() -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        names = [n for n in tctx.options.keys() if n.startswith("phitrace_")]
    assert names
    assert [n for n in names if f"`{n}`" not in README] == []
