"""``embaudit demo``, ``audit``, ``report`` and ``explore``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from embaudit.cli.shell import (
    app,
    command_line,
    console,
    drop_none,
    progress_bars,
    split_list,
    user_errors,
)
from embaudit.errors import ConfigError

#: the audit command's flags by the option each sets (an error names the flag)
FLAGS = {"data.path": "--data", "data.target": "--target", "data.attributes": "--attributes",
         "data.features": "--features", "data.covariates": "--covariates", "data.id": "--id",
         "data.group": "--group", "data.event": "--event", "data.images": "--images",
         "out": "--out", "seed": "--seed", "sealed": "--sealed",
         "execution.executor": "--executor", "execution.scheduler": "--scheduler",
         "training.device": "--device", "landscape.enabled": "--landscape",
         "landscape.optimizers": "--landscape-optimizers"}


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
    from embaudit.pipeline import audit
    from embaudit.reports.explorer import explore as explore_axes
    from embaudit.worlds import product_lifespan

    with user_errors():
        console.print(f"Generating the product-lifespan world (seed {seed}) …")
        world = product_lifespan(seed=seed)
        with progress_bars() as report:
            result = audit({"seed": seed, "out": str(out),
                            "landscape": {"enabled": landscape}}, table=world.table,
                           truth=world.truth, progress=report, overwrite=overwrite,
                           command=command_line())
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
    sealed: Annotated[
        bool | None,
        typer.Option(help="Reports show holdout numbers only for what the audit tested there "
                          "(default: the config's sealed, itself true); --no-sealed shows all.")
    ] = None,
) -> None:
    """Audit a table: train the regimes, test the trends, write the reports.

    Re-running into the same --out resumes an interrupted audit.
    """
    from embaudit.config import AuditConfig, build_config

    with user_errors():
        overrides: dict[str, Any] = {
            "data": {
                "path": str(data) if data else None,
                "target": target,
                "attributes": split_list(attributes),
                "features": split_list(features),
                "covariates": split_list(covariates),
                "id": id_column,
                "group": group,
                "event": event,
                "images": images,
            },
            "out": str(out) if out else None,
            "seed": seed,
            "sealed": sealed,
            "execution": {"executor": executor, "scheduler": scheduler},
            "training": {"device": device},
            "landscape": {"enabled": True if landscape_optimizers else landscape,
                          "optimizers": split_list(landscape_optimizers)},
        }
        settings = (AuditConfig.from_toml(config, flags=FLAGS, **overrides) if config
                    else build_config(None, overrides=drop_none(overrides), flags=FLAGS))
        if settings.out is None:
            raise ConfigError("No output folder: pass --out DIR (or set out in the config).")
        if not settings.data.attributes:
            raise ConfigError("No attributes: pass --attributes A,B,... (or set "
                              "data.attributes in the config).")
        from embaudit.pipeline import audit

        with progress_bars() as report:
            result = audit(settings, progress=report, overwrite=overwrite,
                           command=command_line())
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
    from embaudit.outputs import rebuild_reports

    with user_errors():
        if not (out / "audit.duckdb").exists():
            raise ConfigError(f"Folder {str(out)!r} holds no audit (no audit.duckdb); name "
                              "the --out folder of a finished audit.")
        paths = rebuild_reports(out, split_list(formats) or [])
        console.print("Reports: " + ", ".join(str(p) for p in paths.values()),
                      markup=False, highlight=False)


@app.command()
def explore(
    out: Annotated[Path, typer.Argument(help="Folder of a finished audit (its --out).")],
    regime: Annotated[
        str | None, typer.Option(help="Regime whose reference network's axes to show "
                                      "(default: overfit when trained, else the lead).")
    ] = None,
    images: Annotated[
        str | None, typer.Option(help="Column with a picture of each object (a path or URL; "
                                      "default: the audit's --images column).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="CSV or Parquet file holding --images and the "
                                       "audit's id column, when the audit did not keep it.")
    ] = None,
) -> None:
    """Write the axis explorer (explorer.html, .csv, .parquet) next to the reports.

    Per axis: the discovery rows near the median of every other axis, ordered along it,
    with attributes, lifespan, trends and pictures (the audit's --images column). Holdout
    rows never appear.
    """
    from embaudit.data.reading import read_frame
    from embaudit.reports.explorer import explore as explore_axes

    with user_errors():
        if not (out / "audit.duckdb").exists():
            raise ConfigError(f"Folder {str(out)!r} holds no audit (no audit.duckdb); name "
                              "the --out folder of a finished audit.")
        if data is not None and images is None:
            raise ConfigError("--data gives the explorer pictures: name their column with "
                              "--images too.")
        paths = explore_axes(out, regime, images,
                             None if data is None else read_frame(data))
        console.print("Explorer: " + ", ".join(str(p) for p in paths.values()),
                      markup=False, highlight=False)


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

