"""Runs on disk: run folders (rundir.py), the checkpoint file format (checkpoint.py), a checkpoint read
for its model (model_file.py), PyTorch's names both ways (export.py), loss plots (plot.py).

Nothing is imported here: each module is imported by what needs it, so `import charrnn` stays light.
"""
