"""Loading tables: column roles, encoded views, and one test per bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embaudit import DataError, load_table
from embaudit.data.table import MIN_ROWS, Table

SOURCES = ("frame", "csv", "parquet")
N = 80


def make_frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Small table: id, lifespan spanning > 100x, three features f1-f3, an extra numeric
    column, a numeric / a categorical / a two-level attribute, a covariate and a group."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "item_id": [f"i{i:03d}" for i in range(n)],
            "lifespan_days": np.round(np.exp(rng.normal(5.0, 1.5, n)), 3) + 1.0,
            "f1": rng.normal(size=n),
            "f2": rng.normal(size=n),
            "f3": rng.normal(size=n),
            "weight_g": rng.uniform(10, 500, n),
            "size": rng.normal(size=n),
            "colour": np.array(["red", "green", "blue"])[np.arange(n) % 3],
            "material": np.array(["metal", "wood"])[np.arange(n) % 2],
            "age": rng.uniform(0, 10, n),
            "plant": np.array(["north", "south", "east", "west"])[np.arange(n) % 4],
        }
    )


def as_source(frame: pd.DataFrame, kind: str, tmp_path: Path) -> pd.DataFrame | Path:
    """The frame itself, or the frame written to a CSV / Parquet file under tmp_path."""
    if kind == "frame":
        return frame
    path = tmp_path / f"table.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def load(source: pd.DataFrame | Path | str, **kwargs: object) -> Table:
    """load_table with the roles of make_frame; kwargs override them."""
    roles: dict[str, object] = {
        "target": "lifespan_days",
        "attributes": ["size", "colour", "material"],
        "features": "f*",
        "id": "item_id",
    }
    roles.update(kwargs)
    return load_table(source, **roles)  # type: ignore[arg-type]


# --- happy path --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SOURCES)
def test_roles_and_views(kind: str, tmp_path: Path) -> None:
    frame = make_frame()
    table = load(
        as_source(frame, kind, tmp_path), covariates=["age"], group="plant", target_transform="log"
    )
    assert table.n_rows == N
    assert table.roles() == {
        "target": "lifespan_days",
        "features": ["f1", "f2", "f3"],
        "attributes": ["size", "colour", "material"],
        "covariates": ["age"],
        "id": "item_id",
        "group": "plant",
        "event": None,
        "target_transform": "log",
        "images": None,
    }
    assert table.X.dtype == np.float32
    assert table.X.shape == (N, 3)
    np.testing.assert_allclose(table.X, frame[["f1", "f2", "f3"]].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(table.lifespan, frame["lifespan_days"].to_numpy())
    np.testing.assert_allclose(table.y, np.log(frame["lifespan_days"].to_numpy()))
    assert list(table.row_ids) == list(frame["item_id"])
    assert list(table.groups) == list(frame["plant"])
    assert table.covariate_matrix is not None and table.covariate_matrix.shape == (N, 1)


def test_path_given_as_string(tmp_path: Path) -> None:
    path = as_source(make_frame(), "csv", tmp_path)
    assert load(str(path)).n_rows == N


@pytest.mark.parametrize("kind", SOURCES)
def test_auto_transform_takes_log_of_a_wide_positive_target(kind: str, tmp_path: Path) -> None:
    frame = make_frame()
    assert frame["lifespan_days"].max() / frame["lifespan_days"].min() > 100
    table = load(as_source(frame, kind, tmp_path), target_transform="auto")
    assert table.target_transform == "log"
    np.testing.assert_allclose(table.y, np.log(frame["lifespan_days"].to_numpy()))


def test_auto_transform_keeps_a_narrow_target() -> None:
    frame = make_frame()
    frame["lifespan_days"] = np.linspace(10.0, 900.0, N)  # max/min = 90 <= 100
    table = load(frame, target_transform="auto")
    assert table.target_transform == "none"
    np.testing.assert_allclose(table.y, frame["lifespan_days"].to_numpy())


def test_none_transform_keeps_the_target() -> None:
    table = load(make_frame(), target_transform="none")
    assert table.target_transform == "none"
    np.testing.assert_allclose(table.y, table.lifespan)


def test_features_by_explicit_list_keep_their_order() -> None:
    table = load(make_frame(), features=["f3", "weight_g", "f1"])
    assert table.features == ("f3", "weight_g", "f1")
    assert table.X.shape == (N, 3)


def test_features_by_several_patterns_without_repeats() -> None:
    table = load(make_frame(), features=["f*", "f2", "w*"])
    assert table.features == ("f1", "f2", "f3", "weight_g")


def test_default_features_are_the_numeric_columns_without_a_role() -> None:
    frame = make_frame()
    frame["hardness"] = np.arange(N) % 9  # whole numbers that repeat: a feature
    table = load(frame, features=None, covariates=["age"])
    # not: the target, the id / group / categorical columns, the attribute `size`, `age`
    assert table.features == ("f1", "f2", "f3", "weight_g", "hardness")


def test_boolean_columns_may_be_features() -> None:
    frame = make_frame()
    frame["sealed"] = np.arange(N) % 2 == 0
    table = load(frame, features=None)
    assert "sealed" in table.features
    assert table.X[:, table.features.index("sealed")].tolist() == [1.0, 0.0] * (N // 2)


def test_an_attribute_may_also_be_a_feature() -> None:
    table = load(make_frame(), features=["f1", "size"])
    assert table.features == ("f1", "size")
    assert "size" in table.attributes


def test_categorical_attribute_is_encoded_one_vs_rest() -> None:
    frame = make_frame()
    table = load(frame)
    columns = {c.name: c for c in table.attribute_columns}
    assert list(columns) == ["size", "colour=blue", "colour=green", "colour=red", "material=wood"]
    assert columns["size"].kind == "numeric"
    for level in ("blue", "green", "red"):
        column = columns[f"colour={level}"]
        assert (column.attribute, column.kind, column.level) == ("colour", "categorical", level)
        np.testing.assert_array_equal(column.values, (frame["colour"] == level).to_numpy(float))
    # a two-level categorical is one indicator (second level against the first)
    material = columns["material=wood"]
    assert (material.attribute, material.kind) == ("material", "binary")
    np.testing.assert_array_equal(material.values, (frame["material"] == "wood").to_numpy(float))
    assert table.attribute_matrix.shape == (N, 5)


def test_numeric_two_valued_attribute_is_binary() -> None:
    frame = make_frame()
    frame["outdoor"] = np.arange(N) % 2
    table = load(frame, attributes=["outdoor"])
    (column,) = table.attribute_columns
    assert (column.name, column.kind) == ("outdoor", "binary")


@pytest.mark.parametrize("kind", SOURCES)
def test_fingerprint_is_stable(kind: str, tmp_path: Path) -> None:
    source = as_source(make_frame(), kind, tmp_path)
    first, second = load(source), load(source)
    assert first.fingerprint() == second.fingerprint()
    assert len(first.fingerprint()) == 64


@pytest.mark.parametrize("column", ["f2", "lifespan_days", "colour", "item_id"])
def test_fingerprint_changes_with_a_value(column: str) -> None:
    frame = make_frame()
    before = load(frame).fingerprint()
    changed = frame.copy()
    changed.loc[17, column] = {"colour": "red", "item_id": "x017"}.get(column, 123.0)
    assert frame.loc[17, column] != changed.loc[17, column]
    assert load(changed).fingerprint() != before


def test_fingerprint_changes_with_the_roles() -> None:
    frame = make_frame()
    assert load(frame).fingerprint() != load(frame, features=["f1", "f2"]).fingerprint()
    assert load(frame).fingerprint() != load(frame, target_transform="none").fingerprint()


def test_a_picture_column_is_a_role_no_result_reads() -> None:
    frame = make_frame().assign(picture=[f"pics/{i}.png" for i in range(N)])
    table = load(frame, images="picture")
    assert table.images == "picture" and "picture" not in table.features
    assert table.fingerprint() == load(frame).fingerprint()  # the audit's identity
    with pytest.raises(DataError, match=r"Column 'photo' \(given as images\)"):
        load(frame, images="photo")


def test_non_string_column_names_are_read_as_strings() -> None:
    frame = make_frame()
    frame[7] = np.arange(N, dtype=float)
    table = load(frame, features=["f1", "7"])
    assert table.features == ("f1", "7")


# --- bad inputs: each names the column (and row) at fault and the fix --------------------


@pytest.mark.parametrize(
    ("role", "kwargs", "pattern"),
    [
        ("target", {"target": "lifespan"}, r"Column 'lifespan' \(given as target\)"),
        ("attribute", {"attributes": ["size", "sise"]}, r"Column 'sise' \(given as attribute\)"),
        ("covariate", {"covariates": ["aeg"]}, r"Column 'aeg' \(given as covariate\)"),
        ("id", {"id": "sku"}, r"Column 'sku' \(given as id\)"),
        ("group", {"group": "factory"}, r"Column 'factory' \(given as group\)"),
    ],
)
def test_missing_column(role: str, kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(DataError, match=pattern + r" is not in the table") as error:
        load(make_frame(), **kwargs)
    message = str(error.value)
    assert "Available columns: 'item_id', 'lifespan_days'" in message
    assert "Check the spelling" in message


def test_missing_feature_column() -> None:
    with pytest.raises(DataError, match=r"Feature pattern 'f9' matches no column\. Check the name"):
        load(make_frame(), features=["f1", "f9"])


def test_feature_pattern_matching_nothing() -> None:
    with pytest.raises(DataError, match=r"Feature pattern 'g\*' matches no column.*e\.g\. 'f\*'"):
        load(make_frame(), features="g*")


@pytest.mark.parametrize("kind", SOURCES)
def test_non_numeric_feature(kind: str, tmp_path: Path) -> None:
    frame = make_frame()
    frame["f2"] = frame["f2"].round(3).astype(str)
    frame.loc[7, "f2"] = "unknown"
    with pytest.raises(
        DataError,
        match=r"feature column 'f2' is not numeric: 'unknown' at row 7 \(id 'i007'\)\. "
        r"Convert it to numbers, or give it another role",
    ):
        load(as_source(frame, kind, tmp_path))


def test_categorical_attribute_named_as_feature() -> None:
    with pytest.raises(DataError, match=r"feature column 'colour' is not numeric: 'red' at row 0"):
        load(make_frame(), features=["f1", "colour"])


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize(("value", "shown"), [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_feature(kind: str, value: float, shown: str, tmp_path: Path) -> None:
    frame = make_frame()
    frame.loc[[5, 9], "f3"] = value
    with pytest.raises(
        DataError,
        match=rf"feature column 'f3' has a non-finite value \({shown}\) at row 5 \(id 'i005'\) "
        r"and 1 more rows\. Impute or drop those rows",
    ):
        load(as_source(frame, kind, tmp_path))


@pytest.mark.parametrize("kind", SOURCES)
def test_nan_in_target(kind: str, tmp_path: Path) -> None:
    frame = make_frame()
    frame.loc[12, "lifespan_days"] = np.nan
    with pytest.raises(
        DataError,
        match=r"target column 'lifespan_days' has a non-finite value \(nan\) at row 12 "
        r"\(id 'i012'\)\. Drop or fix those rows",
    ):
        load(as_source(frame, kind, tmp_path))


def test_non_numeric_target() -> None:
    frame = make_frame()
    frame["lifespan_days"] = frame["lifespan_days"].astype(str)
    frame.loc[3, "lifespan_days"] = "long"
    with pytest.raises(
        DataError,
        match=r"target column 'lifespan_days' is not numeric: 'long' at row 3 \(id 'i003'\)\. "
        r"Convert it to numbers",
    ):
        load(frame)


@pytest.mark.parametrize("transform", ["log", "auto", "none"])
@pytest.mark.parametrize("value", [0.0, -3.5])
def test_non_positive_lifespan_under_any_transform(value: float, transform: str) -> None:
    frame = make_frame()
    frame.loc[4, "lifespan_days"] = value
    with pytest.raises(
        DataError,
        match=rf"target column 'lifespan_days' has a non-positive lifespan \({value}\) at row 4 "
        r"\(id 'i004'\)\. Lifespans must be > 0 whatever the transform: fix or drop",
    ):
        load(frame, target_transform=transform)


def test_unknown_target_transform() -> None:
    with pytest.raises(DataError, match=r"target_transform='sqrt' is not known; use 'auto'"):
        load(make_frame(), target_transform="sqrt")


@pytest.mark.parametrize("kind", SOURCES)
def test_too_few_rows(kind: str, tmp_path: Path) -> None:
    frame = make_frame(n=MIN_ROWS - 1)
    with pytest.raises(
        DataError, match=rf"The table has {MIN_ROWS - 1} rows; an audit needs at least {MIN_ROWS}"
    ) as error:
        load(as_source(frame, kind, tmp_path))
    assert "Add rows" in str(error.value)
    assert load(make_frame(n=MIN_ROWS)).n_rows == MIN_ROWS


@pytest.mark.parametrize("kind", SOURCES)
def test_duplicate_ids(kind: str, tmp_path: Path) -> None:
    frame = make_frame()
    frame.loc[10, "item_id"] = "i003"
    with pytest.raises(
        DataError,
        match=r"Id column 'item_id' has duplicate value 'i003' \(rows 3, 10\)\. Ids must be "
        r"unique: deduplicate the rows or choose another id column",
    ):
        load(as_source(frame, kind, tmp_path))


def test_duplicate_numeric_ids_are_shown_plainly() -> None:
    frame = make_frame()
    frame["item_id"] = np.arange(N)
    frame.loc[10, "item_id"] = 3
    with pytest.raises(DataError, match=r"duplicate value 3 \(rows 3, 10\)"):
        load(frame)


def test_missing_id() -> None:
    frame = make_frame()
    frame.loc[[6, 8], "item_id"] = None
    with pytest.raises(DataError, match=r"Id column 'item_id' has a missing value at row 6; fill"):
        load(frame)


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize(("attribute", "value"), [("material", "metal"), ("size", 2.5)])
def test_attribute_with_one_level(
    kind: str, attribute: str, value: object, tmp_path: Path
) -> None:
    frame = make_frame()
    frame[attribute] = value
    with pytest.raises(
        DataError,
        match=rf"Attribute '{attribute}' has a single level \({value!r}\) in every row.*"
        r"Drop it from the attributes",
    ):
        load(as_source(frame, kind, tmp_path))


def test_missing_attribute_value() -> None:
    frame = make_frame()
    frame.loc[21, "colour"] = None
    with pytest.raises(
        DataError,
        match=r"attribute column 'colour' has a missing value at row 21 \(id 'i021'\)\. "
        r"Fill or drop those rows",
    ):
        load(frame)


def test_missing_covariate_value() -> None:
    frame = make_frame()
    frame.loc[2, "age"] = np.nan
    with pytest.raises(DataError, match=r"covariate column 'age' has a missing value at row 2"):
        load(frame, covariates=["age"])


def test_unknown_file_suffix(tmp_path: Path) -> None:
    path = tmp_path / "table.xlsx"
    path.write_text("not a table")
    with pytest.raises(
        DataError, match=r"table\.xlsx' has suffix '\.xlsx'; embaudit reads \.csv and \.parquet"
    ):
        load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere\.csv' does not exist; check the path"):
        load(tmp_path / "nowhere.csv")


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"Could not read data file .*broken\.parquet' as parquet"):
        load(path)


@pytest.mark.parametrize(
    ("features", "role"),
    [(["f1", "lifespan_days"], "target"), ("*_days", "target"), (["f1", "item_id"], "id")],
)
def test_role_listed_as_feature(features: list[str] | str, role: str) -> None:
    with pytest.raises(
        DataError, match=rf"is the {role} and cannot also be a feature; narrow the feature list"
    ):
        load(make_frame(), features=features)


def test_target_listed_as_attribute() -> None:
    with pytest.raises(
        DataError, match=r"Column 'lifespan_days' is the target and cannot also be listed as attr"
    ):
        load(make_frame(), attributes=["size", "lifespan_days"])


def test_attribute_listed_as_covariate() -> None:
    with pytest.raises(DataError, match=r"Column 'size' is both an attribute and a covariate"):
        load(make_frame(), covariates=["size"])


def test_attribute_listed_twice() -> None:
    with pytest.raises(DataError, match=r"Attribute 'size' is listed twice; list it once"):
        load(make_frame(), attributes=["size", "colour", "size"])


def test_no_attributes() -> None:
    with pytest.raises(DataError, match=r"No attributes given: name at least one"):
        load(make_frame(), attributes=[])


def test_duplicate_column_names() -> None:
    frame = make_frame()
    frame.columns = [*frame.columns[:-1], "f1"]
    with pytest.raises(DataError, match=r"Column name 'f1' occurs more than once.*rename"):
        load(frame)
