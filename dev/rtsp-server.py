#!/usr/bin/python3
"""A real RTSP server on loopback that serves video files without re-encoding (GStreamer RTSP server).

Run with Debian's /usr/bin/python3 (PyGObject + gir1.2-gst-rtsp-server-1.0; see STACK-NOTES.md):

    /usr/bin/python3 dev/rtsp-server.py [--host 127.0.0.1] [--port 0] [--auth USER:PASS] \
        [--work-dir DIR] MOUNT=FILE[,loop=N][,fast]... ...

Each MOUNT is served at rtsp://HOST:PORT/MOUNT. The codec (H.264 or H.265) is found with ffprobe and the
stream is passed through `h26xparse ! rtph26xpay` (no re-encoding). Every client gets its own pipeline
starting at t=0 (non-shared media).

Options per mount:
  loop=N  serve the file N times back to back: the file is pre-concatenated once with
          `ffmpeg -stream_loop N-1 -i FILE -c copy` into the work dir (reused if already there), because
          ffmpeg/GStreamer looping of MP4 over RTSP is unreliable (see STACK-NOTES.md).
  fast    send as fast as the client reads instead of at real time (the default is real time, like a
          camera). Useful to count frames of a file quickly.
MP4 files are demuxed with qtdemux, .ts files with tsdemux (concatenated .ts files with different
resolutions give a mid-stream parameter change).

--port 0 picks a free port. When the server listens it prints one line to stdout:
    READY port=PORT
and then serves until killed (SIGTERM / SIGINT exit cleanly).
--auth USER:PASS requires RTSP digest authentication with these credentials for every mount.
"""

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import tempfile

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def probe_codec(path):
    """Returns 'h264' or 'h265' for the first video stream of PATH (ffprobe), or exits with a clear error."""
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
             "stream=codec_name", "-of", "csv=p=0", path],
            check=True, capture_output=True, text=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"rtsp-server: {path}: ffprobe failed: {e}")
    out = out[0] if out else ""
    if out == "h264":
        return "h264"
    if out in ("hevc", "h265"):
        return "h265"
    sys.exit(f"rtsp-server: {path}: unsupported video codec {out!r} (want h264 or hevc)")


def looped_file(path, count, work_dir):
    """Concatenates PATH COUNT times (stream copy) into WORK_DIR, reusing an earlier result."""
    key = hashlib.sha1(f"{os.path.abspath(path)}:{count}".encode()).hexdigest()[:12]
    out = os.path.join(work_dir, f"loop-{key}-{count}x.mp4")
    if os.path.exists(out):
        return out
    tmp = out + ".part.mp4"
    cmd = ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(count - 1), "-i", path,
           "-map", "0:v:0", "-c", "copy", tmp]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"rtsp-server: {path}: looping with ffmpeg failed: {getattr(e, 'stderr', e)}")
    os.replace(tmp, out)
    return out


class Factory(GstRtspServer.RTSPMediaFactory):
    """A media factory for one file; `fast` turns off clock sync on the sinks."""

    def __init__(self, launch, fast):
        super().__init__()
        self.set_launch(launch)
        self.set_shared(False)
        self.fast = fast
        self.connect("media-configure", self.on_media_configure)

    def on_media_configure(self, _factory, media):
        if not self.fast:
            return
        # The TCP sinks sync to the clock ("rate control"); the server turns it back on per client, so
        # force sync off on every sink as it is added and whenever it is set again.
        pipeline = media.get_element()
        while pipeline.get_parent() is not None:
            pipeline = pipeline.get_parent()
        pipeline.connect("deep-element-added", self.on_element_added)

    @staticmethod
    def on_element_added(_bin, _sub_bin, element):
        factory = element.get_factory()
        if factory is None or factory.get_name() not in ("appsink", "multiudpsink", "udpsink"):
            return

        def unsync(elem, _pspec=None):
            if elem.get_property("sync"):
                elem.set_property("sync", False)

        unsync(element)
        element.connect("notify::sync", unsync)


def parse_mount(spec, work_dir):
    if "=" not in spec:
        sys.exit(f"rtsp-server: bad mount {spec!r}: want MOUNT=FILE[,loop=N][,fast]")
    mount, rest = spec.split("=", 1)
    parts = rest.split(",")
    path, loop, fast = parts[0], 1, False
    for opt in parts[1:]:
        if opt == "fast":
            fast = True
        elif opt.startswith("loop="):
            try:
                loop = int(opt[5:])
            except ValueError:
                sys.exit(f"rtsp-server: bad loop count in {spec!r}")
            if loop < 1:
                sys.exit(f"rtsp-server: loop count must be >= 1 in {spec!r}")
        else:
            sys.exit(f"rtsp-server: unknown option {opt!r} in {spec!r}")
    if not os.path.isfile(path):
        sys.exit(f"rtsp-server: {path}: no such file")
    mount = "/" + mount.strip("/")
    codec = probe_codec(path)
    if loop > 1:
        path = looped_file(path, loop, work_dir)
    return mount, path, codec, fast


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--auth", help="USER:PASS required (digest) for every mount")
    ap.add_argument("--work-dir", help="where looped files are written (default: a temp dir)")
    ap.add_argument("mounts", nargs="+", help="MOUNT=FILE[,loop=N][,fast]")
    args = ap.parse_args()

    Gst.init(None)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="vigil-rtsp-")
    os.makedirs(work_dir, exist_ok=True)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()

    permissions = None
    if args.auth:
        if ":" not in args.auth:
            sys.exit("rtsp-server: --auth wants USER:PASS")
        user, password = args.auth.split(":", 1)
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_digest(user, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)

    for spec in args.mounts:
        mount, path, codec, fast = parse_mount(spec, work_dir)
        quoted = path.replace("\\", "\\\\").replace('"', '\\"')
        demux = "tsdemux" if path.lower().endswith((".ts", ".m2ts")) else "qtdemux"
        launch = (
            f'( filesrc location="{quoted}" ! {demux} ! {codec}parse config-interval=-1 '
            f"! rtp{codec}pay name=pay0 pt=96 config-interval=-1 )"
        )
        factory = Factory(launch, fast)
        if permissions is not None:
            factory.set_permissions(permissions)
        mounts.add_factory(mount, factory)

    if server.attach(None) == 0:
        sys.exit(f"rtsp-server: cannot listen on {args.host}:{args.port}")

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY port={server.get_bound_port()}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
