"""The ``phitrace`` command line: a thin layer over the pipeline, store and report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from phitrace import __version__
from phitrace.canaries import NO_CANARIES, CanaryError, load_canaries
from phitrace.har import HarError
from phitrace.pipeline import Analyzer
from phitrace.signatures import SignatureError, load_catalogue
from phitrace.vocabulary import load_vocabulary

ADDON_SCRIPT = Path(__file__).resolve().parent / "mitmproxy_addon.py"
DEFAULT_DB = "phitrace.db"

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite database file.",
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


def _analyzer(extra: tuple[Path, ...] = (), canaries: Path | None = None) -> Analyzer:
    try:
        catalogue = load_catalogue(extra)
        needles = load_canaries(canaries) if canaries else NO_CANARIES
    except (SignatureError, CanaryError) as exc:
        raise click.ClickException(str(exc)) from exc
    return Analyzer(catalogue, load_vocabulary(), needles)


def _existing_db(path: Path):  # type: ignore[no-untyped-def]
    from phitrace.store import open_database

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


def _proxy_args(
    host: str,
    port: int,
    db: Path,
    sinkhole: bool,
    canaries: Path | None,
    label: str,
    extra_signatures: tuple[Path, ...],
    store_bodies: bool,
    ui: str,
) -> list[str]:
    args = [
        "-s",
        str(ADDON_SCRIPT),
        "--listen-host",
        host,
        "--listen-port",
        str(port),
        "--set",
        f"phitrace_db={db}",
        "--set",
        f"phitrace_label={label}",
        "--set",
        f"phitrace_store_bodies={'true' if store_bodies else 'false'}",
    ]
    if sinkhole:
        args += ["--set", "phitrace_sinkhole=true", "--set", "connection_strategy=lazy"]
    if canaries:
        args += ["--set", f"phitrace_canaries={canaries}"]
    if extra_signatures:
        args += ["--set", "phitrace_signatures=" + ",".join(str(p) for p in extra_signatures)]
    if ui == "web":
        args += ["--set", "web_open_browser=false"]
    return args


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
@canaries_option
@click.option("--label", default="", help="Label stored on this recording session.")
@signatures_option
@click.option("--no-bodies", is_flag=True, help="Do not store raw request bodies.")
@click.argument("mitmproxy_args", nargs=-1, type=click.UNPROCESSED)
def proxy(
    ui: str,
    listen_host: str,
    listen_port: int,
    db_path: Path,
    sinkhole: bool,
    canaries: Path | None,
    label: str,
    extra_signatures: tuple[Path, ...],
    no_bodies: bool,
    mitmproxy_args: tuple[str, ...],
) -> None:
    """Run mitmproxy with phitrace; arguments after -- go to mitmproxy."""
    _analyzer(extra_signatures, canaries)  # fail fast, with a clear message, on bad input
    args = _proxy_args(
        listen_host,
        listen_port,
        db_path.resolve(),
        sinkhole,
        canaries,
        label,
        extra_signatures,
        not no_bodies,
        ui,
    )
    confdir = Path("~/.mitmproxy").expanduser()
    click.echo(
        f"phitrace {__version__}: proxy on http://{listen_host}:{listen_port}"
        f"{' (sinkhole: trackers answered locally)' if sinkhole else ''}\n"
        f"  recording to {db_path.resolve()}\n"
        f"  point your browser's HTTP and HTTPS proxy at {listen_host}:{listen_port}\n"
        f"  trust mitmproxy's CA: {confdir / 'mitmproxy-ca-cert.pem'} "
        "(or open http://mitm.it through the proxy)\n"
        "  the session id is logged when the proxy starts; stop with Ctrl-C",
        err=True,
    )
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
def scan(
    paths: tuple[Path, ...],
    db_path: Path,
    label: str,
    canaries: Path | None,
    extra_signatures: tuple[Path, ...],
    no_bodies: bool,
) -> None:
    """Analyse HAR captures (.har, .har.gz) into the database, one session per file."""
    from phitrace.scan import scan_har
    from phitrace.store import open_database

    analyzer = _analyzer(extra_signatures, canaries)
    db = open_database(db_path)
    for path in paths:
        try:
            result = scan_har(path, analyzer, db, label=label, store_bodies=not no_bodies)
        except HarError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(
            f"{path}: session {result.session_id}: {result.requests} requests, "
            f"{result.flows} tracker flows, {result.findings} findings"
        )
    db.close()


@main.command()
@db_option
@click.option("--session", type=int, help="Only this session id (default: all sessions).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("phitrace-report.html"),
    show_default=True,
    help="HTML file to write.",
)
def report(db_path: Path, session: int | None, output: Path) -> None:
    """Write a self-contained HTML report of flagged flows."""
    from phitrace.report import build_context, render_html, write_private

    db = _existing_db(db_path)
    context = build_context(db, session)
    db.close()
    write_private(output, render_html(context))
    click.echo(f"wrote {output}: {context.total_flows} flows, {context.total_findings} findings")


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
            ", ".join(h for e in s.endpoints for h in e.hosts) or "(payload shape)",
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
    """Validate signature files; report the first problem with file and line."""
    catalogue = _analyzer(extra_signatures).catalogue
    click.echo(f"{len(catalogue)} signatures OK")


@signatures.command("test")
@signatures_option
def signatures_test(extra_signatures: tuple[Path, ...]) -> None:
    """Run every signature's test vectors."""
    from phitrace.vectors import run_vectors

    results = run_vectors(_analyzer(extra_signatures))
    failed = [r for r in results if not r.ok]
    for result in failed:
        click.echo(f"FAIL {result.name}: " + "; ".join(result.problems), err=True)
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)
