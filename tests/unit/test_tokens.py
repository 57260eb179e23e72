import pytest

from chemrnn.io import load_smiles_list
from chemrnn.errors import UnknownTokenError
from chemrnn.tokens import AtomTokenizer, CharTokenizer, SelfiesTokenizer, Vocabulary, get_tokenizer


def test_atom_tokens():
    tok = AtomTokenizer()
    assert tok.tokenize("CSc1ccc(Cl)cc1Br") == ["C", "S", "c", "1", "c", "c", "c", "(", "Cl", ")", "c", "c", "1", "Br"]
    assert tok.tokenize("C[C@@H](O)[nH+]%12C%12") == ["C", "[C@@H]", "(", "O", ")", "[nH+]", "%12", "C", "%12"]
    assert tok.tokenize("[2H]/C=C\\[Se]") == ["[2H]", "/", "C", "=", "C", "\\", "[Se]"]


def test_char_tokens():
    assert CharTokenizer().tokenize("CCl") == ["C", "C", "l"]


def test_roundtrip_on_odd_strings():
    for text in ["", "C", "[", "[C", "%1", "C%123", "Xx?!", "c1cc[nH]c1 "]:
        for tok in (AtomTokenizer(), CharTokenizer()):
            assert tok.detokenize(tok.tokenize(text)) == text


@pytest.mark.slow
@pytest.mark.parametrize("dataset,column", [("zinc250k.csv.gz", "smiles"), ("moses_train.csv.gz", "SMILES")])
def test_roundtrip_on_real_files(shared_data, dataset, column):
    smiles = load_smiles_list(shared_data / dataset, column)
    assert len(smiles) > 200_000
    for tok in (AtomTokenizer(), CharTokenizer()):
        bad = [s for s in smiles if tok.detokenize(tok.tokenize(s)) != s]
        assert bad == [], f"{tok.name}: {len(bad)} round-trip failures, e.g. {bad[:3]}"
    # every bracket atom is one token: no token may start with '[' without closing it
    atom = AtomTokenizer()
    assert all(t.endswith("]") for s in smiles[:50_000] for t in atom.tokenize(s) if t.startswith("["))


def test_selfies_roundtrip_same_molecule(sample_smiles):
    from chemrnn.chem import same_molecule

    tok = get_tokenizer("selfies")
    assert isinstance(tok, SelfiesTokenizer)
    for s in sample_smiles[:200]:
        toks = tok.tokenize(s)
        assert all(t.startswith("[") for t in toks)
        assert same_molecule(tok.detokenize(toks), s)


def test_vocabulary_json_and_unknown_tokens(tmp_path, sample_smiles):
    tok = AtomTokenizer()
    vocab = Vocabulary.build(tok.tokenize(s) for s in sample_smiles[:1000])
    assert vocab.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    vocab.save(tmp_path / "v.json")
    again = Vocabulary.load(tmp_path / "v.json")
    assert again.tokens == vocab.tokens
    s = sample_smiles[1]
    ids = vocab.encode(tok.tokenize(s))
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
    assert tok.detokenize(vocab.decode(ids)) == s
    with pytest.raises(UnknownTokenError, match=r"2 token\(s\) not in the vocabulary: '\[Xe\]' x2.*'\[Ru\]' x1"):
        vocab.encode(tok.tokenize("[Xe]C[Xe]C[Ru]"))
    ids = vocab.encode(tok.tokenize("[Xe]CC"), unknown="unk")
    assert ids[1] == vocab.unk_id
    bad, examples = vocab.unknown_in([tok.tokenize("CC"), tok.tokenize("C[Xe]")], ["CC", "C[Xe]"])
    assert dict(bad) == {"[Xe]": 1} and examples == {"[Xe]": "C[Xe]"}
