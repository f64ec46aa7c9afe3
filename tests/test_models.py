"""Every registered model, quickly (timm's list_models() tests): its weights load strictly, a forward pass at its input
shape gives the outputs it declares, and its card names the weights' source and licence. The exhaustive export of
every model x format x precision is test_export's, behind `slow`."""
from __future__ import annotations

import pytest
import torch

from animetool.models import REGISTRY, create_model, list_models
from animetool.models.registry import WEIGHTS_DIR


@pytest.mark.parametrize("name", list_models())
def test_registered_model_loads_runs_and_has_a_card(name):
    info = REGISTRY[name]
    model = create_model(name)  # load_state_dict is strict: every weight present, none left over
    with torch.no_grad():
        out = model(torch.rand(info.input_shape))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    assert len(outs) == len(info.output_names) and all(torch.isfinite(o).all() for o in outs)
    assert info.task in ("pose", "generator") and info.preprocess and info.postprocess
    assert info.weights and info.weights_path.is_file() and info.weights.startswith(name + ".")
    card = (WEIGHTS_DIR / f"{name}.md").read_text()
    assert card.startswith(f"# {name}\n") and "Licence:" in card
