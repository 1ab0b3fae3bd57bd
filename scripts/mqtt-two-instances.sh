#!/usr/bin/env bash
# Two `vigil run` on one MQTT broker, as two boxes (or two data directories) of one site run them: each with
# only `[mqtt] host/port` configured and one recorded camera. Counts, at a subscriber to every topic, the
# Home Assistant discovery messages, the availability messages and the connections of both over SECONDS.
#
#   scripts/mqtt-two-instances.sh [BINARY] [SECONDS]     (default target/debug/vigil, 70 s)
#
# Needs mosquitto and mosquitto_sub (Debian's mosquitto, mosquitto-clients) and the shared footage.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$repo/target/debug/vigil}"
secs="${2:-70}"
video="$repo/../shared/footage/intel/worker-zone-detection.mp4"
[ -f "$video" ] || { echo "footage not found: $video" >&2; exit 1; }
dir="$(mktemp -d)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$dir/mosquitto.conf"
mosquitto -c "$dir/mosquitto.conf" > "$dir/mosquitto.log" 2>&1 & broker=$!
sleep 0.5
mosquitto_sub -p "$port" -v -t '#' > "$dir/seen.log" 2>&1 & sub=$!
vigils=()
for name in a b; do
  mkdir -p "$dir/$name"
  cat > "$dir/$name/vigil.toml" <<TOML
data_dir = "$dir/$name"
[server]
listen = "127.0.0.1:$(free_port)"
[analysis]
enabled = false
[[camera]]
name = "Front"
main = "file://$video"
roles = ["record"]
[mqtt]
host = "127.0.0.1"
port = $port
TOML
  "$bin" --log info run --config "$dir/$name/vigil.toml" > "$dir/$name/log" 2>&1 & vigils+=($!)
done
sleep "$secs"
for p in "${vigils[@]}"; do kill -TERM "$p"; done
for p in "${vigils[@]}"; do wait "$p" || true; done
sleep 1
kill "$sub" "$broker"
wait "$sub" "$broker" 2>/dev/null || true
connections=$(cat "$dir"/a/log "$dir"/b/log | sed 's/\x1b\[[0-9;]*m//g' | grep -c 'MQTT connected\|MQTT reconnected' || true)
echo "two instances, $secs s: $(grep -c '^homeassistant/' "$dir/seen.log" || true) discovery messages," \
  "$(grep -c '/availability ' "$dir/seen.log" || true) availability messages, $connections connections"
rm -rf "$dir"
