#!/usr/bin/env python3
"""Runs supervision 0.26.1's `sv.ByteTrack` on MOTChallenge public detections and writes MOT results.

The peer our own ByteTracker is compared against: default parameters, `frame_rate` from seqinfo.ini, every
detection row of `det.txt` given to the tracker (it splits high/low scores itself), the tracker called for
every frame 1..seqLength (also frames without detections). Output rows are what `update_with_detections`
returns (the input boxes it kept, with their tracker ids): `frame,id,left,top,width,height,1,-1,-1,-1`.

Usage: reference_bytetrack.py --det-dir DIR --gt-dir DIR --out DIR [--sequences SEQ ...]
  det: DET_DIR/<SEQ>/det/det.txt; frame rate and length: GT_DIR/<SEQ>/seqinfo.ini.
Prints one line of JSON: {"sequences": [...], "frames": N, "seconds": S}.
"""

import argparse
import configparser
import json
import os
import sys
import time

import numpy as np
import supervision as sv


def read_det(path):
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    by_frame = {}
    for r in rows:
        by_frame.setdefault(int(r[0]), []).append(r)
    return by_frame


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--det-dir", required=True)
    ap.add_argument("--gt-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sequences", nargs="+", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    total_frames = 0
    total_seconds = 0.0
    for seq in args.sequences:
        ini = configparser.ConfigParser()
        ini.read(os.path.join(args.gt_dir, seq, "seqinfo.ini"), encoding="utf8")
        frame_rate = int(float(ini["Sequence"]["frameRate"]))
        length = int(ini["Sequence"]["seqLength"])
        dets = read_det(os.path.join(args.det_dir, seq, "det", "det.txt"))

        tracker = sv.ByteTrack(frame_rate=frame_rate)
        lines = []
        for frame in range(1, length + 1):
            rows = dets.get(frame, [])
            if rows:
                a = np.asarray(rows, dtype=np.float64)
                xyxy = np.column_stack((a[:, 2], a[:, 3], a[:, 2] + a[:, 4], a[:, 3] + a[:, 5]))
                d = sv.Detections(
                    xyxy=xyxy.astype(np.float32),
                    confidence=a[:, 6].astype(np.float32),
                    class_id=np.zeros(len(a), dtype=int),
                )
            else:
                d = sv.Detections.empty()
            t0 = time.perf_counter()
            out = tracker.update_with_detections(d)
            total_seconds += time.perf_counter() - t0
            for (x1, y1, x2, y2), tid in zip(out.xyxy, out.tracker_id):
                lines.append(
                    f"{frame},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},1,-1,-1,-1\n"
                )
        total_frames += length
        with open(os.path.join(args.out, seq + ".txt"), "w") as f:
            f.writelines(lines)
    print(json.dumps({"sequences": args.sequences, "frames": total_frames, "seconds": total_seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
