"""Targets by name (target/hub.py): timm:, hf: and torchvision:, offline.

Oracles: the libraries' own models built for real on CPU (``sum(p.numel())``), torchvision's
``weights.meta["num_params"]`` and the published 124,439,808 parameters of GPT-2 base. The hub
cache is built under ``tmp_path`` in the layout huggingface_hub uses
(``models--ORG--NAME/snapshots/<rev>/config.json`` + ``refs/main``); nothing touches the network.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model_audit import audit
from model_audit.cli.main import main
from model_audit.errors import TargetError
from model_audit.target.loading import load_target

DATA = Path(__file__).parent / "data"
GPT2_BASE_PARAMS = 124_439_808  # published size of GPT-2 base (openai-community/gpt2)
CLI = "import sys; from model_audit.cli.main import main; sys.exit(main())"
REV = "607a30d783dfa663caf39e06633721c8d4cfcd7e"


def _run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    src = str(Path(__file__).resolve().parents[1] / "src")
    full = {**os.environ, **env, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", CLI, *args], env=full, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _hub_cache(root: Path) -> Path:
    """A Hugging Face cache holding only openai-community/gpt2's config.json at REV (= refs/main)."""
    repo = root / "hub" / "models--openai-community--gpt2"
    (repo / "snapshots" / REV).mkdir(parents=True)
    (repo / "refs").mkdir()
    shutil.copy(DATA / "gpt2-config" / "config.json", repo / "snapshots" / REV / "config.json")
    (repo / "refs" / "main").write_text(REV)
    return root


# --- hf: ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_hf_local_folder_builds_gpt2_on_meta_with_token_inputs():
    pytest.importorskip("transformers")
    loaded = load_target(f"hf:{DATA / 'gpt2-config'}")
    assert type(loaded.model).__name__ == "GPT2LMHeadModel"  # config.architectures picks the head
    assert all(p.device.type == "meta" for p in loaded.model.parameters())  # nothing allocated
    assert set(loaded.inputs) == {"input_ids"} and tuple(loaded.inputs["input_ids"].shape) == (1, 128)
    report = audit(loaded.model, loaded.inputs)
    assert report.params == GPT2_BASE_PARAMS
    assert report.uncounted_ops == {}


def test_hf_tiny_config_matches_real_model(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=500, n_positions=32,
                                     architectures=["GPT2LMHeadModel"])
    config.save_pretrained(tmp_path / "tiny")
    real = transformers.GPT2LMHeadModel(config)
    loaded = load_target(f"hf:{tmp_path / 'tiny'}")
    assert tuple(loaded.inputs["input_ids"].shape) == (1, 32)  # 128 capped by the position table
    assert audit(loaded.model, loaded.inputs).params == sum(p.numel() for p in real.parameters())


@pytest.mark.parametrize("kind", ["vit", "t5", "bert"])
def test_hf_default_inputs_per_task(kind, tmp_path):
    """Vision configs get pixel_values, encoder-decoders decoder_input_ids too, and a config naming
    no architecture the bare AutoModel backbone."""
    T = pytest.importorskip("transformers")
    config, cls, expected = {
        "vit": (T.ViTConfig(num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                            image_size=32, patch_size=8, architectures=["ViTForImageClassification"]),
                T.ViTForImageClassification, {"pixel_values": (1, 3, 32, 32)}),
        "t5": (T.T5Config(num_layers=1, d_model=32, d_kv=16, num_heads=2, d_ff=64, vocab_size=100,
                          decoder_start_token_id=0, architectures=["T5ForConditionalGeneration"]),
               T.T5ForConditionalGeneration, {"input_ids": (1, 128), "decoder_input_ids": (1, 128)}),
        "bert": (T.BertConfig(num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                              vocab_size=100, max_position_embeddings=64), T.BertModel, {"input_ids": (1, 64)}),
    }[kind]
    config.save_pretrained(tmp_path / kind)
    loaded = load_target(f"hf:{tmp_path / kind}")
    assert type(loaded.model) is cls
    assert {k: tuple(v.shape) for k, v in loaded.inputs.items()} == expected
    assert audit(loaded.model, loaded.inputs).params == sum(p.numel() for p in cls(config).parameters())


@pytest.mark.slow
def test_cli_hf_cached_hub_id_offline(tmp_path):
    pytest.importorskip("transformers")
    home = _hub_cache(tmp_path / "hf")
    env = {"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "HF_HUB_OFFLINE": "1"}
    done = _run_cli(["hf:openai-community/gpt2", "--format", "json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert summary["params"] == GPT2_BASE_PARAMS and summary["input_shapes"] == [[1, 128]]
    missing = _run_cli([f"hf:openai-community/gpt2-medium@{REV}"], env, tmp_path)
    assert missing.returncode == 2
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "not in the Hugging Face cache" in lines[0] and "--revision" in lines[0], lines


def _custom_code_folder(root: Path) -> Path:
    folder = root / "custom"
    folder.mkdir()
    (folder / "configuration_tiny.py").write_text(
        "from transformers import PretrainedConfig\n"
        "class TinyConfig(PretrainedConfig):\n"
        "    model_type = 'tiny-audit'\n"
        "    def __init__(self, width=8, vocab_size=10, **kw):\n"
        "        self.width = width\n        self.vocab_size = vocab_size\n        super().__init__(**kw)\n")
    (folder / "modeling_tiny.py").write_text(
        "import torch.nn as nn\nfrom transformers import PreTrainedModel\n"
        "from .configuration_tiny import TinyConfig\n"
        "class TinyModel(PreTrainedModel):\n"
        "    config_class = TinyConfig\n"
        "    def __init__(self, config):\n"
        "        super().__init__(config)\n"
        "        self.embed = nn.Embedding(config.vocab_size, config.width)\n"
        "        self.proj = nn.Linear(config.width, 3)\n"
        "        self.post_init()\n"
        "    def forward(self, input_ids):\n        return self.proj(self.embed(input_ids))\n")
    (folder / "config.json").write_text(json.dumps({
        "model_type": "tiny-audit", "width": 8, "vocab_size": 10, "architectures": ["TinyModel"],
        "auto_map": {"AutoConfig": "configuration_tiny.TinyConfig", "AutoModel": "modeling_tiny.TinyModel"}}))
    return folder


def test_hf_custom_code_needs_the_flag(tmp_path):
    pytest.importorskip("transformers")
    folder = _custom_code_folder(tmp_path)
    with pytest.raises(TargetError, match="--trust-remote-code"):
        load_target(f"hf:{folder}")
    loaded = load_target(f"hf:{folder}", trust_remote_code=True)
    assert type(loaded.model).__name__ == "TinyModel"
    assert audit(loaded.model, loaded.inputs).params == 10 * 8 + 8 * 3 + 3  # embedding + linear


# --- timm: and torchvision: ---------------------------------------------------------------------

def test_timm_resnet50_exact_params_and_input_from_pretrained_cfg():
    timm = pytest.importorskip("timm")
    loaded = load_target("timm:resnet50")
    real = timm.create_model("resnet50", pretrained=False)
    assert loaded.input_shape == (1, *real.pretrained_cfg["input_size"]) == (1, 3, 224, 224)
    assert all(p.device.type == "meta" for p in loaded.model.parameters())
    report = audit(loaded.model, input_shape=loaded.input_shape)
    assert report.params == sum(p.numel() for p in real.parameters())


def test_timm_input_size_follows_the_model():
    timm = pytest.importorskip("timm")
    loaded = load_target("timm:mobilevit_xxs")
    assert loaded.input_shape == (1, 3, 256, 256)
    real = timm.create_model("mobilevit_xxs", pretrained=False)
    assert sum(p.numel() for p in loaded.model.parameters()) == sum(p.numel() for p in real.parameters())


def test_torchvision_params_match_weights_meta_and_crop_size():
    tv = pytest.importorskip("torchvision")
    loaded = load_target("torchvision:inception_v3")
    weights = tv.models.Inception_V3_Weights.DEFAULT
    assert loaded.input_shape == (1, 3, weights.transforms().crop_size[0], weights.transforms().crop_size[0])
    assert loaded.input_shape == (1, 3, 299, 299)
    report = audit(loaded.model, input_shape=loaded.input_shape)
    assert report.params == weights.meta["num_params"]


def test_torchvision_segmentation_builds_offline_without_backbone_weights():
    pytest.importorskip("torchvision")
    # weights_backbone defaults to ImageNet weights: without weights_backbone=None this downloads
    loaded = load_target("torchvision:fcn_resnet50")
    assert loaded.input_shape == (1, 3, 520, 520)  # the transforms' resize size
    assert all(p.device.type == "meta" for p in loaded.model.parameters())


# --- errors: one line, exit 2 ---------------------------------------------------------------------

@pytest.mark.parametrize("target, expected", [
    ("timm:resnet5", "timm has no model 'resnet5'; did you mean resnet50"),
    ("torchvision:resnet5", "torchvision has no model 'resnet5'; did you mean resnet50"),
    ("hf:./no-such-folder", "hf:./no-such-folder: no such folder"),
    ("hf:tests", "hf:tests: the folder has no config.json"),
    ("hf:a/b/c", "expected hf:ORG/NAME[@REVISION]"),
    ("timm:", "give a model name after 'timm:'"),
])
def test_bad_names_are_one_line_exit_2(target, expected, capsys, monkeypatch):
    pytest.importorskip("timm")
    pytest.importorskip("torchvision")
    monkeypatch.chdir(Path(__file__).parents[1])
    assert main([target]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


@pytest.mark.parametrize("target, package, extra", [("timm:resnet50", "timm", "timm"),
                                                    ("hf:openai-community/gpt2", "transformers", "hf"),
                                                    ("torchvision:resnet18", "torchvision", "torchvision")])
def test_missing_package_names_the_extra(target, package, extra, monkeypatch):
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` raise ImportError
    with pytest.raises(TargetError, match=rf"pip install 'model-audit\[{extra}\]'"):
        load_target(target)


# --- model-audit check --------------------------------------------------------------------------

def test_check_audits_named_targets(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    tv = pytest.importorskip("torchvision")
    from model_audit.cli.check import main as check_main

    config = transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100, n_positions=16,
                                     architectures=["GPT2LMHeadModel"])
    config.save_pretrained(tmp_path / "models" / "tiny-gpt2")
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.model-audit.targets]]\ntarget = "hf:./models/tiny-gpt2"\n\n'
        '[[tool.model-audit.targets]]\ntarget = "torchvision:resnet18"\nmax-params = "12M"\n')
    code = check_main(["--config", str(tmp_path / "pyproject.toml"), "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    params = {t["target"].split(":")[0]: t["params"] for t in result["targets"]}
    assert params["hf"] == sum(p.numel() for p in transformers.GPT2LMHeadModel(config).parameters())
    assert params["torchvision"] == tv.models.ResNet18_Weights.DEFAULT.meta["num_params"]


def test_check_rejects_a_non_boolean_trust_remote_code(tmp_path, capsys):
    from model_audit.cli.main import main as cli

    (tmp_path / "pyproject.toml").write_text('[[tool.model-audit.targets]]\ntarget = "hf:./m"\ntrust-remote-code = "yes"\n')
    assert cli(["check", "--config", str(tmp_path / "pyproject.toml")]) == 2
    assert "trust-remote-code: expected true or false" in capsys.readouterr().err
