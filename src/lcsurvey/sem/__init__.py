"""A lavaan-compatible SEM engine: model syntax, structure, likelihoods, optimiser, fit
measures, standard errors, standardisation, defined parameters, bootstrap, multiple groups.

It knows nothing of surveys: it imports nothing from lcsurvey but lcsurvey.errors.
The package itself imports nothing, so that `lcsurvey.sem.syntax` stays light.
"""
