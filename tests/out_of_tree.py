"""An out-of-tree model for tests: a KASimCF subclass with a key of its own, in a folder outside
the package, with its defaults and value rules in ``PopKASimCF.yaml`` beside its module."""

from __future__ import annotations

from pathlib import Path

MODULE = '''\
"""KASimCF minus a popularity penalty: an out-of-tree variant."""

import torch

from recbole_llmkg.model.general_recommender.kasimcf import KASimCF


class PopKASimCF(KASimCF):
    """KASimCF whose scores lose ``pop_penalty`` x log(1 + item popularity)."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.pop_penalty = config["pop_penalty"]  # (float) weight of the popularity penalty
        counts = torch.bincount(dataset.inter_feat[dataset.iid_field], minlength=self.n_items)
        self.register_buffer("log_pop", torch.log1p(counts.float()), persistent=False)

    def user_scores(self, user):
        return super().user_scores(user) - self.pop_penalty * self.log_pop
'''

DEFAULTS = '''\
pop_penalty: 0.01            # (float) Weight of the popularity penalty.
sim_mode: item
knowledge_weight: 0.0
value_rules:
  pop_penalty: number >= 0
'''


def write_model(folder: Path, module: str = "pop_kasimcf") -> Path:
    """Write the variant's module and YAML into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(MODULE, encoding="utf-8")
    (folder / "PopKASimCF.yaml").write_text(DEFAULTS, encoding="utf-8")
    return folder


def write_dist_info(site: Path, module: str = "pop_kasimcf", name: str = "PopKASimCF") -> Path:
    """A ``*.dist-info`` that registers the variant under the ``recbole_llmkg.models`` group, as
    ``pip install`` of a package declaring that entry point would leave it."""
    info = site / "pop_models-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pop-models\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[recbole_llmkg.models]\n{name} = {module}:PopKASimCF\n")
    return info
