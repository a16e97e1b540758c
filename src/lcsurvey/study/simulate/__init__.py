"""Seeded simulator of the Learning Communities survey, with known true values.

The repo ships synthetic survey waves so that the pipeline runs out of the box and its
estimates can be checked against the values that generated the data. The package holds

* ``population``: the population model (``default_truth()`` / ``TRUTH``): a latent learning
  climate with a community random effect, three climate facets, psychological safety, learning
  behaviour, perceived learning, network gain, support from the home organisation, knowledge
  transfer with a latent interaction, four motives and a main-motive choice, and the background
  mix of ~25 communities. Every structural value is standardised (latent variances are 1).
  ``simulate_population(n, rng)``: clean respondents (latent-keyed item answers, background and
  the latent true scores ``true_*``), used for power analysis and parameter recovery.
* ``mess``: ``make_wave(...)``, one raw survey export as a DataFrame, with the real-world mess
  that the cleaning stage must handle (previews, refusals, partials, duplicates, speeders,
  straightliners, random responders, failed attention checks, out-of-range values, missing
  answers, free text and PII) at the rates of ``MESS_RATES`` and ``MISSING_MODEL``.
* ``writers``: a Qualtrics CSV export (three header rows, Dutch choice text) and an SPSS .sav
  export (numeric codes with Dutch value labels).
* ``questionnaire``: the question columns, scales and labels, read from ``data/codebook.yaml``
  so that simulator and codebook cannot drift apart.
* ``levels``: the study's two-level transfer model on the construct scores and its true
  (population) values within and between communities, written into TRUTH.yaml.
* here: ``generate()`` and ``main()`` (the ``lcsurvey-simulate`` command, also
  ``python -m lcsurvey.study.simulate``) that write the bundled waves plus ``TRUTH.yaml``, or
  one extra wave.

All randomness flows from ``numpy.random.SeedSequence``; nothing reads the clock, and
regenerating gives byte-identical files (the .sav header's creation stamp is overwritten with a
fixed value).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import yaml

from lcsurvey.digest import sha256_file
from lcsurvey.study.simulate import levels
from lcsurvey.study.simulate.mess import _simulate_wave, make_wave
from lcsurvey.study.simulate.population import (
    DEFAULT_SEED,
    default_truth,
    simulate_population,
    to_plain,
    with_between,
)
from lcsurvey.study.simulate.questionnaire import (
    consent_yes,
    instrument,
    labels_nl,
    read_codebook,
    scale_range,
)
from lcsurvey.study.simulate.writers import STATUS_CODES, write_qualtrics_csv, write_sav

__all__ = [
    "BUNDLED_WAVES",
    "DEFAULT_SEED",
    "default_truth",
    "generate",
    "main",
    "make_wave",
    "simulate_population",
    "with_between",
]

# The two bundled waves: id -> (file name, rows written). Rows include previews and duplicates.
BUNDLED_WAVES: dict[str, tuple[str, int]] = {
    "2021-12": ("wave_2021-12.csv", 400),
    "2022-06": ("wave_2022-06.sav", 300),
}


# --------------------------------------------------------------------------------------------
# Bundled files
# --------------------------------------------------------------------------------------------


def _panel_correlations(w1: pd.DataFrame, w2: pd.DataFrame) -> dict[str, float]:
    link = w1.merge(w2, on="person", suffixes=("_w1", "_w2"))
    pairs = [
        ("perceived_learning", "perceived_learning"),
        ("knowledge_transfer", "knowledge_transfer"),
        ("perceived_learning", "knowledge_transfer"),
        ("climate", "climate"),
        ("psychological_safety", "psychological_safety"),
    ]
    return {
        f"{a}_w1__{b}_w2": round(
            float(np.corrcoef(link[f"true_{a}_w1"], link[f"true_{b}_w2"])[0, 1]), 3
        )
        for a, b in pairs
    }


BETWEEN_KEYS = ("n_communities", "climate_icc", "residual_icc", "paths")


def generate(
    out_dir: str | Path,
    seed: int = DEFAULT_SEED,
    codebook_path: str | Path | None = None,
    between: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the bundled waves (2021-12 as Qualtrics CSV, 2022-06 as SPSS .sav) and TRUTH.yaml.

    Returns the truth dict that was written. Wave 2 re-invites the finished, consenting persons
    of wave 1; about 60% return with the same ExternalReference. ``between``: another
    between-community part (keys of ``BETWEEN_KEYS``, as ``with_between``); the two-level
    model's true values are then derived anew (about 30 s).
    """
    codebook = read_codebook(codebook_path)
    truth = default_truth(seed)
    if between:
        unknown = sorted(set(between) - set(BETWEEN_KEYS))
        if unknown:
            raise ValueError(f"between part: unknown keys {unknown}; expected {BETWEEN_KEYS}")
        truth = with_between(truth, **between)
        values = levels.population_values(truth)
        truth["transfer_levels"] = levels.describe(values, levels.SCENARIO_TRUTH, bundled=False)
    else:
        # Population values of the study's two-level model, derived once (levels.main) for
        # the default population model; TRUTH.yaml states how.
        truth["transfer_levels"] = levels.describe(levels.TRUTH, levels.SCENARIO_TRUTH)
    (id1, (file1, n1)), (id2, (file2, n2)) = BUNDLED_WAVES.items()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w1 = _simulate_wave(id1, n1, seed, codebook, truth)
    write_qualtrics_csv(w1.raw, out / file1, codebook)
    completers = w1.persons[w1.persons["kind"] != "no_consent"]
    completers = completers[~completers["kind"].eq("partial")]
    next_code = int(w1.persons["person"].str[3:].astype(int).max()) + 1
    w2 = _simulate_wave(id2, n2, seed, codebook, truth, previous=completers, first_person=next_code)
    write_sav(w2.raw, out / file2, codebook, id2)
    truth["waves"] = {
        # The SHA-256 of each file written: how the pipeline recognises the simulator's files
        # (lcsurvey.survey.pseudonym.simulator_made), the only ones the public key may serve.
        id1: {
            "file": file1,
            "sha256": sha256_file(out / file1),
            "format": "qualtrics csv",
            **w1.counts,
        },
        id2: {
            "file": file2,
            "sha256": sha256_file(out / file2),
            "format": "spss sav",
            "invited_from_previous": int(len(completers)),
            **w2.counts,
        },
    }
    truth["panel"]["realised_correlations"] = _panel_correlations(w1.persons, w2.persons)
    with open(out / "TRUTH.yaml", "w", encoding="utf-8", newline="\n") as fh:
        fh.write("# True values behind the synthetic waves; written by lcsurvey-simulate.\n")
        yaml.safe_dump(to_plain(truth), fh, sort_keys=False, allow_unicode=True, width=100)
    return truth


def _read_previous(path: Path, codebook: Mapping[str, Any]) -> pd.DataFrame:
    """Persons (code, PII, background codes) who finished a previous wave file (.csv or .sav)."""
    if path.suffix.lower() == ".sav":
        df, _ = pyreadstat.read_sav(str(path))
        back = {}
        for q in instrument(codebook):
            for name in q.wave_columns.values():
                if name in df.columns:
                    back[name] = q.column
        df = df.rename(columns=back)
        preview = df["Status"] == STATUS_CODES["Survey Preview"]
        finished = df["Finished"] == 1
    else:
        df = pd.read_csv(
            path, skiprows=[1, 2], dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
        for spec in codebook["background"].values():
            lab = labels_nl(codebook, spec["scale"])
            col = spec["column"]
            if lab:
                inv = {v: k for k, v in lab.items()}
                df[col] = df[col].map(
                    lambda s, inv=inv: inv.get(s, pd.to_numeric(s, errors="coerce"))
                )
            df[col] = pd.to_numeric(df[col], errors="coerce")
        preview = df["Status"] == "Survey Preview"
        finished = df["Finished"] == "True"
    consent = codebook["meta"]["consent"]["column"]
    yes = consent_yes(codebook)
    label_yes = labels_nl(codebook, codebook["meta"]["consent"]["scale"])[yes]
    answer = df[consent].astype(str).replace({label_yes: str(yes)})
    ok = ~preview & finished & (df["ExternalReference"].astype(str) != "")
    ok &= pd.to_numeric(answer, errors="coerce") == yes
    df = df[ok].drop_duplicates("ExternalReference", keep="first")
    persons = pd.DataFrame({"person": df["ExternalReference"].astype(str).to_numpy()})
    for c in codebook["pii"]:
        persons[c] = df[c].to_numpy()
    for key, spec in codebook["background"].items():
        if key == "main_motive":
            continue
        lo, hi = scale_range(codebook, spec["scale"])
        v = pd.to_numeric(df[spec["column"]], errors="coerce").to_numpy()
        persons[key] = np.where((v >= lo) & (v <= hi), v, np.nan)
    # Fill unknown background with a plausible value so the returners can be simulated.
    fill = {
        "age": 45,
        "gender": 2,
        "months": 12,
        "community": 1,
        "sector": 1,
        "org_size": 3,
        "role": 1,
    }
    for k, v in fill.items():
        persons[k] = persons[k].fillna(v).astype(int)
    return persons


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``lcsurvey-simulate --out data/raw [--seed S]`` writes the bundled files;
    ``--wave ID --n N --format csv|sav [--previous PATH]`` writes one extra wave instead."""
    p = argparse.ArgumentParser(prog="lcsurvey-simulate", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="data/raw", help="output directory (default data/raw)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--codebook", default=None, help="codebook path (default: the repo's)")
    p.add_argument(
        "--between",
        type=Path,
        default=None,
        help="YAML file with another between-community part for the bundled waves: "
        "n_communities, climate_icc, residual_icc {construct: ICC}, paths {construct: "
        "{cause: level-2 coefficient}}",
    )
    p.add_argument("--wave", help="write one extra wave with this id (e.g. 2023-01)")
    p.add_argument("--n", type=int, default=300, help="rows of the extra wave")
    p.add_argument("--format", choices=["csv", "sav"], default="csv")
    p.add_argument(
        "--previous",
        type=Path,
        default=None,
        help="an earlier wave file whose finished respondents may return",
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.wave is None:
        between = None
        if args.between is not None:
            between = yaml.safe_load(args.between.read_text(encoding="utf-8")) or {}
            if not isinstance(between, dict):
                p.error(f"--between {args.between}: expected a mapping of {BETWEEN_KEYS}")
        try:
            truth = generate(out, args.seed, args.codebook, between)
        except ValueError as exc:
            p.error(f"--between {args.between}: {exc}")
        for info in truth["waves"].values():
            print(f"wrote {out / info['file']}: {info['rows']} rows")
        print(f"wrote {out / 'TRUTH.yaml'}")
        return 0
    codebook = read_codebook(args.codebook)
    previous = _read_previous(args.previous, codebook) if args.previous else None
    first = 1
    if previous is not None and len(previous):
        first = int(previous["person"].str.extract(r"(\d+)")[0].astype(int).max()) + 1
    wave = _simulate_wave(
        args.wave, args.n, args.seed, codebook, previous=previous, first_person=first
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"wave_{args.wave}.{args.format}"
    if args.format == "csv":
        write_qualtrics_csv(wave.raw, path, codebook)
    else:
        write_sav(wave.raw, path, codebook, args.wave)
    counts_path = out / f"TRUTH_{args.wave}.yaml"
    with open(counts_path, "w", encoding="utf-8", newline="\n") as fh:
        yaml.safe_dump(
            to_plain(
                {
                    "wave": args.wave,
                    "seed": args.seed,
                    "file": path.name,
                    "sha256": sha256_file(path),
                    "note": "population model as in TRUTH.yaml; returners get fresh "
                    "true scores when read from a file",
                    **wave.counts,
                }
            ),
            fh,
            sort_keys=False,
            allow_unicode=True,
        )
    print(f"wrote {path}: {wave.counts['rows']} rows; counts in {counts_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
