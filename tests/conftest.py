"""Fixtures shared by the test modules."""

from __future__ import annotations

import os

# as the command line sets it (embaudit.cli.main): bit-for-bit members on AMD EPYC too;
# before anything imports torch, since MKL reads it at its first call
os.environ.setdefault("MKL_CBWR", "AUTO")

import pytest

from embaudit.core.members import Split
from embaudit.data.worlds import World, product_lifespan
from embaudit.resampling.plans import discovery_holdout_split


@pytest.fixture(scope="session")
def world() -> World:
    """A small product-lifespan world: quick to train on, still with planted effects."""
    return product_lifespan(n=400, p=40, seed=3)


@pytest.fixture(scope="session")
def split(world: World) -> Split:
    return discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
