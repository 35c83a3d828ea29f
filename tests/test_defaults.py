"""Defaults that cannot silently ruin an audit: an id is never a default feature, the
choice of features is said first, and too few default features is an error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from embaudit import DataError, load_table
from embaudit.cli import EXIT_BAD_INPUT, app
from embaudit.data.features import MIN_DEFAULT_FEATURES


def _patients(n: int = 120, n_features: int = 0, seed: int = 0) -> pd.DataFrame:
    """The trap of the issue: text columns, an integer patient id, a lifespan."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "patient_id": rng.permutation(np.arange(5000, 5000 + n)),
        "name": [f"patient {i}" for i in range(n)],
        "ward": rng.choice(["north", "south", "east"], n),
        "age": rng.integers(30, 90, n).astype(float),
        "time": np.exp(rng.normal(3, 1, n)),
    })
    for j in range(n_features):
        frame[f"x{j}"] = rng.normal(size=n)
    return frame


def test_the_id_trap_is_an_error_naming_the_id(tmp_path: Path) -> None:
    _patients().to_csv(tmp_path / "patients.csv", index=False)
    run = CliRunner().invoke(app, ["audit", "--data", str(tmp_path / "patients.csv"),
                                   "--target", "time", "--attributes", "age",
                                   "--out", str(tmp_path / "out")])
    assert run.exit_code == EXIT_BAD_INPUT, run.output
    message = " ".join(run.output.split())
    assert "patient_id (a different whole number on every row: looks like an id" in message
    assert "name (text, unique per row" in message and "ward (text" in message
    assert "--features" in message and "--id" in message
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_an_id_is_left_out_of_the_default_features_and_the_choice_said() -> None:
    table = load_table(_patients(n_features=6), target="time", attributes=["age"])
    assert "patient_id" not in table.features
    assert table.features == tuple(f"x{j}" for j in range(6))
    first, left_out = table.feature_choice.lines()
    assert first.startswith("Features: 6 columns, every numeric column without another role")
    assert "patient_id (a different whole number on every row" in left_out
    assert "name (text, unique per row: looks like an id)" in left_out
    assert "ward (text, not a number)" in left_out


def test_whole_numbers_that_repeat_stay_features() -> None:
    frame = _patients(n_features=5)
    frame["visits"] = np.arange(len(frame)) % 7  # whole numbers, not unique: a feature
    frame["dose"] = np.linspace(0, 1, len(frame))  # unique but not whole: a feature
    table = load_table(frame, target="time", attributes=["age"])
    assert {"visits", "dose"} <= set(table.features)


@pytest.mark.parametrize("n_features", range(MIN_DEFAULT_FEATURES))
def test_fewer_than_five_default_features_is_an_error(n_features: int) -> None:
    with pytest.raises(DataError, match=f"Only {n_features} column") as error:
        load_table(_patients(n_features=n_features), target="time", attributes=["age"])
    assert "--features" in str(error.value)


def test_named_features_are_taken_as_named_and_the_rest_listed() -> None:
    table = load_table(_patients(n_features=2), target="time", attributes=["age"],
                       features=["x*"])
    assert table.features == ("x0", "x1")
    first, left_out = table.feature_choice.lines()
    assert first == "Features: 2 columns, the columns named by 'x*'."
    assert left_out == "Left out (not named): patient_id, name, ward."


def test_the_audit_says_its_features_first(tmp_path: Path) -> None:
    _patients(n=150, n_features=6).to_csv(tmp_path / "patients.csv", index=False)
    (tmp_path / "quick.toml").write_text(
        'training = { regimes = ["linear"] }\n'
        "resampling = { n_bootstrap = 4, n_permutations = 9 }\n")
    run = CliRunner().invoke(app, ["audit", "--data", str(tmp_path / "patients.csv"),
                                   "--target", "time", "--attributes", "age",
                                   "--config", str(tmp_path / "quick.toml"),
                                   "--out", str(tmp_path / "out")])
    assert run.exit_code == 0, run.output
    lines = run.output.splitlines()
    assert lines[0].startswith("Features: 6 columns, every numeric column"), run.output
    assert lines[1].startswith("Left out: patient_id (a different whole number")
