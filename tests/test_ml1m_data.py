"""MovieLens-1M from the shared data folder: the paper's counts, directly and through TFDS."""

import numpy as np
import pytest

from idw_jax.data import readers
from idw_jax.data import tfds_builders as tb
from tests.conftest_data import shared_data_dir

SEQUENCES = "ml-1m/ml-1m_user_sequences.txt.gz"
PARTIAL_RATINGS = "ml-1m/partial_raw_users_1-2999/ratings.dat.gz"

pytestmark = [pytest.mark.realdata, pytest.mark.slow]   # ML-1M from disk: slow


def _assert_paper_counts(seqs):
  assert seqs.num_users == 6040
  assert seqs.num_items == 3706
  assert seqs.num_interactions == 1_000_209
  assert seqs.report["duplicate_events_dropped"] == 0
  assert list(seqs.user_ids[[0, -1]]) == [1, 6040]


@pytest.fixture(scope="module")
def ml1m():
  return readers.read_user_sequences(shared_data_dir(SEQUENCES) / SEQUENCES)


def test_direct_reader_counts(ml1m):
  _assert_paper_counts(ml1m)
  assert ml1m.lengths.min() == 20


def test_tfds_builder_counts(tmp_path, ml1m):
  # A manual dir holding only the sequences file, so the builder's choice is known.
  manual = tmp_path / "manual"
  manual.mkdir()
  (manual / "ml-1m_user_sequences.txt.gz").symlink_to(shared_data_dir(SEQUENCES) / SEQUENCES)
  builder = tb.prepare(tb.IdwMovielens1m, manual, tmp_path / "tfds")
  seqs = tb.sequences_from_builder(builder)
  _assert_paper_counts(seqs)
  assert builder.info.metadata["source_file"] == "ml-1m_user_sequences.txt.gz"
  assert np.array_equal(seqs.items, ml1m.items) and np.array_equal(seqs.offsets, ml1m.offsets)
  assert np.array_equal(seqs.item_ids, ml1m.item_ids)


def test_partial_raw_ratings_match_sequences(ml1m):
  """Raw ratings of users 1-2999: the same item multiset per user as the sequences file."""
  raw = readers.read_movielens(shared_data_dir(PARTIAL_RATINGS) / PARTIAL_RATINGS)
  assert raw.num_users == 2999 and raw.num_interactions == 487_650
  assert np.array_equal(raw.user_ids, np.arange(1, 3000))
  assert np.array_equal(ml1m.user_ids[:2999], raw.user_ids)
  # Compare original movie ids, sorted per user (time ties may be ordered differently).
  raw_movies = raw.item_ids[raw.items]
  seq_movies = ml1m.item_ids[ml1m.items[:ml1m.offsets[2999]]]
  assert np.array_equal(raw.offsets, ml1m.offsets[:3000])
  user = np.repeat(np.arange(2999), raw.lengths)
  assert np.array_equal(raw_movies[np.lexsort((raw_movies, user))],
                        seq_movies[np.lexsort((seq_movies, user))])
