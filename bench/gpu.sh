#!/usr/bin/env bash
# The benchmarks on a CUDA GPU with CIFAR-10, writing their results under $OUT (default ./bench-out).
#   bash bench/gpu.sh DATA_DIR [PART...]       DATA_DIR holds cifar-10-batches-py/
# Parts, in the order they matter (each has its own time limits and ends within 9 minutes):
#   fill      the GPU's use by a search at the default GPU fidelity (3 epochs of the 45k split, batch 256):
#             CUDA tests, latency repeatability (CUDA graph and eager), the latency predictor, trial
#             overhead, a 50-trial 4-worker search with the GPU's busy share
#   fidelity  Kendall's tau of short brief training against 10 epochs on the full 45k/5k split
#   rest      the supernet benchmark, the data path, a 20-trial search, full training
#   e2e       end to end (not in the default three: it takes about 15 minutes): the default 50-trial search
#             on the whole training split, then its final rung (5 candidates, ResNet-18, MobileNetV2,
#             EfficientNet-B0, 10 epochs), with every stage's time and the headline against ResNet-18
# Without a PART the first three run, one after the other. Each part appends to $OUT/gpu-log.txt.
set -uo pipefail
data=${1:?usage: bench/gpu.sh DATA_DIR (holding cifar-10-batches-py/) [fill] [fidelity] [rest]}
shift
parts=${*:-fill fidelity rest}
out=${OUT:-bench-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
log="$out/gpu-log.txt"

machine() {
  echo "== machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
}

fill() {
  echo "== CUDA tests (CUDA graph capture and its fallback, training memory against the ledger's estimate)"
  timeout 45 python3 -m pytest -q -s -p no:cacheprovider tests/measure/test_latency.py tests/measure/test_latency_table.py tests/measure/test_slot.py \
    -k "cuda or gpu" 2>&1 | tail -n 20
  echo "== latency repeatability (3 processes): CUDA graph, then eager"
  timeout 50 python3 bench/latency_repeat.py --device cuda --json "$out/latency.json"
  timeout 35 python3 bench/latency_repeat.py --device cuda --eager --json "$out/latency_eager.json"
  echo "== latency predictor (15 candidates per space after calibration, 3 measurements each)"
  timeout 90 python3 bench/latency_predictor.py --device cuda --candidates 15 --spaces seed_cnn,mobilenet,resnet \
    --json "$out/latency_predictor.json"
  echo "== trial overhead (cifar10 at the default GPU fidelity)"
  timeout 90 python3 bench/trial_overhead.py --dataset cifar10 --data-dir "$data" --device cuda \
    --candidates 3 --json "$out/trial_overhead.json"
  echo "== search: 50 trials on cifar10 with 4 workers on one GPU at the default GPU fidelity (GPU busy sampled)"
  nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 250 > "$out/gpu_util.txt" &
  sampler=$!
  start=$(date +%s)
  timeout 200 python3 -m nasbox.cli search --dataset cifar10 --data-dir "$data" --budget 50 \
    --device cuda --workers 4 --study gpu50 --reports-dir "$out/reports50" | tail -n 5
  wall=$(( $(date +%s) - start ))
  pkill -f -- "--study gpu50" 2>/dev/null; sleep 1  # workers run in sessions of their own: stop any past the limit
  kill "$sampler" 2>/dev/null
  python3 -c "import statistics; u = [float(x) for x in open('$out/gpu_util.txt') if x.strip()]; \
print(f'GPU busy {statistics.mean(u):.0f}% (mean utilization over {len(u)} samples)')"
  echo "50-trial CIFAR-10 search (4 workers, 1 GPU) wall time $wall s"
  cp "$out"/reports50/gpu50/trials.csv "$out/search50_trials.csv" 2>/dev/null
  python3 -c "import pandas as pd; df = pd.read_csv('$out/search50_trials.csv'); \
print('best validation accuracy', df[df.status == 'complete'].accuracy.max())"
  rm -rf "$out/reports50"
}

fidelity() {
  echo "== fidelity: 10 random seed_cnn candidates, short training against 10 epochs (45k/5k, batch 256)"
  timeout 470 python3 bench/fidelity.py --dataset cifar10 --data-dir "$data" --device cuda --candidates 10 \
    --fidelity 1x256,2x256,3x256,4x512 --reference 10x256 --repeat --json "$out/fidelity.json"
}

rest() {
  echo "== supernet (mobilenet, cifar10): inherited against standalone accuracy, throughput, confirmed front"
  timeout 240 python3 bench/supernet.py --dataset cifar10 --data-dir "$data" --device cuda \
    --space-arg activations=relu6 --epochs 3 --batch-size 256 --standalone 30 --budget 300 --confirm 5 \
    --search-batch-size 256 --out "$out/supernet" --json "$out/supernet.json"
  rm -rf "$out/supernet"
  echo "== data path (cifar10)"
  timeout 60 python3 bench/data_path.py --data-dir "$data" --device cuda --steps 200 --resnet-steps 60 \
    --workers 8 --json "$out/data_path.json"
  echo "== search: 20 trials on cifar10, 1 epoch each, batch 256"
  start=$(date +%s)
  timeout 100 python3 -m nasbox.cli search --dataset cifar10 --data-dir "$data" --budget 20 --epochs 1 \
    --batch-size 256 --device cuda --reports-dir "$out/reports" | tail -n 40
  echo "search wall time $(( $(date +%s) - start )) s"
  cp "$out"/reports/*/trials.csv "$out/search_trials.csv" 2>/dev/null
  best=$(python3 -c "import pandas as pd; df = pd.read_csv('$out/search_trials.csv'); \
print(int(df[df.status == 'complete'].sort_values('accuracy').iloc[-1].number))")
  echo "== full training: ResNet-18 (CIFAR stem) and the best candidate (trial $best), 5 epochs, against a minimal loop"
  timeout 100 python3 bench/full_train.py --data-dir "$data" --device cuda --epochs 5 --zoo resnet18 \
    --study seed_cnn-cifar10 --trial "$best" --reports-dir "$out/reports" --json "$out/full_train.json"
  rm -rf "$out/reports"
}

e2e() {
  echo "== end to end: a 50-trial search of the whole CIFAR-10 training split, then --final 5 beside three classics"
  timeout 1500 python3 bench/end_to_end.py --data-dir "$data" --subset 0 --final-epochs 10 --device cuda \
    --reports-dir "$out/e2e" --json "$out/end_to_end.json" 2>&1 | grep -v " epoch "
  rm -rf "$out/e2e"
}

{
  machine
  for part in $parts; do
    case $part in
      fill|fidelity|rest|e2e) "$part" ;;
      *) echo "unknown part $part (fill, fidelity, rest, e2e)"; exit 2 ;;
    esac
  done
} 2>&1 | tee -a "$log"
