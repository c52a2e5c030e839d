"""Naive vs dimension-reduced Inception module with your own widths.

    python examples/compare_modules.py --input 256x28x28 --n1x1 128 --n3x3 192 --n5x5 96 --reduce 64
"""
import argparse

from inception_cost import build, count
from inception_cost.units import human

ap = argparse.ArgumentParser()
ap.add_argument("--input", default="256x28x28", help="C x H x W")
ap.add_argument("--n1x1", type=int, default=128)
ap.add_argument("--n3x3", type=int, default=192)
ap.add_argument("--n5x5", type=int, default=96)
ap.add_argument("--reduce", type=int, default=64, help="1x1 reduction before 3x3/5x5 and pool projection")
a = ap.parse_args()
c, h, w = (int(v) for v in a.input.split("x"))

naive = build("inception_naive", in_channels=c, n1x1=a.n1x1, n3x3=a.n3x3, n5x5=a.n5x5)
reduced = build("inception_reduced", in_channels=c, n1x1=a.n1x1, n3x3red=a.reduce, n3x3=a.n3x3,
                n5x5red=a.reduce, n5x5=a.n5x5, pool_proj=a.reduce)
for name, m in (("naive", naive), ("reduced", reduced)):
    r = count(m, (1, c, h, w))
    branches = r.by_module(depth=1)
    print(f"{name}: {human(r.total_macs, 'MACs')}, {human(r.total_params, 'params')}, "
          f"output {r.layers.iloc[-1]['out_shape']} (N x C x H x W)")
    for _, row in branches.iterrows():
        print(f"  {row['module'] or '(concat)':10s} {human(row['macs'], 'MACs'):>14s}")
n, rd = count(naive, (1, c, h, w)).total_macs, count(reduced, (1, c, h, w)).total_macs
print(f"reduced / naive = {rd / n:.3f}")
