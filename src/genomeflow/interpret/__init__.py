"""Interpretation: Integrated Gradients attributions, reports and motif summaries."""
