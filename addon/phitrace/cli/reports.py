"""Report commands: ``report``, ``compare``, ``export evidence``/``verify`` and Datasette."""

from __future__ import annotations

from pathlib import Path

import click

from phitrace.cli.options import (
    DEFAULT_DB,
    check_output,
    db_option,
    output_or_fail,
    read_or_fail,
    session_db,
    session_option,
)
from phitrace.cli.policy import judge_leaks, policy_option, read_policy
from phitrace.cli.streamed import stream_html_report, stream_report
from phitrace.report.formats import FORMATS, STREAMED
from phitrace.store.reader import Findings, SessionView
from phitrace.store.target import Target, files


def _findings(db_path: Target, session: int | None, *, raw: bool = False) -> Findings:
    """Load one session (or all) for a report or an export."""
    from phitrace.store.reader import load_findings

    db = session_db(db_path, session)
    try:
        return read_or_fail(db_path, lambda: load_findings(db, session, raw=raw))
    finally:
        db.close()


@click.command()
@db_option
@session_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice([*FORMATS, "pdf"]),
    default="html",
    show_default=True,
    help="html, pdf (printed by Chromium), json, csv, md (a pull-request comment), "
    "junit (JUnit XML) or sarif (SARIF 2.1.0).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="File to write; - for standard output (default: phitrace-report.EXT).",
)
@policy_option
def report(
    db_path: Target, session: int | None, fmt: str, output: Path | None, policy_path: Path | None
) -> None:
    """Write a report of flagged flows: self-contained HTML or a machine-readable format.

    With --policy, the policy file decides anew which findings it accepts; they are shown
    apart from the others, never left out.
    """
    from phitrace.report.formats import RAW_FORMATS, extension

    policy = read_policy(policy_path)
    target = output or Path(f"phitrace-report.{extension(fmt)}")
    to_stdout = str(target) == "-"
    if not to_stdout:
        check_output(target, (db_path,))
    if fmt in STREAMED:
        stream_report(db_path, session, fmt, policy, None if to_stdout else target)
        return
    if fmt == "html":
        stream_html_report(db_path, session, policy, None if to_stdout else target)
        return
    chromium = _chromium() if fmt == "pdf" else None
    findings = _findings(db_path, session, raw=fmt in RAW_FORMATS or chromium is not None)
    findings.leaks = judge_leaks(policy, findings.leaks)
    text = _pdf(findings, db_path, chromium) if chromium else FORMATS[fmt](findings)
    if to_stdout:
        click.echo(text, nl=False)
        return
    output_or_fail(target, text, (db_path,))
    click.echo(f"wrote {target}: {findings.total_flows} flows, {len(findings.leaks)} findings")


def _chromium() -> Path:
    """The Chromium the PDF is printed with, found before any work; missing is one line."""
    from phitrace.report.pdf import PdfError, find_chromium

    try:
        return find_chromium()
    except PdfError as exc:
        raise click.ClickException(str(exc)) from exc


def _pdf(findings: Findings, db_path: Target, chromium: Path) -> bytes:
    """The PDF report, its cover naming the SHA-256 of the database file it was read from."""
    from phitrace.report.pdf import PdfError, to_pdf
    from phitrace.report.printed import file_sha256

    try:
        digest = (
            file_sha256(db_path)
            if isinstance(db_path, Path)
            else "not applicable: read from a PostgreSQL server"
        )
        return to_pdf(findings, digest, chromium)
    except PdfError as exc:
        raise click.ClickException(str(exc)) from exc


def _one_session(db_path: Target, session: int) -> tuple[Findings, SessionView]:
    """Load one named session; a session the database lacks is a one-line error."""
    findings = _findings(db_path, session)
    return findings, findings.sessions[0]


@click.command()
@click.argument("session_a", type=int)
@click.argument("session_b", type=int)
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "json", "html"]),
    default="md",
    show_default=True,
    help="md (Markdown), json, or html (a self-contained page).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="File to write (default: standard output).",
)
def compare(session_a: int, session_b: int, db_path: Target, fmt: str, output: Path | None) -> None:
    """Compare two sessions: vendors, endpoints and (vendor, category) cells in one only,
    and severity changes, with counts (e.g. consent accepted vs rejected, before vs after a fix).
    """
    from phitrace.report.compare import compare as compare_sessions
    from phitrace.report.compare_formats import COMPARE_FORMATS

    to_file = output is not None and str(output) != "-"
    if output is not None and to_file:
        check_output(output, (db_path,))
    a, view_a = _one_session(db_path, session_a)
    b, view_b = _one_session(db_path, session_b)
    text = COMPARE_FORMATS[fmt](compare_sessions(a, b, view_a, view_b))
    if output is None or not to_file:
        click.echo(text, nl=False)
        return
    output_or_fail(output, text, (db_path,))
    click.echo(f"wrote {output}: sessions {session_a} and {session_b} compared")


@click.group()
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
def export_evidence(db_path: Target, session: int | None, output: Path) -> None:
    """Zip the flagged flows (HAR), the findings (JSON) and a manifest of SHA-256 digests."""
    from phitrace.report.evidence import write_bundle
    from phitrace.store.private import OutputError

    check_output(output, (db_path,))
    findings = _findings(db_path, session, raw=True)
    try:
        digest = write_bundle(findings, output, databases=files([db_path]))
    except OutputError as exc:
        raise click.ClickException(str(exc)) from exc
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
    if result.refused:
        raise click.ClickException(result.refused)
    for problem in result.problems:
        click.echo(problem, err=True)
    if not result.ok:
        raise click.ClickException(f"{bundle} does not verify: {len(result.problems)} problem(s)")
    click.echo(
        f"{bundle}: OK, {result.files} files match; manifest sha256 {result.manifest_sha256}"
    )


@click.command("datasette-metadata")
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
    output_or_fail(output, datasette_metadata(name), (db_path,))
    click.echo(f"wrote {output} for database '{name}'")
