"""Train (or reuse) the ml-100k checkpoints the serving benchmarks load."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# epochs per model: enough for a served model to be sensible, short enough for a benchmark
EPOCHS = {"KASimCF": 1, "LLMAugRec": 20, "KGLLMGNN": 10, "BPR": 20}


def checkpoints(models: list[str], index: Path, dataset: str = "ml-100k") -> dict[str, str]:
    """``{model: checkpoint}``: reuses the ones listed in ``index`` (a JSON file), trains the rest
    (one torch thread, RecBole's default split) and records them there."""
    import torch

    torch.set_num_threads(1)
    found = json.loads(index.read_text()) if index.is_file() else {}
    missing = [m for m in models if not os.path.isfile(found.get(m, ""))]
    if missing:
        from recbole_llmkg.config import Config
        from recbole_llmkg.files import write_text_atomic
        from recbole_llmkg.quick_start import run

        for model in missing:
            epochs = EPOCHS.get(model, 5)
            config = Config(model, dataset, config_dict={
                "epochs": epochs, "eval_step": max(1, epochs // 2), "device": "cpu",
                "use_gpu": False, "show_progress": False, "state": "WARNING",
                "checkpoint_dir": str(index.parent / "saved"),
            }, cmd_args=[])
            result = run(config)
            found[model] = result["checkpoint"]
            print(f"trained {model} ({epochs} epochs): test {dict(result['test_result'])}",
                  file=sys.stderr)
            write_text_atomic(index, json.dumps(found, indent=2))
    return {m: found[m] for m in models}
