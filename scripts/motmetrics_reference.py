#!/usr/bin/env python3
"""Scores MOTChallenge tracker results with py-motmetrics 1.4 and prints one line of JSON.

This is the reference the Rust metrics in `vigil_eval::mot` are checked against. It follows
motmetrics' own `apps/evaluateTracking.py` for MOT17: ground truth loaded whole (all classes), predictions
matched at IoU >= 0.5 to boxes of the distractor classes 2, 7, 8, 12 removed (`preprocessResult`), then
class 1 with consider flag 1 as ground truth, IoU distance threshold 0.5, `compute_many` with an overall row.

Usage: motmetrics_reference.py --gt-dir DIR --results DIR [--sequences SEQ ...]
  DIR/<SEQ>/gt/gt.txt and DIR/<SEQ>/seqinfo.ini; results in RESULTS/<SEQ>.txt.
"""

import argparse
import json
import os
import sys

import numpy as np

# motmetrics 1.4.0 calls np.asfarray, which NumPy 2 removed; restore its exact meaning.
if not hasattr(np, "asfarray"):
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)

import motmetrics as mm  # noqa: E402

FIELDS = {
    "mota": "mota",
    "motp": "motp",
    "idf1": "idf1",
    "idp": "idp",
    "idr": "idr",
    "precision": "precision",
    "recall": "recall",
    "num_unique_objects": "num_unique_objects",
    "mostly_tracked": "mostly_tracked",
    "partially_tracked": "partially_tracked",
    "mostly_lost": "mostly_lost",
    "num_false_positives": "num_false_positives",
    "num_misses": "num_misses",
    "num_switches": "num_switches",
    "num_fragmentations": "num_fragmentations",
    "num_objects": "num_objects",
    "num_predictions": "num_predictions",
    "idtp": "idtp",
    "idfp": "idfp",
    "idfn": "idfn",
}

RATIOS = {"mota", "motp", "idf1", "idp", "idr", "precision", "recall"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gt-dir", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--sequences", nargs="*")
    args = ap.parse_args()

    seqs = args.sequences or sorted(
        f[:-4] for f in os.listdir(args.results) if f.endswith(".txt")
    )
    if not seqs:
        print(f"no result files in {args.results}", file=sys.stderr)
        return 2
    accs, names = [], []
    for seq in seqs:
        gt_file = os.path.join(args.gt_dir, seq, "gt", "gt.txt")
        ini = os.path.join(args.gt_dir, seq, "seqinfo.ini")
        res_file = os.path.join(args.results, seq + ".txt")
        gt = mm.io.loadtxt(gt_file, fmt="mot16")
        ts = mm.io.loadtxt(res_file, fmt="mot16")
        acc, _ = mm.utils.CLEAR_MOT_M(gt, ts, ini, "iou", distth=0.5)
        accs.append(acc)
        names.append(seq)

    mh = mm.metrics.create()
    metrics = list(FIELDS.values())
    summary = mh.compute_many(accs, names=names, metrics=metrics, generate_overall=True)
    out = {}
    for name, row in summary.iterrows():
        out["overall" if name == "OVERALL" else name] = {
            key: (float(row[col]) if key in RATIOS else int(row[col])) for key, col in FIELDS.items()
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
