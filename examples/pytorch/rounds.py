#!/usr/bin/env python3
"""Alternating rounds of `pupil bench` and the shared PyTorch bench, as ratios per round.

On a shared, noisy host only ratios taken within one round mean anything (see README, Speed, and docs/speed-log.md).
Each round runs every given pupil binary, then PyTorch, one after the other, and prints each
binary's speed over PyTorch's better layout (NCHW or channels_last) for that round; the end
prints the per-round ratios and their median.

    python3 examples/pytorch/rounds.py --rounds 4 \\
        --torch-python /tmp/tv/bin/python --bench-torch ../shared/bench/bench_torch.py \\
        target/release/pupil /tmp/pupil-before        # models (the default)
    python3 examples/pytorch/rounds.py --what layers ...  # the seed conv layers, forward+backward

Models: keras-hw3, alexnet-bn and examples/specs/dnn-2304.txt (PyTorch's models A, B, C),
training and inference img/s. Layers: forward+backward GFLOP/s of each seed conv layer.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

MODELS = {"keras-hw3": "A", "alexnet-bn": "B", "dnn-2304": "C"}
HERE = os.path.dirname(os.path.abspath(__file__))
DNN_SPEC = os.path.normpath(os.path.join(HERE, "..", "specs", "dnn-2304.txt"))


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"rounds.py: {' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return out.stdout


def pupil_models(binary, reps):
    """{(model, 'train'|'infer'): img/s} from `pupil bench --models ...`."""
    text = run([binary, "bench", "--models", f"keras-hw3,alexnet-bn,{DNN_SPEC}", "--reps", str(reps), "--quiet"])
    got = {}
    for line in text.splitlines():
        m = re.match(r"(\S+)\s+[\d,]+\s+(\d+)\s+\(\d+-\d+\)\s+(\d+)\s*$", line)
        if not m:
            continue
        name = "dnn-2304" if m[1].endswith("dnn-2304.txt") else m[1]
        if name in MODELS:
            got[(name, "train")] = float(m[2])
            got[(name, "infer")] = float(m[3])
    return got


def torch_models(python, script, reps):
    """The same keys, PyTorch's better layout of each."""
    text = run([python, script, "--reps", str(reps), "--only", "models", "--channels-last"])
    by_letter = {v: k for k, v in MODELS.items()}
    got = {}
    for line in text.splitlines():
        m = re.match(r"Model ([ABC]) .*?: .*?(train step|inference) .*?-> (\d+) img/s", line)
        if m:
            key = (by_letter[m[1]], "train" if m[2] == "train step" else "infer")
            got[key] = max(got.get(key, 0.0), float(m[3]))
    return got


def layer_key(line):
    m = re.search(r"(\d+)->(\d+) (\d+)x\d+.*?@(\d+)", line)
    return f"{m[1]}->{m[2]} {m[3]}x{m[3]} @{m[4]}" if m else None


def pupil_layers(binary, reps):
    """{layer: forward+backward GFLOP/s} from `pupil bench --layers`."""
    got = {}
    for line in run([binary, "bench", "--layers", "--reps", str(reps), "--quiet"]).splitlines():
        m = re.match(r"(.*@\d+)\s+([\d.]+)\s+\d+%\s+([\d.]+)\s+\d+%", line)
        if m and layer_key(m[1]):
            got[layer_key(m[1])] = float(m[3])
    return got


def torch_layers(python, script, reps):
    got = {}
    for line in run([python, script, "--reps", str(reps), "--only", "conv", "--channels-last"]).splitlines():
        m = re.search(r"fwd\+bwd\s+\d+ img/s\s+([\d.]+) GF/s", line)
        key = layer_key(line)
        if m and key:
            got[key] = max(got.get(key, 0.0), float(m[1]))
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pupil", nargs="+", help="pupil binaries to compare (alternated in this order)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--what", choices=["models", "layers"], default="models")
    ap.add_argument("--torch-python", default="python3", help="a python with torch installed")
    ap.add_argument("--bench-torch", required=True, help="path of ../shared/bench/bench_torch.py")
    a = ap.parse_args()
    ours, theirs = (pupil_models, torch_models) if a.what == "models" else (pupil_layers, torch_layers)
    ratios = {}  # (binary, key) -> [ratio per round]
    for r in range(1, a.rounds + 1):
        row = {b: ours(b, a.reps) for b in a.pupil}
        t = theirs(a.torch_python, a.bench_torch, a.reps)
        for b, got in row.items():
            for key, v in got.items():
                if t.get(key):
                    ratios.setdefault((b, key), []).append(v / t[key])
        print(f"round {r}: " + "; ".join(f"{os.path.basename(b)} {len(g)} figures" for b, g in row.items()), flush=True)
    print(f"\npupil / PyTorch's better layout, per round ({a.what}, --reps {a.reps}):")
    for (b, key), rs in sorted(ratios.items(), key=lambda kv: (str(kv[0][1]), kv[0][0])):
        name = key if isinstance(key, str) else f"{key[0]} {key[1]}"
        print(f"  {name:24s} {b:32s} " + " / ".join(f"{x:.2f}" for x in rs) + f"   median {statistics.median(rs):.2f}")


if __name__ == "__main__":
    main()
