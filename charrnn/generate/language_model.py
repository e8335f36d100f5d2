"""A trained model as a Python object: `load` it from a checkpoint, a run directory, a run name
or the latest run, then `generate` text as it is made, `complete` a prime in one string, or
`score` a text (what `charrnn eval --json` prints). `charrnn sample` and `charrnn eval` are
this module with options parsed and output written.

`import charrnn` imports this module, so the numeric core (NumPy, Numba) and what imports it
are imported inside the functions that need it, after runtime.prepare_core."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .. import runtime
from ..arguments import check_path, check_threads, check_type, paths
from ..errors import ConfigError, InputError
from .options import SAMPLE_TEMPERATURE, check_sampling_options, generation_weights

if TYPE_CHECKING:
    import numpy as np

    from ..model.config import ModelConfig
    from ..text.vocab import Vocab

log = logging.getLogger("charrnn")


def load(source: str | Path | None = None, *, threads: int | None = None, root: str | Path | None = None
         ) -> "LanguageModel":
    """The model of `source`: a checkpoint file, a run directory (its best checkpoint), a run
    name (looked up in `root`, default $CHARRNN_HOME or ./checkpoints), or None for the most
    recently written run. `threads` is the default for generation (all cores for models of
    1 MB of weights or more, else one). CheckpointError for anything missing or malformed."""
    check_path("source", source)
    check_threads(threads)
    check_path("root", root)
    runtime.prepare_core(_logged(logging.WARNING))
    from ..model.network import Model  # the numeric core: imported once prepared, not by `import charrnn`
    from ..runs import model_file, rundir

    cores = runtime.thread_count(threads)
    path = rundir.resolve(None if source is None else str(source), Path(root) if root is not None else None)
    read = model_file.read_model(path)
    model = Model(read.config, threads=cores)
    model.load_params(read.weights)
    return LanguageModel(read, model, cores, threads)


def _logged(level: int):
    """A callback that logs each Notice it is given to the `charrnn` logger at `level`."""
    return lambda event: log.log(level, event.message)


class LanguageModel:
    """A trained character- or byte-level model. `config` is its shape, `vocab` its symbols,
    `unit` "char" or "byte", `path` the checkpoint it was read from, `meta` that checkpoint's
    metadata."""

    def __init__(self, model_file, model, cores: int, threads: int | None):
        self.path: Path = model_file.path
        self.meta: dict = model_file.meta
        self.config: ModelConfig = model_file.config
        self.vocab: Vocab = model_file.vocab
        self._model = model
        self._cores = cores
        self._threads = threads

    @property
    def unit(self) -> str:
        return self.vocab.unit

    def __repr__(self) -> str:
        cfg = self.config
        return f"LanguageModel({cfg.cell} {cfg.layers}x{cfg.hidden}, {len(self.vocab)} {self.unit}s, {self.path})"

    # ---- writing --------------------------------------------------------------------------------
    def generate(self, prime: str | bytes = "", length: int = 500, temperature: float = SAMPLE_TEMPERATURE,
                 top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                 stop: str | None = None, num_samples: int | None = None, threads: int | None = None,
                 echo_prime: bool = True, precision: str = "auto") -> Iterator[str] | Iterator[tuple[int, str]]:
        """Yield the text as it is made: the prime (unless `echo_prime` is false or there is
        none; a byte model takes bytes too, as they are), then `length` symbols after it (for
        a byte model, bytes, finishing the last character). Without a prime, generation
        starts from a newline (or the vocabulary's first symbol) and echoes nothing.

        `temperature` 0 takes the most likely symbol; `top_k` keeps the k most likely, `top_p`
        the most likely whose probabilities reach p. The same `seed` gives the same text
        (None: a random one). A sample ends right after the first `stop`. Given
        `num_samples` N, the pieces come as (sample, text) pairs, sample 0 to N-1 in order,
        each sample's pieces in order (its prime first), each sample with its own random
        stream (sample i is the same whatever N); without it, one sample's pieces as str. The
        first sample is yielded as it is made; the others are generated up to 64 at a time
        (sampler.sample_groups), the first of each group yielded as it is made: the memory
        taken does not grow with N. Symbols the model does not know in the prime are an
        InputError naming them, unless the model has an unknown symbol. `precision` is how
        the weights are stored while generating: "fp32"; "bf16", half the bytes to read per
        symbol, so about twice as fast; "int8", a quarter (faster still for large models);
        "auto" is bf16. `score(..., precision=...)` says what each costs in bits per symbol."""
        labelled = num_samples is not None
        for sample, text in self._samples(prime, length, temperature, top_k, top_p, seed, stop,
                                          1 if num_samples is None else num_samples, threads, echo_prime, precision):
            yield (sample, text) if labelled else text

    def _samples(self, prime, length, temperature, top_k, top_p, seed, stop, num_samples, threads, echo_prime,
                 precision) -> Iterator[tuple[int, str]]:
        import numpy as np

        from ..kernels.sampling import run_part
        from .predictions import check_text, encode_strictly
        from .sampler import Sampler, sample_groups, sampling_threads

        if prime is not None:
            check_text(self.vocab, prime, "prime")
        check_type("echo_prime", echo_prime, bool, "True or False")
        check_threads(threads)
        check_sampling_options(length=length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, stop=stop,
                               num_samples=num_samples)
        vocab = self.vocab
        if prime:
            prime_ids = encode_strictly(vocab, prime, "prime")
        else:
            prime_ids, echo_prime = vocab.start_ids(), False
        shown, unfinished = _echoed(prime) if prime else ("", 0)
        shown = shown if echo_prime else ""
        seeds = np.random.SeedSequence(seed)  # sample i draws from its child i, however the samples are grouped
        threads = threads or self._threads or sampling_threads(self._model, self._cores)
        runtime.notice_compiling(run_part, _logged(logging.INFO))
        sampler = Sampler(self._model, batch=1, banned=vocab.unknown, threads=threads,
                          byte_values=vocab.byte_values(), weights=generation_weights(precision))
        options = (temperature, top_k or 0, 1.0 if top_p is None else top_p)
        first = 0  # the number of the group's first sample
        for index, size in enumerate(sample_groups(num_samples, length, runtime.machine_memory())):
            if index:
                sampler.restart(size)
            sampler.feed(prime_ids)
            rngs = [np.random.default_rng(child) for child in seeds.spawn(size)]
            samples = [_Sample(vocab.decoder(), stop, keep=k > 0) for k in range(size)]
            for sample in samples:  # the character the prime began ends in the sample's text
                sample.decoder.decode(prime_ids[prime_ids.size - unfinished:])
            if shown:
                yield first, shown
            for text in _streamed(sampler, rngs, samples, length, options):
                yield first, text
            for k, sample in enumerate(samples[1:], 1):
                yield first + k, shown + "".join(sample.pieces)
            first += size

    def complete(self, prime: str = "", length: int = 500, num_samples: int | None = None,
                 **options) -> str | list[str]:
        """What `generate` yields with the same arguments, as one string; given
        `num_samples`, a list of one string per sample."""
        if num_samples is None:
            return "".join(self.generate(prime, length, **options))
        texts: dict[int, list[str]] = {}
        for sample, text in self.generate(prime, length, num_samples=num_samples, **options):
            texts.setdefault(sample, []).append(text)
        return ["".join(texts.get(sample, [])) for sample in range(num_samples)]

    # ---- predictions ------------------------------------------------------------------------------
    def encode(self, text: str | bytes) -> list[int]:
        """The ids of `text`'s symbols (characters; for a byte model, UTF-8 bytes). A symbol
        the model does not know is an InputError, unless the model has an unknown symbol."""
        from .predictions import encode_strictly

        return encode_strictly(self.vocab, text, "text").tolist()

    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids` (for a byte model, bytes that are not UTF-8 read as U+FFFD)."""
        from .predictions import decode_ids

        return decode_ids(self.vocab, ids)

    def next_char_distribution(self, text: str | bytes = "") -> dict:
        """The probability of each symbol coming next after `text` (read from the zero state;
        "": where generation starts without a prime), most likely first: {character:
        probability}, or for a byte model {byte value: probability}; the unknown symbol, if
        the model has one, is None. Symbols of `text` as `encode` reads them."""
        from .predictions import next_distribution

        return next_distribution(self._model, self.vocab, text)

    def log_probs(self, text: str | bytes) -> "np.ndarray":
        """The natural log-probability of each symbol of `text` after the first, given the
        ones before it (read from the zero state): len(encode(text)) - 1 values, whose sum is
        minus the nats that `score(text)` counts. Symbols as `encode` reads them."""
        from .predictions import text_log_probs

        return text_log_probs(self._model, self.vocab, text)

    # ---- scoring --------------------------------------------------------------------------------
    def score(self, text: str | bytes, *, skip_unknown: bool = True, precision: str = "fp32", dynamic: bool = False,
              dynamic_lr: float | None = None) -> dict:
        """How well the model predicts `text` (str; for a byte model, str or bytes), read as one
        stream from a zero state: the fields `charrnn eval --json` prints, named per unit
        (chars, nats_per_char, bits_per_char, perplexity, skipped_chars, unknown_chars; or
        bytes, nats_per_byte, ...). Symbols the model does not know are left out and counted
        (skipped_chars), with a notice naming them (logged), as `score_records` does: an
        InputError naming them with `skip_unknown` false; a model with an unknown symbol
        scores them as it and counts them (unknown_chars). With `precision` "bf16" or "int8", the model is
        scored with its weights as `generate` stores them in that precision: the cost of
        sampling so, in bits per symbol.

        With `dynamic`, dynamic evaluation (Krause et al., 2018): a copy of the model learns
        from the text as it scores it, each window of 64 symbols scored before one step of
        plain SGD on it with the learning rate `dynamic_lr` (None: model/scoring.DYNAMIC_LR).
        The model itself never changes; the same text gives the same score."""
        from ..text.vocab import symbols_of
        from .predictions import check_text

        check_text(self.vocab, text, "text")
        check_type("skip_unknown", skip_unknown, bool, "True or False")
        return self._score([symbols_of(text, self.unit)], skip_unknown, precision=precision,
                           dynamic=_dynamic_lr(dynamic, dynamic_lr, precision))

    def score_files(self, sources: str | Path | Sequence[str | Path], *, errors: str = "strict",
                    skip_unknown: bool = True, stdin: BinaryIO | None = None, precision: str = "fp32",
                    dynamic: bool = False, dynamic_lr: float | None = None) -> dict:
        """`score` for files (a path, or a list of them; "-" is standard input, read from
        `stdin`), joined by newlines, read in chunks: the memory taken does not grow with their
        size."""
        from ..text.sources import empty_error, parts, symbols
        from ..text.units import ERRORS

        sources = paths("sources", sources)
        if errors not in ERRORS:
            raise ConfigError(f"errors must be one of {', '.join(ERRORS)}, not {errors!r}", options=("errors",))
        check_type("skip_unknown", skip_unknown, bool, "True or False")
        generation_weights(precision)  # checked before any file is read
        if stdin is not None and not callable(getattr(stdin, "read", None)):
            raise ConfigError(f"stdin must be a binary file object, not {type(stdin).__name__}", options=("stdin",))
        if errors != "strict" and self.unit == "byte":
            raise ConfigError("errors is for text read as characters; a byte model reads any bytes as they are",
                              options=("errors",))
        lr = _dynamic_lr(dynamic, dynamic_lr, precision)
        inputs = parts(list(sources), self.unit, errors)
        chunks = symbols(inputs, self.unit, "\n", stdin, errors=errors, ways_out=("errors",))
        return self._score(chunks, skip_unknown, empty_error(list(sources)), precision, lr)

    def score_records(self, records: Iterable[str], context: str = "reset", *, separator: str = "\n",
                      precision: str = "auto") -> Iterator[dict]:
        """Score each record of `records` (str; for a byte model, str or bytes; a record too
        long to hold may be an iterable of its pieces) on its own, lazily: one dict per
        record, in order, each as soon as that record is scored, with `record` (its number,
        from 1), `bits_per_char`, `nats` (summed), `chars` (symbols predicted), `unknown`
        and `text` (for a byte model `bits_per_byte` and `bytes`). A record predicts all its
        symbols but the first; one with none to predict has `chars` 0 and `bits_per_char`
        None. Symbols the model does not know are left out (read as its unknown symbol, if
        it has one) and counted in `unknown`; a notice is logged at the first.

        `context` "reset": each record is read from the model's zero state, so its score is
        `score(record)`'s; "carry": the records are read as one stream joined by
        `separator`, the state carried across them, and the separators are not scored.
        Records are scored many at a time, with the products in `precision` ("auto": bf16
        where the CPU has AMX, else fp32; "fp32"; "bf16"), read ahead on a thread."""
        from ..model.network import Model
        from ..model.scoring import scoring_model
        from .record_scoring import check_records, score_records

        check_records(records, context, separator)
        model = Model(self.config, threads=self._cores, precision=precision)
        model.flat[...] = self._model.flat
        model = scoring_model(model)
        runtime.notice_compiling(_scoring_kernel(self.config.cell), _logged(logging.INFO))
        return score_records(model, self.vocab, records, context, separator)

    def _score(self, chunks, skip_unknown: bool, empty: InputError | None = None, precision: str = "fp32",
               dynamic: float | None = None) -> dict:
        """The score of `chunks`; `dynamic`, when given, is dynamic evaluation's learning rate."""
        from ..model.scoring import DynamicScorer, StreamScorer, scoring_model

        vocab, unit = self.vocab, self.unit
        runtime.notice_compiling(_scoring_kernel(self.config.cell), _logged(logging.INFO))
        from .sampler import generation_model

        weights = generation_weights(precision)
        if dynamic is not None:
            scorer = DynamicScorer(scoring_model(_copy(self._model)), dynamic)
        else:
            model = self._model if weights == "fp32" else generation_model(self._model, weights)
            scorer = StreamScorer(scoring_model(model))
        read = kept = lacking = 0
        missing: set = set()
        strict = not skip_unknown and vocab.unknown is None
        for symbols in chunks:
            read += symbols.size
            ids, count = vocab.scoring_ids(symbols)
            if count:
                lacking += count
                missing.update(vocab.missing_symbols(symbols))
            kept += ids.size
            if not (strict and missing):
                scorer.add(ids)
        if strict and missing:
            raise InputError(f"{vocab.describe_missing(sorted(missing))} (skip_unknown leaves them out and counts "
                             "them)", options=("skip_unknown",))
        if missing and vocab.unknown is None:
            log.warning(f"{vocab.describe_missing(sorted(missing))}: {lacking} {unit}{'s' if lacking != 1 else ''} "
                        f"left out of the score and counted (skipped_{unit}s)")
        if read == 0 and empty is not None:
            raise empty
        if kept < 2:
            raise InputError(f"the text to score has {kept} {unit}{'s' if kept != 1 else ''}; it needs 2 or more "
                             "(the first is only context)")
        score = scorer.score()
        return {"unit": unit, f"{unit}s": score.chars, f"nats_per_{unit}": float(score.nats_per_char),
                f"bits_per_{unit}": score.bits_per_char, "perplexity": score.perplexity,
                f"skipped_{unit}s": read - kept, f"unknown_{unit}s": lacking if vocab.unknown is not None else 0,
                "dynamic_lr": dynamic}


def _dynamic_lr(dynamic: bool, lr: float | None, precision: str) -> float | None:
    """Dynamic evaluation's learning rate (None: static scoring), checked."""
    from ..model.scoring import DYNAMIC_LR

    check_type("dynamic", dynamic, bool, "True or False")
    if not dynamic:
        if lr is not None:
            raise ConfigError("dynamic_lr needs dynamic", options=("dynamic_lr", "dynamic"))
        return None
    if lr is None:
        lr = DYNAMIC_LR
    if type(lr) not in (int, float) or not 0 < lr < 1e6:
        raise ConfigError(f"dynamic_lr must be a positive number, got {str(lr)[:40]}", options=("dynamic_lr",))
    if precision != "fp32":
        raise ConfigError("dynamic needs precision fp32: it adapts the float32 weights",
                          options=("dynamic", "precision"))
    return float(lr)


def _copy(model):
    """A model of its own with `model`'s weights (what dynamic evaluation adapts)."""
    from ..model.network import Model

    copy = Model(model.config, model.dtype, model.threads)
    copy.flat[...] = model.flat
    return copy


def _scoring_kernel(cell: str):
    from ..model.network import CELLS

    return CELLS[cell].kernel


def _echoed(prime: str | bytes) -> tuple[str, int]:
    """The prime as echoed, and how many of its last bytes begin a character that the samples
    finish (a byte model's prime given as bytes): that character is written with each sample,
    echo or not. Bytes that are not UTF-8 are echoed as U+FFFD, as in generated text."""
    if isinstance(prime, str):
        return prime, 0
    from ..text.sources import complete_prefix

    cut = complete_prefix(bytes(prime))
    return bytes(prime[:cut]).decode("utf-8", "replace"), len(prime) - cut


def _streamed(sampler, rngs, samples: list["_Sample"], length: int, options) -> Iterator[str]:
    """Generate a group of samples on `sampler` (fed, one stream per sample): yield the first
    sample's text as it is made; the others keep theirs."""
    for chunk in sampler.generate(length, rngs, *options):
        text = _add(samples, chunk)
        if text:
            yield text
        if all(sample.stopped for sample in samples):
            break
    # a byte model finishes the characters the last bytes began (at most three more bytes)
    open_streams = sampler.mid_character.copy()
    while open_streams.any() and not all(sample.stopped for sample in samples):
        chunk = next(sampler.generate(1, rngs, *options))
        text = _add(samples, chunk, open_streams)
        if text:
            yield text
        open_streams &= sampler.mid_character
    text = _add(samples, None)
    if text:
        yield text


def _add(samples: list["_Sample"], chunk, streams=None) -> str:
    """Give each sample its ids of `chunk` (k, N) (None: the end), or only the streams marked in
    `streams`; return what the first sample shows now."""
    shown = ""
    for index, sample in enumerate(samples):
        if streams is not None and not streams[index]:
            continue
        text = sample.add(chunk[:, index] if chunk is not None else None)
        if index == 0:
            shown = text
    return shown


class _Sample:
    """One stream's text: decoded as ids come, cut right after the first `stop`; kept in
    `pieces` when `keep` (a sample written after another is held until its turn)."""

    def __init__(self, decoder, stop: str | None, keep: bool = True):
        self.decoder = decoder
        self.keep = keep
        self.stop = stop
        self.tail = ""
        self.pieces: list[str] = []
        self.stopped = False

    def add(self, ids) -> str:
        """The text that ids (None: the end) add to the sample (kept in `pieces` too when `keep`)."""
        if self.stopped:
            return ""
        text = self.decoder.decode(ids) if ids is not None else self.decoder.finish()
        if self.stop is not None:
            seen = self.tail + text
            cut = seen.find(self.stop)
            if cut >= 0:
                text = text[:len(text) - (len(seen) - cut - len(self.stop))]
                self.stopped = True
            self.tail = seen[-len(self.stop):]
        if ids is None:
            self.stopped = True
        if self.keep:
            self.pieces.append(text)
        return text
