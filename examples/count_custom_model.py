"""Count your own model from Python: per-op rows, per-module totals, fvcore cross-check.

    python examples/count_custom_model.py
"""
import torch.nn as nn

from inception_cost import count


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        self.body = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1, groups=32), nn.Conv2d(64, 64, 1), nn.ReLU())
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        x = self.body(self.stem(x))
        return self.head(x.mean((2, 3)))


model = TinyNet().eval()
report = count(model, input_size=(8, 3, 64, 64))          # meta device: no memory, any batch
print(report.layers[["module", "op", "out_shape", "params", "macs", "flops"]].to_string(index=False))
print(report.by_module(depth=1).to_string(index=False))
print("totals:", report.totals(), "depth:", report.depth)
print("fvcore convention:", count(model, (8, 3, 64, 64), convention="fvcore").total_flops,
      "| fvcore itself:", count(model, (8, 3, 64, 64), engine="fvcore").total_flops)
