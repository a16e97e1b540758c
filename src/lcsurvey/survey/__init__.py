"""The survey layer: codebook, reading raw exports, cleaning, pseudonyms, scales, measurement.

Imports lcsurvey.sem and the foundation modules (errors, digest, schema), never the study,
report or pipeline layers.
"""
