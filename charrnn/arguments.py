"""The Python API's arguments checked for their type: a wrong one is a ConfigError naming it as
Python spells it, before any work (ranges are checked where each option lives)."""

from __future__ import annotations

import os

from .errors import ConfigError, option_error


def shown(value) -> str:
    """"str 'abc'", "float 1.5", "list": a wrong value's type, and the value where it is short."""
    if isinstance(value, (str, int, float)):
        return f"{type(value).__name__} {repr(value)[:40]}"
    return type(value).__name__


def check_type(option: str, value, kinds: type | tuple[type, ...], what: str, optional: bool = False) -> None:
    """ConfigError naming `option` unless `value` is one of `kinds` (or None, when `optional`);
    a bool is no number here, though Python counts it as an int."""
    if value is None and optional:
        return
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return
    raise option_error(option, f"must be {what}, not {shown(value)}")


def check_path(option: str, value, optional: bool = True) -> None:
    """A path: a str or an os.PathLike."""
    check_type(option, value, (str, os.PathLike), "a path (a str or a pathlib.Path)", optional)


def paths(option: str, value) -> list[str]:
    """A path, or a list (or tuple) of paths, as a list of str; None is none."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, os.PathLike)) for v in value):
        return [os.fspath(v) for v in value]
    wrong = shown(value) if not isinstance(value, (list, tuple)) else f"a {type(value).__name__} holding " + \
        ", ".join(sorted({shown(v) for v in value if not isinstance(v, (str, os.PathLike))}))
    raise option_error(option, f"must be a path (a str or a pathlib.Path) or a list of paths, not {wrong}")


def check_number(option: str, value) -> None:
    check_type(option, value, (int, float), "a number")


def check_threads(value, option: str = "threads") -> None:
    """None (the default) or a whole number of threads, at least 1."""
    check_type(option, value, int, "a whole number", optional=True)
    if value is not None and value < 1:
        raise option_error(option, f"must be at least 1, got {value}")


def check_callback(option: str, value) -> None:
    """None or a function."""
    if value is not None and not callable(value):
        raise option_error(option, f"must be a function of one event, not {shown(value)}")


def unknown_option(name: str, known) -> ConfigError:
    """The error for a keyword argument that is none of `known`, with the closest as a suggestion."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown option {name!r}{hint} (the options are those of charrnn train, with underscores)")
