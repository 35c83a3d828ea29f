"""Rows are assumed independent unless a group column says otherwise, and an audit says
so; when rows look clustered, it names the evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import embaudit
from embaudit.config import AuditConfig
from embaudit.data.independence import clustering_evidence, independence_sentence
from embaudit.reports.methods import methods_paragraphs


def _grouped_frame(seed: int = 0, groups: int = 30, size: int = 15) -> pd.DataFrame:
    """Rows in groups, listed group by group: lifespan, an attribute and the features
    share group effects (ICC 0.5); ``hardness`` is a property of the group."""
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(groups), size)

    def grouped() -> np.ndarray:
        return np.sqrt(0.5) * (rng.normal(size=groups)[codes] + rng.normal(size=len(codes)))

    frame = pd.DataFrame({"batch": codes, "size": grouped(), "lifespan": np.exp(grouped()),
                          "hardness": rng.normal(size=groups)[codes]})
    for j in range(8):
        frame[f"f{j}"] = grouped()
    return frame


def _table(frame: pd.DataFrame, **roles: object) -> embaudit.Table:
    return embaudit.load_table(frame, target="lifespan", features=["f*"],
                               attributes=["size", "hardness"], **roles)


def test_rows_listed_group_by_group_are_named_as_clustered():
    evidence = clustering_evidence(_table(_grouped_frame()))
    text = " ".join(evidence)
    assert "hardness stays constant over runs of rows in the file's row order" in text
    assert "lifespan of neighbouring rows" in text and "size of neighbouring rows" in text
    # the same rows in a random order show nothing, and a group column settles it
    shuffled = _grouped_frame().sample(frac=1, random_state=1).reset_index(drop=True)
    assert clustering_evidence(_table(shuffled)) == []
    assert clustering_evidence(_table(_grouped_frame(), group="batch")) == []
    assert "tested as a cluster" in independence_sentence(
        _table(_grouped_frame(), group="batch"), [])


def test_sorted_tables_and_independent_worlds_raise_no_alarm():
    world = embaudit.worlds.product_lifespan(n=600, p=40, seed=2)
    assert clustering_evidence(world.table) == []
    roles = world.table.roles()
    frame = world.frame
    for order in ("lifespan_days", "colour", ["outdoor", "colour"]):
        table = embaudit.load_table(frame.sort_values(order).reset_index(drop=True),
                                    **{k: v for k, v in roles.items() if v is not None})
        assert clustering_evidence(table) == [], order


def test_real_tables_sorted_or_listed_by_centre():
    pytest.importorskip("SurvSet")
    from SurvSet.data import SurvLoader

    frame = SurvLoader().load_dataset("veteran")["df"]  # sorted by treatment, cell type
    table = embaudit.load_table(frame, target="time", event="event", id="pid",
                                features=["num_*"], attributes=["num_karno", "fac_celltype"])
    assert clustering_evidence(table) == []
    # the treatment arm the rows are sorted by may be a feature
    frame["fac_trt"] = frame["fac_trt"].astype(float)
    table = embaudit.load_table(frame, target="time", event="event", id="pid",
                                features=["num_*", "fac_trt"],
                                attributes=["num_karno", "num_age", "fac_celltype"])
    assert clustering_evidence(table) == []
    # a multi-centre trial listed centre by centre: the centre is named
    frame = SurvLoader().load_dataset("cgd")["df"]
    table = embaudit.load_table(frame, target="time", event="event", id="pid",
                                features=["num_*"], attributes=["num_age", "fac_center"])
    evidence = clustering_evidence(table)
    assert len(evidence) == 1
    assert evidence[0].startswith("fac_center stays constant over runs of rows in the order "
                                  "of pid")


def test_near_duplicate_feature_rows_are_evidence():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(300, 12)), columns=[f"f{j}" for j in range(12)])
    frame["size"] = rng.normal(size=300)
    frame["lifespan"] = np.exp(rng.normal(size=300))
    twice = pd.concat([frame, frame + 1e-4 * rng.normal(size=frame.shape)], ignore_index=True)
    twice = twice.sample(frac=1, random_state=0).reset_index(drop=True)
    load = dict(target="lifespan", features=["f*"], attributes=["size"])
    evidence = clustering_evidence(embaudit.load_table(twice, **load))
    assert len(evidence) == 1 and "have a near-duplicate feature row" in evidence[0]
    assert clustering_evidence(embaudit.load_table(frame, **load)) == []
    # discrete features repeat by nature: no alarm
    discrete = frame.assign(**{f"f{j}": rng.integers(0, 2, 300) for j in range(12)})
    assert clustering_evidence(embaudit.load_table(discrete, **load)) == []


def test_an_audit_says_what_it_assumed_and_warns_with_the_evidence():
    table = _table(_grouped_frame())
    options = {"training": {"regimes": []}, "resampling": {"n_bootstrap": 2,
                                                           "n_permutations": 9},
               "statistics": {"n_resamples": 100}}
    with pytest.warns(UserWarning, match="hardness stays constant over runs"):
        result = embaudit.audit(options, table=table)
    assert "look clustered" in result.position.independence
    assert "--group COLUMN" in result.position.independence
    assert result.position.independence in result.position.paragraphs()
    independent = embaudit.audit(options, table=_table(
        _grouped_frame().sample(frac=1, random_state=1).reset_index(drop=True)))
    assert independent.position.independence.startswith("Rows are assumed independent")
    methods = dict(methods_paragraphs(AuditConfig(), "overfit"))
    assert methods["Independence of rows"].startswith("Rows are assumed independent")
    grouped = dict(methods_paragraphs(AuditConfig(), "overfit", group="batch"))
    assert "errors clustered by it" in grouped["Independence of rows"]
