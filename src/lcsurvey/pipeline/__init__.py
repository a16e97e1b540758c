"""Glue between the Snakemake rules and the package: logging, clean exits, writing tables."""
