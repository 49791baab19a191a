"""Marks the backward code of src/ops as the added lines of a unified diff, for
`cargo mutants --in-diff`, so that mutation testing covers only the gradients: the closures
given to `Var::from_op` / `Var::from_op_owned` (and `let backward = move |...|`), the
derivative closures given to `activation::unary` / `unary_y` and the activations' named
derivatives (`fn relu_grad(...)`), the `backward` / `backward_im2col` / `winograd_dw` /
`max_backward` / `avg_backward` kernels; and in the kernels crate the functions the conv backward
calls (`KERNELS`: col2im, the Winograd input gradient's flipped filters, the adjoint output
transform and the filter gradient). Each such span runs from its first line to where its brackets
balance; the tests modules are left out.

Usage: python3 mutants/backward_diff.py REPO_ROOT > backward.diff
"""
import pathlib
import re
import subprocess
import sys
import tempfile

START = re.compile(r'from_op(_owned)?\(|let backward = move \||unary(_y)?\("|fn (max_|avg_)?backward(_im2col)?\(|fn winograd_dw\(|fn \w+_grad\(')
# kernel file -> the start of its backward functions
KERNELS = {
    'kernels/src/im2col.rs': r'fn col2im\(',
    'kernels/src/winograd/mod.rs': r'fn (filter_transform_flipped|input_grad)\(',
    'kernels/src/winograd/fused.rs': r'fn output_adjoint_segments\(',
    'kernels/src/winograd/filter_grad.rs': r'^pub fn ',
}


def backward_lines(lines, start=START):
    # an inline tests module (`mod tests;` in another file is no end)
    end = next((i for i, l in enumerate(lines[:-1]) if l.startswith('#[cfg(test)]') and lines[i + 1].rstrip().endswith('{')), len(lines))
    marked, i = set(), 0
    while i < end:
        if start.search(lines[i]) and not lines[i].lstrip().startswith('//'):
            depth, opened, j = 0, False, i
            while j < end:
                for c in lines[j]:
                    if c in '({':
                        depth, opened = depth + 1, True
                    elif c in ')}':
                        depth -= 1
                marked.add(j)
                if opened and depth <= 0:
                    break
                j += 1
            i = j + 1
        else:
            i += 1
    return marked


def main(root):
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        ops = [(p, START) for p in sorted(pathlib.Path(root, 'src/ops').rglob('*.rs'))]
        for p, start in ops + [(pathlib.Path(root, k), re.compile(r)) for k, r in KERNELS.items()]:
            rel = p.relative_to(root).as_posix()
            lines = p.read_text().splitlines(keepends=True)
            marked = backward_lines(lines, start)
            if not marked:
                continue
            old = pathlib.Path(tmp, rel.replace('/', '_'))
            old.write_text(''.join(l for k, l in enumerate(lines) if k not in marked))
            diff = subprocess.run(['diff', '-u', '--label', f'a/{rel}', '--label', f'b/{rel}', str(old), str(p)], capture_output=True, text=True)
            out.append(diff.stdout)
            print(f'{rel}: {len(marked)} backward lines', file=sys.stderr)
    sys.stdout.write(''.join(out))


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else '.')
