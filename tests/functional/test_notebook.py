"""notebooks/compare_postures.ipynb runs, on the sample and on a database, and is kept clean."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from posturetest.importing import import_file
from posturetest.sample import write_sample
from posturetest.store import Store

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = NOTEBOOKS / "compare_postures.ipynb"

RESULTS_IMPORTABLE = all(
    importlib.util.find_spec(name) is not None
    for name in ("posturetest.stats", "posturetest.plots")
)
needs_results = pytest.mark.skipif(
    not RESULTS_IMPORTABLE, reason="posturetest.stats and posturetest.plots are not written yet"
)


@pytest.fixture
def kernel_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A "python3" kernel that is this interpreter, whatever kernels the machine has installed.

    JUPYTER_PATH is searched first, so the notebook runs with the posturetest under test even
    on a fresh clone or when another python3 kernel is registered.
    """
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (posturetest tests)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws images
    monkeypatch.delenv("POSTURETEST_NOTEBOOK_DB", raising=False)


def _execute() -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    return nb


def _cell(nb: nbformat.NotebookNode, tag: str) -> Any:
    (cell,) = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    return cell


def _text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _check_ran_cleanly(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
    stats_text = _text(_cell(nb, "stats")).lower()
    assert "vertical" in stats_text and "anterior" in stats_text
    for tag in ("compare", "agreement"):
        images = [o for o in _cell(nb, tag).outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, f"the {tag} cell should show one chart"


def test_committed_notebook_has_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source


def test_notebook_uses_posturetest_api() -> None:
    source = "\n".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells)
    for call in ("stats.compute(", "stats.format_text(", "plots.compare(", "plots.agreement("):
        assert call in source
    assert "POSTURETEST_NOTEBOOK_DB" in source and "SYNTHETIC" in source


@needs_results
@pytest.mark.usefixtures("kernel_here")
def test_notebook_runs_on_the_sample() -> None:
    nb = _execute()
    _check_ran_cleanly(nb)
    opened = _text(_cell(nb, "open"))
    assert "SYNTHETIC sample study" in opened and "384 trials" in opened


@needs_results
@pytest.mark.usefixtures("kernel_here")
def test_notebook_runs_on_a_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_sample(tmp_path / "package", 8, 99)
    database = tmp_path / "small.db"
    with Store(database) as store:
        import_file(store, tmp_path / "package" / "datapackage.json")
        trials = store.count("trials")
    monkeypatch.setenv("POSTURETEST_NOTEBOOK_DB", str(database))
    nb = _execute()
    _check_ran_cleanly(nb)
    opened = _text(_cell(nb, "open"))
    assert f"Reading {database}" in opened and f"{trials} trials" in opened
    assert "SYNTHETIC" not in opened
