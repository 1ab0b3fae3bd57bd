#!/usr/bin/env bash
# Measures the independent second detector of intrusion rules (`second_opinion`, docs/second-opinion.md)
# on the shared clips with `vigil analyze --rules`: a whole-picture person zone watched by an intrusion
# rule at 5 fps, with the main detector working and blinded (a fault that returns no people:
# `--classes giraffe`), without and with the second detector; then a phantom person injected into the
# walkway (`--phantom`), without and with confirmation. Prints one Markdown table row per clip and mode.
#
#   scripts/second-opinion.sh [VIGIL] [SECOND_MODEL]     (defaults: target/debug/vigil, person-192)
set -euo pipefail
VIGIL=${1:-${CARGO_TARGET_DIR:-target}/debug/vigil}
MODEL=${2:-person-192}
FOOTAGE=${FOOTAGE:-../shared/footage}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

rules() { # MODE -> rules file (MODE "" = no second opinion)
  local f="$TMP/rules-${1:-off}.toml"
  {
    printf '[[zone]]\nname = "Room"\npoints = [[0, 0], [1, 0], [1, 1], [0, 1]]\nclasses = ["person"]\n\n'
    printf '[[rule]]\nname = "Room intrusion"\nkind = "intrusion"\nzone = "Room"\n'
    [ -n "$1" ] && printf 'second_opinion = "%s"\n' "$1"
  } >"$f"
  echo "$f"
}

# run MODE VIDEO SAVE ARGS... -> "main caught phantom never_confirmed looks ms_per_look covered"; the events
# are kept in $TMP/SAVE.jsonl; "covered": of the intrusions of $TMP/$COVER.jsonl (the main detector
# working), those overlapping in time an intrusion of this run.
run() {
  local mode=$1 video=$2 save=$3; shift 3
  local ev="$TMP/$save.jsonl"
  local extra=()
  [ -n "$mode" ] && extra=(--second-model "$MODEL")
  local out
  out=$("$VIGIL" analyze "$video" --quiet --detect-fps 5 --rules "$(rules "$mode")" --events "$ev" \
    "${extra[@]}" "$@" 2>/dev/null)
  python3 - "$ev" "$out" "$TMP/${COVER:-none}.jsonl" <<'PY'
import json, os, re, sys
def spans(path):
    open_, out = {}, []
    for l in open(path):
        e = json.loads(l)
        if e["kind"]["type"] != "intrusion":
            continue
        if e["phase"] == "start":
            open_[e["id"]] = e["start"]["unix_ms"]
        if e["phase"] == "end":
            out.append((e["start"]["unix_ms"], e["end"]["unix_ms"]))
    return out
covered = "-"
if os.path.exists(sys.argv[3]):
    mine, theirs = spans(sys.argv[1]), spans(sys.argv[3])
    n = sum(any(a <= d and c <= b for (c, d) in mine) for (a, b) in theirs)
    covered = f"{n}/{len(theirs)}"
starts = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
starts = [e for e in starts if e["phase"] == "start" and e["kind"]["type"] == "intrusion"]
caught = [e for e in starts if "second detector" in e["description"]]
phantom = [e for e in starts if e.get("track_ids") == [1 << 40]]
m = re.search(r"looked in (\d+) frames, ([\d.]+) ms per look.*?(\d+) never confirmed", sys.argv[2])
looks, ms, supp = (m.group(1), m.group(2), m.group(3)) if m else ("-", "-", "-")
print(len(starts) - len(caught), len(caught), len(phantom), supp, looks, ms, covered)
PY
}

echo "| clip | main detector, second opinion | main-detector intrusions | second-detector intrusions | phantom intrusions | never confirmed | looks | ms per look | working run's intrusions covered |"
echo "|---|---|---|---|---|---|---|---|---|"
for clip in intel/one-by-one-person-detection.mp4 anomaly-avenue/train_12.mp4 anomaly-avenue/train_16.mp4 \
  intel/people-detection.mp4 intel/classroom.mp4 intel/store-aisle-detection.mp4 intel/worker-zone-detection.mp4 \
  intel/face-demographics-walking-and-pause.mp4 intel/person-bicycle-car-detection.mp4 intel/car-detection.mp4 \
  traffic/highway-320x240.mp4 traffic/motorway-320x240.mp4; do
  v="$FOOTAGE/$clip"
  [ -f "$v" ] || { echo "SKIP: $v absent" >&2; continue; }
  for spec in "off|working|" "both|working|" "off|blinded|--classes giraffe" "catch|blinded|--classes giraffe"; do
    IFS='|' read -r mode state args <<<"$spec"
    m=$mode; [ "$m" = off ] && m=""
    save="$(basename "$clip")-$state-$mode"
    COVER=""; [ "$state" = blinded ] && COVER="$(basename "$clip")-working-off"
    # shellcheck disable=SC2086
    read -r main caught phantom supp looks ms covered < <(COVER=$COVER run "$m" "$v" "$save" $args)
    echo "| $(basename "$clip") | $state, ${mode} | $main | $caught | $phantom | $supp | $looks | $ms | $covered |"
  done
done
v="$FOOTAGE/intel/one-by-one-person-detection.mp4"
if [ -f "$v" ]; then
  for mode in off confirm; do
    m=$mode; [ "$m" = off ] && m=""
    read -r main caught phantom supp looks ms _ < <(run "$m" "$v" "phantom-$mode" --phantom "person@0.04,0.40,0.16,0.85")
    echo "| one-by-one (phantom) | working + phantom, ${mode} | $main | $caught | $phantom | $supp | $looks | $ms | - |"
  done
fi
