"""From a `data` config section to protocol splits: generate or read, then apply the protocol."""

from __future__ import annotations

from pathlib import Path

from idw_jax.data import protocol
from idw_jax.data.types import UserSequences


def resolve_path(data_cfg) -> Path:
  """data.path, relative to data.root unless absolute."""
  path = Path(data_cfg.path).expanduser()
  return path if path.is_absolute() else Path(data_cfg.root).expanduser() / path


WHERE_PUBLISHED = {
    "movielens": "ratings.dat of ml-1m.zip, GroupLens: https://grouplens.org/datasets/movielens/1m/",
    "amazon": "the category's review file of the Amazon review data (2018), J. Ni: "
              "https://nijianmo.github.io/amazon/index.html",
    "user_item_timestamp": "a `user item timestamp` file (e.g. the authors' user_item_mapped.txt)",
    "user_sequences": "a `user item item ...` file, one time-ordered user per line",
    "delimited": "your CSV/TSV file of events (columns: config.data.columns)",
    "recbole": "a RecBole atomic .inter file (https://recbole.io/dataset_list.html)",
}


def missing_data_message(data_cfg, path: Path) -> str:
  """Names the path looked in, the file to obtain and where it is published."""
  where = WHERE_PUBLISHED.get(data_cfg.source, "")
  if data_cfg.name == "ml1m" and data_cfg.source == "user_sequences":
    where += ("; or use the GroupLens ratings.dat with --config.data.source=movielens "
              f"--config.data.path=/path/to/ratings.dat ({WHERE_PUBLISHED['movielens']})")
  return (f"config.data.path: no file at {path} (data.root={data_cfg.root!r}, "
          f"data.path={data_cfg.path!r}). Obtain {Path(data_cfg.path).name}: {where}. "
          "Data is never downloaded; set --config.data.root / --config.data.path or $IDW_DATA_DIR.")


def load_sequences(data_cfg, tfds_dir: str | None = None) -> UserSequences:
  """UserSequences of the configured source (synthetic generator, or a raw file reader)."""
  if data_cfg.source == "synthetic":
    from idw_jax.data import synthetic
    s = data_cfg.synthetic
    return synthetic.generate(
        num_users=s.num_users, seq_len=s.seq_len, num_clusters=s.num_clusters,
        num_items=s.num_items, interests_per_user=s.interests_per_user, alpha=s.alpha,
        gamma=s.gamma, epsilon=s.epsilon, cluster_exponent=s.cluster_exponent,
        item_exponent=s.item_exponent, seed=data_cfg.seed, mean_len=s.mean_len,
        min_len=s.min_len)
  from idw_jax.data import formats
  if data_cfg.source not in formats.FORMATS:
    raise ValueError(f"config.data.source must be 'synthetic' or one of {formats.FORMATS}, "
                     f"got {data_cfg.source!r}")
  path = resolve_path(data_cfg)
  if not path.is_file():
    raise FileNotFoundError(missing_data_message(data_cfg, path))
  from idw_jax.data import delimited
  options = delimited.options(data_cfg)
  if data_cfg.use_tfds and tfds_dir:
    from idw_jax.data import tfds_builders
    return tfds_builders.load_via_tfds(data_cfg.source, path, tfds_dir, options)
  return formats.read(data_cfg.source, path, **options)


def make_splits(data_cfg, seqs: UserSequences) -> protocol.Splits:
  """Applies the (finalized) protocol section to the sequences."""
  p = data_cfg.protocol
  return protocol.build_splits(
      seqs, max_len=p.max_len, stride=p.stride, tail_window=p.tail_window,
      train_targets=p.train_targets, num_negatives=p.num_negatives,
      negative_sampler=p.negative_sampler, min_count=p.min_count,
      head_fraction=p.head_fraction, seed=data_cfg.seed, split=p.split,
      max_users=p.max_users)
