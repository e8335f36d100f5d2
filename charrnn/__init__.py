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

__version__ = "0.1.0"

from . import events  # noqa: E402
from .errors import CharrnnError, CheckpointError, ConfigError, InputError, OutputError, TrainingError  # noqa: E402
from .events import StopTraining  # noqa: E402
from .language_model import LanguageModel, load  # noqa: E402
from .training import Run, dry_run, train  # noqa: E402

__all__ = [
    "train", "dry_run", "Run", "load", "LanguageModel", "events", "StopTraining",
    "CharrnnError", "ConfigError", "InputError", "CheckpointError", "TrainingError", "OutputError", "__version__",
]
