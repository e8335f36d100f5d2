"""The model: its shape (config.py), the network over a window with its flat parameter buffer
(network.py, on the kernels in ../kernels), and the scoring of a text as one stream (scoring.py).

Nothing is imported here: each module is imported by what needs it, so `import charrnn` stays light.
"""
