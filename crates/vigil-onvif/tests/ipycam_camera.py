#!/usr/bin/env python3
"""Starts an ipycam 1.3.0 virtual ONVIF camera on loopback for vigil-onvif's integration tests.

Picks free TCP ports for ONVIF/HTTP and RTSP (WS-Discovery is ipycam's fixed UDP 3702), feeds the
camera frames from a real video file (looping; a generated moving pattern when no file is given or it
cannot be read), and prints one line `READY {json}` on stdout with the ports and URLs once frames flow.
ipycam's native RTSP server (FFmpeg encoder per session) serves the streams; go2rtc is not used.

Stops, and takes its FFmpeg encoders down with it, when stdin closes (the test dropped its handle), on
SIGTERM/SIGINT, or when the parent process dies.

    ipycam_camera.py [--video FILE] [--username U --password P] [--name NAME]
"""

import argparse
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG: SIGTERM when the test process goes away (Linux only; best effort)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


def frames(video, width, height, fps):
    """Endless BGR frames of the video (looping), or of a moving test pattern."""
    import cv2
    import numpy as np

    cap = cv2.VideoCapture(video) if video else None
    if cap is not None and not cap.isOpened():
        print(f"cannot open {video}; using a generated pattern", file=sys.stderr)
        cap = None
    t = 0
    while True:
        if cap is not None:
            ok, frame = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = cap.read()
                if not ok:
                    cap = None
                    continue
            yield cv2.resize(frame, (width, height))
        else:
            x = np.linspace(0, 255, width, dtype=np.uint8)
            y = np.linspace(0, 255, height, dtype=np.uint8)
            frame = np.zeros((height, width, 3), dtype=np.uint8)
            frame[:, :, 0] = x[None, :]
            frame[:, :, 1] = y[:, None]
            # A white block moving left to right, plus a fixed grid, so zoom and pan change the picture.
            frame[::40, :, 2] = 255
            frame[:, ::40, 2] = 255
            bx = (t * 8) % max(1, width - 60)
            frame[height // 3 : height // 3 + 60, bx : bx + 60] = 255
            t += 1
            yield frame


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", default="")
    ap.add_argument("--username", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--name", default="Vigil Test Cam")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=10)
    args = ap.parse_args()

    # ipycam's FFmpeg encoders are our children: one process group so that they can be stopped together.
    try:
        os.setpgrp()
    except OSError:
        pass
    die_with_parent()
    # ipycam keeps PTZ presets in ./ptz_presets.json: a private, throw-away working directory.
    workdir = tempfile.mkdtemp(prefix="ipycam-")
    os.chdir(workdir)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="ipycam %(levelname)s %(name)s: %(message)s")

    from ipycam import CameraConfig, IPCamera
    import ipycam

    config = CameraConfig(
        name=args.name,
        local_ip="127.0.0.1",
        onvif_port=free_port(),
        rtsp_port=free_port(),
        rtmp_port=free_port(),
        web_port=free_port(),
        # No go2rtc: a free port makes ipycam's probe for it fail at once and use its native RTSP server.
        go2rtc_api_port=free_port(),
        main_width=args.width,
        main_height=args.height,
        main_fps=args.fps,
        main_bitrate="1M",
        sub_width=args.width // 2,
        sub_height=args.height // 2,
        sub_fps=args.fps,
        sub_bitrate="256K",
        hw_accel="cpu",
        show_timestamp=False,
        username=args.username,
        password=args.password,
        source_type="video_file" if args.video else "generated",
        source_info=os.path.basename(args.video) if args.video else "pattern",
    )
    camera = IPCamera(config)
    stop = threading.Event()

    def shutdown(*_):
        stop.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    if not camera.start():
        print("camera did not start", file=sys.stderr)
        return 1
    source = frames(args.video, args.width, args.height, args.fps)
    for _ in range(3):
        camera.stream(next(source))
    ready = {
        "ipycam": getattr(ipycam, "__version__", "?"),
        "onvif_port": config.onvif_port,
        "rtsp_port": config.rtsp_port,
        "device_url": config.onvif_url,
        "main": config.main_stream_rtsp,
        "sub": config.sub_stream_rtsp,
        "mode": camera.streaming_mode,
        "source": config.source_type,
        "workdir": workdir,
    }
    print("READY " + json.dumps(ready), flush=True)
    try:
        while not stop.is_set():
            camera.stream(next(source))
    finally:
        try:
            camera.stop()
        except Exception as e:
            print(f"stop: {e}", file=sys.stderr)
        # Anything ipycam left running in our group (encoders) goes too; then ourselves.
        try:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.killpg(0, signal.SIGTERM)
        except Exception:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
