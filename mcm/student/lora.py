"""The student: a PEFT LoRA on the teacher's own network (Section 4: rank 64).

One copy of the base weights serves the teacher (adapters disabled), the student and the target (adapters
enabled; with LoRA the authors use no separate EMA target). ``inject_adapter_in_model`` is used rather than
``add_adapter`` because ``UNet3DConditionModel`` has no ``add_adapter``; the adapter layers are toggled
directly (``BaseTunerLayer.enable_adapters``), which is what diffusers does inside ``disable_adapters``.

The saved adapter is a standard PEFT folder: ``adapter_config.json`` + ``adapter_model.safetensors``.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model, set_peft_model_state_dict
from peft.tuners.tuners_utils import BaseTunerLayer
from safetensors.torch import load_file, save_file
from torch import nn

from mcm.student.config import StudentConfig

ADAPTER_NAME = "default"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def lora_config(cfg: StudentConfig, default_targets: str) -> LoraConfig:
    return LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules or default_targets,
        init_lora_weights=True,  # B = 0: the student starts equal to the teacher
    )


def add_lora(network: nn.Module, cfg: StudentConfig, default_targets: str, seed: int = 0) -> nn.Module:
    """Inject the student's LoRA into ``network`` in place; only the LoRA parameters stay trainable.

    The A matrices are drawn from ``seed`` (B starts at zero), so every rank and every rerun starts equal."""
    config = lora_config(cfg, default_targets)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            inject_adapter_in_model(config, network, adapter_name=ADAPTER_NAME)
    except ValueError as err:
        raise ValueError(f"student.target_modules={config.target_modules!r} could not be applied: {err}") from err
    for name, param in network.named_parameters():
        param.requires_grad_("lora_" in name)
    network.peft_config = {ADAPTER_NAME: config}  # what save_adapter_folder writes
    accept_input_keyword(network)
    return network


def accept_input_keyword(network: nn.Module) -> None:
    """Let LoRA layers be called as ``layer(input=x)``, as nn.Linear can.

    diffusers' AnimateDiff motion modules call ``self.proj_in(input=hidden_states)``; peft's LoRA layers name
    that argument ``x`` and would raise TypeError."""
    for layer in lora_layers(network):
        if getattr(layer, "_mcm_accepts_input", False):
            continue
        forward = layer.forward

        def forward_with_input(*args, _forward=forward, **kwargs):
            if not args and "input" in kwargs:
                args = (kwargs.pop("input"),)
            return _forward(*args, **kwargs)

        layer.forward = forward_with_input
        layer._mcm_accepts_input = True


def lora_layers(network: nn.Module) -> list[BaseTunerLayer]:
    return [m for m in network.modules() if isinstance(m, BaseTunerLayer)]


def set_adapters_enabled(network: nn.Module, enabled: bool) -> None:
    """Switch the adapters on or off without touching which LoRA parameters train.

    peft's ``enable_adapters`` also sets ``requires_grad`` (off: False everywhere; on: ``set_adapter`` makes
    every LoRA parameter trainable again), which would undo a freezing such as the two-stage baseline's
    (issue 8, defect 8): the flags are restored after the switch."""
    for layer in lora_layers(network):
        trainable = [(p, p.requires_grad) for p in layer.parameters()]
        layer.enable_adapters(enabled)
        for p, flag in trainable:
            p.requires_grad_(flag)


@contextmanager
def adapters_disabled(network: nn.Module) -> Iterator[None]:
    """Within this block ``network`` is the teacher."""
    set_adapters_enabled(network, False)
    try:
        yield
    finally:
        set_adapters_enabled(network, True)


def trainable_parameters(network: nn.Module) -> list[nn.Parameter]:
    return [p for p in network.parameters() if p.requires_grad]


def lora_state_dict(network: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter weights in PEFT's key layout (adapter name removed)."""
    return {k: v.detach().contiguous() for k, v in get_peft_model_state_dict(network, adapter_name=ADAPTER_NAME).items()}


def load_lora_state_dict(network: nn.Module, state: dict[str, torch.Tensor]) -> None:
    result = set_peft_model_state_dict(network, state, adapter_name=ADAPTER_NAME)
    missing = [k for k in getattr(result, "unexpected_keys", [])]
    if missing:
        raise ValueError(f"LoRA state has keys the network does not: {missing[:5]}")


def save_adapter_folder(network: nn.Module, folder: str | Path) -> None:
    """A standard PEFT adapter folder (loads with ``peft.PeftModel.from_pretrained`` or ``load_adapter_folder``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    network.peft_config[ADAPTER_NAME].save_pretrained(str(folder))
    save_file(lora_state_dict(network), str(folder / ADAPTER_WEIGHTS))


def load_adapter_folder(network: nn.Module, folder: str | Path) -> nn.Module:
    """Inject the adapter described by ``folder`` into ``network`` and load its weights."""
    folder = Path(folder)
    if not (folder / ADAPTER_CONFIG).is_file() or not (folder / ADAPTER_WEIGHTS).is_file():
        raise ValueError(f"{folder} is not a PEFT adapter folder ({ADAPTER_CONFIG} + {ADAPTER_WEIGHTS} expected)")
    config = LoraConfig.from_pretrained(str(folder))
    config.target_modules = _targets_from_json(folder / ADAPTER_CONFIG, config.target_modules)
    inject_adapter_in_model(config, network, adapter_name=ADAPTER_NAME)
    network.peft_config = {ADAPTER_NAME: config}
    accept_input_keyword(network)
    load_lora_state_dict(network, load_file(str(folder / ADAPTER_WEIGHTS)))
    network.requires_grad_(False)
    return network


def _targets_from_json(path: Path, parsed):
    # A regex target is a string; peft may hand back a set when the json held a list.
    raw = json.loads(path.read_text()).get("target_modules")
    return raw if isinstance(raw, str) else parsed


def merge_lora(network: nn.Module) -> nn.Module:
    """Fold the LoRA into the base weights and remove the adapter layers (a plain diffusers model)."""
    from peft.tuners.tuners_utils import BaseTunerLayer as _Layer

    for name, module in list(network.named_modules()):
        if isinstance(module, _Layer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = network.get_submodule(parent_name) if parent_name else network
            setattr(parent, child, module.get_base_layer())
    if hasattr(network, "peft_config"):
        del network.peft_config
    return network
