"""Clusters of similar source sequences (MMseqs2), so homologs never straddle splits.

Grouping by record id keeps the chunks and reverse complements of one sequence together, but
two homologous proteins or two copies of a repeat are separate records: split by id they land
in train and in test and inflate every score. ``mmseqs easy-cluster`` puts every record within
an identity and coverage of a cluster's representative into that cluster; the split then
assigns whole clusters. MMseqs2's clustering does not reliably match a DNA record with the
reverse complement of another (soedinglab/MMseqs2#858), so each DNA/RNA record goes in on both
strands and clusters that share a record are joined.

The clusters are MMseqs2's greedy set cover: each member passes the criteria against its
cluster's representative, not against every other record, so a member of one cluster can
still pass them against a member of another (as with cd-hit). Connected components of an
all-against-all search would close that gap at the price of larger clusters.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genomeflow.errors import GenomeflowError
from genomeflow.io.sequences import SequenceRecord
from genomeflow.sequence.alphabet import GAPS, Alphabet
from genomeflow.sequence.complement import reverse_complement

log = logging.getLogger(__name__)

MMSEQS = "mmseqs"
INSTALL_HINT = (
    "install MMseqs2 (`apt-get install mmseqs2`, or `conda install -c bioconda mmseqs2`) or "
    "pass --group-by id"
)
TIMEOUT_S = 3600.0  # deadline of one clustering; 6,868 proteins took 19 s on 2 cores
WITHOUT_GAPS = str.maketrans("", "", GAPS)
MMSEQS_MAX_LENGTH = 65535  # mmseqs' default --max-seq-len; raised for longer records
# Defaults of --min-identity per alphabet (with --coverage 0.8 of both sequences). Protein: 30%
# identity is the edge of the "twilight zone" (Rost 1999, Protein Eng. 12:85): above it pairs
# are reliably homologous, below it identity says little about homology, so a split at 30%
# holds out what sequence similarity can detect. The DNA-binding-protein benchmarks
# (PDB1075, PDB186) drop homologs above 25% identity for this leak. DNA/RNA: 80%, cd-hit-est's
# usual floor; unrelated nucleotide sequences reach far lower identities in local alignments.
DEFAULT_MIN_IDENTITY = {"protein": 0.3, "dna": 0.8, "rna": 0.8}


class ClusteringError(GenomeflowError):
    """MMseqs2 is missing, failed or ran past its deadline."""


@dataclass(frozen=True)
class Clustering:
    """Clusters of the source records.

    Attributes:
        clusters: record id -> cluster id (the cluster's first record id, in input order).
        min_identity: the identity criterion used.
        coverage: the coverage criterion used (both sequences, mmseqs --cov-mode 0).
        tool: the MMseqs2 version that clustered.
        seconds: wall time of the clustering.
        log: MMseqs2's own output (stdout and stderr).
    """

    clusters: dict[str, str]
    min_identity: float
    coverage: float
    tool: str
    seconds: float
    log: str

    @property
    def count(self) -> int:
        return len(set(self.clusters.values()))


def default_identity(alphabet: Alphabet) -> float:
    return DEFAULT_MIN_IDENTITY[alphabet.value]


def mmseqs_command(reason: str) -> str:
    """The path of ``mmseqs``, or one error saying how to get it (``reason`` says who asked)."""
    found = shutil.which(MMSEQS)
    if found is None:
        raise ClusteringError(
            f"{reason} needs MMseqs2, but the `{MMSEQS}` command is not on PATH: {INSTALL_HINT}"
        )
    return found


def cluster_records(
    records: Sequence[SequenceRecord],
    alphabet: Alphabet,
    min_identity: float,
    coverage: float,
    *,
    reason: str = "--group-by similarity",
    threads: int | None = None,
    timeout: float = TIMEOUT_S,
) -> Clustering:
    """Cluster ``records`` with ``mmseqs easy-cluster`` (DNA/RNA on both strands); records
    sharing an id share a cluster.

    Raises:
        ClusteringError: mmseqs is missing, exits with an error or runs past ``timeout``; the
            message is one line naming the log file kept with mmseqs' output.
    """
    command = mmseqs_command(reason)
    threads = threads or len(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="genomeflow-mmseqs-"))
    fasta, log_file = work / "sequences.fa", work / "mmseqs.log"
    longest = 0
    strands = 1 if alphabet is Alphabet.PROTEIN else 2
    with fasta.open("w", encoding="ascii") as handle:
        # Entries are named by index (ids may hold anything); entry i + len(records) is the
        # reverse complement of record i.
        for strand in range(strands):
            for index, record in enumerate(records):
                residues = record.sequence.upper().translate(WITHOUT_GAPS)
                if alphabet is Alphabet.RNA:
                    residues = residues.replace("U", "T")  # mmseqs' nucleotides are ACGTN
                if strand:
                    residues = reverse_complement(residues, Alphabet.DNA)
                longest = max(longest, len(residues))
                if residues:  # an empty record stays a cluster of its own
                    handle.write(f">{index + strand * len(records)}\n{residues}\n")
    arguments = [
        command,
        "easy-cluster",
        str(fasta),
        str(work / "out"),
        str(work / "tmp"),
        "--min-seq-id",
        str(min_identity),
        "-c",
        str(coverage),
        "--cov-mode",
        "0",
        "--dbtype",
        "1" if alphabet is Alphabet.PROTEIN else "2",
        "--max-seq-len",
        str(max(MMSEQS_MAX_LENGTH, longest + 1)),
        "--threads",
        str(threads),
    ]
    start = time.perf_counter()
    try:
        with log_file.open("w", encoding="utf-8") as output:
            finished = subprocess.run(
                arguments, stdout=output, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
    except subprocess.TimeoutExpired:
        _keep_log_only(work)
        raise ClusteringError(
            f"mmseqs easy-cluster ran past its {timeout:g} s deadline on {len(records)} "
            f"sequences (log: {log_file}); pass --group-by id, or cluster fewer sequences"
        ) from None
    except OSError as error:  # found on PATH but not runnable
        shutil.rmtree(work, ignore_errors=True)
        raise ClusteringError(f"cannot run {command}: {error.strerror}; {INSTALL_HINT}") from None
    except BaseException:  # interrupted: mmseqs is killed, its files go
        shutil.rmtree(work, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        _keep_log_only(work)
        raise ClusteringError(
            f"mmseqs easy-cluster failed with exit code {finished.returncode}: "
            f"{_last_error(log_file)} (log: {log_file})"
        )
    text = log_file.read_text(encoding="utf-8", errors="replace")
    pairs = _read_pairs(work / "out_cluster.tsv")
    shutil.rmtree(work, ignore_errors=True)
    clusters = _components([record.id for record in records] * strands, pairs)
    return Clustering(clusters, min_identity, coverage, _version(command), seconds, text)


def _read_pairs(path: Path) -> list[tuple[int, int]]:
    """``(representative index, member index)`` rows of mmseqs' cluster TSV."""
    pairs = []
    for line in path.read_text(encoding="ascii").splitlines():
        if line:
            representative, member = line.split("\t")
            pairs.append((int(representative), int(member)))
    return pairs


def _components(ids: Sequence[str], pairs: Sequence[tuple[int, int]]) -> dict[str, str]:
    """Record id -> cluster id: clusters joined through shared record ids (both strands of a
    record, duplicate ids), each named by its first record id in input order; a record mmseqs
    left out stands alone."""
    parent = {record_id: record_id for record_id in ids}

    def root(item: str) -> str:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    order = {}
    for position, record_id in enumerate(ids):
        order.setdefault(record_id, position)
    for representative, member in pairs:
        first, second = root(ids[representative]), root(ids[member])
        if first != second:  # the earlier record names the merged cluster
            first, second = sorted((first, second), key=order.__getitem__)
            parent[second] = first
    return {record_id: root(record_id) for record_id in order}


def _keep_log_only(work: Path) -> None:
    """Remove mmseqs' databases after a failure, keeping its log for the user."""
    for item in work.iterdir():
        if item.name != "mmseqs.log":
            shutil.rmtree(item) if item.is_dir() else item.unlink()


def _last_error(log_file: Path) -> str:
    lines = [
        line.strip()
        for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip()
    ]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1][:200]


def _version(command: str) -> str:
    try:
        found = subprocess.run(
            [command, "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "mmseqs2 (version unknown)"
    return f"mmseqs2 {found.stdout.strip() or 'version unknown'}"
