"""Generation under hostile arguments: a number of samples without bound must start writing at
once in bounded memory, and a prime that is not UTF-8 is read as its model reads text."""

import itertools
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

import charrnn
from charrnn.generate import sampler as sample
from support import ROOT, write_plays
from test_cli import assert_one_line_error, invoke, ok, text_of

TINY = dict(hidden=16, layers=1, batch=4, seq=16, threads=1, seed=3, steps=3, progress=False)


@pytest.fixture(scope="module")
def char_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("char")
    return Path(charrnn.train(write_plays(folder / "plays.txt", 5_000), out=str(folder / "run"), **TINY).best)


@pytest.fixture(scope="module")
def byte_model(tmp_path_factory) -> Path:
    """A byte model whose text holds Latin-1 lines, 0xE9 among their bytes (not UTF-8), and
    UTF-8 lines (their continuation bytes finish what 0xE9 begins in UTF-8)."""
    folder = tmp_path_factory.mktemp("byte")
    text = folder / "mixed.txt"
    line = "caf\xe9 au lait, cr\xe8me br\xfbl\xe9e\n"
    text.write_bytes((line.encode("latin-1") + line.encode("utf-8")) * 100)
    return Path(charrnn.train(text, unit="byte", out=str(folder / "run"), **TINY).best)


@pytest.fixture(scope="module")
def latin_model(tmp_path_factory) -> Path:
    """A byte model of Latin-1 text alone: no byte of it continues a UTF-8 character."""
    folder = tmp_path_factory.mktemp("latin")
    text = folder / "latin.txt"
    text.write_bytes("caf\xe9 au lait, cr\xe8me br\xfbl\xe9e\n".encode("latin-1") * 200)
    return Path(charrnn.train(text, unit="byte", out=str(folder / "run"), **TINY).best)


def sample_process(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "charrnn", "sample", *args], capture_output=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


# ---- many samples --------------------------------------------------------------------------------

def test_sample_groups_bound_what_is_held_whatever_the_number_of_samples():
    groups = sample.sample_groups(10**12, 500, None)
    assert list(itertools.islice(groups, 4)) == [1, sample.SAMPLE_GROUP, sample.SAMPLE_GROUP, sample.SAMPLE_GROUP]
    assert list(sample.sample_groups(sample.SAMPLE_GROUP + 3, 500, None)) == [1, sample.SAMPLE_GROUP, 2]
    # samples too long to hold two of: each is its own group, and streams
    assert list(sample.sample_groups(3, 10**9, None)) == [1, 1, 1]
    assert list(sample.sample_groups(3, 1000, 16 * 1000 * sample.HELD_BYTES_PER_SYMBOL)) == [1, 2]
    for n, length, memory in [(1, 0, None), (7, 0, 1), (1000, 10**6, 1 << 30)]:
        sizes = list(sample.sample_groups(n, length, memory))
        assert sum(sizes) == n and sizes[0] == 1
        assert (max(sizes) - 1) * length * sample.HELD_BYTES_PER_SYMBOL <= sample.HELD_TEXT_MAX


@pytest.mark.parametrize("group", [1, 5])
def test_samples_are_the_same_however_they_are_grouped(char_model, monkeypatch, group):
    model = charrnn.load(char_model)
    options = dict(length=30, seed=7, num_samples=12, top_p=0.95)
    together = model.complete("ROMEO:", **options)
    monkeypatch.setattr(sample, "SAMPLE_GROUP", group)
    assert model.complete("ROMEO:", **options) == together
    assert len(together) == 12 and len(set(together)) == 12
    assert model.complete("ROMEO:", **dict(options, num_samples=3)) == together[:3]


def test_a_million_samples_start_at_once(char_model):
    """Before, every sample was made before the second was written, with all their states at
    once: 10**6 printed nothing for a minute and took gigabytes."""
    model = charrnn.load(char_model)
    model.complete("A", 5, seed=1)  # compiled (and cached) before the clock starts
    start = time.monotonic()
    pieces = model.generate("ROMEO:", length=20, seed=1, num_samples=10**6)
    texts = [""]
    while len(texts) < 4:
        number, piece = next(pieces)
        texts += [""] * (number + 1 - len(texts))
        texts[number] += piece
    assert time.monotonic() - start < 10
    assert texts[0].startswith("ROMEO:") and texts[1].startswith("ROMEO:") and len(texts[1]) == len("ROMEO:") + 20


def test_sample_of_a_hundred_million_streams_until_the_reader_stops(char_model):
    """`charrnn sample --num-samples 100000000 | head`: text at once, and the end when head closes
    the pipe; never minutes of silence while memory grows."""
    charrnn.load(char_model).complete("A", 5, seed=1)  # the kernels cached, so the process starts promptly
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "charrnn", "sample", char_model, "-n", "10", "--seed", "1",
                             "--num-samples", str(10**8), "--separator", "|"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        data, deadline = b"", time.monotonic() + 60
        while data.count(b"|") < 100 and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 1)[0]:
                data += os.read(proc.stdout.fileno(), 1 << 16)
        assert data.count(b"|") >= 100, "no stream of samples within a minute"
        proc.stdout.close()  # as `head` does
        assert proc.wait(timeout=30) in (0, 1, -13)  # click ends quietly on a closed pipe
        assert b"Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


# ---- a prime that is not UTF-8 -------------------------------------------------------------------

def test_a_byte_model_reads_the_prime_as_the_bytes_given(byte_model):
    """`--prime $'caf\\xe9'` reaches click as 'caf\\udce9' (surrogateescape); before, a byte model
    took that for the three bytes of U+DCE9 and said it did not know 0xed."""
    result = sample_process(byte_model, "--prime", b"caf\xe9", "-n", "20", "--seed", "1")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode("utf-8")  # valid UTF-8: the character 0xE9 begins is finished by the model
    assert out.startswith("caf") and len(out.encode("utf-8")) >= len("caf") + 20
    model = charrnn.load(byte_model)
    assert model.complete(b"caf\xe9", 20, seed=1) == out
    assert ok("sample", byte_model, "--prime", "caf\udce9", "-n", 20, "--seed", 1).stdout_bytes == result.stdout


def test_a_prime_that_begins_a_character_the_vocabulary_cannot_finish_ends_it(latin_model):
    """0xE9 begins a three-byte character, and this model has no byte to go on with: before,
    generation after it never ended."""
    result = sample_process(latin_model, "--prime", b"caf\xe9", "-n", "20", "--seed", "1")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode("utf-8")
    assert out.startswith("caf\ufffd") and len(out) == len("caf\ufffd") + 20


def test_a_byte_models_prime_file_is_read_as_the_bytes_given(byte_model, tmp_path):
    prime = tmp_path / "prime.txt"
    prime.write_bytes(b"cr\xe8me ")
    out = text_of(ok("sample", byte_model, "--prime-file", prime, "-n", 20, "--seed", 2))
    assert out == charrnn.load(byte_model).complete(b"cr\xe8me ", 20, seed=2)
    assert out.startswith("cr\ufffdme ")  # echoed as U+FFFD, as generated text shows a byte that is not UTF-8


def test_a_character_model_says_the_prime_is_not_utf8(char_model):
    result = invoke("sample", char_model, "--prime", "ROMEO\udce9", "-n", 5)
    assert_one_line_error(result, 3)
    assert result.stderr == "charrnn: --prime is not valid UTF-8: byte 0xe9 at offset 5\n"


def test_a_character_model_takes_no_bytes_prime(char_model):
    with pytest.raises(charrnn.ConfigError, match="prime must be str, not bytes"):
        charrnn.load(char_model).complete(b"ROMEO", 5)


def test_json_samples_that_could_not_fit_in_memory_are_refused_before_any_work(tmp_path):
    """--json holds every sample until the end: a count that could not fit is one line, 2, and
    no model is even looked for (the named one does not exist)."""
    result = invoke("sample", tmp_path / "no-such-run", "--json", "--num-samples", 10**9, "-n", 10**4)
    assert_one_line_error(result, 2)
    assert "--json holds all 1,000,000,000 samples" in result.stderr and "--num-samples" in result.stderr
