"""Every notebook runs top to bottom; its plots are saved to tests/artifacts/ for a person to look at."""

import base64
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_draws(path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    pngs = [out["data"]["image/png"] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
    assert pngs, "the notebook should draw at least one plot"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for i, png in enumerate(pngs):
        (ARTIFACTS / f"{path.stem}_{i}.png").write_bytes(base64.b64decode(png))
    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
