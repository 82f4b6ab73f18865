"""Python `oras` against berth: push an SBOM and a signature as OCI 1.1 artifacts
with a `subject`, pull them back, and list them through the referrers API.

usage: oras_referrers.py REGISTRY REPO SUBJECT_DIGEST SUBJECT_SIZE WORKDIR
Prints one `ok ...` line per check; exits non-zero on the first failure.
"""
import json
import os
import sys

import oras.client
import oras.oci
import requests

registry, repo, subject_digest, subject_size, workdir = sys.argv[1:6]
os.chdir(workdir)
client = oras.client.OrasClient(hostname=registry, insecure=True)
subject = oras.oci.Subject(
    mediaType="application/vnd.oci.image.manifest.v1+json",
    digest=subject_digest,
    size=int(subject_size),
)


def check(cond, what):
    if not cond:
        print(f"FAIL {what}", flush=True)
        sys.exit(1)
    print(f"ok {what}", flush=True)


with open("sbom.spdx.json", "w") as f:
    json.dump({"spdxVersion": "SPDX-2.3", "name": "busybox"}, f)
with open("signature.bin", "wb") as f:
    f.write(os.urandom(4096))

r = client.push(
    target=f"{registry}/{repo}:sbom",
    files=["sbom.spdx.json:application/spdx+json"],
    manifest_config="config.json:application/vnd.example.sbom.config.v1+json",
    manifest_annotations={"org.example.kind": "sbom"},
    subject=subject,
    disable_path_validation=True,
)
check(r.status_code == 201, "push sbom with subject")
check(r.headers.get("OCI-Subject") == subject_digest, "OCI-Subject header on the sbom push")

r = client.push(
    target=f"{registry}/{repo}:sig",
    files=["signature.bin:application/vnd.example.signature"],
    subject=subject,
    do_chunked=True,
    chunk_size=1000,
    disable_path_validation=True,
)
check(r.status_code == 201, "push signature with subject, chunked")

os.makedirs("out", exist_ok=True)
pulled = client.pull(target=f"{registry}/{repo}:sbom", outdir="out")
check(any(p.endswith("sbom.spdx.json") for p in pulled), "pull sbom back")
with open(os.path.join("out", "sbom.spdx.json")) as f:
    check(json.load(f)["name"] == "busybox", "sbom content round-trips")

url = f"http://{registry}/v2/{repo}/referrers/{subject_digest}"
r = requests.get(url)
check(r.status_code == 200, "referrers 200")
check(r.headers["Content-Type"] == "application/vnd.oci.image.index.v1+json", "referrers content type")
refs = r.json()["manifests"]
check(len(refs) == 2, f"two referrers listed (got {len(refs)})")
types = sorted(d["artifactType"] for d in refs)
# oras-py sets no artifactType: the referrers listing reports each config's media
# type (oras-py's default config type for the signature).
check(
    types == ["application/vnd.example.sbom.config.v1+json", "application/vnd.unknown.config.v1+json"],
    f"artifact types from config media types: {types}",
)
sbom = [d for d in refs if d.get("annotations", {}).get("org.example.kind") == "sbom"]
check(len(sbom) == 1, "sbom annotations listed")

r = requests.get(url, params={"artifactType": "application/vnd.example.sbom.config.v1+json"})
check(r.headers.get("OCI-Filters-Applied") == "artifactType", "filter applied header")
check(len(r.json()["manifests"]) == 1, "filtered to the sbom")
print("oras: all checks passed")
