#!/bin/bash
# Send one DICOM export to one archive from a Slurm job array: array task i sends shard i/SHARDS.
# See docs/scale.md.
#
#   sbatch examples/slurm-storescu.sh /shared/export
#   PEER=pacs.example.org PORT=11112 CALLED_AE=PACS sbatch examples/slurm-storescu.sh /shared/export
#   sbatch --array=2 examples/slurm-storescu.sh /shared/export     # run task 2 again
#
# Every task keeps its own journal in JOURNALS (shared storage, same path on every node). A task
# run again (requeued after a node failure or preemption, or resubmitted) sends only what its
# journal does not record as stored. SHARDS must match --array=0-(SHARDS-1); keep it the same for
# the whole export, since another SHARDS sends every file from another task.
#SBATCH --job-name=storescu
#SBATCH --array=0-3
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=12:00:00
#SBATCH --requeue
#SBATCH --output=storescu-%A_%a.log

set -euo pipefail

EXPORT=${1:?usage: sbatch slurm-storescu.sh EXPORT-FOLDER}
SHARDS=${SHARDS:-4}
INDEX=${SLURM_ARRAY_TASK_ID:?submit as a job array (sbatch --array=0-3)}
PEER=${PEER:-archive.example.org}
PORT=${PORT:-104}
CALLED_AE=${CALLED_AE:-ARCHIVE}
JOURNALS=${JOURNALS:-$HOME/storescu-journals}
STORESCU=${STORESCU:-storescu}

mkdir -p "$JOURNALS"
journal="$JOURNALS/shard-$INDEX-of-$SHARDS.journal"
report="$JOURNALS/shard-$INDEX-of-$SHARDS.report.json"
rm -f "$report"

# -nh: a file the archive refuses does not stop the shard; --retry: a busy or restarting
# archive does not fail it; --journal: a task run again resumes.
"$STORESCU" -aec "$CALLED_AE" -nh --retry 5 --retry-wait 2 \
    --shard "$INDEX/$SHARDS" --journal "$journal" --report "$report" \
    +sd +r "$PEER" "$PORT" "$EXPORT"

# With -nh storescu exits 0 even if some files were not stored (DCMTK's rule), so check the
# report. There is none when the shard had nothing left to send.
if [ -f "$report" ] && ! grep -q '"failed": 0,' "$report"; then
    echo "shard $INDEX/$SHARDS: some files were not stored (\"ok\":false in $journal)" >&2
    exit 1
fi
