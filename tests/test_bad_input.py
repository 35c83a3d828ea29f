"""The bad-input matrix: malformed files, columns, configs and output folders, each given
to the CLI as a new user would. Every one exits 2 with a message naming the culprit and
the fix, no traceback, and leaves an existing store exactly as it was."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import embaudit
from embaudit.cli import app
from embaudit.config import AuditConfig
from embaudit.errors import ConfigError, EmbauditWarning

runner = CliRunner()
N = 80
CONFIG = """seed = 1
[training]
regimes = ["linear"]
[resampling]
n_bootstrap = 2
n_permutations = 19
[statistics]
n_resamples = 100
"""


def good_frame(n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({
        "item_id": [f"i{i:03d}" for i in range(n)],
        "lifespan_days": np.round(np.exp(rng.normal(5.0, 1.5, n)), 3) + 1.0,
        **{f"f{j}": rng.normal(size=n) for j in range(4)},
        "size": rng.normal(size=n),
        "colour": np.array(["red", "green", "blue"])[np.arange(n) % 3],
        "material": np.array(["metal", "wood"])[np.arange(n) % 2],
        "age": rng.uniform(0, 10, n),
        "plant": np.array(["north", "south", "east", "west", "mid"])[np.arange(n) % 5],
    })


@dataclass
class Case:
    """A bad input: how to write it under a folder, and the words its message must hold."""

    write: Callable[[Path], dict[str, str]]  # folder → CLI option overrides
    expected: tuple[str, ...]
    out_is_store: bool = True  # run against the finished store (else its own --out)
    extra: list[str] = field(default_factory=list)


def _csv(frame: pd.DataFrame, **options: str) -> Callable[[Path], dict[str, str]]:
    def write(folder: Path) -> dict[str, str]:
        frame.to_csv(folder / "data.csv", index=False, **options)
        return {"--data": str(folder / "data.csv")}
    return write


def _text(name: str, content: bytes) -> Callable[[Path], dict[str, str]]:
    def write(folder: Path) -> dict[str, str]:
        (folder / name).write_bytes(content)
        return {"--data": str(folder / name)}
    return write


def _parquet(frame: pd.DataFrame) -> Callable[[Path], dict[str, str]]:
    def write(folder: Path) -> dict[str, str]:
        frame.to_parquet(folder / "data.parquet", index=False)
        return {"--data": str(folder / "data.parquet")}
    return write


def _with(options: dict[str, str], frame: pd.DataFrame | None = None
          ) -> Callable[[Path], dict[str, str]]:
    """The good table with other CLI options."""
    def write(folder: Path) -> dict[str, str]:
        return {**_csv(good_frame() if frame is None else frame)(folder), **options}
    return write


def _config(text: str) -> Callable[[Path], dict[str, str]]:
    def write(folder: Path) -> dict[str, str]:
        (folder / "bad.toml").write_text(text)
        return {**_csv(good_frame())(folder), "--config": str(folder / "bad.toml")}
    return write


def _changed(column: str, row: int | slice, value: object) -> pd.DataFrame:
    frame = good_frame()
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    return frame


def _frame(**columns: object) -> pd.DataFrame:
    return good_frame().assign(**columns)


def _ragged(folder: Path) -> dict[str, str]:
    lines = good_frame().to_csv(index=False).splitlines()
    lines[5] += ",9,9"
    (folder / "data.csv").write_text("\n".join(lines) + "\n")
    return {"--data": str(folder / "data.csv")}


def _duplicate_header(folder: Path) -> dict[str, str]:
    text = good_frame().to_csv(index=False).splitlines()
    text[0] = text[0].replace("f2", "f1")
    (folder / "data.csv").write_text("\n".join(text) + "\n")
    return {"--data": str(folder / "data.csv")}


def _zero_lifespan_untransformed(folder: Path) -> dict[str, str]:
    _csv(_changed("lifespan_days", 2, 0.0))(folder)
    (folder / "audit.toml").write_text(CONFIG + '[data]\ntarget_transform = "none"\n')
    return {"--data": str(folder / "data.csv")}


def _out_file(folder: Path) -> dict[str, str]:
    (folder / "taken").write_text("not a folder")
    return {**_csv(good_frame())(folder), "--out": str(folder / "taken")}


def _out_unwritable(folder: Path) -> dict[str, str]:
    target = Path("/sys/embaudit-audit")
    try:
        target.mkdir()
    except OSError:
        return {**_csv(good_frame())(folder), "--out": str(target)}
    target.rmdir()
    pytest.skip("/sys is writable on this machine: no unwritable folder to try")


def _store_copy(folder: Path) -> Path:
    copy = folder / "copy"
    shutil.copytree(STORE, copy)
    return copy


def _store_of_another_version(folder: Path) -> dict[str, str]:
    copy = _store_copy(folder)
    with duckdb.connect(str(copy / "audit.duckdb")) as connection:
        value = json.loads(connection.execute(
            "SELECT value FROM metadata WHERE key = 'identity'").fetchone()[0])
        value["versions"]["embaudit"] = "0.0.1"
        connection.execute("UPDATE metadata SET value = ? WHERE key = 'identity'",
                           [json.dumps(value)])
    return {**_csv(good_frame())(folder), "--out": str(copy)}


def _store_of_another_tool(folder: Path) -> dict[str, str]:
    (folder / "other").mkdir()
    (folder / "other" / "audit.duckdb").write_bytes(b"SQLite format 3\x00" + bytes(4096))
    return {**_csv(good_frame())(folder), "--out": str(folder / "other")}


CASES: dict[str, Case] = {
    # files
    "empty file": Case(_text("data.csv", b""), ("'", "data.csv", "is empty")),
    "header only": Case(_csv(good_frame().head(0)),
                        ("0 rows (only a header)", "Add rows")),
    "no header line": Case(_text("data.csv", b"\n1,2,3\n"), ("no header line",)),
    "semicolons": Case(_csv(good_frame(), sep=";"), ("separated by semicolons", "commas")),
    "tabs in a .csv": Case(_csv(good_frame(), sep="\t"), ("separated by tabs", "commas")),
    "duplicate header": Case(_duplicate_header, ("'f1' occurs more than once", "rename")),
    "ragged row": Case(_ragged, ("Could not read data file", "Expected 11 fields in line 6",
                                 "Check that the file")),
    "not UTF-8": Case(_text("data.csv", b"item_id,lifespan_days\n\xff\xfe\x00,1\n" * 3),
                      ("Could not read data file", "data.csv")),
    "corrupt Parquet": Case(_text("data.parquet", b"PAR1" + bytes(range(256)) * 4),
                            ("Could not read data file", "as parquet")),
    "spreadsheet": Case(_text("data.xlsx", b"PK\x03\x04"), ("suffix '.xlsx'", "Convert")),
    "folder as data": Case(lambda f: {"--data": str(f)}, ("is a folder, not a file",)),
    "missing file": Case(lambda f: {"--data": str(f / "nope.csv")},
                         ("nope.csv", "does not exist")),
    # the target
    "negative lifespan": Case(_csv(_changed("lifespan_days", 7, -3.0)),
                              ("'lifespan_days'", "(-3.0) at row 7 (id 'i007')", "> 0")),
    "zero lifespan, no transform": Case(_zero_lifespan_untransformed,
                                        ("(0.0) at row 2", "whatever the transform")),
    "constant lifespan": Case(_csv(_frame(lifespan_days=30.0)),
                              ("same value (30.0) in every row",)),
    "text lifespan": Case(_csv(_changed("lifespan_days", 4, "12 days")),
                          ("'12 days' at row 4", "Convert it to numbers")),
    "missing lifespan": Case(_csv(_changed("lifespan_days", 9, np.nan)),
                             ("non-finite value (nan) at row 9",)),
    # features
    "all-NaN feature": Case(_csv(_frame(f2=np.nan)), ("'f2' is empty", "Drop it")),
    "text in a feature": Case(_csv(_changed("f1", 3, "unknown")),
                              ("'f1' is not numeric: 'unknown' at row 3",)),
    "infinite feature": Case(_csv(_changed("f3", 5, np.inf)), ("'f3'", "(inf) at row 5")),
    "feature beyond float32": Case(_csv(_changed("f0", 1, 1e40)),
                                   ("'f0'", "beyond float32", "Rescale")),
    "target as feature": Case(_with({"--features": "f*,lifespan_days"}),
                              ("'lifespan_days' is the target", "cannot also be a feature")),
    "pattern matches nothing": Case(_with({"--features": "feat_*"}),
                                    ("'feat_*' matches no column",)),
    "nested Parquet feature": Case(_parquet(_frame(f0=[[1.0, 2.0]] * N)),
                                   ("'f0' holds nested values", "Flatten")),
    # attributes, ids, groups, covariates
    "target as attribute": Case(_with({"--attributes": "size,lifespan_days"}),
                                ("'lifespan_days' is the target", "attribute")),
    "attribute with one level": Case(_csv(_frame(material="wood")),
                                     ("'material' has a single level ('wood')", "Drop it")),
    "misspelt attribute": Case(_with({"--attributes": "size,colour,materail"}),
                               ("'materail' (given as attribute) is not in the table",)),
    "attribute of dates": Case(_parquet(_frame(colour=pd.date_range("2020", periods=N))),
                               ("'colour' holds dates", "convert it to a number")),
    "free-text attribute": Case(_csv(_frame(colour=[f"note {i}" for i in range(N)])),
                                ("'colour' is text with 80 distinct values",)),
    "nested Parquet attribute": Case(_parquet(_frame(size=[{"a": 1}] * N)),
                                     ("'size' holds nested values",)),
    "attribute also covariate": Case(_with({"--covariates": "size"}),
                                     ("'size' is both an attribute and a covariate",)),
    "missing attribute value": Case(_csv(_changed("colour", 11, np.nan)),
                                    ("'colour' has a missing value at row 11",)),
    "duplicate ids": Case(_csv(_changed("item_id", 6, "i001")),
                          ("duplicate value 'i001'", "unique")),
    "single group": Case(_with({"--group": "plant"}, _frame(plant="all")),
                         ("group column 'plant'", "1 groups")),
    "single row": Case(_csv(good_frame().head(1)), ("1 rows", "at least 50")),
    "too few rows": Case(_csv(good_frame().head(30)), ("30 rows", "at least 50")),
    # the event column (censored lifespans)
    "event of another code": Case(_with({"--event": "broke"}, _frame(
        broke=np.where(np.arange(N) % 2, "yes", "maybe"))),
        ("'broke' has value 'maybe' at row 0", "1 (failed", "yes/no")),
    "no failure at all": Case(_with({"--event": "broke"}, _frame(broke=0)),
                              ("'broke' has no failure", "1 = failed")),
    "event also an attribute": Case(_with({"--event": "material",
                                           "--attributes": "size,material"},
                                          _frame(material=np.arange(N) % 2)),
                                    ("'material' is the event column", "attribute")),
    "event also a feature": Case(_with({"--event": "f3"}, _frame(f3=np.arange(N) % 2)),
                                 ("'f3' is the event", "cannot also be a feature")),
    "missing event": Case(_with({"--event": "broke"}, good_frame().assign(
        broke=[np.nan] + [1] * (N - 1))), ("'broke' has a missing value at row 0",)),
    # configs
    "unknown config key": Case(_config("[training]\nepochs = 5\n"),
                               ("training.epochs", "Extra inputs are not permitted")),
    "config of the wrong type": Case(_config("[resampling]\nn_bootstrap = 'many'\n"),
                                     ("resampling.n_bootstrap", "valid integer")),
    "config out of range": Case(_config("[split]\nholdout_fraction = 1.5\n"),
                                ("split.holdout_fraction", "less than 0.95")),
    "config not TOML": Case(_config("[training\nregimes = overfit\n"), ("is not valid TOML",)),
    "device of another name": Case(_with({"--device": "gpu"}, good_frame()),
                                   ("training.device", "cuda")),
    # output folders
    "output folder is a file": Case(_out_file, ("'", "taken", "is a file, not a folder"),
                                    out_is_store=False),
    "output folder not writable": Case(_out_unwritable, ("embaudit-audit", "write to"),
                                       out_is_store=False),
    "store of another version": Case(_store_of_another_version,
                                     ("holds a different audit", "versions.embaudit",
                                      "'0.0.1'", "--overwrite"), out_is_store=False),
    "store of another tool": Case(_store_of_another_tool,
                                  ("audit.duckdb", "cannot be opened", "--overwrite"),
                                  out_is_store=False),
}
if not torch.cuda.is_available():  # where there is one, --device cuda is good input
    CASES["GPU asked for, none here"] = Case(
        _with({"--device": "cuda"}, good_frame()),
        ("training.device='cuda'", "0 CUDA device", "--device cpu"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished audit of the good table: every bad input is pointed at it."""
    global STORE
    folder = tmp_path_factory.mktemp("store")
    options = _csv(good_frame())(folder)
    STORE = folder / "out"
    outcome = runner.invoke(app, _arguments(options, folder, STORE))
    assert outcome.exit_code == 0, outcome.output
    FINISHED.update(_snapshot(STORE))
    return STORE


#: the finished store every case runs against, and its files' checksums when finished
STORE = Path()
FINISHED: dict[str, str] = {}


def _arguments(options: dict[str, str], folder: Path, out: Path) -> list[str]:
    defaults = {"--target": "lifespan_days", "--attributes": "size,colour,material",
                "--features": "f*", "--id": "item_id", "--out": str(out),
                "--config": str(folder / "audit.toml")}
    if not (folder / "audit.toml").exists():
        (folder / "audit.toml").write_text(CONFIG)
    merged = {**defaults, **options}
    return ["audit", *[part for item in merged.items() for part in item]]


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file of a folder (but the lock) and its SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".embaudit.lock"}


def test_the_matrix_has_at_least_30_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_naming_the_culprit_and_leaves_the_store(
        name: str, store: Path, tmp_path: Path) -> None:
    case = CASES[name]
    options = case.write(tmp_path)
    out = Path(options.get("--out", store))
    before = _snapshot(out) if out.is_dir() else None
    outcome = runner.invoke(app, _arguments(options, tmp_path, store))
    assert outcome.exit_code == 2, (outcome.exit_code, outcome.output)
    assert isinstance(outcome.exception, SystemExit)  # no exception escaped
    text = " ".join(outcome.output.split())
    assert "Traceback" not in text and "error: " in text, text
    for expected in case.expected:
        assert expected in text, (expected, text)
    if before is not None:
        assert _snapshot(out) == before
    assert _snapshot(store) == FINISHED


# --- inputs that are unusual but fine -----------------------------------------------------


def test_a_bom_crlf_csv_and_odd_column_names_load(tmp_path: Path) -> None:
    frame = good_frame().rename(columns={"size": "size (cm)", "colour": 'colour "main"',
                                         "material": "matériau", "f1": "f[1]"})
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    table = embaudit.load_table(path, target="lifespan_days", id="item_id",
                                attributes=["size (cm)", 'colour "main"', "matériau"],
                                features=["f0", "f[1]", "f2"])
    assert table.features == ("f0", "f[1]", "f2")
    assert table.frame.columns[0] == "item_id"  # no byte-order mark in the first name
    np.testing.assert_allclose(table.X[:, 1], frame["f[1]"].to_numpy(), rtol=1e-6)


def test_a_constant_feature_is_kept_with_a_warning_naming_it(tmp_path: Path) -> None:
    frame = _frame(f2=4.0)
    with pytest.warns(EmbauditWarning, match=r"\('f2'\); they carry no information"):
        table = embaudit.load_table(frame, target="lifespan_days", attributes=["size"],
                                    features="f*")
    assert "f2" in table.features
    frame.to_csv(tmp_path / "data.csv", index=False)
    outcome = runner.invoke(app, ["check", "--data", str(tmp_path / "data.csv"),
                                  "--target", "lifespan_days", "--claim", "size:+"])
    assert outcome.exit_code == 0


def test_far_more_features_than_rows_is_audited(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    wide = pd.concat([good_frame(60), pd.DataFrame(rng.normal(size=(60, 3000)),
                                                   columns=[f"g{i}" for i in range(3000)])],
                     axis=1)
    table = embaudit.load_table(wide, target="lifespan_days", attributes=["size", "material"],
                                features="g*", id="item_id")
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmbauditWarning)
        result = embaudit.audit({"training": {"regimes": ["overfit", "linear", "pls"],
                                              "max_epochs": 3},
                                 "resampling": {"n_bootstrap": 2, "n_permutations": 9},
                                 "statistics": {"n_resamples": 100}}, table=table)
    assert set(result.hypotheses["regime"]) >= {"overfit", "linear", "pls"}
    assert result.hypotheses["p_holdout"].between(0, 1).all()


def test_a_misspelt_option_gets_the_name_it_resembles(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text("[resampling]\nn_bootstraps = 3\n")
    with pytest.raises(ConfigError, match=r"did you mean resampling\.n_bootstrap\?"):
        AuditConfig.from_toml(path)


def test_a_bad_command_line_option_is_not_blamed_on_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "small.toml"
    path.write_text("seed = 1\n")
    with pytest.raises(ConfigError) as raised:
        AuditConfig.from_toml(path, execution={"executor": "dsk"})
    assert str(raised.value).startswith("Invalid command line: option execution.executor "
                                        "(from the command line)")
    with pytest.raises(ConfigError) as raised:
        AuditConfig.from_toml(path, flags={"execution.executor": "--executor"},
                              execution={"executor": "dsk"})
    assert str(raised.value).startswith("Invalid command line: --executor "
                                        "(execution.executor): Input should be")


def test_a_bad_option_in_the_file_is_blamed_on_the_file(tmp_path: Path) -> None:
    path = tmp_path / "small.toml"
    path.write_text("[statistics]\nalpha = 2\n")
    with pytest.raises(ConfigError) as raised:
        AuditConfig.from_toml(path, execution={"executor": "local"})
    assert str(raised.value).startswith(f"Invalid {path}: option statistics.alpha "
                                        f"(from {path})")


def test_a_rule_across_options_says_where_each_came_from(tmp_path: Path) -> None:
    path = tmp_path / "cox.toml"
    path.write_text("[training]\nloss = 'cox'\n")
    with pytest.raises(ConfigError) as raised:
        AuditConfig.from_toml(path, flags={"landscape.enabled": "--landscape"},
                              landscape={"enabled": True})
    message = str(raised.value)
    assert "landscape.enabled --landscape" in message
    assert f"training.loss from {path}" in message
