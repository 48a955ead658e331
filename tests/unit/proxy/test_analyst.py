"""The analyst: captured events replayed against one session, as the proxy's hooks would."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from phitrace.analyzer import Analyzer
from phitrace.capture.flows import WireRequest, WireResponse
from phitrace.catalogue.loader import load_catalogue
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Request
from phitrace.proxy.analyst import (
    Analyst,
    Answered,
    Captured,
    Finished,
    Verdict,
    in_domains,
    packed,
    unpacked,
)
from phitrace.session import Session
from phitrace.store.database import open_database
from phitrace.store.sessions import start_session
from tests.support.database import rows

WITH_HEALTH = (
    "https://www.facebook.com/tr/?id=1&ev=Search&dl=https%3A%2F%2Fwww.example.org"
    "%2Fsearch&cd[search_string]=diabetes&fbp=fb.1.2.3"
)
ID_ONLY = "https://www.facebook.com/tr/?id=1&ev=PageView&fbp=fb.1.2.3&ud[em]=" + "a" * 64
FIRST_PARTY = "https://www.example.org/conditions/diabetes"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(load_catalogue(), load_vocabulary().prepare())


def captured(key: str, url: str, filtered: bool = True, hook: str = "request") -> Captured:
    return Captured(key, key, Request("GET", url), filtered, hook)


def opened(analyzer: Analyzer, path: Path, sent: list[object], **kwargs: object) -> Analyst:
    analyst = Analyst(analyzer, sent.append, session=Session(label="t"), **kwargs)  # type: ignore[arg-type]
    db = open_database(path)
    try:
        session_id = start_session(db, source="proxy")
    finally:
        db.close()
    analyst.open(path, session_id, {})
    return analyst


def test_tracker_flows_get_a_verdict_and_a_record_and_others_only_settle(
    analyzer: Analyzer, tmp_path: Path
) -> None:
    sent: list[object] = []
    analyst = opened(analyzer, tmp_path / "p.db", sent)
    for key, url in (("a", WITH_HEALTH), ("b", FIRST_PARTY)):
        analyst.handle(captured(key, url))
        analyst.handle(Finished(key, 200))
    assert [(v.key, v.view.vendor) for v in sent if isinstance(v, Verdict)] == [("a", "meta-pixel")]
    verdict = next(v for v in sent if isinstance(v, Verdict))
    assert verdict.view.mark and "meta-pixel [" in verdict.view.comment
    assert verdict.view.metadata["action"] == "passive"
    assert analyst.settle() == ["a", "b"]
    assert rows(tmp_path / "p.db", "select vendor, status_code from flows") == [("meta-pixel", 200)]
    analyst.close(True)


def test_the_second_request_is_linked_to_the_first_in_one_session(
    analyzer: Analyzer, tmp_path: Path
) -> None:
    linked = opened(analyzer, tmp_path / "p.db", [])
    alone = opened(analyzer, tmp_path / "q.db", [])
    linked.handle(captured("a", WITH_HEALTH))
    linked.handle(captured("b", ID_ONLY))
    alone.handle(captured("b", ID_ONLY))
    assert linked.flagged["b"].analysis.severity != alone.flagged["b"].analysis.severity
    linked.close(True)
    alone.close(True)


def test_closing_records_what_never_got_an_answer_or_hands_it_back(
    analyzer: Analyzer, tmp_path: Path
) -> None:
    analyst = opened(analyzer, tmp_path / "p.db", [])
    analyst.handle(captured("a", WITH_HEALTH))
    kept = opened(analyzer, tmp_path / "q.db", [])
    kept.handle(captured("a", WITH_HEALTH))
    assert analyst.close(True)["flagged"] == {}
    assert list(kept.close(False)["flagged"]) == ["a"]
    assert rows(tmp_path / "p.db", "select status_code from flows") == [(None,)]
    assert rows(tmp_path / "q.db", "select count(*) from flows") == [(0,)]


def test_a_flow_the_filter_or_the_domains_leave_out_is_not_analysed(
    analyzer: Analyzer, tmp_path: Path
) -> None:
    sent: list[object] = []
    analyst = opened(analyzer, tmp_path / "p.db", sent, domains=("clinic.example",))
    analyst.handle(captured("a", WITH_HEALTH, filtered=False))
    analyst.handle(
        Captured("b", "b", Request("GET", ID_ONLY, (("Referer", FIRST_PARTY),)), True, "request")
    )
    assert sent == [] and analyst.flagged == {}
    assert in_domains(("example.org",), FIRST_PARTY) and in_domains((), None)
    analyst.close(True)


def test_a_failed_analysis_is_recorded_with_its_error(
    analyzer: Analyzer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyst = opened(analyzer, tmp_path / "p.db", [])

    def broken(*_: object) -> None:
        raise KeyError("payload text")

    monkeypatch.setattr(analyzer.catalogue, "match", broken)
    analyst.handle(captured("a", WITH_HEALTH, hook="websocket_message"))
    analyst.close(True)
    assert analyst.session.errors == 1
    assert rows(tmp_path / "p.db", "select status_code, analysis_error from flows") == [
        (101, "websocket_message hook: KeyError")
    ]


def test_events_cross_the_pipe_as_plain_tuples_and_come_back_equal() -> None:
    wire = WireRequest("POST", "https://t.example/c", ((b"Host", b"t.example"),), b"a=1", 1.0)
    events = [
        Captured("k", "k", wire, True, "request"),
        Answered("k", None, WireResponse(204, ((b"Set-Cookie", b"s=1"),), b"")),
        Finished("k", 204, True),
        Captured("m", "k", Request("GET", "https://t.example/"), False, "websocket_message"),
    ]
    carried = pickle.loads(pickle.dumps([packed(event) for event in events]))
    assert [type(item) for item in carried[:3]] == [tuple, tuple, tuple]
    assert [unpacked(item) for item in carried] == events
