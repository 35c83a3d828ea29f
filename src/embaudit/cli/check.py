"""``embaudit check``: claims against an audit's sealed holdout, or on rows named."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from embaudit.cli.shell import split_list, user_errors
from embaudit.errors import ConfigError


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
    id_column: Annotated[
        str | None, typer.Option("--id", help="Unique row id column (named in messages; "
                                              "with --audit it must be the audit's id).")
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
        float, typer.Option(min=0.01, max=0.99, help=(
            "Smallest effect of interest: |Spearman|; censored lifespans: |Somers' D|, or "
            "|log hazard ratio per SD| given covariates."))
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

    from embaudit.claims.claim import Claim

    with user_errors():
        parsed = [Claim.parse(text) for text in claim]
        if audit_folder is not None:
            report: Any = _check_against_audit(audit_folder, parsed, data, regime, seed,
                                               id_column, rest=(target, model, member,
                                                                covariates, group, event))
        else:
            report = _check_on_data(parsed, data, target, model, member, covariates, group,
                                    event, alpha, min_effect, target_transform, seed,
                                    id_column)
        typer.echo(str(report.summary()))
    if strict:
        raise typer.Exit(report.exit_code)


def _check_against_audit(folder: Path, claims: list[Any], data: Path | None,
                         regime: str | None, seed: int, id_column: str | None,
                         rest: tuple[Any, ...]) -> Any:
    """``check --audit``: the audit fixes the rows, the lifespan and the covariates."""
    names = ("--target", "--model", "--member", "--covariates", "--group", "--event")
    given = [name for name, value in zip(names, rest, strict=True) if value is not None]
    if given:
        raise ConfigError(f"{given[0]} cannot be combined with --audit: the audit fixes the "
                          "rows, the lifespan, the covariates and the network; drop it.")
    if not (folder / "audit.duckdb").exists():
        raise ConfigError(f"Folder {str(folder)!r} holds no audit (no audit.duckdb); name "
                          "the --out folder of a finished audit with --audit.")
    from embaudit.claims.ledger import check_against_audit
    from embaudit.data.reading import read_frame
    from embaudit.store import AuditStore

    if id_column is not None:
        audit_id = AuditStore(folder).read_metadata().get("roles", {}).get("id")
        if id_column != audit_id:
            held = f"the id column {audit_id!r}" if audit_id else "no id column (rows are " \
                "matched by position, column 'row')"
            raise ConfigError(f"--id {id_column!r} is not the audit's id: the audit in "
                              f"{str(folder)!r} has {held}. Give --data that column, or drop "
                              "--id.")

    frame = None if data is None else read_frame(data)
    return check_against_audit(folder, claims, frame, regime=regime, seed=seed)


def _check_on_data(claims: list[Any], data: Path | None, target: str | None,
                   model: Path | None, member: str | None, covariates: str | None,
                   group: str | None, event: str | None, alpha: float, min_effect: float,
                   target_transform: str, seed: int, id_column: str | None = None) -> Any:
    """``check --data --target``: the claims tested on the rows given."""
    if data is None or target is None:
        raise ConfigError("Name the rows to test on with --data FILE --target COLUMN, or "
                          "check against a saved audit's holdout with --audit DIR.")
    if member is not None and model is None:
        raise ConfigError("--member names a member of a saved audit: pass the audit's "
                          "folder with --model too.")
    from embaudit.claims.check import check_claims
    from embaudit.claims.claim import claimed_columns
    from embaudit.data.reading import read_frame
    from embaudit.data.table import load_table

    frame = read_frame(data)
    loaded = None
    if model is not None:  # torch only when a network embeds the rows
        from embaudit.model import load_member

        loaded = load_member(model, member_id=member)
    table = load_table(
        frame, target=target, attributes=claimed_columns(claims, frame.columns),
        features=list(loaded.features) if loaded is not None else [],
        covariates=split_list(covariates), id=id_column, group=group, event=event,
        target_transform=target_transform,  # type: ignore[arg-type]
    )
    return check_claims(table, claims, model=loaded, alpha=alpha, min_effect=min_effect,
                        seed=seed)
