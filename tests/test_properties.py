"""Property-based tests (hypothesis, derandomized): the loaders and the statistics never
crash on finite input and keep their contracts: p-values in (0, 1], q ≥ p, intervals
that contain their estimate, alignment of an embedding to itself is the identity."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import embaudit
from embaudit.data.reading import read_frame
from embaudit.errors import DataError, EmbauditWarning
from embaudit.hypotheses.inference import holdout_association
from embaudit.hypotheses.multiplicity import CORRECTIONS, adjust, family_q
from embaudit.hypotheses.resampled import max_t_p_values, permutation_p_values
from embaudit.resampling.alignment import make_aligner

#: the same examples on every run (CI reproducible), no per-example deadline
settings.register_profile("embaudit", derandomize=True, deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile("embaudit")

ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)
FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
#: few distinct values: ties and constant columns come often
TIED = st.sampled_from([0.0, 1.0, 2.0, 2.0, 3.5, -1.0])


def _in_unit_interval(p: np.ndarray) -> bool:
    finite = p[~np.isnan(p)]
    return bool(np.all((finite > 0) & (finite <= 1)))


# --- loaders ------------------------------------------------------------------------------


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 70))
    column = st.one_of(
        arrays(np.float64, n, elements=ANY_FLOAT),
        arrays(np.float64, n, elements=TIED),
        st.lists(st.sampled_from(["a", "b", "", "é ✓", "1", None]), min_size=n, max_size=n),
        st.lists(st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=3)),
                 min_size=n, max_size=n),
    )
    frame = pd.DataFrame({name: draw(column) for name in ("life", "f1", "f2", "attr", "cov")})
    if draw(st.booleans()):  # a valid table with a few cells changed to anything
        rng = np.random.default_rng(draw(st.integers(0, 2**32)))
        n = draw(st.integers(50, 70))
        frame = pd.DataFrame({"life": rng.lognormal(3, 1, n), "f1": rng.normal(size=n),
                              "f2": rng.integers(0, 3, n), "attr": rng.choice(["a", "b"], n),
                              "cov": rng.normal(size=n)}).astype(object)
        for _ in range(draw(st.integers(0, 3))):
            cell = (draw(st.integers(0, n - 1)), draw(st.sampled_from(list(frame.columns))))
            frame.loc[cell] = draw(st.one_of(ANY_FLOAT, st.none(), st.text(max_size=3)))
        frame = frame.infer_objects()
    return frame


@settings(max_examples=150)
@given(frames(), st.sampled_from(["auto", "log", "none"]), st.booleans())
def test_load_table_returns_a_valid_table_or_a_data_error(frame: pd.DataFrame,
                                                          transform: str,
                                                          covariate: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmbauditWarning)
        try:
            table = embaudit.load_table(frame, target="life", attributes=["attr"],
                                        features=["f*"], target_transform=transform,
                                        covariates=["cov"] if covariate else None)
        except DataError:
            return
    assert table.n_rows >= 50
    assert np.isfinite(table.X).all() and np.isfinite(table.y).all()
    assert (table.lifespan > 0).all()
    assert table.attribute_matrix.shape == (table.n_rows, len(table.attribute_columns))
    assert len(table.fingerprint()) == 64
    event("loaded a table")


@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_reading_any_bytes_as_csv_or_parquet_gives_a_frame_or_a_data_error(
        tmp_path_factory: object, content: bytes) -> None:
    folder = Path(tmp_path_factory.mktemp("bytes"))  # type: ignore[attr-defined]
    for name in ("data.csv", "data.parquet"):
        (folder / name).write_bytes(content)
        try:
            frame = read_frame(folder / name)
        except DataError:
            continue
        assert isinstance(frame, pd.DataFrame)
        assert frame.columns.is_unique


# --- statistics ---------------------------------------------------------------------------


@st.composite
def holdout_data(draw: st.DrawFn) -> dict[str, np.ndarray | None]:
    n = draw(st.integers(6, 40))
    q = draw(st.integers(1, 3))
    values = st.one_of(FINITE, TIED)
    attributes = draw(arrays(np.float64, (n, q), elements=values))
    lifespan = draw(arrays(np.float64, n, elements=values))
    if draw(st.booleans()):  # a real effect, often strong: skewed bootstrap distributions
        rng = np.random.default_rng(draw(st.integers(0, 2**32)))
        attributes[:, 0] = rng.normal(size=n)
        lifespan = attributes[:, 0] * rng.uniform(-3, 3) + rng.normal(size=n)
    covariates = draw(st.none() | arrays(np.float64, (n, 1), elements=values))
    groups = draw(st.none() | arrays(np.int64, n, elements=st.integers(0, 4)))
    return {"attributes": attributes, "lifespan": lifespan, "covariates": covariates,
            "groups": groups}


@settings(max_examples=200)
@given(holdout_data(), st.integers(0, 3))
def test_holdout_tests_give_p_in_the_unit_interval_and_intervals_around_the_effect(
        data: dict[str, np.ndarray], seed: int) -> None:
    attributes = data["attributes"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        found = holdout_association(attributes, data["lifespan"], data["covariates"],
                                    groups=data["groups"], n_resamples=100,
                                    n_permutations=99, seed=seed)
    assert _in_unit_interval(found.p_positive) and _in_unit_interval(found.p_negative)
    constant = np.ptp(attributes, axis=0) == 0
    assert np.isnan(found.rho[constant]).all() and np.isnan(found.p_positive[constant]).all()
    rho = found.rho[np.isfinite(found.rho)]
    assert np.all(np.abs(rho) <= 1 + 1e-9)
    for direction in (np.ones(attributes.shape[1]), -np.ones(attributes.shape[1])):
        low, high = found.interval(direction)
        effect = found.effect(direction)
        shown = np.isfinite(low) & np.isfinite(effect)
        assert np.all(low[shown] <= effect[shown] + 1e-12)
        assert np.all(effect[shown] <= high[shown] + 1e-12)
        assert _in_unit_interval(found.p_value(direction))


@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(1e-300, 1.0)),
       st.sampled_from([m for m in CORRECTIONS if m != "maxt"]), st.floats(0.01, 0.5),
       st.integers(1, 4), st.integers(0, 2**16))
def test_q_values_are_never_below_their_p(p: np.ndarray, method: str, alpha: float,
                                          n_families: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    families = rng.integers(0, n_families, len(p))
    included = rng.random(len(p)) < 0.8
    q = adjust(p, method, alpha)
    assert np.all(q >= p - 1e-15) and np.all(q <= 1)
    grouped = family_q(p, None, families, included, method, alpha)
    shown = ~np.isnan(grouped)
    assert np.array_equal(shown, included)
    assert np.all(grouped[shown] >= p[shown] - 1e-15) and np.all(grouped[shown] <= 1)


@given(arrays(np.float64, (20, 3), elements=st.one_of(FINITE, TIED)),
       arrays(np.float64, 3, elements=st.one_of(FINITE, TIED, st.just(np.nan))))
def test_permutation_p_values_are_in_the_unit_interval(null: np.ndarray,
                                                       observed: np.ndarray) -> None:
    for p in (permutation_p_values(observed, null), max_t_p_values(observed, null)):
        assert _in_unit_interval(p)
        assert np.array_equal(np.isnan(p), np.isnan(observed))
    assert np.all(max_t_p_values(observed, null)[~np.isnan(observed)] >=
                  permutation_p_values(observed, null)[~np.isnan(observed)])


@given(st.integers(5, 40), st.integers(1, 6), st.integers(0, 2**16),
       st.sampled_from(["procrustes", "units"]), st.booleans())
def test_aligning_an_embedding_to_itself_is_the_identity(n: int, k: int, seed: int,
                                                         method: str, scale: bool) -> None:
    rng = np.random.default_rng(seed)
    embedding = rng.normal(size=(n, k)) * rng.uniform(0.1, 10, k) + rng.normal(size=k)
    if np.linalg.matrix_rank(embedding - embedding.mean(0)) < k:
        return  # a degenerate embedding has no unique rotation
    aligner = make_aligner(method, scale=scale).fit(embedding, embedding)
    np.testing.assert_allclose(aligner.rotation_, np.eye(k), atol=1e-8)
    np.testing.assert_allclose(aligner.transform(embedding), embedding, atol=1e-8)
    assert aligner.disparity_ < 1e-10


@given(st.integers(0, 2**32), st.integers(50, 90), st.sampled_from(["+", "-"]),
       st.booleans(), st.floats(-1, 1))
def test_claim_checks_keep_their_contracts(seed: int, n: int, sign: str, covariate: bool,
                                           slope: float) -> None:
    rng = np.random.default_rng(seed)
    size = rng.normal(size=n)
    frame = pd.DataFrame({"life": np.exp(slope * size + rng.normal(size=n)), "size": size,
                          "metal": rng.integers(0, 2, n), "age": rng.normal(size=n)})
    table = embaudit.load_table(frame, target="life", attributes=["size", "metal"],
                                features=[], covariates=["age"] if covariate else None)
    report = embaudit.check_claims(table, [f"size:{sign}", f"metal:{sign}"],
                                   covariates=["age"] if covariate else None,
                                   n_resamples=200, seed=seed % 100)
    for verdict in report.verdicts:
        assert verdict.verdict in {"survives", "fails", "inconclusive"}
        assert 0 < verdict.p <= 1 and verdict.p <= verdict.q <= 1
        assert verdict.ci_low <= verdict.effect <= verdict.ci_high
        assert 0 <= verdict.power <= 1
        assert verdict.verdict != "survives" or verdict.effect > 0
