"""report.html: which way is better, anchors beside ours, the small-sample caution, labelled axes, integer
descriptors as bars, SMILES and marks under the drawn molecules."""
import numpy as np

from chemrnn import chem, report


def _descriptors(smiles):
    return np.array([chem.metric_features(s)["descriptors"] for s in smiles])


SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "O=C(O)c1ccccc1", "CC1CCCCC1N",
          "c1ccc2[nH]ccc2c1", "CCOC(=O)C"]


def test_integer_descriptors_are_bars_and_every_axis_is_labelled():
    gen, ref = _descriptors(SMILES[:4]), _descriptors(SMILES)
    fig = report.descriptor_figure(gen, ref)
    for ax, (name, kind) in zip(fig.axes, chem.KL_DESCRIPTORS):
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title(), name
        widths = {round(p.get_width(), 6) for p in ax.patches}
        if kind == "discrete":  # bars of width 0.4 either side of each integer value
            assert widths == {0.4}, name
            centres = {round(p.get_x() + p.get_width() / 2 + s, 6) for p in ax.patches for s in (-0.2, 0.2)}
            assert any(float(c).is_integer() for c in centres), name
            assert ax.get_ylabel() == "fraction of molecules"
        else:
            assert 0.4 not in widths and ax.get_ylabel() == "density", name
    assert "H-bond donors (HBD)" in [ax.get_title() for ax in fig.axes]


def test_report_says_which_way_is_better_shows_anchors_and_cautions(tmp_path):
    metrics = {"n": 300, "validity": 0.9, "unique": 1.0, "novelty": 0.8, "FCD": 2.5, "SNN": 0.4, "Frag": 0.9,
               "Scaf": 0.5, "IntDiv1": 0.85, "reference": {"test": "moses:test_sample", "n_ref": 500, "seed": 0}}
    out = tmp_path / "run" / "report.html"
    samples = tmp_path / "run" / "samples.smi"
    report.write_report(out, "a <b> [nH] title", metrics, molecules=["CCO", "C1CC", "c1ccccc1"],
                        notes={"model": "prior.chemrnn"}, samples=samples)
    html = out.read_text()
    fcd_row = html[html.index("<th>FCD</th>"):].split("</tr>")[0]
    assert "↓ lower" in fcd_row and "0.0732" in fcd_row and "0.008" in fcd_row  # ours, better, CharRNN, train
    assert "↑ higher" in html[html.index("<th>validity</th>"):].split("</tr>")[0]
    assert "FCD is biased upwards on small sets: here 270 valid samples against 500 reference molecules" in html
    assert "a &lt;b&gt; [nH] title" in html and "prior.chemrnn" in html
    assert "<a href='samples.smi'>" in html  # a relative link: the folder can be moved
    assert "C1CC" in html and "invalid" in html  # the invalid sample is listed under the grid


def test_grid_legends_carry_smiles_and_marks(tmp_path, monkeypatch):
    seen = {}
    real = chem.grid_png

    def spy(smiles, per_row=6, size=(200, 160), legends=None):
        seen["smiles"], seen["legends"] = list(smiles), list(legends or [])
        return real(smiles, per_row, size, legends)

    monkeypatch.setattr(chem, "grid_png", spy)
    marks = {"CCO": "in train", "Oc1ccccc1": "novel"}
    report.write_report(tmp_path / "r.html", "t", {"n": 3}, molecules=["OCC", "xx", "Oc1ccccc1"], marks=marks)
    assert seen["smiles"] == ["OCC", "Oc1ccccc1"]  # the valid ones, in sampling order
    assert seen["legends"] == ["OCC  (in train)", "Oc1ccccc1  (novel)"]  # marks found by canonical SMILES


def test_no_molecule_grid_is_wider_than_1280_px():
    """Grids of many molecules fit a page: the report's grid, a design run's top.png (six 200-px cells a row) and a
    grid asked for wider (more molecules a row, a cell wider than the cap) are at most 1,280 px wide."""
    import base64
    import io

    from PIL import Image

    many = SMILES * 6  # 48 molecules

    def width(png: bytes) -> int:
        return Image.open(io.BytesIO(png)).size[0]

    assert width(base64.b64decode(report.molecule_grid(many, n=48))) <= 1280
    assert width(chem.grid_png(many[:24])) == 1200  # design runs' top.png: six cells of 200 px, unchanged
    assert 1000 < width(chem.grid_png(many, per_row=12, size=(230, 190))) <= 1280  # fewer molecules a row
    assert width(chem.grid_png(many[:3], per_row=3, size=(2000, 1600))) == 1280  # one narrowed cell a row
    assert chem.grid_layout(3, (2000, 1600)) == (1, (1280, 1024))
