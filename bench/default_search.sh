#!/usr/bin/env bash
# The default job, timed: `nasbox search --budget 50` on the bundled data, in a fresh folder.
# Prints the wall time and the best validation accuracy. Targets (2-core CPU): <= 10 minutes, >= 97%.
#   bash bench/default_search.sh [extra nasbox search options]
set -euo pipefail
dir=$(mktemp -d)
start=$(date +%s.%N)
nasbox search --budget 50 --reports-dir "$dir" "$@" > "$dir/log.txt" 2>&1 || { tail -20 "$dir/log.txt"; exit 1; }
end=$(date +%s.%N)
python3 - "$dir" "$start" "$end" <<'PY'
import glob, sys
import pandas as pd
d, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
df = pd.read_csv(glob.glob(f"{d}/*/trials.csv")[0])
done = df[df["status"].isin(["complete", "repeat"])]
print(f"wall time {end - start:.0f} s ({(end - start) / 60:.1f} min) for {len(df)} trials "
      f"({(df['status'] == 'complete').sum()} trained, {(df['status'] == 'repeat').sum()} repeats, "
      f"{(df['status'] == 'failed').sum()} failed); best validation accuracy {done['accuracy'].max():.4f}")
PY
echo "report folder: $dir"
