#!/usr/bin/env bash
# charrnn's torch engine on one CUDA GPU: training chars/s of LSTM 2x512 and 3x1024, the
# training time to 1.47 nats/char on tinyshakespeare's last 10%, a run carried from charrnn's
# engine on the CPU to the GPU and back, torchrun with NCCL, and a missing GPU refused.
#
#   bash benchmarks/torch_engine_gpu.sh [TEXT] [OUT]     (defaults: ../shared/corpora/tinyshakespeare.txt, gpu-out)
#
# Needs PyTorch with CUDA; run from the repository's root. JSON lines and logs go to OUT/results.txt;
# OUT/ttq-metrics.jsonl holds the validation curve of the time-to-1.47 run.
set -u
text="${1:-../shared/corpora/tinyshakespeare.txt}"
out="${2:-gpu-out}"
mkdir -p "$out"
runs="$(mktemp -d)"
trap 'rm -rf "$runs"' EXIT
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 CHARRNN_HOME="$runs/home"
log="$out/results.txt"
step() { echo "== $*" | tee -a "$log"; }
train() { python3 -m charrnn train "$@" --json -q >> "$log" 2>&1; echo "rc $?" >> "$log"; }

step machine
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$log"
lscpu | grep "Model name" >> "$log"
python3 -c "import torch, numba; print('torch', torch.__version__, 'numba', numba.__version__)" >> "$log" 2>&1

for shape in "2 512 128 100" "3 1024 128 100" "2 512 50 50"; do
    set -- $shape
    step "speed: LSTM $1x$2, batch $3, seq $4, 30 s"
    train "$text" --engine torch --device cuda --layers "$1" --hidden "$2" --batch "$3" --seq "$4" --time 30s \
        --eval-every 100000 --out "$runs/speed-$1x$2-$3"
done

step "time to 1.47: LSTM 2x512, batch 64, seq 100, dropout 0.3, cosine over 150 s, validated every 50 steps"
train "$text" --engine torch --device cuda --layers 2 --hidden 512 --batch 64 --seq 100 --dropout 0.3 \
    --schedule cosine --warmup 100 --time 150s --eval-every 50 --seed 0 --out "$runs/ttq"
cp "$runs/ttq/metrics.jsonl" "$out/ttq-metrics.jsonl"
python3 - "$out/ttq-metrics.jsonl" >> "$log" <<'PY'
import json, sys
vals = [r for r in map(json.loads, open(sys.argv[1])) if r.get("val_loss") is not None]
first = next((r for r in vals if r["val_loss"] <= 1.47), None)
best = min(vals, key=lambda r: r["val_loss"])
print("first at or below 1.47:", first and f"step {first['step']}, {first['seconds']} s of training")
print(f"best: {best['val_loss']:.4f} at step {best['step']}, {best['seconds']} s")
PY

step "round trip: charrnn's engine on the CPU, then the GPU, then the CPU again"
train corpora/plays.txt --hidden 128 --layers 2 --steps 60 --eval-every 30 --seed 3 --out "$runs/trip"
train --resume "$runs/trip" --engine torch --device cuda --steps 200
train --resume "$runs/trip" --engine charrnn --steps 300
python3 -m charrnn sample "$runs/trip" -n 200 --seed 1 >> "$log" 2>&1

step "torchrun, one process per GPU, NCCL"
nproc="$(nvidia-smi -L | wc -l)"
torchrun --standalone --nproc-per-node "$nproc" -m charrnn train corpora/plays.txt --engine torch \
    --hidden 128 --layers 2 --batch $((32 * nproc)) --steps 100 --out "$runs/ddp" --json -q >> "$log" 2>&1
echo "rc $?" >> "$log"

step "a GPU that is not there"
python3 -m charrnn train corpora/plays.txt --engine torch --device cuda:99 --steps 2 --out "$runs/none" >> "$log" 2>&1
echo "rc $?" >> "$log"
