"""The rule a time budget chooses the model and its training by (charrnn/training/recipe.py), on
speeds given by hand; and its use by `train` and `dry_run` when no size is given."""

import pytest

import charrnn
from charrnn.runs import model_file
from charrnn.training import recipe
from support import write_plays

# chars/s per size, as a 2-core machine with bf16 units measured them
FAST = {(1, 128): 300_000, (2, 128): 190_000, (2, 256): 80_000, (2, 384): 38_000, (2, 512): 30_000,
        (2, 768): 9_000, (2, 1024): 6_000}
# and as one AVX2 core (AMD Zen 1) without bf16 measured them: about 20 times slower
SLOW = {size: rate / 20 for size, rate in FAST.items()}


def params(layers, hidden, vocab=65):
    """An LSTM's weights: embedding, per layer four gates' input and recurrent weights and two
    biases, the head."""
    return vocab * hidden + layers * (4 * hidden * 2 * hidden + 8 * hidden) + hidden * vocab + vocab


def probe(record, speeds=FAST):
    def speed(layers, hidden):
        record.append((layers, hidden))
        return speeds[layers, hidden]
    return speed


def test_the_largest_size_that_buys_enough_steps_is_chosen_and_no_larger_one_is_timed():
    probed = []
    chosen = recipe.choose(600, 100_000_000, probe(probed), params, {})
    # 600 s at 30k chars/s in 32 x 64 windows: 8,789 steps; 2x768 would get 2,636
    assert (chosen.options["layers"], chosen.options["hidden"]) == (2, 512)
    assert chosen.steps == 30_000 * 600 // (32 * 64)
    assert chosen.options["schedule"] == "cosine" and chosen.options["ema"] == recipe.EMA
    assert probed == [(1, 128), (2, 128), (2, 256), (2, 384), (2, 512), (2, 768)]


def test_a_short_budget_gets_the_smallest_size_whatever_it_buys():
    probed = []
    chosen = recipe.choose(5, 1_000_000, probe(probed), params, {})
    assert (chosen.options["layers"], chosen.options["hidden"]) == (1, 128) and chosen.steps < recipe.MIN_STEPS
    assert probed == [(1, 128), (2, 128)]
    assert chosen.options["ema"] == 0.0  # too few steps for an average not to lag


# steps bought = chars/s x seconds / 2,048 chars a step; the largest size buying 3,000 wins
@pytest.mark.parametrize("seconds, size", [(30, (1, 128)), (60, (1, 128)), (120, (1, 128)), (600, (1, 128)),
                                           (1800, (2, 256)), (3600, (2, 384))])
def test_a_slow_machine_gets_a_model_small_enough_to_learn_in_its_budget(seconds, size):
    chosen = recipe.choose(seconds, 1_000_000, probe([], SLOW), params, {})
    assert (chosen.options["layers"], chosen.options["hidden"]) == size


@pytest.mark.parametrize("seconds, size", [(30, (1, 128)), (60, (2, 128)), (120, (2, 256)), (600, (2, 512)),
                                           (3600, (2, 1024))])
def test_a_fast_machine_gets_the_largest_size_that_buys_its_steps(seconds, size):
    chosen = recipe.choose(seconds, 100_000_000, probe([]), params, {})
    assert (chosen.options["layers"], chosen.options["hidden"]) == size
    assert chosen.steps >= recipe.MIN_STEPS


@pytest.mark.parametrize("chars, size", [(20_000, (1, 128)), (43_500, (1, 128)), (60_000, (2, 128)),
                                         (1_000_000, (2, 512)), (2_000_000, (2, 768))])
def test_a_text_gets_no_more_weights_than_it_can_hold(chars, size):
    """An hour buys a fast machine 2x1024's steps, but a small text is learnt by heart first."""
    probed = []
    chosen = recipe.choose(3600, chars, probe(probed), params, {})
    assert (chosen.options["layers"], chosen.options["hidden"]) == size
    assert params(*size) <= recipe.PARAMS_PER_CHAR * chars or size == recipe.SIZES[0]
    assert probed[-1] == size  # a size with too many weights is not even timed


def test_a_longer_budget_buys_a_larger_model():
    for speeds in (FAST, SLOW):
        sizes = [recipe.choose(seconds, 1_000_000, probe([], speeds), params, {})
                 for seconds in (30, 60, 600, 1800, 3600)]
        weights = [(c.options["layers"], c.options["hidden"]) for c in sizes]
        assert weights == sorted(weights, key=list(FAST).index) and weights[0] != weights[-1]


@pytest.mark.parametrize("epochs, dropout", [(0.5, 0.0), (1.0, 0.0), (2.0, 0.1), (8.0, recipe.MAX_DROPOUT),
                                             (50.0, recipe.MAX_DROPOUT)])
def test_dropout_rises_with_the_passes_over_the_text(epochs, dropout):
    assert recipe.dropout_for(epochs) == pytest.approx(dropout)


def test_a_larger_text_gets_less_dropout():
    small = recipe.choose(600, 1_000_000, probe([]), params, {})
    large = recipe.choose(600, 100_000_000, probe([]), params, {})
    assert small.epochs > 1 > large.epochs
    assert small.options["dropout"] > 0 and large.options["dropout"] == 0


def test_options_given_stay_and_the_window_given_counts_in_the_steps():
    given = dict(dropout=0.05, schedule="constant", ema=0.0, batch=64, seq=128)
    chosen = recipe.choose(600, 1_000_000, probe([]), params, given)
    assert chosen.options["dropout"] == 0.05 and chosen.options["schedule"] == "constant"
    assert chosen.options["ema"] == 0.0
    # four times the characters a step: 2x384 buys 38k * 600 / 8192 = 2,783 steps, under MIN_STEPS
    assert (chosen.options["layers"], chosen.options["hidden"]) == (2, 256)


def test_the_choice_is_described_in_one_line():
    line = recipe.choose(600, 1_000_000, probe([]), params, {}).describe()
    assert "LSTM 2x512" in line and "dropout 0.3" in line and "cosine" in line and "8789 steps" in line


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 40_000)


def test_a_time_budget_without_a_size_chooses_one_and_says_so(corpus, tmp_path):
    said = []
    run = charrnn.train(corpus, time="1s", batch=4, seq=16, threads=1, out=str(tmp_path / "r"), progress=False,
                        on_event=lambda e: said.append(e.message) if isinstance(e, charrnn.events.Notice) else None)
    assert run.recipe is not None and run.recipe.startswith("for 1s: LSTM ")
    assert any(message.startswith(run.recipe) for message in said)
    config = model_file.read_model(run.latest).config
    meta = model_file.read_model(run.latest).meta
    assert (config.layers, config.hidden) in recipe.SIZES
    assert f"LSTM {config.layers}x{config.hidden}" in run.recipe
    assert meta["train"]["schedule"] == "cosine" and meta["train"]["warmup"] > 0
    assert meta["train"]["ema"] == 0.0  # a second buys too few steps for an average
    assert run.summary()["recipe"] == run.recipe


@pytest.mark.parametrize("options", [dict(hidden=16), dict(layers=1), dict(steps=3), dict(epochs=0.01)])
def test_a_size_or_a_budget_in_steps_leaves_the_defaults(corpus, options):
    report = charrnn.dry_run(corpus, **{"time": "1s", "batch": 4, "seq": 16, "threads": 1, **options})
    assert report["recipe"] is None


def test_the_dry_run_shows_the_choice(corpus):
    report = charrnn.dry_run(corpus, time="1s", batch=4, seq=16, threads=1, dropout=0.2)
    assert report["recipe"].startswith("for 1s: LSTM ") and "dropout 0.2" in report["recipe"]
    assert f"{report['layers']}x{report['hidden']}" in report["recipe"]
