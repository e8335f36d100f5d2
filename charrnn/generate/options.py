"""Generation's options, checked in one place: the length, the temperature, top-k, top-p, the
seed, the stop text, the number of samples and the precision of the stored weights."""

from __future__ import annotations

from ..arguments import check_number, check_type
from ..errors import option_error

SAMPLE_PRECISIONS = ("fp32", "bf16", "int8", "auto")  # of generation's stored weights (sampler.stored)
SAMPLE_TEMPERATURE = 0.8  # the default of generate, `charrnn sample -t` and samples while training
MAX_TEMPERATURE = 1e6  # above this, sampling is uniform in effect (and 1/T would underflow float32)


def check_sampling_options(*, length: int = 0, temperature: float = SAMPLE_TEMPERATURE, top_k: int | None = None,
                           top_p: float | None = None, seed: int | None = None, stop: str | None = None,
                           num_samples: int = 1) -> None:
    """ConfigError for any of LanguageModel.generate's options out of range: what generate
    checks before it writes anything, and `charrnn sample` before it loads a model."""
    if type(length) is not int or length < 0:
        raise option_error("length", f"must be 0 or more, got {length}")
    if type(num_samples) is not int or num_samples < 1:
        raise option_error("num_samples", f"must be at least 1, got {num_samples}")
    check_type("stop", stop, str, "a str", optional=True)
    if stop == "":
        raise option_error("stop", "needs some text")
    if seed is not None and (type(seed) is not int or seed < 0):
        raise option_error("seed", f"must be 0 or more, got {seed}")
    check_temperature(temperature)
    if top_k is not None and (type(top_k) is not int or top_k < 0):
        raise option_error("top_k", f"must be 0 (off) or more, got {top_k}")
    if top_p is not None:
        check_number("top_p", top_p)
    if top_p is not None and not 0 < top_p <= 1:
        raise option_error("top_p", f"must be in (0, 1], got {top_p}")


def check_temperature(temperature: float, option: str = "temperature") -> None:
    """ConfigError naming `option` for a temperature that is negative, not finite or beyond
    MAX_TEMPERATURE (1/T would underflow to 0, which means argmax)."""
    check_number(option, temperature)
    if not 0 <= temperature <= MAX_TEMPERATURE:
        raise option_error(option, f"must be 0 (argmax) to {MAX_TEMPERATURE:g}, got {temperature}")


def generation_weights(precision: str) -> str:
    """The weight format generation uses for `precision` (fp32, bf16, int8; auto is bf16)."""
    if precision not in SAMPLE_PRECISIONS:
        raise option_error("precision", f"must be one of {', '.join(SAMPLE_PRECISIONS)}, not {precision!r}")
    return "bf16" if precision == "auto" else precision
