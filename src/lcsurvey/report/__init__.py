"""The report layer: the two-pager's content, figures, HTML and PDF rendering, publishing.

Imports the study and survey layers; the package itself imports nothing, so that the
rendering steps (lcsurvey.report.render) start without pandas.
"""
