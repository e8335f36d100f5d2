"""Text in: reading files, directories and streams (sources.py) as characters or bytes (units.py), the
vocabulary that maps symbols to ids (vocab.py), input cut into records for `charrnn score` (records.py),
and the public corpora charrnn can download (corpora.py).

Nothing is imported here: each module is imported by what needs it, so `import charrnn` stays light.
"""
