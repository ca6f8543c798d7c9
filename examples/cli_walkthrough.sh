#!/usr/bin/env bash
# Every stage as a separate command (what the training pipeline runs as components), on real data: start the local services
# (a real MLflow server, a real S3 store), validate the class FASTA files, make k-let-shuffled
# and Markov controls, learn an empirical (Unigram) tokeniser, and build the grouped, stratified
# train/valid/test dataset, train classic baselines (one swept), score the controls with one,
# train a tiny transformer, register it behind the champion gate and predict with the champion;
# every stage is an MLflow run in the experiment "demo".
# Usage: examples/cli_walkthrough.sh DATA_DIR OUT_DIR   (DATA_DIR holds one FASTA file per class)
set -euo pipefail
data=${1:?give the folder of FASTA files}
out=${2:?give an output folder}
mkdir -p "$out"
shopt -s nullglob
inputs=("$data"/*.fa "$data"/*.fasta "$data"/*.fa.gz "$data"/*.fasta.gz)
[ ${#inputs[@]} -gt 0 ] || { echo "demo: no FASTA files in $data" >&2; exit 2; }

echo "== 0. local services: MLflow server and S3 object store (reused when already up)"
genomeflow services up --object-store
export GENOMEFLOW_EXPERIMENT=demo

echo "== 1. validate and summarise the inputs"
genomeflow validate "${inputs[@]}" --json "$out/inputs.summary.json"

echo "== 2. controls: dinucleotide-preserving shuffles and order-2 Markov samples"
for input in "${inputs[@]}"; do
  name=$(basename "$input"); name=${name%%.*}
  genomeflow synthetic "$input" -o "$out/$name.shuffle_k2.fasta.gz" --method shuffle -k 2 --seed 1
  genomeflow synthetic "$input" -o "$out/$name.markov_o2.fasta.gz" --method markov --order 2 --seed 1
done

echo "== 3. validate the controls"
genomeflow validate "$out"/*.fasta.gz --json "$out/controls.summary.json"

echo "== 4. the -10 box TATAAT: records that hold it, in the data and in its controls"
count() { zcat -f "$1" | grep -v '^>' | tr -d '\r' | grep -c TATAAT || true; }
for input in "${inputs[@]}"; do
  name=$(basename "$input"); name=${name%%.*}
  printf '%-14s records with TATAAT: %5s   in k=2 shuffles: %5s   in Markov samples: %5s\n' \
    "$name" "$(count "$input")" "$(count "$out/$name.shuffle_k2.fasta.gz")" "$(count "$out/$name.markov_o2.fasta.gz")"
done
echo "== 5. an empirical (SentencePiece-style Unigram) tokeniser learned from the sequences"
genomeflow tokenise "${inputs[@]}" -o "$out/tokeniser" --method unigram --vocab-size 4096 \
  --example TTGACAATTAATCATCGGCTCGTATAATGTGTGGA

echo "== 6. the dataset: split by source sequence, reverse complements in train only, tokenised"
genomeflow dataset "${inputs[@]}" -t "$out/tokeniser" -o "$out/dataset"

echo "== 7. baselines: positional one-hot + random forest; TF-IDF of the tokens + XGBoost, swept"
genomeflow baseline "$out/dataset" -o "$out/baseline_onehot_rf" --features onehot --model rf --folds 5
genomeflow baseline "$out/dataset" -o "$out/baseline_tfidf_xgb" --features tfidf --model xgb \
  --sweep "$(dirname "$0")/sweeps/xgb.yaml" --folds 5

echo "== 8. predict: how the swept model scores the dinucleotide shuffles of each class"
for input in "${inputs[@]}"; do
  name=$(basename "$input"); name=${name%%.*}
  genomeflow predict "$out/baseline_tfidf_xgb" "$out/$name.shuffle_k2.fasta.gz" \
    -o "$out/$name.shuffle_k2.predictions.csv"
done
echo "== 9. a genomicBERT transformer (DistilBERT, tiny preset: minutes on 2 CPU cores), test split once"
genomeflow train "$out/dataset" -o "$out/distilbert_tiny" --preset tiny --epochs 4 --learning-rate 1e-3

echo "== 10. register it; the gate makes it champion only if it beats the champion on the same test split"
genomeflow register "$out/distilbert_tiny" --name genomeflow-demo --dataset "$out/dataset"

echo "== 11. predict with the registered champion (models:/genomeflow-demo@champion)"
for input in "${inputs[@]}"; do
  name=$(basename "$input"); name=${name%%.*}
  genomeflow predict models:/genomeflow-demo@champion "$out/$name.markov_o2.fasta.gz" \
    -o "$out/$name.markov_o2.champion.csv"
done
echo "demo outputs are in $out; the runs are in the MLflow UI (experiment 'demo')"
genomeflow services status
echo "stop the services with: genomeflow services down"
