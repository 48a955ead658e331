"""Capture commands: ``proxy`` (browse through mitmproxy) and ``scan`` (analyse files)."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from phitrace import __version__
from phitrace.act.sinkhole import SINKHOLE_SCOPES
from phitrace.cli.options import (
    ADDON_SCRIPT,
    build_analyzer,
    busy,
    canaries_option,
    db_option,
    signatures_option,
    sqlite_file_or_fail,
    storage_option,
    writable_db,
)
from phitrace.cli.policy import policy_option, read_policy
from phitrace.store.database import is_locked
from phitrace.store.rows import MAX_STORED_BODY
from phitrace.store.target import PostgresTarget, Target

if TYPE_CHECKING:
    from phitrace.analyzer import Analyzer
    from phitrace.capture.scan import ScanResult
    from phitrace.store.engine import Store


def _proxy_args(host: str, port: int, options: dict[str, str], ui: str) -> list[str]:
    """mitmproxy's command line: load the addon, listen, and set phitrace's options."""
    args = ["-s", str(ADDON_SCRIPT), "--listen-host", host, "--listen-port", str(port)]
    for name, value in options.items():
        # List options (mitmproxy's Sequence[str]) take one --set per comma-joined item.
        listed = name in ("phitrace_scope", "phitrace_signatures")
        items = value.split(",") if listed else [value]
        args += [arg for item in items for arg in ("--set", f"{name}={item}")]
    if options.get("phitrace_sinkhole") == "true":
        args += ["--set", "connection_strategy=lazy"]
    if ui == "web":
        args += ["--set", "web_open_browser=false"]
    return args


def _banner(host: str, port: int, db: Target, options: dict[str, str], confdir: Path) -> str:
    mode = (
        f"sinkhole ({options.get('phitrace_sinkhole_scope', 'third-party')} answered locally)"
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


@click.command(context_settings={"ignore_unknown_options": True})
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
    "--sinkhole",
    type=click.Choice(SINKHOLE_SCOPES),
    is_flag=False,
    flag_value="third-party",
    default=None,
    help="Answer requests locally, never forward them: third-party (the default: every "
    "beacon to another site, while pages still load their scripts, so every SDK's payload "
    "is captured and none is delivered), catalogue (only known trackers) or all.",
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
@policy_option
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
    db_path: Target,
    sinkhole: str | None,
    mode: str,
    block_severity: str,
    canaries: Path | None,
    label: str,
    consent: str | None,
    scopes: tuple[str, ...],
    extra_signatures: tuple[Path, ...],
    policy_path: Path | None,
    no_bodies: bool,
    storage: str,
    confdir: Path,
    mitmproxy_args: tuple[str, ...],
) -> None:
    """Run mitmproxy with phitrace; arguments after -- go to mitmproxy."""
    # Fail fast, with a clear message, on bad input.
    catalogue = build_analyzer(extra_signatures, canaries).catalogue
    read_policy(policy_path, frozenset(sig.id for sig in catalogue.signatures))
    sqlite_file_or_fail(db_path)
    db = db_path.resolve() if isinstance(db_path, Path) else db_path
    confdir = confdir.expanduser()
    _private_confdir(confdir)
    options = {
        "phitrace_db": _db_option(db),
        "phitrace_label": label,
        "phitrace_mode": mode,
        "phitrace_block_severity": block_severity,
        "phitrace_store_bodies": "false" if no_bodies else "true",
        "phitrace_storage": storage,
        "phitrace_sinkhole": "true" if sinkhole else "false",
        **({"phitrace_sinkhole_scope": sinkhole} if sinkhole else {}),
        "confdir": str(confdir),
    }
    if consent:
        options["phitrace_consent"] = consent
    if scopes:
        options["phitrace_scope"] = ",".join(scopes)
    if canaries:
        options["phitrace_canaries"] = str(canaries.resolve())
    if policy_path:
        options["phitrace_policy"] = str(policy_path.resolve())
    if extra_signatures:
        options["phitrace_signatures"] = ",".join(str(p.resolve()) for p in extra_signatures)
    args = _proxy_args(listen_host, listen_port, options, ui)
    click.echo(_banner(listen_host, listen_port, db, options, confdir), err=True)
    from mitmproxy.tools import main as mitm

    runner = {"web": mitm.mitmweb, "console": mitm.mitmproxy, "none": mitm.mitmdump}[ui]
    sys.exit(runner([*args, *mitmproxy_args]))


def _db_option(db: Target) -> str:
    """``phitrace_db`` for mitmproxy: a server's password goes to ``PGPASSWORD`` instead.

    mitmproxy shows its options (mitmweb's options page, ``:options`` in the
    console), so a password in the URL would be on screen; libpq reads the
    environment variable, which this process (mitmproxy runs in it) keeps.
    """
    if not isinstance(db, PostgresTarget):
        return str(db)
    if db.password is not None:
        os.environ["PGPASSWORD"] = db.password
    return db.without_password()


def _private_confdir(confdir: Path) -> None:
    """Make mitmproxy's directory (where its CA key lives) private before mitmproxy starts."""
    from phitrace.cli.confdir import ConfdirError, prepare_confdir

    try:
        prepare_confdir(confdir)
    except ConfdirError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@db_option
@click.option("--label", default="", help="Session label (default: the file name).")
@canaries_option
@signatures_option
@policy_option
@click.option("--no-bodies", is_flag=True, help="Do not store raw request bodies.")
@click.option(
    "--max-stored-body-bytes",
    "max_body",
    type=click.IntRange(min=-1),
    default=MAX_STORED_BODY,
    show_default=True,
    help="Store at most this many bytes of each raw request body (-1: no cap).",
)
@storage_option
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Scan this many files at once, each in a worker process (default: one per core). "
    "Sessions, flows and findings are the same as with --jobs 1.",
)
def scan(
    paths: tuple[Path, ...],
    db_path: Target,
    label: str,
    canaries: Path | None,
    extra_signatures: tuple[Path, ...],
    policy_path: Path | None,
    no_bodies: bool,
    max_body: int,
    storage: str,
    jobs: int | None,
) -> None:
    """Analyse captures into the database, one session per file.

    Reads HAR files (.har, .har.gz; Chrome and Firefox exports) and mitmproxy
    flow files (mitmdump -w) as streams, so files of any size fit in memory.
    """
    analyzer = build_analyzer(extra_signatures, canaries, lists=True)
    known = frozenset(sig.id for sig in analyzer.catalogue.signatures)
    analyzer.policy = read_policy(policy_path, known)
    db = writable_db(db_path)  # created and brought up to date before any worker opens it
    try:
        if min(jobs or os.cpu_count() or 1, len(paths)) > 1 and _parallel_available():
            db.close()
            _scan_parallel(
                list(paths), analyzer, db_path, jobs, label, not no_bodies, storage, max_body
            )
            return
        for path in paths:
            result = _scan_one(path, analyzer, db, label, not no_bodies, storage, max_body)
            _echo(result)
    except sqlite3.OperationalError as exc:
        if not is_locked(exc):
            raise
        raise busy(db_path) from exc
    finally:
        db.close()


def _echo(result: ScanResult) -> None:
    """Print a scanned file's warnings and its summary line."""
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    note = result.unanalysed_note()
    if note is not None:
        click.echo(f"warning: {note}", err=True)
    click.echo(result.summary())


def _parallel_available() -> bool:
    from phitrace.capture.parallel import available

    return available()


def _scan_parallel(
    paths: list[Path],
    analyzer: Analyzer,
    db_path: Target,
    jobs: int | None,
    label: str,
    bodies: bool,
    storage: str,
    max_body: int,
) -> None:
    """Scan files in worker processes; print each file's result in order, then the first error.

    Every file is scanned even if one fails, so the error comes last.
    """
    from phitrace.capture.har import HarError
    from phitrace.capture.parallel import scan_files

    options = {"label": label, "store_bodies": bodies, "storage": storage, "max_body": max_body}
    workers = jobs or os.cpu_count() or 1
    results = scan_files(paths, analyzer, db_path, writable_db, workers, **options)
    errors = [r for r in results if isinstance(r, Exception)]
    for result in results:
        if not isinstance(result, Exception):
            _echo(result)
    if errors:
        if isinstance(errors[0], HarError):
            raise click.ClickException(str(errors[0])) from errors[0]
        raise errors[0]


def _scan_one(
    path: Path,
    analyzer: Analyzer,
    db: Store,
    label: str,
    bodies: bool,
    storage: str,
    max_body: int,
) -> ScanResult:
    """Scan one file, with a progress bar when stderr is a terminal."""
    from phitrace.capture.har import HarError
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
                max_body=max_body,
            )
        except HarError as exc:
            raise click.ClickException(str(exc)) from exc
        bar.update(max(0, size - seen))
    return result
