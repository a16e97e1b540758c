"""Fit one configured model to one wave: estimates.csv, fit.csv, intervals.csv, bootstrap.csv,
modindices.csv, method_variance.csv and status.csv; a model the data do not allow leaves the
other tables empty and says why in status.csv (the job still succeeds).

A model with `level: 1` / `level: 2` blocks is a two-level model, fitted by
lcsurvey.sem.twolevel with estimation.cluster as its cluster variable; its tables are
described in lcsurvey.sem.twolevel_tables. The construct scores it names are joined to the
responses by rid (lcsurvey.survey.model_scores; the rule then has input `scores`).

Under estimation.estimator wlsmv or ulsmv a model with ordinal variables is fitted with its
items as ordered categories by lcsurvey.survey.ordinal.fit_ordinal (tables:
lcsurvey.sem.wlsmv_tables); a model without any (e.g. one of scale scores) by ML as configured,
and a two-level model with ordinal variables is not estimated (lcsurvey.survey.ordinal.route)."""

import warnings

import pandas as pd
from threadpoolctl import threadpool_limits

from lcsurvey.pipeline.runner import round_significant, script_log, warnings_to_log, write_csv
from lcsurvey.sem.estimability import (
    NotEstimated,
    check_admissible,
    respondents_needed,
    status_row,
    status_table,
)
from lcsurvey.sem.method_variance import empty_table, method_variance_table
from lcsurvey.sem.model import bootstrap_estimates, fit_model, not_estimated_tables
from lcsurvey.sem.modindices import MODINDICES_COLUMNS, modification_indices
from lcsurvey.sem.syntax import parse_model
from lcsurvey.sem.twolevel import fit_twolevel
from lcsurvey.sem.twolevel_bootstrap import bootstrap_twolevel
from lcsurvey.sem.twolevel_syntax import parse_twolevel
from lcsurvey.sem.twolevel_tables import (
    bootstrap_plan,
    twolevel_not_estimated_tables,
    twolevel_status,
    twolevel_status_table,
    twolevel_tables,
)
from lcsurvey.survey.clusters import resolve
from lcsurvey.survey.model_scores import join_scores
from lcsurvey.survey.ordinal import OrdinalItems, fit_ordinal, route

# The common-method numbers that go to the log (the rest is in method_variance.csv).
LOGGED = ("first_component_share", "estimated", "admissible", "method_share_mean")

# estimation.missing in the two-level engine's words (lavaan's missing = "ml").
TWOLEVEL_MISSING = {"fiml": "ml", "listwise": "listwise"}


def fit_two_levels(sm, responses, log) -> None:
    """Fit a two-level model and write the rule's tables (see the module docstring); a model
    the data do not allow (no cluster variable, ...) gets a "not estimated" status row."""
    name = sm.params.model
    spec = parse_twolevel(sm.params.syntax, name=name)
    scores = getattr(sm.input, "scores", None)
    if scores:
        names = [v for v in spec.observed if v not in responses.columns]
        with warnings_to_log(log):
            responses = join_scores(responses, pd.read_parquet(scores), names, name=name)
        log.info("construct scores joined to the responses by rid: %s", ", ".join(names))
    clustering = resolve(responses, sm.params.cluster)
    clustering.log_to(log)
    needed = respondents_needed(len(spec.observed))
    try:
        if not clustering.active:
            raise NotEstimated(
                name,
                "no_cluster",
                n=len(responses),
                detail=(clustering.problem or "estimation.cluster is not set")
                + "; set estimation.cluster to the column of the cleaned data that holds each "
                "respondent's cluster (e.g. the community), with at least two clusters, or "
                "remove the level: blocks",
            )
        with warnings_to_log(log):
            fitted = fit_twolevel(
                spec,
                responses,
                clustering.variable,
                name=name,
                missing=TWOLEVEL_MISSING[sm.params.missing],
            )
    except NotEstimated as err:
        log.warning("%s; its tables are left empty", err.message)
        tables = twolevel_not_estimated_tables()
        status = err.status_row()
    else:
        fit = fitted.fit.iloc[0]
        log.info(
            "fitted two-level model %s on %d rows in %d clusters of %s",
            name,
            int(fit["ntotal"]),
            int(fit["nclusters"]),
            clustering.variable,
        )
        skipped = bootstrap_plan(fitted, sm.params.bootstrap, sm.params.bootstrap_max_n)
        drawn = None
        if skipped:
            log.info("no cluster bootstrap: %s", skipped)
        else:
            # the bootstrap fits the model once more: its warnings are those above
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                drawn = bootstrap_twolevel(
                    spec,
                    responses,
                    clustering.variable,
                    missing=TWOLEVEL_MISSING[sm.params.missing],
                    draws=sm.params.bootstrap,
                    seed=sm.params.seed,
                    threads=sm.threads,
                    name=name,
                )
            row = drawn[1].iloc[0]
            log.info(
                "bootstrap (%s, resampling %d clusters of %s): %d of %d draws converged, %d failed",
                row["method"],
                row["clusters"],
                clustering.variable,
                row["draws_ok"],
                row["draws_requested"],
                row["draws_failed"],
            )
        tables = twolevel_tables(
            fitted,
            missing=sm.params.missing,
            seed=sm.params.seed,
            bootstrap=drawn,
            skipped=skipped,
        )
        status = twolevel_status(fitted, name, needed)
        if status["detail"]:
            log.warning("two-level model %s is %s", name, status["detail"])
    log.info("no modification indices or common-method checks for two-level models")
    tables |= {
        "modindices": pd.DataFrame(columns=MODINDICES_COLUMNS),
        "method_variance": empty_table(),
    }
    for key, table in tables.items():
        write_csv(table, getattr(sm.output, key))
    write_csv(twolevel_status_table([status]), sm.output.status)


def fit_ordered(sm, responses, log) -> None:
    """Fit a model's ordinal items by WLSMV/ULSMV and write the rule's tables, or a status row
    saying why the model is not estimated."""
    name = sm.params.model
    clustering = resolve(responses, sm.params.cluster)
    try:
        with warnings_to_log(log):
            fitted = fit_ordinal(
                responses,
                sm.params.syntax,
                OrdinalItems.from_params(sm.params.ordered),
                name=name,
                estimator=sm.params.estimator,
                missing=sm.params.missing,
                ordinal_missing=sm.params.ordinal_missing,
                cluster=clustering.variable if clustering.active else None,
                seed=sm.params.seed,
            )
    except NotEstimated as err:
        log.warning("%s; its tables are left empty", err.message)
        tables = not_estimated_tables() | {"method_variance": empty_table()}
        status = err.status_row()
    else:
        for note in fitted.notes:
            log.info(note)
        tables, status = fitted.tables, fitted.status
    for key, table in tables.items():
        write_csv(table, getattr(sm.output, key))
    write_csv(status_table([status]), sm.output.status)


# Snakemake gives BLAS the rule's threads, which are meant for the bootstrap's processes;
# threaded BLAS on these small matrices changes the last bits of the estimates between runs.
with script_log(snakemake.log[0]) as log, threadpool_limits(limits=1):  # noqa: F821
    sm = snakemake  # noqa: F821
    responses = pd.read_parquet(sm.input.responses)
    path, why = route(
        sm.params.syntax,
        sm.params.estimator,
        OrdinalItems.from_params(sm.params.ordered),
        name=sm.params.model,
    )
    if why:
        log.info(why)
    if path == "not_estimated":
        log.warning("model %r not estimated: %s; its tables are left empty", sm.params.model, why)
        for key, table in (not_estimated_tables() | {"method_variance": empty_table()}).items():
            write_csv(table, getattr(sm.output, key))
        write_csv(
            status_table([status_row(sm.params.model, False, reason="not_supported", detail=why)]),
            sm.output.status,
        )
    elif path == "twolevel":
        fit_two_levels(sm, responses, log)
    elif path == "ordinal":
        fit_ordered(sm, responses, log)
    else:
        needed = respondents_needed(
            len(parse_model(sm.params.syntax, name=sm.params.model).observed)
        )
        clustering = resolve(responses, sm.params.cluster)
        clustering.log_to(log)
        try:
            settings = {
                "missing": sm.params.missing,
                "se": sm.params.se,
                "information": sm.params.information,
                "cluster": clustering.variable if clustering.active else None,
            }
            with warnings_to_log(log):
                fitted = fit_model(sm.params.syntax, responses, name=sm.params.model, **settings)
            check_admissible(sm.params.model, fitted.estimates, len(fitted.data))
        except NotEstimated as err:
            log.warning("%s; its tables are left empty", err.message)
            tables = not_estimated_tables() | {"method_variance": empty_table()}
            status = err.status_row()
        else:
            log.info("fitted %s on %d rows", sm.params.model, len(fitted.data))
            intervals, summary = bootstrap_estimates(
                fitted,
                sm.params.bootstrap,
                sm.params.seed,
                workers=sm.threads,
                max_n=sm.params.bootstrap_max_n,
            )
            row = summary.iloc[0]
            if row["method"].startswith("none (monte carlo"):
                log.info(
                    "no bootstrap: %d rows is more than estimation.bootstrap_max_n = %d; the "
                    "defined effects get Monte Carlo CIs (%d draws) instead",
                    len(fitted.data),
                    sm.params.bootstrap_max_n,
                    sm.params.bootstrap,
                )
            else:
                log.info(
                    "bootstrap (%s, resampling %s): %d of %d draws converged, %d failed",
                    row["method"],
                    f"{row['clusters']} clusters of {clustering.variable}"
                    if row["resampling"] == "clusters"
                    else "rows",
                    row["draws_ok"],
                    row["draws_requested"],
                    row["draws_failed"],
                )
            with warnings_to_log(log):
                method = method_variance_table(
                    fitted, responses, name=sm.params.model, markers=sm.params.markers, **settings
                )
            for r in method[
                (method["lhs"] == "") & (method["statistic"].isin(LOGGED))
            ].itertuples():
                log.info(
                    "common-method check %s: %s = %.3f %s", r.check, r.statistic, r.value, r.note
                )
            tables = {
                "estimates": fitted.estimates,
                "fit": fitted.fit,
                "intervals": intervals,
                "bootstrap": summary,
                # Eight significant digits: byte-identical reruns (semopy's parameter order varies).
                "modindices": round_significant(modification_indices(fitted)),
                "method_variance": method,
            }
            status = status_row(sm.params.model, True, n=len(fitted.data), needed=needed)
        for name, table in tables.items():
            write_csv(table, getattr(sm.output, name))
        write_csv(status_table([status]), sm.output.status)
