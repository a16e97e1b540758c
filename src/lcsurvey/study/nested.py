"""Likelihood-ratio tests between configured models declared nested (config.yaml ``nested:``).

A researcher compares a model with a restricted version of it (a path fixed at zero, two
paths equal): lavaan's ``lavTestLRT(general, restricted)``. Both models are fitted per wave by
the model rule; this module reads their fit measures and tests the difference
(:func:`lcsurvey.sem.fit_measures.nested_models_test`). Whether one model really is nested in
the other is the researcher's claim, as in lavaan; what can be checked from the fits is: both
estimated, on the same respondents, the restricted model with more degrees of freedom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lcsurvey.sem.fit_measures import nested_models_test

__all__ = ["NESTED_COLUMNS", "nested_table"]

# fit.csv's estimator of items as ordered categories (lcsurvey.sem.wlsmv_tables)
ORDINAL_ESTIMATORS = ("WLSMV", "ULSMV")

NESTED_COLUMNS = [
    "restricted",
    "general",
    "ntotal",
    "chisq_restricted",
    "df_restricted",
    "chisq_general",
    "df_general",
    "delta_chisq",
    "delta_df",
    "delta_pvalue",
    "delta_method",
    "note",
]


def _row(fit: pd.DataFrame | None) -> dict | None:
    if fit is None or fit.empty:
        return None
    row = fit.iloc[0].to_dict()
    return {k: (float(v) if isinstance(v, int | float | np.number) else v) for k, v in row.items()}


def nested_table(
    pairs: Sequence[Mapping[str, str]], fits: Mapping[str, pd.DataFrame | None]
) -> pd.DataFrame:
    """One row per declared pair: both models' chi-square and df, and the test of the
    difference (delta_chisq, delta_df, delta_pvalue, delta_method), or a note saying why
    there is none (a model not estimated, different respondents, not fewer free parameters).

    ``pairs``: ``{"restricted": name, "general": name}`` each; ``fits``: each model's fit.csv
    (one row, or none when the model was not estimated).
    """
    rows = []
    for pair in pairs:
        restricted, general = pair["restricted"], pair["general"]
        r, g = _row(fits.get(restricted)), _row(fits.get(general))
        row = {"restricted": restricted, "general": general}
        missing = [name for name, fit in ((restricted, r), (general, g)) if fit is None]
        if missing:
            row["note"] = "not estimated in this wave: " + ", ".join(missing)
            rows.append(row)
            continue
        row.update(
            ntotal=r.get("ntotal"),
            chisq_restricted=r["chisq"],
            df_restricted=r["df"],
            chisq_general=g["chisq"],
            df_general=g["df"],
        )
        if r.get("ntotal") != g.get("ntotal"):
            row["note"] = (
                f"not comparable: {restricted} was fitted to {r.get('ntotal'):.0f} respondents, "
                f"{general} to {g.get('ntotal'):.0f} (nested models need the same rows)"
            )
        elif ordinal := [
            name
            for name, fit in ((restricted, r), (general, g))
            if str(fit.get("estimator", "")).upper() in ORDINAL_ESTIMATORS
        ]:
            # lavTestLRT's default for these estimators (Satorra 2000, scaled and shifted)
            # needs both models' Jacobians and weight matrices, which fit.csv does not hold;
            # a difference of the scaled statistics is not chi-square distributed.
            row["note"] = (
                f"no difference test: {', '.join(ordinal)} fitted by "
                f"{r.get('estimator')}/{g.get('estimator')} (lavaan's test for ordered "
                "categories, Satorra 2000, needs the models themselves)"
            )
        elif not r["df"] > g["df"]:
            row["note"] = (
                f"not nested: {restricted} has {r['df']:.0f} degrees of freedom, not more than "
                f"{general}'s {g['df']:.0f}"
            )
        else:
            row.update(nested_models_test(r, g))
            row["note"] = ""
        rows.append(row)
    return pd.DataFrame(rows, columns=NESTED_COLUMNS)
