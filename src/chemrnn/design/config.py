"""A design run's settings: the ``[design]`` table (:class:`DesignConfig`, each key with its rule), the optimizer's
``[design.<optimizer>]`` options, the ``[diversity_filter]`` and ``[quality]`` tables, read from TOML and checked
all at once before any work (:mod:`chemrnn.validate`)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..errors import InputError
from ..options import DESIGN_PRESETS, DEVICES, OPTIMIZERS as OPTIMIZER_NAMES
from ..scoring.quality import QualityFilter
from .. import chem
from ..validate import choice, integer, list_of, optional, positive, problems, setting, table_problems, text
from .diversity import DiversityFilter
from .optimizers import OPTIMIZERS


# [design] preset = "…": the values a config's left-out keys take. "guacamol" is the GuacaMol hill-climber's
# configuration of docs/benchmarks.md (section "GuacaMol goal-directed suite"): score the whole `chembl` set first and
# start from its best (counted in the budget: 200,000 leaves 64,316 sampled after the 135,684 molecules), then rounds
# of 1,024 from the `chembl` prior, no diversity filter.
# The optimizer settings of the published GuacaMol figure, shared with the GuacaMol generator's preset.
GUACAMOL_HILLCLIMB = {"optimizer": "hillclimb", "prior": "chembl", "batch_size": 1024,
                      "diversity_filter": {"kind": "none"},
                      "options": {"top_k": 256, "epochs": 1, "batch_size": 64, "lr": 1e-3}}
PRESETS: dict[str, dict] = {
    "default": {},
    "guacamol": {**GUACAMOL_HILLCLIMB, "budget": 200_000, "starting_population": "chembl"},
}
assert tuple(PRESETS) == DESIGN_PRESETS


@dataclass
class DesignConfig:
    preset: str = setting(choice(DESIGN_PRESETS), "default")
    optimizer: str = setting(choice(OPTIMIZER_NAMES), "reinvent")
    prior: str = setting(text(), "shipped")
    # sampled molecules handed to the scoring function (invalid and repeated ones included)
    budget: int = setting(integer(1), 5000)
    batch_size: int = setting(integer(1), 128)
    temperature: float = setting(positive(), 1.0)
    seed: int = setting(integer(0), 0)
    # auto: a GPU where there is one | cpu | gpu (cuda): one GPU of many with CUDA_VISIBLE_DEVICES=N
    device: str = setting(choice(DEVICES), "auto")
    max_length: int = setting(integer(1), 140)
    starting_population: str | None = setting(optional(text()), None)
    options: dict = field(default_factory=dict)  # [design.<optimizer>]
    diversity_filter: dict = field(default_factory=lambda: {"kind": "scaffold", "bucket_size": 25, "min_score": 0.4})
    quality: dict = field(default_factory=lambda: {"preset": "default"})  # [quality]: chemrnn.scoring.quality
    # [constraints]: core = "c1ccc([*:1])cc1[*:2]" (every molecule sampled decorates it) or link = ["A", "B"]
    constraints: dict = field(default_factory=dict)

    def validate(self) -> "DesignConfig":
        """Refuse every bad value at once (:class:`InputError`, exit 2): the [design] keys by their rules, then the
        optimizer's options, the diversity filter and the quality filter by theirs."""
        found = [f"[design] {p}" for p in problems(self)]
        if self.optimizer in OPTIMIZERS:
            found += table_problems(self.options, OPTIMIZERS[self.optimizer].rules(), f"[design.{self.optimizer}] ")
        found += table_problems(self.diversity_filter, DiversityFilter.RULES, "[diversity_filter] ")
        found += QualityFilter.config_problems(self.quality)
        found += constraint_problems(self.constraints)
        if found:
            raise InputError("; ".join(found))
        return self


CONSTRAINT_RULES = {"core": text(words="a SMILES with attachment points"),
                    "link": list_of(text(), min_items=2)}


def constraint_problems(table: dict) -> list[str]:
    """What is wrong with a ``[constraints]`` table: its keys and types, a core or fragment RDKit cannot read or
    without its attachment points, both keys at once."""
    found = table_problems(table, CONSTRAINT_RULES, "[constraints] ")
    if found or not table:
        return found
    if "core" in table and "link" in table:
        return ["[constraints] give core or link, not both"]
    if "link" in table and len(table["link"]) != 2:
        return [f"[constraints] link must name two fragments, not {len(table['link'])}"]
    parts = [("core", table["core"])] if "core" in table else list(zip(("link[0]", "link[1]"), table["link"]))
    for key, smiles in parts:
        mol, reason = chem.attachment_core(smiles)
        if mol is None:
            found.append(f"[constraints] {key} {smiles!r} {reason}")
        elif key != "core" and sum(1 for a in mol.GetAtoms() if not a.GetAtomicNum()) != 1:
            found.append(f"[constraints] {key} {smiles!r} must have exactly one attachment point")
    return found


def read_config(data: dict, source=None) -> tuple[DesignConfig, dict]:
    """``(DesignConfig, scoring table)`` from a parsed TOML run config; unknown tables or keys are refused."""
    where = f"{source}: " if source else ""
    bad = set(data) - {"design", "diversity_filter", "scoring", "quality", "constraints"}
    if bad:
        raise InputError(f"{where}unknown table(s) {', '.join(sorted(bad))}; valid: constraints, design, "
                         f"diversity_filter, quality, scoring")
    if "scoring" not in data:
        raise InputError(f"{where}a design config needs a [scoring] table")
    design = dict(data.get("design", {}))
    known = {f.name for f in fields(DesignConfig)} - {"options", "diversity_filter", "quality", "constraints"}
    opt_tables = {k: design.pop(k) for k in list(design) if k in OPTIMIZERS and isinstance(design[k], dict)}
    bad = set(design) - known
    if bad:
        raise InputError(f"{where}[design]: unknown key(s) {', '.join(sorted(bad))}; valid: {', '.join(sorted(known))} "
                         f"and the tables {', '.join(f'[design.{o}]' for o in OPTIMIZERS)}")
    preset = design.get("preset", "default")
    if not isinstance(preset, str) or preset not in PRESETS:
        raise InputError(f"{where}[design] preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    base = PRESETS[preset]
    cfg = DesignConfig(**{**{k: v for k, v in base.items() if k not in ("options", "diversity_filter")}, **design})
    if cfg.optimizer not in OPTIMIZERS:  # before the sub-tables, whose message would name it as if it were known
        raise InputError(f"{where}[design] optimizer must be one of {', '.join(OPTIMIZERS)}, not {cfg.optimizer!r}")
    preset_options = base.get("options", {}) if cfg.optimizer == base.get("optimizer") else {}
    cfg.options = {**preset_options, **opt_tables.get(cfg.optimizer, {})}
    other = set(opt_tables) - {cfg.optimizer}
    if other:
        raise InputError(f"{where}[design.{other.pop()}] given, but the optimizer is {cfg.optimizer}")
    df = data.get("diversity_filter", {})
    if not isinstance(df, dict):
        raise InputError(f"{where}[diversity_filter] must be a table, e.g. kind = \"scaffold\"")
    cfg.diversity_filter = {**DesignConfig().diversity_filter, **base.get("diversity_filter", {}), **df}
    if "quality" in data:
        if not isinstance(data["quality"], dict):
            raise InputError(f"{where}[quality] must be a table, e.g. preset = \"default\"")
        cfg.quality = dict(data["quality"])
    if "constraints" in data:
        if not isinstance(data["constraints"], dict):
            raise InputError(f"{where}[constraints] must be a table, e.g. core = \"c1ccc([*:1])cc1\"")
        cfg.constraints = dict(data["constraints"])
    try:
        cfg.validate()
    except InputError as exc:
        raise InputError(f"{where}{exc}") from None
    return cfg, data["scoring"]


def load_toml(path) -> dict:
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("no such config file", path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML ({exc})", path) from None
