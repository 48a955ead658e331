"""Catalogue commands: ``signatures list|lint|test|import`` and ``entities import|lookup``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from phitrace.cli.options import build_analyzer, signatures_option


@click.group()
def signatures() -> None:
    """Inspect and check the tracker signature catalogue."""


@signatures.command("list")
@signatures_option
def signatures_list(extra_signatures: tuple[Path, ...]) -> None:
    """List signatures: id, name, company, category and endpoint hosts."""
    catalogue = build_analyzer(extra_signatures).catalogue
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
    click.echo(f"{len(build_analyzer(extra_signatures).catalogue)} signatures OK")


@signatures.command("test")
@signatures_option
def signatures_test(extra_signatures: tuple[Path, ...]) -> None:
    """Run every signature's test vectors."""
    from phitrace.catalogue.vectors import run_vectors

    results = run_vectors(build_analyzer(extra_signatures))
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


@click.group()
def entities() -> None:
    """Company names for third-party domains the catalogue does not know."""


@entities.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Name of the imported map (default: the file's name).")
def entities_import(path: Path, name: str | None) -> None:
    """Import an entity map (entity -> domains JSON, as privacy lists publish).

    Reads a plain {entity: [domains]} map, DuckDuckGo- and Disconnect-style entity
    files and webXray's domain owners. The normalised map is written to
    $PHITRACE_ENTITIES (default ~/.local/share/phitrace/entities); reports then name
    the company behind unlisted third parties.
    """
    from phitrace.catalogue.entities import EntityError, import_entities

    try:
        imported = import_entities(path, name=name)
    except EntityError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"imported {imported.domains} domains of {imported.entities} companies "
        f"as {imported.name} into {imported.path}"
    )


@entities.command("lookup")
@click.argument("hosts", nargs=-1, required=True)
def entities_lookup(hosts: tuple[str, ...]) -> None:
    """Print the company phitrace names for each host (catalogue first, then imports)."""
    from phitrace.catalogue.entities import load_entities
    from phitrace.catalogue.loader import load_catalogue

    known = load_entities(load_catalogue().signatures)
    for host in hosts:
        click.echo(f"{host}\t{known.company_of(host) or '-'}")
