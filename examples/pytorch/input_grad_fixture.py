#!/usr/bin/env python3
"""PyTorch's input gradients on a pupil model, as a test fixture for pupil's saliency.

    python3 examples/pytorch/input_grad_fixture.py                # writes the fixture
    python3 examples/pytorch/input_grad_fixture.py --check        # recomputes, compares, writes nothing

Needs torch, numpy and safetensors (pip install torch numpy safetensors). Run it from the
repository root. It reads

    tests/fixtures/input_grad/model.json, model.safetensors   the model (made once by
        pupil train --model tests/fixtures/input_grad/spec.txt --epochs 6 --seed 7 --threads 2 --out DIR
        and copied from DIR; any trained model of this spec would do)
    assets/sample/fashion-mnist/t10k-*-idx*-ubyte.gz          the embedded test sample

and writes tests/fixtures/input_grad/input_grad.safetensors (~70 KB) holding, for the first
image of each class of the test sample (pupil saliency --per-class 1):

    x_raw    [N, 1, 28, 28] F32  the raw pixels (0..255)
    logits   [N, 10]        F64  the model's logits (float64 forward)
    grad     [N, 1, 28, 28] F64  d logit[label] / d input, with respect to the normalised input
                                 the model sees (pupil's saliency convention), float64 throughout

and metadata: ids, classes, and what the fixture exercises: `tied_windows` (max-pool windows of
these images whose maximum is attained more than once and whose output receives a non-zero
gradient: where the tie rule matters), `f32_vs_f64` (max |float32 torch grad - float64 grad| /
max |grad|: the float32 noise floor) and `colmajor_rule_diff` (the same ratio for a max pool that
breaks ties at the first maximum in column-major order instead of PyTorch's row-major order:
what the fixture catches). The Rust test tests/pytorch_input_grad.rs compares pupil's vanilla
saliency with `grad`.
"""
import gzip
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load_pupil import load_pupil, normalize  # noqa: E402

FIXTURE_DIR = "tests/fixtures/input_grad"
SAMPLE = "assets/sample/fashion-mnist"


def read_idx(path):
    """An IDX file (gzip) as a numpy array: magic 0x0000 08 D, D big-endian u32 sizes, u8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw[4 + 4 * dims:], dtype=np.uint8).reshape(shape)


def first_of_each_class(labels, classes):
    """The index of the first image of each class, in class order (pupil's --per-class 1)."""
    ids = []
    for c in range(classes):
        hits = np.nonzero(labels == c)[0]
        if len(hits):
            ids.append(int(hits[0]))
    return ids


def input_grad(model, x, classes):
    """d logit[n, classes[n]] / d x[n] for every image n (one backward on the sum)."""
    x = x.clone().requires_grad_(True)
    logits = model(x)
    logits.gather(1, torch.as_tensor(classes).reshape(-1, 1)).sum().backward()
    return logits.detach(), x.grad.detach()


class ColumnMajorMaxPool(torch.nn.Module):
    """Max pooling whose gradient goes to the first maximum of each window in COLUMN-major order
    (left-most column first): the rule pupil's separable pass once had. Same forward values."""

    def __init__(self, pool):
        super().__init__()
        self.k = pool.kernel_size if isinstance(pool.kernel_size, tuple) else (pool.kernel_size,) * 2
        self.s = pool.stride if isinstance(pool.stride, tuple) else (pool.stride,) * 2

    def forward(self, x):
        (kh, kw), (sh, sw) = self.k, self.s
        win = x.unfold(2, kh, sh).unfold(3, kw, sw)  # [N, C, oh, ow, kh, kw]
        flat = win.transpose(-1, -2).reshape(*win.shape[:4], kh * kw)  # column-major order
        idx = flat.argmax(dim=-1, keepdim=True)  # torch.argmax: the first maximal index
        return flat.gather(-1, idx).squeeze(-1)


def tied_windows(model, x, classes):
    """Windows of every max pool (over the images) with a tied maximum and a non-zero gradient
    reaching their output."""
    total = 0
    pools = [(name, m) for name, m in model.named_children() if isinstance(m, torch.nn.MaxPool2d)]
    for name, pool in pools:
        seen = {}

        def keep(module, inp, out, name=name):
            seen["in"] = inp[0]
            seen["out"] = out
            out.retain_grad()

        h = pool.register_forward_hook(keep)
        xx = x.clone().requires_grad_(True)
        logits = model(xx)
        logits.gather(1, torch.as_tensor(classes).reshape(-1, 1)).sum().backward()
        h.remove()
        k = pool.kernel_size if isinstance(pool.kernel_size, tuple) else (pool.kernel_size,) * 2
        s = pool.stride if isinstance(pool.stride, tuple) else (pool.stride,) * 2
        win = seen["in"].detach().unfold(2, k[0], s[0]).unfold(3, k[1], s[1]).flatten(-2)
        ties = (win == win.max(dim=-1, keepdim=True).values).sum(dim=-1) > 1
        total += int((ties & (seen["out"].grad != 0)).sum())
    return total


def main():
    check = "--check" in sys.argv[1:]
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, meta = load_pupil(FIXTURE_DIR, logits=True)
    images = read_idx(f"{SAMPLE}/t10k-images-idx3-ubyte.gz")
    labels = read_idx(f"{SAMPLE}/t10k-labels-idx1-ubyte.gz")
    ids = first_of_each_class(labels, len(meta["class_names"]))
    raw = torch.as_tensor(images[ids][:, None, :, :].astype(np.float32))  # [N, 1, 28, 28]
    classes = [int(labels[i]) for i in ids]
    x32 = normalize(meta, raw)

    model64 = load_pupil(FIXTURE_DIR, logits=True)[0].double()
    logits64, grad64 = input_grad(model64, x32.double(), classes)
    _, grad32 = input_grad(model, x32, classes)
    scale = grad64.abs().max().item()
    f32_noise = (grad32.double() - grad64).abs().max().item() / scale

    # the same network with the column-major tie rule in every max pool
    col = load_pupil(FIXTURE_DIR, logits=True)[0].double()
    for name, m in list(col.named_children()):
        if isinstance(m, torch.nn.MaxPool2d):
            setattr(col, name, ColumnMajorMaxPool(m))
    _, grad_col = input_grad(col, x32.double(), classes)
    col_diff = (grad_col - grad64).abs().max().item() / scale
    ties = tied_windows(model64, x32.double(), classes)

    print(f"{len(ids)} images (ids {ids}), classes {classes}")
    print(f"max |grad| = {scale:.6g}; float32 vs float64: {f32_noise:.2e} of it")
    print(f"column-major tie rule: differs by {col_diff:.3f} of max |grad|; {ties} tied max-pool windows get a gradient")
    if ties == 0 or col_diff < 1e-3:
        sys.exit("the images do not exercise the max-pool tie rule; pick others")

    md = {
        "ids": json.dumps(ids),
        "classes": json.dumps(classes),
        "what": "d logit[class] / d normalised input, float64 PyTorch " + torch.__version__,
        "tied_windows": str(ties),
        "f32_vs_f64": f"{f32_noise:.3e}",
        "colmajor_rule_diff": f"{col_diff:.6f}",
    }
    tensors = {"x_raw": raw.contiguous(), "logits": logits64.contiguous(), "grad": grad64.contiguous()}
    path = f"{FIXTURE_DIR}/input_grad.safetensors"
    if check:
        from safetensors.torch import load_file

        old = load_file(path)
        for k, v in tensors.items():
            d = (old[k].double() - v.double()).abs().max().item()
            print(f"{k}: max |fixture - recomputed| = {d:.3e}")
        return
    save_file(tensors, path, metadata=md)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
