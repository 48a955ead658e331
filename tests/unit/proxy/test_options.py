"""Option handling: list options, the flowfilter scope, and refused values."""

from __future__ import annotations

from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from phitrace.proxy.addon import PhiTrace
from tests.support.proxy import flow_for, rows, running

GA4 = (
    "https://region1.google-analytics.com/g/collect?v=2&tid=G-1&cid=1.2"
    "&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2Fdiabetes"
)


@pytest.mark.parametrize(
    "specs",
    [
        ["phitrace_scope=a.example", "phitrace_scope=.B.example"],
        ["phitrace_scope=a.example,b.example"],
    ],
    ids=["repeated", "comma-separated"],
)
async def test_scope_takes_repeated_and_comma_separated_domains(specs: list[str]) -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon)
        tctx.options.set(*specs)
        assert addon.state.scope.domains == ("a.example", "b.example")


async def test_signatures_take_several_files(tmp_path: Path) -> None:
    files = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            f"id: {name}-example\nname: {name}\ncompany: c\ncategory: analytics\n"
            f"endpoints: [{{hosts: [{name}.tracker.example]}}]\n"
        )
        files.append(str(path))
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, phitrace_signatures=files)
        assert addon.analyzer is not None
        ids = {signature.id for signature in addon.analyzer.catalogue.signatures}
        assert {"one-example", "two-example"} <= ids


async def test_filter_limits_what_is_analysed_and_recorded(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with running(addon, phitrace_db=str(db), phitrace_filter="~m POST") as (tctx, hooks):
        get, post = flow_for(GA4), flow_for(GA4, method="POST")
        for flow in (get, post):
            hooks.request(flow)
            hooks.error(flow)
        assert post.marked and not get.marked
        hooks.done()
    assert rows(db, "select method from flows") == [("POST",)]
    assert rows(db, "select scope from sessions") == [("filter ~m POST",)]


async def test_a_filter_that_does_not_parse_is_refused_in_one_line() -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon)
        with pytest.raises(exceptions.OptionsError, match="Cannot parse phitrace_filter") as err:
            tctx.options.set("phitrace_filter=~q (")
        assert "\n" not in str(err.value)
        assert tctx.options.phitrace_filter == ""
        assert addon.state.scope.matches is None


async def test_the_policy_option_records_each_findings_rule(tmp_path: Path) -> None:
    db, policy = tmp_path / "p.db", tmp_path / "policy.yaml"
    policy.write_text("covered_vendors: [google-analytics]\nseverity: {device_id: info}\n")
    addon = PhiTrace()
    with running(addon, phitrace_db=str(db), phitrace_policy=str(policy)) as (tctx, hooks):
        flow = flow_for(GA4)
        hooks.request(flow)
        hooks.error(flow)
        hooks.done()
    found = rows(db, "select category, severity, policy from findings order by category")
    assert ("device_id", "info", "covered") in found
    assert {rule for _, _, rule in found} == {"covered"}


async def test_a_policy_naming_an_unknown_vendor_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("covered_vendors: [gogle-analytics]\n")
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon)
        with pytest.raises(exceptions.OptionsError, match="Cannot load phitrace_policy"):
            tctx.options.set(f"phitrace_policy={policy}")
        assert tctx.options.phitrace_policy == ""
        assert addon.analyzer is not None and addon.analyzer.policy is None
