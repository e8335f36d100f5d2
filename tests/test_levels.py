"""The kernels' level (charrnn/kernels/cpu.py, $CHARRNN_ISA): which levels a CPU offers, the
choice and its errors, what Numba is told to compile for, the cache folder per level, the
level reported, and every level below this CPU's own run in a process of its own against
float64 references (tests/levels.py), with the vector registers each level must use."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from charrnn import runtime
from charrnn.kernels import cpu, gemm
from levels import REGISTERS

ROOT = Path(__file__).resolve().parent.parent
XEON = {"avx": True, "avx2": True, "fma": True, "avx512f": True, "avx512bw": True, "avx512bf16": True,
        "avx512vnni": True, "avx10.1": True, "amx-tile": True, "amx-bf16": True, "amx-int8": True, "evex512": True,
        "f16c": True, "sse4.2": True, "vaes": True}
ZEN1 = {"avx": True, "avx2": True, "fma": True, "f16c": True, "sse4.2": True, "avx512f": False}
OFFERED = cpu.offered_levels(cpu.host_features(), platform.machine())
LOWER = OFFERED[1:]


def test_levels_offered_follow_the_cpu_flags():
    assert cpu.offered_levels(XEON, "x86_64") == ("amx", "avx512bf16", "avx512", "avx2", "sse")
    assert cpu.offered_levels(dict(XEON, **{"amx-tile": False}), "x86_64") == ("avx512bf16", "avx512", "avx2", "sse")
    assert cpu.offered_levels(ZEN1, "x86_64") == ("avx2", "sse")
    assert cpu.offered_levels({"sse4.2": True}, "x86_64") == ("sse",)
    assert cpu.offered_levels({"neon": True}, "aarch64") == ("generic",)


def test_the_level_defaults_to_the_fastest_and_refuses_what_the_cpu_lacks():
    assert cpu.choose_level(("avx2", "sse"), None) == "avx2"
    assert cpu.choose_level(("avx2", "sse"), "") == "avx2"
    assert cpu.choose_level(("avx2", "sse"), "sse") == "sse"
    with pytest.raises(ValueError, match=r"^CHARRNN_ISA=avx512 is above what this CPU offers; this CPU offers "
                                         r"avx2, sse$"):
        cpu.choose_level(("avx2", "sse"), "avx512")
    with pytest.raises(ValueError, match="^CHARRNN_ISA=AVX2 is not a level"):
        cpu.choose_level(("avx2", "sse"), "AVX2")
    with pytest.raises(ValueError, match="avx2 is above"):
        cpu.choose_level(("generic",), "avx2")


def test_a_level_turns_off_every_flag_above_it():
    avx2 = cpu.level_features(XEON, "avx2")
    assert avx2["avx2"] and avx2["fma"] and avx2["f16c"] and avx2["vaes"]
    assert not any(avx2[name] for name in XEON if name.startswith(("avx512", "amx", "avx10", "evex512")))
    sse = cpu.level_features(XEON, "sse")
    assert sse["sse4.2"] and not any(on for name, on in sse.items() if name != "sse4.2")
    avx512 = cpu.level_features(XEON, "avx512")
    assert avx512["avx512f"] and avx512["avx512vnni"] and not avx512["avx512bf16"] and not avx512["avx10.1"]
    assert not avx512["amx-tile"]
    bf16 = cpu.level_features(XEON, "avx512bf16")
    assert bf16["avx512bf16"] and not bf16["amx-bf16"]
    assert cpu.level_features(XEON, "amx") == XEON


def test_numba_is_told_every_flag_with_the_roots_of_what_is_left_out_last():
    """LLVM applies the flags in order and turning a root off turns off all that need it, so
    the roots come last, where no later +flag can bring them back."""
    flags = cpu.target_features(XEON, "avx2").split(",")
    assert set(flags[:-5]) == {"+avx", "+avx2", "+fma", "+f16c", "+sse4.2", "+vaes", "-avx512bw", "-avx512vnni",
                               "-amx-bf16", "-amx-int8"}
    assert flags[-5:] == ["-amx-tile", "-avx512bf16", "-avx10.1", "-avx512f", "-evex512"]
    assert cpu.target_features(XEON, "sse").split(",")[-1] == "-avx"


def test_each_level_has_its_own_kernel_cache():
    keys = {level: runtime.kernels_key(level=level) for level in cpu.X86_LEVELS + (cpu.GENERIC,)}
    assert len(set(keys.values())) == len(keys)
    assert runtime.kernels_key().endswith("-" + cpu.level())


def test_this_process_runs_at_its_level():
    """The in-process suite runs at the level $CHARRNN_ISA chose (the CPU's fastest by default),
    and the float32 tile has that level's vector width."""
    assert cpu.level() == (os.environ.get(cpu.ISA_VARIABLE) or OFFERED[0])
    assert gemm.tile_shape(cpu.features()) == (gemm.VECTOR_BYTES, gemm.MR, gemm.VECTORS)
    if cpu.level() in REGISTERS:
        width = {"zmm": 64, "ymm": 32, "xmm": 16}[REGISTERS[cpu.level()][0]]
        assert gemm.VECTOR_BYTES == width


def run_level(level, *argv, **env):
    """Run argv (python arguments) with $CHARRNN_ISA=level, kernels cached per level in the
    user's cache folder (as a user's runs would be)."""
    environ = dict(os.environ, CHARRNN_ISA=level, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}", **env)
    environ.pop("NUMBA_CACHE_DIR", None)
    return subprocess.run([sys.executable, *argv], env=environ, capture_output=True, text=True, timeout=600)


def test_a_level_above_the_cpu_is_a_one_line_error(tmp_path):
    above = next((level for level in cpu.X86_LEVELS if level not in OFFERED), "avx-none")
    done = run_level(above, "-m", "charrnn", "sample", str(tmp_path / "none"), "-n", "1")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"CHARRNN_ISA={above} is " in done.stderr


# A level below this CPU's whose vectors are narrower than the CPU's own: its float32 tile
# and its generation loops are other code (levels between that differ only in bf16 paths
# run those in-process: tests/test_gemm_bf16.py runs each bf16 path this CPU has).
NARROWER = [level for level in LOWER if level in REGISTERS and REGISTERS[level][0] != REGISTERS.get(OFFERED[0],
                                                                                                  ("",))[0]]


@pytest.mark.skipif(not NARROWER, reason="this CPU offers no level with narrower vectors than its own")
@pytest.mark.parametrize("level", NARROWER)
def test_each_narrower_level_computes_what_float64_does_on_its_own_registers(level):
    done = run_level(level, str(ROOT / "tests" / "levels.py"))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["level"] == level
    width = {"zmm": 64, "ymm": 32, "xmm": 16}[REGISTERS[level][0]]
    assert result["tile"][0] == width
    assert result["bf16_paths"] == []
    assert set(result["errors"]) == {"matmul float32", "matmul float64", "add_matmul", "add_matmul_bf16",
                                     "add_matmul_int8"}
    assert all(ratio <= 1 for ratio in result["errors"].values()), result["errors"]


@pytest.mark.skipif("avx512" not in LOWER, reason="needs a CPU with bf16 products above AVX-512")
def test_a_level_without_bf16_refuses_bf16_and_reports_itself(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("abcdefgh\n" * 300)
    done = run_level("avx512", "-m", "charrnn", "train", str(text), "--precision", "bf16", "--steps", "1",
                     "--out", str(tmp_path / "run"))
    assert done.returncode == 2
    assert "precision bf16 needs a CPU with AVX512-BF16 or AMX; CHARRNN_ISA=avx512 leaves them out" in done.stderr
    done = run_level("avx512", "-m", "charrnn", "train", str(text), "--hidden", "8", "--layers", "1", "--batch", "2",
                     "--seq", "8", "--steps", "2", "--json", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert (summary["precision"], summary["kernel"], summary["isa"]) == ("fp32", "fp32", "avx512")
    assert "kernels compiled for avx512" in done.stderr


def test_the_level_is_reported_in_json_and_the_checkpoint(tmp_path):
    import charrnn
    from charrnn.runs.model_file import read_model

    text = tmp_path / "t.txt"
    text.write_text("abcdefgh\n" * 300)
    run = charrnn.train(str(text), hidden=8, layers=1, batch=2, seq=8, steps=2, out=str(tmp_path / "run"),
                        progress=False)
    assert run.summary()["isa"] == cpu.level() == run.isa
    assert read_model(run.latest).meta["isa"] == cpu.level()



def test_a_level_set_after_numba_was_imported_is_a_one_line_error(tmp_path):
    """Numba reads its target as it is imported: a level asked for later cannot be honoured."""
    below = LOWER[-1] if LOWER else None
    if below is None:
        pytest.skip("this CPU offers one level only")
    code = ("import os, numba, charrnn\nos.environ['CHARRNN_ISA'] = %r\n"
            "try:\n    charrnn.load('none')\nexcept charrnn.ConfigError as exc:\n    print(exc)") % below
    done = run_level("", "-c", code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == f"CHARRNN_ISA={below} must be set before numba is imported\n"
