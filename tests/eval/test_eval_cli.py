import argparse

import torch
from safetensors.torch import load_file

from mcm.cli import convert as convert_cli
from mcm.cli import eval as eval_cli
from mcm.eval.i3d import InceptionI3d


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcm")
    sub = parser.add_subparsers(dest="command", required=True)
    eval_cli.register(sub)
    convert_cli.register(sub)
    return parser


def test_convert_verb_writes_safetensors(tmp_path):
    state = InceptionI3d().state_dict()
    torch.save(state, tmp_path / "i3d.pt")
    args = _parser().parse_args(["convert", "i3d", str(tmp_path / "i3d.pt"), str(tmp_path / "i3d.safetensors")])
    assert args.func(args) == 0
    assert torch.equal(load_file(str(tmp_path / "i3d.safetensors"))["logits.conv3d.bias"], state["logits.conv3d.bias"])


def test_eval_verb_parses():
    args = _parser().parse_args(["eval", "--config", "e.yaml", "--device", "cuda"])
    assert args.config == "e.yaml" and args.device == "cuda" and args.out is None and callable(args.func)
