"""(Re)sign every sample message with the TEST ONLY keys in samples/keys; write samples/signed/.

Run from the repository root with the project's virtual environment:

    .venv/bin/python scripts/sign_samples.py              # sign with the committed test keys
    .venv/bin/python scripts/sign_samples.py --new-keys   # first make a new test PKI (review the diff!)

``samples/keys/`` is a TEST ONLY PKI made by ``picexchange keys init`` (valid 2026-01-01 to 2036-12-31, so
committed samples keep verifying): a test CA, a key and certificate per participant of the samples (the
six of the demo plus every other Sender or Receiver found), and ``partners.toml``. Every message in
``samples/messages/`` is signed by the key of its header's Sender and written under the same name to
``samples/signed/``; signed files whose message is gone are removed. RSA PKCS#1 v1.5 signatures are
deterministic, so re-running the script changes only the files whose message changed. Each signed file is
verified against ``samples/keys/partners.toml`` before the script ends.

Git does not keep file permissions, and ``load_identity`` refuses a key that others can read, so the script
makes the test keys 0600 first.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from picexchange import codec, signing
from picexchange.cli import app
from picexchange.errors import PicExchangeError
from picexchange.files.registry import load_identity, load_trust
from picexchange.models.base import NS_ENVELOPE
from picexchange.testpki import file_stem

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = ROOT / "samples" / "messages"
SIGNED = ROOT / "samples" / "signed"
KEYS = ROOT / "samples" / "keys"
#: The participants of the demo; every other Sender or Receiver of a sample is added.
DEMO = ("AU:DCCEEW", "AU:ABF", "MY:DOE", "MY:RMCD", "JP:MOE", "SG:NEA")
VALID_SINCE, VALID_UNTIL = "2026-01-01", "2036-12-31"


def _header(raw: bytes, name: str) -> str:
    value = codec.parse(raw).findtext(f"{{{NS_ENVELOPE}}}Header/{{{NS_ENVELOPE}}}{name}")
    if not value:
        raise SystemExit(f"a sample has no {name}")
    return value


def _participants(messages: list[Path]) -> list[str]:
    found = set(DEMO)
    for path in messages:
        raw = path.read_bytes()
        found.update((_header(raw, "Sender"), _header(raw, "Receiver")))
    return [*DEMO, *sorted(found - set(DEMO))]


def _new_keys(participants: list[str]) -> None:
    args = ["keys", "init", str(KEYS), "--since", VALID_SINCE, "--until", VALID_UNTIL, "--force"]
    for participant in participants:
        args += ["--participant", participant]
    app(args, standalone_mode=False)


def main(argv: list[str]) -> int:
    """Sign the samples; return the process exit code."""
    messages = sorted(MESSAGES.glob("*.xml"))
    if not messages:
        print(f"no sample messages in {MESSAGES}", file=sys.stderr)
        return 1
    participants = _participants(messages)
    if "--new-keys" in argv or not (KEYS / "partners.toml").exists():
        _new_keys(participants)
    for key in KEYS.glob("*.key.pem"):
        key.chmod(0o600)
    trust = load_trust(KEYS / "partners.toml")
    missing = [participant for participant in participants if participant not in trust]
    if missing:
        print(f"no test key for {', '.join(missing)}: run with --new-keys", file=sys.stderr)
        return 1
    identities = {
        participant: load_identity(
            key=KEYS / f"{file_stem(participant)}.key.pem", certificate=KEYS / f"{file_stem(participant)}.cert.pem"
        )
        for participant in participants
    }
    SIGNED.mkdir(exist_ok=True)
    for stale in sorted(set(SIGNED.glob("*.xml")) - {SIGNED / path.name for path in messages}):
        stale.unlink()
        print(f"removed {stale.relative_to(ROOT)}")
    now = dt.datetime.now(dt.UTC)
    changed = 0
    for path in messages:
        raw = path.read_bytes()
        signed = signing.sign(raw, identities[_header(raw, "Sender")])
        try:
            signing.verify(signed, trust=trust, now=now)
        except PicExchangeError as exc:
            print(f"{path.name}: signed, but does not verify: {exc}", file=sys.stderr)
            return 1
        target = SIGNED / path.name
        if not target.exists() or target.read_bytes() != signed:
            target.write_bytes(signed)
            changed += 1
    print(f"{len(messages)} samples signed and verified, {changed} written, in {SIGNED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
