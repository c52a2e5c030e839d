"""One plan each for inception_v3 and googlenet (as the zoo builds them) at batch 256 under
70% of the unplanned Adam peak, one torch thread: the wall time of checkpoint_plan alone.
Recorded in reports/benchmarks/checkpoint_speed.md."""
import time, torch
torch.set_num_threads(1)
from inception_cost import checkpoint_plan
from inception_cost.memory_analysis import memory
from inception_cost.models.registry import build
for name in ["inception_v3", "googlenet"]:
    m = build(name)
    base = memory(m, (3, 299, 299) if name == "inception_v3" else (3, 224, 224), batch=256, training=True, optimizer="adam").peak_bytes
    t = time.perf_counter()
    p = checkpoint_plan(m, (256, 3, 299, 299) if name == "inception_v3" else (256, 3, 224, 224), budget=int(base * 0.7), optimizer="adam")
    print(name, f"{time.perf_counter() - t:.1f} s", p.modules, getattr(p, "proven_optimal", None), p.peak_bytes, int(base*0.7))
