"""Text out: a trained model loaded as a LanguageModel (language_model.py) that generates and scores
text; generation's options, checked once (options.py); generation as an iterator of ids (sampler.py);
what a model predicts symbol by symbol (predictions.py); a score per record, many at a time (record_scoring.py).

Nothing is imported here: each module is imported by what needs it, so `import charrnn` stays light.
"""
