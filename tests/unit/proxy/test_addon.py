"""The mitmproxy addon, driven through mitmproxy's own test harness."""

from __future__ import annotations

from pathlib import Path

import pytest
from mitmproxy import exceptions, http
from mitmproxy.addons import default_addons
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.addons.view import View
from mitmproxy.test import taddons, tutils

from phitrace.decode.budget import DEFAULT_LIMITS
from phitrace.proxy.addon import LIMIT_OPTIONS, PhiTrace
from tests.support.database import rows
from tests.support.proxy import Hooks, flow_for, running

GA4 = (
    "https://region1.google-analytics.com/g/collect?v=2&tid=G-1&cid=1.2"
    "&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2Fdiabetes"
)


def tracker_flow(
    url: str = GA4, method: str = "POST", headers: dict[str, str] | None = None
) -> http.HTTPFlow:
    flow = flow_for(url, method)
    for key, value in (headers or {}).items():
        flow.request.headers[key] = value
    return flow


async def test_options_are_declared_with_the_phitrace_prefix() -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        names = {n for n in tctx.options.keys() if n.startswith("phitrace_")}
    assert names == {
        "phitrace_db",
        "phitrace_sinkhole",
        "phitrace_sinkhole_scope",
        "phitrace_signatures",
        "phitrace_canaries",
        "phitrace_policy",
        "phitrace_label",
        "phitrace_store_bodies",
        "phitrace_max_stored_body_bytes",
        "phitrace_mode",
        "phitrace_block_severity",
        "phitrace_consent",
        "phitrace_scope",
        "phitrace_filter",
        "phitrace_report",
        "phitrace_storage",
        "phitrace_max_body_bytes",
        "phitrace_max_decompressed_bytes",
        "phitrace_max_ratio",
        "phitrace_max_depth",
        "phitrace_max_fields",
        "phitrace_decode_seconds",
    }


async def test_loads_next_to_every_addon_of_mitmweb_and_mitmproxy() -> None:
    # mitmweb and the console add their own 'view' addon; names must not collide.
    addon = PhiTrace()
    with taddons.context(*default_addons(), View(), addon, loadcore=False) as tctx:
        assert tctx.master.addons.get("phitrace") is addon
        # Its parts run inside it, not as addons of their own: no name of theirs to collide.
        assert [name for name in tctx.master.addons.lookup if "phitrace" in name] == ["phitrace"]


@pytest.mark.slow
async def test_sinkhole_answers_tracker_requests_locally_and_records_them(tmp_path: Path) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with taddons.context(addon, Proxyserver()) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.configure(addon, phitrace_db=str(db), phitrace_sinkhole=True, phitrace_label="t")
        assert tctx.options.connection_strategy == "lazy"
        hooks.running()
        flow = tracker_flow(headers={"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "no-cors"})
        hooks.request(flow)
        assert flow.response is not None and flow.response.status_code == 204
        assert flow.marked == ":red_circle:"
        assert "google-analytics [high]" in flow.comment
        assert flow.metadata["phitrace"]["vendor"] == "google-analytics"
        hooks.response(flow)
        hooks.done()
    assert rows(db, "select vendor, status_code, blocked, severity from flows") == [
        ("google-analytics", 204, 1, "high")
    ]
    assert ("condition", "diabetes") in rows(db, "select category, matched from findings")
    assert rows(db, "select label, ended_at is not null from sessions") == [("t", 1)]


async def test_passive_mode_leaves_the_flow_alone_and_records_after_the_response(
    tmp_path: Path,
) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        flow = tracker_flow()
        before = flow.request.get_state()
        hooks.request(flow)
        assert flow.response is None
        assert flow.request.get_state() == before
        flow.response = tutils.tresp(status_code=200)
        hooks.response(flow)
        hooks.done()
    assert rows(db, "select vendor, status_code, blocked from flows") == [
        ("google-analytics", 200, 0)
    ]


async def test_non_tracker_flows_are_not_recorded(tmp_path: Path) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db), phitrace_sinkhole=True) as (tctx, hooks):
        flow = tracker_flow("https://www.example.org/conditions/diabetes", method="GET")
        hooks.request(flow)
        assert flow.response is None and not flow.marked
        hooks.done()
    assert rows(db, "select count(*) from flows") == [(0,)]


async def test_an_error_inside_phitrace_never_reaches_the_flow(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    addon = PhiTrace()
    with running(addon, phitrace_db=str(tmp_path / "p.db"), phitrace_sinkhole=True) as (
        tctx,
        hooks,
    ):

        def explode(request):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

        assert addon.analyzer is not None
        addon.analyzer.analyse = explode  # type: ignore[method-assign]
        flow = tracker_flow()
        hooks.request(flow)
        assert flow.response is None and flow.error is None
        assert addon.session.errors == 1
        assert "internal error in request hook" in caplog.text
        hooks.done()


@pytest.mark.parametrize(
    "settings",
    [{"phitrace_sinkhole": True}, {"phitrace_mode": "block", "phitrace_block_severity": "low"}],
)
async def test_a_failure_after_answering_takes_the_answer_back(
    tmp_path: Path, settings: dict[str, object]
) -> None:
    addon = PhiTrace()
    with running(addon, Proxyserver(), phitrace_db=str(tmp_path / "p.db"), **settings) as (
        tctx,
        hooks,
    ):

        def explode(*args: object) -> None:
            raise RuntimeError("boom")

        addon.view.show = explode  # type: ignore[method-assign]
        flow = tracker_flow()
        before = flow.request.get_state()
        hooks.request(flow)
        assert flow.response is None, "the local answer must not outlive the failure"
        assert flow.request.get_state() == before
        assert "phitrace" not in flow.metadata
        assert addon.session.errors == 1
        hooks.done()


async def test_bad_signature_option_is_rejected_with_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "id: Not A Slug\nname: x\ncompany: y\ncategory: analytics\n"
        "endpoints: [{hosts: [x.example]}]\n"
    )
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        with pytest.raises(exceptions.OptionsError, match=r"broken.yaml:1: id 'Not A Slug'"):
            tctx.configure(addon, phitrace_signatures=[str(broken)])


async def test_canary_option_loads_the_persona(tmp_path: Path) -> None:
    canaries = tmp_path / "c.yaml"
    canaries.write_text("canaries: {email: jane.canary@example.org}\n")
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, phitrace_canaries=str(canaries))
        assert addon.analyzer is not None and addon.analyzer.canaries
        with pytest.raises(exceptions.OptionsError, match="Cannot load phitrace_canaries"):
            tctx.configure(addon, phitrace_canaries=str(tmp_path / "missing.yaml"))


# Storage mode -----------------------------------------------------------------------------


async def test_storage_mode_reaches_the_writer_and_redacts_what_is_recorded(
    tmp_path: Path,
) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with taddons.context(addon) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.options.set("phitrace_storage=redact")  # as `--set` on the command line
        tctx.configure(addon, phitrace_db=str(db))
        hooks.running()
        assert addon.writer is not None and addon.writer.storage == "redact"
        flow = tracker_flow()
        hooks.request(flow)
        hooks.response(flow)
        hooks.done()
    assert rows(db, "select url from flows") == [("https://region1.google-analytics.com/",)]
    values = rows(db, "select value from findings")
    assert values and all(str(v).startswith("sha256:") for (v,) in values)
    assert rows(db, "select count(*) from requests") == [(0,)]


async def test_storage_mode_defaults_to_full_and_rejects_unknown_modes(tmp_path: Path) -> None:
    addon = PhiTrace()
    with running(addon, phitrace_db=str(tmp_path / "p.db")) as (tctx, hooks):
        assert addon.writer is not None and addon.writer.storage == "full"
        with pytest.raises(exceptions.OptionsError, match="phitrace_storage must be one of"):
            tctx.configure(addon, phitrace_storage="hashed")
        assert tctx.options.phitrace_storage == "full"
        assert addon.writer.storage == "full"
        hooks.done()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("phitrace_storage=hashed", "phitrace_storage must be one of full, redact, not 'hashed'"),
        ("phitrace_mode=blok", "phitrace_mode must be one of passive, block, redact"),
        ("phitrace_block_severity=info", "phitrace_block_severity must be one of high"),
        ("phitrace_consent=yes", "phitrace_consent must be one of none, accepted, rejected"),
    ],
)
async def test_set_refuses_values_outside_an_options_choices(spec: str, message: str) -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon)
        name = spec.split("=")[0]
        before = getattr(tctx.options, name)
        with pytest.raises(exceptions.OptionsError, match=message):
            tctx.options.set(spec)  # `--set` does not check choices itself
        assert getattr(tctx.options, name) == before


async def test_switching_to_redact_mid_session_covers_records_not_yet_written(
    tmp_path: Path,
) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        flow = tracker_flow()
        hooks.request(flow)
        tctx.configure(addon, phitrace_storage="redact", phitrace_store_bodies=False)
        assert addon.writer is not None
        assert (addon.writer.storage, addon.writer.store_bodies) == ("redact", False)
        hooks.response(flow)
        hooks.done()
    assert rows(db, "select url from flows") == [("https://region1.google-analytics.com/",)]
    assert rows(db, "select count(*) from requests") == [(0,)]


# Decode limits ----------------------------------------------------------------------------


async def test_decode_limit_options_default_to_the_library_limits() -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon)
        assert addon.analyzer is not None and addon.analyzer.limits == DEFAULT_LIMITS
        assert tctx.options.phitrace_max_ratio == f"{DEFAULT_LIMITS.max_ratio:g}"
        assert tctx.options.phitrace_decode_seconds == f"{DEFAULT_LIMITS.max_seconds:g}"
        assert tctx.options.phitrace_max_fields == DEFAULT_LIMITS.max_fields


async def test_decode_limit_options_set_from_text_reach_the_analyzer() -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon)
        assert addon.analyzer is not None
        catalogue = addon.analyzer.catalogue
        tctx.options.set(
            "phitrace_max_body_bytes=1000",
            "phitrace_max_decompressed_bytes=5000",
            "phitrace_max_ratio=12.5",
            "phitrace_max_depth=3",
            "phitrace_max_fields=7",
            "phitrace_decode_seconds=0.05",
        )
        limits = addon.analyzer.limits
        # Only the limits change: the catalogue and vocabulary are not loaded again.
        assert addon.analyzer.catalogue is catalogue
    assert (
        limits.max_body_bytes,
        limits.max_decompressed_bytes,
        limits.max_ratio,
        limits.max_depth,
        limits.max_fields,
        limits.max_seconds,
    ) == (1000, 5000, 12.5, 3, 7, 0.05)
    assert limits.max_nesting == DEFAULT_LIMITS.max_nesting


async def test_a_lowered_field_limit_truncates_what_is_recorded(tmp_path: Path) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db), phitrace_max_fields=2) as (tctx, hooks):
        flow = tracker_flow()
        hooks.request(flow)
        hooks.response(flow)
        hooks.done()
    assert rows(db, "select truncated from flows") == [("more than 2 fields",)]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("phitrace_max_body_bytes", "0", "phitrace_max_body_bytes must be a whole number above 0"),
        ("phitrace_max_depth", "-1", "phitrace_max_depth must be a whole number above 0"),
        # mitmproxy's own parser: "Not an integer" in 11, "not an integer" in 12.
        ("phitrace_max_fields", "many", "(?i)not an integer: many"),
        ("phitrace_max_ratio", "fast", "phitrace_max_ratio must be a number above 0 such as 250"),
        ("phitrace_max_ratio", "0", "phitrace_max_ratio must be a number above 0"),
        ("phitrace_decode_seconds", "nan", "phitrace_decode_seconds must be a number above 0"),
        ("phitrace_decode_seconds", "inf", "phitrace_decode_seconds must be a number above 0"),
        ("phitrace_decode_seconds", "-0.1", "such as 0.25, not '-0.1'"),
    ],
)
async def test_unusable_decode_limits_are_refused_and_the_previous_limits_kept(
    option: str, value: str, message: str
) -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, phitrace_max_depth=5)
        with pytest.raises(exceptions.OptionsError, match=message):
            tctx.options.set(f"{option}={value}")
        assert addon.analyzer is not None
        assert addon.analyzer.limits == DEFAULT_LIMITS.__class__(
            **{**DEFAULT_LIMITS.__dict__, "max_depth": 5}
        )
        assert str(getattr(tctx.options, option)) != value


def test_every_decode_limit_option_names_a_limit_field() -> None:
    assert {o.field for o in LIMIT_OPTIONS} == {
        "max_body_bytes",
        "max_decompressed_bytes",
        "max_ratio",
        "max_depth",
        "max_fields",
        "max_seconds",
    }


def test_the_script_module_has_every_hook_name_so_no_lookup_on_it_misses() -> None:
    # mitmproxy looks each event's hook up on the script module for every event of every
    # flow; a miss costs two exceptions.  None means "no hook of the module's own".
    from mitmproxy import hooks

    import phitrace.mitmproxy_addon as script

    assert hooks.all_hooks
    assert all(getattr(script, name) is None for name in hooks.all_hooks)
    assert [type(addon).__name__ for addon in script.addons] == ["PhiTrace"]
