#!/usr/bin/env python3
"""The peer pipeline of `streetwatch bench --daemon`: what a user would write instead.

A plain Python pipeline of the kind Frigate users write, run on the same RTSP cameras
as the daemon so the two can be compared in one run:

- one reader thread per camera: OpenCV (FFmpeg backend, RTSP over TCP) decodes every
  frame (`cap.read()`, which also converts it to BGR), and every Nth frame (stream fps
  / analysis fps; with --every-keyframe-s the frames that fall on the keyframe period)
  replaces the camera's waiting frame: the newest frame wins, a replaced one is counted
  as dropped;
- W inference threads, each with its own onnxruntime session (intra-op threads T),
  take the cameras' waiting frames round robin, letterbox them with cv2.resize (bilinear)
  and 114 padding, run YOLOX and decode its grid with NumPy, then NMS with
  cv2.dnn.NMSBoxesBatched.

Every `--report-every` seconds it prints one JSON line to stdout:
  {"t": seconds since start, "cameras": [{"read": n, "analysed": n, "dropped": n,
   "connected": bool}, ...]}
The benchmark samples this process's CPU time and RSS from /proc itself.

Usage:
  peer_pipeline.py --model WEIGHTS.onnx --url rtsp://... [--url ...] --fps 5
      [--workers 2] [--threads 1] [--seconds S] [--mode read|grab]

--mode grab is a better peer than the default: `cap.grab()` every frame and
`cap.retrieve()` (the BGR conversion) only for the frames analysed.
"""
import argparse
import json
import os
import sys
import threading
import time

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

INPUT = 416
STRIDES = (8, 16, 32)
SCORE = 0.3
NMS_IOU = 0.45


class Camera:
    def __init__(self, url):
        self.url = url
        self.lock = threading.Lock()
        self.waiting = None
        self.busy = False
        self.read = 0
        self.analysed = 0
        self.dropped = 0
        self.connected = False


def reader(cam, every, mode, stop):
    while not stop.is_set():
        cap = cv2.VideoCapture(cam.url, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            time.sleep(0.5)
            continue
        cam.connected = True
        n = 0
        while not stop.is_set():
            want = n % every == 0
            if mode == "grab":
                ok = cap.grab()
                frame = cap.retrieve()[1] if ok and want else None
            else:
                ok, frame = cap.read()
            if not ok:
                break
            n += 1
            cam.read += 1
            if not want:
                continue
            with cam.lock:
                if cam.waiting is not None:
                    cam.dropped += 1
                cam.waiting = frame
        cam.connected = False
        cap.release()


def grid():
    gs, ss = [], []
    for s in STRIDES:
        gy, gx = np.meshgrid(np.arange(INPUT // s), np.arange(INPUT // s), indexing="ij")
        gs.append(np.stack([gx.ravel(), gy.ravel()], 1))
        ss.append(np.full(((INPUT // s) ** 2, 1), s))
    return np.concatenate(gs).astype(np.float32), np.concatenate(ss).astype(np.float32)


def letterbox(img):
    h, w = img.shape[:2]
    r = min(INPUT / w, INPUT / h)
    nw, nh = int(round(w * r)), int(round(h * r))
    canvas = np.full((INPUT, INPUT, 3), 114, dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    x = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    return np.ascontiguousarray(x), r


def detect(sess, name, img, g, st):
    x, r = letterbox(img)
    o = sess.run(None, {name: x})[0][0]
    scores = o[:, 4:5] * o[:, 5:]
    cls = scores.argmax(1)
    score = scores[np.arange(len(scores)), cls]
    keep = score >= SCORE
    if not keep.any():
        return []
    o, cls, score = o[keep], cls[keep], score[keep]
    xy = (o[:, :2] + g[keep]) * st[keep]
    wh = np.exp(o[:, 2:4]) * st[keep]
    boxes = np.concatenate([xy - wh / 2, wh], 1) / r
    idx = cv2.dnn.NMSBoxesBatched(boxes.tolist(), score.tolist(), cls.tolist(), SCORE, NMS_IOU)
    return [(int(cls[i]), float(score[i])) for i in np.array(idx).reshape(-1)]


def worker(cams, model, threads, stop, start_index):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    g, st = grid()
    cursor = start_index
    while not stop.is_set():
        job = None
        for k in range(len(cams)):
            cam = cams[(cursor + k) % len(cams)]
            with cam.lock:
                if cam.waiting is not None and not cam.busy:
                    job, cam.waiting, cam.busy = (cam, cam.waiting), None, True
                    cursor = (cursor + k + 1) % len(cams)
                    break
        if job is None:
            time.sleep(0.005)
            continue
        cam, frame = job
        detect(sess, name, frame, g, st)
        with cam.lock:
            cam.busy = False
            cam.analysed += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--url", action="append", required=True)
    ap.add_argument("--fps", type=float, default=5.0, help="analysis frames per second")
    ap.add_argument("--stream-fps", type=float, default=25.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=0.0, help="0 = until killed")
    ap.add_argument("--report-every", type=float, default=1.0)
    ap.add_argument("--mode", choices=["read", "grab"], default="read")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    every = max(1, int(round(a.stream_fps / a.fps)))
    cams = [Camera(u) for u in a.url]
    stop = threading.Event()
    threads = [threading.Thread(target=reader, args=(c, every, a.mode, stop), daemon=True) for c in cams]
    threads += [
        threading.Thread(target=worker, args=(cams, a.model, a.threads, stop, i), daemon=True)
        for i in range(a.workers)
    ]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    try:
        while a.seconds <= 0 or time.monotonic() - t0 < a.seconds:
            time.sleep(a.report_every)
            line = {
                "t": round(time.monotonic() - t0, 3),
                "cameras": [
                    {"read": c.read, "analysed": c.analysed, "dropped": c.dropped, "connected": c.connected}
                    for c in cams
                ],
            }
            print(json.dumps(line), flush=True)
    except KeyboardInterrupt:
        pass
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
