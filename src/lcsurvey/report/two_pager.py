"""The two-pager: results tables in, a Dutch/English report out (notebook -> HTML -> PDF).

Every number in the report is computed here from the results of the earlier stages; the
notebook only calls these functions, the nbconvert template only lays out their HTML.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from lcsurvey.errors import InputError
from lcsurvey.report.render import (  # noqa: F401  (the rendering steps, also reached through here)
    FONT_DIR,
    PDF_FONTS,
    TEMPLATE_NAME,
    TEMPLATES_DIR,
    TITLE,
    _write_atomically,
    build_pdf_fonts,
    execute_notebook,
    render_html,
    render_pdf,
    render_report,
    write_index,
)
from lcsurvey.study.analyses import mean_ci, merge_small_cells, wilson_ci
from lcsurvey.survey.io import sha256_file as file_sha256

LANGUAGES = ("nl", "en")

MOTIVES = ("motive_knowledge", "motive_network", "motive_labour", "motive_societal")
CLIMATE = ("facilitation", "appreciation", "error_avoidance", "psychological_safety")
# The verdicts of results/{wave}/models/motives.csv -> the keys of the verdict texts below.
VERDICT_KEYS = {"motive": "is", "not a motive": "not", "undecided": "undecided"}
BACKGROUND_TABLES = ("sector", "org_size")
SIGNIFICANCE = 0.05
CONFIDENCE = 0.95

# Colours for print: one dark accent and greys, so that nothing depends on colour alone.
INK = "#1d2b3a"
ACCENT = "#1f4e79"
GREY = "#7a7a7a"
LIGHT = "#d9d9d9"

# --------------------------------------------------------------------------------------------
# Words. Every string the reader sees, in both languages.
# --------------------------------------------------------------------------------------------

TEXT: dict[str, dict[str, str]] = {
    "nl": {
        "kicker": "Tweepager voor de praktijk",
        "title": TITLE["nl"],
        "subtitle": "Wat drijft deelnemers, wat helpt hen leren en wat nemen zij mee terug naar "
        "de eigen organisatie?",
        "key_messages": "Kernboodschappen voor de praktijk",
        "who": "Wie deden mee",
        "why": "Waarom doen mensen mee? Drijfveren",
        "climate": "Leerklimaat",
        "home": "Terug in de eigen organisatie",
        "page2_title": "Zo weten we het",
        "page2_subtitle": "Opzet, metingen en analyse achter de tweepager, meting {wave}.",
        "method": "Opzet",
        "measures": "Schalen en betrouwbaarheid",
        "model": "Model en modelfit",
        "paths": "Paden in het model",
        "motive_tests": "Toetsing van de drijfveren",
        "flow": "Van respons naar analyse",
        "reading": "Leeswijzer",
        "provenance": "Herkomst",
        "software": "Software",
        "n_respondents": "{n} deelnemers",
        "n_communities": "{n} deelnemers uit {k} leer-werkgemeenschappen",
        "who_text": "{n} deelnemers uit {k} leer-werkgemeenschappen vulden de vragenlijst "
        "bruikbaar in.",
        "who_text_nocomm": "{n} deelnemers vulden de vragenlijst bruikbaar in.",
        "flow_line": "Respons: {raw} ingevuld, {kept} bruikbaar.",
        "flow_reasons": "Niet meegeteld: {reasons}.",
        "flow_none": "Alle ingevulde vragenlijsten waren bruikbaar.",
        "suppressed_note": "* Samengevoegd, want kleiner dan {min_cell}: {members}.",
        "merged": "Overige (samengevoegd)*",
        "unknown": "Onbekend",
        "group": "Groep",
        "n": "n",
        "percent": "%",
        "ci": "95%-BI",
        "main_motive": "Belangrijkste drijfveer (één keuze)",
        "motives_caption": "Gemiddelde met 95%-BI; stippellijn = midden van de schaal.",
        "verdict_is": "drijfveer",
        "verdict_not": "geen drijfveer",
        "verdict_undecided": "onbeslist",
        "climate_caption": "Gemiddelde met 95%-BI, elk op de eigen schaal (bereik tussen haakjes).",
        "climate_links": "Samenhang in het model: {links}.",
        "scale_low": "laag",
        "scale_mid": "midden",
        "scale_high": "hoog",
        "lower_is_better": "lager = beter",
        "path_caption": "β = gestandaardiseerde samenhang; * p < 0,05, ** p < 0,01, "
        "*** p < 0,001, n.s. = niet significant (stippellijn).",
        "home_level": "{label}: gemiddeld {m} (95%-BI {l}–{u}; schaal {lo}–{hi}).",
        "design": "Online vragenlijst onder deelnemers van leer-werkgemeenschappen: mensen uit "
        "verschillende organisaties (MKB, overheid, hogeschool en andere) die samen leren. "
        "Eén meetmoment: de uitkomsten tonen samenhang, geen oorzaak en gevolg.",
        "design_n": "Na controle op kwaliteit telden {n} deelnemers mee.",
        "cfa_line": "Meetmodel (CFA van alle schalen samen): χ²({df}) = {chisq}, CFI = {cfi}, "
        "TLI = {tli}, RMSEA = {rmsea}, SRMR = {srmr}.",
        "construct": "Schaal",
        "items": "k",
        "alpha": "α",
        "omega": "ω",
        "range": "bereik",
        "measures_note": "k = aantal items, α = Cronbachs alfa met 95%-BI, ω = McDonalds omega "
        "(totaal); vanaf 0,70 voldoende betrouwbaar.",
        "estimator": "Schatting: {estimator}, ontbrekende antwoorden: {missing}; n = {n}.",
        "missing_fiml": "FIML (alle beschikbare antwoorden tellen mee)",
        "missing_listwise": "alleen deelnemers met alle antwoorden (listwise)",
        "fit_line": "Modelfit: χ²({df}) = {chisq}, CFI = {cfi}, TLI = {tli}, RMSEA = {rmsea} "
        "(90%-BI {rl}–{ru}), SRMR = {srmr}.",
        "fit_good": "De fit is goed (CFI ≥ 0,95, RMSEA ≤ 0,06, SRMR ≤ 0,08).",
        "fit_acceptable": "De fit is acceptabel (CFI ≥ 0,90, RMSEA ≤ 0,08, SRMR ≤ 0,10).",
        "fit_poor": "De fit is matig: lees de paden met extra voorzichtigheid.",
        "path": "Pad",
        "beta": "β",
        "b_ci": "B (95%-BI)",
        "p": "p",
        "mean": "M",
        "t": "t (df)",
        "p_holm": "p (Holm)",
        "verdict": "Oordeel",
        "motive_tests_note": "Eénsteekproef-t-toets tegen het schaalmidden, Holm-correctie voor "
        "vier toetsen. Drijfveer: 95%-BI boven het midden én p (Holm) < 0,05; geen drijfveer: "
        "eronder; anders onbeslist.",
        "reading_text": "95%-BI: betrouwbaarheidsinterval; bij vaak herhaald onderzoek bevat "
        "95% van zulke intervallen de werkelijke waarde. β: gestandaardiseerde samenhang (−1 "
        "tot 1; 0,1 zwak, 0,3 matig, 0,5 sterk). Groepen onder {min_cell} deelnemers worden "
        "niet apart getoond.",
        "prov_data": "Ruwe data (SHA-256)",
        "prov_config": "Configuratie t/m deze meting (SHA-256)",
        "prov_code": "Codeversie (git)",
        "prov_date": "Datum",
        "prov_wave": "Meting",
        "generated": "Automatisch gemaakt met de lcsurvey-pijplijn; elk getal is herleidbaar tot "
        "de resultaattabellen.",
        "sep": "; ",
        "and": " en ",
        "msg_motive_is": "{values} {verb} om mee te doen: boven het midden van de schaal "
        "({mid}). Benoem dat in werving en programma.",
        "msg_is_one": "is duidelijk een drijfveer",
        "msg_is_many": "zijn duidelijk drijfveren",
        "msg_motive_not": "{values} {verb}: onder het midden van de schaal ({mid}).",
        "msg_not_one": "is voor de meeste deelnemers geen drijfveer",
        "msg_not_many": "zijn voor de meeste deelnemers geen drijfveren",
        "msg_motive_undecided": "Of {values} {verb}, blijft open: het interval omvat het "
        "midden van de schaal ({mid}).",
        "msg_undecided_one": "een drijfveer is",
        "msg_undecided_many": "drijfveren zijn",
        "msg_value": "{label} ({m}; 95%-BI {l}–{u})",
        "msg_safety_hint": "Een sfeer waarin men vragen en fouten durft te delen, verdient "
        "dus aandacht.",
        "msg_support_hint": "Betrek de leidinggevende bij wat deelnemers leren.",
        "msg_design": "Het gaat om samenhang op één meetmoment, niet om oorzaak en gevolg.",
        "msg_model_caution": "Let op bij de paden: het model is geschat op {n_model} van de {n} "
        "deelnemers{fit}.",
        "msg_model_fit_poor": " en past matig bij de gegevens",
        "path_sig": "{subj} gaat samen met {obj_dir} (β = {b}{stars}).",
        "path_ns": "{subj} hangt in deze meting niet aantoonbaar samen met {obj} (β = {b}, "
        "niet significant).",
        "more": "more",
        "step_preview": "test",
        "step_previews": "test",
        "step_id": "zonder id",
        "step_outliers": "uitschieters",
        "step_low_variability": "te weinig variatie",
        "step_consent": "geen toestemming",
        "step_progress": "niet afgemaakt",
        "step_duplicates": "dubbel",
        "step_speeders": "te snel",
        "step_attention": "controlevraag fout",
        "step_straightlining": "steeds zelfde antwoord",
        "step_missing": "te veel open",
        "flow_step": "Stap",
        "flow_removed": "uitgesloten",
        "flow_after": "over",
        "flow_raw": "Ruwe export",
        "missing_model": "Het model '{model}' is (nog) niet geschat; paden ontbreken.",
        "moderation_caption": "Voorspelde kennisbenutting bij weinig (−1 SD), gemiddelde en "
        "veel (+1 SD) steun vanuit de eigen organisatie.",
        "moderation_level_-1": "weinig steun\n(−1 SD)",
        "moderation_level_0": "gemiddelde\nsteun",
        "moderation_level_1": "veel steun\n(+1 SD)",
        "moderation_sig_pos": "Hoe meer steun vanuit de eigen organisatie, hoe sterker "
        "leeropbrengst samengaat met kennisbenutting (B = {low} bij weinig, {high} bij veel "
        "steun; p {p}).",
        "moderation_sig_neg": "Bij meer steun vanuit de eigen organisatie gaat leeropbrengst "
        "juist zwakker samen met kennisbenutting (B = {low} bij weinig, {high} bij veel steun; "
        "p {p}).",
        "moderation_ns": "Steun vanuit de eigen organisatie versterkt de samenhang tussen "
        "leeropbrengst en kennisbenutting niet aantoonbaar (B = {low} bij weinig, {high} bij "
        "veel steun; niet significant, p {p}).",
        "indirect_sig": "Via leergedrag en leeropbrengst gaat {subj} ook samen met {obj_dir}: "
        "indirecte samenhang B = {b} (95%-BI {l}–{u}, {method}).",
        "indirect_ns": "Een indirecte samenhang van {obj_from} met {obj}, via leergedrag en "
        "leeropbrengst, is niet aantoonbaar: B = {b} (95%-BI {l}–{u}, {method}; het interval "
        "omvat 0).",
        "via_safety_sig": "Daarvan loopt B = {b} (95%-BI {l}–{u}) via psychologische veiligheid.",
        "via_safety_ns": "Het deel via psychologische veiligheid, B = {b} (95%-BI {l}–{u}), is "
        "niet aantoonbaar.",
        "ci_bca": "bootstrap-BCa",
        "ci_percentile": "bootstrap-percentiel",
        "ci_delta": "deltamethode",
        "indirect_label": "Indirect: leerklimaat → kennisbenutting",
        "via_safety_label": "… waarvan via psych. veiligheid",
        "diversity": "Leerklimaat in meer en minder gemengde gemeenschappen",
        "div_lead": "In gemeenschappen met meer deelnemers uit een andere sector dan de meerderheid",
        "div_higher_one": "is {values} gemiddeld hoger",
        "div_higher_many": "zijn {values} gemiddeld hoger",
        "div_higher_then": "{values} gemiddeld hoger",
        "div_lower_one": "is {values} gemiddeld lager",
        "div_lower_many": "zijn {values} gemiddeld lager",
        "div_lower_then": "{values} gemiddeld lager",
        "div_value": "{label} (B = {b}; 95%-BI {l}–{u})",
        "div_none_one": "{labels} verschilt niet aantoonbaar",
        "div_none_many": "{labels} verschillen niet aantoonbaar",
        "div_all_none": "Leerklimaat en psychologische veiligheid verschillen niet aantoonbaar "
        "tussen meer en minder gemengde gemeenschappen ({k} gemeenschappen).",
        "div_unclear": "Voor {labels} is een verschil onzeker: de twee analyses (met en zonder "
        "multilevelmodel) komen niet tot hetzelfde oordeel.",
        "div_k": "{k} gemeenschappen",
        "div_p_check": "p (multilevel)",
        "div_note": "B = verschil in gemiddelde score tussen 0 en 100% deelnemers uit een "
        "andere sector dan de meerderheid; SE's geclusterd per gemeenschap ({k}; t, {df} df); "
        "controle: random-interceptmodel.",
        "crosswave": "Over de metingen heen",
        "cw_change_up": "{label} lag in {to} gemiddeld hoger dan in {frm} (Δ = {d}; 95%-BI "
        "{l}–{u})",
        "cw_change_down": "{label} lag in {to} gemiddeld lager dan in {frm} (Δ = {d}; 95%-BI "
        "{l}–{u})",
        "cw_none": "Van {frm} naar {to} veranderde geen van de schalen aantoonbaar.",
        "cw_rest": "de andere schalen veranderden niet aantoonbaar",
        "cw_not_comparable": "Niet vergelijkbaar, dus niet geïnterpreteerd: {labels}.",
        "cw_inv_scalar": "De schalen meten in {frm} en {to} hetzelfde (scalaire meetinvariantie: "
        "ΔCFI = {dcfi}, ΔRMSEA = {drmsea}): gemiddelden zijn te vergelijken.",
        "cw_inv_metric": "Tussen {frm} en {to} alleen metrische meetinvariantie (scalair: "
        "ΔCFI = {dcfi}, ΔRMSEA = {drmsea}): verschillen voorzichtig lezen.",
        "cw_inv_none": "Tussen {frm} en {to} geen metrische meetinvariantie (ΔCFI = {dcfi}, "
        "ΔRMSEA = {drmsea}): verschillen in gemiddelden zijn niet te interpreteren.",
        "cw_inv_untested": "Meetinvariantie tussen {frm} en {to} is niet getoetst: lees "
        "verschillen met voorzichtigheid.",
        "cw_diff": "Δ (95%-BI)",
        "cw_comparable": "vergel.",
        "cw_yes": "ja",
        "cw_partly (metric)": "deels",
        "cw_no": "nee",
        "cw_not tested": "n.g.",
        "cw_note": "Δ = gemiddelde {to} min {frm}; vergel. = meetinvariantie (ja: scalair, "
        "deels: metrisch, n.g.: niet getoetst).",
        "cw_suppressed": "Niet getoond, want kleiner dan {min_cell}: {labels}.",
        "planning": "Volgende meting",
    },
    "en": {
        "kicker": "Two-pager for practice",
        "title": TITLE["en"],
        "subtitle": "What drives participants, what helps them learn, and what do they take "
        "back to their own organisation?",
        "key_messages": "Key messages for practice",
        "who": "Who took part",
        "why": "Why do people take part? Motives",
        "climate": "Learning climate",
        "home": "Back in the home organisation",
        "page2_title": "How we know",
        "page2_subtitle": "Design, measures and analysis behind the two-pager, wave {wave}.",
        "method": "Design",
        "measures": "Scales and reliability",
        "model": "Model and model fit",
        "paths": "Paths in the model",
        "motive_tests": "Testing the motives",
        "flow": "From responses to analysis",
        "reading": "How to read",
        "provenance": "Provenance",
        "software": "Software",
        "n_respondents": "{n} participants",
        "n_communities": "{n} participants from {k} learning communities",
        "who_text": "{n} participants from {k} learning communities gave usable answers.",
        "who_text_nocomm": "{n} participants gave usable answers.",
        "flow_line": "Response: {raw} returned, {kept} usable.",
        "flow_reasons": "Not counted: {reasons}.",
        "flow_none": "All returned questionnaires were usable.",
        "suppressed_note": "* Merged, as smaller than {min_cell}: {members}.",
        "merged": "Other (merged)*",
        "unknown": "Unknown",
        "group": "Group",
        "n": "n",
        "percent": "%",
        "ci": "95% CI",
        "main_motive": "Main motive (single choice)",
        "motives_caption": "Mean with 95% CI; dashed line = scale midpoint.",
        "verdict_is": "motive",
        "verdict_not": "not a motive",
        "verdict_undecided": "undecided",
        "climate_caption": "Mean with 95% CI, each on its own scale (range in brackets).",
        "climate_links": "Associations in the model: {links}.",
        "scale_low": "low",
        "scale_mid": "middle",
        "scale_high": "high",
        "lower_is_better": "lower = better",
        "path_caption": "β = standardised association; * p < 0.05, ** p < 0.01, "
        "*** p < 0.001, n.s. = not significant (dotted).",
        "home_level": "{label}: mean {m} (95% CI {l}–{u}; scale {lo}–{hi}).",
        "design": "Online survey among participants of learning communities: people from "
        "different organisations (SMEs, government, universities of applied sciences and "
        "others) who learn together. One measurement: the results show associations, not "
        "cause and effect.",
        "design_n": "After quality checks, {n} participants were analysed.",
        "cfa_line": "Measurement model (CFA of all scales together): χ²({df}) = {chisq}, "
        "CFI = {cfi}, TLI = {tli}, RMSEA = {rmsea}, SRMR = {srmr}.",
        "construct": "Scale",
        "items": "k",
        "alpha": "α",
        "omega": "ω",
        "range": "range",
        "measures_note": "k = number of items, α = Cronbach's alpha with 95% CI, ω = McDonald's "
        "omega (total); from 0.70 sufficiently reliable.",
        "estimator": "Estimation: {estimator}, missing answers: {missing}; n = {n}.",
        "missing_fiml": "FIML (all available answers used)",
        "missing_listwise": "only participants with all answers (listwise)",
        "fit_line": "Model fit: χ²({df}) = {chisq}, CFI = {cfi}, TLI = {tli}, RMSEA = {rmsea} "
        "(90% CI {rl}–{ru}), SRMR = {srmr}.",
        "fit_good": "The fit is good (CFI ≥ 0.95, RMSEA ≤ 0.06, SRMR ≤ 0.08).",
        "fit_acceptable": "The fit is acceptable (CFI ≥ 0.90, RMSEA ≤ 0.08, SRMR ≤ 0.10).",
        "fit_poor": "The fit is poor: read the paths with extra caution.",
        "path": "Path",
        "beta": "β",
        "b_ci": "B (95% CI)",
        "p": "p",
        "mean": "M",
        "t": "t (df)",
        "p_holm": "p (Holm)",
        "verdict": "Verdict",
        "motive_tests_note": "One-sample t-test against the scale midpoint, Holm-corrected for "
        "four tests. Motive: 95% CI above the midpoint and p (Holm) < 0.05; not a motive: below "
        "it; otherwise undecided.",
        "reading_text": "95% CI: confidence interval; over many repeated studies, 95% of such "
        "intervals contain the true value. β: standardised association (−1 to 1; 0.1 weak, "
        "0.3 moderate, 0.5 strong). Groups under {min_cell} participants are not shown "
        "separately.",
        "prov_data": "Raw data (SHA-256)",
        "prov_config": "Configuration up to this wave (SHA-256)",
        "prov_code": "Code version (git)",
        "prov_date": "Date",
        "prov_wave": "Wave",
        "generated": "Generated by the lcsurvey pipeline; every number traces back to the "
        "results tables.",
        "sep": "; ",
        "and": " and ",
        "msg_motive_is": "{values} {verb} to take part: above the scale midpoint ({mid}). "
        "Say so in recruitment and programme.",
        "msg_is_one": "is clearly a motive",
        "msg_is_many": "are clearly motives",
        "msg_motive_not": "{values} {verb}: below the scale midpoint ({mid}).",
        "msg_not_one": "is not a motive for most participants",
        "msg_not_many": "are not motives for most participants",
        "msg_motive_undecided": "Whether {values} {verb} remains open: the interval includes "
        "the scale midpoint ({mid}).",
        "msg_undecided_one": "is a motive",
        "msg_undecided_many": "are motives",
        "msg_value": "{label} ({m}; 95% CI {l}–{u})",
        "msg_safety_hint": "A climate in which people dare to share questions and mistakes "
        "deserves attention.",
        "msg_support_hint": "Involve managers in what participants learn.",
        "msg_design": "These are associations at one point in time, not cause and effect.",
        "msg_model_caution": "Read the paths with care: the model was estimated on {n_model} of "
        "the {n} participants{fit}.",
        "msg_model_fit_poor": " and fits the data poorly",
        "path_sig": "{subj} is associated with {obj_dir} (β = {b}{stars}).",
        "path_ns": "{subj} shows no clear association with {obj} in this survey (β = {b}, "
        "not significant).",
        "step_preview": "test",
        "step_previews": "test",
        "step_id": "no id",
        "step_outliers": "outliers",
        "step_low_variability": "low variability",
        "step_consent": "no consent",
        "step_progress": "not finished",
        "step_duplicates": "duplicate",
        "step_speeders": "too fast",
        "step_attention": "failed check",
        "step_straightlining": "same answer throughout",
        "step_missing": "too many blanks",
        "flow_step": "Step",
        "flow_removed": "excluded",
        "flow_after": "left",
        "flow_raw": "Raw export",
        "missing_model": "The model '{model}' has not been estimated (yet); paths are missing.",
        "moderation_caption": "Predicted knowledge use with little (−1 SD), average and much "
        "(+1 SD) support from the home organisation.",
        "moderation_level_-1": "little support\n(−1 SD)",
        "moderation_level_0": "average\nsupport",
        "moderation_level_1": "much support\n(+1 SD)",
        "moderation_sig_pos": "The more support from the home organisation, the more strongly "
        "perceived learning goes together with knowledge use (B = {low} with little, {high} "
        "with much support; p {p}).",
        "moderation_sig_neg": "With more support from the home organisation, perceived learning "
        "goes together less strongly with knowledge use (B = {low} with little, {high} with "
        "much support; p {p}).",
        "moderation_ns": "Support from the home organisation does not clearly strengthen the "
        "link between perceived learning and knowledge use (B = {low} with little, {high} with "
        "much support; not significant, p {p}).",
        "indirect_sig": "Through learning behaviour and perceived learning, {subj} also goes "
        "together with {obj_dir}: indirect association B = {b} (95% CI {l}–{u}, {method}).",
        "indirect_ns": "An indirect association of {obj_from} with {obj}, through learning "
        "behaviour and perceived learning, is not clear: B = {b} (95% CI {l}–{u}, {method}; "
        "the interval includes 0).",
        "via_safety_sig": "Of this, B = {b} (95% CI {l}–{u}) runs through psychological safety.",
        "via_safety_ns": "The part through psychological safety, B = {b} (95% CI {l}–{u}), is "
        "not clear.",
        "ci_bca": "bootstrap BCa",
        "ci_percentile": "bootstrap percentile",
        "ci_delta": "delta method",
        "indirect_label": "Indirect: learning climate → knowledge use",
        "via_safety_label": "… of which via psych. safety",
        "diversity": "Learning climate in more and less mixed communities",
        "div_lead": "In communities with more members from a sector other than the majority's",
        "div_higher_one": "{values} is higher on average",
        "div_higher_many": "{values} are higher on average",
        "div_higher_then": "{values} higher",
        "div_lower_one": "{values} is lower on average",
        "div_lower_many": "{values} are lower on average",
        "div_lower_then": "{values} lower",
        "div_value": "{label} (B = {b}; 95% CI {l}–{u})",
        "div_none_one": "{labels} does not differ clearly",
        "div_none_many": "{labels} do not differ clearly",
        "div_all_none": "Learning climate and psychological safety do not differ clearly "
        "between more and less mixed communities ({k} communities).",
        "div_unclear": "For {labels} a difference is uncertain: the two analyses (with and "
        "without a multilevel model) do not agree.",
        "div_k": "{k} communities",
        "div_p_check": "p (multilevel)",
        "div_note": "B = difference in mean score between 0 and 100% members from a sector "
        "other than the majority's; SEs clustered by community ({k}; t, {df} df); check: "
        "random-intercept model.",
        "crosswave": "Across waves",
        "cw_change_up": "{label} was higher on average in {to} than in {frm} (Δ = {d}; 95% CI "
        "{l}–{u})",
        "cw_change_down": "{label} was lower on average in {to} than in {frm} (Δ = {d}; 95% CI "
        "{l}–{u})",
        "cw_none": "From {frm} to {to} none of the scales changed clearly.",
        "cw_rest": "the other scales did not change clearly",
        "cw_not_comparable": "Not comparable, so not interpreted: {labels}.",
        "cw_inv_scalar": "The scales measure the same in {frm} and {to} (scalar measurement "
        "invariance: ΔCFI = {dcfi}, ΔRMSEA = {drmsea}): means can be compared.",
        "cw_inv_metric": "Only metric measurement invariance between {frm} and {to} (scalar: "
        "ΔCFI = {dcfi}, ΔRMSEA = {drmsea}): read differences with caution.",
        "cw_inv_none": "No metric measurement invariance between {frm} and {to} (ΔCFI = {dcfi}, "
        "ΔRMSEA = {drmsea}): differences in means cannot be interpreted.",
        "cw_inv_untested": "Measurement invariance between {frm} and {to} was not tested: read "
        "differences with caution.",
        "cw_diff": "Δ (95% CI)",
        "cw_comparable": "compar.",
        "cw_yes": "yes",
        "cw_partly (metric)": "partly",
        "cw_no": "no",
        "cw_not tested": "n.t.",
        "cw_note": "Δ = mean {to} minus {frm}; compar. = measurement invariance (yes: scalar, "
        "partly: metric, n.t.: not tested).",
        "cw_suppressed": "Not shown, as smaller than {min_cell}: {labels}.",
        "planning": "Next wave",
    },
}

# "95%-BI" is one word: a non-breaking hyphen keeps a line from ending in "95%-".
TEXT["nl"] = {key: value.replace("95%-BI", "95%\u2011BI") for key, value in TEXT["nl"].items()}

# The latent factors of the structural model: box label, and noun phrases for sentences
# ("subj" starts a sentence, "more"/"less" end one, "obj" is the neutral form).
FACTORS: dict[str, dict[str, dict[str, str]]] = {
    "climate": {
        "nl": {"short": "Leerklimaat", "box": "Leerklimaat", "subj": "Een beter leerklimaat", "obj": "het leerklimaat",
               "more": "een beter leerklimaat", "less": "een minder goed leerklimaat"},
        "en": {"short": "Learning climate", "box": "Learning climate", "subj": "A better learning climate",
               "obj": "the learning climate", "more": "a better learning climate",
               "less": "a poorer learning climate"},
    },
    "safety": {
        "nl": {"short": "Psych. veiligheid", "box": "Psychologische veiligheid", "subj": "Meer psychologische veiligheid",
               "obj": "psychologische veiligheid", "more": "meer psychologische veiligheid",
               "less": "minder psychologische veiligheid"},
        "en": {"short": "Psych. safety", "box": "Psychological safety", "subj": "More psychological safety",
               "obj": "psychological safety", "more": "more psychological safety",
               "less": "less psychological safety"},
    },
    "learning": {
        "nl": {"short": "Leergedrag", "box": "Leergedrag", "subj": "Meer leergedrag", "obj": "leergedrag",
               "more": "meer leergedrag", "less": "minder leergedrag"},
        "en": {"short": "Learning behaviour", "box": "Learning behaviour", "subj": "More learning behaviour",
               "obj": "learning behaviour", "more": "more learning behaviour",
               "less": "less learning behaviour"},
    },
    "perceived": {
        "nl": {"short": "Leeropbrengst", "box": "Ervaren leeropbrengst", "subj": "Een hogere ervaren leeropbrengst",
               "obj": "de ervaren leeropbrengst", "more": "een hogere ervaren leeropbrengst",
               "less": "een lagere ervaren leeropbrengst"},
        "en": {"short": "Perceived learning", "box": "Perceived learning", "subj": "More perceived learning",
               "obj": "perceived learning", "more": "more perceived learning",
               "less": "less perceived learning"},
    },
    "support": {
        "nl": {"short": "Steun eigen organisatie", "box": "Steun vanuit de eigen organisatie",
               "subj": "Meer steun vanuit de eigen organisatie",
               "obj": "steun vanuit de eigen organisatie",
               "more": "meer steun vanuit de eigen organisatie",
               "less": "minder steun vanuit de eigen organisatie"},
        "en": {"short": "Home support", "box": "Support from the home organisation",
               "subj": "More support from the home organisation",
               "obj": "support from the home organisation",
               "more": "more support from the home organisation",
               "less": "less support from the home organisation"},
    },
    "transfer": {
        "nl": {"short": "Kennisbenutting", "box": "Kennisbenutting in de eigen organisatie",
               "subj": "Meer kennisbenutting in de eigen organisatie",
               "obj": "kennisbenutting in de eigen organisatie",
               "more": "meer kennisbenutting in de eigen organisatie",
               "less": "minder kennisbenutting in de eigen organisatie"},
        "en": {"short": "Knowledge use", "box": "Knowledge use in the home organisation",
               "subj": "More knowledge use in the home organisation",
               "obj": "knowledge use in the home organisation",
               "more": "more knowledge use in the home organisation",
               "less": "less knowledge use in the home organisation"},
    },
}  # fmt: skip

# Where each factor sits in the path diagram (centre, inches from the lower left corner), and
# its box (width, height, characters per line).
PATH_LAYOUT = {
    "climate": (0.92, 2.10),
    "safety": (0.92, 1.64),
    "learning": (0.92, 1.18),
    "perceived": (0.92, 0.72),
    "transfer": (0.92, 0.20),
    "support": (2.62, 0.72),
}
PATH_BOXES = {
    "transfer": (1.66, 0.36, 22),
    "support": (1.36, 0.34, 18),
    "default": (1.66, 0.30, 24),
}


def text(lang: str, key: str, **values: Any) -> str:
    """The string `key` in language `lang`, with `values` filled in."""
    if lang not in TEXT:
        raise InputError(f"unknown report language {lang!r}", expected=f"one of {list(TEXT)}")
    return TEXT[lang][key].format(**values) if values else TEXT[lang][key]


def factor_words(factor: str, lang: str) -> dict[str, str]:
    """Box label and sentence phrases of a model factor; unknown factors fall back to the name."""
    if factor in FACTORS:
        return FACTORS[factor][lang]
    name = factor.replace("_", " ")
    return {"box": name.capitalize(), "short": name.capitalize(), "subj": name.capitalize(), "obj": name,
            "more": f"{'meer' if lang == 'nl' else 'more'} {name}",
            "less": f"{'minder' if lang == 'nl' else 'less'} {name}"}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Numbers as printed.
# --------------------------------------------------------------------------------------------

MINUS = "\u2212"


def fmt_number(value: float, lang: str, digits: int = 2) -> str:
    """A number as printed: fixed digits, decimal comma in Dutch, a true minus sign."""
    if value is None or not np.isfinite(value):
        return "–"
    out = f"{value:.{digits}f}"
    if out.startswith("-") and float(out) == 0:
        out = out[1:]
    if lang == "nl":
        out = out.replace(".", ",")
    return out.replace("-", MINUS)


def fmt_int(value: float) -> str:
    return f"{int(round(value))}"


def fmt_p(p: float, lang: str) -> str:
    """p-value as printed: '< 0.001' below a thousandth, three digits otherwise."""
    if p is None or not np.isfinite(p):
        return "–"
    if p < 0.001:
        return "< " + fmt_number(0.001, lang, 3)
    return fmt_number(p, lang, 3)


def fmt_percent(share: float, lang: str) -> str:
    return fmt_number(100 * share, lang, 0)


def significance_stars(p: float) -> str:
    """'***' for p < .001, '**' for p < .01, '*' for p < .05, '' otherwise."""
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


# --------------------------------------------------------------------------------------------
# Inputs.
# --------------------------------------------------------------------------------------------


@dataclass
class ReportInputs:
    """Everything one wave's report is made from (language-independent)."""

    wave: str
    codebook: dict[str, Any]
    flow: pd.DataFrame
    responses: pd.DataFrame
    reliability: pd.DataFrame
    items: pd.DataFrame
    scores: pd.DataFrame
    estimates: pd.DataFrame | None
    fit: pd.DataFrame | None
    model: str
    min_cell: int
    provenance: dict[str, str] = field(default_factory=dict)
    cfa_fit: pd.DataFrame | None = None
    motives: pd.DataFrame | None = None
    main_motive: pd.DataFrame | None = None
    moderation: pd.DataFrame | None = None
    simple_slopes: pd.DataFrame | None = None
    intervals: pd.DataFrame | None = None
    diversity: pd.DataFrame | None = None
    # Across waves: the configured waves up to and including this one, in config order, and
    # the wave's tables across waves (None when absent or with one wave).
    waves: list[str] = field(default_factory=list)
    means: pd.DataFrame | None = None
    changes: pd.DataFrame | None = None
    invariance: pd.DataFrame | None = None
    power: pd.DataFrame | None = None


def result_paths(results_dir: str | Path, wave: str, model: str) -> dict[str, Path]:
    """The results files one wave's report reads, by name."""
    base = Path(results_dir) / wave
    return {
        "flow": base / "clean" / "flow.csv",
        "responses": base / "clean" / "responses.parquet",
        "reliability": base / "scales" / "reliability.csv",
        "items": base / "scales" / "items.csv",
        "scores": base / "scales" / "scores.parquet",
        "cfa_fit": base / "scales" / "cfa_fit.csv",
        "estimates": base / "models" / model / "estimates.csv",
        "fit": base / "models" / model / "fit.csv",
        "motives": base / "models" / "motives.csv",
        "main_motive": base / "models" / "main_motive.csv",
        "moderation": base / "models" / "moderation.csv",
        "simple_slopes": base / "models" / "simple_slopes.csv",
        "intervals": base / "models" / model / "intervals.csv",
        "diversity": base / "models" / "diversity.csv",
    }


def crosswave_paths(results_dir: str | Path, wave: str) -> dict[str, Path]:
    """A wave's tables across waves: the means of the waves up to and including it, the
    change from the previous wave and the invariance test of those two waves."""
    base = Path(results_dir) / wave / "across"
    return {
        "means": base / "means.csv",
        "changes": base / "changes.csv",
        "invariance": base / "invariance.csv",
    }


def power_path(results_dir: str | Path) -> Path:
    return Path(results_dir) / "power" / "power.csv"


REQUIRED_COLUMNS = {
    "flow": ["step", "n_before", "n_removed", "n_after"],
    "responses": ["rid"],
    "reliability": ["construct", "n_items", "n", "alpha", "alpha_ci_lower", "alpha_ci_upper",
                    "omega_total"],
    "items": ["item", "construct", "n", "mean", "sd"],
    "scores": ["rid"],
    "cfa_fit": ["model", "ntotal", "chisq", "df", "cfi", "tli", "rmsea", "srmr"],
    "estimates": ["lhs", "op", "rhs", "est", "pvalue", "ci_lower", "ci_upper", "std_all"],
    "fit": ["ntotal", "estimator", "missing", "chisq", "df", "cfi", "tli", "rmsea",
            "rmsea_ci_lower", "rmsea_ci_upper", "srmr"],
    "motives": ["construct", "n", "mean", "ci_lower", "ci_upper", "scale_min", "scale_max",
                "midpoint", "t", "df", "p_holm", "verdict"],
    "main_motive": ["category", "n", "share", "ci_lower", "ci_upper", "merged", "members"],
    "moderation": ["term", "est", "se", "pvalue", "ci_lower", "ci_upper", "n"],
    "simple_slopes": ["moderator_level", "moderator_value", "slope", "se", "pvalue", "intercept",
                      "predictor_mean", "predictor_sd"],
    "intervals": ["lhs", "op", "rhs", "est", "ci_lower", "ci_upper", "boot_ci_lower",
                  "boot_ci_upper", "bca_ci_lower", "bca_ci_upper"],
    "diversity": ["outcome", "term", "est", "se", "pvalue", "ci_lower", "ci_upper", "n",
                  "n_clusters", "method"],
    "means": ["construct", "wave", "n", "mean", "sd", "se", "ci_lower", "ci_upper"],
    "changes": ["construct", "wave_from", "wave_to", "n_from", "n_to", "diff", "se", "ci_lower",
                "ci_upper", "pvalue", "test", "comparable"],
    "invariance": ["groups", "group_values", "level", "ntotal", "npar", "chisq", "df", "pvalue",
                   "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "srmr", "aic", "bic",
                   "delta_cfi", "delta_rmsea", "delta_srmr", "decision", "rule"],
    "power": ["effect", "n", "power", "replications"],
}  # fmt: skip
OPTIONAL_TABLES = ("cfa_fit", "estimates", "fit", "moderation", "simple_slopes", "intervals",
                   "diversity")  # fmt: skip


def _read_table(path: Path, name: str, optional: bool = False) -> pd.DataFrame | None:
    if not path.exists():
        if optional:
            return None
        raise InputError(
            f"the {name} table the report needs is missing",
            file=str(path),
            hint="Run the earlier pipeline stages first (snakemake builds them in order)",
        )
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in table.columns]
    if missing:
        raise InputError(
            f"the {name} table lacks the column(s) {missing}",
            file=str(path),
            expected=f"columns {REQUIRED_COLUMNS[name]}",
        )
    return table


def load_codebook(path: str | Path) -> dict[str, Any]:
    """The codebook as a plain mapping (only labels, scales and construct items are used)."""
    path = Path(path)
    if not path.exists():
        raise InputError("the codebook is missing", file=str(path))
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_inputs(
    results_dir: str | Path,
    wave: str,
    codebook: str | Path,
    config_digest: str | None = None,
    data_file: str | Path | None = None,
    model: str = "transfer",
    min_cell: int = 10,
    waves: list[str] | tuple[str, ...] | None = None,
    power_note: bool = False,
) -> ReportInputs:
    """Read a wave's results tables, the codebook and the provenance facts.

    waves: the configured waves in order; the report looks back over those up to and including
    `wave`, and reads the tables across waves only when there is an earlier one. power_note:
    read results/power/power.csv for the note on planning the next wave. config_digest: the
    SHA-256 of the configuration as this wave's report sees it (the provenance footer).
    """
    paths = result_paths(results_dir, wave, model)
    tables = {
        name: _read_table(path, name, optional=name in OPTIONAL_TABLES)
        for name, path in paths.items()
    }
    earlier = [str(w) for w in (waves or [])]
    earlier = earlier[: earlier.index(str(wave)) + 1] if str(wave) in earlier else [str(wave)]
    if len(earlier) > 1:
        tables |= {name: _read_table(path, name, optional=True)
                   for name, path in crosswave_paths(results_dir, str(wave)).items()}  # fmt: skip
    if power_note:
        tables["power"] = _read_table(power_path(results_dir), "power", optional=True)
    return ReportInputs(
        wave=str(wave),
        codebook=load_codebook(codebook),
        model=model,
        min_cell=int(min_cell),
        provenance=provenance(wave, data_file, config_digest),
        waves=earlier,
        **tables,
    )


# --------------------------------------------------------------------------------------------
# Codebook look-ups.
# --------------------------------------------------------------------------------------------


def construct_label(codebook: dict[str, Any], construct: str, lang: str) -> str:
    spec = codebook["constructs"].get(construct, {})
    return spec.get("label", {}).get(lang, construct.replace("_", " "))


def scale_range(codebook: dict[str, Any], scale: str) -> tuple[float, float]:
    """Lowest and highest value of a codebook scale (labelled codes or min/max)."""
    spec = codebook["scales"][scale]
    if spec.get("values"):
        codes = [float(code) for code in spec["values"]]
        return min(codes), max(codes)
    return float(spec["min"]), float(spec["max"])


def construct_range(codebook: dict[str, Any], construct: str) -> tuple[float, float]:
    """Scale range of a construct: the scale of its items (the codebook keeps them equal)."""
    first_item = codebook["constructs"][construct]["items"][0]
    return scale_range(codebook, codebook["items"][first_item]["scale"])


def category_labels(codebook: dict[str, Any], variable: str, lang: str) -> dict[float, str]:
    """Code -> label of a labelled background variable, in `lang`."""
    scale = codebook["scales"][codebook["background"][variable]["scale"]]
    position = LANGUAGES.index(lang)
    return {float(code): labels[position] for code, labels in scale.get("values", {}).items()}


def background_label(codebook: dict[str, Any], variable: str, lang: str) -> str:
    return codebook["background"][variable].get("label", {}).get(lang, variable)


# --------------------------------------------------------------------------------------------
# Statistics.
# --------------------------------------------------------------------------------------------


def construct_scores(
    scores: pd.DataFrame, codebook: dict[str, Any], constructs: tuple[str, ...] | list[str]
) -> pd.DataFrame:
    """Mean score with 95% CI per construct, with the construct's scale range and midpoint."""
    rows = []
    for construct in constructs:
        if construct not in scores.columns:
            continue
        low, high = construct_range(codebook, construct)
        rows.append({"construct": construct, **mean_ci(scores[construct]),
                     "scale_min": low, "scale_max": high, "midpoint": (low + high) / 2})  # fmt: skip
    return pd.DataFrame(rows)


def motive_results(inputs: ReportInputs) -> pd.DataFrame:
    """The motive tests of the analyses stage (motives.csv), with the verdict as a text key.

    The statistics (one-sample t-tests against the midpoint, Holm, the verdict rule) are
    computed by `lcsurvey.study.analyses.motives`; the report only reads them.
    """
    table = inputs.motives
    if table is None or table.empty:
        return pd.DataFrame(columns=["construct", "verdict"])
    table = table[table["construct"].isin(inputs.codebook["constructs"])].copy()
    unknown = sorted(set(table["verdict"]) - set(VERDICT_KEYS))
    if unknown:
        raise InputError(f"the motives table has unknown verdicts {unknown}",
                         expected=f"one of {list(VERDICT_KEYS)}")  # fmt: skip
    table["verdict"] = table["verdict"].map(VERDICT_KEYS)
    return table.reset_index(drop=True)


def category_table(
    responses: pd.DataFrame, codebook: dict[str, Any], variable: str, lang: str, min_cell: int
) -> pd.DataFrame:
    """Counts and shares (with Wilson CIs) of a labelled background variable, small cells merged.

    Missing answers count as a category "unknown", which is merged like any other small cell.
    """
    labels = category_labels(codebook, variable, lang)
    values = pd.to_numeric(responses[variable], errors="coerce")
    named = values.map(labels).astype(object)
    named[values.isna() | named.isna()] = text(lang, "unknown")
    order = [*labels.values(), text(lang, "unknown")]
    counts = named.value_counts().reindex(order, fill_value=0)
    table = merge_small_cells(counts, min_cell)
    total = int(len(values))
    table["label"] = table["label"].fillna(text(lang, "merged"))
    table["share"] = table["n"] / total
    cis = [wilson_ci(int(n), total) for n in table["n"]]
    table["ci_lower"] = [lo for lo, _ in cis]
    table["ci_upper"] = [hi for _, hi in cis]
    return table


def participation(inputs: ReportInputs, lang: str) -> dict[str, Any]:
    """Who took part: N, number of communities, and the sector and size tables."""
    responses = inputs.responses
    out: dict[str, Any] = {"n": int(len(responses)), "communities": None, "tables": {}}
    if "community" in responses.columns:
        communities = pd.to_numeric(responses["community"], errors="coerce").dropna()
        out["communities"] = int(communities.nunique())
    for variable in BACKGROUND_TABLES:
        if variable in responses.columns and variable in inputs.codebook.get("background", {}):
            out["tables"][variable] = category_table(
                responses, inputs.codebook, variable, lang, inputs.min_cell
            )
    return out


def flow_summary(flow: pd.DataFrame) -> dict[str, Any]:
    """Raw rows, kept respondents and the exclusions per step (steps removing nobody left out)."""
    return {
        "raw": int(flow["n_before"].iloc[0]),
        "kept": int(flow["n_after"].iloc[-1]),
        "removed": [(str(row.step), int(row.n_removed)) for row in flow.itertuples()
                    if row.n_removed > 0],  # fmt: skip
    }


def structural_paths(estimates: pd.DataFrame | None) -> pd.DataFrame:
    """The regressions (op '~') of the model: outcome, predictor, estimates and stars."""
    columns = ["lhs", "rhs", "label", "est", "se", "pvalue", "ci_lower", "ci_upper", "std_all"]
    if estimates is None:
        return pd.DataFrame(columns=[*columns, "stars", "significant"])
    paths = estimates.loc[estimates["op"] == "~"].reindex(columns=columns).reset_index(drop=True)
    paths["stars"] = [significance_stars(p) for p in paths["pvalue"]]
    paths["significant"] = paths["pvalue"] < SIGNIFICANCE
    return paths


def find_path(paths: pd.DataFrame, outcome: str, predictor: str) -> pd.Series | None:
    match = paths[(paths["lhs"] == outcome) & (paths["rhs"] == predictor)]
    return None if match.empty else match.iloc[0]


INTERACTION = "perceived_learning:home_support"


def home_support_moderation(inputs: ReportInputs) -> dict[str, Any] | None:
    """Moderation of perceived learning -> knowledge transfer by home support.

    Reads the analyses stage's moderation.csv (the product term) and simple_slopes.csv (the
    slopes at -1, 0 and +1 SD of support); returns None when either is absent, so that
    nothing is printed.
    """
    table, slopes = inputs.moderation, inputs.simple_slopes
    if table is None or slopes is None or slopes.empty:
        return None
    term = table[table["term"] == INTERACTION]
    if term.empty:
        return None
    slopes = slopes.sort_values("moderator_level").reset_index(drop=True)
    return {"interaction": term.iloc[0], "slopes": slopes}


def moderation_sentence(moderation: dict[str, Any], lang: str) -> str:
    """One plain sentence on the moderation: stronger / weaker link only when the product term
    is significant, otherwise that it remains open, 'not significant' said in words."""
    term, slopes = moderation["interaction"], moderation["slopes"]
    p_value = fmt_p(term["pvalue"], lang)
    p_text = p_value if p_value.startswith("<") else f"= {p_value}"
    values = {"low": fmt_number(slopes["slope"].iloc[0], lang),
              "high": fmt_number(slopes["slope"].iloc[-1], lang), "p": p_text}  # fmt: skip
    if term["pvalue"] < SIGNIFICANCE:
        key = "moderation_sig_pos" if term["est"] > 0 else "moderation_sig_neg"
    else:
        key = "moderation_ns"
    return text(lang, key, **values)


def fit_summary(fit: pd.DataFrame | None) -> dict[str, Any] | None:
    """The fit row as a dict, with a verdict from the usual cut-offs (Hu & Bentler, 1999)."""
    if fit is None or fit.empty:
        return None
    row = fit.iloc[0].to_dict()
    cfi, rmsea, srmr = row["cfi"], row["rmsea"], row["srmr"]
    if cfi >= 0.95 and rmsea <= 0.06 and srmr <= 0.08:
        row["verdict"] = "good"
    elif cfi >= 0.90 and rmsea <= 0.08 and srmr <= 0.10:
        row["verdict"] = "acceptable"
    else:
        row["verdict"] = "poor"
    return row


DEFINED_EFFECTS = ("indirect", "via_safety")  # := parameters of the model, by name
CI_METHODS = (("bca", "bca_ci_lower", "bca_ci_upper"), ("percentile", "boot_ci_lower",
              "boot_ci_upper"))  # fmt: skip


def defined_effects(inputs: ReportInputs) -> pd.DataFrame:
    """The model's defined (:=) parameters `indirect` and `via_safety` with the 95% CI printed.

    The CI is the bootstrap BCa interval of intervals.csv when there is one, else its
    percentile interval, else the delta-method interval of estimates.csv (method: bca,
    percentile or delta). significant: the CI excludes 0.
    """
    columns = ["name", "est", "ci_lower", "ci_upper", "method", "pvalue", "std_all",
               "significant"]  # fmt: skip
    rows = []
    estimates, intervals = inputs.estimates, inputs.intervals
    if estimates is None:
        return pd.DataFrame(columns=columns)
    for name in DEFINED_EFFECTS:
        match = estimates[(estimates["op"] == ":=") & (estimates["lhs"] == name)]
        if match.empty:
            continue
        row = match.iloc[0]
        lower, upper, method = row["ci_lower"], row["ci_upper"], "delta"
        if intervals is not None:
            boot = intervals[(intervals["op"] == ":=") & (intervals["lhs"] == name)]
            for key, low_col, high_col in CI_METHODS:
                if not boot.empty and np.isfinite(boot.iloc[0][[low_col, high_col]].astype(float)).all():
                    lower, upper, method = boot.iloc[0][low_col], boot.iloc[0][high_col], key
                    break
        rows.append({"name": name, "est": float(row["est"]), "ci_lower": float(lower),
                     "ci_upper": float(upper), "method": method, "pvalue": row.get("pvalue"),
                     "std_all": row.get("std_all"),
                     "significant": bool(lower > 0 or upper < 0)})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


DIVERSITY_TERM = "share_other_sector"
DIVERSITY_METHOD, DIVERSITY_CHECK = "ols_cluster", "random_intercept"


def diversity_results(inputs: ReportInputs) -> pd.DataFrame:
    """Climate and psychological safety by the community's share of members from another
    sector than its majority (diversity.csv of the analyses stage), one row per scale.

    The main analysis is the regression with community-clustered standard errors; the random-
    intercept model is the check. verdict: "higher" / "lower" when both find the slope
    significant with the same sign (or the check is absent), "unclear" when they disagree,
    "none" when neither does.
    """
    columns = ["outcome", "est", "ci_lower", "ci_upper", "pvalue", "n", "n_clusters",
               "p_check", "verdict"]  # fmt: skip
    table = inputs.diversity
    if table is None or table.empty:
        return pd.DataFrame(columns=columns)
    slopes = table[table["term"] == DIVERSITY_TERM]
    rows = []
    for outcome in CLIMATE:
        main = slopes[(slopes["outcome"] == outcome) & (slopes["method"] == DIVERSITY_METHOD)]
        if main.empty:
            continue
        main = main.iloc[0]
        check = slopes[(slopes["outcome"] == outcome) & (slopes["method"] == DIVERSITY_CHECK)]
        check = check.iloc[0] if not check.empty else None
        significant = main["pvalue"] < SIGNIFICANCE
        agrees = check is None or (
            (check["pvalue"] < SIGNIFICANCE) == significant
            and (not significant or np.sign(check["est"]) == np.sign(main["est"]))
        )
        if not agrees:
            verdict = "unclear"
        elif significant:
            verdict = "higher" if main["est"] > 0 else "lower"
        else:
            verdict = "none"
        rows.append({"outcome": outcome, "est": main["est"], "ci_lower": main["ci_lower"],
                     "ci_upper": main["ci_upper"], "pvalue": main["pvalue"], "n": main["n"],
                     "n_clusters": main["n_clusters"],
                     "p_check": np.nan if check is None else check["pvalue"],
                     "verdict": verdict})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


CROSSWAVE_CONSTRUCTS = (*CLIMATE, "learning_behaviour", "perceived_learning", "home_support",
                        "knowledge_transfer")  # fmt: skip
COMPARABLE_KEYS = ("yes", "partly (metric)", "no", "not tested")


def _suppressed(table: pd.DataFrame, n_columns: list[str], min_cell: int) -> pd.Series:
    """Rows to hide: marked suppressed by the stage that wrote them, or with any n < min_cell."""
    hidden = pd.Series(False, index=table.index)
    if "suppressed" in table.columns:
        hidden |= table["suppressed"].astype(str).str.lower().isin(["true", "1", "yes"])
    for column in n_columns:
        hidden |= pd.to_numeric(table[column], errors="coerce").fillna(0) < min_cell
    return hidden


def crosswave_results(inputs: ReportInputs) -> dict[str, Any] | None:
    """What changed between the previous wave and this one, per scale, and how comparable.

    Only the waves up to and including the report's wave count (inputs.waves); None with a
    single wave or without the wave's tables across waves (results/{wave}/across). Returns the
    means per wave (scale x wave, rows with fewer than min_cell respondents removed), the
    changes of the last pair of waves (comparable mapped to COMPARABLE_KEYS), the scales left
    out for small numbers, and the invariance decision of the test of those two waves.
    """
    waves = inputs.waves
    if len(waves) < 2 or inputs.means is None or inputs.changes is None:
        return None
    frm, to = waves[-2], waves[-1]
    means = inputs.means.assign(wave=inputs.means["wave"].astype(str))
    means = means[means["wave"].isin(waves) & means["construct"].isin(CROSSWAVE_CONSTRUCTS)]
    hidden_means = _suppressed(means, ["n"], inputs.min_cell)
    changes = inputs.changes.assign(wave_from=inputs.changes["wave_from"].astype(str),
                                    wave_to=inputs.changes["wave_to"].astype(str))  # fmt: skip
    changes = changes[(changes["wave_from"] == frm) & (changes["wave_to"] == to)
                      & changes["construct"].isin(CROSSWAVE_CONSTRUCTS)]  # fmt: skip
    hidden_changes = _suppressed(changes, ["n_from", "n_to"], inputs.min_cell)
    order = {c: i for i, c in enumerate(CROSSWAVE_CONSTRUCTS)}
    suppressed = sorted(set(means.loc[hidden_means, "construct"])
                        | set(changes.loc[hidden_changes, "construct"]), key=order.get)  # fmt: skip
    means = means[~hidden_means]
    changes = changes[~hidden_changes & ~changes["construct"].isin(suppressed)].copy()
    changes["comparable"] = [c if c in COMPARABLE_KEYS else "not tested"
                             for c in changes["comparable"].fillna("not tested").astype(str)]  # fmt: skip
    changes["significant"] = changes["pvalue"] < SIGNIFICANCE
    changes = changes.sort_values("construct", key=lambda c: c.map(order)).reset_index(drop=True)
    if changes.empty:
        return None
    return {"from": frm, "to": to, "waves": waves, "means": means, "changes": changes,
            "suppressed": suppressed, "invariance": invariance_summary(inputs.invariance)}  # fmt: skip


def invariance_summary(table: pd.DataFrame | None) -> dict[str, Any] | None:
    """The invariance decision of a test with waves as groups: "scalar" (metric and scalar hold), "metric" (only
    metric holds) or "none" (metric rejected), with the fit changes of the step that decided;
    None when the table is absent or holds no decision."""
    if table is None or table.empty:
        return None
    rows = {str(r["level"]): r for _, r in table.iterrows()}
    decision = {level: str(r["decision"]) for level, r in rows.items()
                if isinstance(r["decision"], str) and r["decision"]}  # fmt: skip
    if decision.get("metric") == "holds" and decision.get("scalar") == "holds":
        level, row = "scalar", rows["scalar"]
    elif decision.get("metric") == "holds" and "scalar" in decision:
        level, row = "metric", rows["scalar"]
    elif decision.get("metric") == "rejected":
        level, row = "none", rows["metric"]
    else:
        return None
    return {"level": level, "delta_cfi": row["delta_cfi"], "delta_rmsea": row["delta_rmsea"],
            "rule": row.get("rule", "")}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Sentences. Wording rules: associations, never causes; non-significant said as such.
# --------------------------------------------------------------------------------------------


def path_sentence(path: pd.Series, lang: str) -> str:
    """One sentence for a structural path: 'X is associated with more/less Y (β = .., stars)'."""
    predictor = factor_words(path["rhs"], lang)
    outcome = factor_words(path["lhs"], lang)
    beta = fmt_number(path["std_all"], lang)
    if path["pvalue"] < SIGNIFICANCE:
        direction = outcome["more"] if path["std_all"] > 0 else outcome["less"]
        return text(lang, "path_sig", subj=predictor["subj"], obj_dir=direction, b=beta,
                    stars=path["stars"])  # fmt: skip
    return text(lang, "path_ns", subj=predictor["subj"], obj=outcome["obj"], b=beta)


def climate_links_sentence(paths: list[pd.Series], lang: str) -> str:
    """'Association with learning: A → B β = 0.41***, ...; (n.s.) marks a non-significant path."""
    parts = [
        f"{factor_words(p['rhs'], lang)['box']} → {_lower_first(factor_words(p['lhs'], lang)['box'])}"
        f" β = {fmt_number(p['std_all'], lang)}{p['stars'] if p['significant'] else ' (n.s.)'}"
        for p in paths
    ]
    return text(lang, "climate_links", links=text(lang, "sep").join(parts))


def indirect_sentences(effects: pd.DataFrame, lang: str) -> list[str]:
    """The indirect association of climate with knowledge use (and the part through safety),
    each with its CI and the CI's method; 'not clear' when the CI includes 0."""
    sentences = []
    climate, transfer = factor_words("climate", lang), factor_words("transfer", lang)
    for row in effects.itertuples():
        values = {"b": fmt_number(row.est, lang), "l": fmt_number(row.ci_lower, lang),
                  "u": fmt_number(row.ci_upper, lang)}  # fmt: skip
        if row.name == "indirect" and row.significant:
            sentences.append(text(lang, "indirect_sig", subj=_lower_first(climate["subj"]),
                                  obj_dir=transfer["more" if row.est > 0 else "less"],
                                  method=text(lang, f"ci_{row.method}"), **values))  # fmt: skip
        elif row.name == "indirect":
            sentences.append(text(lang, "indirect_ns", obj_from=climate["obj"],
                                  obj=transfer["obj"], method=text(lang, f"ci_{row.method}"),
                                  **values))  # fmt: skip
        elif row.name == "via_safety":
            key = "via_safety_sig" if row.significant else "via_safety_ns"
            sentences.append(text(lang, key, **values))
    return sentences


def diversity_sentence(results: pd.DataFrame, codebook: dict[str, Any], lang: str) -> str:
    """Climate by community diversity in one sentence: higher / lower only where both analyses
    agree on a significant slope, 'does not differ clearly' otherwise, uncertainty said."""

    def label(construct: str) -> str:
        return _lower_first(construct_label(codebook, construct, lang))

    def value(r) -> str:
        return text(lang, "div_value", label=label(r.outcome), b=fmt_number(r.est, lang),
                    l=fmt_number(r.ci_lower, lang), u=fmt_number(r.ci_upper, lang))  # fmt: skip

    k = fmt_int(results["n_clusters"].max())
    groups = {v: results[results["verdict"] == v] for v in ("higher", "lower", "none", "unclear")}
    if groups["higher"].empty and groups["lower"].empty and groups["unclear"].empty:
        return text(lang, "div_all_none", k=k)
    clauses = []
    for verdict in ("higher", "lower"):
        rows = groups[verdict]
        if not rows.empty:
            number = "one" if len(rows) == 1 else "many"
            key = f"div_{verdict}_{'then' if clauses else number}"
            clauses.append(text(lang, key,
                                values=_join([value(r) for r in rows.itertuples()], lang)))  # fmt: skip
    sentence = text(lang, "div_lead")
    if clauses:
        sentence += (" " if lang == "nl" else ", ") + text(lang, "and").join(clauses)
    none = groups["none"]
    if not none.empty:
        number = "one" if len(none) == 1 else "many"
        labels = _join([label(c) for c in none["outcome"]], lang)
        sentence += ("; " if clauses else (" " if lang == "nl" else ", ")) + text(
            lang, f"div_none_{number}", labels=labels)
    sentence += "."
    if not groups["unclear"].empty:
        sentence += " " + text(lang, "div_unclear",
                               labels=_join([label(c) for c in groups["unclear"]["outcome"]], lang))  # fmt: skip
    return sentence


def crosswave_sentences(result: dict[str, Any], codebook: dict[str, Any], lang: str) -> list[str]:
    """What changed from the previous wave: higher / lower only for significant changes of
    comparable scales; scales that are not comparable are named, not interpreted; then the
    invariance decision."""
    changes, frm, to = result["changes"], result["from"], result["to"]
    comparable = changes[changes["comparable"] != "no"]
    moved = comparable[comparable["significant"]]
    parts = []
    for r in moved.itertuples():
        key = "cw_change_up" if r.diff > 0 else "cw_change_down"
        parts.append(text(lang, key, label=construct_label(codebook, r.construct, lang),
                          to=to, frm=frm, d=fmt_number(r.diff, lang),
                          l=fmt_number(r.ci_lower, lang), u=fmt_number(r.ci_upper, lang)))  # fmt: skip
    parts = parts[:1] + [_lower_first(part) for part in parts[1:]]
    sentences = []
    if parts:
        rest = [text(lang, "cw_rest")] if len(moved) < len(comparable) else []
        sentences.append(text(lang, "sep").join(parts + rest) + ".")
    elif not comparable.empty:
        sentences.append(text(lang, "cw_none", frm=frm, to=to))
    not_comparable = changes[changes["comparable"] == "no"]
    if not not_comparable.empty:
        labels = _join([_lower_first(construct_label(codebook, c, lang))
                        for c in not_comparable["construct"]], lang)  # fmt: skip
        sentences.append(text(lang, "cw_not_comparable", labels=labels))
    inv = result["invariance"]
    if inv is None:
        sentences.append(text(lang, "cw_inv_untested", frm=frm, to=to))
    else:
        sentences.append(text(lang, f"cw_inv_{inv['level']}", frm=frm, to=to,
                              dcfi=fmt_number(inv["delta_cfi"], lang, 3),
                              drmsea=fmt_number(inv["delta_rmsea"], lang, 3)))  # fmt: skip
    return sentences


def _join(parts: list[str], lang: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + text(lang, "and") + parts[-1]


def _lower_first(label: str) -> str:
    return label[:1].lower() + label[1:]


def key_messages(inputs: ReportInputs, lang: str) -> list[str]:
    """Plain-language messages for practice, each generated from one result.

    Motives: one message per verdict (is / not / undecided) with mean and 95% CI. Climate and
    transfer: the model's paths, worded by `path_sentence`, with a practical hint only when the
    path is significant and positive. Last, what the design does not allow to conclude.
    """
    messages = []
    tests = motive_results(inputs)
    for verdict in ("is", "not", "undecided"):
        rows = tests[tests["verdict"] == verdict] if not tests.empty else tests
        if rows.empty:
            continue
        values = [
            text(lang, "msg_value", label=construct_label(inputs.codebook, r.construct, lang),
                 m=fmt_number(r.mean, lang), l=fmt_number(r.ci_lower, lang),
                 u=fmt_number(r.ci_upper, lang))
            for r in rows.itertuples()
        ]  # fmt: skip
        values = [values[0]] + [_lower_first(v) for v in values[1:]]
        if verdict == "undecided":
            values = [_lower_first(v) for v in values]
        verb = text(lang, f"msg_{verdict}_{'one' if len(values) == 1 else 'many'}")
        mid = fmt_number(rows["midpoint"].iloc[0], lang, 0)
        messages.append(text(lang, f"msg_motive_{verdict}", values=_join(values, lang), verb=verb,
                             mid=mid))  # fmt: skip

    paths = structural_paths(inputs.estimates)
    chain = [find_path(paths, "safety", "climate"), find_path(paths, "learning", "safety")]
    chain = [p for p in chain if p is not None]
    if chain:
        message = " ".join(path_sentence(p, lang) for p in chain)
        safety = find_path(paths, "learning", "safety")
        if safety is not None and safety["significant"] and safety["std_all"] > 0:
            message += " " + text(lang, "msg_safety_hint")
        messages.append(message)
    home = [find_path(paths, "transfer", p) for p in ("perceived", "support")]
    home = [p for p in home if p is not None]
    if home:
        message = " ".join(path_sentence(p, lang) for p in home)
        support = find_path(paths, "transfer", "support")
        if support is not None and support["significant"] and support["std_all"] > 0:
            message += " " + text(lang, "msg_support_hint")
        messages.append(message)
    caution = model_caution(inputs, lang)
    if caution:
        messages.append(caution)
    messages.append(text(lang, "msg_design"))
    return messages


def model_caution(inputs: ReportInputs, lang: str) -> str | None:
    """A warning for the key messages when the model rests on few respondents or fits poorly.

    Few: fewer than 80% of the analysed participants (e.g. listwise deletion). Poorly: the
    fit verdict of `fit_summary`. Returns None when neither holds.
    """
    fit = fit_summary(inputs.fit)
    if fit is None:
        return None
    n, n_model = len(inputs.responses), int(fit["ntotal"])
    poor = fit["verdict"] == "poor"
    if n_model >= 0.8 * n and not poor:
        return None
    return text(lang, "msg_model_caution", n_model=n_model, n=n,
                fit=text(lang, "msg_model_fit_poor") if poor else "")  # fmt: skip


# --------------------------------------------------------------------------------------------
# Figures: matplotlib without pyplot, SVG with fixed ids and no dates, embedded as data URIs.
# --------------------------------------------------------------------------------------------

FIGURE_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.labelsize": 8.5,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "axes.edgecolor": GREY,
    "axes.linewidth": 0.6,
    "xtick.color": INK,
    "ytick.color": INK,
    "text.color": INK,
}
FIGURE_DPI = 300


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def figure_html(fig, alt: str) -> str:
    """The figure as an <img> with a PNG data URI (300 dpi), sized to print at its true size.

    PNG rather than SVG: WeasyPrint draws a text-as-path SVG several times slower. RGB without
    an alpha channel (the figures are drawn on white): WeasyPrint re-encodes every image (so a quick, light compression here), and
    an alpha channel would be a second image to encode. Pillow writes no date or software
    stamp, so a rerender is byte-identical.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    with matplotlib.rc_context(FIGURE_RC):
        fig.set_dpi(FIGURE_DPI)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        size = canvas.get_width_height(physical=True)
        image = Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", dpi=(FIGURE_DPI, FIGURE_DPI), compress_level=1)
    width, height = fig.get_size_inches()
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<img class="figure" alt="{html.escape(alt)}" style="width:{width:.2f}in;'
        f'height:{height:.2f}in" src="data:image/png;base64,{encoded}"/>'
    )


def _wrap(label: str, width: int) -> str:
    return "\n".join(textwrap.wrap(label, width)) or label


def _dot_whisker(rows: list[dict[str, Any]], lang: str, width: float, midline: float,
                 xlim: tuple[float, float], xticks: list[float], xticklabels: list[str]):  # fmt: skip
    """Rows of label-above-whisker: each row has label, lo, mean, hi, marker, face, note.

    The label sits above its whisker at full width, the value (and verdict) right of the plot,
    so long Dutch labels never collide; marker shape and fill carry the meaning in grey print.
    """
    import matplotlib

    row_h, bottom, top = 0.31, 0.26, 0.02
    height = row_h * len(rows) + bottom + top
    with matplotlib.rc_context(FIGURE_RC):
        fig = _new_figure(width, height)
        left, plot_w = 0.06 / width, 2.05 / width
        ax = fig.add_axes((left, bottom / height, plot_w, row_h * len(rows) / height))
        ax.set_xlim(*xlim)
        ax.set_ylim(0, len(rows))
        ax.axvline(midline, color=GREY, linestyle=(0, (3, 2)), linewidth=0.8, zorder=1)
        for i, row in enumerate(rows):
            y = len(rows) - i - 0.72
            ax.text(0, y + 0.19, row["label"], transform=ax.get_yaxis_transform(), ha="left",
                    va="bottom", fontsize=8.5, zorder=4,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.4})  # fmt: skip
            ax.plot([row["lo"], row["hi"]], [y, y], color=INK, linewidth=1.3,
                    solid_capstyle="butt", zorder=2)  # fmt: skip
            ax.scatter([row["mean"]], [y], s=34, marker=row["marker"], facecolors=row["face"],
                       edgecolors=INK, linewidths=0.9, zorder=3)  # fmt: skip
            ax.text(1.04, y, row["note"], transform=ax.get_yaxis_transform(), ha="left",
                    va="center", fontsize=8.5)  # fmt: skip
        ax.set_yticks([])
        ax.set_xticks(xticks, xticklabels)
        ax.tick_params(axis="x", length=2.5, pad=1.5)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        return fig


VERDICT_MARKERS = {"is": ("o", ACCENT), "not": ("o", "white"), "undecided": ("D", LIGHT)}


def motives_figure(tests: pd.DataFrame, codebook: dict[str, Any], lang: str, width: float = 3.40):
    """Dot-and-whisker of the motives against the midpoint; marker and a word per verdict."""
    low, high = tests["scale_min"].min(), tests["scale_max"].max()
    rows = [
        {"label": construct_label(codebook, r.construct, lang), "lo": r.ci_lower, "hi": r.ci_upper,
         "mean": r.mean, "marker": VERDICT_MARKERS[r.verdict][0],
         "face": VERDICT_MARKERS[r.verdict][1],
         "note": f"{fmt_number(r.mean, lang)}  {text(lang, 'verdict_' + r.verdict)}"}
        for r in tests.itertuples()
    ]  # fmt: skip
    ticks = list(np.arange(low, high + 1))
    return _dot_whisker(rows, lang, width, float(tests["midpoint"].iloc[0]),
                        (low - 0.1, high + 0.1), ticks, [fmt_int(t) for t in ticks])  # fmt: skip


def climate_figure(table: pd.DataFrame, codebook: dict[str, Any], lang: str, width: float = 3.40):
    """Dot-and-whisker of the climate scores, each placed on its own scale (low..high)."""
    rows = []
    for r in table.itertuples():
        span = r.scale_max - r.scale_min
        negative = r.construct == "error_avoidance"
        label = construct_label(codebook, r.construct, lang)
        if negative:
            label += f" ({text(lang, 'lower_is_better')})"
        rows.append({
            "label": label, "lo": (r.ci_lower - r.scale_min) / span,
            "hi": (r.ci_upper - r.scale_min) / span, "mean": (r.mean - r.scale_min) / span,
            "marker": "s" if negative else "o", "face": "white" if negative else ACCENT,
            "note": f"{fmt_number(r.mean, lang)} ({fmt_int(r.scale_min)}–{fmt_int(r.scale_max)})",
        })  # fmt: skip
    labels = [text(lang, k) for k in ("scale_low", "scale_mid", "scale_high")]
    return _dot_whisker(rows, lang, width, 0.5, (-0.03, 1.03), [0, 0.5, 1], labels)


def path_figure(paths: pd.DataFrame, lang: str, width: float = 3.40, height: float = 2.30):
    """The structural model as boxes and arrows, each arrow labelled with β and stars.

    Data units are inches, so label offsets are true distances. Non-significant paths are
    dotted and labelled 'n.s.'. Paths down the chain are straight with the label to the
    right; a path that skips a step is an arc on the right; a side input enters from the right.
    """
    import matplotlib
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    with matplotlib.rc_context(FIGURE_RC):
        fig = _new_figure(width, height)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        ax.set_axis_off()
        factors = list(dict.fromkeys([*paths["rhs"], *paths["lhs"]]))
        layout = {f: PATH_LAYOUT[f] for f in factors if f in PATH_LAYOUT}
        extra = [f for f in factors if f not in layout]
        for i, factor in enumerate(extra):  # factors of another model: a column on the right
            layout[factor] = (2.6, height - 0.3 - i * 0.55)

        def box(factor):
            return PATH_BOXES.get(factor, PATH_BOXES["default"])

        for factor, (x, y) in layout.items():
            w, h, wrap = box(factor)
            outcome = factor == "transfer"
            ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                        boxstyle="round,pad=0,rounding_size=0.05",
                                        facecolor=ACCENT if outcome else "white", edgecolor=INK,
                                        linewidth=0.9))  # fmt: skip
            ax.text(x, y, _wrap(factor_words(factor, lang)["box"], wrap), ha="center",
                    va="center", color="white" if outcome else INK,
                    fontweight="bold" if outcome else "normal", linespacing=1.1)  # fmt: skip

        for row in paths.itertuples():
            if row.rhs not in layout or row.lhs not in layout:
                continue
            (x1, y1), (x2, y2) = layout[row.rhs], layout[row.lhs]
            w1, h1, _ = box(row.rhs)
            w2, h2, _ = box(row.lhs)
            label = fmt_number(row.std_all, lang) + (row.stars if row.significant else " n.s.")
            style = dict(arrowstyle="-|>", mutation_scale=9, color=INK, linewidth=1.0,
                         linestyle="-" if row.significant else (0, (1.5, 1.5)),
                         shrinkA=0, shrinkB=0)  # fmt: skip
            same_column = abs(x1 - x2) < 1e-9
            adjacent = same_column and not any(
                abs(x - x1) < 1e-9 and min(y1, y2) < y < max(y1, y2) for x, y in layout.values()
            )
            if adjacent:
                start, end = (x1, y1 - h1 / 2), (x2, y2 + h2 / 2)
                ax.add_patch(FancyArrowPatch(start, end, **style))
                ax.text(x1 + 0.08, (start[1] + end[1]) / 2, label, ha="left", va="center")
            elif same_column:  # skipping a step: an arc on the right of the chain
                start, end = (x1 + w1 / 2, y1), (x2 + w2 / 2, y2)
                rad = -0.45 if y1 > y2 else 0.45
                ax.add_patch(FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}",
                                             **style))  # fmt: skip
                dx, dy = end[0] - start[0], end[1] - start[1]
                apex_x = (start[0] + end[0]) / 2 + 0.5 * rad * dy
                apex_y = (start[1] + end[1]) / 2 - 0.5 * rad * dx
                ax.text(apex_x + 0.06, apex_y, label, ha="left", va="center")
            else:  # a side input: from the bottom of its box to the side of the outcome
                start = (x1, y1 - h1 / 2)
                end = (x2 + w2 / 2, y2) if x1 > x2 else (x2 - w2 / 2, y2)
                ax.add_patch(FancyArrowPatch(start, end, connectionstyle="angle,angleA=-90,"
                                             "angleB=180,rad=0", **style))  # fmt: skip
                ax.text(x1 + 0.08, (start[1] + end[1]) / 2, label, ha="left", va="center")
        return fig


# Line styles of the simple slopes: told apart by dash pattern and grey value, not colour.
SLOPE_STYLES = {-1.0: ((0, (1.2, 1.4)), GREY), 0.0: ((0, (4, 2)), INK), 1.0: ("-", ACCENT)}


def moderation_figure(slopes: pd.DataFrame, codebook: dict[str, Any], lang: str,
                      width: float = 3.40, height: float = 1.10):  # fmt: skip
    """Simple slopes: predicted knowledge use against perceived learning at -1, 0 and +1 SD of
    home support, over the mean ± 1.5 SD of perceived learning within its scale range."""
    import matplotlib

    x_low, x_high = construct_range(codebook, "perceived_learning")
    y_low, y_high = construct_range(codebook, "knowledge_transfer")
    centre, spread = slopes["predictor_mean"].iloc[0], slopes["predictor_sd"].iloc[0]
    x = np.linspace(max(x_low, centre - 1.5 * spread), min(x_high, centre + 1.5 * spread), 2)
    with matplotlib.rc_context(FIGURE_RC):
        fig = _new_figure(width, height)
        ax = fig.add_axes((0.42 / width, 0.32 / height, 1.58 / width, (height - 0.38) / height))
        for row in slopes.itertuples():
            style, colour = SLOPE_STYLES.get(float(row.moderator_level), ("-", INK))
            y = row.intercept + row.slope * (x - centre)
            ax.plot(x, y, linestyle=style, color=colour, linewidth=1.6,
                    label=text(lang, f"moderation_level_{int(row.moderator_level)}"))  # fmt: skip
        ax.set_xlim(x_low, x_high)
        ax.set_ylim(y_low, y_high)
        ticks_x, ticks_y = np.arange(x_low, x_high + 1), np.arange(y_low, y_high + 1)
        ax.set_xticks(ticks_x, [fmt_int(t) for t in ticks_x])
        ax.set_yticks(ticks_y, [fmt_int(t) for t in ticks_y])
        ax.set_xlabel(factor_words("perceived", lang)["box"], labelpad=1.5)
        ax.set_ylabel(factor_words("transfer", lang)["short"], labelpad=2, fontsize=7.5)
        ax.tick_params(length=2.5, pad=1.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles[::-1], labels[::-1], loc="center left", frameon=False,
                   bbox_to_anchor=(2.12 / width, 0.55), handlelength=2.4, fontsize=8,
                   labelspacing=0.3, borderaxespad=0)  # fmt: skip
        return fig


# --------------------------------------------------------------------------------------------
# HTML sections. Each returns one <section>; the notebook displays them, the template lays
# them out (page 1: what we found; page 2: how we know).
# --------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: list[str], rows: list[list[str]], classes: str = "",
           numeric_from: int = 1) -> str:  # fmt: skip
    head = "".join(
        f'<th class="{"num" if i >= numeric_from else ""}">{_e(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>" + "".join(
            f'<td class="{"num" if i >= numeric_from else "label"}">{cell}</td>'
            for i, cell in enumerate(row)
        ) + "</tr>"
        for row in rows
    )  # fmt: skip
    return f'<table class="{classes}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def header_html(inputs: ReportInputs, lang: str) -> str:
    part = participation(inputs, lang)
    who = (text(lang, "n_communities", n=part["n"], k=part["communities"]) if part["communities"]
           else text(lang, "n_respondents", n=part["n"]))  # fmt: skip
    return (
        '<section class="masthead">'
        f'<p class="kicker">{_e(text(lang, "kicker"))} · {_e(text(lang, "prov_wave"))} '
        f'{_e(inputs.wave)} · {_e(who)}</p>'
        f'<h1>{_e(text(lang, "title"))}</h1>'
        f'<p class="subtitle">{_e(text(lang, "subtitle", wave=inputs.wave))}</p>'
        "</section>"
    )


def key_messages_html(inputs: ReportInputs, lang: str) -> str:
    items = "".join(f"<li>{_e(message)}</li>" for message in key_messages(inputs, lang))
    return (
        '<section class="key-messages">'
        f'<h2>{_e(text(lang, "key_messages"))}</h2><ol>{items}</ol></section>'
    )


def _category_rows(table: pd.DataFrame, lang: str) -> list[list[str]]:
    return [[_e(r.label), fmt_int(r.n), fmt_percent(r.share, lang)] for r in table.itertuples()]


def _merged_note(tables: dict[str, pd.DataFrame], inputs: ReportInputs, lang: str) -> str:
    members = [
        f"{background_label(inputs.codebook, var, lang)}: {row.members}"
        for var, table in tables.items()
        for row in table.itertuples()
        if row.merged
    ]
    if not members:
        return ""
    note = text(lang, "suppressed_note", min_cell=inputs.min_cell, members="; ".join(members))
    return f'<p class="note">{_e(note)}</p>'


def flow_sentence(flow: pd.DataFrame, lang: str) -> str:
    summary = flow_summary(flow)
    line = text(lang, "flow_line", raw=summary["raw"], kept=summary["kept"])
    reasons = [f"{n} {text(lang, 'step_' + step) if 'step_' + step in TEXT[lang] else step}"
               for step, n in summary["removed"]]  # fmt: skip
    if reasons:
        return line + " " + text(lang, "flow_reasons", reasons=", ".join(reasons))
    return line + " " + text(lang, "flow_none")


def _short_label(label: str) -> str:
    """'250 of meer medewerkers (groot)' -> '250 of meer medewerkers': fits half a column."""
    return re.sub(r"\s*\([^)]*\)$", "", label) or label


def who_html(inputs: ReportInputs, lang: str) -> str:
    part = participation(inputs, lang)
    if part["communities"]:
        lead = text(lang, "who_text", n=part["n"], k=part["communities"])
    else:
        lead = text(lang, "who_text_nocomm", n=part["n"])
    tables = []
    for variable, table in part["tables"].items():
        rows = [[_e(label if merged else _short_label(label)), n, pct]
                for (label, n, pct), merged in zip(
                    ([r.label, fmt_int(r.n), fmt_percent(r.share, lang)] for r in table.itertuples()),
                    table["merged"], strict=True)]  # fmt: skip
        tables.append(_table([background_label(inputs.codebook, variable, lang), text(lang, "n"),
                              text(lang, "percent")], rows, classes="counts"))  # fmt: skip
    return (
        '<section class="who">'
        f'<h2>{_e(text(lang, "who"))}</h2><p class="lead">{_e(lead)}</p>'
        f'<div class="pair">{"".join(f"<div>{t}</div>" for t in tables)}</div>'
        f"{_merged_note(part['tables'], inputs, lang)}"
        f'<p class="flow">{_e(flow_sentence(inputs.flow, lang))}</p>'
        "</section>"
    )


def main_motive_table(inputs: ReportInputs, lang: str) -> pd.DataFrame | None:
    """The main-motive shares of the analyses stage (main_motive.csv), labelled in `lang`.

    Shares, Wilson CIs and the merging of small categories come from
    `lcsurvey.study.analyses.main_motive`; here codes only become labels.
    """
    table = inputs.main_motive
    if table is None or table.empty:
        return None
    labels = category_labels(inputs.codebook, "main_motive", lang)

    def label(code: Any) -> str:
        return labels.get(float(code), str(code))

    table = table.copy()
    table["merged"] = table["merged"].astype(str).str.lower().isin(["true", "1"])
    table["label"] = [text(lang, "merged") if merged else label(code)
                      for code, merged in zip(table["category"], table["merged"], strict=True)]  # fmt: skip
    table["members"] = [
        ", ".join(label(code) for code in str(members).split(";") if code.strip())
        if merged else ""
        for members, merged in zip(table["members"].fillna(""), table["merged"], strict=True)
    ]  # fmt: skip
    return table


def why_html(inputs: ReportInputs, lang: str) -> str:
    tests = motive_results(inputs)
    parts = [f'<section class="why"><h2>{_e(text(lang, "why"))}</h2>']
    if not tests.empty:
        fig = motives_figure(tests, inputs.codebook, lang)
        parts.append(figure_html(fig, text(lang, "motives_caption")))
        parts.append(f'<p class="caption">{_e(text(lang, "motives_caption"))}</p>')
    shares = main_motive_table(inputs, lang)
    if shares is not None and not shares.empty:
        rows = [[_e(r.label), fmt_int(r.n), fmt_percent(r.share, lang),
                 f"{fmt_percent(r.ci_lower, lang)}–{fmt_percent(r.ci_upper, lang)}"]
                for r in shares.itertuples()]  # fmt: skip
        parts.append(f'<h3>{_e(text(lang, "main_motive"))}</h3>')
        parts.append(_table(["", text(lang, "n"), text(lang, "percent"), text(lang, "ci")], rows,
                            classes="shares"))  # fmt: skip
        parts.append(_merged_note({"main_motive": shares}, inputs, lang))
    parts.append("</section>")
    return "".join(parts)


def climate_html(inputs: ReportInputs, lang: str) -> str:
    table = construct_scores(inputs.scores, inputs.codebook, CLIMATE)
    parts = [f'<section class="climate"><h2>{_e(text(lang, "climate"))}</h2>']
    if not table.empty:
        fig = climate_figure(table, inputs.codebook, lang)
        parts.append(figure_html(fig, text(lang, "climate_caption")))
        parts.append(f'<p class="caption">{_e(text(lang, "climate_caption"))}</p>')
    diversity = diversity_results(inputs)
    if not diversity.empty:  # the model's links are in the path figure beside this column
        sentence = diversity_sentence(diversity, inputs.codebook, lang)
        parts.append(f'<p class="diversity">{_e(sentence)}</p>')
    else:
        paths = structural_paths(inputs.estimates)
        links = [find_path(paths, o, p) for o, p in (("safety", "climate"), ("learning", "safety"),
                                                     ("learning", "climate"))]  # fmt: skip
        links = [p for p in links if p is not None]
        if links:
            parts.append(f"<p>{_e(climate_links_sentence(links, lang))}</p>")
    parts.append("</section>")
    return "".join(parts)


def home_html(inputs: ReportInputs, lang: str) -> str:
    parts = [f'<section class="home"><h2>{_e(text(lang, "home"))}</h2>']
    levels = construct_scores(inputs.scores, inputs.codebook,
                              ("perceived_learning", "knowledge_transfer"))  # fmt: skip
    sentences = [
        text(lang, "home_level", m=fmt_number(r.mean, lang),
             label=construct_label(inputs.codebook, r.construct, lang),
             lo=fmt_int(r.scale_min), hi=fmt_int(r.scale_max), l=fmt_number(r.ci_lower, lang),
             u=fmt_number(r.ci_upper, lang))
        for r in levels.itertuples()
    ]  # fmt: skip
    if sentences:
        parts.append(f"<p>{_e(' '.join(sentences))}</p>")
    paths = structural_paths(inputs.estimates)
    if paths.empty:
        parts.append(f'<p class="note">{_e(text(lang, "missing_model", model=inputs.model))}</p>')
    else:
        fig = path_figure(paths, lang)
        parts.append(figure_html(fig, text(lang, "path_caption")))
        parts.append(f'<p class="caption">{_e(text(lang, "path_caption"))}</p>')
        indirect = indirect_sentences(defined_effects(inputs), lang)
        if indirect:
            parts.append(f'<p class="indirect">{_e(" ".join(indirect))}</p>')
    moderation = home_support_moderation(inputs)
    if moderation is not None:
        fig = moderation_figure(moderation["slopes"], inputs.codebook, lang)
        parts.append(figure_html(fig, text(lang, "moderation_caption")))
        parts.append(f'<p class="moderation">{_e(moderation_sentence(moderation, lang))}</p>')
    parts.append("</section>")
    return "".join(parts)


def page2_header_html(inputs: ReportInputs, lang: str) -> str:
    return (
        '<section class="masthead page2">'
        f'<h1>{_e(text(lang, "page2_title"))}</h1>'
        f'<p class="subtitle">{_e(text(lang, "page2_subtitle", wave=inputs.wave))}</p>'
        "</section>"
    )


def method_html(inputs: ReportInputs, lang: str) -> str:
    n = len(inputs.responses)
    parts = [
        f'<section class="method"><h2>{_e(text(lang, "method"))}</h2>',
        f'<p>{_e(text(lang, "design"))} {_e(text(lang, "design_n", n=n))}</p>',
    ]
    note = planning_note(inputs, lang)
    if note:
        parts.append(f'<p class="planning">{_e(note)}</p>')
    parts.append("</section>")
    return "".join(parts)


def cfa_line(cfa_fit: pd.DataFrame | None, lang: str) -> str | None:
    """The joint CFA's fit (results/{wave}/scales/cfa_fit.csv, model "joint") as one sentence."""
    if cfa_fit is None or not (cfa_fit["model"] == "joint").any():
        return None
    row = cfa_fit[cfa_fit["model"] == "joint"].iloc[0]
    return text(lang, "cfa_line", df=fmt_int(row["df"]),
                chisq=fmt_number(row["chisq"], lang, 1), cfi=fmt_number(row["cfi"], lang, 3),
                tli=fmt_number(row["tli"], lang, 3), rmsea=fmt_number(row["rmsea"], lang, 3),
                srmr=fmt_number(row["srmr"], lang, 3))


def measures_html(inputs: ReportInputs, lang: str) -> str:
    rel = inputs.reliability
    rows = []
    for r in rel.itertuples():
        if r.construct not in inputs.codebook["constructs"]:
            continue
        rows.append([
            _e(construct_label(inputs.codebook, r.construct, lang)),
            fmt_int(r.n_items),
            f"{fmt_number(r.alpha, lang)} ({fmt_number(r.alpha_ci_lower, lang)}–"
            f"{fmt_number(r.alpha_ci_upper, lang)})",
            fmt_number(r.omega_total, lang),
        ])  # fmt: skip
    return (
        f'<section class="measures"><h2>{_e(text(lang, "measures"))}</h2>'
        + _table([text(lang, "construct"), text(lang, "items"),
                  f"{text(lang, 'alpha')} ({text(lang, 'ci')})", text(lang, "omega")], rows,
                 classes="measures-table")  # fmt: skip
        + f'<p class="note">{_e(text(lang, "measures_note"))}'
        + (f" {_e(cfa)}" if (cfa := cfa_line(inputs.cfa_fit, lang)) else "") + "</p>"
        + "</section>"
    )


def motive_tests_html(inputs: ReportInputs, lang: str) -> str:
    tests = motive_results(inputs)
    if tests.empty:
        return ""
    rows = [[_e(construct_label(inputs.codebook, r.construct, lang)),
             f"{fmt_number(r.mean, lang)} ({fmt_number(r.ci_lower, lang)}–"
             f"{fmt_number(r.ci_upper, lang)})",
             f"{fmt_number(r.t, lang, 1)} ({fmt_int(r.df)})", fmt_p(r.p_holm, lang),
             _e(text(lang, "verdict_" + r.verdict))] for r in tests.itertuples()]  # fmt: skip
    return (
        f'<section class="motive-tests"><h2>{_e(text(lang, "motive_tests"))}</h2>'
        + _table(["", f"{text(lang, 'mean')} ({text(lang, 'ci')})", text(lang, "t"),
                  text(lang, "p_holm"), text(lang, "verdict")], rows, classes="tests-table")
        + f'<p class="note">{_e(text(lang, "motive_tests_note"))}</p></section>'
    )  # fmt: skip


def model_html(inputs: ReportInputs, lang: str) -> str:
    parts = [f'<section class="model"><h2>{_e(text(lang, "model"))}</h2>']
    fit = fit_summary(inputs.fit)
    if fit is None:
        parts.append(f'<p class="note">{_e(text(lang, "missing_model", model=inputs.model))}</p>')
    else:
        missing = str(fit["missing"]).lower()
        missing_text = text(lang, "missing_fiml") if missing in ("fiml", "ml") else (
            text(lang, "missing_listwise") if missing == "listwise" else missing)  # fmt: skip
        parts.append("<p>" + _e(text(lang, "estimator", estimator=fit["estimator"],
                                     missing=missing_text, n=fmt_int(fit["ntotal"]))) + " "
                     + _e(text(lang, "fit_line", df=fmt_int(fit["df"]),
                               chisq=fmt_number(fit["chisq"], lang, 1),
                               cfi=fmt_number(fit["cfi"], lang, 3),
                               tli=fmt_number(fit["tli"], lang, 3),
                               rmsea=fmt_number(fit["rmsea"], lang, 3),
                               rl=fmt_number(fit["rmsea_ci_lower"], lang, 3),
                               ru=fmt_number(fit["rmsea_ci_upper"], lang, 3),
                               srmr=fmt_number(fit["srmr"], lang, 3))) + " "
                     + _e(text(lang, "fit_" + fit["verdict"])) + "</p>")  # fmt: skip
    paths = structural_paths(inputs.estimates)
    if not paths.empty:
        rows = [[_e(f"{factor_words(r.rhs, lang)['short']} → {factor_words(r.lhs, lang)['short']}"),
                 fmt_number(r.std_all, lang) + _e(r.stars),
                 f"{fmt_number(r.est, lang)} ({fmt_number(r.ci_lower, lang)}–"
                 f"{fmt_number(r.ci_upper, lang)})", fmt_p(r.pvalue, lang)]
                for r in paths.itertuples()]  # fmt: skip
        parts.append(f'<h3>{_e(text(lang, "paths"))}</h3>')
        parts.append(_table([text(lang, "path"), text(lang, "beta"), text(lang, "b_ci"),
                             text(lang, "p")], rows, classes="paths-table"))  # fmt: skip
    parts.append("</section>")
    return "".join(parts)


def planning_note(inputs: ReportInputs, lang: str) -> str | None:
    """The note on planning the next wave (lcsurvey.study.power.planning_note), when asked for."""
    if inputs.power is None or inputs.power.empty:
        return None
    from lcsurvey.study.power import planning_note as power_planning_note

    return power_planning_note(inputs.power, lang)


def diversity_html(inputs: ReportInputs, lang: str) -> str:
    results = diversity_results(inputs)
    if results.empty:
        return ""
    rows = [[_e(construct_label(inputs.codebook, r.outcome, lang)),
             f"{fmt_number(r.est, lang)} ({fmt_number(r.ci_lower, lang)}–"
             f"{fmt_number(r.ci_upper, lang)})", fmt_p(r.pvalue, lang), fmt_p(r.p_check, lang)]
            for r in results.itertuples()]  # fmt: skip
    k = int(results["n_clusters"].max())
    return (
        f'<section class="diversity-tests"><h2>{_e(text(lang, "diversity"))}</h2>'
        + _table(["", text(lang, "b_ci"), text(lang, "p"), text(lang, "div_p_check")], rows,
                 classes="diversity-table")
        + f'<p class="note">{_e(text(lang, "div_note", k=k, df=k - 1))}</p></section>'
    )  # fmt: skip


def crosswave_html(inputs: ReportInputs, lang: str) -> str:
    result = crosswave_results(inputs)
    if result is None:
        return ""
    changes = result["changes"]
    rows = [[_e(construct_label(inputs.codebook, r.construct, lang)),
             f"{fmt_number(r.diff, lang)} ({fmt_number(r.ci_lower, lang)}–"
             f"{fmt_number(r.ci_upper, lang)})", _e(text(lang, f"cw_{r.comparable}"))]
            for r in changes.itertuples()]  # fmt: skip
    headers = ["", text(lang, "cw_diff"), text(lang, "cw_comparable")]
    notes = [text(lang, "cw_note", frm=result["from"], to=result["to"])]
    if result["suppressed"]:
        labels = ", ".join(construct_label(inputs.codebook, c, lang) for c in result["suppressed"])
        notes.append(text(lang, "cw_suppressed", min_cell=inputs.min_cell, labels=labels))
    sentences = crosswave_sentences(result, inputs.codebook, lang)
    return (
        f'<section class="crosswave"><h2>{_e(text(lang, "crosswave"))}</h2>'
        f'<p>{_e(" ".join(sentences))}</p>'
        + _table(headers, rows, classes="crosswave-table")
        + f'<p class="note">{_e(" ".join(notes))}</p></section>'
    )


def reading_html(inputs: ReportInputs, lang: str) -> str:
    return (
        f'<section class="reading"><h2>{_e(text(lang, "reading"))}</h2>'
        f'<p>{_e(text(lang, "reading_text", min_cell=inputs.min_cell))}</p></section>'
    )


def software_versions() -> dict[str, str]:
    """Versions of the software that made the numbers and the report."""
    versions = {"Python": ".".join(str(v) for v in sys.version_info[:3])}
    for package in ("pandas", "numpy", "scipy", "semopy", "snakemake", "matplotlib",
                    "papermill", "nbconvert", "weasyprint"):  # fmt: skip
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "–"
    return versions


def provenance_html(inputs: ReportInputs, lang: str) -> str:
    prov = inputs.provenance
    software = ", ".join(f"{name} {version}" for name, version in software_versions().items())
    when = (f"{text(lang, 'prov_wave')} {inputs.wave} · {text(lang, 'prov_date')} "
            f"{prov.get('date', inputs.wave)}")  # fmt: skip
    rows = [
        (text(lang, "prov_data"), prov.get("data_sha256", "unknown")),
        (text(lang, "prov_config"), prov.get("config_sha256", "unknown")),
        (text(lang, "prov_code"), prov.get("code_version", "unknown")),
        (text(lang, "software"), software),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return (
        f'<section class="provenance"><h2>{_e(text(lang, "provenance"))} '
        f'<span class="when">· {_e(when)}</span></h2>'
        f'<dl>{items}</dl><p class="note">{_e(text(lang, "generated"))}</p></section>'
    )


# --------------------------------------------------------------------------------------------
# Provenance.
# --------------------------------------------------------------------------------------------


def sha256_file(path: str | Path | None) -> str:
    """The file's SHA-256 (lcsurvey.survey.io.sha256_file), or 'unknown' when there is no such file."""
    if path is None or not Path(path).is_file():
        return "unknown"
    return file_sha256(path)


def code_version(repo_dir: str | Path | None = None) -> str:
    """The git commit of the code, or 'unknown' outside a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir or None,
                                capture_output=True, text=True, check=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def report_date(wave: str) -> str:
    """SOURCE_DATE_EPOCH as a UTC date when set, else the wave id; never the clock."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if re.fullmatch(r"\d+", epoch):
        return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%d")
    return str(wave)


def provenance(
    wave: str, data_file: str | Path | None, config_digest: str | None = None,
    repo_dir: str | Path | None = None,
) -> dict[str, str]:
    """The footer's facts: SHA-256 of the raw file, the configuration digest the workflow
    computed (waves after this one left out), the git commit (of repo_dir, default the working
    directory) and the report date."""
    return {
        "data_sha256": sha256_file(data_file),
        "config_sha256": config_digest or "unknown",
        "code_version": code_version(repo_dir),
        "date": report_date(wave),
    }


# --------------------------------------------------------------------------------------------
# The index (notebook -> HTML -> PDF: lcsurvey.report.render).
# --------------------------------------------------------------------------------------------
