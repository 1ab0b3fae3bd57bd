#!/usr/bin/env python3
"""Reference person AP50 of the bundled detectors on MOT17-mini, with the onnxruntime Python package and OpenCV.

An independent check of `vigil eval detect`: same models, the pre/post-processing written in
`../shared/models/README.md`, cv2 INTER_LINEAR resizing, the same AP protocol (VOC all-point interpolation,
class 1 & consider 1 positives, classes 2/7/8/12 ignore regions). Run with the project's venv:

    source dev/install-deps
    $VIGIL_PY -m pip install onnxruntime==1.31.1 opencv-python-headless   # once
    $VIGIL_PY dev/reference/detector_ap.py [--model yolox|nanodet|person192] [--tiled] [--score 0.01]
"""
import argparse
import glob
import os
import subprocess
import time

import cv2
import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "../../../shared"))
IGNORE = {2, 7, 8, 12}
INTERP = [cv2.INTER_LINEAR]  # resize interpolation (--interp)


def nms(boxes, scores, thr):
    order = scores.argsort()[::-1]
    keep = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.maximum(0, xx2 - xx1) * np.maximum(0, yy2 - yy1)
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][iou <= thr]
    return keep


class Yolox:
    def __init__(self, path, size, threads):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.size = size
        self.name = self.s.get_inputs()[0].name
        grids, strides = [], []
        for st in (8, 16, 32):
            n = size // st
            gy, gx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            grids.append(np.stack([gx.ravel(), gy.ravel()], 1))
            strides.append(np.full((n * n, 1), st))
        self.grid = np.concatenate(grids).astype(np.float32)
        self.stride = np.concatenate(strides).astype(np.float32)

    def __call__(self, img, score_thr):
        h, w = img.shape[:2]
        r = min(self.size / h, self.size / w)
        canvas = np.full((self.size, self.size, 3), 114, np.uint8)
        rw, rh = int(w * r), int(h * r)
        canvas[:rh, :rw] = cv2.resize(img, (rw, rh), interpolation=INTERP[0])
        x = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        t = time.perf_counter()
        out = self.s.run(None, {self.name: x})[0][0]
        self.last_ms = (time.perf_counter() - t) * 1e3
        xy = (out[:, :2] + self.grid) * self.stride
        wh = np.exp(out[:, 2:4]) * self.stride
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1) / r
        scores = out[:, 4:5] * out[:, 5:]
        return class_nms(boxes, scores, score_thr, 0.45)


class NanoDet:
    MEAN = np.array([103.53, 116.28, 123.675], np.float32)
    STD = np.array([57.375, 57.12, 58.395], np.float32)

    def __init__(self, path, threads):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.name = self.s.get_inputs()[0].name

    def __call__(self, img, score_thr):
        h, w = img.shape[:2]
        r = min(416 / h, 416 / w)
        rw, rh = int(w * r), int(h * r)
        canvas = np.zeros((416, 416, 3), np.uint8)
        top, left = (416 - rh) // 2, (416 - rw) // 2
        canvas[top:top + rh, left:left + rw] = cv2.resize(img, (rw, rh), interpolation=INTERP[0])
        x = ((canvas.astype(np.float32) - self.MEAN) / self.STD).transpose(2, 0, 1)[None]
        t = time.perf_counter()
        outs = self.s.run(None, {self.name: x})
        self.last_ms = (time.perf_counter() - t) * 1e3
        by_shape = {o.shape[1:]: o[0] for o in outs}
        all_boxes, all_scores = [], []
        for st in (8, 16, 32):
            n = 416 // st
            cls = by_shape[(n * n, 80)]
            reg = by_shape[(n * n, 32)].reshape(-1, 4, 8)
            reg = np.exp(reg - reg.max(-1, keepdims=True))
            reg /= reg.sum(-1, keepdims=True)
            dist = (reg * np.arange(8)).sum(-1) * st
            gy, gx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            cx = gx.ravel() * st + 0.5 * (st - 1)
            cy = gy.ravel() * st + 0.5 * (st - 1)
            b = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1)
            all_boxes.append(b)
            all_scores.append(cls)
        boxes = np.concatenate(all_boxes)
        boxes[:, [0, 2]] -= left
        boxes[:, [1, 3]] -= top
        boxes /= r
        scores = np.concatenate(all_scores)
        return class_nms(boxes, scores, score_thr, 0.6)


def class_nms(boxes, scores, score_thr, iou_thr):
    cls = scores.argmax(1)
    sc = scores[np.arange(len(cls)), cls]
    m = sc >= score_thr
    boxes, sc, cls = boxes[m], sc[m], cls[m]
    out = []
    for c in np.unique(cls):
        idx = np.where(cls == c)[0]
        for k in nms(boxes[idx], sc[idx], iou_thr):
            out.append((boxes[idx[k]], sc[idx[k]], c))
    return out


def tiles(w, h, overlap=0.2):
    tw, th = w * (0.5 + overlap / 2), h * (0.5 + overlap / 2)
    return [(x, y, x + tw, y + th) for y in (0, h - th) for x in (0, w - tw)]


def detect_tiled(det, img, score_thr):
    h, w = img.shape[:2]
    dets = [(b, s, c, (0, 0, w, h)) for b, s, c in det(img, score_thr)]
    for (x1, y1, x2, y2) in tiles(w, h):
        x1, y1, x2, y2 = int(x1), int(y1), int(round(x2)), int(round(y2))
        for b, s, c in det(img[y1:y2, x1:x2], score_thr):
            b = b + np.array([x1, y1, x1, y1])
            # drop boxes cut by an inner tile edge
            cut = (b[0] <= x1 + 2 and x1 > 0) or (b[1] <= y1 + 2 and y1 > 0) or \
                  (b[2] >= x2 - 2 and x2 < w) or (b[3] >= y2 - 2 and y2 < h)
            if not cut:
                dets.append((b, s, c, (x1, y1, x2, y2)))
    boxes = np.array([d[0] for d in dets]).reshape(-1, 4)
    scores = np.array([d[1] for d in dets])
    out = []
    for k in nms(boxes, scores, 0.45):
        out.append((boxes[k], scores[k], dets[k][2]))
    return out


def read_ffmpeg(path, shape, flags="bilinear"):
    """Decodes like `vigil_media::image_file::read_bgr` (FFmpeg's decoder, swscale to bgr24)."""
    raw = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", path, "-sws_flags", flags,
         "-f", "rawvideo", "-pix_fmt", "bgr24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(shape).copy()


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0


def ap50(records, npos):
    """records: list of (score, frame_key, box); gt: dict frame_key -> (positives, ignores)."""
    return records, npos


def evaluate(dets_by_frame, gt_by_frame):
    allrec = []
    for k, dets in dets_by_frame.items():
        for b, s in dets:
            allrec.append((s, k, b))
    allrec.sort(key=lambda r: -r[0])
    used = {k: [False] * len(gt_by_frame[k][0]) for k in gt_by_frame}
    npos = sum(len(v[0]) for v in gt_by_frame.values())
    tp, fp = [], []
    for s, k, b in allrec:
        pos, ign = gt_by_frame[k]
        best, bi = 0.5, -1
        for i, g in enumerate(pos):
            if used[k][i]:
                continue
            o = iou(b, g)
            if o >= best:
                best, bi = o, i
        if bi >= 0:
            used[k][bi] = True
            tp.append(1); fp.append(0)
        elif any(iou(b, g) >= 0.5 for g in ign):
            continue
        else:
            tp.append(0); fp.append(1)
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / max(npos, 1)
    prec = tp / np.maximum(tp + fp, 1e-9)
    mrec = np.concatenate([[0], rec, [1]])
    mpre = np.concatenate([[0], prec, [0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="yolox", choices=["yolox", "nanodet", "person192"])
    ap.add_argument("--tiled", action="store_true")
    ap.add_argument("--score", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--decoder", default="opencv", choices=["opencv", "ffmpeg"])
    ap.add_argument("--interp", default="linear", choices=["linear", "area"])
    ap.add_argument("--sws-flags", default="bilinear", help="swscale flags with --decoder ffmpeg")
    a = ap.parse_args()
    INTERP[0] = cv2.INTER_AREA if a.interp == "area" else cv2.INTER_LINEAR
    models = os.path.join(SHARED, "models")
    if a.model == "yolox":
        det = Yolox(os.path.join(models, "yolox_nano_416.onnx"), 416, a.threads)
    elif a.model == "person192":
        det = Yolox(os.path.join(models, "light_person_detector_192.onnx"), 192, a.threads)
    else:
        det = NanoDet(os.path.join(models, "object_detection_nanodet_2022nov.onnx"), a.threads)
    seqs = sorted(glob.glob(os.path.join(SHARED, "footage/mot17-mini/train/*")))
    dets_all, gt_all, times = {}, {}, []
    for seq in seqs:
        rows = np.loadtxt(os.path.join(seq, "gt/gt.txt"), delimiter=",", ndmin=2)
        dets_seq, gt_seq = {}, {}
        for f in sorted(glob.glob(os.path.join(seq, "img1/*.jpg"))):
            n = int(os.path.basename(f)[:-4])
            img = cv2.imread(f)
            if a.decoder == "ffmpeg":
                img = read_ffmpeg(f, img.shape, a.sws_flags)
            r = rows[rows[:, 0] == n]
            to_box = lambda q: (q[2], q[3], q[2] + q[4], q[3] + q[5])
            pos = [to_box(q) for q in r if q[7] == 1 and q[6] == 1]
            ign = [to_box(q) for q in r if int(q[7]) in IGNORE]
            t = time.perf_counter()
            out = detect_tiled(det, img, a.score) if a.tiled else det(img, a.score)
            times.append(time.perf_counter() - t)
            key = (seq, n)
            dets_seq[key] = [(b, s) for b, s, c in out if c == 0]
            gt_seq[key] = (pos, ign)
        print(f"{os.path.basename(seq):16s} AP50 {evaluate(dets_seq, gt_seq):.3f}")
        dets_all.update(dets_seq)
        gt_all.update(gt_seq)
    print(f"overall AP50 {evaluate(dets_all, gt_all):.3f}  frames {len(times)}  "
          f"{1e3 * np.mean(times):.1f} ms/frame")


if __name__ == "__main__":
    main()
