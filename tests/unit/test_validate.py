"""The one way settings are checked (chemrnn.validate) and the one place their vocabularies live (chemrnn.options):
each rule refuses wrong types as well as wrong values, every config names every problem at once, and the command
line offers exactly the values the models and configs accept."""
import typing

import pytest
import typer

from chemrnn import options, validate as v
from chemrnn.errors import InputError


@pytest.mark.parametrize("rule, good, bad", [
    (v.integer(1), [1, 7, 10**30], [0, -1, True, 1.0, 1.5, "3", None, [1]]),
    (v.integer(0), [0, 5], [-1, False, float("nan")]),
    (v.positive(), [1e-9, 2, 3.5], [0, -1, True, "hot", float("inf"), float("nan"), 10**400, None]),
    (v.number(0, 1), [0, 0.5, 1], [-0.1, 1.01, True, "0.5"]),
    (v.number(0, 1, high_open=True), [0, 0.99], [1, 1.0]),
    (v.choice(("a", "b")), ["a", "b"], ["c", True, None, ["a"], 1]),
    (v.flag(), [True, False], [1, 0, "true", None]),
    (v.text(), ["x"], ["", 3, None, ["x"]]),
    (v.optional(v.integer(1)), [None, 3], [0, True]),
    (v.list_of(v.text(), min_items=1), [["a"], ("a", "b")], [[], "a", ["a", 1]]),
])
def test_rules_take_good_values_and_refuse_bad_ones_types_included(rule, good, bad):
    assert all(rule.problem("x", g) == [] for g in good)
    for value in bad:
        (problem,) = rule.problem("x", value)
        assert problem == f"x must be {rule.words}, not {value!r}"


def test_a_table_names_unknown_keys_with_the_valid_ones_and_every_bad_value():
    rules = {"budget": v.integer(1), "seed": v.integer(0)}
    found = v.table_problems({"budjet": 3, "budget": True, "seed": "x"}, rules, "[design] ")
    assert found == ["[design] unknown key(s) budjet; valid: budget, seed",
                     "[design] budget must be an integer >= 1, not True",
                     "[design] seed must be an integer >= 0, not 'x'"]
    with pytest.raises(InputError, match="bad settings: .*budjet.*budget.*seed"):
        v.check_table({"budjet": 3, "budget": True, "seed": "x"}, rules, "[design] ")
    assert v.table_problems(3, rules) == ["must be a table of settings, not 3"]


@pytest.mark.parametrize("make, message", [
    (lambda: __import__("chemrnn.training", fromlist=["x"]).LMTrainConfig(seed="x"), "seed must be an integer >= 0"),
    (lambda: __import__("chemrnn.training", fromlist=["x"]).LMTrainConfig(lr=True), "lr must be a number > 0"),
    (lambda: __import__("chemrnn.training", fromlist=["x"]).LMTrainConfig(batch_size=True), "batch_size must be"),
    (lambda: __import__("chemrnn.training", fromlist=["x"]).LMTrainConfig(dropout="0.1"), "dropout must be"),
    (lambda: __import__("chemrnn.training", fromlist=["x"]).LMTrainConfig(device="cuda:1"),
     r"device must be one of auto \| cpu \| gpu \| cuda, not 'cuda:1'"),
    (lambda: __import__("chemrnn.training", fromlist=["x"]).PropertyTrainConfig(seed="x", recipe="standard"),
     "seed must be an integer >= 0"),
    (lambda: __import__("chemrnn.training", fromlist=["x"]).PropertyTrainConfig(seed="x"),
     "seed must be an integer >= 0"),  # an auto recipe checks the explicit settings at once too
    (lambda: __import__("chemrnn.training", fromlist=["x"]).PropertyTrainConfig(bidirectional="yes"),
     "bidirectional must be true or false"),
])
def test_training_configs_refuse_wrong_types(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_design_and_training_share_one_device_vocabulary():
    from chemrnn.design.config import DesignConfig
    from chemrnn.training import LMTrainConfig

    for device in options.DEVICES:
        DesignConfig(device=device).validate()
        LMTrainConfig(device=device)
    for config in (lambda: DesignConfig(device="cuda:1").validate(), lambda: LMTrainConfig(device="cuda:1")):
        with pytest.raises(InputError, match="device must be one of auto | cpu | gpu | cuda"):
            config()


def test_a_modifier_or_weight_of_the_wrong_type_is_refused():
    from chemrnn.scoring.components import make_component
    from chemrnn.scoring.modifiers import make_modifier

    with pytest.raises(InputError, match="modifier window: low must be a number, not 'x'"):
        make_modifier({"type": "window", "low": "x", "high": 3})
    with pytest.raises(InputError, match="modifier step: above must be true or false"):
        make_modifier({"type": "step", "threshold": 1, "above": "yes"})
    with pytest.raises(InputError, match="weight must be a number >= 0, not True"):
        make_component({"type": "qed", "weight": True})


def test_the_vocabularies_are_what_the_code_implements():
    import torch

    from chemrnn.cells import Recurrent
    from chemrnn.design.optimizers import OPTIMIZERS
    from chemrnn.scoring.quality import PRESETS as QUALITY
    from chemrnn.tokens import TOKENIZERS
    from chemrnn.training.lm import PRESETS as LM
    from chemrnn.training.property import RECIPES

    assert set(TOKENIZERS) == set(options.TOKENIZERS)
    assert tuple(LM) == options.LM_PRESETS
    assert tuple(RECIPES) == options.PROPERTY_RECIPES
    assert set(OPTIMIZERS) == set(options.OPTIMIZERS)
    assert tuple(QUALITY) == options.QUALITY_PRESETS
    assert set(options.CLI_PRECISIONS) <= set(options.PRECISIONS)
    for cell in options.CELLS:
        for impl in options.IMPLS:
            out = Recurrent(cell, 3, 4, impl=impl)(torch.zeros(2, 5, 3))
            assert (out[0] if isinstance(out, tuple) else out).shape[-1] == 4


def _choices():
    """Every option of every command whose values are a fixed list: (command path, option name, choices)."""
    from chemrnn.cli import app

    def literal(annotation):  # Literal[...] itself, or inside Optional[...]
        if typing.get_origin(annotation) is typing.Literal:
            return typing.get_args(annotation)
        for arg in typing.get_args(annotation):
            if typing.get_origin(arg) is typing.Literal:
                return typing.get_args(arg)
        return None

    def walk(cmd, path):
        if hasattr(cmd, "commands"):  # a group
            for name, sub in cmd.commands.items():
                yield from walk(sub, path + [name])
        else:
            for p in cmd.params:
                values = literal(getattr(getattr(p, "type_descriptor", None), "annotation", None))
                if values:
                    yield " ".join(path), p.name, tuple(values)

    return list(walk(typer.main.get_command(app), []))


VOCABULARY = {"cell": options.CELLS, "impl": options.IMPLS, "tokenizer": options.TOKENIZERS,
              "pooling": options.POOLINGS, "split": options.SPLITS, "device": options.DEVICES,
              "precision": options.CLI_PRECISIONS, "strategy": options.STRATEGIES, "recipe": options.RECIPE_CHOICES,
              "lr_schedule": options.LR_SCHEDULES, "preset": options.LM_PRESETS, "method": options.LIBRARY_METHODS,
              "gru_form": options.GRU_FORMS, "quality": options.QUALITY_PRESETS}


def test_the_command_lines_choices_equal_the_vocabularies():
    found = _choices()
    checked = [(cmd, name) for cmd, name, values in found if name in VOCABULARY]
    assert len(checked) >= 20  # cell, device, … on many commands
    for cmd, name, values in found:
        if name in VOCABULARY:
            assert values == tuple(VOCABULARY[name]), (cmd, name, values)


def test_one_learning_rate_schedule_warms_up_decays_and_anneals_on_time():
    from chemrnn.training.common import warmup_cosine

    assert warmup_cosine(0, 1000, 100, 0.05) == pytest.approx(0.01)
    assert warmup_cosine(99, 1000, 100, 0.05) == pytest.approx(1.0)
    assert warmup_cosine(100, 1000, 100, 0.05) == pytest.approx(1.0)  # the decay starts after the warm-up
    assert warmup_cosine(550, 1000, 100, 0.05) == pytest.approx(0.05 + 0.95 * 0.5)  # half-way: the mean
    assert warmup_cosine(1000, 1000, 100, 0.05) == pytest.approx(0.05)
    values = [warmup_cosine(s, 1000, 100, 0.05) for s in range(100, 1001, 50)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    # a time-capped run: half the time spent is half-way through the decay, however few steps were made
    assert warmup_cosine(200, 1000, 100, 0.05, time_fraction=0.5) == pytest.approx(0.05 + 0.95 * 0.5)
    assert warmup_cosine(5, 1000, 100, 0.05, time_fraction=1.0) == 0.05  # the budget spent: annealed at once
    # property training counts the decay from step 0
    assert warmup_cosine(500, 1000, 100, 0.01, decay_after_warmup=False) == pytest.approx(0.01 + 0.99 * 0.5)
