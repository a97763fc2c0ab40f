"""`auto` compute dtype: bfloat16 only where the CPU computes it natively."""

from __future__ import annotations

from pathlib import Path

from agents.compute_dtype import NATIVE_BF16_FLAGS, auto_dtype, cpu_flags, resolve_dtype
from agents.vllm_server import VllmServer
from agents.vllm_server_config import VllmServerConfig


def write_cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    return path


def test_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    assert cpu_flags(write_cpuinfo(tmp_path, "fpu sse avx2 fma")) == {"fpu", "sse", "avx2", "fma"}
    assert "avx512_bf16" in cpu_flags(write_cpuinfo(tmp_path, "avx2 avx512f avx512_bf16"))
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_auto_follows_this_machines_cpu_and_explicit_names_pass_through() -> None:
    native = bool(cpu_flags() & NATIVE_BF16_FLAGS)
    assert auto_dtype() == ("bfloat16" if native else "float32")
    assert resolve_dtype("auto") == auto_dtype()
    assert resolve_dtype("bfloat16") == "bfloat16" and resolve_dtype("float32") == "float32"
    assert resolve_dtype(None) is None


def test_vllm_server_is_started_with_the_resolved_dtype(tmp_path: Path) -> None:
    cmd = VllmServer(VllmServerConfig(model_dir=tmp_path)).command(8000)
    assert cmd[cmd.index("--dtype") + 1] == auto_dtype()
    cmd = VllmServer(VllmServerConfig(model_dir=tmp_path, dtype="bfloat16")).command(8000)
    assert cmd[cmd.index("--dtype") + 1] == "bfloat16"
