#!/usr/bin/env python3
"""PyTorch's own time per image at batch 32 over batch 128, training keras-hw3 and alexnet-bn.

The PyTorch side of `pupil bench --compare batch=128,32`: the shared bench script's Model A
(keras-hw3) and Model B (alexnet-bn) with Adam, in channels_last and NCHW, both batch sizes
built up front in one process and their steps interleaved, one untimed and three timed steps
per batch size in each round, the order alternating from round to round. Prints, per model and
layout, the median (min-max) over the rounds of batch 32's time per image over batch 128's.

    /tmp/tv/bin/python examples/pytorch/batch_ratio.py \\
        --bench-torch ../shared/bench/bench_torch.py --rounds 8
"""
import argparse
import importlib.util
import statistics
import sys
import time

STEPS = 3


def load_bench(path):
    """The shared script as a module (it parses its own flags when loaded: give it none)."""
    argv, sys.argv = sys.argv, [path]
    try:
        spec = importlib.util.spec_from_file_location("bench_torch", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.argv = argv
    return mod


def trainer(torch, nn, ctor, loss, batch, channels_last):
    model = ctor()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 48, 48)
    y = torch.randint(0, 7, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    lossf = nn.NLLLoss() if loss == "nll" else nn.CrossEntropyLoss()
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        lossf(model(x), y).backward()
        opt.step()

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench-torch", required=True, help="path of ../shared/bench/bench_torch.py")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.rounds < 1:
        sys.exit("batch_ratio.py: --rounds must be at least 1")
    bench = load_bench(args.bench_torch)
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    for name, ctor, loss in [("keras-hw3", bench.model_a, "ce"), ("alexnet-bn", bench.model_b, "nll")]:
        for channels_last in (True, False):
            steps = {b: trainer(torch, nn, ctor, loss, b, channels_last) for b in (128, 32)}
            ratios, per_image = [], {}
            for r in range(args.rounds):
                for b in (128, 32) if r % 2 == 0 else (32, 128):
                    steps[b]()
                    t0 = time.perf_counter()
                    for _ in range(STEPS):
                        steps[b]()
                    per_image[b] = (time.perf_counter() - t0) / (STEPS * b)
                ratios.append(per_image[32] / per_image[128])
            layout = "channels_last" if channels_last else "NCHW"
            print(
                f"{name} {layout}: batch 32 time per image / batch 128's {statistics.median(ratios):.2f} "
                f"({min(ratios):.2f}-{max(ratios):.2f}) over {args.rounds} rounds; "
                f"batch 128 {1 / per_image[128]:.0f} img/s in the last",
                flush=True,
            )


if __name__ == "__main__":
    main()
