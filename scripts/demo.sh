#!/usr/bin/env bash
# The main job: set up, build, ingest corpus/ (chunks embedded with
# all-MiniLM-L6-v2) and search it in English and Chinese with hybrid
# (BM25 + dense) retrieval. Uses ./ragd-data (override with RAGD_DATA).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
RAGD=build/api/ragd
export RAGD_DATA=${RAGD_DATA:-./ragd-data}

echo "== ragd ingest corpus/"
$RAGD ingest corpus/
echo
echo "== ragd search \"How long before a laptop locks itself?\""
$RAGD search -k 3 "How long before a laptop locks itself?"
echo "== ragd search \"特休假有幾天\""
$RAGD search -k 3 "特休假有幾天"
echo "== ragd ask \"How many days do I have to submit an expense report?\""
$RAGD ask "How many days do I have to submit an expense report?"
