"""`charrnn score` and LanguageModel.score_records: a score per record, in order, as soon as it
is scored; the same definition as `charrnn eval`; records read from files and pipes; text a
model has not seen (also for `charrnn eval`); bad input."""

import io
import json
import math
import os
import select
import subprocess
import sys
import threading
import tracemalloc

import pytest

import charrnn
from charrnn.generate import record_scoring as scoring
from charrnn.text import records as records_module
from charrnn.text.records import read_records
from charrnn.text.vocab import Vocab, code_points
from support import ROOT, plays, write_plays
from test_cli import invoke, ok

TINY = dict(hidden=16, layers=2, batch=4, seq=16, eval_every=10, threads=1, steps=10, seed=2, progress=False)
TIMEOUT = 120


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("score")
    corpus = write_plays(folder / "plays.txt", 30_000)
    return charrnn.train(corpus, **TINY, out=str(folder / "run"))


@pytest.fixture(scope="module")
def model(run):
    return charrnn.load(run.best, threads=1)


@pytest.fixture(scope="module")
def byte_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bytes")
    corpus = folder / "text.txt"
    corpus.write_text(plays(20_000) + "naïve café ☃ " * 50, encoding="utf-8")
    return charrnn.load(charrnn.train(corpus, **TINY, unit="byte", out=str(folder / "run")).best, threads=1)


def lines_of_plays(count, start=0):
    return plays(40_000, start).split("\n")[:count]


def nats_of(model, text, precision="fp32"):
    """What `score` counts for `text`: nats summed over the symbols it predicts."""
    result = model.score(text, precision=precision)
    unit = result["unit"]
    return result[f"nats_per_{unit}"] * result[f"{unit}s"], result[f"{unit}s"]


# ---- what is predicted from what --------------------------------------------------------------

def test_reset_scores_each_record_as_eval_scores_it_alone(model, tmp_path):
    records = lines_of_plays(120) + ["", "a", "x" * 3000, plays(5000, 1000)]  # long ones take many windows
    results = list(model.score_records(records, precision="fp32"))
    assert [r["record"] for r in results] == list(range(1, len(records) + 1))
    assert [r["text"] for r in results] == records
    for record, result in zip(records, results):
        if len(record) < 2:
            assert result["chars"] == 0 and result["bits_per_char"] is None and result["nats"] == 0
            continue
        nats, chars = nats_of(model, record)
        assert result["chars"] == chars == len(record) - 1
        assert result["nats"] == pytest.approx(nats, rel=1e-5)
        assert result["bits_per_char"] == pytest.approx(nats / chars / math.log(2), rel=1e-5)
    for index in (0, len(records) - 1):  # and as the command line's eval prints it
        path = tmp_path / f"record{index}.txt"
        path.write_text(records[index], encoding="utf-8")
        evaluated = json.loads(ok("eval", model.path, path, "--json").stdout)
        assert results[index]["bits_per_char"] == pytest.approx(evaluated["bits_per_char"], rel=1e-5)


def test_the_default_precision_stays_close_to_fp32(model):
    records = lines_of_plays(60)
    exact = list(model.score_records(records, precision="fp32"))
    default = list(model.score_records(records))
    for a, b in zip(exact, default):
        if a["chars"]:
            assert abs(a["bits_per_char"] - b["bits_per_char"]) < 0.02


def test_carry_gives_each_record_its_own_symbols_of_the_joined_stream(model):
    records = lines_of_plays(40, 500) + ["", "x" * 700]
    results = list(model.score_records(records, "carry", precision="fp32"))
    joined = "\n".join(records)
    log_probs = model.log_probs(joined)  # of joined[1:], each given everything before it
    start = 0
    for record, result in zip(records, results):
        first = max(start, 1)  # the stream's first symbol is only context
        expected = -log_probs[first - 1:start + len(record) - 1].sum()
        assert result["chars"] == start + len(record) - first
        assert result["nats"] == pytest.approx(expected, rel=1e-5, abs=1e-6)
        start += len(record) + 1  # the separator is read, not scored


def test_byte_models_score_bytes_as_eval_does(byte_model):
    records = ["naïve café", "☃ snow", "", "plain text here"]
    results = list(byte_model.score_records(records, precision="fp32"))
    for record, result in zip(records, results):
        assert "bits_per_byte" in result and result["text"] == record
        assert result["bytes"] == max(len(record.encode()) - 1, 0)
        if result["bytes"]:
            assert result["nats"] == pytest.approx(nats_of(byte_model, record)[0], rel=1e-5)
    from_bytes = list(byte_model.score_records([r.encode() for r in records], precision="fp32"))
    assert [r["nats"] for r in from_bytes] == [r["nats"] for r in results]


# ---- text a model has not seen -------------------------------------------------------------------

def test_one_rule_for_symbols_a_vocabulary_lacks():
    plain, with_unknown = Vocab("abc"), Vocab(["a", "b", "c", None])
    ids, lacking = plain.scoring_ids(code_points("aQbZZc"))
    assert ids.tolist() == [0, 1, 2] and lacking == 3  # left out, counted
    ids, lacking = with_unknown.scoring_ids(code_points("aQbZZc"))
    assert ids.tolist() == [0, 3, 1, 3, 3, 2] and lacking == 3  # read as the unknown symbol, counted


def test_unknown_characters_are_left_out_counted_and_noticed_once(model, caplog):
    records = ["ROMEO: good morrow", "ROMEO: good ✓ morrow ✓", "Q✓✓"]
    with caplog.at_level("WARNING", logger="charrnn"):
        results = list(model.score_records(records, precision="fp32"))
    assert [r["unknown"] for r in results] == [0, 2, 2]
    assert results[1]["text"] == records[1]
    floor = scoring.UNKNOWN_NATS["char"]  # what a symbol the model lacks costs: ln(0x110000)
    known, predicted = nats_of(model, "ROMEO: good  morrow ")
    assert results[1]["nats"] == pytest.approx(known + 2 * floor, rel=1e-5)
    assert results[1]["chars"] == predicted + 2
    # 'Q' alone predicts nothing, but two symbols never seen make the record the oddest of all
    assert results[2]["chars"] == 2 and results[2]["bits_per_char"] == pytest.approx(floor / math.log(2))
    assert results[2]["bits_per_char"] > max(results[0]["bits_per_char"], results[1]["bits_per_char"])
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1 and "record 2" in notices[0] and "U+2713" in notices[0]


def test_eval_leaves_out_unknown_characters_by_default_and_says_so(model, tmp_path):
    path = tmp_path / "new.txt"
    path.write_text("ROMEO: ✓ good ✓ morrow\n", encoding="utf-8")
    result = ok("eval", model.path, path, "--json")
    score = json.loads(result.stdout)
    assert score["skipped_chars"] == 2 and score["chars"] == len("ROMEO:  good  morrow\n") - 1
    assert result.stderr.count("\n") == 1 and "U+2713" in result.stderr and "left out" in result.stderr
    strict = invoke("eval", model.path, path, "--no-skip-unknown")
    assert strict.exit_code == 3 and strict.stdout == "" and "--skip-unknown" in strict.stderr


# ---- records -------------------------------------------------------------------------------------

def records_of(data: bytes, kind="line", unit="char", errors="strict"):
    out = []
    for record in read_records(["-"], kind, unit, errors, io.BytesIO(data)):
        out.append(record if isinstance(record, (str, bytes)) else "".join(record))
    return out


def records_of_kinds(data: bytes):
    """The records, a record in pieces read to its end before the next (as the scorer does)."""
    for record in read_records(["-"], "line", "char", "strict", io.BytesIO(data)):
        if not isinstance(record, str):
            list(record)
        yield record


def test_records_are_lines_nul_terminated_strings_or_paragraphs():
    assert records_of(b"\xef\xbb\xbfone\r\ntwo\n\nthree") == ["one", "two", "", "three"]
    assert records_of(b"one\n") == ["one"]
    assert records_of(b"a\0b c\0\0", "nul") == ["a", "b c", ""]
    assert records_of(b"\n\nfirst para\nline two\n\n\n\nsecond\n\n", "blank") == ["first para\nline two", "second"]
    assert records_of(b"x\n\xff\n", unit="byte") == [b"x", b"\xff"]
    assert records_of(b"x\nab\xffc\n", errors="replace") == ["x", "ab\ufffdc"]
    with pytest.raises(charrnn.InputError, match=r"record 2 is not valid UTF-8: byte 0xff at offset 2"):
        records_of(b"x\nab\xffc\n")


def test_a_record_longer_than_a_read_comes_in_pieces(monkeypatch):
    monkeypatch.setattr(records_module, "LONG_RECORD", 8)
    monkeypatch.setattr(records_module, "READ_SIZE", 5)
    data = "a long first line, é and ☃ cut anywhere\r\nshort\nanother long record at the end".encode()
    kinds = [type(record) is str for record in records_of_kinds(data)]
    assert kinds == [False, True, False]
    assert records_of(data) == ["a long first line, é and ☃ cut anywhere", "short",
                                "another long record at the end"]


# ---- streaming and memory ----------------------------------------------------------------------

def test_results_come_in_input_order_whatever_the_lengths(model):
    records = [plays(3000), "ab", "", plays(50, 7000), plays(900, 100), "cd"] * 3
    results = list(model.score_records(records, precision="fp32"))
    assert [r["text"] for r in results] == records


def test_a_record_waiting_on_more_input_holds_back_none_before_it(model):
    arrived = threading.Event()

    def records():
        yield "ROMEO: first record"
        arrived.wait(TIMEOUT)  # a generator blocked on input, like a quiet pipe
        yield "second"

    results = model.score_records(records())
    first = next(results)
    assert first["record"] == 1 and first["text"] == "ROMEO: first record"
    arrived.set()
    assert next(results)["text"] == "second"


def test_an_endless_stream_is_read_only_a_bounded_way_ahead(model, monkeypatch):
    monkeypatch.setattr(scoring, "READ_AHEAD", 2000)
    given = []

    def endless():
        while True:
            given.append(1)
            yield "ROMEO: good morrow to you"

    results = model.score_records(endless())
    ahead = scoring.MAX_LANES + 2 * 2000 // len("ROMEO: good morrow to you") + 2  # done, in lanes, in the queue
    taken = 0
    for stop in (300, 1500):
        while taken < stop:
            next(results)
            taken += 1
        assert len(given) - taken < ahead
    results.close()


def test_one_huge_record_in_pieces_is_scored_in_bounded_memory(model, monkeypatch):
    """The memory taken does not grow with the record's length: 360,000 more characters
    (1.4 MB more as ids, if they were kept) take no more memory at the peak."""
    monkeypatch.setattr(scoring, "READ_AHEAD", 4096)
    monkeypatch.setattr(scoring, "TEXT_LIMIT", 100)
    piece = plays(1000, 3000)

    def peak_scoring(count):
        tracemalloc.start()
        try:
            result = next(model.score_records([(piece for _ in range(count))], precision="fp32"))
            return result, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    _, short_peak = peak_scoring(40)
    result, peak = peak_scoring(400)
    assert result["chars"] == 400 * len(piece) - 1
    assert result["text"] == piece[:100] and result["text_cut"] is True
    assert peak < short_peak + 300_000, (peak, short_peak)
    assert result["nats"] == pytest.approx(nats_of(model, piece * 400)[0], rel=1e-4)


# ---- Python API arguments ----------------------------------------------------------------------

@pytest.mark.parametrize("call, name", [
    (lambda m: m.score_records("one string"), "records"),
    (lambda m: m.score_records(42), "records"),
    (lambda m: m.score_records(["a"], context="forward"), "context"),
    (lambda m: m.score_records(["a"], separator=5), "separator"),
    (lambda m: m.score_records(["a"], precision="fp8"), "precision"),
    (lambda m: list(m.score_records(["fine", 7])), "records"),
    (lambda m: list(m.score_records([b"bytes for a char model"])), "records"),
])
def test_score_records_names_a_wrong_argument(model, call, name):
    with pytest.raises(charrnn.ConfigError) as caught:
        call(model)
    assert name in caught.value.options


# ---- the command line ----------------------------------------------------------------------

def test_score_writes_a_line_per_record(model, tmp_path):
    text = "ROMEO: good morrow\n\nJULIET: and to you\n"
    path = tmp_path / "lines.txt"
    path.write_text(text, encoding="utf-8")
    expected = list(model.score_records(text.splitlines()))
    plain = ok("score", model.path, path).stdout.splitlines()
    assert plain == [f"{r['bits_per_char']:.4f}\t{r['text']}" if r["chars"] else f"-\t{r['text']}"
                     for r in expected]
    objects = [json.loads(line) for line in ok("score", model.path, "--json", input=text).stdout.splitlines()]
    assert objects == expected
    assert set(objects[0]) == {"record", "bits_per_char", "nats", "chars", "unknown", "text"}
    assert objects[1]["bits_per_char"] is None
    bare = ok("score", model.path, path, "--no-text", "--json").stdout.splitlines()
    assert [json.loads(line) for line in bare] == [{k: v for k, v in r.items() if k != "text"} for r in expected]
    assert ok("score", model.path, path, "--no-text").stdout.splitlines() == [line.split("\t")[0] for line in plain]


def test_score_reads_nul_records_and_paragraphs(model):
    nul = ok("score", model.path, "--records", "nul", input="one\0two two\0").stdout
    assert nul == "".join(f"{r['bits_per_char']:.4f}\t{r['text']}\0"
                          for r in model.score_records(["one", "two two"]))
    paragraphs = ok("score", model.path, "--records", "blank", "--json", input="a b\nc\n\n\nd e\n").stdout
    assert [json.loads(line)["text"] for line in paragraphs.splitlines()] == ["a b\nc", "d e"]


def test_score_carry_from_the_command_line(model):
    text = "ROMEO: good morrow\nLADY: and to you\n"
    objects = [json.loads(line) for line in ok("score", model.path, "--json", "--context", "carry",
                                               "--precision", "fp32", input=text).stdout.splitlines()]
    expected = list(model.score_records(text.splitlines(), "carry", precision="fp32"))
    assert objects == expected and objects[1]["chars"] == len("LADY: and to you")


@pytest.mark.parametrize("args, stdin, code, words", [
    (["--json"], b"fine\nab\xffc\nlater\n", 3, "record 2 is not valid UTF-8"),
    (["no-such-file.txt"], None, 3, "no such file"),
    (["--errors", "strict", "--records", "paragraph"], b"", 2, "--records"),
])
def test_score_bad_input_is_one_line(model, args, stdin, code, words):
    result = invoke("score", model.path, *args, input=stdin)
    assert result.exit_code == code and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1 or result.stderr.startswith("Usage"), result.stderr
    assert words in result.stderr
    if code == 3 and stdin:  # the records before the bad one are written first
        assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["fine"]
    replaced = invoke("score", model.path, "--errors", "replace", "--json", input=b"ab\xffc\n")
    assert replaced.exit_code == 0 and json.loads(replaced.stdout)["text"] == "ab\ufffdc"


def test_score_refuses_a_file_that_is_not_a_model(tmp_path):
    path = write_plays(tmp_path / "not-a-model.safetensors", 500)
    result = invoke("score", path, input="text\n")
    assert result.exit_code == 4 and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def command(*args):
    return [sys.executable, "-m", "charrnn", *map(str, args)]


def test_score_writes_each_result_while_stdin_is_still_open(model, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command("score", model.path, "--json"), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    try:
        process.stdin.write(b"ROMEO: first record\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], TIMEOUT)
        assert ready, "no result while standard input stays open"
        first = json.loads(process.stdout.readline())
        assert first["record"] == 1 and first["text"] == "ROMEO: first record"
        assert process.poll() is None
        process.stdin.write(b"second\n")
        process.stdin.close()
        assert json.loads(process.stdout.readline())["record"] == 2
        assert process.wait(TIMEOUT) == 0
        assert process.stderr.read() == b""
    finally:
        process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            stream.close()


def test_score_into_head_ends_quietly(model, tmp_path):
    path = tmp_path / "many.txt"
    path.write_text("\n".join(lines_of_plays(400)) * 5, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pipeline = '"$1" -m charrnn score "$2" "$3" | head -n 2'
    result = subprocess.run(["sh", "-c", pipeline, "sh", sys.executable, model.path, path], capture_output=True,
                            env=env, cwd=tmp_path, timeout=TIMEOUT)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2
    assert result.stderr == b""
