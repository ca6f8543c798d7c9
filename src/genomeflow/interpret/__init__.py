"""Interpretation: Integrated Gradients attributions, reports, k-mer summaries, and motifs found
with TF-MoDISco and named with TOMTOM against JASPAR or a motif file."""
