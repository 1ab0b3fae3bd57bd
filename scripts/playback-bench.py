#!/usr/bin/env python3
"""Cost of masked or watermarked playback, against plain playback in the same run.

Runs `vigil run` twice on the shared car clip (768x432, 12.5 fps, recorded, not analysed): once with
`[privacy] watermark = true` (every playback is decoded, watermarked and encoded again as it streams) and
once without (the recorded bytes are served). Each time it records 45 s, then fetches the first 30 s of
playback three times over HTTPS and prints the time to the first byte, the whole response's time, its
speed against real time, and the ratio between the two modes.

Usage: scripts/playback-bench.py [BINARY]   (default target/release/vigil; needs ../shared/footage)
Uses `requests` from the project's venv (dev/install-deps).
"""

import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import requests
import urllib3

urllib3.disable_warnings()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = os.path.join(ROOT, "..", "shared", "footage", "intel", "car-detection.mp4")


def run(binary, watermark, port):
    data = tempfile.mkdtemp(prefix="vigil-playback-bench-")
    config = os.path.join(data, "vigil.toml")
    with open(config, "w") as f:
        f.write(
            f'data_dir = "{data}/data"\n[server]\nlisten = "127.0.0.1:{port}"\n[analysis]\nenabled = false\n'
            f"[storage]\nsegment_seconds = 4\n[privacy]\nwatermark = {'true' if watermark else 'false'}\n"
            f'[[camera]]\nname = "yard"\nmain = "file://{os.path.abspath(CLIP)}"\nroles = ["record"]\n'
        )
    proc = subprocess.Popen([binary, "run", "--config", config], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    token = []

    def read():
        for line in proc.stdout:
            m = re.search(r"setup token: ([0-9a-f]+)", line)
            if m:
                token.append(m.group(1))

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.time() + 60
        while not token and time.time() < deadline:
            time.sleep(0.2)
        s = requests.Session()
        s.verify = False
        s.trust_env = False
        url = f"https://127.0.0.1:{port}"
        creds = {"username": "bench", "password": "tulip-orbit-42-canyon"}
        for _ in range(100):
            try:
                s.post(url + "/api/setup", json={"token": token[0], **creds})
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        s.post(url + "/api/login", json=creds).raise_for_status()
        time.sleep(45)
        now = int(time.time() * 1000)
        runs = s.get(url + f"/api/cameras/yard/recordings?start={now - 120000}&end={now}").json()
        runs = runs if isinstance(runs, list) else runs.get("runs", [])
        start = runs[0]["start"]
        end = min(runs[0]["end"], start + 30000)
        results = []
        for _ in range(3):
            t = time.time()
            r = s.get(url + f"/api/cameras/yard/playback.mp4?start={start}&end={end}", stream=True)
            first = None
            size = 0
            for chunk in r.iter_content(65536):
                if first is None:
                    first = time.time() - t
                size += len(chunk)
            results.append((first, time.time() - t, size, r.headers.get("accept-ranges")))
        return (end - start) / 1000, results
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "vigil")
    if not os.path.isfile(CLIP):
        print(f"SKIP: {CLIP} not found")
        return
    best = {}
    for watermark, port in ((True, 18443), (False, 18444)):
        seconds, results = run(binary, watermark, port)
        name = "watermarked" if watermark else "plain"
        for first, total, size, ranges in results:
            print(f"{name:>11}: {seconds:.0f} s of video, first byte {first * 1000:.0f} ms, "
                  f"all {size / 1e6:.2f} MB in {total:.2f} s ({seconds / total:.1f}x real time), ranges {ranges}")
        best[name] = min(r[1] for r in results)
    print(f"ratio watermarked / plain (best of 3): {best['watermarked'] / best['plain']:.0f}x")


if __name__ == "__main__":
    main()
