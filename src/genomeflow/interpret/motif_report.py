"""Discovered motifs, named, written: per class TF-MoDISco, TOMTOM against a motif database,
and the files a biologist reads (MEME, tables, logos, one HTML page).

Files, in the interpret output folder:
    motifs.meme            every discovered motif's letter frequencies (MEME format: TOMTOM,
                           FIMO, the MEME Suite read it)
    motifs.tsv             one row per motif: class, sign, seqlets, contribution, consensus, its
                           best match with p- and q-value, and the verdict in words
    motif_matches.tsv      every reported match (q < 0.05, at most 3 per motif)
    motif_matrices.tsv     PFM and CWM per motif, position and letter
    motif_sites.tsv        where each motif's seqlets are (sequence id, 1-based start/end, strand)
    motifs.html            the logos beside their matches, with the verdicts
    reports/logos/*.png    one logo panel per motif
"""

from __future__ import annotations

import dataclasses
import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from genomeflow.config import InterpretConfig
from genomeflow.interpret.attributions import SequenceAttribution
from genomeflow.interpret.discovery import DiscoveredMotif, Occurrence, discover_motifs
from genomeflow.interpret.meme import write_meme
from genomeflow.interpret.naming import Match, load_database, name_motifs, verdict
from genomeflow.report import html_page, html_table, png_image
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.tracking.stage import REPORTS_FOLDER

log = logging.getLogger(__name__)

LOGOS = f"{REPORTS_FOLDER}/logos"
PROTEIN_NOTE = (
    "Protein model: motif discovery and naming were skipped. TF-MoDISco aligns seqlets on both "
    "DNA strands, which has no meaning for amino acids, and JASPAR holds DNA-binding motifs; "
    "see the k-mer tables."
)


@dataclass
class MotifResults:
    """What discovery and naming found.

    Attributes:
        motifs: every class's discovered motifs.
        matches: per motif name, its matches (best first); empty when not named.
        source: the motif database named against ("" when none was used).
        notes: plain sentences for the report (skips, classes without motifs).
    """

    motifs: list[DiscoveredMotif] = field(default_factory=list)
    matches: dict[str, list[Match]] = field(default_factory=dict)
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def sites(self) -> dict[int, list[tuple[str, Occurrence]]]:
        """Per attributed sequence (its index): the motifs found in it and where."""
        found: dict[int, list[tuple[str, Occurrence]]] = {}
        for motif in self.motifs:
            for place in motif.occurrences:
                found.setdefault(place.index, []).append((motif.motif.name, place))
        return found

    def named(self) -> dict[str, str]:
        """Per motif: its verdict sentence (``matches MA0139.2 CTCF (q = 1e-05)``...)."""
        return {m: verdict(found, self.source) for m, found in self.matches.items() if found}


def find_motifs(
    items: Sequence[SequenceAttribution],
    alphabet: Alphabet,
    classes: dict[str, list[int]],
    config: InterpretConfig,
) -> MotifResults:
    """TF-MoDISco on each class's attributions (``classes``: class -> item indices), then
    TOMTOM for every motif found, against the config's motif database."""
    results = MotifResults()
    if alphabet is Alphabet.PROTEIN:
        log.warning(PROTEIN_NOTE)
        results.notes.append(PROTEIN_NOTE)
        return results
    for target, indices in classes.items():
        chosen = [items[i] for i in indices]
        found = discover_motifs(
            chosen,
            target,
            alphabet.canonical,
            min_seqlets=config.motif_min_seqlets,
            max_seqlets=config.motif_max_seqlets,
        )
        if not found:
            results.notes.append(
                f"{target}: TF-MoDISco found no motif in {len(chosen)} sequences (too few "
                "seqlets stood out, or none clustered; more sequences help)."
            )
        for motif in found:  # occurrences re-indexed from the class's list to all items
            remapped = tuple(
                Occurrence(indices[o.index], o.start, o.end, o.strand) for o in motif.occurrences
            )
            results.motifs.append(dataclasses.replace(motif, occurrences=remapped))
    if results.motifs:
        database = load_database(config.motif_database, config.jaspar_release, config.motif_taxon)
        results.source = database.source
        results.matches = name_motifs([m.motif for m in results.motifs], database)
    return results


def write_motif_files(
    results: MotifResults, items: Sequence[SequenceAttribution], folder: Path
) -> None:
    """Write the MEME file, the tables, the logos and motifs.html (see the module's list)."""
    import pandas as pd

    from genomeflow.interpret.logos import draw_motif

    motifs = results.motifs
    letters = motifs[0].motif.letters if motifs else Alphabet.DNA.canonical
    write_meme(folder / "motifs.meme", [m.motif for m in motifs], letters)
    rows, matches, matrices, sites = [], [], [], []
    (folder / LOGOS).mkdir(parents=True, exist_ok=True)
    for found in motifs:
        name = found.motif.name
        named = results.matches.get(name, [])
        best = named[0] if named else None
        rows.append(
            {
                "motif": name,
                "class": found.target,
                "sign": found.sign,
                "seqlets": found.seqlets,
                "contribution": found.contribution,
                "width": found.motif.width,
                "consensus": found.motif.consensus(),
                "best_match": best.target.name if best else "",
                "best_match_name": best.target.alt if best else "",
                "p_value": best.p_value if best else float("nan"),
                "q_value": best.q_value if best else float("nan"),
                "verdict": verdict(named, results.source) if named else "not named",
            }
        )
        matches += [
            {
                "motif": name,
                "rank": rank,
                "match": m.target.name,
                "match_name": m.target.alt,
                "p_value": m.p_value,
                "q_value": m.q_value,
                "strand": m.strand,
                "offset": m.offset,
                "overlap": m.overlap,
                "database": results.source,
            }
            for rank, m in enumerate(named, start=1)
        ]
        for position, (pfm, cwm) in enumerate(zip(found.motif.matrix, found.cwm, strict=True)):
            for column, letter in enumerate(found.motif.letters):
                matrices.append(
                    {
                        "motif": name,
                        "position": position + 1,
                        "letter": letter,
                        "frequency": pfm[column],
                        "contribution": cwm[column],
                    }
                )
        sites += [
            {
                "motif": name,
                "id": items[o.index].id,
                "start": o.start + 1,
                "end": o.end,
                "strand": o.strand,
                "site": items[o.index].sequence[o.start : o.end],
            }
            for o in found.occurrences
        ]
        draw_motif(found, best, folder / LOGOS / f"{name}.png")
    tables = {
        "motifs.tsv": (rows, ["motif", "class", "sign", "seqlets", "contribution", "width"]),
        "motif_matches.tsv": (matches, ["motif", "rank", "match", "p_value", "q_value"]),
        "motif_matrices.tsv": (matrices, ["motif", "position", "letter", "frequency"]),
        "motif_sites.tsv": (sites, ["motif", "id", "start", "end", "strand"]),
    }
    for file_name, (records, columns) in tables.items():
        frame = pd.DataFrame(records) if records else pd.DataFrame(columns=columns)
        frame.to_csv(folder / file_name, sep="\t", index=False, float_format="%.6g")
    page = html_page("motifs", motif_section(results, folder, embed=False))
    (folder / "motifs.html").write_text(page, encoding="utf-8")


def motif_section(results: MotifResults, folder: Path, embed: bool = True) -> str:
    """The motifs as HTML: what was compared, each motif's logo and verdict. ``embed`` puts the
    PNGs in the page (a single-file viewer such as the Kubeflow UI); else it links them."""
    parts = ["<h2>Motifs (TF-MoDISco, named with TOMTOM)</h2>"]
    parts += [f"<p>{html.escape(note)}</p>" for note in results.notes]
    if not results.motifs:
        return "\n".join(parts)
    parts.append(
        f"<p>{len(results.motifs)} motif(s); compared with <b>{html.escape(results.source)}</b>. "
        "A match with q &lt; 0.05 is named; q is the Benjamini-Hochberg adjusted p-value over "
        "every motif of the database compared with the same motif. Logos: the contribution "
        "(attribution per letter), the letter frequencies and the best match (bits).</p>"
    )
    header = ["motif", "class", "sign", "seqlets", "contribution", "consensus", "verdict"]
    named = results.named()
    rows = [
        [
            m.motif.name,
            m.target,
            m.sign,
            m.seqlets,
            f"{m.contribution:+.3g}",
            m.motif.consensus(),
            named.get(m.motif.name, "not named"),
        ]
        for m in results.motifs
    ]
    parts.append(html_table(header, rows))
    for m in results.motifs:
        logo = folder / LOGOS / f"{m.motif.name}.png"
        title = f"{m.motif.name}: {named.get(m.motif.name, 'not named')}"
        parts.append(f"<h3>{html.escape(title)}</h3>")
        if embed and logo.is_file():
            parts.append(png_image(logo.read_bytes(), m.motif.name))
        else:
            parts.append(f'<img src="{LOGOS}/{html.escape(m.motif.name)}.png" alt="logo">')
    parts.append(
        "<p>Files: motifs.meme, motifs.tsv, motif_matches.tsv, motif_matrices.tsv, "
        "motif_sites.tsv; each sequence's page marks its motif sites.</p>"
    )
    return "\n".join(parts)
