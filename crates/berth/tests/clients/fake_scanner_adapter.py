"""A small scanner adapter speaking Harbor's pluggable scanner API v1.1
(goharbor/pluggable-scanner-spec), for the external-scanner test only: no
real adapter (harbor-scanner-trivy) can be installed from Debian, PyPI,
npm or crates.io here, so this one stands in for it, written to the spec.

- GET /api/v1/metadata: the scanner and its capabilities (needs
  `Authorization: Bearer adapter-token`, as a registration's Bearer auth
  sends it).
- POST /api/v1/scan: takes the ScanRequest, pulls the artifact's manifest
  from `registry.url` with `registry.authorization` (the credentials the
  registry gave it), logs the answer to LOG_FILE, answers 202 {"id"}.
- GET /api/v1/scan/{id}/report: 302 with Refresh-After: 1 the first time,
  then the report (one High finding on the digest scanned), or 500 when
  the pull failed.

usage: fake_scanner_adapter.py PORT_FILE LOG_FILE
Listens on 127.0.0.1 on a free port, written to PORT_FILE.
"""
import json
import sys
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPORT = "application/vnd.security.vulnerability.report; version=1.1"
port_file, log_file = sys.argv[1:3]
jobs = {}
lock = threading.Lock()


def log(line):
    with lock, open(log_file, "a") as f:
        f.write(line + "\n")


class Adapter(BaseHTTPRequestHandler):
    def send(self, status, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if self.headers.get("Authorization") != "Bearer adapter-token":
            self.send(401, {"error": {"message": "adapter token needed"}})
            return False
        return True

    def do_GET(self):
        if not self.authorized():
            return
        if self.path == "/api/v1/metadata":
            self.send(200, {
                "scanner": {"name": "FakeTrivy", "vendor": "berth tests", "version": "0.1"},
                "capabilities": [{
                    "consumes_mime_types": [
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json",
                    ],
                    "produces_mime_types": [REPORT],
                }],
                "properties": {"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"},
            })
            return
        parts = self.path.strip("/").split("/")
        if len(parts) == 5 and parts[:3] == ["api", "v1", "scan"] and parts[4] == "report":
            job = jobs.get(parts[3])
            if job is None:
                self.send(404, {"error": {"message": "no such scan"}})
                return
            job["polls"] += 1
            if job["polls"] == 1:
                self.send(302, None, [("Refresh-After", "1"), ("Location", self.path)])
                return
            if job["pull"] != 200:
                self.send(500, {"error": {"message": f"could not pull the image: HTTP {job['pull']}"}})
                return
            self.send(200, {
                "generated_at": "2026-12-07T10:00:00Z",
                "artifact": job["artifact"],
                "scanner": {"name": "FakeTrivy", "vendor": "berth tests", "version": "0.1"},
                "severity": "High",
                "vulnerabilities": [{
                    "id": "CVE-2099-9999", "package": "busybox", "version": "1.36.1",
                    "fix_version": "1.36.2", "severity": "High",
                    "description": "a finding of the fake adapter",
                    "links": ["https://example.invalid/CVE-2099-9999"],
                    "preferred_cvss": {"score_v3": 7.5, "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
                    "cwe_ids": ["CWE-787"],
                }],
            })
            return
        self.send(404, {"error": {"message": "not found"}})

    def do_POST(self):
        if not self.authorized():
            return
        if self.path != "/api/v1/scan":
            self.send(404, {"error": {"message": "not found"}})
            return
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        reg, art = req["registry"], req["artifact"]
        pull = urllib.request.Request(
            f"{reg['url']}/v2/{art['repository']}/manifests/{art['digest']}",
            headers={"Accept": art["mime_type"]},
        )
        if reg.get("authorization"):
            pull.add_header("Authorization", reg["authorization"])
        try:
            with urllib.request.urlopen(pull) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        scheme = (reg.get("authorization") or "none").split(" ")[0]
        log(f"pull {status} {scheme} {art['repository']}@{art['digest']} {art['mime_type']}")
        job = str(uuid.uuid4())
        jobs[job] = {"artifact": art, "pull": status, "polls": 0}
        self.send(202, {"id": job})

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Adapter)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.replace(port_file + ".tmp", port_file)
server.serve_forever()
