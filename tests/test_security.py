"""Security of the code and of a store: no pickle, weights loaded with ``weights_only``,
no write outside the output folder, and tampered store files refused."""

from __future__ import annotations

import ast
import pickle  # only to build a hostile checkpoint; the package never imports it
import shutil
import zipfile
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import embaudit
from embaudit.cli import app
from embaudit.store import AuditStore
from embaudit.store.files import file_sha256

SOURCE = Path(embaudit.__file__).parent
PICKLERS = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve",
            "marshal"}
runner = CliRunner()


def _calls(name: str) -> list[tuple[Path, ast.Call]]:
    found = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == name:
                found.append((path, node))
    return found


def test_the_package_never_pickles() -> None:
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            elif isinstance(node, ast.Attribute):
                names = {"pickle"} if node.attr in {"read_pickle", "to_pickle"} else set()
            else:
                continue
            assert not names & PICKLERS, f"{path.name}:{node.lineno} uses {names & PICKLERS}"
    loads = _calls("load")
    for path, call in loads:
        keywords = {k.arg: k.value for k in call.keywords}
        if getattr(call.func.value, "id", None) == "torch":
            assert isinstance(keywords.get("weights_only"), ast.Constant) and \
                keywords["weights_only"].value is True, f"{path.name}:{call.lineno}"
        if "allow_pickle" in keywords:
            assert keywords["allow_pickle"].value is False, f"{path.name}:{call.lineno}"
    assert any(getattr(c.func.value, "id", None) == "torch" for _, c in loads)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("secure") / "audit"
    world = embaudit.worlds.product_lifespan(n=300, p=20, seed=6)
    embaudit.audit({"out": str(out), "seed": 6, "training": {"regimes": ["overfit"],
                                                            "max_epochs": 5},
                    "resampling": {"n_bootstrap": 2, "n_permutations": 9},
                    "statistics": {"n_resamples": 100}}, table=world.table)
    return out


@pytest.fixture
def copy(finished: Path, tmp_path: Path) -> Path:
    target = tmp_path / "audit"
    shutil.copytree(finished, target)
    return target


def _reference_chunk(out: Path, suffix: str) -> Path:
    with duckdb.connect(str(out / "audit.duckdb"), read_only=True) as connection:
        chunk = connection.execute("SELECT chunk FROM members WHERE member_id = "
                                   "'overfit/reference'").fetchone()[0]
    return out / "members" / "overfit" / f"{chunk}.{suffix}"


def test_the_store_holds_no_pickle_but_checkpoints_of_plain_tensors(finished: Path) -> None:
    checkpoints = []
    for path in finished.rglob("*"):
        if path.is_file() and path.suffix != ".pt":
            assert path.read_bytes()[:1] != b"\x80", path  # a pickle's first byte
        elif path.suffix == ".pt":
            checkpoints.append(path)
            assert zipfile.is_zipfile(path)
    assert checkpoints


@pytest.mark.parametrize("suffix", ["parquet", "pt"])
def test_a_tampered_chunk_file_is_refused_with_its_name(copy: Path, suffix: str) -> None:
    path = _reference_chunk(copy, suffix)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(embaudit.ConfigError, match=rf"{path.name}' differs from the checksum "
                       r"recorded when it was written.*--overwrite"):
        embaudit.load_member(copy)
    if suffix == "parquet":  # the reports' rebuild reads the reference's embedding
        outcome = runner.invoke(app, ["report", str(copy)])
        assert outcome.exit_code == 2 and "modified or replaced" in outcome.output


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_hostile_checkpoint_with_a_forged_checksum_does_not_run(copy: Path,
                                                                tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    path = _reference_chunk(copy, "pt")
    path.write_bytes(pickle.dumps({"layers.0.weight": Payload()}))
    with duckdb.connect(str(copy / "audit.duckdb")) as connection:
        connection.execute("UPDATE chunk_files SET sha256 = ? WHERE chunk = ? AND suffix = 'pt'",
                           [file_sha256(path), path.stem])
    with pytest.raises(embaudit.ConfigError, match=r"not a checkpoint of plain tensors"):
        embaudit.load_member(copy)
    assert not marker.exists()


def test_a_chunk_name_that_leaves_the_store_is_refused(copy: Path) -> None:
    with duckdb.connect(str(copy / "audit.duckdb")) as connection:
        connection.execute("UPDATE members SET chunk = '../../../outside' "
                           "WHERE member_id = 'overfit/reference'")
    with pytest.raises(embaudit.ConfigError, match=r"'\.\./\.\./\.\./outside'"):
        embaudit.load_member(copy)


@pytest.mark.parametrize("link", ["members/overfit", "report_files", "report.json"])
def test_a_store_with_a_symbolic_link_is_refused_and_nothing_outside_changes(
        copy: Path, tmp_path: Path, link: str) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.parquet").write_text("keep me")
    target = copy / link
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    target.symlink_to(outside if link != "report.json" else outside / "precious.parquet")
    world = embaudit.worlds.product_lifespan(n=300, p=20, seed=6)
    config = AuditStore(copy).read_metadata()["config"]
    config["out"] = str(copy)
    with pytest.raises(embaudit.ConfigError, match=rf"symbolic link at '{link}'"):
        embaudit.audit(config, table=world.table)
    assert (outside / "precious.parquet").read_text() == "keep me"
    assert [p.name for p in outside.iterdir()] == ["precious.parquet"]
