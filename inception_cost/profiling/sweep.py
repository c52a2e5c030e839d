"""Sweeps that lose nothing: each finished configuration is appended to the CSV
at once (opened, written, flushed, fsync'ed, closed), CUDA out-of-memory is a
row with status ``oom`` and the sweep goes on; any other failure of one
configuration is a row with status ``error``.

Columns of a run row (units in the names: ms, bytes, TFLOP/s, TB/s):
configuration (variant .. batch), status/message, input (C x H x W),
warmup/iters, timing statistics, counts at that batch (macs, flops, params),
throughput, roofline of the whole model, memory, then the environment.
"""
from __future__ import annotations

import csv
import gc
import io
import math
import os
import sys
from itertools import product
from typing import Callable, Iterable

import pandas as pd
import torch

from ..atomic import append_text
from ..errors import UsageError
from .per_layer import LAYER_FIELDS
from .prepare import RunConfig

CONFIG_COLUMNS = ["variant", "device", "device_name", "dtype", "channels_last", "compile",
                  "cuda_graphs", "batch"]
RUN_COLUMNS = CONFIG_COLUMNS + [
    "status", "message", "input", "warmup", "iters",
    "median_ms", "p10_ms", "p90_ms", "mean_ms", "std_ms", "min_ms", "cv",
    "images_per_s", "macs", "flops", "params", "macs_per_s", "achieved_tflops",
    "peak_tflops", "peak_bandwidth_tbs", "peak_source", "pct_of_peak",
    "bytes", "intensity_flop_per_byte", "bound", "attainable_tflops",
    "peak_mem_bytes", "baseline_mem_bytes", "analytic_activation_bytes",
    "predicted_peak_bytes", "peak_gap_pct",
    "gpu_name", "compute_capability", "gpu_memory_bytes", "driver", "cuda", "cudnn", "torch",
    "python", "torch_threads", "timestamp_utc",
]
LAYER_CONFIG_COLUMNS = CONFIG_COLUMNS + ["whole_ms", "hooked_ms", "layers_sum_ms", "gap_pct"]

Runner = Callable[[RunConfig], "tuple[dict, pd.DataFrame | None]"]


def configurations(variants: Iterable[str], batch_sizes: Iterable[int], dtypes: Iterable[str],
                   channels_last: Iterable[bool] = (False,), compile: Iterable[bool] = (False,),
                   cuda_graphs: Iterable[bool] = (False,)) -> list[RunConfig]:
    """The cross product, batch innermost (so an OOM ends a run of growing batches)."""
    return [RunConfig(v, d, bool(cl), bool(c), bool(g), int(b))
            for v, d, cl, c, g, b in product(variants, dtypes, channels_last, compile,
                                              cuda_graphs, batch_sizes)]


# torch.OutOfMemoryError is new in torch 2.5; torch.cuda.OutOfMemoryError exists in
# every torch that pyproject.toml allows (>= 2.1). Either, where present.
def oom_error_types(torch_module) -> tuple[type, ...]:
    """The out-of-memory exception classes ``torch_module`` has (none is an error)."""
    return tuple(t for t in (getattr(torch_module, "OutOfMemoryError", None),
                             getattr(getattr(torch_module, "cuda", None), "OutOfMemoryError", None))
                 if isinstance(t, type))


OOM_ERRORS = oom_error_types(torch)

_OOM_TEXT = ("out of memory", "can't allocate memory", "CUDNN_STATUS_ALLOC_FAILED")


def is_oom(exc: BaseException) -> bool:
    """CUDA out-of-memory (``torch.cuda.OutOfMemoryError``, or a runtime error saying
    so, e.g. from cuDNN) or a failed CPU allocation."""
    if OOM_ERRORS and isinstance(exc, OOM_ERRORS):
        return True
    return isinstance(exc, RuntimeError) and any(t in str(exc) for t in _OOM_TEXT)


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float) and math.isnan(v):
        return ""
    return v


class CsvAppender:
    """Appends rows to ``path`` one at a time; the header is written once.

    An existing file must have the same header (else UsageError), so several
    commands can add to one CSV."""

    def __init__(self, path: str, columns: list[str]):
        self.path, self.columns = path, list(columns)
        try:
            exists = os.path.exists(path) and os.path.getsize(path) > 0
            if exists:
                try:
                    with open(path, newline="", encoding="utf-8") as fh:
                        header = next(csv.reader(fh), [])
                except (UnicodeDecodeError, csv.Error):
                    header = None
                if header != self.columns:
                    raise UsageError(f"'{path}' exists with different columns; choose another "
                                     f"--output or move it away")
            else:
                # create it without truncating: another process may be appending already
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o666))
        except OSError as e:
            raise UsageError(f"cannot write --output '{path}': {e.strerror or e}") from None

    def append(self, rows: Iterable[dict]) -> None:
        """Add ``rows`` (copy + append + rename under a lock on the folder: earlier
        rows are never damaged, and concurrent appenders lose none)."""
        rows = list(rows)
        if not rows:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore",
                                restval="", lineterminator="\n")
        writer.writeheader()
        header = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        for r in rows:
            writer.writerow({k: _cell(v) for k, v in r.items()})
        # whole rows, under a lock, header only into an empty file: two processes
        # appending to one CSV lose nothing
        append_text(self.path, buf.getvalue(), what="--output", header=header)

    def read(self) -> pd.DataFrame:
        return self.read_both()[0]

    def read_both(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The file's rows twice, from one read: with inferred types, and as the
        exact strings written (for matching)."""
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            empty = pd.DataFrame(columns=self.columns)
            return empty, empty
        try:
            with open(self.path, "rb") as fh:
                text = fh.read().decode("utf-8")
            df = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
            raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
            raise UsageError(f"'{self.path}' is damaged ({' '.join(str(e).split())[:120]}); "
                             "choose another --output or move it away") from None
        return df, raw


RESULT_OPTIONS = ("input", "warmup", "iters", "torch_threads", "peak_tflops",
                  "peak_bandwidth_tbs")
"""Run-row columns, beyond the configuration, that the command's options set (input
size, iterations, threads, peak overrides): ``--resume`` skips a row only when these
match too."""


def resume_key(row: dict, fields: dict | None) -> tuple:
    """``config_key`` plus, when ``fields`` is given, the :data:`RESULT_OPTIONS` as the
    CSV spells them (``row`` read as strings; ``fields`` the values a new row would get)."""
    key = config_key(row)
    if fields is None:
        return key
    return key + tuple(str(_cell(fields.get(c))) for c in RESULT_OPTIONS)


def config_key(row) -> tuple:
    """Identity of a configuration in a CSV row or a dict (strings, for matching)."""
    def norm(v):
        if isinstance(v, (bool,)) or str(v) in ("True", "False"):
            return str(v) == "True"
        return str(v)
    return tuple(norm(row[c]) for c in ("variant", "device", "device_name", "dtype",
                                        "channels_last", "compile", "cuda_graphs")) + \
        (int(row["batch"]),)


def failure_row(config: RunConfig, status: str, message: str, env: dict) -> dict:
    row = {c: "" for c in RUN_COLUMNS}
    row.update(env)
    row.update(config.as_dict())
    row.update(status=status, message=message)
    return row


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


class LineProgress:
    """Progress of a sweep, one line per finished configuration on stderr (``profile``'s
    ``progress=True``).  Any object with the same four methods may be passed as
    ``progress`` instead (the CLI's terminal bar: :mod:`inception_cost.report.progress_bar`)."""

    def begin(self, total: int) -> None:
        self.total, self.done = total, 0

    def start(self, config: RunConfig) -> None:
        pass

    def finish(self, config: RunConfig, row: dict) -> None:
        self.done += 1
        what = (f"{row['median_ms']:.3f} ms" if row.get("status") == "ok"
                else f"{row.get('status')}: {row.get('message', '')}")
        sys.stderr.write(f"[{self.done}/{self.total}] {config.label()}: {what}\n")
        sys.stderr.flush()

    def close(self) -> None:
        pass


class _Silent(LineProgress):
    def finish(self, config: RunConfig, row: dict) -> None:
        pass


def _observer(progress):
    """``progress``: False/None (silent), True (:class:`LineProgress`) or an observer."""
    if progress is True:
        return LineProgress()
    if not progress:
        return _Silent()
    return progress


def run_sweep(configs: list[RunConfig], runner: Runner, env: dict, csv_path: str | None = None,
              layers_path: str | None = None, resume: bool = False, progress=False,
              notify: Callable[[str], None] | None = None,
              result_options: Callable[[RunConfig], dict] | None = None,
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every configuration through ``runner``; returns (run rows, per-layer rows).

    ``runner(config) -> (row, layers or None)``. With ``csv_path`` each row is
    appended the moment it exists; ``resume`` skips configurations already in
    that CSV with status ok (their rows are returned as read back).
    ``result_options(config)``: the :data:`RESULT_OPTIONS` values this run gives a
    row; a row whose values differ (another --input, --iters ...) is not skipped.
    With ``layers_path`` a configuration counts as done only if that file holds
    its per-layer rows too.  ``progress``: False (silent), True (a line per finished
    configuration on stderr, :class:`LineProgress`) or an object with its methods."""
    out = CsvAppender(csv_path, RUN_COLUMNS) if csv_path else None
    lay = CsvAppender(layers_path, LAYER_CONFIG_COLUMNS + LAYER_FIELDS) if layers_path else None
    rows: list[dict] = []
    layer_frames: list[pd.DataFrame] = []
    todo = configs
    if resume and out is not None:
        old, raw = out.read_both()
        fields = result_options or (lambda c: None)
        probe = {**env}
        try:
            done = {resume_key(r, r if result_options else None)
                    for r in raw.to_dict(orient="records") if r.get("status") == "ok"}
            if lay is not None:
                have_layers = {config_key(r) for r in lay.read_both()[1].to_dict(orient="records")}
                done = {k for k in done if k[:len(CONFIG_COLUMNS)] in have_layers}
        except (KeyError, ValueError, TypeError) as e:
            raise UsageError(f"'{csv_path}' has a damaged row ({type(e).__name__}: {e}); "
                             "choose another --output or move it away") from None
        keys = [resume_key({**probe, **c.as_dict()}, fields(c)) for c in configs]
        todo = [c for c, k in zip(configs, keys) if k not in done]
        keep = set(keys) & done
        rows += [r for r, s in zip(old.to_dict(orient="records"), raw.to_dict(orient="records"))
                 if s.get("status") == "ok"
                 and resume_key(s, s if result_options else None) in keep]
        if notify and len(todo) < len(configs):
            notify(f"resume: {len(configs) - len(todo)} configuration(s) already in "
                   f"'{csv_path}', skipped")
    bar = _observer(progress)
    bar.begin(len(todo))
    try:
        for config in todo:
            bar.start(config)
            layers = None
            try:
                row, layers = runner(config)
            except UsageError:
                raise
            except Exception as e:  # noqa: BLE001 - one configuration failing must not end the sweep
                status = "oom" if is_oom(e) else "error"
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                row = failure_row(config, status, f"{type(e).__name__}: {first}"[:300], env)
                if notify:
                    notify(f"{config.label()}: {status} ({type(e).__name__})")
            finally:
                _free_memory()
            rows.append(row)
            if out is not None:
                out.append([row])
            if layers is not None and len(layers):
                layer_frames.append(layers)
                if lay is not None:
                    lay.append(layers.to_dict(orient="records"))
            bar.finish(config, row)
    finally:
        bar.close()
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    per_layer = (pd.concat(layer_frames, ignore_index=True) if layer_frames
                 else pd.DataFrame(columns=LAYER_CONFIG_COLUMNS + LAYER_FIELDS))
    return runs, per_layer

