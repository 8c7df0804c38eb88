import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from guru_mcp.secrets import MASK, Keyring, Masker, SecretDecryptError, new_key

SECRET = 'sk_live_"ab/cd+ef=gh'


def test_a_secret_round_trips_and_is_bound_to_its_guru_and_name():
    ring = Keyring(new_key())
    ciphertext, kid = ring.encrypt("default", "API_KEY", SECRET)
    assert SECRET not in ciphertext
    assert ring.decrypt("default", "API_KEY", ciphertext, kid) == SECRET
    with pytest.raises(SecretDecryptError):
        ring.decrypt("default", "OTHER_KEY", ciphertext, kid)
    with pytest.raises(SecretDecryptError):
        ring.decrypt("other-guru", "API_KEY", ciphertext, kid)


def test_two_encryptions_of_one_value_differ():
    ring = Keyring(new_key())
    assert ring.encrypt("g", "N", SECRET)[0] != ring.encrypt("g", "N", SECRET)[0]


def test_an_old_key_still_decrypts_after_rotation():
    old = new_key()
    ciphertext, kid = Keyring(old).encrypt("g", "N", SECRET)
    rotated = Keyring(new_key(), [old])
    assert rotated.decrypt("g", "N", ciphertext, kid) == SECRET
    assert rotated.encrypt("g", "N", SECRET)[1] != kid
    with pytest.raises(SecretDecryptError, match="not configured"):
        Keyring(new_key()).decrypt("g", "N", ciphertext, kid)


@pytest.mark.parametrize(
    "leak",
    [
        SECRET,
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(f"user:{SECRET}".encode()).decode(),
        base64.b64encode(f"{SECRET}:".encode()).decode(),
        base64.urlsafe_b64encode(f"ab{SECRET}".encode()).decode(),
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET),
        json.dumps({"k": SECRET}),
        SECRET.encode().hex(),
    ],
)
def test_the_masker_hides_raw_and_encoded_forms(leak):
    masked = Masker([SECRET]).text(f"before {leak} after")
    assert leak not in masked and masked.startswith("before ") and masked.endswith(" after")
    # The whole encoded secret went, not a part of it: every form here is at least as long as the
    # raw value, and that many characters of the leak were replaced.
    kept = len(masked) - len("before  after") - masked.count(MASK) * len(MASK)
    assert len(leak) - kept >= len(SECRET)
    assert SECRET not in masked
    assert MASK in masked
    core = base64.b64encode(SECRET.encode()).decode()[2:-4]
    assert core not in masked


def test_masking_covers_nested_data():
    data = Masker([SECRET]).data({"a": [SECRET, {"b": f"x{SECRET}x"}], SECRET: 1, "n": 3})
    assert SECRET not in json.dumps(data)
    assert data["n"] == 3


def test_logs_are_masked_once_a_secret_is_known(caplog):
    import logging

    from guru_mcp.secrets import MaskingLogFilter, SecretRegistry

    registry = SecretRegistry()
    logger = logging.getLogger("test.masking")
    handler = logging.Handler()
    records = []
    handler.emit = records.append
    handler.addFilter(MaskingLogFilter(registry))
    logger.addHandler(handler)
    try:
        registry.add([SECRET])
        logger.warning("calling with %s", SECRET)
        try:
            raise ValueError(f"bad token {base64.b64encode(SECRET.encode()).decode()}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    # What a handler writes: the formatted record, traceback included (formatted now if no filter did).
    text = " ".join(logging.Formatter().format(r) for r in records)
    assert "ValueError: bad token" in text
    assert SECRET not in text and base64.b64encode(SECRET.encode()).decode() not in text
    assert text.count(MASK) >= 2
