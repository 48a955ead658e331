"""The live proxy's commands keep their public names."""

from __future__ import annotations

from mitmproxy.test import taddons

from phitrace.proxy.addon import PhiTrace


async def test_the_commands_are_registered_under_their_documented_names() -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        names = {n for n in tctx.master.commands.commands if n.startswith("phitrace.")}
    assert names == {"phitrace.summary", "phitrace.session", "phitrace.report"}
