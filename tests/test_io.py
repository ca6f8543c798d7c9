import gzip
import tracemalloc

import pytest

from genomeflow.errors import InputError
from genomeflow.io import (
    SequenceFile,
    SequenceRecord,
    label_from_path,
    labelled_records,
    read_label_table,
    read_sequences,
    write_fasta,
)
from genomeflow.sequence.alphabet import Alphabet
from helpers import BAD_INPUTS, bad_file, fasta_text, write_text

RECORDS = [("s1", "ACGTACGTNN"), ("s2", "acgtac"), ("s3", "GGGCCC")]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("crlf", [False, True])
def test_reads_fasta_plain_gzip_crlf_lowercase(tmp_path, gz, crlf):
    path = write_text(tmp_path / "x.fa", "\n" + fasta_text(RECORDS), gz, crlf)
    records = list(SequenceFile(path))
    assert [(r.id, r.sequence) for r in records] == RECORDS
    assert SequenceFile(path).alphabet is Alphabet.DNA


def test_reads_wrapped_fasta_and_description(tmp_path):
    path = write_text(tmp_path / "x.fa", ">chr1  some description here\nACGT\nAC\n\nGT\n")
    (record,) = SequenceFile(path)
    assert record == SequenceRecord("chr1", "ACGTACGT", "some description here")


@pytest.mark.parametrize("gz", [False, True])
def test_reads_fastq(tmp_path, gz):
    text = "@r1 lane1\nACGTN\n+\nIIII#\n@r2\nUUGC\n+r2\n!!!!\n"
    path = write_text(tmp_path / "x.fq", text.replace("UUGC", "TTGC"), gz, crlf=True)
    records = list(SequenceFile(path))
    assert records[0] == SequenceRecord("r1", "ACGTN", "lane1", "IIII#")
    assert records[1].quality == "!!!!"


def test_detects_rna_and_protein(tmp_path):
    rna = write_text(tmp_path / "r.fa", fasta_text([("a", "ACGUUAGC"), ("b", "GGCUA")]))
    protein = write_text(tmp_path / "p.fa", fasta_text([("a", "MKTAYIAKQRQISFVK*")]))
    assert SequenceFile(rna).alphabet is Alphabet.RNA
    assert SequenceFile(protein).alphabet is Alphabet.PROTEIN


def test_declared_alphabet_is_used(tmp_path):
    path = write_text(tmp_path / "p.fa", fasta_text([("a", "ACGTACGT")]))
    assert SequenceFile(path, "protein").alphabet is Alphabet.PROTEIN
    assert len(list(SequenceFile(path, "protein"))) == 1


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_names_file_and_problem(tmp_path, case):
    path = bad_file(tmp_path, case)
    with pytest.raises(InputError) as caught:
        list(SequenceFile(path))
    message = str(caught.value)
    assert message.startswith(str(path))
    assert BAD_INPUTS[case][1] in message


def test_invalid_character_after_detection_suggests_declaring(tmp_path):
    path = write_text(tmp_path / "x.fa", fasta_text([("a", "ACGT" * 20), ("b", "MKLVE")]))
    with pytest.raises(InputError, match=r"detected as dna.*--alphabet protein"):
        list(SequenceFile(path))


def test_duplicates_allowed_on_request(tmp_path):
    path = write_text(tmp_path / "x.fa", ">a\nACGT\n>a\nGGCC\n")
    assert len(list(SequenceFile(path, allow_duplicate_ids=True))) == 2


def test_several_files_share_ids_and_alphabet(tmp_path):
    one = write_text(tmp_path / "one.fa", ">a\nACGT\n")
    two = write_text(tmp_path / "two.fa", ">a\nGGCC\n")
    protein = write_text(tmp_path / "p.fa", ">p\nMKLVEEQ\n")
    with pytest.raises(InputError, match=r"repeats the id 'a' of .*one\.fa"):
        list(read_sequences([one, two]))
    with pytest.raises(InputError, match=r"holds protein but .* holds dna"):
        list(read_sequences([one, protein]))
    assert len(list(read_sequences([one, two], allow_duplicate_ids=True))) == 2


def test_streaming_keeps_memory_flat(tmp_path):
    # 20 Mbp in 2,000 records of 10 kbp: iterating must hold about one record at a time.
    record = "ACGT" * 2500
    path = tmp_path / "big.fa.gz"
    with gzip.open(path, "wt") as handle:
        for i in range(2000):
            handle.write(
                f">r{i}\n" + "\n".join(record[j : j + 80] for j in range(0, 10000, 80)) + "\n"
            )
    tracemalloc.start()
    residues = sum(len(r.sequence) for r in SequenceFile(path, "dna", allow_duplicate_ids=True))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert residues == 20_000_000
    assert peak < 2_000_000  # bytes: a few records and buffers, nowhere near the 20 MB read


def test_write_fasta_round_trip(tmp_path):
    records = [SequenceRecord("a", "ACGT" * 30, "first one"), SequenceRecord("b", "GG")]
    path = tmp_path / "out.fa"
    with open(path, "w") as handle:
        assert write_fasta(records, handle, width=50) == 2
    assert max(len(line) for line in path.read_text().splitlines()) == 50
    assert list(SequenceFile(path)) == records


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("data/promoter.fasta.gz", "promoter"),
        ("x/Non_Promoter.FA", "Non_Promoter"),
        ("reads.fq", "reads"),
        ("E.coli.K12.fna.gz", "E.coli.K12"),
        ("sample.v2", "sample.v2"),
    ],
)
def test_label_from_path(name, label):
    assert label_from_path(name) == label


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("labels.csv", "id,label,note\na,pos,x\nb,neg,y\n\n"),
        ("labels.tsv", "ID\tLabel\na\tpos\nb\tneg\n"),
        ("labels.txt", "label;id\npos;a\nneg;b\n"),
    ],
)
def test_read_label_table(tmp_path, name, text):
    assert read_label_table(write_text(tmp_path / name, text, crlf=True)) == {
        "a": "pos",
        "b": "neg",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,class\na,pos\n", "must name an 'id' and a 'label' column"),
        ("id,label\na,\n", "line 2 has an empty id or label"),
        ("id,label\na,pos\nb,neg\na,neg\n", "line 4 repeats the id 'a' of line 2"),
        ("id,label\n", "header but no rows"),
        ("id,note,label\na,x\n", "line 2 has 2 columns"),
        ("", "file is empty; give a label table"),
    ],
)
def test_bad_label_tables(tmp_path, text, message):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as caught:
        read_label_table(path)
    assert str(caught.value).startswith(str(path))


def test_labelled_records_from_files_and_table(tmp_path):
    pos = write_text(tmp_path / "pos.fa", ">a\nACGT\n>b\nACGG\n")
    neg = write_text(tmp_path / "neg.fa.gz", ">c\nTTTT\n", gz=True)
    pairs = [(r.id, label) for r, label in labelled_records([pos, neg])]
    assert pairs == [("a", "pos"), ("b", "pos"), ("c", "neg")]
    named = [label for _, label in labelled_records([pos, neg], labels=["yes", "no"])]
    assert named == ["yes", "yes", "no"]
    table = write_text(tmp_path / "t.csv", "id,label\na,x\nb,y\nc,x\nz,y\n")
    assert [label for _, label in labelled_records([pos, neg], label_table=table)] == [
        "x",
        "y",
        "x",
    ]


def test_labelled_records_errors(tmp_path):
    pos = write_text(tmp_path / "pos.fa", ">a\nACGT\n")
    other = tmp_path / "other"
    other.mkdir()
    same = write_text(other / "pos.fasta", ">b\nACGT\n")
    table = write_text(tmp_path / "t.csv", "id,label\nb,x\n")
    with pytest.raises(InputError, match="same label pos"):
        list(labelled_records([pos, same]))
    with pytest.raises(InputError, match="1 labels given for 2 files"):
        list(labelled_records([pos, same], labels=["x"]))
    with pytest.raises(InputError, match="has no label for record 'a'"):
        list(labelled_records([pos], label_table=table))
    with pytest.raises(InputError, match="no sequence files"):
        list(labelled_records([]))
