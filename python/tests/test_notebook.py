"""The example notebook runs top to bottom in a fresh kernel and prints the expected numbers."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient


def outputs(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", ""))
            texts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def test_the_economist_notebook(repo):
    notebook = nbformat.read(repo / "python/examples/economist.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(repo)}}).execute()
    text = outputs(notebook)
    assert "21 of 21 published checks pass" in text, text
    assert "price 21.85 CNY/t in 2026" in text, text
    assert "applications by status: {'full': 2, 'partial': 3}" in text, text
    assert "cod granted: 14.000 t" in text, text
    assert "cleared at 58.00 CNY/t; revenue 58000.00 CNY" in text, text
    assert "重庆长江新材料有限公司" in text and "Fuling Power, Unit 3" in text
