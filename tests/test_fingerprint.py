"""The data fingerprint: a hash of the raw file's bytes, None for synthetic data."""

import hashlib

import pytest

from idw_jax.data import fingerprint as fp


def test_fingerprint_is_the_sha256_of_the_bytes_and_follows_edits(tmp_path):
  path = tmp_path / "ratings.dat"
  path.write_bytes(b"1::10::5::100\n1::11::4::101\n")
  want = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
  assert fp.of_file(path) == want
  path.write_bytes(b"1::10::5::100\n1::12::4::101\n")   # one id renamed, counts the same
  assert fp.of_file(path) != want
  assert fp.of_file(path) == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_mismatch_is_one_line_and_old_records_pass(tmp_path):
  assert fp.mismatch("run x", None, "sha256:ab") is None          # made before fingerprints
  assert fp.mismatch("run x", "sha256:ab", "sha256:ab") is None
  line = fp.mismatch("run x", "sha256:" + "a" * 64, "sha256:" + "b" * 64)
  assert line.startswith("run x was made from other data") and "\n" not in line
  with pytest.raises(ValueError, match="missing.dat: cannot read"):
    fp.of_file(tmp_path / "missing.dat")
