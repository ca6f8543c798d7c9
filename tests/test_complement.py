import pytest
from hypothesis import given
from hypothesis import strategies as st

from genomeflow.errors import AlphabetError
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.sequence.complement import reverse_complement

DNA_CODES = Alphabet.DNA.letters + Alphabet.DNA.letters.lower()
RNA_CODES = Alphabet.RNA.letters + Alphabet.RNA.letters.lower()


@pytest.mark.parametrize(
    ("code", "complement"),
    list(zip("ACGTRYKMBVDHSWN-.", "TGCAYRMKVBHDSWN-.", strict=True)),
)
def test_each_iupac_code(code, complement):
    assert reverse_complement(code) == complement
    assert reverse_complement(code.lower()) == complement.lower()


def test_known_sequences():
    assert reverse_complement("AACGTTTG") == "CAAACGTT"
    assert reverse_complement("aaCGtn") == "naCGtt"
    assert reverse_complement("AUGGCU") == "AGCCAU"
    assert reverse_complement("AUGGCU", "rna") == "AGCCAU"
    assert reverse_complement("") == ""


def test_refuses_protein():
    with pytest.raises(AlphabetError, match="not to protein"):
        reverse_complement("MKV", Alphabet.PROTEIN)


def test_names_an_invalid_character_and_position():
    with pytest.raises(AlphabetError, match=r"'E' at position 3 is not an IUPAC DNA code"):
        reverse_complement("ACEGT")
    with pytest.raises(AlphabetError, match="'T' at position 2"):
        reverse_complement("ATG", "rna")


@given(st.text(alphabet=DNA_CODES, max_size=300))
def test_dna_involution(sequence):
    assert reverse_complement(reverse_complement(sequence, "dna"), "dna") == sequence


@given(st.text(alphabet=RNA_CODES, max_size=300))
def test_rna_involution(sequence):
    assert reverse_complement(reverse_complement(sequence, "rna"), "rna") == sequence


@given(st.text(alphabet="ACGT", min_size=1, max_size=200))
def test_complement_pairs_bases(sequence):
    pairs = {"A": "T", "C": "G", "G": "C", "T": "A"}
    assert reverse_complement(sequence) == "".join(pairs[b] for b in reversed(sequence))
