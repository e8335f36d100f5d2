"""Reading text, the vocabulary, and the truncated-BPTT layout."""

import io

import numpy as np
import pytest

from charrnn.data import idcache
from charrnn.text import sources
from charrnn.data.batches import StreamBatches, split, text_windows, validation_windows
from charrnn.errors import CheckpointError, ConfigError, InputError
from charrnn.text.sources import decode_utf8, read_text, scan_directory
from charrnn.text.vocab import Vocab

MIXED = "Привет, мир! 안녕하세요 世界 😀 naïve café\r\nline two\n"


def test_vocab_is_the_sorted_code_points_and_round_trips_any_script():
    vocab = Vocab.from_text(MIXED)
    assert list(vocab.chars) == sorted(set(MIXED))
    assert vocab.decode(vocab.encode(MIXED)) == MIXED
    assert "\r" in vocab.chars and "😀" in vocab.chars
    assert Vocab.from_json(vocab.to_json()) == vocab


def test_unknown_characters_are_named_with_code_points():
    vocab = Vocab.from_text("abc")
    with pytest.raises(InputError, match=r"2 characters the model does not know: 'é' \(U\+00E9\), '☃' \(U\+2603\)"):
        vocab.encode("abé☃a")
    assert vocab.missing("zaz") == ["z"]


def test_malformed_vocabulary_json_is_a_checkpoint_error():
    for bad in ("not json", '{"a": 1}', '["ab"]', '["a", "a"]'):
        with pytest.raises(CheckpointError):
            Vocab.from_json(bad)


def test_read_text_files_directories_and_stdin(tmp_path):
    (tmp_path / "b.txt").write_text("second", encoding="utf-8")
    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbffirst\r\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.md").write_text("third", encoding="utf-8")
    (tmp_path / ".hidden").write_text("skip", encoding="utf-8")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02")
    assert read_text([str(tmp_path)]) == "first\r\n\nsecond\nthird"
    assert read_text(["-"], stdin=io.BytesIO("한국어".encode())) == "한국어"
    assert read_text([str(tmp_path / "b.txt"), "-"], stdin=io.BytesIO(b"x"), separator="|") == "second|x"


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"abc\x00def", r"looks binary \(NUL byte at offset 3\)"),
    (b"good text \xff\xfe", r"not valid UTF-8: byte 0xff at offset 10"),
])
def test_bad_files_are_one_line_input_errors(tmp_path, content, message):
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_text([str(path)])
    assert "\n" not in str(err.value) and "input.txt" in str(err.value)


def test_missing_and_textless_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_text([str(tmp_path / "nope.txt")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has no text files"):
        read_text([str(tmp_path / "empty")])


def test_split_holds_out_the_tail_like_the_reference():
    ids = np.arange(1000)
    train, val = split(ids, 0.1)
    assert len(val) == 100 and val[0] == 900 and len(train) == 900
    assert len(split(ids, 0.0)[1]) == 0
    with pytest.raises(ConfigError):
        split(ids, 1.0)


def test_stream_layout_matches_the_reference_formula_and_wraps_with_reset():
    ids = np.arange(1, 1002, dtype=np.int32)
    B, T = 4, 10
    batches = StreamBatches(ids, B, T)
    n_col = (len(ids) - 1) // B
    xs, ys = ids[:B * n_col].reshape(B, n_col), ids[1:B * n_col + 1].reshape(B, n_col)
    assert batches.steps_per_epoch == n_col // T
    first = batches.next()
    assert first.reset and first.x.shape == (T, B) and first.x.flags.c_contiguous
    np.testing.assert_array_equal(first.x, xs[:, :T].T)
    np.testing.assert_array_equal(first.y, ys[:, :T].T)
    resets = [batches.next().reset for _ in range(batches.steps_per_epoch)]
    assert resets == [False] * (batches.steps_per_epoch - 1) + [True]


def test_batch_cursor_resumes_to_the_same_windows():
    ids = np.random.default_rng(0).integers(0, 50, 5000).astype(np.int32)
    a = StreamBatches(ids, 8, 16)
    for _ in range(50):
        a.next()
    b = StreamBatches(ids, 8, 16)
    b.load_state_dict(a.state_dict())
    for _ in range(60):
        wa, wb = a.next(), b.next()
        np.testing.assert_array_equal(wa.x, wb.x)
        assert wa.reset == wb.reset
    with pytest.raises(CheckpointError):
        StreamBatches(ids, 4, 16).load_state_dict(a.state_dict())


def test_text_too_short_for_one_window_says_what_to_change():
    """The library names its options as Python spells them; the command line, as flags."""
    with pytest.raises(InputError, match=r"one step needs 641.*lower batch or seq$") as caught:
        StreamBatches(np.zeros(100, np.int32), 10, 64)
    assert caught.value.for_command_line().endswith("for --batch 10 x --seq 64: it has 100 characters, one step "
                                                    "needs 641; lower --batch or --seq")


def test_validation_windows_score_streams_times_columns():
    ids = np.arange(1000, dtype=np.int32)
    windows = list(validation_windows(ids, streams=32, chunk=10))
    L = (len(ids) - 1) // 32
    assert sum(x.size for x, _ in windows) == 32 * L
    x0, y0 = windows[0]
    np.testing.assert_array_equal(y0, x0 + 1)
    assert [x.size for x, _ in text_windows(ids[:20], chunk=8)] == [8, 8, 3]
    assert list(validation_windows(ids[:1])) == []


# ---- bytes that are not UTF-8 ---------------------------------------------------------------

def test_decode_utf8_offsets_count_the_byte_order_mark_and_replace_on_request():
    with pytest.raises(InputError, match=r"^in\.txt is not valid UTF-8: byte 0xff at offset 5$"):
        decode_utf8(b"\xef\xbb\xbfab\xff", "in.txt")
    assert decode_utf8(b"\xef\xbb\xbfab\r\n", "in.txt") == "ab\r\n"
    assert decode_utf8(b"caf\xe9 \xef\xbf\xbd", "x", "replace") == "caf\ufffd \ufffd"
    with pytest.raises(InputError, match="NUL byte at offset 1"):
        decode_utf8(b"a\0b", "x", "replace")  # replacement is for bad bytes, not binary files


def test_directories_skip_files_that_are_not_utf8_unless_replaced(tmp_path):
    (tmp_path / "a.txt").write_bytes("café".encode("latin-1") * 100)
    (tmp_path / "b.txt").write_bytes(b"ok\n")
    assert scan_directory(tmp_path)[0] == [tmp_path / "b.txt"]
    assert scan_directory(tmp_path, errors="replace")[0] == [tmp_path / "a.txt", tmp_path / "b.txt"]
    assert read_text([str(tmp_path)], errors="replace") == "caf\ufffd" * 100 + "\nok\n"


@pytest.mark.parametrize("tail", [b"", b"\xc3"], ids=["bad byte inside", "cut character at the end"])
def test_encoding_replaces_bad_bytes_across_chunks(tmp_path, monkeypatch, tail):
    """A bad byte right at a chunk boundary, and a character the file ends inside of."""
    monkeypatch.setattr(sources, "CHUNK", 8)
    data = "abcdéfg".encode() + b"\xff" + "hijklmné".encode() + tail
    (tmp_path / "t.txt").write_bytes(data)
    with pytest.raises(InputError, match=r"t\.txt is not valid UTF-8: byte 0x(ff|c3) at offset \d+ \(errors replace"):
        idcache.encode_sources([str(tmp_path / "t.txt")], tmp_path / "strict")
    encoded = idcache.encode_sources([str(tmp_path / "t.txt")], tmp_path / "cache", errors="replace")
    assert encoded.vocab.decode(encoded.ids) == data.decode("utf-8", "replace")
    assert encoded.fingerprint["errors"] == "replace"
    again = idcache.encode_sources([str(tmp_path / "t.txt")], tmp_path / "cache", errors="replace")
    assert again.reused
    assert not idcache.encode_sources([str(tmp_path / "t.txt")], tmp_path / "cache", errors="replace",
                                     separator="|").reused
