"""Put each bug of tests/MUTATIONS.md back into the code, run the tests that should catch
it, and check that they fail; the file is restored after every mutation.

    python tests/mutate.py              # every mutation
    python tests/mutate.py 3 7          # mutations 3 and 7 only

Prints one line per mutation: CAUGHT (the tests went red) or MISSED; exits 1 on a miss.
Run from the repository root with PYTHONPATH set to it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T = "tests/"

# (file, exact text, replacement, pytest selection)
MUTATIONS = [
    ("inception_cost/report/baseline.py",
     'COMPARED = ["out_shape", "params", "macs", "flops", "activations", "bytes"]',
     'COMPARED = ["out_shape", "params", "macs", "activations", "bytes"]',
     [T + "test_gate_hand_edits.py", "-k", "layers_gate"]),
    ("inception_cost/report/training_reports.py",
     "elif any(str(a[k][c]) != str(rec[c]) for c in compared)",
     "elif any(str(a[k][c]) != str(rec[c]) for c in compared if 'flops' not in c)",
     [T + "test_gate_hand_edits.py", "-k", "training_gate"]),
    ("inception_cost/memory_analysis/step_config.py",
     '"fp16": torch.float16,', '"fp16": torch.float32,',
     [T + "test_memory_hand.py", "-k", "half"]),
    ("inception_cost/counting/training.py",
     'with rec.phase("optimizer", mname):', 'with rec.phase("optimizer", LOSS_MODULE):',
     [T + "test_training_hand_checks.py", "-k", "frozen or freeze"]),
    ("inception_cost/counting/step_program.py",
     'if pname.startswith(mname + "."):', "if pname.startswith(mname):",
     [T + "test_training_hand_checks.py", "-k", "freeze"]),
    ("inception_cost/memory_analysis/analysis.py",
     "ALLOCATOR_BLOCK = 512", "ALLOCATOR_BLOCK = 256",
     [T + "test_memory_hand.py", "-k", "allocator"]),
    ("inception_cost/memory_analysis/api.py",
     "modules=module_frame(tracker, timeline, named, rounding)",
     "modules=module_frame(tracker, timeline, named, False)",
     [T + "test_memory_hand.py", "-k", "allocator"]),
    ("inception_cost/memory_analysis/fit.py",
     "return p is not None and p <= budget", "return p is not None and p < budget",
     [T + "test_memory_fit_scan.py", "-k", "scan or exactly"]),
    ("inception_cost/memory_analysis/fit.py",
     "mid + 1 < hi and not fits(mid + 1):", "mid + 1 < hi and fits(mid + 1):",
     [T + "test_memory_fit_scan.py", "-k", "scan or exactly"]),
    ("inception_cost/memory_analysis/fit.py",
     "next_peak_bytes=seen[best + 1],", "next_peak_bytes=seen[best],",
     [T + "test_memory_fit_scan.py", "-k", "scan or exactly"]),
    ("inception_cost/memory_analysis/fit.py",
     "if best >= limit or seen[best + 1] is None:", "if best > limit or seen[best + 1] is None:",
     [T + "test_memory_fit_scan.py", "-k", "largest_analysable"]),
    ("inception_cost/memory_analysis/fit.py",
     "all(r.static_bytes > r.budget_bytes for r in results)",
     "all(r.static_bytes >= r.budget_bytes for r in results)",
     [T + "test_memory_fit_scan.py", "-k", "parameters_alone"]),
    ("inception_cost/memory_analysis/step_config.py",
     "    optimizer.step()\n    optimizer.zero_grad(set_to_none=True)",
     "    optimizer.step()",
     [T + "test_memory_hand.py", T + "test_memory_fit_scan.py", "-k", "adam or cli"]),
    ("inception_cost/counting/backward_formulas.py",
     "inp = Cost(0, (8 if training else 1) * n)", "inp = Cost(0, (7 if training else 1) * n)",
     [T + "test_training_bn_network.py", T + "test_training_hand_checks.py", "-k",
      "batch_norm or layer_norm"]),
    ("inception_cost/counting/backward_formulas.py",
     "sk, dv = k[-2], v[-1]", "sk, dv = k[-2], q[-1]",
     [T + "test_training_hand_checks.py", "-k", "attention"]),
    ("inception_cost/counting/formulas_linalg.py",
     "return Cost(0, 2 * _prod(call.in_shapes[0]) + out)",
     "return Cost(0, 1 * _prod(call.in_shapes[0]) + out)",
     [T + "test_training_hand_checks.py", "-k", "vector_norm"]),
    ("inception_cost/counting/autograd_map.py",
     "return id(var) in self.param_owner", "return True",
     [T + "test_training_hand_checks.py", "-k", "requires_grad"]),
    ("inception_cost/counting/backward_registry.py",
     "return Cost(0, n if accumulate else 0)", "return Cost(0, n)",
     [T + "test_training_hand_checks.py", "-k", "index"]),
    ("inception_cost/counting/formulas.py",
     '"new_zeros", "new_ones", "new_full", "arange", "zero_",',
     '"index_put", "index_put_", "new_zeros", "new_ones", "new_full", "arange", "zero_",',
     [T + "test_training_hand_checks.py", "-k", "index"]),
    ("inception_cost/memory_analysis/sizes.py",
     '"g": 2**30,', '"g": 10**9,',
     [T + "test_memory_fit_scan.py", "-k", "bare_unit"]),
    ("inception_cost/report/baseline.py",
     "return value if value <= MAX_COUNT else None", "return value if value < MAX_COUNT else None",
     [T + "test_gate_hand_edits.py", "-k", "largest_count"]),
    ("inception_cost/cli/check_cmd.py",
     '("changed" if changed or orphans else "identical")',
     '("changed" if changed else "identical")',
     [T + "test_gate_hand_edits.py", "-k", "orphan"]),
    ("inception_cost/counting/autograd_map.py",
     "    for node, kind in node_map.kind.items():\n        if kind == MIXED:",
     "    return\n    for node, kind in node_map.kind.items():\n        if kind == MIXED:",
     [T + "test_training_mixed_nodes.py"]),
    ("inception_cost/counting/training.py",
     'if device == "meta" and reads_values(e):', 'if False:',
     [T + "test_transformers.py", "-k", "count_training"]),
    ("inception_cost/memory_analysis/api.py",
     'if cfg.device != "cpu":', "if True:",
     [T + "test_transformers.py", "-k", "memory_meta_error"]),
    ("inception_cost/counting/capture_functions.py",
     "if x.dim() == 4:   # (N, heads", "if False:   # (N, heads",
     [T + "test_transformers.py", "-k", "same_counts"]),
    ("inception_cost/counting/placement.py",
     "            if not writable:\n", "            if True:\n",
     [T + "test_caller_model_untouched.py"]),
    ("inception_cost/counting/bytes_moved.py",
     "        if stride != 0:", "        if True:",
     [T + "test_bytes_columns.py", "-k", "get_num_bytes"]),
    ("inception_cost/counting/composite_bytes.py",
     " + 2 * int(x.shape[1]) * 4, out", ", out",
     [T + "test_bytes_columns.py", "-k", "layers_bytes_sum and meta"]),
    ("inception_cost/report/baseline.py",
     'COMPARED = ["out_shape", "params", "macs", "flops", "activations", "bytes"]',
     'COMPARED = ["out_shape", "params", "macs", "flops", "activations"]',
     [T + "test_bytes_columns.py", "-k", "check"]),
    ("inception_cost/counting/optimizer_formulas.py",
     "e = 3                                   # p.add_(g)", "e = 2  # p.add_(g)",
     [T + "test_training_optimizer.py", "-k", "bytes"]),
    ("inception_cost/counting/formulas.py",
     'return Cost(0, call.out_numel * (1 + _scale_flops(call, 2, "alpha")))',
     "return Cost(0, call.out_numel)",
     [T + "test_training_optimizer.py", "-k", "stream or alpha"]),
    ("inception_cost/counting/op_event.py",
     'fn = OPTIMIZER_OPS.get(key) if phase == "optimizer" else None', "fn = None",
     [T + "test_predict_training_step.py", "-k", "adam"]),
    ("inception_cost/timing_model/record.py",
     "    program.freeze_parameters(work)\n", "",
     [T + "test_predict_training_step.py", "-k", "frozen or freeze"]),
    ("inception_cost/timing_model/record.py",
     "optimizers = program.steady_optimizers(owned)",
     "optimizers = {m: program.make_optimizer(ts) for m, ts in owned.items()}",
     [T + "test_predict_training_step.py", "-k", "tiny_net"]),
]


def run_one(i: int) -> bool:
    path, old, new, selection = MUTATIONS[i]
    full = os.path.join(ROOT, path)
    with open(full, encoding="utf-8") as fh:
        original = fh.read()
    if original.count(old) != 1:
        print(f"{i + 1:2d} STALE  {path}: the text to mutate is not there exactly once")
        return False
    try:
        with open(full, "w", encoding="utf-8") as fh:
            fh.write(original.replace(old, new))
        res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              *selection], cwd=ROOT, capture_output=True, text=True)
    finally:
        with open(full, "w", encoding="utf-8") as fh:
            fh.write(original)
    caught = res.returncode == 1
    failed = [ln.split()[1] for ln in res.stdout.splitlines() if ln.startswith("FAILED ")]
    what = ", ".join(failed) if caught else (res.stdout.strip().splitlines() or [""])[-1]
    print(f"{i + 1:2d} {'CAUGHT' if caught else 'MISSED'} {path}: {what}", flush=True)
    return caught


def _stop(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")     # unwinds through run_one's finally


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _stop)
    picks = [int(a) - 1 for a in argv] or range(len(MUTATIONS))
    return 0 if all([run_one(i) for i in picks]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
