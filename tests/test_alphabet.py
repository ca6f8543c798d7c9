import pytest

from genomeflow.errors import AlphabetError, ConfigError
from genomeflow.sequence.alphabet import Alphabet, detect_alphabet


@pytest.mark.parametrize(
    ("sequences", "expected"),
    [
        (["ACGTACGT", "acgtnn"], Alphabet.DNA),
        (["ACGTRYKMSWBDHVN-" + "ACGT" * 40], Alphabet.DNA),
        (["ACGUACGU", "ggcu"], Alphabet.RNA),
        (["MKTAYIAKQRQISFVKSHFSRQ", "ACDEFGHIKLMNPQRSTVWY*"], Alphabet.PROTEIN),
        (["MSTNPKPQRKTKRNTNRRPQDVKFPGG"], Alphabet.PROTEIN),
        # Only nucleotide IUPAC letters, but far too few A/C/G/T/N: a protein.
        (["RYKMSWBDHVRYKMSWBDHV"], Alphabet.PROTEIN),
    ],
)
def test_detect_alphabet(sequences, expected):
    assert detect_alphabet(sequences) is expected


def test_detect_rejects_mixed_t_and_u():
    with pytest.raises(AlphabetError, match="mix T"):
        detect_alphabet(["ACGTACGU"])


def test_detect_rejects_characters_of_no_alphabet():
    with pytest.raises(AlphabetError, match="'1'"):
        detect_alphabet(["ACGT1"])


def test_detect_needs_residues():
    with pytest.raises(AlphabetError, match="no residues"):
        detect_alphabet(["", "--"])


def test_first_invalid_is_case_insensitive():
    assert Alphabet.DNA.first_invalid("acgtACGTnN-") is None
    assert Alphabet.DNA.first_invalid("ACGU") == 3
    assert Alphabet.RNA.first_invalid("ACGT") == 3
    assert Alphabet.PROTEIN.first_invalid("MKV1") == 3


def test_parse_names():
    assert Alphabet.parse("DNA") is Alphabet.DNA
    assert Alphabet.parse(" protein ") is Alphabet.PROTEIN
    with pytest.raises(ConfigError, match="choose one of dna, rna, protein"):
        Alphabet.parse("peptide")
