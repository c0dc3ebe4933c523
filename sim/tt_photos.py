"""Report photos: GET /uploads/report-photos/{id}.png serves a small
generated PNG per file id (fault rules under /uploads/ apply).
PhotoRoute is part of the HTTP Handler."""

import random
import re
import struct
import zlib

# -- a tiny PNG for report photos ----------------------------------------

def make_png(seed, width=48, height=32):
    rng = random.Random(seed)
    base = [rng.randint(40, 215) for _ in range(3)]
    rows = b""
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes(((base[0] + x * 3) % 256, (base[1] + y * 5) % 256,
                          base[2]))
        rows += bytes(row)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                       0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class PhotoRoute:
    """The photo download; _send, _api and _drop come from Handler."""

    def _photo(self, path):
        m = re.fullmatch(r"/uploads/report-photos/(\d+)\.png", path)
        st = self.server.state
        with st.lock:
            st.requests["%s /uploads/report-photos/{id}.png"
                        % self.command] += 1
        # fault rules whose path starts with /uploads/ apply here too
        fault = st.match_fault(self.command, path)
        if fault and fault["kind"] in ("drop", "drop_after"):
            return self._drop()
        if fault and fault["kind"] == "status":
            return self._api(fault["status"], {"status": fault["status"],
                                               "error": "Simulated failure"})
        if fault and fault["kind"] == "mislabel":
            # a page that says it is a PNG, as a misconfigured or hostile
            # file server would send it
            return self._send(200, b"<html><script>alert(1)</script></html>",
                              "image/png", {})
        if not m or st.tenant.get("files", int(m.group(1))) is None:
            return self._api(404, {"status": 404, "error": "Not Found"})
        self._send(200, make_png(int(m.group(1))), "image/png",
                   {"Cache-Control": "max-age=86400"})
