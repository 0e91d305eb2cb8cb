#!/bin/bash
# Submit a progressive recipe as a chain of jobs, one per stage budget: each job re-runs the
# recipe, which skips finished stages and resumes the interrupted one from its checkpoint.
#   slurm/chained_stages.sh recipes/yarn-128k.yaml 3 [--field value ...]
set -euo pipefail
RECIPE=${1:?usage: slurm/chained_stages.sh RECIPE JOBS [overrides]}; JOBS=${2:-2}; shift 2 || true
prev=""
for i in $(seq 1 "$JOBS"); do
  dep=${prev:+--dependency=afterany:$prev}
  prev=$(sbatch --parsable $dep slurm/multinode.sbatch "$RECIPE" "$@")
  echo "submitted job $prev (part $i of $JOBS)"
done
