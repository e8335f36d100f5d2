"""charrnn: character-level recurrent language models (RNN, LSTM, GRU) on the CPU.

    import charrnn

    run = charrnn.train("corpora/plays.txt", hidden=128, time="60s", name="demo", seed=1)
    model = charrnn.load("demo")
    for piece in model.generate("DUKE", length=400, temperature=0.8, seed=1):
        print(piece, end="", flush=True)
    print(model.score("DUKE: Good morrow.\\n"))

Importing charrnn is light (neither NumPy nor Numba is imported); the first call that needs
the numeric core prepares it, and compiles its kernels once per machine (the `charrnn` logger
says so at INFO level).
"""

from . import events
from ._version import __version__
from .errors import CharrnnError, CheckpointError, ConfigError, InputError, OutputError, TrainingError
from .events import StopTraining
from .generate.language_model import LanguageModel, load
from .training.session import Run, dry_run, train

__all__ = [
    "train", "dry_run", "Run", "load", "LanguageModel", "events", "StopTraining",
    "CharrnnError", "ConfigError", "InputError", "CheckpointError", "TrainingError", "OutputError", "__version__",
]
