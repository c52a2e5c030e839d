"""``apply_checkpointing``: a wrapped deep copy; the caller's model is untouched, the copy
computes the same values and gradients, and its planned modules really run under
``torch.utils.checkpoint`` (their forward runs again during backward)."""
import pytest
import torch

from inception_cost import UsageError, apply_checkpointing

from checkpoint_nets import TinyNet

# small CPU forward + backward passes: one torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return TinyNet().eval()


def test_caller_model_untouched_and_copy_wrapped(net):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    classes = {n: type(m) for n, m in net.named_modules()}
    out = apply_checkpointing(net, ["block1", "stem"])
    assert out is not net
    assert {n: type(m) for n, m in net.named_modules()} == classes
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
    # same names, same values, distinct storages
    assert list(out.state_dict()) == list(net.state_dict())
    for (k, a), (_, b) in zip(net.state_dict().items(), out.state_dict().items()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr(), k
    assert type(out.block1) is not type(net.block1)
    assert isinstance(out.block1, type(net.block1))
    assert type(out.block1).__name__ == type(net.block1).__name__
    assert type(out.block3) is type(net.block3)


def _forward_calls(model, name):
    calls = []
    mod = dict(model.named_modules())[name]
    mod.register_forward_pre_hook(lambda *_: calls.append(torch.is_grad_enabled()))
    return calls


def test_same_values_and_gradients_and_recompute_runs(net):
    x = torch.randn(2, 3, 32, 32)
    wrapped = apply_checkpointing(net, ["block1", "block4"])
    torch.testing.assert_close(wrapped(x), net(x), rtol=0, atol=0)
    # gradients of a training step (eval-mode BN: recompute leaves running stats alone)
    ref = [p.grad for p in _grads(net, x)]
    got = [p.grad for p in _grads(wrapped, x)]
    for a, b in zip(ref, got):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # a submodule of a wrapped module runs twice (forward, then recompute in backward);
    # one of an unwrapped module once
    inner = _forward_calls(wrapped, "block1.b1")
    plain = _forward_calls(wrapped, "block3.b1")
    wrapped(x).sum().backward()
    assert len(inner) == 2 and len(plain) == 1


def _grads(model, x):
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    return list(model.parameters())


def test_deepcopy_of_wrapped_copy_runs_its_own_parameters(net):
    import copy
    wrapped = apply_checkpointing(net, ["block1"])
    again = copy.deepcopy(wrapped)
    with torch.no_grad():
        for p in again.block1.parameters():
            p.zero_()
    x = torch.randn(1, 3, 32, 32)
    assert not torch.equal(again(x), wrapped(x))


@pytest.mark.parametrize("plan, needle", [
    (["block9"], "does not have: 'block9'"),
    (["block1", "block1.b1"], "nests 'block1.b1' inside"),
    (["stem", "stem"], "lists 'stem' more than once"),
    ([""], "does not have"),
])
def test_bad_plans_are_usage_errors(net, plan, needle):
    with pytest.raises(UsageError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        apply_checkpointing(net, plan)
