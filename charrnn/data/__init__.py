"""Ids and batches: a corpus encoded once into an id cache, memory-mapped by training (idcache.py), and
the ids cut into training and validation and laid out as B streams of windows (batches.py).

Nothing is imported here: each module is imported by what needs it, so `import charrnn` stays light.
"""
