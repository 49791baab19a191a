#!/usr/bin/env python3
"""Rebuild a pupil model as a PyTorch nn.Sequential and load its trained weights.

    python3 load_pupil.py RUN_DIR                       # build, load, print the model
    python3 load_pupil.py RUN_DIR INPUT.safetensors     # ... and print its output on "x"

or, from Python:

    from load_pupil import load_pupil, normalize
    model, meta = load_pupil("runs/fer")          # an nn.Sequential in eval mode
    probs = model(normalize(meta, pixels))        # pixels: uint8 [N, C, H, W], 0..255

RUN_DIR is a pupil run directory (or any directory) holding model.json and model.safetensors.
Needs torch and safetensors (pip install torch safetensors).

How pupil's files map to PyTorch
--------------------------------
model.safetensors holds exactly the state_dict of the nn.Sequential built here, which is made
from an OrderedDict whose module names are pupil's layer names, counted per kind from 1:

    pupil layer            module name   tensors (PyTorch layout)
    conv (Conv2D)          convN         convN.weight [out, in, kh, kw], convN.bias [out]
    dense (Dense)          denseN        denseN.weight [out, in], denseN.bias [out]
    batchnorm              bnN           bnN.weight (gamma), bnN.bias (beta),
                                         bnN.running_mean, bnN.running_var
    prelu                  preluN        preluN.weight: [C] per channel (nn.PReLU(C)), else the
                                         per-sample shape (Keras' default; ElementwisePReLU here)

so `model.load_state_dict(tensors, strict=True)` needs no renaming. (nn.Sequential's default
names are indices, "0.weight", "3.running_mean"; pupil's names keep a file readable and stable
when a parameter-free layer is added.) Layers without tensors get names that cannot clash:
activations, pools, flatten, dropout and zero padding are named by kind and position
("max_pool3"), an activation folded into a conv / dense layer is "convN_act", and the zero
padding Keras' "same" adds unevenly (even kernel or stride > 1) is "convN_pad", a ZeroPad2d
before the convolution. The metadata key "pupil.layout" = "2" marks this layout; pupil refuses
files without it (older versions stored dense weights [in, out]).

The last Softmax / LogSoftmax of a pupil model (a layer, or the activation of the last dense
layer) is the module "head"; pass logits=True to leave it out (e.g. to train on with
nn.CrossEntropyLoss). pupil's batch-norm momentum is PyTorch's (running = (1-m)·running +
m·batch, unbiased variance), so training on in PyTorch continues the same statistics.
"""
import json
import sys
from collections import OrderedDict

import torch
from torch import nn
from safetensors.torch import load_file

HEADS = ("softmax", "log_softmax")


class ElementwisePReLU(nn.Module):
    """PReLU with one slope per element of a sample (Keras' PReLU default): y = x if x > 0
    else weight * x, weight of the per-sample shape, shared over the batch."""

    def __init__(self, shape):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return torch.where(x > 0, x, self.weight * x)


def activation(a):
    """The torch module for model.json's activation object {"kind": ...}."""
    k = a["kind"]
    if k == "relu":
        return nn.ReLU()
    if k == "leaky_relu":
        return nn.LeakyReLU(a["alpha"])
    if k == "elu":
        return nn.ELU(a["alpha"])
    if k == "selu":
        return nn.SELU()
    if k == "softplus":
        return nn.Softplus()
    if k == "sigmoid":
        return nn.Sigmoid()
    if k == "tanh":
        return nn.Tanh()
    if k == "softmax":
        return nn.Softmax(dim=1)
    if k == "log_softmax":
        return nn.LogSoftmax(dim=1)
    raise ValueError(f"unknown activation {k!r}")


def same_padding(size, k, stride):
    """Keras' "same": output ceil(size / stride); the odd zero goes bottom / right."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def window_out(size, k, stride):
    return (size - k) // stride + 1


def build(meta, logits=False):
    """The nn.Sequential of model.json's `meta` (weights not loaded)."""
    layers = [dict(l) for l in meta["spec"]["layers"]]
    head = None
    if layers and layers[-1]["type"] == "activation" and layers[-1]["act"]["kind"] in HEADS:
        head = layers.pop()["act"]
    elif layers and layers[-1]["type"] == "dense" and (layers[-1].get("activation") or {}).get("kind") in HEADS:
        head = layers[-1]["activation"]
        layers[-1]["activation"] = None
    shape = list(meta["input"])  # per-sample [C, H, W], or [F] after flatten
    mods = OrderedDict()
    count = {}

    def name(kind):
        count[kind] = count.get(kind, 0) + 1
        return f"{kind}{count[kind]}"

    for i, l in enumerate(layers):
        ty = l["type"]
        if ty == "conv2d":
            n = name("conv")
            c, h, w = shape
            (kh, kw), (sh, sw) = l["kernel"], l["stride"]
            pad = l["padding"]
            if pad == "valid":
                t, b, le, r = 0, 0, 0, 0
            elif pad == "same":
                (t, b), (le, r) = same_padding(h, kh, sh), same_padding(w, kw, sw)
            else:
                t = b = le = r = pad["explicit"]
            if t == b and le == r:
                conv_pad = (t, le)
            else:
                mods[n + "_pad"] = nn.ZeroPad2d((le, r, t, b))
                conv_pad = (0, 0)
            mods[n] = nn.Conv2d(c, l["filters"], (kh, kw), stride=(sh, sw), padding=conv_pad)
            shape = [l["filters"], window_out(h + t + b, kh, sh), window_out(w + le + r, kw, sw)]
            if l.get("activation"):
                mods[n + "_act"] = activation(l["activation"])
        elif ty == "dense":
            n = name("dense")
            if len(shape) != 1:
                raise ValueError(f"layer {i}: dense needs a flat input, got {shape}")
            mods[n] = nn.Linear(shape[0], l["units"])
            shape = [l["units"]]
            if l.get("activation"):
                mods[n + "_act"] = activation(l["activation"])
        elif ty == "batch_norm":
            bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            mods[name("bn")] = bn(shape[0], eps=l["eps"], momentum=l["momentum"])
        elif ty == "prelu":
            n = name("prelu")
            mods[n] = nn.PReLU(shape[0]) if l["per_channel"] else ElementwisePReLU(shape)
        elif ty == "activation":
            mods[f"{l['act']['kind']}{i}"] = activation(l["act"])
        elif ty in ("max_pool", "avg_pool"):
            k, s = tuple(l["kernel"]), tuple(l["stride"])
            mods[f"{ty}{i}"] = nn.MaxPool2d(k, s) if ty == "max_pool" else nn.AvgPool2d(k, s)
            shape = [shape[0], window_out(shape[1], k[0], s[0]), window_out(shape[2], k[1], s[1])]
        elif ty == "zero_pad":
            mods[f"zero_pad{i}"] = nn.ZeroPad2d((l["left"], l["right"], l["top"], l["bottom"]))
            shape = [shape[0], shape[1] + l["top"] + l["bottom"], shape[2] + l["left"] + l["right"]]
        elif ty == "flatten":
            mods[f"flatten{i}"] = nn.Flatten()
            shape = [shape[0] * shape[1] * shape[2]] if len(shape) == 3 else shape
        elif ty == "dropout":
            mods[f"dropout{i}"] = nn.Dropout(l["rate"])
        else:
            raise ValueError(f"layer {i}: unknown layer type {ty!r}")
    if head is not None and not logits:
        mods["head"] = activation(head)
    return nn.Sequential(mods)


def load_pupil(run_dir, logits=False):
    """(model, meta): the nn.Sequential with pupil's weights, in eval mode, and model.json."""
    with open(f"{run_dir}/model.json") as f:
        meta = json.load(f)
    model = build(meta, logits)
    tensors = load_file(f"{run_dir}/model.safetensors")
    # strict: every tensor of the file has its module and every parameter its tensor; the
    # batch-norm counters num_batches_tracked, which pupil does not keep, start at 0
    for k, m in model.named_children():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            tensors.setdefault(f"{k}.num_batches_tracked", torch.tensor(0, dtype=torch.long))
    model.load_state_dict(tensors, strict=True)
    return model.eval(), meta


def normalize(meta, pixels):
    """Raw pixels (uint8 or float, 0..255, [N, C, H, W]) to the model's input, as pupil does."""
    x = torch.as_tensor(pixels, dtype=torch.float32)
    norm = meta["normalization"]
    if norm == "None":
        return x
    if norm == "Scale255":
        return x / 255
    if norm == "SampleWise":
        u = x.reshape(len(x), -1) / 255
        mean = u.mean(dim=1, keepdim=True)
        std = u.std(dim=1, unbiased=False, keepdim=True).clamp(min=1e-3)
        return ((u - mean) / std).reshape(x.shape)
    if "FeatureWise" in norm:
        mean = torch.tensor(norm["FeatureWise"]["mean"]).reshape(x.shape[1:])
        std = torch.tensor(norm["FeatureWise"]["std"]).clamp(min=1e-3).reshape(x.shape[1:])
        return (x / 255 - mean) / std
    raise ValueError(f"unknown normalization {norm!r}")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    model, meta = load_pupil(sys.argv[1])
    print(model)
    print("classes:", ", ".join(meta["class_names"]))
    if len(sys.argv) == 3:
        x = load_file(sys.argv[2])["x"]
        with torch.no_grad():
            print(model(x))


if __name__ == "__main__":
    main()
