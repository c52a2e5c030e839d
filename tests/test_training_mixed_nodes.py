"""A node that computes both an input and a weight gradient (a "mixed" node, here
``y * w`` with ``w`` a parameter) may be followed, still under that node, by autograd's
``add`` summing its input gradient into a shared input's buffer. That add is
input-gradient work. The hand count below fails if the watcher that tells the two apart
(``autograd_map.watch_mixed_nodes``) does nothing: the add then lands in the weight part."""
import torch
import torch.nn as nn

from inception_cost.counting.training import count_training


class Scale(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1, n))

    def forward(self, y):
        return y * self.w


class TwoScales(nn.Module):
    """y = lin(x) feeds two mixed nodes: the gradient of y is the sum of two parts."""

    def __init__(self, n: int):
        super().__init__()
        self.lin = nn.Linear(3, n, bias=False)
        self.s1 = Scale(n)
        self.s2 = Scale(n)

    def forward(self, x):
        y = self.lin(x)
        return self.s1(y) + self.s2(y)


def test_gradient_sum_after_a_mixed_node_is_input_work():
    n = 5
    rep = count_training(TwoScales(n), inputs=(torch.ones(1, 3),), optimizer=None)
    rows = rep.layers.set_index("module")
    scales = rows.loc[["s1", "s2"]]
    # each Scale: grad * w (input part, n FLOPs) and grad * y (weight part, n FLOPs);
    # one more add of n elements sums the two parts of y's gradient (input part)
    assert int(scales["bwd_weight_flops"].sum()) == 2 * n
    assert int(scales["bwd_input_flops"].sum()) == 2 * n + n
    adds = rep.ops[(rep.ops["phase"] == "backward") & (rep.ops["op"] == "add")]
    assert list(adds["grad"]) == ["input"]
    assert [int(f) for f in adds["flops"]] == [n]
