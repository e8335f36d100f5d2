"""Units and the id cache in the library: byte vocabularies, the unknown symbol, streamed
encoding (chunk boundaries inside characters, errors with exact offsets), the cache being
reused or rebuilt, windows read from a memory map exactly as from an array, and sampling that
never picks the unknown symbol and allocates nothing per character."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from charrnn.text import sources
from charrnn.data.batches import StreamBatches, split, validation_windows
from charrnn.model.config import ModelConfig
from charrnn.training.config import TrainConfig
from charrnn.training.options import RunOptions
from charrnn.errors import CheckpointError, ConfigError, InputError
from charrnn.data.idcache import encode_sources, same_data
from charrnn.kernels.sampling import choose
from charrnn.model.network import Model
from charrnn.generate.sampler import Sampler
from charrnn.training.trainer import Trainer
from charrnn.text.vocab import Vocab

SCRIPTS = {
    "korean": "안녕하세요 여러분, 오늘은 날씨가 좋습니다. 한국어 문장입니다.\n",
    "chinese": "你好世界，今天天气很好。我们学习中文和汉字。\n",
    "cyrillic": "Привет, мир! Съешь же ещё этих мягких французских булок.\n",
    "emoji": "😀🎉👍🏽 ok 👨‍👩‍👧 🇰🇷 ❤️ 🚀✨\n",
    "mixed": "Привет 안녕 世界 😀 naïve café Ωmega\r\n",
}
MIXED = "".join(SCRIPTS.values())


@pytest.fixture
def small_chunks(monkeypatch):
    """Read 7 bytes at a time, so multi-byte characters straddle chunk boundaries."""
    monkeypatch.setattr(sources, "CHUNK", 7)


def write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


# ---- the vocabulary ---------------------------------------------------------------------------

def test_byte_vocabulary_holds_the_bytes_seen_and_round_trips_any_bytes():
    data = "안녕 😀".encode() + b"\xff\x00\xc3"
    vocab = Vocab.from_text(data, unit="byte")
    assert vocab.chars == tuple(sorted(set(data)))
    ids = vocab.encode(data)
    assert bytes(vocab.chars[i] for i in ids) == data
    assert vocab.encode("안녕").tolist() == vocab.encode("안녕".encode()).tolist()  # text is its UTF-8 bytes
    assert Vocab.from_meta(vocab.to_meta()) == vocab
    with pytest.raises(InputError, match=r"1 byte value the model does not know: 0x41"):
        vocab.encode(b"A")


def test_min_count_maps_rare_symbols_to_one_unknown_symbol_at_the_end():
    text = "aaabbbc" + "d"
    vocab = Vocab.from_text(text, min_count=3)
    assert vocab.chars == ("a", "b", None) and vocab.unknown == 2
    assert vocab.encode("abcdz").tolist() == [0, 1, 2, 2, 2]  # rare and unseen alike
    assert vocab.count_missing("abcdz") == 3
    assert vocab.to_meta() == {"vocab": ["a", "b", None], "unit": "char"}
    assert Vocab.from_meta(vocab.to_meta()) == vocab
    assert Vocab.from_text(text, min_count=1).unknown is None  # nothing rare, no unknown symbol
    with pytest.raises(InputError, match="fewer than --min-count 9"):
        Vocab.from_text(text, min_count=9)
    with pytest.raises(ConfigError, match="--min-count"):
        Vocab.from_text(text, min_count=0)


def test_old_checkpoint_vocabulary_means_code_points_and_bad_ones_are_refused():
    vocab = Vocab.from_meta({"vocab": ["\n", "a", "한"]})
    assert vocab.unit == "char" and vocab.unknown is None
    assert vocab.encode("한a").tolist() == [2, 1]
    for bad in ({"vocab": [300], "unit": "byte"}, {"vocab": ["a", None, None]}, {"vocab": [None]},
                {"vocab": ["a"], "unit": "word"}, {"vocab": "abc"}):
        with pytest.raises(CheckpointError):
            Vocab.from_meta(bad)


def test_generation_starts_from_a_newline_or_the_first_known_symbol():
    assert Vocab.from_text("ab\ncd").start_ids().tolist() == [0]
    assert Vocab.from_text("xyz").start_ids().tolist() == [0]
    assert Vocab.from_text(b"ab\n", unit="byte").start_ids().tolist() == [0]
    rare_first = Vocab(["x", None])
    assert rare_first.start_ids().tolist() == [0]


def test_byte_stream_decoder_holds_back_incomplete_sequences_and_counts_replacements():
    data = "é한😀".encode()  # 2, 3 and 4 bytes
    vocab = Vocab(list(range(256)), unit="byte")
    decoder = vocab.decoder()
    pieces = [decoder.decode([b]) for b in data]
    assert pieces == ["", "é", "", "", "한", "", "", "", "😀"]  # a character comes whole or not at all
    assert decoder.finish() == "" and decoder.replaced == 0

    decoder = vocab.decoder()
    assert decoder.decode(list(b"a\xffb\xe2\x82")) == "a\ufffdb"  # invalid byte replaced, tail held back
    assert decoder.replaced == 1
    assert decoder.finish() == "\ufffd\ufffd"  # the incomplete tail, at the end
    assert decoder.replaced == 3
    char_vocab = Vocab.from_text("ab")
    char_decoder = char_vocab.decoder()
    assert char_decoder.decode([1, 0]) == "ba" and char_decoder.finish() == ""


# ---- streamed encoding --------------------------------------------------------------------------

@pytest.mark.parametrize("unit", ["char", "byte"])
def test_streamed_encoding_equals_encoding_in_memory(tmp_path, small_chunks, unit):
    a = write(tmp_path / "a.txt", MIXED * 3)
    b = write(tmp_path / "b.txt", "\ufeff" + SCRIPTS["korean"])  # a BOM is dropped in char mode only
    got = encode_sources([str(a), str(b)], tmp_path / "cache", unit=unit, separator="¦")
    if unit == "char":
        text = MIXED * 3 + "¦" + SCRIPTS["korean"]
    else:
        text = (MIXED * 3).encode() + "¦".encode() + b"\xef\xbb\xbf" + SCRIPTS["korean"].encode()
    vocab = Vocab.from_text(text, unit=unit)
    assert got.vocab == vocab
    assert got.ids.dtype == np.uint8 and isinstance(got.ids, np.memmap)
    np.testing.assert_array_equal(got.ids, vocab.encode(text))
    assert got.fingerprint["chars"] == len(text)
    assert got.fingerprint["separator"] == "¦"
    assert got.fingerprint["sources"] == [str(a.resolve()), str(b.resolve())]


def test_directories_skip_binary_files_and_in_char_mode_files_that_are_not_utf8(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    write(folder / "a.txt", "한국어 ")
    write(folder / "b.txt", "café ".encode("latin-1"))
    write(folder / "c.bin", b"\x00\x01\x02")
    char = encode_sources([str(folder)], tmp_path / "c1")
    assert char.vocab.decode(char.ids) == "한국어 "
    byte = encode_sources([str(folder)], tmp_path / "c2", unit="byte")
    assert bytes(byte.vocab.chars[i] for i in byte.ids) == "한국어 ".encode() + b"\n" + "café ".encode("latin-1")


def test_ids_take_the_smallest_type_the_vocabulary_fits(tmp_path):
    few = write(tmp_path / "few.txt", "abc" * 10)
    many = write(tmp_path / "many.txt", "".join(chr(0xAC00 + i) for i in range(300)))
    huge = write(tmp_path / "huge.txt", "".join(chr(0x20000 + i) for i in range(66_000)))
    assert encode_sources([str(few)], tmp_path / "c1").ids.dtype == np.uint8
    assert encode_sources([str(many)], tmp_path / "c2").ids.dtype == np.uint16
    assert encode_sources([str(huge)], tmp_path / "c3").ids.dtype == np.uint32


@pytest.mark.parametrize("content, message", [
    ("가나다".encode() + b"\xe2\x28\xa1 more", r"not valid UTF-8: byte 0xe2 at offset 9 "),
    (b"abcdefgh\xff", r"not valid UTF-8: byte 0xff at offset 8 "),
    ("가나".encode() + "다".encode()[:2], r"byte 0xeb at offset 6 \(the file ends inside a character\)"),
    (b"abcdefghij\x00", r"looks binary \(NUL byte at offset 10\)"),
    (b"", "is empty"),
])
def test_streamed_encoding_errors_name_the_exact_offset(tmp_path, small_chunks, content, message):
    path = write(tmp_path / "in.txt", content)
    with pytest.raises(InputError, match=message) as err:
        encode_sources([str(path)], tmp_path / "cache")
    assert "in.txt" in str(err.value)
    if content:  # --unit byte takes anything that is not empty
        ids = encode_sources([str(path)], tmp_path / "bytes", unit="byte").ids
        assert ids.size == len(content)


def test_standard_input_is_spooled_for_the_second_pass_and_removed(tmp_path, small_chunks):
    text = SCRIPTS["chinese"] * 5
    got = encode_sources(["-"], tmp_path / "cache", stdin=io.BytesIO(text.encode()))
    np.testing.assert_array_equal(got.ids, Vocab.from_text(text).encode(text))
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["ids.bin", "ids.json"]
    again = encode_sources(["-"], tmp_path / "cache", stdin=io.BytesIO(text.encode()), vocab=got.vocab)
    assert not again.reused  # standard input is never taken from the cache
    assert again.fingerprint == got.fingerprint


def test_a_given_vocabulary_names_what_it_lacks_or_maps_it_to_the_unknown_symbol(tmp_path):
    path = write(tmp_path / "in.txt", "abc 한 d")
    with pytest.raises(InputError, match=r"3 characters the model does not know: ' ' \(U\+0020\), 'd'"):
        encode_sources([str(path)], tmp_path / "c1", vocab=Vocab.from_text("abc"))
    got = encode_sources([str(path)], tmp_path / "c2", vocab=Vocab(["a", "b", "c", None]))
    assert got.ids.tolist() == [0, 1, 2, 3, 3, 3, 3]


# ---- the cache ----------------------------------------------------------------------------------

def test_cache_is_reused_while_the_sources_stay_the_same_and_rebuilt_when_they_change(tmp_path):
    path = write(tmp_path / "in.txt", SCRIPTS["cyrillic"] * 20)
    cache = tmp_path / "cache"
    first = encode_sources([str(path)], cache)
    assert not first.reused
    again = encode_sources([str(path)], cache)
    assert again.reused and again.fingerprint == first.fingerprint and again.vocab == first.vocab
    np.testing.assert_array_equal(again.ids, first.ids)

    # other settings: rebuilt
    assert not encode_sources([str(path)], cache, separator="|").reused
    assert not encode_sources([str(path)], cache, unit="byte").reused
    assert not encode_sources([str(path)], cache, min_count=5).reused
    assert encode_sources([str(path)], cache, min_count=5).reused

    # same size and modification time, other content in the head: the head's hash tells
    stat = path.stat()
    write(path, SCRIPTS["cyrillic"].replace("Привет", "Превед") * 20)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    changed = encode_sources([str(path)], cache, min_count=5)
    assert not changed.reused and changed.fingerprint["ids_sha256"] != first.fingerprint["ids_sha256"]

    # only the modification time changes: rebuilt, same ids
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = encode_sources([str(path)], cache, min_count=5)
    assert not touched.reused and touched.fingerprint == changed.fingerprint

    # a damaged manifest or id file is rebuilt, not trusted
    (cache / "ids.json").write_text("{not json")
    assert not encode_sources([str(path)], cache, min_count=5).reused
    with open(cache / "ids.bin", "ab") as f:
        f.write(b"\x00")
    assert not encode_sources([str(path)], cache, min_count=5).reused


def test_resume_fingerprint_checks_the_ids_and_reads_the_old_int32_hash(tmp_path):
    import hashlib

    path = write(tmp_path / "in.txt", MIXED)
    encoded = encode_sources([str(path)], tmp_path / "cache")
    assert same_data(encoded.fingerprint, encoded)
    assert not same_data({**encoded.fingerprint, "ids_sha256": "0" * 64}, encoded)
    assert not same_data({**encoded.fingerprint, "chars": encoded.ids.size + 1}, encoded)
    legacy = dict(sources=[str(path)], chars=len(MIXED),
                  sha256=hashlib.sha256(encoded.vocab.encode(MIXED).astype("<i4").tobytes()).hexdigest())
    assert same_data(legacy, encoded)
    assert not same_data({**legacy, "sha256": "0" * 64}, encoded)


# ---- windows from a memory map ------------------------------------------------------------------

@pytest.fixture
def mapped(tmp_path):
    """(ids as int32 in memory, the same ids memory-mapped as uint8)."""
    ids = np.random.default_rng(0).integers(0, 40, 20_000).astype(np.int32)
    ids.astype(np.uint8).tofile(tmp_path / "ids.bin")
    return ids, np.memmap(tmp_path / "ids.bin", dtype=np.uint8, mode="r")


def test_windows_from_a_memory_map_equal_the_time_major_layout(mapped):
    ids, mm = mapped
    B, T = 8, 32
    n_col = (len(ids) - 1) // B
    xs = np.ascontiguousarray(ids[:B * n_col].reshape(B, n_col).T)  # the layout before the cache
    ys = np.ascontiguousarray(ids[1:B * n_col + 1].reshape(B, n_col).T)
    batches = StreamBatches(mm, B, T)
    for step in range(batches.steps_per_epoch + 3):
        window = batches.next()
        pos = (step % batches.steps_per_epoch) * T
        assert window.x.dtype == np.int32 and window.x.flags.c_contiguous
        np.testing.assert_array_equal(window.x, xs[pos:pos + T])
        np.testing.assert_array_equal(window.y, ys[pos:pos + T])
    from_array = list(validation_windows(ids, streams=32, chunk=100))
    from_map = list(validation_windows(mm, streams=32, chunk=100))
    assert len(from_array) == len(from_map)
    for (xa, ya), (xm, ym) in zip(from_array, from_map):
        assert xm.dtype == np.int32 and xm.flags.c_contiguous
        np.testing.assert_array_equal(xa, xm)
        np.testing.assert_array_equal(ya, ym)


def test_batches_do_not_copy_the_ids(tmp_path):
    import tracemalloc

    n = 20_000_000
    np.zeros(n, np.uint8).tofile(tmp_path / "big.bin")
    mm = np.memmap(tmp_path / "big.bin", dtype=np.uint8, mode="r")
    tracemalloc.start()
    try:
        batches = StreamBatches(mm, 32, 64)
        for _ in range(3):
            batches.next()
        for _ in zip(range(3), validation_windows(mm)):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the windows only, not n * 4 bytes of int32 copies


def test_training_on_memory_mapped_ids_is_bit_identical_and_resumes_exactly(mapped):
    ids, mm = mapped

    def trainer(data, steps):
        train_ids, val_ids = split(data, 0.1)
        cfg = TrainConfig(batch=8, seq=16, steps=steps, eval_every=1000)
        return Trainer.new(ModelConfig(cell="gru", vocab_size=40, hidden=16, layers=2, dropout=0.1), cfg,
                           train_ids, val_ids)

    a, b = trainer(ids, 30), trainer(mm, 30)
    for t in (a, b):
        while not t.finished():
            t.train_step()
    np.testing.assert_array_equal(a.model.flat, b.model.flat)
    assert a.evaluate() == b.evaluate()

    half = trainer(mm, 30)
    for _ in range(17):
        half.train_step()
    tensors, meta = half.snapshot()
    train_ids, val_ids = split(mm, 0.1)
    resumed = Trainer.restore({k: v.copy() for k, v in tensors.items()}, meta, train_ids, val_ids)
    while not resumed.finished():
        resumed.train_step()
    np.testing.assert_array_equal(resumed.model.flat, a.model.flat)


# ---- sampling -----------------------------------------------------------------------------------

def test_choose_never_picks_a_minus_infinity_logit():
    logits = np.array([5.0, -np.inf, 1.0])
    order = np.zeros(3, np.int64)
    for u in np.linspace(0, 0.999, 50):
        for top_k, top_p in ((0, 1.0), (3, 1.0), (0, 0.999)):
            assert choose(logits.copy(), order, u, 1.0, top_k, top_p) != 1
    assert choose(np.array([-np.inf, -1.0]), order[:2], 0.5, 0.0, 0, 1.0) == 1


def test_top_k_and_top_p_keep_what_a_full_sort_keeps():
    rng = np.random.default_rng(3)
    order = np.zeros(50, np.int64)
    for _ in range(200):
        logits = rng.normal(size=50) * 3
        top_k, top_p = int(rng.integers(0, 8)), float(rng.choice([1.0, 0.5, 0.9]))
        probs = np.exp(logits - logits.max())
        ranked = np.argsort(-probs, kind="stable")
        keep = 50 if top_k == 0 else top_k
        if top_p < 1:
            reach = np.flatnonzero(np.cumsum(probs[ranked]) >= top_p * probs.sum())
            keep = min(keep, reach[0] + 1)
        allowed = set(ranked[:keep].tolist())
        for u in (0.0, 0.3, 0.999):
            assert choose(logits.copy(), order, u, 1.0, top_k, top_p) in allowed


def test_the_unknown_symbol_is_never_generated_even_when_most_likely():
    model = Model(ModelConfig(cell="lstm", vocab_size=6, hidden=8, layers=1))
    model.init_weights(np.random.default_rng(0))
    model.params["head.b"][5] = 50.0  # id 5 dominates every distribution
    free = Sampler(model)
    free.feed([0])
    assert set(np.concatenate(list(free.generate(50, np.random.default_rng(1)))).ravel()) == {5}
    for kwargs in (dict(), dict(temperature=0), dict(top_k=2), dict(top_p=0.5), dict(temperature=3)):
        sampler = Sampler(model, banned=5)
        sampler.feed([0])
        got = np.concatenate(list(sampler.generate(200, np.random.default_rng(1), **kwargs))).ravel()
        assert 5 not in got, kwargs


def test_sampling_allocates_nothing_per_character():
    """Numba's allocation counter: one generate call costs the same whatever its length (the
    arguments' boxing), with top-k and top-p too."""
    code = """
import numpy as np
from numba.core.runtime import rtsys
from charrnn.model.config import ModelConfig
from charrnn.model.network import Model
from charrnn.generate.sampler import Sampler
model = Model(ModelConfig("lstm", 300, 16, 2)); model.init_weights(np.random.default_rng(0))
sampler = Sampler(model, banned=299); sampler.feed([1])
rng = np.random.default_rng(0)
for kwargs in (dict(), dict(top_k=5), dict(top_p=0.9)):
    counts = []
    for n in (10, 10, 1000):
        before = rtsys.get_allocation_stats().alloc
        list(sampler.generate(n, rng, chunk=n, **kwargs))
        counts.append(rtsys.get_allocation_stats().alloc - before)
    print(counts[1], counts[2])
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NUMBA_NRT_STATS": "1"})
    assert result.returncode == 0, result.stderr
    rows = [tuple(map(int, line.split())) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    for short, long in rows:
        assert short == long, rows


def test_float32_exponential_for_sampling_is_accurate_and_zero_below_its_range():
    import numba

    from charrnn.kernels.jit import FASTMATH, exp_neg

    @numba.njit(fastmath=FASTMATH, error_model="numpy")
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = exp_neg(x[i])

    x = np.concatenate([np.linspace(-87, 0, 100_001), -np.logspace(-9, 0, 500)]).astype(np.float32)
    out = np.zeros_like(x)
    apply(x, out)
    exact = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - exact) / exact) < 3e-7
    tail = np.array([-87.01, -100.0, -np.inf], np.float32)
    out = np.ones_like(tail)
    apply(tail, out)
    assert out.tolist() == [0.0, 0.0, 0.0]


def test_float32_choose_samples_the_softmax_distribution():
    logits = np.array([0.0, 1.0, 2.0, -1.0, 0.5, -30.0], np.float32)
    expected = np.exp(logits / 0.7) / np.exp(logits / 0.7).sum()
    order = np.zeros(len(logits), np.int64)
    counts = np.zeros(len(logits))
    for u in np.random.default_rng(1).random(40000):
        counts[choose(logits.copy(), order, u, np.float32(1 / 0.7), 0, 1.0)] += 1
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.01)


def test_samples_while_training_never_show_the_unknown_symbol():
    from charrnn.training.samples import Samples

    vocab = Vocab(["a", "b", "\n", None])
    model = Model(ModelConfig(cell="gru", vocab_size=4, hidden=8, layers=1))
    model.init_weights(np.random.default_rng(0))
    model.params["head.b"][3] = 50.0  # the unknown symbol dominates every distribution
    live = Samples(RunOptions(sample_every=("steps", 1), sample_length=100, sample_temperature=1.0,
                               sample_prime="a"), vocab, np.zeros(1, np.int64), 0)
    text = live.sample(model, 1)
    assert len(text) == 101 and set(text) <= {"a", "b", "\n"}
