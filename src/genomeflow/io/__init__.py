"""Reading and validating sequence files and label tables."""

from genomeflow.io.labels import label_from_path, labelled_records, read_label_table
from genomeflow.io.sequences import (
    SequenceFile,
    SequenceFormat,
    SequenceRecord,
    read_sequence_files,
    read_sequences,
    write_fasta,
)

__all__ = [
    "SequenceFile",
    "SequenceFormat",
    "SequenceRecord",
    "label_from_path",
    "labelled_records",
    "read_label_table",
    "read_sequence_files",
    "read_sequences",
    "write_fasta",
]
