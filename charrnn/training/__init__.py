"""Training: the options `train` takes (options.py, config.py), the planning of a run (plan.py) and its
running (loop.py), both called by session.py's train() and dry_run(); the Trainer's steps (trainer.py,
optim.py; torch_engine.py on PyTorch), what a time budget buys (recipe.py), what a run costs
(estimate.py), what a checkpoint records of its run (record.py), samples while training (samples.py).

Nothing is imported here: each module is imported by what needs it, so `import charrnn` stays light.
"""
