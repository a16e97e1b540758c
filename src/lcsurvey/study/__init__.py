"""The study layer: analyses of one wave, waves compared, power analysis, the simulator.

Imports the survey layer and lcsurvey.sem, never the report or pipeline layers.
"""
