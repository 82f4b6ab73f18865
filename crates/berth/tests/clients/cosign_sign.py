"""Signs an image as cosign does and pushes the signature with Python `oras`.

The payload is cosign's simple-signing JSON naming the image digest; openssl
signs it with the given private key (ECDSA P-256 or RSA: SHA-256, DER/PKCS#1
v1.5 as `openssl dgst -sign` writes; Ed25519: over the payload itself); the
base64 signature goes into the layer annotation
`dev.cosignproject.cosign/signature` of a layer of media type
`application/vnd.dev.cosign.simplesigning.v1+json`. FORM `tag` pushes it to
the tag `sha256-<hex>.sig` (cosign's tag-based discovery), FORM `referrer`
as an OCI 1.1 referrer (`subject`). FORM `bundle` signs as cosign 3 does by
default: a sigstore bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`)
holding a DSSE envelope of an in-toto statement about the image (predicate
type https://sigstore.dev/cosign/sign/v1), pushed as a referrer. FORM
`attestation` attests as `cosign attest` does: a DSSE envelope
(`application/vnd.dsse.envelope.v1+json`) of an in-toto statement with an
SLSA provenance predicate, the layer annotated with its `predicateType`,
pushed to the tag `sha256-<hex>.att`.

usage: cosign_sign.py REGISTRY REPO SUBJECT_DIGEST SUBJECT_SIZE KEY_PEM FORM WORKDIR [MODE]
The registry must take anonymous pushes (python oras keeps its first, pull-only
token for the push).
MODE: good (default) | tamper (the payload changes after signing) |
      other-digest (the payload names another digest) | not-json
Prints `signature <digest>` for the pushed signature manifest.
"""
import base64
import json
import os
import subprocess
import sys

import oras.client
import oras.oci

registry, repo, subject_digest, subject_size, key, form, workdir = sys.argv[1:8]
mode = sys.argv[8] if len(sys.argv) > 8 else "good"
key = os.path.abspath(key)
os.makedirs(workdir, exist_ok=True)
os.chdir(workdir)

signed_digest = subject_digest
if mode == "other-digest":
    signed_digest = "sha256:" + "ab" * 32
payload = json.dumps(
    {
        "critical": {
            "identity": {"docker-reference": f"{registry}/{repo}"},
            "image": {"docker-manifest-digest": signed_digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    },
    separators=(",", ":"),
).encode()
if mode == "not-json":
    payload = b"this is not json"
with open("payload.json", "wb") as f:
    f.write(payload)

text = subprocess.run(
    ["openssl", "pkey", "-in", key, "-noout", "-text"],
    check=True, capture_output=True, text=True,
).stdout


def sign(message):
    """The base64 signature of `message` by `key`, made by openssl."""
    with open("message.bin", "wb") as f:
        f.write(message)
    if "ED25519" in text:
        cmd = ["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", "message.bin", "-out", "sig.bin"]
    else:
        cmd = ["openssl", "dgst", "-sha256", "-sign", key, "-out", "sig.bin", "message.bin"]
    subprocess.run(cmd, check=True)
    with open("sig.bin", "rb") as f:
        return base64.b64encode(f.read()).decode()


signature = sign(payload)

if mode == "tamper":
    with open("payload.json", "wb") as f:
        f.write(payload.replace(b'"docker-reference":"', b'"docker-reference":"evil.example/'))

with open("annotations.json", "w") as f:
    json.dump({"payload.json": {"dev.cosignproject.cosign/signature": signature}}, f)
with open("config.json", "w") as f:
    f.write("{}")

PROVENANCE = "https://slsa.dev/provenance/v1"
if form in ("bundle", "attestation"):
    statement = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": f"{registry}/{repo}", "digest": {"sha256": signed_digest.split(":")[1]}}],
            "predicateType": PROVENANCE if form == "attestation" else "https://sigstore.dev/cosign/sign/v1",
            "predicate": {"buildDefinition": {"buildType": "https://example.invalid/test"}} if form == "attestation" else {},
        }
    ).encode()
    if mode == "not-json":
        statement = b"this is not json"

    ptype = "application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d " % (len(ptype), ptype.encode(), len(statement)) + statement
    dsse_sig = sign(pae)
    if mode == "tamper":
        statement = statement.replace(b'"name": "', b'"name": "evil.example/')
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(statement).decode(),
            "payloadType": ptype,
            "signatures": [{"sig": dsse_sig, "keyid": ""}],
        },
    }
    with open("bundle.json", "w") as f:
        json.dump(bundle, f)
    with open("envelope.json", "w") as f:
        json.dump(bundle["dsseEnvelope"], f)
    with open("att-annotations.json", "w") as f:
        json.dump({"envelope.json": {"dev.cosignproject.cosign/signature": "", "predicateType": PROVENANCE}}, f)

client = oras.client.OrasClient(hostname=registry, insecure=True)
kwargs = dict(
    files=["payload.json:application/vnd.dev.cosign.simplesigning.v1+json"],
    annotation_file="annotations.json",
    disable_path_validation=True,
)
if form == "tag":
    target = f"{registry}/{repo}:{subject_digest.replace(':', '-')}.sig"
    kwargs["manifest_config"] = "config.json:application/vnd.oci.image.config.v1+json"
elif form == "attestation":
    target = f"{registry}/{repo}:{subject_digest.replace(':', '-')}.att"
    kwargs["files"] = ["envelope.json:application/vnd.dsse.envelope.v1+json"]
    kwargs["annotation_file"] = "att-annotations.json"
    kwargs["manifest_config"] = "config.json:application/vnd.oci.image.config.v1+json"
elif form == "bundle":
    target = f"{registry}/{repo}:sigstore-bundle-{mode}"
    kwargs["files"] = ["bundle.json:application/vnd.dev.sigstore.bundle.v0.3+json"]
    kwargs["manifest_config"] = "config.json:application/vnd.oci.empty.v1+json"
    del kwargs["annotation_file"]
    kwargs["subject"] = oras.oci.Subject(
        mediaType="application/vnd.oci.image.index.v1+json"
        if subject_size.startswith("index:") else "application/vnd.oci.image.manifest.v1+json",
        digest=subject_digest,
        size=int(subject_size.removeprefix("index:")),
    )
else:
    target = f"{registry}/{repo}:cosign-referrer-{mode}"
    kwargs["manifest_config"] = "config.json:application/vnd.dev.cosign.artifact.sig.v1+json"
    kwargs["subject"] = oras.oci.Subject(
        mediaType="application/vnd.oci.image.index.v1+json"
        if subject_size.startswith("index:") else "application/vnd.oci.image.manifest.v1+json",
        digest=subject_digest,
        size=int(subject_size.removeprefix("index:")),
    )
r = client.push(target=target, **kwargs)
if r.status_code != 201:
    print(f"push failed: {r.status_code} {r.text}")
    sys.exit(1)
print(f"signature {r.headers['Docker-Content-Digest']}")
