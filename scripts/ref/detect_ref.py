#!/usr/bin/env python3
"""Reference detector for streetwatch's inference tests.

Runs a model with the official `onnxruntime` Python package, using the same
pre/post-processing the manifest describes (letterbox with OpenCV-style bilinear resize,
colour order, scaling, yolox / ultralytics / end2end decoding, per-class thresholds from
the category mapping, class-aware NMS), implemented independently of the Rust code.

Usage:
  detect_ref.py MODEL_DIR WEIGHTS LIST.json            -> one JSON line per image
  detect_ref.py MODEL_DIR WEIGHTS LIST.json --labels D  -> also P/R vs YOLO labels in D

LIST.json is a list of {"key": str, "path": str, "width": int, "height": int}; a path
ending in .rgb is raw packed RGB of that size, anything else is opened with Pillow.
"""
import json
import math
import sys
import tomllib

import numpy as np
import onnxruntime as ort
from PIL import Image


def rnd(x):
    # Half away from zero, like Rust's f64::round (Python's round() is banker's).
    return int(math.floor(x + 0.5))


def load_rgb(item):
    if item["path"].endswith(".rgb"):
        raw = np.fromfile(item["path"], dtype=np.uint8)
        return raw.reshape(item["height"], item["width"], 3)
    return np.asarray(Image.open(item["path"]).convert("RGB"))


def taps(src, dst):
    s = np.maximum((np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5, 0.0)
    i0 = np.minimum(np.floor(s).astype(np.int64), src - 1)
    i1 = np.minimum(i0 + 1, src - 1)
    w = np.where(i1 == i0, 0.0, s - i0).astype(np.float32)
    return i0, i1, w


def letterbox(img, m):
    inp = m["input"]
    shape = inp["shape"]
    nchw = inp["layout"] == "nchw"
    dh, dw = (shape[2], shape[3]) if nchw else (shape[1], shape[2])
    h, w = img.shape[:2]
    r = min(dw / w, dh / h)
    nw = min(max(rnd(w * r), 1), dw)
    nh = min(max(rnd(h * r), 1), dh)
    if inp.get("align", "center") == "top_left":
        px, py = 0, 0
    else:
        px = max(rnd((dw - nw) / 2 - 0.1), 0)
        py = max(rnd((dh - nh) / 2 - 0.1), 0)
    x0, x1, wx = taps(w, nw)
    y0, y1, wy = taps(h, nh)
    f = img.astype(np.float32)
    top = f[y0][:, x0] + (f[y0][:, x1] - f[y0][:, x0]) * wx[None, :, None]
    bot = f[y1][:, x0] + (f[y1][:, x1] - f[y1][:, x0]) * wx[None, :, None]
    resized = top + (bot - top) * wy[:, None, None]
    canvas = np.full((dh, dw, 3), float(inp.get("pad_value", 114)), dtype=np.float32)
    canvas[py:py + nh, px:px + nw] = resized
    if inp["colour"] == "bgr":
        canvas = canvas[:, :, ::-1]
    k = 1.0 / 255.0 if inp["range"] == "0..1" else 1.0
    mean = np.array(inp.get("mean", [0, 0, 0]), dtype=np.float32)
    std = np.array(inp.get("std", [1, 1, 1]), dtype=np.float32)
    x = (canvas * np.float32(k) - mean) / std
    if nchw:
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None], dtype=np.float32), (w, h, nw, nh, px, py)


def class_thresholds(m):
    names = m["classes"]["names"]
    cats = m.get("categories", {})
    thr = m.get("thresholds", {})
    out = []
    for n in names:
        cat = cats.get(n)
        if cat is None and m.get("unmapped"):
            slug = "".join(c.lower() if c.isascii() and c.isalnum() else "_" for c in n)
            cat = m["unmapped"] + "." + slug
        if cat is None:
            out.append(math.inf)
            continue
        best = None
        for p, t in thr.items():
            if p != "default" and (cat == p or cat.startswith(p + ".")):
                if best is None or len(p) > best[0]:
                    best = (len(p), t)
        out.append(best[1] if best else thr.get("default", 0.25))
    return np.array(out, dtype=np.float32)


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    ua = max(a[2] - a[0], 0) * max(a[3] - a[1], 0) + max(b[2] - b[0], 0) * max(b[3] - b[1], 0) - inter
    return 0.0 if ua <= 0 else inter / ua


def decode(m, outs, thr):
    fmt = m["output"]["format"]
    nc = len(m["classes"]["names"])
    if fmt == "yolox":
        o = outs[0].reshape(-1, 5 + nc)
        shape = m["input"]["shape"]
        ih, iw = shape[2], shape[3]
        grids, strides = [], []
        for s in m["output"]["strides"]:
            gy, gx = np.meshgrid(np.arange(ih // s), np.arange(iw // s), indexing="ij")
            grids.append(np.stack([gx.ravel(), gy.ravel()], 1))
            strides.append(np.full(((ih // s) * (iw // s), 1), s))
        g = np.concatenate(grids).astype(np.float32)
        st = np.concatenate(strides).astype(np.float32)
        xy = (o[:, :2] + g) * st
        wh = np.exp(o[:, 2:4]) * st
        cls = o[:, 5:].argmax(1)
        score = o[:, 4] * o[np.arange(len(o)), 5 + cls]
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1)
    elif fmt == "ultralytics":
        o = outs[0].reshape(4 + nc, -1).T
        cls = o[:, 4:].argmax(1)
        score = o[np.arange(len(o)), 4 + cls]
        boxes = np.concatenate([o[:, :2] - o[:, 2:4] / 2, o[:, :2] + o[:, 2:4] / 2], 1)
    else:
        boxes = outs[0].reshape(-1, 4)
        score = outs[1].reshape(-1)
        cls = np.rint(outs[2].reshape(-1)).astype(np.int64)
        ok = (cls >= 0) & (cls < nc)
        boxes, score, cls = boxes[ok], score[ok], cls[ok]
    keep = score >= thr[cls]
    return boxes[keep], score[keep], cls[keep]


def nms(boxes, scores, cls, iou_thr, max_det):
    order = np.argsort(-scores, kind="stable")
    kept = []
    for i in order:
        if len(kept) >= max_det:
            break
        if all(not (cls[k] == cls[i] and iou(boxes[k], boxes[i]) > iou_thr) for k in kept):
            kept.append(i)
    return kept


def detect(sess, m, thr, img):
    x, (w, h, nw, nh, px, py) = letterbox(img, m)
    outs = sess.run(m["output"]["names"], {m["input"]["name"]: x})
    boxes, scores, cls = decode(m, outs, thr)
    kept = nms(boxes, scores, cls, m["output"].get("nms_iou", 0.45), m["output"].get("max_detections", 300))
    sx, sy = nw / w, nh / h
    dets = []
    for i in kept:
        b = boxes[i]
        x1 = min(max((b[0] - px) / sx, 0), w)
        y1 = min(max((b[1] - py) / sy, 0), h)
        x2 = min(max((b[2] - px) / sx, 0), w)
        y2 = min(max((b[3] - py) / sy, 0), h)
        dets.append({"class_id": int(cls[i]), "score": float(scores[i]), "box": [float(x1), float(y1), float(x2), float(y2)]})
    return dets


def read_labels(path, w, h):
    gts = []
    try:
        text = open(path).read()
    except FileNotFoundError:
        return gts
    for line in text.splitlines():
        p = line.split()
        if len(p) != 5:
            continue
        c, cx, cy, bw, bh = int(p[0]), *map(float, p[1:])
        gts.append((c, [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]))
    return gts


def match(dets, gts, nc, stats, iou_thr=0.5):
    # Greedy, class-aware: best-scoring detections first, each takes the unmatched
    # ground truth of its class with the highest IoU >= iou_thr.
    used = [False] * len(gts)
    for d in sorted(dets, key=lambda d: -d["score"]):
        best, bi = iou_thr, -1
        for j, (c, g) in enumerate(gts):
            if used[j] or c != d["class_id"]:
                continue
            v = iou(d["box"], g)
            if v >= best:
                best, bi = v, j
        if bi >= 0:
            used[bi] = True
            stats[d["class_id"]][0] += 1
        else:
            stats[d["class_id"]][1] += 1
    for j, (c, _) in enumerate(gts):
        if not used[j] and 0 <= c < nc:
            stats[c][2] += 1


def main():
    model_dir, weights, lst = sys.argv[1:4]
    labels = sys.argv[sys.argv.index("--labels") + 1] if "--labels" in sys.argv else None
    with open(f"{model_dir}/model.toml", "rb") as f:
        m = tomllib.load(f)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(weights, so, providers=["CPUExecutionProvider"])
    thr = class_thresholds(m)
    nc = len(m["classes"]["names"])
    stats = [[0, 0, 0] for _ in range(nc)]  # tp, fp, fn
    for item in json.load(open(lst)):
        img = load_rgb(item)
        dets = detect(sess, m, thr, img)
        print(json.dumps({"key": item["key"], "detections": dets}))
        if labels:
            stem = item["key"].rsplit(".", 1)[0]
            match(dets, read_labels(f"{labels}/{stem}.txt", img.shape[1], img.shape[0]), nc, stats)
    if labels:
        def pr(tp, fp, fn):
            return (tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0)
        per = {m["classes"]["names"][c]: dict(zip(("precision", "recall"), pr(*stats[c])), tp=stats[c][0], fp=stats[c][1], fn=stats[c][2]) for c in range(nc)}
        tot = [sum(s[i] for s in stats) for i in range(3)]
        p, r = pr(*tot)
        print(json.dumps({"summary": {"precision": p, "recall": r, "tp": tot[0], "fp": tot[1], "fn": tot[2], "per_class": per}}))


if __name__ == "__main__":
    main()
