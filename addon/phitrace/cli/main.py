"""The ``phitrace`` command line: a thin layer over the pipeline, store and report."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
import sqlite_utils

from phitrace import __version__
from phitrace.analyzer import Analyzer
from phitrace.capture.har import HarError
from phitrace.capture.scan import ScanResult
from phitrace.catalogue.signatures import SignatureError, load_catalogue
from phitrace.detect.canaries import NO_CANARIES, CanaryError, load_canaries
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.gate.baseline import FAIL_LEVELS
from phitrace.report.formats import FORMATS
from phitrace.store.reader import Findings, Leak

ADDON_SCRIPT = Path(__file__).resolve().parent.parent / "mitmproxy_addon.py"
DEFAULT_DB = "phitrace.db"

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite database file.",
)

storage_option = click.option(
    "--storage",
    type=click.Choice(["full", "redact"]),
    default="full",
    show_default=True,
    help="redact: keep only hashes and matched terms (URLs cut to their origin, no raw requests).",
)
signatures_option = click.option(
    "--signatures",
    "extra_signatures",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra signature file or directory (repeatable), on top of the bundled catalogue.",
)
canaries_option = click.option(
    "--canaries",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file of test-persona values to search for (canaries: {name: value}).",
)


def _analyzer(
    extra: tuple[Path, ...] = (), canaries: Path | None = None, *, lists: bool = False
) -> Analyzer:
    from phitrace.catalogue.lists import BlockListError, load_blocklist

    try:
        catalogue = load_catalogue(extra)
        needles = load_canaries(canaries) if canaries else NO_CANARIES
        blocklist = load_blocklist() if lists else None
    except (SignatureError, CanaryError, BlockListError) as exc:
        raise click.ClickException(str(exc)) from exc
    return Analyzer(catalogue, load_vocabulary(), needles, blocklist=blocklist)


def _existing_db(path: Path) -> sqlite_utils.Database:
    from phitrace.store.database import open_database

    if not path.exists():
        raise click.ClickException(
            f"no database at {path} — record one with 'phitrace proxy' or 'phitrace scan', "
            "or pass --db"
        )
    return open_database(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phitrace")
def main() -> None:
    """Catch health data leaking to third-party trackers.

    Run a proxy to browse through (proxy), analyse captures (scan), and
    review what leaked (report).
    """


@main.command("addon-path")
def addon_path() -> None:
    """Print the addon script path, for: mitmdump -s "$(phitrace addon-path)"."""
    click.echo(str(ADDON_SCRIPT))


def _proxy_args(host: str, port: int, options: dict[str, str], ui: str) -> list[str]:
    """mitmproxy's command line: load the addon, listen, and set phitrace's options."""
    args = ["-s", str(ADDON_SCRIPT), "--listen-host", host, "--listen-port", str(port)]
    for name, value in options.items():
        args += ["--set", f"{name}={value}"]
    if options.get("phitrace_sinkhole") == "true":
        args += ["--set", "connection_strategy=lazy"]
    if ui == "web":
        args += ["--set", "web_open_browser=false"]
    return args


def _banner(host: str, port: int, db: Path, options: dict[str, str], confdir: Path) -> str:
    mode = (
        "sinkhole (trackers answered locally)"
        if options.get("phitrace_sinkhole") == "true"
        else options["phitrace_mode"]
    )
    lines = [
        f"phitrace {__version__}: proxy on http://{host}:{port}, mode: {mode}",
        f"  recording to {db}",
        f"  point your browser's HTTP and HTTPS proxy at {host}:{port}",
        f"  trust mitmproxy's CA: {confdir / 'mitmproxy-ca-cert.pem'} "
        "(created on first start; or open http://mitm.it through the proxy)",
    ]
    if options.get("phitrace_scope"):
        lines.append(f"  analysing pages of: {options['phitrace_scope']}")
    lines.append("  the session id is logged when the proxy starts; stop with Ctrl-C")
    return "\n".join(lines)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--ui",
    type=click.Choice(["web", "console", "none"]),
    default="none",
    show_default=True,
    help="web = mitmweb, console = mitmproxy, none = mitmdump.",
)
@click.option(
    "--listen-host", default="127.0.0.1", show_default=True, help="Address the proxy listens on."
)
@click.option(
    "--listen-port", default=8080, show_default=True, type=int, help="Port the proxy listens on."
)
@db_option
@click.option(
    "--sinkhole", is_flag=True, help="Answer tracker requests locally; never forward them."
)
@click.option(
    "--mode",
    type=click.Choice(["passive", "block", "redact"]),
    default="passive",
    show_default=True,
    help="What to do with tracker requests that carry findings.",
)
@click.option(
    "--block-severity",
    type=click.Choice(["high", "medium", "low"]),
    default="medium",
    show_default=True,
    help="In block and redact modes, act on requests at or above this severity.",
)
@canaries_option
@click.option("--label", default="", help="Label stored on this recording session.")
@click.option(
    "--consent",
    type=click.Choice(["accepted", "rejected", "none"]),
    help="What you answered the site's consent banner (stored on the session).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="Only analyse requests made from pages of this domain (repeatable).",
)
@signatures_option
@click.option("--no-bodies", is_flag=True, help="Do not store raw request bodies.")
@storage_option
@click.option(
    "--confdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("~/.mitmproxy"),
    show_default=True,
    help="mitmproxy's configuration directory (where its CA lives).",
)
@click.argument("mitmproxy_args", nargs=-1, type=click.UNPROCESSED)
def proxy(
    ui: str,
    listen_host: str,
    listen_port: int,
    db_path: Path,
    sinkhole: bool,
    mode: str,
    block_severity: str,
    canaries: Path | None,
    label: str,
    consent: str | None,
    scopes: tuple[str, ...],
    extra_signatures: tuple[Path, ...],
    no_bodies: bool,
    storage: str,
    confdir: Path,
    mitmproxy_args: tuple[str, ...],
) -> None:
    """Run mitmproxy with phitrace; arguments after -- go to mitmproxy."""
    _analyzer(extra_signatures, canaries)  # fail fast, with a clear message, on bad input
    db = db_path.resolve()
    confdir = confdir.expanduser()
    options = {
        "phitrace_db": str(db),
        "phitrace_label": label,
        "phitrace_mode": mode,
        "phitrace_block_severity": block_severity,
        "phitrace_store_bodies": "false" if no_bodies else "true",
        "phitrace_storage": storage,
        "phitrace_sinkhole": "true" if sinkhole else "false",
        "confdir": str(confdir),
    }
    if consent:
        options["phitrace_consent"] = consent
    if scopes:
        options["phitrace_scope"] = ",".join(scopes)
    if canaries:
        options["phitrace_canaries"] = str(canaries.resolve())
    if extra_signatures:
        options["phitrace_signatures"] = ",".join(str(p.resolve()) for p in extra_signatures)
    args = _proxy_args(listen_host, listen_port, options, ui)
    click.echo(_banner(listen_host, listen_port, db, options, confdir), err=True)
    from mitmproxy.tools import main as mitm

    runner = {"web": mitm.mitmweb, "console": mitm.mitmproxy, "none": mitm.mitmdump}[ui]
    sys.exit(runner([*args, *mitmproxy_args]))


@main.command()
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@db_option
@click.option("--label", default="", help="Session label (default: the file name).")
@canaries_option
@signatures_option
@click.option("--no-bodies", is_flag=True, help="Do not store raw request bodies.")
@storage_option
def scan(
    paths: tuple[Path, ...],
    db_path: Path,
    label: str,
    canaries: Path | None,
    extra_signatures: tuple[Path, ...],
    no_bodies: bool,
    storage: str,
) -> None:
    """Analyse captures into the database, one session per file.

    Reads HAR files (.har, .har.gz; Chrome and Firefox exports) and mitmproxy
    flow files (mitmdump -w) as streams, so files of any size fit in memory.
    """
    from phitrace.store.database import open_database

    analyzer = _analyzer(extra_signatures, canaries, lists=True)
    db = open_database(db_path)
    try:
        for path in paths:
            result = _scan_one(path, analyzer, db, label, not no_bodies, storage)
            click.echo(
                f"{path}: session {result.session_id}: {result.requests} requests, "
                f"{result.flows} tracker flows, {result.findings} findings"
            )
    finally:
        db.close()


def _scan_one(
    path: Path,
    analyzer: Analyzer,
    db: sqlite_utils.Database,
    label: str,
    bodies: bool,
    storage: str,
) -> ScanResult:
    """Scan one file, with a progress bar when stderr is a terminal."""
    from phitrace.capture.scan import scan_file

    size = path.stat().st_size
    with click.progressbar(
        length=size, label=path.name, file=sys.stderr, hidden=not sys.stderr.isatty()
    ) as bar:
        seen = 0

        def advance(offset: int) -> None:
            nonlocal seen
            bar.update(max(0, offset - seen))
            seen = max(seen, offset)

        try:
            result = scan_file(
                path,
                analyzer,
                db,
                label=label,
                store_bodies=bodies,
                storage=storage,
                progress=advance,
            )
        except HarError as exc:
            raise click.ClickException(str(exc)) from exc
        bar.update(max(0, size - seen))
    return result


session_option = click.option(
    "--session", type=int, help="Only this session id (default: all sessions)."
)


class CannotCheck(click.ClickException):
    """The gate could not run at all: exit code 2, never mistaken for "leaks found"."""

    exit_code = 2


def _session_db(db_path: Path, session: int | None) -> sqlite_utils.Database:
    """The database at ``db_path``, checked to hold ``session`` (when one is named)."""
    db = _existing_db(db_path)
    if session is not None and not db.table("sessions").count_where("id = ?", [session]):
        db.close()
        raise click.ClickException(
            f"no session {session} in {db_path} — list sessions with datasette or sqlite3"
        )
    return db


def _findings(db_path: Path, session: int | None, *, raw: bool = False) -> Findings:
    """Load one session (or all) for a report or an export."""
    from phitrace.store.reader import load_findings

    db = _session_db(db_path, session)
    try:
        return load_findings(db, session, raw=raw)
    finally:
        db.close()


def _leaks(db_path: Path, session: int | None) -> list[Leak]:
    """Only the findings of one session (or all): what the gate compares, without the flows."""
    from phitrace.store.reader import load_leaks

    db = _session_db(db_path, session)
    try:
        return load_leaks(db, session)
    finally:
        db.close()


@main.command()
@db_option
@session_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="html",
    show_default=True,
    help="html, json, csv, md (a pull-request comment), junit (JUnit XML) or sarif (SARIF 2.1.0).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="File to write; - for standard output (default: phitrace-report.EXT).",
)
def report(db_path: Path, session: int | None, fmt: str, output: Path | None) -> None:
    """Write a report of flagged flows: self-contained HTML or a machine-readable format."""
    from phitrace.report.formats import RAW_FORMATS, extension
    from phitrace.store.private import write_private

    findings = _findings(db_path, session, raw=fmt in RAW_FORMATS)
    text = FORMATS[fmt](findings)
    target = output or Path(f"phitrace-report.{extension(fmt)}")
    if str(target) == "-":
        click.echo(text, nl=False)
        return
    write_private(target, text)
    click.echo(f"wrote {target}: {findings.total_flows} flows, {len(findings.leaks)} findings")


@main.command()
@db_option
@click.option("--session", "sessions", type=int, multiple=True, help="Session id (repeatable).")
@click.option("--before", type=click.DateTime(), help="Sessions started before this time (UTC).")
@click.option("--all", "everything", is_flag=True, help="Every session.")
@click.option("--yes", is_flag=True, help="Delete without asking for confirmation.")
def purge(
    db_path: Path, sessions: tuple[int, ...], before: datetime | None, everything: bool, yes: bool
) -> None:
    """Delete sessions with their flows, findings and raw requests (overwritten on disk)."""
    from phitrace.store.sessions import count_sessions, purge_sessions, select_sessions

    if sum((bool(sessions), before is not None, everything)) != 1:
        raise click.UsageError("choose one of --session ID, --before DATE or --all")
    db = _existing_db(db_path)
    try:
        ids = select_sessions(db, ids=sessions, before=before, everything=everything)
        missing = sorted(set(sessions) - set(ids))
        if missing:
            raise click.ClickException(f"no session {missing[0]} in {db_path} — nothing deleted")
        if ids and not yes:
            counts = count_sessions(db, ids)
            click.confirm(
                f"Delete {counts.sessions} session(s), {counts.flows} flows and "
                f"{counts.findings} findings from {db_path}?",
                abort=True,
            )
        purged = purge_sessions(db, ids)
    finally:
        db.close()
    click.echo(
        f"deleted {purged.sessions} session(s): {purged.flows} flows, {purged.findings} findings"
    )


@main.group()
def signatures() -> None:
    """Inspect and check the tracker signature catalogue."""


@signatures.command("list")
@signatures_option
def signatures_list(extra_signatures: tuple[Path, ...]) -> None:
    """List signatures: id, name, company, category and endpoint hosts."""
    catalogue = _analyzer(extra_signatures).catalogue
    rows = [
        (
            s.id,
            s.name,
            s.company,
            s.category,
            ", ".join(dict.fromkeys(h for e in s.endpoints for h in e.hosts))
            + (" + payload shape" if any(not e.hosts for e in s.endpoints) else ""),
        )
        for s in catalogue.signatures
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        )


@signatures.command("lint")
@signatures_option
def signatures_lint(extra_signatures: tuple[Path, ...]) -> None:
    """Check signature files against signatures/schema.json; report every problem."""
    from phitrace.catalogue.lint import lint_paths

    problems = lint_paths(extra_signatures)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in signature files")
    click.echo(f"{len(_analyzer(extra_signatures).catalogue)} signatures OK")


@signatures.command("test")
@signatures_option
def signatures_test(extra_signatures: tuple[Path, ...]) -> None:
    """Run every signature's test vectors."""
    from phitrace.catalogue.vectors import run_vectors

    results = run_vectors(_analyzer(extra_signatures))
    failed = [r for r in results if not r.ok]
    for result in failed:
        click.echo(f"FAIL {result.name}: " + "; ".join(result.problems), err=True)
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


@signatures.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="List name; flows it flags get vendor list:NAME (default: its Title).")
def signatures_import(path: Path, name: str | None) -> None:
    """Import an Adblock Plus list (e.g. EasyPrivacy) for trackers outside the catalogue.

    The list is copied into $PHITRACE_LISTS (default ~/.local/share/phitrace/lists);
    scans then flag requests it blocks that no signature matches.
    """
    from phitrace.catalogue.lists import BlockListError, import_list

    try:
        imported = import_list(path, name=name)
    except BlockListError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"imported {imported.rules} rules as list:{imported.name} into {imported.path}")


@main.command("check")
@db_option
@session_option
@click.option(
    "--fail-on",
    type=click.Choice(list(FAIL_LEVELS)),
    default="medium",
    show_default=True,
    help="Fail on findings at or above this severity.",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Baseline file (from phitrace baseline) of accepted findings.",
)
def check_command(db_path: Path, session: int | None, fail_on: str, baseline: Path | None) -> None:
    """Fail when findings at or above --fail-on exist that the baseline does not accept.

    Exit codes: 0 passed; 1 new findings at or above the level (listed);
    2 could not check (no database, unknown session, unreadable baseline, bad option).
    """
    from phitrace.gate.baseline import BaselineError, check, describe, read_baseline

    try:
        accepted = read_baseline(baseline) if baseline else frozenset()
    except BaselineError as exc:
        raise CannotCheck(str(exc)) from exc
    try:
        leaks = _leaks(db_path, session)
    except click.ClickException as exc:
        raise CannotCheck(exc.message) from exc
    result = check(leaks, fail_on, accepted)
    for item in result.failing:
        click.echo(describe(item))
    verdict = "FAILED" if result.failing else "passed"
    click.echo(
        f"phitrace check {verdict}: {len(result.failing)} new leak(s) at or above {fail_on}, "
        f"{result.accepted} finding(s) accepted by the baseline, {result.below} below the level"
    )
    if result.failing:
        sys.exit(1)


@main.command("baseline")
@db_option
@session_option
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Baseline file to write (JSON; commit it next to your CI configuration).",
)
def baseline_command(db_path: Path, session: int | None, output: Path) -> None:
    """Accept the current findings: write their fingerprints for check --baseline."""
    from phitrace.gate.baseline import write_baseline

    leaks = _leaks(db_path, session)
    count = write_baseline(output, leaks)
    click.echo(f"wrote {output}: {count} accepted leak(s) from {len(leaks)} finding(s)")


@main.command("diff")
@click.argument("databases", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@db_option
@click.option("--old-session", type=int, help="Session of the old run (in OLD.db or --db).")
@click.option("--new-session", type=int, help="Session of the new run (in NEW.db or --db).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for a terminal, json for scripts.",
)
def diff_command(
    databases: tuple[Path, ...],
    db_path: Path,
    old_session: int | None,
    new_session: int | None,
    fmt: str,
) -> None:
    """List leaks new, fixed and unchanged: phitrace diff OLD.db NEW.db, or two sessions of --db."""
    from phitrace.gate.baseline import diff, diff_json, diff_text

    if len(databases) not in (0, 2):
        raise click.UsageError("give two databases (OLD.db NEW.db), or none and two sessions")
    if not databases and (old_session is None or new_session is None):
        raise click.UsageError("without OLD.db NEW.db, give --old-session and --new-session")
    old_db, new_db = databases or (db_path, db_path)
    result = diff(_leaks(old_db, old_session), _leaks(new_db, new_session))
    click.echo(diff_text(result) if fmt == "text" else diff_json(result), nl=fmt == "text")


@main.group()
def export() -> None:
    """Write evidence bundles, and verify them."""


@export.command("evidence")
@db_option
@session_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("phitrace-evidence.zip"),
    show_default=True,
    help="Zip file to write.",
)
def export_evidence(db_path: Path, session: int | None, output: Path) -> None:
    """Zip the flagged flows (HAR), the findings (JSON) and a manifest of SHA-256 digests."""
    from phitrace.report.evidence import write_bundle

    findings = _findings(db_path, session, raw=True)
    digest = write_bundle(findings, output)
    flows = len(findings.flagged_flow_ids)
    click.echo(f"wrote {output}: {flows} flows, {len(findings.leaks)} findings")
    click.echo(f"manifest sha256: {digest}")


@export.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--manifest-sha256",
    help="Also require this manifest digest (as printed by 'phitrace export evidence').",
)
def export_verify(bundle: Path, manifest_sha256: str | None) -> None:
    """Check every file of an evidence bundle against its manifest; exit 1 on any mismatch."""
    from phitrace.report.evidence import verify_bundle

    result = verify_bundle(bundle, manifest_sha256)
    for problem in result.problems:
        click.echo(problem, err=True)
    if not result.ok:
        raise click.ClickException(f"{bundle} does not verify: {len(result.problems)} problem(s)")
    click.echo(
        f"{bundle}: OK, {result.files} files match; manifest sha256 {result.manifest_sha256}"
    )


@main.command("datasette-metadata")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    help="Database the metadata is for (Datasette keys it by the file name).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the metadata here (default: print the bundled file's path).",
)
def datasette_metadata(db_path: Path, output: Path | None) -> None:
    """Datasette metadata (table descriptions, canned queries) for browsing a database.

    Use it as: datasette phitrace.db -m "$(phitrace datasette-metadata)".
    Datasette is optional: pip install datasette.
    """
    from phitrace.report.formats import datasette_metadata, datasette_metadata_path

    name = Path(db_path).stem
    if output is None and name == "phitrace":
        click.echo(str(datasette_metadata_path()))
        return
    if output is None:
        raise click.UsageError(f"metadata for {db_path} needs -o FILE (it is keyed '{name}')")
    output.write_text(datasette_metadata(name), encoding="utf-8")
    click.echo(f"wrote {output} for database '{name}'")
