"""ML-1M and the Clothing stand-in through the configs, TFDS and both protocol presets."""

import numpy as np
import pytest

from idw_jax import config as config_lib
from idw_jax.data import pipeline
from tests.conftest_data import shared_data_dir

pytestmark = [pytest.mark.realdata, pytest.mark.slow]   # ML-1M from disk: slow


def _config(module, arg, root):
  c = module.get_config(arg)
  c.data.root = str(root)
  return config_lib.finalize(c)


@pytest.fixture(scope="module")
def ml1m(tmp_path_factory):
  root = shared_data_dir("ml-1m/ml-1m_user_sequences.txt.gz")
  import configs.ml1m as ml1m_cfg
  cfg = _config(ml1m_cfg, "mur", root)
  seqs = pipeline.load_sequences(cfg.data, str(tmp_path_factory.mktemp("tfds")))
  return root, ml1m_cfg, seqs


def test_ml1m_paper_protocol(ml1m):
  root, ml1m_cfg, seqs = ml1m
  assert (seqs.num_users, seqs.num_items, seqs.num_interactions) == (6040, 3706, 1000209)
  cfg = _config(ml1m_cfg, "mur", root)
  s = pipeline.make_splits(cfg.data, seqs)
  lengths = seqs.lengths
  full = lengths // 30
  rest = lengths - 30 * full
  assert s.num_windows == int(full.sum() + (rest >= 3).sum())
  assert s.report["short_windows_dropped"] == int(((rest > 0) & (rest < 3)).sum())
  assert s.num_train_examples == int((s.lengths - 3).sum())
  assert s.negatives.shape == (6040, 99)
  for u in (0, 17, 6039):                       # never an item of the user, all distinct
    assert not set(s.negatives[u]) & set(seqs.sequence(u)) and len(set(s.negatives[u])) == 99
  assert s.is_head.sum() == int(np.ceil(0.2 * 3706))


def test_ml1m_authors_preset_filters_and_slides(ml1m):
  root, ml1m_cfg, seqs = ml1m
  cfg = _config(ml1m_cfg, "mur,authors_code", root)
  s = pipeline.make_splits(cfg.data, seqs)
  assert s.num_items == 3416                     # the authors' single-pass 5-filter (PROVENANCE)
  assert s.report["filter_events_dropped"] == 1000209 - 999611
  assert s.train_targets == "last" and s.num_train_examples == s.num_windows


def test_clothing_standin_loads():
  root = shared_data_dir("amazon2014_clothing_5core_STANDIN/Clothing.txt")
  import configs.clothing_standin as cl
  cfg = _config(cl, "mur", root)
  cfg.data.use_tfds = False
  seqs = pipeline.load_sequences(cfg.data)
  assert (seqs.num_users, seqs.num_items, seqs.num_interactions) == (39387, 23033, 278677)
