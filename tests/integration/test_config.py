"""--config FILE and the options' fixed choices: a typo or a bad value is refused before any work (exit 2, the file
and key named, the valid keys or values listed), never silently ignored."""
import typer
import pytest

from chemrnn.cli import app, main
from chemrnn.cli import _common as common
from chemrnn.datasets import sample_path

from conftest import leaf_commands


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("toml, message", [
    ('[data.prepare]\ntokenizer = "smarts"\n', "[data.prepare] tokenizer = 'smarts'"),
    ('[data.prepare]\nmax_tokens = 0\n', "[data.prepare] max_tokens = 0"),
    ('[data.prepare]\nmax-tokns = 80\n', "[data.prepare] has no option 'max_tokns'; valid: column, jobs"),
    ('[data]\nprepare = 3\n', "[data.prepare] must be a table"),
    ('quiet = true\n', "[quiet] names no command"),
    ('[data.encode]\nunknown = "ignore"\n', "[data.encode] unknown = 'ignore'"),
    ('[data.prepare]\ninput = "x.smi"\n', "[data.prepare] has no option 'input'"),  # arguments are not defaults
])
def test_config_refused_before_any_work(tmp_path, capsys, toml, message):
    cfg = tmp_path / "run.toml"
    cfg.write_text(toml)
    out = tmp_path / "out.smi"
    code, stdout, err = run(capsys, "--config", cfg, "data", "prepare", sample_path(), "-o", out)
    assert code == 2 and message in err and str(cfg) in err, err
    assert len(err.strip().splitlines()) == 1 and not stdout and not out.exists()


def test_config_lists_the_valid_values(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data.stats]\ntokenizer = "smarts"\n')
    code, _, err = run(capsys, "--config", cfg, "data", "stats", sample_path())
    assert code == 2 and all(t in err for t in common.TOKENIZERS), err


def test_config_keys_with_dashes_set_defaults(tmp_path, capsys):
    src = tmp_path / "mixed.smi"
    src.write_bytes(b"CCO\nCC\xe9N\nc1ccccc1\n")
    cfg = tmp_path / "run.toml"
    cfg.write_text("[data.prepare]\nskip-bad-lines = true\njobs = 1\n")
    out = tmp_path / "out.smi"
    code, _, err = run(capsys, "--config", cfg, "data", "prepare", src, "-o", out)
    assert code == 0, err
    assert out.read_text().split() == ["CCO", "c1ccccc1"]


@pytest.mark.parametrize("content, message", [(None, "no such config file"), (b"\xff\xfe[x", "not valid TOML")])
def test_config_file_unreadable(tmp_path, capsys, content, message):
    cfg = tmp_path / "run.toml"
    if content is not None:
        cfg.write_bytes(content)
    code, _, err = run(capsys, "--config", cfg, "datasets", "list")
    assert code == 2 and message in err and "run.toml" in err


def test_bad_choice_on_the_command_line_lists_the_valid_ones(tmp_path, capsys):
    out = tmp_path / "c.npz"
    code, _, err = run(capsys, "data", "encode", sample_path(), "-o", out, "--tokenizer", "smarts")
    assert code == 2 and "'smarts' is not one of" in err and all(t in err for t in common.TOKENIZERS)
    assert not out.exists()


SHARED = {"cell": common.CELLS, "impl": common.IMPLS, "pooling": common.POOLINGS, "split": common.SPLITS,
          "tokenizer": common.TOKENIZERS, "device": common.DEVICES, "precision": common.PRECISIONS}


def _literal_values(annotation) -> tuple:
    """The values of a ``Literal[...]`` annotation (inside ``Optional`` too); () for anything else."""
    from typing import Literal, Union, get_args, get_origin

    if get_origin(annotation) is Literal:
        return get_args(annotation)
    if get_origin(annotation) is Union:
        return tuple(v for a in get_args(annotation) for v in _literal_values(a))
    return ()


def test_shared_options_offer_the_same_fixed_choices():
    """--cell, --impl, --pooling, --split, --tokenizer, --device, --precision: the lists in cli/_common, everywhere,
    so a bad value fails at parse time (and in --config) with the valid ones listed."""
    wrong = []
    for name, cmd in leaf_commands(typer.main.get_command(app)):
        for p in cmd.params:
            if p.name in SHARED:
                choices = _literal_values(p.type_descriptor.annotation)
                if set(choices) != set(SHARED[p.name]):
                    wrong.append(f"{name} --{p.name}: {choices or p.type_descriptor.annotation}")
    assert not wrong, "\n".join(wrong)


def test_the_preset_choices_are_the_training_presets():
    from typing import get_args

    from chemrnn.cli.lm import Preset
    from chemrnn.training.lm import PRESETS

    assert set(get_args(Preset)) == set(PRESETS)


def test_the_recipe_choices_are_the_property_recipes():
    from typing import get_args

    from chemrnn.cli._common import Recipe
    from chemrnn.training.property import RECIPES

    assert set(get_args(Recipe)) == {"auto", *RECIPES}


def test_config_takes_an_option_as_the_command_line_spells_it(tmp_path, capsys):
    """``number = 3`` for ``-n/--number`` (its internal name is ``n``): both spellings set the option."""
    for key in ("number", "n"):
        cfg = tmp_path / f"{key}.toml"
        cfg.write_text(f"[lm.sample]\n{key} = 3\n")
        out = tmp_path / f"{key}.smi"
        code, _, err = run(capsys, "--config", cfg, "lm", "sample", "-o", out, "--device", "cpu")
        assert code == 0, err
        assert len(out.read_text().splitlines()) == 3
    cfg.write_text("[lm.sample]\nnumbr = 3\n")
    code, _, err = run(capsys, "--config", cfg, "lm", "sample", "--device", "cpu")
    assert code == 2 and "has no option 'numbr'" in err and "number" in err.split("valid:")[1]


def test_config_dashed_command_table_and_long_option_spelling_are_used_and_a_key_set_twice_is_refused(
        tmp_path, capsys):
    """``[lecture.long-range] train-size = 777``: a dashed command and an option spelled as on the command line
    (its internal name is n_train) both reach the command (its --help shows the default from the file)."""
    cfg = tmp_path / "lr.toml"
    cfg.write_text("[lecture.long-range]\ntrain-size = 777\n")
    code, out, err = run(capsys, "--config", cfg, "lecture", "long-range", "--help")
    assert code == 0 and "777" in out and "9000" not in out, out + err
    cfg.write_text("[lm.sample]\nn = 3\nnumber = 5\n")
    code, _, err = run(capsys, "--config", cfg, "lm", "sample")
    assert code == 2 and "sets 'number' twice" in err
