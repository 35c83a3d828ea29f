"""The ``embaudit`` command: ``demo``, ``audit`` and ``check``.

Bad input exits with code 2 and a one-paragraph message naming what to fix.
"""

from __future__ import annotations

import shlex
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from embaudit.audit import audit, rebuild_reports
from embaudit.claims import Claim, check_against_audit, check_claims
from embaudit.config import AuditConfig, build_config
from embaudit.data.reading import read_frame
from embaudit.data.table import load_table
from embaudit.errors import ConfigError, DataError, EmbauditError, EmbauditWarning
from embaudit.model import load_member
from embaudit.reports.explorer import explore as explore_axes
from embaudit.worlds import product_lifespan

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Test whether trends read off a neural network's embedding survive held-out data.",
)
console = Console(stderr=True)
EXIT_BAD_INPUT = 2


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the store and reports.")] = Path(
        "embaudit-demo"
    ),
    seed: Annotated[int, typer.Option(min=0, help="Seed of the world and of the audit.")] = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a different audit already in --out.")
    ] = False,
    landscape: Annotated[
        bool, typer.Option(help="Loss-landscape diagnostics of the minima (about 30 s).")
    ] = True,
) -> None:
    """Audit the built-in product-lifespan world (planted truth) end to end."""

    with _user_errors():
        console.print(f"Generating the product-lifespan world (seed {seed}) …")
        world = product_lifespan(seed=seed)
        with _progress() as report:
            result = audit({"seed": seed, "out": str(out),
                            "landscape": {"enabled": landscape}}, table=world.table,
                           truth=world.truth, progress=report, overwrite=overwrite,
                           command=_command_line())
        _finish(result, out)
        explorer = explore_axes(out)["html"]
        console.print(f"Axis explorer (discovery rows only): {explorer}", markup=False,
                      highlight=False)


@app.command(name="audit")
def audit_command(
    data: Annotated[Path | None, typer.Option(help="CSV or Parquet file to audit.")] = None,
    target: Annotated[str | None, typer.Option(help="Lifespan column (> 0 for log).")] = None,
    attributes: Annotated[
        str | None, typer.Option(help="Comma-separated attribute columns to test.")
    ] = None,
    features: Annotated[
        str | None,
        typer.Option(help="Comma-separated feature names or patterns (default: every "
                          "numeric column without another role)."),
    ] = None,
    covariates: Annotated[str | None, typer.Option(help="Comma-separated covariates.")] = None,
    id_column: Annotated[str | None, typer.Option("--id", help="Unique row id column.")] = None,
    group: Annotated[
        str | None, typer.Option(help="Group column: a group's rows never split apart.")
    ] = None,
    event: Annotated[
        str | None, typer.Option(help="Event column: 1 (or true, yes) = failed at the "
                                      "lifespan, 0 = still in service (censored).")
    ] = None,
    images: Annotated[
        str | None, typer.Option(help="Column with a picture of each object (a path or URL) "
                                      "for the axis explorer.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="audit.toml with further options.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the store and reports.")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Root seed.")] = None,
    executor: Annotated[
        str | None, typer.Option(help="Where members train: local or dask.")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address (with --executor dask); none: a local "
                          "cluster."),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help="Where networks train: cpu, or cuda[:N] (a GPU, in this process).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a different audit already in --out.")
    ] = False,
    landscape: Annotated[
        bool | None,
        typer.Option(help="Loss-landscape diagnostics of the minima (default: the config's "
                          "landscape.enabled).")
    ] = None,
    landscape_optimizers: Annotated[
        str | None,
        typer.Option(help="Optimizer study: comma-separated optimizers (adam, sgd, lbfgs) "
                          "to retrain the landscape's minima with; implies --landscape."),
    ] = None,
) -> None:
    """Audit a table: train the regimes, test the trends, write the reports.

    Re-running into the same --out resumes an interrupted audit.
    """

    with _user_errors():
        overrides: dict[str, Any] = {
            "data": {
                "path": str(data) if data else None,
                "target": target,
                "attributes": _split_list(attributes),
                "features": _split_list(features),
                "covariates": _split_list(covariates),
                "id": id_column,
                "group": group,
                "event": event,
                "images": images,
            },
            "out": str(out) if out else None,
            "seed": seed,
            "execution": {"executor": executor, "scheduler": scheduler},
            "training": {"device": device},
            "landscape": {"enabled": True if landscape_optimizers else landscape,
                          "optimizers": _split_list(landscape_optimizers)},
        }
        settings = (AuditConfig.from_toml(config, **overrides) if config
                    else build_config(_drop_none(overrides), source="command line"))
        if settings.out is None:
            raise ConfigError("No output folder: pass --out DIR (or set out in the config).")
        if not settings.data.attributes:
            raise ConfigError("No attributes: pass --attributes A,B,... (or set "
                              "data.attributes in the config).")
        with _progress() as report:
            result = audit(settings, progress=report, overwrite=overwrite,
                           command=_command_line())
        _finish(result, settings.out)


@app.command()
def report(
    out: Annotated[Path, typer.Argument(help="Folder of a finished audit (its --out).")],
    formats: Annotated[
        str, typer.Option("--format", help="Comma-separated formats to write: html, md, json.")
    ] = "html,md,json",
) -> None:
    """Write an audit's reports again from its store alone (no training, no statistics).

    report.json comes out byte-identical to the audit's own.
    """

    with _user_errors():
        if not (out / "audit.duckdb").exists():
            raise ConfigError(f"Folder {str(out)!r} holds no audit (no audit.duckdb); name "
                              "the --out folder of a finished audit.")
        paths = rebuild_reports(out, _split_list(formats) or [])
        console.print("Reports: " + ", ".join(str(p) for p in paths.values()),
                      markup=False, highlight=False)


@app.command()
def explore(
    out: Annotated[Path, typer.Argument(help="Folder of a finished audit (its --out).")],
    regime: Annotated[
        str | None, typer.Option(help="Regime whose reference network's axes to show "
                                      "(default: overfit when trained, else the lead).")
    ] = None,
) -> None:
    """Write the axis explorer (explorer.html, .csv, .parquet) next to the reports.

    Per axis: the discovery rows near the median of every other axis, ordered along it,
    with attributes, lifespan, trends and pictures (the audit's --images column). Holdout
    rows never appear.
    """

    with _user_errors():
        if not (out / "audit.duckdb").exists():
            raise ConfigError(f"Folder {str(out)!r} holds no audit (no audit.duckdb); name "
                              "the --out folder of a finished audit.")
        paths = explore_axes(out, regime)
        console.print("Explorer: " + ", ".join(str(p) for p in paths.values()),
                      markup=False, highlight=False)


@app.command()
def check(
    claim: Annotated[
        list[str],
        typer.Option(help="ATTRIBUTE:+ or ATTRIBUTE:- (optionally @AXIS); repeat for several "
                          "claims."),
    ],
    audit_folder: Annotated[
        Path | None,
        typer.Option("--audit", help="Folder of a saved audit: test on its holdout rows only, "
                                     "and record each claim in its claims ledger (online "
                                     "FDR over every claim ever checked there)."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="CSV or Parquet file: the rows to test on, or with --audit new "
                          "attribute columns and the audit's id column."),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Lifespan column (not with --audit).")] = None,
    regime: Annotated[
        str | None, typer.Option(help="With --audit: the regime whose reference network "
                                      "carries claimed axes (default: the lead regime).")
    ] = None,
    covariates: Annotated[
        str | None, typer.Option(help="Comma-separated covariates (partial association).")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Group column: tests clustered by group, intervals "
                                      "resample whole groups.")
    ] = None,
    event: Annotated[
        str | None, typer.Option(help="Event column: 1 = failed at the lifespan, 0 = "
                                      "still in service (censored).")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Folder of a saved audit whose member embeds the rows.")
    ] = None,
    member: Annotated[
        str | None, typer.Option(help="Member id in --model (default: the reference of the "
                                      "regime the audit decided on).")
    ] = None,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5, help="Level of q.")] = 0.10,
    min_effect: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Smallest |Spearman| of interest.")
    ] = 0.1,
    target_transform: Annotated[str, typer.Option(help="auto, log or none.")] = "auto",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap.")] = 0,
    strict: Annotated[
        bool, typer.Option(help="Exit 0 if every claim survives, 1 if one fails, 3 if one "
                                "is inconclusive.")
    ] = False,
) -> None:
    """Check claims ("size relates to lifespan in direction +").

    With --audit the claims are tested on the audit's holdout rows (rows no network
    trained on and no report showed, when sealed) and appended to its claims ledger;
    each is decided at the level an online FDR rule gives it after every claim before
    it. Without --audit they are tested on the rows of --data, which cannot confirm a
    claim those rows suggested. Prints verdict, effect, interval and p per claim; without
    --strict the exit code is 0 (2 on bad input).
    """

    with _user_errors():
        parsed = [Claim.parse(text) for text in claim]
        if audit_folder is not None:
            report: Any = _check_against_audit(audit_folder, parsed, data, regime, seed,
                                               rest=(target, model, member, covariates,
                                                     group, event))
        else:
            report = _check_on_data(parsed, data, target, model, member, covariates, group,
                                    event, alpha, min_effect, target_transform, seed)
        typer.echo(report.summary())
    if strict:
        raise typer.Exit(report.exit_code)


def _check_against_audit(folder: Path, claims: list[Any], data: Path | None,
                         regime: str | None, seed: int, rest: tuple[Any, ...]) -> Any:
    """``check --audit``: the audit fixes the rows, the lifespan and the covariates."""
    names = ("--target", "--model", "--member", "--covariates", "--group", "--event")
    given = [name for name, value in zip(names, rest, strict=True) if value is not None]
    if given:
        raise ConfigError(f"{given[0]} cannot be combined with --audit: the audit fixes the "
                          "rows, the lifespan, the covariates and the network; drop it.")
    if not (folder / "audit.duckdb").exists():
        raise ConfigError(f"Folder {str(folder)!r} holds no audit (no audit.duckdb); name "
                          "the --out folder of a finished audit with --audit.")
    frame = None if data is None else read_frame(data)
    return check_against_audit(folder, claims, frame, regime=regime, seed=seed)


def _check_on_data(claims: list[Any], data: Path | None, target: str | None,
                   model: Path | None, member: str | None, covariates: str | None,
                   group: str | None, event: str | None, alpha: float, min_effect: float,
                   target_transform: str, seed: int) -> Any:
    """``check --data --target``: the claims tested on the rows given."""
    if data is None or target is None:
        raise ConfigError("Name the rows to test on with --data FILE --target COLUMN, or "
                          "check against a saved audit's holdout with --audit DIR.")
    if member is not None and model is None:
        raise ConfigError("--member names a member of a saved audit: pass the audit's "
                          "folder with --model too.")
    frame = read_frame(data)
    loaded = None if model is None else load_member(model, member_id=member)
    table = load_table(
        frame, target=target, attributes=_claimed_columns(claims, frame.columns),
        features=list(loaded.features) if loaded is not None else [],
        covariates=_split_list(covariates), group=group, event=event,
        target_transform=target_transform,  # type: ignore[arg-type]
    )
    return check_claims(table, claims, model=loaded, alpha=alpha, min_effect=min_effect,
                        seed=seed)


def _claimed_columns(claims: list[Any], columns: Any) -> list[str]:
    """The table columns the claims name (``colour=red`` names column ``colour``)."""

    names: list[str] = []
    for claim in claims:
        name = claim.attribute
        if name not in columns and "=" in name and name.split("=", 1)[0] in columns:
            name = name.split("=", 1)[0]
        if name not in columns:
            raise DataError(f"Claim {claim} names column {claim.attribute!r}, which is not in "
                            "the data; check the spelling or the file.")
        if name not in names:
            names.append(name)
    return names


def _finish(result: Any, out: Path) -> None:
    position = result.position
    console.print(f"\n[bold]Position: {position.position}[/bold] ({position.regime} regime)")
    for paragraph in position.paragraphs():
        console.print(paragraph, markup=False, highlight=False)
        console.print()
    survivors = result.surviving(position.regime)
    names = ", ".join(f"{a} ({d})" for a, d in zip(survivors["attribute"],
                                                    survivors["direction"], strict=True))
    console.print(f"Surviving trends ({position.regime}): {names or 'none'}", markup=False,
                  highlight=False)
    if result.landscape is not None:
        console.print(result.landscape.headline(), markup=False, highlight=False)
    console.print(f"Reports: {out / 'report.html'}, {out / 'report.md'}, {out / 'report.json'}",
                  markup=False, highlight=False)


def _command_line() -> str:
    """This invocation, as a shell would take it again."""
    return shlex.join(["embaudit", *sys.argv[1:]])


def _split_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    cleaned = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _drop_none(value)
        if value is not None:
            cleaned[key] = value
    return cleaned


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn embaudit's user-facing errors, and files the system refuses, into a message
    and exit code 2; print embaudit's warnings as one paragraph each."""
    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if issubclass(category, EmbauditWarning):
            typer.echo(textwrap.fill(f"warning: {message}", width=100), err=True)
        else:
            original(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", EmbauditWarning)
        warnings.showwarning = show
        try:
            yield
        except EmbauditError as error:
            _fail(str(error))
        except OSError as error:  # a path the system refuses (permissions, full disk, …)
            where = f" {error.filename!r}" if error.filename else ""
            _fail(f"cannot use{where}: {error.strerror or error}. Check the path, its "
                  "permissions and the free disk space.")


def _fail(message: str) -> NoReturn:
    typer.echo(textwrap.fill(f"error: {message}", width=100), err=True)
    raise typer.Exit(EXIT_BAD_INPUT) from None



@contextmanager
def _progress() -> Iterator[Callable[[str, float, float], None]]:
    """A rich progress bar per stage; yields ``report(description, completed, total)``."""
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)
    tasks: dict[str, Any] = {}

    def report(description: str, completed: float, total: float) -> None:
        if description not in tasks:
            tasks[description] = bars.add_task(description, total=total)
        bars.update(tasks[description], completed=completed, total=total)

    with bars:
        yield report


def main() -> None:
    """Console-script entry point."""
    app(prog_name="embaudit")


if __name__ == "__main__":
    sys.exit(main())
