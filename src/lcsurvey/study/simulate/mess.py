"""One raw survey wave with the real-world mess the cleaning stage must handle.

Previews, refusals, partials, duplicates, speeders, straightliners, random responders, failed
attention checks, out-of-range values, missing answers (MAR), free text and PII, each at the
rate of MESS_RATES / MISSING_MODEL (documented in data/raw/README.md; the realised counts per
wave go to TRUTH.yaml).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from lcsurvey.study.simulate.population import (
    default_truth,
    simulate_population,
)
from lcsurvey.study.simulate.questionnaire import (
    Question,
    consent_yes,
    instrument,
    labels_nl,
    question_order,
    read_codebook,
    scale_range,
)

# --------------------------------------------------------------------------------------------
# Raw waves with mess
# --------------------------------------------------------------------------------------------

FIRST_NAMES = [
    "Anne",
    "Bram",
    "Charlotte",
    "Daan",
    "Eva",
    "Femke",
    "Gijs",
    "Hanna",
    "Iris",
    "Jeroen",
    "Karin",
    "Lars",
    "Marieke",
    "Niels",
    "Olga",
    "Pieter",
    "Renée",
    "Sanne",
    "Thijs",
    "Ursula",
    "Vera",
    "Willem",
    "Yara",
    "Zoë",
    "Anouk",
    "Bas",
    "Chloë",
    "Dirk",
    "Esther",
    "Frank",
    "Ilse",
    "Joost",
    "Lotte",
    "Mohamed",
    "Noor",
    "Priya",
    "Ruud",
    "Sofie",
    "Tim",
    "Wouter",
]
LAST_NAMES = [
    "de Vries",
    "Jansen",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "Kok",
    "Jacobs",
    "Haddou",
    "Yilmaz",
    "van Dijk",
    "Koster",
    "Prins",
    "Huisman",
]
DOMAINS = {
    1: ["gemeente-zwolle.nl", "rws.nl", "provincie-gelderland.nl", "minvenw.nl"],
    2: ["bouwbedrijf-devries.nl", "techniekhuis.nl", "greenpower.com", "kpn.com", "gmail.com"],
    3: ["hanze.nl", "windesheim.nl", "hu.nl", "roc-midden.nl", "student.hva.nl"],
    4: ["humanitas.nl", "natuurmonumenten.nl", "stichting-zorgsaam.nl", "outlook.com"],
}
COMMENTS = [
    "Heel inspirerend, ik heb veel geleerd van de andere deelnemers.",
    "Ideeën van andere organisaties waren erg bruikbaar in mijn eigen team.",
    "Het café na afloop was een goede plek om verder te praten.",
    "Graag meer tijd voor reflectie; de bijeenkomsten waren soms te vol.",
    "Mijn leidinggevende had weinig belangstelling voor wat ik meebracht, jammer.",
    'De samenwerking met het MKB verliep "stroef", maar het werd beter.',
    "Te veel nadruk op theorie.\nMeer praktijkvoorbeelden graag.",
    "Financiële ruimte om het geleerde in te voeren ontbreekt nog.",
    "Geëngageerde begeleider, échte aanrader!",
    "Reünie volgend jaar? Dan kunnen we zien wat er van de plannen terecht is gekomen.",
    "Goed georganiseerd. Coördinatie tussen de hogeschool en de gemeente kan beter.",
    "Ik vond het lastig om in mijn organisatie tijd vrij te maken.",
]


@dataclass
class Wave:
    """One simulated wave: the raw export, the persons behind it, and its mess counts."""

    wave_id: str
    raw: pd.DataFrame  # canonical raw column names, numeric codes, one row per response
    persons: pd.DataFrame  # one row per genuine person: person code, PII, background, true_*
    counts: dict[str, Any]


def _wave_number(wave_id: str) -> int:
    digits = re.sub(r"\D", "", wave_id)
    return int(digits) if digits else sum(map(ord, wave_id))


def wave_start(wave_id: str) -> datetime:
    m = re.fullmatch(r"(\d{4})-(\d{2})", wave_id)
    if m:
        return datetime(int(m.group(1)), int(m.group(2)), 1, 0, 0, 0)
    return datetime(2023, 1, 1)


def _response_id(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = np.array(list(string.ascii_letters + string.digits))
    return ["R_" + "".join(rng.choice(alphabet, 15)) for _ in range(n)]


def _pii(rng: np.random.Generator, sector: np.ndarray) -> pd.DataFrame:
    n = len(sector)
    first = rng.choice(FIRST_NAMES, n)
    last = rng.choice(LAST_NAMES, n)
    emails = []
    for f, ln, s in zip(first, last, sector, strict=True):
        dom = rng.choice(DOMAINS[int(s)])
        local = f"{f}.{ln.replace(' ', '')}".lower()
        local = local.replace("é", "e").replace("ë", "e")
        emails.append(f"{local}@{dom}")
    first_octet = rng.choice([31, 77, 84, 86, 145, 188, 213], n)
    ip = [
        f"{a}.{b}.{c}.{d}"
        for a, b, c, d in zip(
            first_octet,
            rng.integers(0, 256, n),
            rng.integers(0, 256, n),
            rng.integers(1, 255, n),
            strict=True,
        )
    ]
    return pd.DataFrame(
        {
            "RecipientLastName": last,
            "RecipientFirstName": first,
            "RecipientEmail": emails,
            "IPAddress": ip,
            # Around the Netherlands, to four decimals as Qualtrics writes them.
            "LocationLatitude": np.round(rng.uniform(51.35, 53.35, n), 4),
            "LocationLongitude": np.round(rng.uniform(3.7, 7.0, n), 4),
        }
    )


def _blocks(qs: Sequence[Question]) -> list[list[Question]]:
    """Questionnaire blocks: one per question number (Q6_1..Q6_12 is one block)."""
    out: dict[int, list[Question]] = {}
    for q in qs:
        out.setdefault(question_order(q.column)[0], []).append(q)
    return [out[k] for k in sorted(out)]


def _raw_answer(q: Question, latent_keyed: np.ndarray, codebook: Mapping[str, Any]) -> np.ndarray:
    lo, hi = scale_range(codebook, q.scale)
    return (lo + hi - latent_keyed) if q.reverse else latent_keyed


def _simulate_wave(
    wave_id: str,
    n: int,
    seed: int,
    codebook: Mapping[str, Any],
    truth: Mapping[str, Any] | None = None,
    previous: pd.DataFrame | None = None,
    first_person: int = 1,
) -> Wave:
    truth = default_truth() if truth is None else truth
    rates = truth["mess_rates"]
    rng = np.random.default_rng(np.random.SeedSequence([seed, _wave_number(wave_id)]))
    qs = instrument(codebook)
    blocks = _blocks(qs)

    n_preview = round(rates["preview"] * n)
    n_dup = round(rates["duplicate"] * n)
    n_persons = n - n_preview - n_dup

    # Persons: returners from the previous wave (same person code and PII) plus newcomers.
    n_return = 0
    if previous is not None and len(previous):
        share = truth["panel"]["returner_share"]
        n_return = min(round(share * len(previous)), round(0.8 * n_persons))
        back = previous.iloc[np.sort(rng.choice(len(previous), n_return, replace=False))]
        has_truth = any(c.startswith("true_") for c in back.columns)
        if has_truth:
            ret = simulate_population(n_return, rng, truth, previous=back)
        else:
            # A previous export without true scores: keep identity and background only.
            ret = simulate_population(n_return, rng, truth)
            for c in ("community", "sector", "org_size", "role", "age", "gender", "months"):
                if c in back.columns:
                    ret[c] = back[c].to_numpy()
        ret["person"] = back["person"].to_numpy()
        pii_cols = [c for c in codebook["pii"] if c in back.columns]
        ret = pd.concat([ret, back[pii_cols].reset_index(drop=True)], axis=1)
        ret["returner"] = True
    new = simulate_population(n_persons - n_return, rng, truth)
    new["person"] = [f"LC-{first_person + i:04d}" for i in range(len(new))]
    new = pd.concat([new, _pii(rng, new["sector"].to_numpy())], axis=1)
    new["returner"] = False
    persons = pd.concat([ret, new], ignore_index=True) if n_return else new
    if n_return:
        # A returner may answer from another network location this time.
        fresh = _pii(rng, persons["sector"].to_numpy())
        for c in ("IPAddress", "LocationLatitude", "LocationLongitude"):
            persons[c] = fresh[c]

    # Mess types are exclusive per person; counts are fixed shares of the persons.
    kinds = ["no_consent", "partial", "speeder", "straightliner", "random", "attention_fail"]
    n_kind = {k: round(rates[k] * n_persons) for k in kinds}
    labels = np.concatenate(
        [
            np.repeat(kinds, [n_kind[k] for k in kinds]),
            np.repeat("clean", n_persons - sum(n_kind.values())),
        ]
    )
    persons["kind"] = rng.permutation(labels)

    # Raw answers (canonical columns, numeric codes); NaN = empty.
    raw = pd.DataFrame(index=range(n_persons))
    for q in qs:
        if q.role == "item":
            raw[q.column] = _raw_answer(q, persons[q.key].to_numpy(), codebook).astype(float)
        elif q.role == "background":
            raw[q.column] = persons[q.key].astype(float)
        elif q.role == "attention":
            raw[q.column] = float(codebook["attention_checks"][q.key]["expected"])
        elif q.role == "consent":
            raw[q.column] = float(consent_yes(codebook))
        elif q.role == "free_text":
            raw[q.column] = ""
    kind = persons["kind"].to_numpy()
    agree_qs = [
        q for q in qs if q.role in ("item", "attention") and q.scale in ("agree5", "agree7")
    ]
    likert_qs = [q for q in qs if q.role in ("item", "attention")]

    # Random responders and speeders answer uniformly at random (speeders click through).
    rand = np.isin(kind, ["random", "speeder"])
    for q in likert_qs:
        lo, hi = scale_range(codebook, q.scale)
        raw.loc[rand, q.column] = rng.integers(lo, hi + 1, int(rand.sum())).astype(float)
    # Straightliners give one answer to every agree item, ignoring the wording.
    sl = kind == "straightliner"
    level = rng.choice([3, 4, 5], int(sl.sum()), p=[0.3, 0.45, 0.25])
    for q in agree_qs:
        raw.loc[sl, q.column] = (level if q.scale == "agree5" else level + (level - 3)).astype(
            float
        )
    # Attentive otherwise, but the attention check answered wrongly.
    for q in (q for q in qs if q.role == "attention"):
        af = kind == "attention_fail"
        raw.loc[af, q.column] = rng.choice([2, 3, 5], int(af.sum()), p=[0.2, 0.4, 0.4]).astype(
            float
        )

    # Missing answers, MAR on age and organisation size.
    mm = truth["missing"]
    logit = (
        special.logit(mm["base_rate"])
        + mm["per_decade_of_age"] * (persons["age"] - 45) / 10
        + mm["small_org"] * (persons["org_size"] <= 2)
    )
    p_miss = special.expit(logit.to_numpy())
    item_cols = [q.column for q in qs if q.role == "item"]
    miss = rng.random((n_persons, len(item_cols))) < p_miss[:, None]
    miss[np.isin(kind, ["straightliner", "random", "speeder"])] = False  # they answer everything
    minus99 = miss & (rng.random(miss.shape) < mm["minus99_share"])
    values = raw[item_cols].to_numpy()
    values[miss] = np.nan
    values[minus99] = -99.0
    raw[item_cols] = values
    bg_cols = [codebook["background"][k]["column"] for k in ("age", "gender", "months")]
    bg_miss = rng.random((n_persons, len(bg_cols))) < mm["background_rate"]
    bgv = raw[bg_cols].to_numpy()
    bgv[bg_miss] = np.nan
    raw[bg_cols] = bgv

    # Free-text comments from some completers.
    free_col = next(q.column for q in qs if q.role == "free_text")
    has_comment = (kind != "no_consent") & (rng.random(n_persons) < rates["comment"])
    raw.loc[has_comment, free_col] = rng.choice(COMMENTS, int(has_comment.sum()))

    # Progress, refusals and partials: everything after the consent / drop-off block is empty.
    progress = np.full(n_persons, 100)
    finished = np.ones(n_persons, dtype=bool)
    all_cols = [q.column for q in qs]
    consent_col = codebook["meta"]["consent"]["column"]
    nc = kind == "no_consent"
    raw.loc[nc, [c for c in all_cols if c != consent_col]] = np.nan
    raw.loc[nc, free_col] = ""
    no_code = next(
        k
        for k in labels_nl(codebook, codebook["meta"]["consent"]["scale"])
        if k != consent_yes(codebook)
    )
    raw.loc[nc, consent_col] = float(no_code)
    for i in np.flatnonzero(kind == "partial"):
        last = int(rng.integers(1, len(blocks) - 3))  # completed blocks 0..last
        later = [q.column for b in blocks[last + 1 :] for q in b]
        for c in later:
            raw.at[i, c] = "" if c == free_col else np.nan
        progress[i] = round(100 * (last + 1) / len(blocks))
        finished[i] = False

    # Durations (seconds), dates and identifiers.
    median = 780.0
    duration = np.exp(rng.normal(np.log(median), 0.45, n_persons))
    duration[kind == "speeder"] = median * rng.uniform(0.08, 0.22, int((kind == "speeder").sum()))
    duration[nc] = rng.uniform(8, 40, int(nc.sum()))
    part = kind == "partial"
    duration[part] = duration[part] * progress[part] / 100
    start0 = wave_start(wave_id)
    day = np.minimum(rng.gamma(1.2, 3.5, n_persons), 20.5)
    hour = rng.uniform(7.5, 22.5, n_persons)
    start = [
        start0 + timedelta(seconds=int(d) * 86400 + int(h * 3600))
        for d, h in zip(np.floor(day), hour, strict=True)
    ]
    dur = np.round(duration).astype(int)
    end = [s + timedelta(seconds=int(d)) for s, d in zip(start, dur, strict=True)]
    # Unfinished responses are recorded when Qualtrics closes them, a week after the start.
    recorded = [
        s + timedelta(days=7) if not f else e for s, e, f in zip(start, end, finished, strict=True)
    ]

    meta = pd.DataFrame(
        {
            "StartDate": start,
            "EndDate": end,
            "Status": "IP Address",
            "IPAddress": persons["IPAddress"],
            "Progress": progress,
            "Duration (in seconds)": dur,
            "Finished": finished,
            "RecordedDate": recorded,
            "ResponseId": _response_id(rng, n_persons),
            "RecipientLastName": persons["RecipientLastName"],
            "RecipientFirstName": persons["RecipientFirstName"],
            "RecipientEmail": persons["RecipientEmail"],
            "ExternalReference": persons["person"],
            "LocationLatitude": persons["LocationLatitude"],
            "LocationLongitude": persons["LocationLongitude"],
            "DistributionChannel": "email",
            "UserLanguage": "NL",
        }
    )
    rows = pd.concat([meta, raw], axis=1)

    # Duplicates: a clean completer submits again 1-3 days later with a few answers changed.
    clean_idx = np.flatnonzero(kind == "clean")
    dup_src = np.sort(rng.choice(clean_idx, n_dup, replace=False))
    dups = rows.iloc[dup_src].copy()
    later = rng.uniform(1, 3, n_dup)
    dups["StartDate"] = [
        s + timedelta(seconds=int(x * 86400)) for s, x in zip(dups["StartDate"], later, strict=True)
    ]
    new_dur = np.round(dups["Duration (in seconds)"].to_numpy() * rng.uniform(0.6, 1.1, n_dup))
    dups["Duration (in seconds)"] = new_dur.astype(int)
    dups["EndDate"] = [
        s + timedelta(seconds=int(d)) for s, d in zip(dups["StartDate"], new_dur, strict=True)
    ]
    dups["RecordedDate"] = dups["EndDate"]
    dups["ResponseId"] = _response_id(rng, n_dup)
    for q in likert_qs:
        lo, hi = scale_range(codebook, q.scale)
        v = dups[q.column].to_numpy()
        change = (rng.random(n_dup) < 0.12) & (v >= lo)
        step = rng.choice([-1, 1], n_dup)
        dups[q.column] = np.where(change, np.clip(v + step, lo, hi), v)

    # Survey previews by the research team: random answers, no identity.
    prev = rows.iloc[:0].copy().reindex(range(n_preview))
    for q in qs:
        if q.role in ("item", "attention", "background"):
            lo, hi = scale_range(codebook, q.scale)
            prev[q.column] = rng.integers(
                lo, min(hi, 25 if q.key == "community" else hi) + 1, n_preview
            ).astype(float)
    prev[consent_col] = float(consent_yes(codebook))
    prev[free_col] = ["test" if i == 0 else "" for i in range(n_preview)]
    pstart = [start0 + timedelta(days=-2, hours=10 + 2 * i) for i in range(n_preview)]
    pdur = rng.integers(60, 600, n_preview)
    prev["StartDate"] = pstart
    prev["EndDate"] = [s + timedelta(seconds=int(d)) for s, d in zip(pstart, pdur, strict=True)]
    prev["RecordedDate"] = prev["EndDate"]
    prev["Status"] = "Survey Preview"
    prev["Progress"] = 100
    prev["Duration (in seconds)"] = pdur
    prev["Finished"] = True
    prev["ResponseId"] = _response_id(rng, n_preview)
    for c in (
        "IPAddress",
        "RecipientLastName",
        "RecipientFirstName",
        "RecipientEmail",
        "ExternalReference",
    ):
        prev[c] = ""
    prev["LocationLatitude"] = np.nan
    prev["LocationLongitude"] = np.nan
    prev["DistributionChannel"] = "preview"
    prev["UserLanguage"] = "NL"

    rows = pd.concat([rows, dups, prev], ignore_index=True)

    # A few impossible numbers typed into numeric fields (by clean completers).
    oor_plan = [("age", 150.0), ("age", 4.0), ("months", 999.0), ("useful", 11.0)]
    col_of = {q.key: q.column for q in qs}
    kind_full = np.concatenate(
        [kind, np.repeat("duplicate", n_dup), np.repeat("preview", n_preview)]
    )
    candidates = np.setdiff1d(np.flatnonzero(kind_full == "clean"), dup_src)
    targets = rng.choice(candidates, len(oor_plan), replace=False)
    out_of_range = []
    for (key, value), r in zip(oor_plan, targets, strict=True):
        rows.at[r, col_of[key]] = value
        out_of_range.append({"column": col_of[key], "item": key, "value": value})

    # Qualtrics lists responses in the order they were recorded.
    order = np.argsort(np.array(rows["RecordedDate"], dtype="datetime64[s]"), kind="stable")
    rows = rows.iloc[order].reset_index(drop=True)
    kind_full = kind_full[order]

    # Item non-response among finished, consenting, genuine rows (the rate the MAR model sets).
    done = (kind_full != "preview") & rows["Finished"].astype(bool).to_numpy()
    done &= rows[consent_col].to_numpy() == consent_yes(codebook)
    answered = rows.loc[done, item_cols]
    counts = {
        "rows": int(len(rows)),
        "persons": int(n_persons),
        "returners": int(n_return),
        "newcomers": int(n_persons - n_return),
        "preview": int(n_preview),
        "duplicate": int(n_dup),
        **{k: int(n_kind[k]) for k in kinds},
        "clean": int((kind == "clean").sum()),
        "finished_consented_persons": int(((kind != "no_consent") & finished).sum()),
        "attention_check_wrong_total": int(
            (
                rows.loc[kind_full != "preview", col_of["att1"]].notna()
                & (
                    rows.loc[kind_full != "preview", col_of["att1"]]
                    != codebook["attention_checks"]["att1"]["expected"]
                )
            ).sum()
        ),
        "finished_rows_item_cells": int(answered.size),
        "finished_rows_item_cells_empty": int(answered.isna().sum().sum()),
        "finished_rows_item_cells_minus99": int((answered == -99).sum().sum()),
        "item_missing_share_finished": round(
            float((answered.isna() | (answered == -99)).to_numpy().mean()), 4
        ),
        "comments": int((rows[free_col].fillna("") != "").sum()),
        "out_of_range": out_of_range,
    }
    return Wave(wave_id, rows, persons, counts)


def make_wave(
    wave_id: str,
    n: int,
    seed: int,
    codebook: Mapping[str, Any] | None = None,
    truth: Mapping[str, Any] | None = None,
    previous: pd.DataFrame | None = None,
    first_person: int = 1,
) -> pd.DataFrame:
    """One raw survey wave with real-world mess, ``n`` rows in all.

    Columns are the canonical raw names of the codebook (``column``; the writers apply a
    wave's ``wave_columns``), Qualtrics metadata first. Answers are numeric codes (NaN =
    empty, -99 = the codebook's missing code), negatively worded items as the respondent
    ticked them (reversed). ``previous``: earlier respondents who may return (about
    ``truth['panel']['returner_share']`` of them), a DataFrame with ``person`` (the
    ExternalReference), PII and background columns and, optionally, ``true_*`` scores; newcomers
    are numbered from ``first_person``. The mess counts are in ``df.attrs['counts']``.
    """
    codebook = read_codebook() if codebook is None else codebook
    wave = _simulate_wave(wave_id, n, seed, codebook, truth, previous, first_person)
    wave.raw.attrs["counts"] = wave.counts
    return wave.raw
