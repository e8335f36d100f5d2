"""The cells' one-step updates for generation, chosen by a code (Numba cannot take a function
as a cached kernel's argument): the one place generation tells the cells apart."""

from .gru import gru_step
from .jit import kernel
from .lstm import lstm_step
from .rnn import rnn_step

CELL_CODES = {"rnn": 0, "lstm": 1, "gru": 2}


@kernel
def cell_step(code, h, c, gx, gh, keep_h, keep_c):
    """Update h (and c, for the LSTM) (B, Hq) in place from the gate pre-activations gx and gh
    (B, G*Hq) of the cell `code` (CELL_CODES), with the zoneout rates keep_h and keep_c."""
    if code == 1:
        lstm_step(h, c, gx, gh, keep_h, keep_c)
    elif code == 2:
        gru_step(h, gx, gh, keep_h)
    else:
        rnn_step(h, gx, gh)
