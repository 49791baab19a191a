#!/usr/bin/env python3
"""The DNN's inference, pupil against PyTorch, in tight pairs: a ratio per pair.

The 2304-1024-1024-7 DNN (`examples/specs/dnn-2304.txt`, PyTorch's Model C of the shared bench
script) at batch 128: each pair times PyTorch's model in `inference_mode` (the median of
`--calls` calls after five untimed ones, on `--threads` threads) and then runs
`pupil bench --models examples/specs/dnn-2304.txt --reps CALLS`, and prints pupil's inference
img/s over PyTorch's. A pair takes seconds, so the two sides see the same host. With more than
one pupil binary (two builds to compare), each pair runs them all after PyTorch, in an order
that rotates from pair to pair, and each gets its own ratios, and each build after the first
its ratio to the first, pair by pair.

    /tmp/tv/bin/python examples/pytorch/dnn_pairs.py target/release/pupil --pairs 4
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.normpath(os.path.join(HERE, "..", "specs", "dnn-2304.txt"))
BATCH = 128


def torch_img_s(torch, model, x, calls):
    with torch.inference_mode():
        for _ in range(5):
            model(x)
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return BATCH / statistics.median(times)


def pupil_img_s(binary, calls):
    out = subprocess.run([binary, "bench", "--models", SPEC, "--reps", str(calls), "--quiet"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"dnn_pairs.py: {binary} bench failed ({out.returncode}):\n{out.stderr[-2000:]}")
    for line in out.stdout.splitlines():
        m = re.match(r"\S*dnn-2304\.txt\s+[\d,]+\s+\d+\s+\(\d+-\d+\)\s+(\d+)\s*$", line)
        if m:
            return float(m[1])
    sys.exit(f"dnn_pairs.py: no inference figure in:\n{out.stdout}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pupil", nargs="+", help="the pupil binary (or several builds)")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--calls", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.pairs < 1 or args.calls < 1:
        sys.exit("dnn_pairs.py: --pairs and --calls must be at least 1")
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(2304, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 7)
    ).eval()
    x = torch.randn(BATCH, 1, 48, 48)
    n = len(args.pupil)
    ratios = [[] for _ in range(n)]
    for p in range(args.pairs):
        t = torch_img_s(torch, model, x, args.calls)
        for i in [(p + j) % n for j in range(n)]:
            q = pupil_img_s(args.pupil[i], args.calls)
            ratios[i].append(q / t)
            name = "pupil" if n == 1 else args.pupil[i]
            print(f"pair {p + 1}: PyTorch {t:.0f} img/s, {name} {q:.0f} img/s, ratio {q / t:.2f}", flush=True)
    for i, r in enumerate(ratios):
        name = "pupil" if n == 1 else args.pupil[i]
        print(f"{name} / PyTorch, DNN inference: median {statistics.median(r):.2f} ({min(r):.2f}-{max(r):.2f}) over {args.pairs} pairs")
    for i in range(1, n):
        # the builds against the first, pair by pair (PyTorch's figure cancels out)
        b = [x / y for x, y in zip(ratios[i], ratios[0])]
        print(f"{args.pupil[i]} / {args.pupil[0]}: median {statistics.median(b):.2f} ({min(b):.2f}-{max(b):.2f}) over {args.pairs} pairs")


if __name__ == "__main__":
    main()
