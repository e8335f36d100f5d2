"""The project's exceptions. Each carries a one-line message meant for the user; the CLI
prints it and exits with the class's exit status.

A message names options as the Python API spells them (`hidden`, `init_from`) and lists them
in `options`; the command line shows them as its flags (`--hidden`, `--init-from`), see
`for_command_line`.
"""

from __future__ import annotations

import re


class CharrnnError(Exception):
    """Base class: a problem the user can act on. `exit_code` is the process status;
    `options` are the option names the message mentions."""

    exit_code = 1

    def __init__(self, message: str, *, options: tuple[str, ...] = ()):
        super().__init__(message)
        self.options = tuple(options)

    def for_command_line(self) -> str:
        """The message with every option it names written as a command-line flag."""
        message = str(self)
        for name in self.options:
            flag = "--" + name.replace("_", "-")
            message = re.sub(rf"(?<![\w-]){re.escape(name)}(?!\w)", flag, message)
        return message


class ConfigError(CharrnnError):
    """An invalid option or combination of options."""

    exit_code = 2


def option_error(option: str, message: str) -> ConfigError:
    """ConfigError for one option: "`option` `message`", naming it."""
    return ConfigError(f"{option} {message}", options=(option,))


class InputError(CharrnnError):
    """Text input that cannot be used: missing, empty, binary, not UTF-8, too short."""

    exit_code = 3


class CheckpointError(CharrnnError):
    """A checkpoint that cannot be read, is corrupt, or does not fit the request."""

    exit_code = 4


class TrainingError(CharrnnError):
    """Training cannot continue (e.g. the loss keeps diverging)."""

    exit_code = 5


class ProcessLostError(TrainingError):
    """A process of a distributed run died or stopped answering: the others cannot go on."""


class OutputError(CharrnnError):
    """Results cannot be written (full disk, unwritable directory, a run in use)."""

    exit_code = 6
