"""The command line on every script and any bytes: train, sample with a non-ASCII prime and
eval on Korean, Chinese, Cyrillic, emoji and mixed text; byte models on invalid UTF-8;
--min-count; the id cache; several files, a separator and standard input."""

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn.runs import checkpoint
from charrnn.text import sources
from charrnn.cli import cli

TINY = ["--hidden", "16", "--layers", "1", "--batch", "4", "--seq", "16", "--eval-every", "10", "--threads", "1"]
SCRIPTS = {  # a vocabulary of words per script, and a prime made of them
    "korean": ("안녕하세요 여러분 오늘 날씨가 좋습니다 한국어 문장 학교 친구 사랑".split(), "안녕하세요 "),
    "chinese": ("你好 世界 今天 天气 很好 我们 学习 中文 汉字 朋友".split(), "你好"),
    "cyrillic": ("Привет мир съешь же ещё этих мягких французских булок".split(), "Привет мир "),
    "emoji": ("😀 🎉 👍🏽 👨‍👩‍👧 🇰🇷 ❤️ 🚀 ✨ ok".split(), "🎉 "),
    "mixed": ("Привет 안녕 世界 😀 naïve café Ωmega ok".split(), "안녕 😀 "),
}


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, prog_name="charrnn")


def ok(*args, **kwargs):
    result = invoke(*args, **kwargs)
    assert result.exit_code == 0, (result.exception, result.stderr)
    return result


def fails(*args, code, **kwargs):
    result = invoke(*args, **kwargs)
    assert result.exit_code == code, (result.exception, result.stderr)
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("charrnn: ") and "Traceback" not in result.stderr
    return result


def text_of(result) -> str:
    return result.stdout_bytes.decode("utf-8")  # strict: a broken sequence fails the test



def words_text(words, n, seed=0):
    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(n)) + "\n"


@pytest.mark.parametrize("script", SCRIPTS)
def test_train_sample_eval_in_every_script(tmp_path, script):
    words, prime = SCRIPTS[script]
    text = words_text(words, 300)
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    run = tmp_path / "run"
    summary = json.loads(ok("train", path, *TINY, "--steps", 30, "-q", "--json", "--out", run).stdout)
    assert summary["unit"] == "char"
    meta = checkpoint.read_meta(summary["latest"])
    assert meta["unit"] == "char" and meta["vocab"] == sorted(set(text))
    assert meta["data"]["chars"] == len(text)

    result = ok("sample", run, "--prime", prime, "-n", 40, "--seed", 1)
    out = text_of(result)
    assert result.stderr == ""
    assert out.startswith(prime) and len(out) == len(prime) + 40  # whole code points, never split
    assert set(out) <= set(text)

    held_out = words_text(words, 5, seed=1)
    (tmp_path / "held.txt").write_text(held_out, encoding="utf-8")
    score = json.loads(ok("eval", run, tmp_path / "held.txt", "--json").stdout)
    assert score["unit"] == "char" and score["chars"] == len(held_out) - 1
    assert 0 < score["bits_per_char"] < np.log2(len(meta["vocab"])) + 1


INVALID = b"caf\xc3\xa9 \xff\xfe abc \x00\x01 \xe2\x82 " + "한국".encode() + b" \xc3"  # bad, NUL, cut sequences


def test_byte_model_trains_on_invalid_utf8_and_round_trips_it(tmp_path):
    path = tmp_path / "blob.txt"
    path.write_bytes(INVALID * 200)
    fails("train", path, *TINY, "--steps", 2, "-q", "--out", tmp_path / "nope", code=3)
    assert not (tmp_path / "nope").exists()

    run = tmp_path / "run"
    summary = json.loads(ok("train", path, *TINY, "--unit", "byte", "--steps", 20, "-q", "--json",
                            "--out", run).stdout)
    assert summary["unit"] == "byte"
    meta = checkpoint.read_meta(summary["latest"])
    assert meta["unit"] == "byte" and meta["vocab"] == sorted(set(INVALID))
    vocab = np.array(meta["vocab"], dtype=np.uint8)
    ids = np.fromfile(run / "cache" / "ids.bin", dtype=np.uint8)
    assert vocab[ids].tobytes() == INVALID * 200  # every byte, as it was

    score = json.loads(ok("eval", run, path, "--json").stdout)
    assert score["unit"] == "byte" and score["bytes"] == len(INVALID) * 200 - 1
    assert score["bits_per_byte"] > 0 and "bits_per_char" not in score
    plain = ok("eval", run, path).stdout
    assert "bits/byte" in plain and "bytes scored" in plain

    result = ok("sample", run, "--prime", "한", "-n", 300, "--seed", 2)
    out = text_of(result)  # strict UTF-8: a byte model writes whole characters by construction
    assert out.startswith("한") and "\ufffd" not in out
    assert result.stderr == ""


def test_byte_model_never_writes_a_broken_sequence(tmp_path):
    """A model that learned 'é' (C3 A9) repeated writes whole characters: a sample whose last
    byte would start one finishes it; a vocabulary that cannot make any character (bytes that
    are never valid UTF-8) is one line."""
    path = tmp_path / "e.txt"
    path.write_text("é" * 3000, encoding="utf-8")
    run = tmp_path / "e"
    ok("train", path, *TINY, "--unit", "byte", "--steps", 60, "--lr", "0.02", "-q", "--out", run)
    even = ok("sample", run, "--prime", "é", "-n", 6, "--temperature", 0)
    assert text_of(even) == "éééé" and even.stderr == ""
    odd = ok("sample", run, "--prime", "é", "-n", 5, "--temperature", 0)
    assert text_of(odd) == "éééé" and odd.stderr == ""  # 5 bytes, and the one that finishes the third

    bad = tmp_path / "ff.txt"
    bad.write_bytes(b"\xff\xfe" * 3000)
    ok("train", bad, *TINY, "--unit", "byte", "--steps", 60, "--lr", "0.02", "-q", "--out", tmp_path / "ff")
    fails("sample", tmp_path / "ff", "-n", 10, "--seed", 1, code=4)


@pytest.fixture
def rare(tmp_path):
    """A text with common characters and rare ones, trained with --min-count 5: (run, text)."""
    text = words_text(["가나", "다라", "마바"], 200) + "희귀 ζ"
    path = tmp_path / "rare.txt"
    path.write_text(text, encoding="utf-8")
    run = tmp_path / "rare"
    ok("train", path, *TINY, "--min-count", 5, "--steps", 20, "-q", "--out", run)
    return run, text


def test_min_count_keeps_common_characters_and_one_unknown_symbol(rare):
    run, text = rare
    meta = checkpoint.read_meta(run / "latest.safetensors")
    common = sorted(ch for ch in set(text) if text.count(ch) >= 5)
    assert meta["vocab"] == common + [None]
    assert meta["model"]["vocab_size"] == len(common) + 1
    shown = ok("checkpoints", "show", run).stdout
    assert f"vocabulary   {len(common) + 1} characters: " in shown and "and an unknown symbol" in shown


def test_the_unknown_symbol_is_never_sampled(rare, tmp_path):
    run, text = rare
    loaded = checkpoint.load(run / "latest.safetensors")
    loaded.tensors["param/head.b"][-1] = 100.0  # make the unknown symbol by far the most likely
    checkpoint.save(tmp_path / "biased.safetensors", loaded.tensors, loaded.meta)
    for options in ([], ["--temperature", 0], ["--temperature", 5], ["--top-k", 3], ["--top-p", 0.5]):
        out = text_of(ok("sample", tmp_path / "biased.safetensors", "-n", 200, "--seed", 3, "--no-prime",
                         "--prime", "가", *options))
        assert len(out) == 200 and "\ufffd" not in out, options
        assert set(out) <= set(loaded.meta["vocab"]), options


def test_unknown_characters_map_to_the_unknown_symbol_in_prime_and_eval(rare, tmp_path):
    run, _ = rare
    out = text_of(ok("sample", run, "--prime", "가 희귀 🙂 ", "-n", 20, "--seed", 1))
    assert out.startswith("가 희귀 🙂 ") and len(out) == len("가 희귀 🙂 ") + 20
    path = tmp_path / "eval.txt"
    path.write_text("가나 다라 🙂 희귀\n", encoding="utf-8")
    score = json.loads(ok("eval", run, path, "--json").stdout)
    assert score["chars"] == len("가나 다라 🙂 희귀\n") - 1
    assert score["unknown_chars"] == 3 and score["skipped_chars"] == 0
    skipping = json.loads(ok("eval", run, path, "--json", "--skip-unknown").stdout)
    assert skipping == score  # nothing is unknown to a model with an unknown symbol


def test_min_count_and_unit_conflict_with_a_checkpoints_vocabulary(rare, tmp_path):
    run, _ = rare
    path = tmp_path / "more.txt"
    path.write_text(words_text(["가나", "다라"], 100), encoding="utf-8")
    assert "--min-count" in fails("train", path, "--init-from", run, "--min-count", 2, code=2).stderr
    assert "--unit byte" in fails("train", path, "--init-from", run, "--unit", "byte", code=2).stderr


def test_id_cache_is_reused_and_rebuilt_and_resume_stays_exact(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(words_text(SCRIPTS["cyrillic"][0], 300), encoding="utf-8")
    options = [*TINY, "--dropout", "0.1", "--seed", 4]
    whole, half = tmp_path / "whole", tmp_path / "half"
    ok("train", path, *options, "--steps", 30, "-q", "--out", whole)
    first = ok("train", path, *options, "--steps", 15, "--out", half)
    assert f"encoded {len(path.read_text(encoding='utf-8')):,} characters in {half / 'cache' / 'ids.bin'}" \
        in first.stderr
    resumed = ok("train", "--resume", half, "--steps", 30, "--threads", 1)
    assert "reusing" in resumed.stderr.splitlines()[0]
    a = checkpoint.load(whole / "latest.safetensors")
    b = checkpoint.load(half / "latest.safetensors")
    for name, tensor in a.tensors.items():
        assert np.array_equal(tensor, b.tensors[name]), name
    assert a.meta["data"] == b.meta["data"]

    (half / "cache" / "ids.bin").unlink()  # a missing cache is rebuilt, and the data still matches
    again = ok("train", "--resume", half, "--steps", 31, "--threads", 1)
    assert "encoded" in again.stderr.splitlines()[0]

    path.write_text(path.read_text(encoding="utf-8") + "ещё", encoding="utf-8")
    changed = invoke("train", "--resume", half, "--steps", 40, "-q")
    assert changed.exit_code == 3 and "--init-from" in changed.stderr


def test_several_files_a_directory_a_separator_and_standard_input(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "b.txt").write_text("둘째 " * 200, encoding="utf-8")
    (folder / "a.txt").write_text("첫째 " * 200, encoding="utf-8")
    summary = json.loads(ok("train", folder, "-", *TINY, "--steps", 2, "--separator", "§", "-q", "--json",
                            "--out", tmp_path / "run", input="stdin 입력 " * 100).stdout)
    meta = checkpoint.read_meta(summary["latest"])
    expected = "첫째 " * 200 + "§" + "둘째 " * 200 + "§" + "stdin 입력 " * 100
    assert meta["data"]["chars"] == len(expected)
    assert meta["data"]["separator"] == "§" and "§" in meta["vocab"]
    assert meta["data"]["sources"] == [str(folder.resolve()), "-"]
    assert sorted(p.name for p in (tmp_path / "run" / "cache").iterdir()) == ["ids.bin", "ids.json"]


def test_a_corpus_of_some_megabytes_through_the_cache_in_small_chunks(tmp_path, monkeypatch):
    """The large-corpus path on a few MB: read in 64 KiB chunks, memory-mapped, trained on."""
    monkeypatch.setattr(sources, "CHUNK", 1 << 16)
    rng = np.random.default_rng(0)
    words = ["αβγ", "한국", "😀", "plain", "text", "数据"]
    text = " ".join(rng.choice(words, 600_000))
    path = tmp_path / "big.txt"
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size > 3_000_000
    summary = json.loads(ok("train", path, *TINY, "--steps", 5, "--val-frac", 0.001, "-q", "--json",
                            "--out", tmp_path / "run").stdout)
    assert summary["steps"] == 5 and summary["val_loss"] > 0
    meta = checkpoint.read_meta(summary["latest"])
    ids = np.fromfile(tmp_path / "run" / "cache" / "ids.bin", dtype=np.uint8)
    assert ids.size == meta["data"]["chars"] == len(text)
    assert "".join(np.array(meta["vocab"])[ids[:2000]]) == text[:2000]
    assert "".join(np.array(meta["vocab"])[ids[-2000:]]) == text[-2000:]


def test_unit_and_min_count_have_help():
    train = ok("train", "--help").stdout
    assert "--unit [char|byte]" in train and "--min-count" in train and "--separator" in train
    assert "unknown symbol" in ok("sample", "--help").stdout
    assert "unknown symbol" in ok("eval", "--help").stdout


def test_old_checkpoints_without_a_unit_are_code_points(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(words_text(SCRIPTS["korean"][0], 100), encoding="utf-8")
    ok("train", path, *TINY, "--steps", 3, "-q", "--out", tmp_path / "run")
    loaded = checkpoint.load(tmp_path / "run" / "latest.safetensors")
    del loaded.meta["unit"]
    checkpoint.save(tmp_path / "old.safetensors", loaded.tensors, loaded.meta)
    out = text_of(ok("sample", tmp_path / "old.safetensors", "--prime", "안녕", "-n", 10, "--seed", 1))
    assert out.startswith("안녕") and len(out) == 12
    assert json.loads(ok("eval", tmp_path / "old.safetensors", path, "--json").stdout)["unit"] == "char"
