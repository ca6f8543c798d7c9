#!/usr/bin/env bash
# README's main job: the training pipeline on the KFP local runner with the local services (a
# real MLflow server, a real S3 store). tokenise -> dataset -> baselines + sweep -> train ->
# evaluate, crossval, interpret, compare -> register behind the champion gate; one MLflow parent
# run (experiment "demo") with a child run per stage; ends with a summary table.
# Usage: [MODEL=NAME] examples/demo.sh [DATA_DIR] [OUT_DIR]   (DATA_DIR: one FASTA file per class)
# The registered model is named after the data folder (demo-ecoli_promoters), or MODEL: each data
# set gets its own champion, never gated against a model of other classes.
set -euo pipefail
here=$(dirname "$0")
data=${1:-$here/data/ecoli_promoters}
out=${2:-out/demo}
shopt -s nullglob
inputs=("$data"/*.fa "$data"/*.fasta "$data"/*.fa.gz "$data"/*.fasta.gz)
[ ${#inputs[@]} -ge 2 ] || { echo "demo: give a folder of 2 or more FASTA files (one per class): $data" >&2; exit 2; }
# Registered model names take letters, digits, '.', '_' and '-': anything else becomes '_'.
folder=$(basename "$(cd "$data" && pwd)")
model=${MODEL:-demo-${folder//[^A-Za-z0-9._-]/_}}

genomeflow services up --object-store
genomeflow pipeline run --local -o "$out" --params-file "$here/pipeline/demo.yaml" \
  --param "model_name=$model" --inputs "${inputs[@]}"
echo "stop the services with: genomeflow services down"
