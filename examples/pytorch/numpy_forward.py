#!/usr/bin/env python3
"""Recompute a pupil model's logits with numpy alone, from the run directory's files.

    python3 numpy_forward.py RUN_DIR INPUT.safetensors OUTPUT.safetensors

RUN_DIR holds pupil's model.json (architecture, input shape) and model.safetensors (the
weights, in PyTorch's state_dict names and layouts: see load_pupil.py). INPUT.safetensors holds
one tensor "x", a batch [N, C, H, W] already normalised as model.json's "normalization" says.
OUTPUT.safetensors receives "logits" (before a final softmax / log-softmax) and "output" (after
it). Needs numpy and safetensors (pip install numpy safetensors); no torch.

This is an independent reimplementation of every pupil layer, used by pupil's test
tests/pytorch_compat.rs to check that the saved weights mean what their names say.
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

SELU_ALPHA = 1.6732632423543772
SELU_LAMBDA = 1.0507009873554805


def act(x, a):
    """One activation; `a` is model.json's {"kind": ...} object."""
    k = a["kind"]
    if k == "relu":
        return np.maximum(x, 0)
    if k == "leaky_relu":
        return np.where(x > 0, x, a["alpha"] * x)
    if k == "elu":
        return np.where(x > 0, x, a["alpha"] * np.expm1(np.minimum(x, 0)))
    if k == "selu":
        return np.where(x > 0, SELU_LAMBDA * x, SELU_LAMBDA * SELU_ALPHA * np.expm1(np.minimum(x, 0)))
    if k == "softplus":
        return np.logaddexp(0, x)
    if k == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if k == "tanh":
        return np.tanh(x)
    if k in ("softmax", "log_softmax"):
        z = x - x.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        return np.exp(z - lse) if k == "softmax" else z - lse
    raise ValueError(f"unknown activation {k!r}")


def same_padding(size, k, stride):
    """Keras' "same": output ceil(size / stride), the odd zero at the bottom / right."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def windows(x, kh, kw, sh, sw):
    """[N, C, OH, OW, kh, kw] view of the kh×kw windows of x [N, C, H, W] at stride (sh, sw)."""
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(x, (n, c, oh, ow, kh, kw), (s[0], s[1], s[2] * sh, s[3] * sw, s[2], s[3]))


def conv2d(x, w, b, stride, pad):
    """Cross-correlation of x [N, C, H, W] with w [F, C, kh, kw] after zero padding
    pad = (top, bottom, left, right); float64 sums."""
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    win = windows(np.ascontiguousarray(x, dtype=np.float64), w.shape[2], w.shape[3], *stride)
    return np.einsum("nchwij,fcij->nfhw", win, w.astype(np.float64)) + b[None, :, None, None]


def forward(spec, t, x):
    """Logits and output of the model `spec` (model.json's "spec") with tensors `t` on x."""
    layers = list(spec["layers"])
    head = None
    last = layers[-1] if layers else None
    if last and last["type"] == "activation" and last["act"]["kind"] in ("softmax", "log_softmax"):
        head = last["act"]
        layers = layers[:-1]
    elif last and last["type"] == "dense" and last.get("activation") and last["activation"]["kind"] in ("softmax", "log_softmax"):
        head = last["activation"]
        layers[-1] = dict(last, activation=None)
    count = {}

    def name(kind):
        count[kind] = count.get(kind, 0) + 1
        return f"{kind}{count[kind]}"

    x = x.astype(np.float64)
    for l in layers:
        ty = l["type"]
        if ty == "conv2d":
            p = name("conv")
            w, b = t[p + ".weight"], t[p + ".bias"]
            kh, kw = l["kernel"]
            sh, sw = l["stride"]
            pad = l["padding"]
            if pad == "valid":
                pads = (0, 0, 0, 0)
            elif pad == "same":
                pads = same_padding(x.shape[2], kh, sh) + same_padding(x.shape[3], kw, sw)
            else:
                e = pad["explicit"]
                pads = (e, e, e, e)
            x = conv2d(x, w, b, (sh, sw), pads)
            if l.get("activation"):
                x = act(x, l["activation"])
        elif ty == "dense":
            p = name("dense")
            # PyTorch's nn.Linear: weight [out, in], y = x · Wᵀ + b
            x = x @ t[p + ".weight"].astype(np.float64).T + t[p + ".bias"]
            if l.get("activation"):
                x = act(x, l["activation"])
        elif ty == "batch_norm":
            p = name("bn")
            shape = (1, -1) + (1,) * (x.ndim - 2)
            r = lambda k: t[f"{p}.{k}"].astype(np.float64).reshape(shape)
            x = r("weight") * (x - r("running_mean")) / np.sqrt(r("running_var") + l["eps"]) + r("bias")
        elif ty == "prelu":
            a = t[name("prelu") + ".weight"].astype(np.float64)
            if l["per_channel"]:
                a = a.reshape((1, -1) + (1,) * (x.ndim - 2))
            x = np.where(x > 0, x, a * x)
        elif ty == "activation":
            x = act(x, l["act"])
        elif ty in ("max_pool", "avg_pool"):
            win = windows(np.ascontiguousarray(x), *l["kernel"], *l["stride"])
            x = win.max(axis=(4, 5)) if ty == "max_pool" else win.mean(axis=(4, 5))
        elif ty == "zero_pad":
            x = np.pad(x, ((0, 0), (0, 0), (l["top"], l["bottom"]), (l["left"], l["right"])))
        elif ty == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif ty == "dropout":
            pass  # inference: the identity
        else:
            raise ValueError(f"unknown layer type {ty!r}")
    return x, (act(x, head) if head else x)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    run, inp, out = sys.argv[1:]
    meta = json.load(open(f"{run}/model.json"))
    tensors = load_file(f"{run}/model.safetensors")
    x = load_file(inp)["x"]
    logits, output = forward(meta["spec"], tensors, x)
    save_file({"logits": logits.astype(np.float32), "output": output.astype(np.float32)}, out)


if __name__ == "__main__":
    main()
