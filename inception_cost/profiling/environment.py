"""What a timing was measured on: device, driver, CUDA, cuDNN, torch versions."""
from __future__ import annotations

import datetime as _dt
import platform
import shutil
import subprocess

import torch


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def driver_version() -> str:
    """NVIDIA driver version via NVML (pynvml) or nvidia-smi; '' when neither answers."""
    try:
        import pynvml  # type: ignore[import-not-found]
        pynvml.nvmlInit()
        try:
            v = pynvml.nvmlSystemGetDriverVersion()
            return v.decode() if isinstance(v, bytes) else str(v)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - optional dependency, any failure means "unknown"
        pass
    exe = shutil.which("nvidia-smi")
    if not exe:
        return ""
    try:
        out = subprocess.run([exe, "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=False)
        return out.stdout.strip().splitlines()[0].strip() if out.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(device: str) -> dict:
    """One flat dict recorded in every profile row (strings and ints only)."""
    dev = torch.device(device)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    env = {
        "device": dev.type,
        "device_name": cpu_name(),
        "gpu_name": "",
        "compute_capability": "",
        "gpu_memory_bytes": "",
        "driver": "",
        "cuda": torch.version.cuda or "",
        "cudnn": str(cudnn) if cudnn else "",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "timestamp_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        env.update(device_name=torch.cuda.get_device_name(index),
                   gpu_name=torch.cuda.get_device_name(index),
                   compute_capability=f"{props.major}.{props.minor}",
                   gpu_memory_bytes=int(props.total_memory),
                   driver=driver_version())
    return env


def describe(env: dict) -> str:
    """One line for a report's notes."""
    parts = [env.get("device_name", "")]
    if env.get("device") == "cuda":
        parts += [f"driver {env.get('driver') or '?'}", f"CUDA {env.get('cuda') or '?'}",
                  f"cuDNN {env.get('cudnn') or '?'}"]
    else:
        parts.append(f"{env.get('torch_threads')} torch threads")
    parts += [f"torch {env.get('torch')}", f"Python {env.get('python')}"]
    return "environment: " + ", ".join(p for p in parts if p)
