"""lcsurvey: the Learning Communities survey pipeline (cleaning, scales, models, report)."""

__version__ = "0.1.0"
