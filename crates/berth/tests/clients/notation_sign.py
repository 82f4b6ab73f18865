"""Signs an image as notation does (JWS envelope, notary.x509 scheme) and
pushes the signature with Python `oras` as an OCI 1.1 referrer.

The payload is notation's `{"targetArtifact": <descriptor of the image>}`;
the protected header names ES256, the payload type
`application/vnd.cncf.notary.payload.v1+json`, the signing scheme
`notary.x509` (critical) and the signing time; openssl signs
`protected '.' payload` with the leaf's private key (ECDSA P-256, SHA-256;
the DER signature becomes JWS's `r || s`); the unprotected header carries
the certificate chain, leaf first, in `x5c`. The envelope is the single
layer (`application/jose+json`) of a manifest whose config media type is
`application/vnd.cncf.notary.signature` (notation's form for registries
without `artifactType` support; oras-py cannot set `artifactType`).

ENVELOPE `cose` makes a COSE envelope instead (notaryproject
`signature-envelope-cose.md`, encoded with Python `cbor2`): a tagged
COSE_Sign1 whose protected header holds alg ES256 (-7), crit, the content
type, the signing scheme and the signing time (CBOR tag 1); the signature
(`r || s`) covers the COSE Sig_structure `["Signature1", protected, h'',
payload]`; the unprotected header carries the chain as `x5chain` (33). Its
layer is `application/cose`.

usage: notation_sign.py REGISTRY REPO SUBJECT_DIGEST SUBJECT_SIZE LEAF_KEY_PEM CHAIN_PEM WORKDIR [MODE [ENVELOPE]]
CHAIN_PEM: the leaf certificate, then any intermediates, PEM.
MODE: good (default) | tamper (the payload changes after signing) |
      other-digest (the payload names another digest)
ENVELOPE: jws (default) | cose
Prints `signature <digest>` for the pushed signature manifest.
"""
import base64
import json
import os
import subprocess
import sys

import oras.client
import oras.oci

registry, repo, subject_digest, subject_size, key, chain_pem, workdir = sys.argv[1:8]
mode = sys.argv[8] if len(sys.argv) > 8 else "good"
envelope_kind = sys.argv[9] if len(sys.argv) > 9 else "jws"
key = os.path.abspath(key)
chain_pem = os.path.abspath(chain_pem)
os.makedirs(workdir, exist_ok=True)
os.chdir(workdir)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


media_type = "application/vnd.oci.image.manifest.v1+json"
signed_digest = subject_digest if mode != "other-digest" else "sha256:" + "cd" * 32
payload = json.dumps(
    {"targetArtifact": {"mediaType": media_type, "digest": signed_digest, "size": int(subject_size)}},
    separators=(",", ":"),
).encode()
protected = json.dumps(
    {
        "alg": "ES256",
        "crit": ["io.cncf.notary.signingScheme"],
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": "2026-12-07T10:00:00Z",
    },
    separators=(",", ":"),
).encode()
signing_input = f"{b64url(protected)}.{b64url(payload)}".encode()
if envelope_kind == "cose":
    import cbor2

    cose_protected = cbor2.dumps(
        {
            1: -7,
            2: ["io.cncf.notary.signingScheme"],
            3: "application/vnd.cncf.notary.payload.v1+json",
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": cbor2.CBORTag(1, 1796637600),
        }
    )
    signing_input = cbor2.dumps(["Signature1", cose_protected, b"", payload])
with open("input.bin", "wb") as f:
    f.write(signing_input)
subprocess.run(
    ["openssl", "dgst", "-sha256", "-sign", key, "-out", "sig.der", "input.bin"], check=True
)
der = open("sig.der", "rb").read()


def der_ints(d):
    """r and s of a DER ECDSA-Sig-Value."""
    assert d[0] == 0x30
    i = 2 if d[1] < 0x80 else 3
    out = []
    for _ in range(2):
        assert d[i] == 0x02
        n = d[i + 1]
        out.append(int.from_bytes(d[i + 2 : i + 2 + n], "big"))
        i += 2 + n
    return out


r, s = der_ints(der)
signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")

if mode == "tamper":
    payload = payload.replace(b'"size":', b'"size":1')

chain = []
for block in open(chain_pem).read().split("-----END CERTIFICATE-----"):
    if "-----BEGIN CERTIFICATE-----" not in block:
        continue
    body = block.split("-----BEGIN CERTIFICATE-----")[1]
    chain.append("".join(body.split()))

if envelope_kind == "cose":
    der_chain = [base64.b64decode(c) for c in chain]
    cose = cbor2.dumps(
        cbor2.CBORTag(
            18,
            [
                cose_protected,
                {33: der_chain if len(der_chain) > 1 else der_chain[0],
                 "io.cncf.notary.signingAgent": "berth-test/1.0"},
                payload,
                signature,
            ],
        )
    )
    with open("envelope.cose", "wb") as f:
        f.write(cose)

envelope = {
    "payload": b64url(payload),
    "protected": b64url(protected),
    "header": {"x5c": chain, "io.cncf.notary.signingAgent": "berth-test/1.0"},
    "signature": b64url(signature),
}
with open("envelope.jws", "w") as f:
    json.dump(envelope, f)
with open("config.json", "w") as f:
    f.write("{}")

client = oras.client.OrasClient(hostname=registry, insecure=True)
target = f"{registry}/{repo}:notation-{envelope_kind}-{mode}-{os.getpid()}"
resp = client.push(
    target=target,
    files=["envelope.cose:application/cose"] if envelope_kind == "cose" else ["envelope.jws:application/jose+json"],
    manifest_config="config.json:application/vnd.cncf.notary.signature",
    disable_path_validation=True,
    subject=oras.oci.Subject(mediaType=media_type, digest=subject_digest, size=int(subject_size)),
)
if resp.status_code != 201:
    print(f"push failed: {resp.status_code} {resp.text}")
    sys.exit(1)
print(f"signature {resp.headers['Docker-Content-Digest']}")
