"""The project's exceptions. Each carries a one-line message meant for the user;
the CLI prints it and exits with the class's exit status."""


class CharrnnError(Exception):
    """Base class: a problem the user can act on. `exit_code` is the process status."""

    exit_code = 1


class ConfigError(CharrnnError):
    """An invalid option or combination of options."""

    exit_code = 2


class InputError(CharrnnError):
    """Text input that cannot be used: missing, empty, binary, not UTF-8, too short."""

    exit_code = 3


class CheckpointError(CharrnnError):
    """A checkpoint that cannot be read, is corrupt, or does not fit the request."""

    exit_code = 4


class TrainingError(CharrnnError):
    """Training cannot continue (e.g. the loss keeps diverging)."""

    exit_code = 5


class OutputError(CharrnnError):
    """Results cannot be written (full disk, unwritable directory)."""

    exit_code = 6
