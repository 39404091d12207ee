"""Errors raised by a model's own Python code reach the user with the real values, not fx placeholders."""
import pytest
import torch
import torch.nn as nn
import torchvision

from model_audit import ModelExecutionError, audit
from model_audit.cli.main import main


def test_fx_assertion_reports_real_values_not_proxies():
    with torch.device("meta"):
        model = torchvision.models.vit_b_16()
    with pytest.raises(ModelExecutionError) as info:
        audit(model, input_shape=(1, 3, 256, 256))
    message = str(info.value)
    assert "Expected 224 but got 256" in message
    assert "Proxy" not in message
    assert "[1, 3, 256, 256]" in message


class Picky(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if x.shape[-1] != 4:
            raise ValueError(f"need 4 features, got {x.shape[-1]}")
        return self.fc(x)


def test_error_in_model_code_outside_leaf_modules_is_a_clean_exit_2(tmp_path, capsys):
    path = tmp_path / "picky.py"
    path.write_text(
        "import torch.nn as nn\n"
        "class Picky(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        if x.shape[-1] != 4:\n"
        "            raise ValueError(f'need 4 features, got {x.shape[-1]}')\n"
        "        return self.fc(x)\n"
        "model = Picky()\n"
    )
    assert main([str(path), "--input", "2,5"]) == 2
    err = capsys.readouterr().err
    assert "need 4 features, got 5" in err and "[2, 5]" in err
    assert "Traceback" not in err


def test_model_code_error_leaves_model_unchanged():
    model = Picky().train()
    weight = model.fc.weight.detach().clone()
    with pytest.raises(ModelExecutionError):
        audit(model, input_shape=(2, 5))
    assert model.training and model.fc.training
    assert torch.equal(model.fc.weight, weight) and model.fc.weight.device.type == "cpu"
    assert audit(model, input_shape=(2, 4)).params == 10
