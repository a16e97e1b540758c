"""The power: section of config.yaml: defaults, checks and the shards of the replications.

Kept apart from lcsurvey.study.power (numpy, pandas, scipy, semopy) so that the workflow can check
the settings and lay out its jobs at start-up without those imports.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from lcsurvey.errors import InputError
from lcsurvey.schema import defaults
from lcsurvey.sem.syntax import parse_model

INTERACTION = "interaction"


def shards(replications: int, shard_size: int) -> list[range]:
    """Replication numbers 0 .. replications - 1 in consecutive shards of shard_size."""
    if replications < 1 or shard_size < 1:
        raise InputError(
            "power.replications and power.shard_size must be positive",
            value=(replications, shard_size),
            expected="integers >= 1",
        )
    return [
        range(start, min(start + shard_size, replications))
        for start in range(0, replications, shard_size)
    ]


def sizes_from(values: Sequence[Any]) -> list[int]:
    sizes = []
    for value in values:
        if not isinstance(value, int) or isinstance(value, bool) or value < 20:
            raise InputError(
                "power.sizes must be whole numbers of respondents >= 20",
                value=value,
                expected="e.g. [150, 250, 400, 600]",
            )
        sizes.append(value)
    if len(set(sizes)) != len(sizes):
        raise InputError("power.sizes lists a size twice", value=sizes, expected="distinct sizes")
    return sizes


def check_effects(effects: Sequence[str], syntax: str, *, model: str = "model") -> None:
    """Every effect is "interaction", a label of the model or one of its := parameters."""
    spec = parse_model(syntax, name=model)
    known = set(spec.labels.values()) | {d.name for d in spec.definitions} | {INTERACTION}
    unknown = [e for e in effects if e not in known]
    if unknown or not effects:
        raise InputError(
            f"power.effects {unknown or list(effects)} are not effects of model {model!r}",
            value=unknown or effects,
            expected=f"one or more of {sorted(known)}",
        )


# The defaults of power: in the config schema; the workflow's validate fills in the same.
DEFAULTS = defaults("config")["power"]


def settings(power: Mapping[str, Any] | None, models: Mapping[str, str]) -> dict[str, Any]:
    """The power section of config.yaml with its defaults, checked."""
    out = {**copy.deepcopy(DEFAULTS), **(power or {})}
    if out["population"] not in ("truth", "fitted"):
        raise InputError(
            "power.population is not known", value=out["population"], expected="truth or fitted"
        )
    if out["model"] not in models:
        raise InputError(
            "power.model is not a model of config.yaml",
            value=out["model"],
            expected=f"one of {sorted(models)}",
        )
    check_effects(out["effects"], models[out["model"]], model=out["model"])
    out["sizes"] = sizes_from(out["sizes"])
    shards(out["replications"], out["shard_size"])
    if not 0 < out["alpha"] < 1:
        raise InputError(
            "power.alpha must lie between 0 and 1", value=out["alpha"], expected="e.g. 0.05"
        )
    if out["missing"] and out["population"] == "fitted":
        raise InputError(
            "power.missing needs power.population: truth (the missingness model "
            "uses age and organisation size, which only the simulator has)",
            value=out["missing"],
            expected="false with population: fitted",
        )
    return out
