"""The literature table (idw_jax.experiments.literature) from hand-made leave-one-out records."""

import json

import numpy as np
import pytest

from idw_jax.experiments import literature


def _record(method, seed, hr, ndcg, *, embed_dim=64, max_len=30, momentum=0.99, eta=2e-4,
            split="leave_one_out", seconds=(10.0, 20.0)):
  metrics = {"overall": {"HR@10": hr, "NDCG@10": ndcg}}
  return {"seed": seed, "wall_seconds": 600.0,
          "config": {"method": method, "model": {"embed_dim": embed_dim},
                     "data": {"protocol": {"max_len": max_len, "split": split}},
                     "idw": {"momentum": momentum, "eta": eta}},
          "test": {"sampled": metrics, "full": metrics, "full_no_history": metrics},
          "history": [{"phase": "pretrain", "seconds": 99.0, "timing": {"total": s}}
                      for s in seconds]}


def _write(folder, name, record):
  (folder / f"{name}.json").write_text(json.dumps(record))


def test_rows_are_grouped_by_config_and_averaged_over_seeds(tmp_path):
  _write(tmp_path, "sur-s0", _record("sur", 0, 80.0, 55.0, embed_dim=50, max_len=201))
  _write(tmp_path, "sur-s1", _record("sur", 1, 82.0, 58.0, embed_dim=50, max_len=201))
  _write(tmp_path, "sur-paper", _record("sur", 0, 74.0, 52.0))
  _write(tmp_path, "ctl", _record("mur_idw", 0, 75.0, 53.0, momentum=1.0, eta=0.0))
  _write(tmp_path, "idw", _record("mur_idw", 0, 76.0, 54.0))
  rows = literature.load(str(tmp_path / "*.json"))
  assert set(rows) == {"SUR, SASRec's settings", "SUR, paper preset", "MUR-IDW's m = 1 control",
                       "MUR-IDW, paper preset"}
  text = literature.table(rows).splitlines()
  sasrec = next(line for line in text if line.startswith("| SUR, SASRec's settings"))
  # 80 and 82 -> 0.81 ± std(ddof 1) = 0.0141; 55 and 58 -> 0.565 ± 0.0212; 2 epochs of
  # median 15 s: 0.5 min.
  hr, nd = np.array([0.80, 0.82]), np.array([0.55, 0.58])
  want = f"{hr.mean():.4f} ± {hr.std(ddof=1):.4f} / {nd.mean():.4f} ± {nd.std(ddof=1):.4f}"
  assert sasrec.split(" | ")[1:8] == ["0,1", want, want, want, "2", "15", "0"]
  assert text.index(sasrec) < next(i for i, line in enumerate(text) if "paper preset" in line)
  assert any(line.startswith("| SASRec | - | 0.8245 / 0.5905 | - | - |") for line in text)


def test_a_record_of_another_protocol_or_a_seed_twice_is_an_error(tmp_path):
  _write(tmp_path, "a", _record("sur", 0, 80.0, 55.0, split="windows"))
  with pytest.raises(ValueError, match="a.json: not a leave-one-out record"):
    literature.load(str(tmp_path / "*.json"))
  (tmp_path / "a.json").unlink()
  _write(tmp_path, "b", _record("mur", 0, 80.0, 55.0))
  _write(tmp_path, "c", _record("mur", 0, 81.0, 55.0))
  with pytest.raises(ValueError, match="two records of one seed for 'MUR, paper preset'"):
    literature.load(str(tmp_path / "*.json"))
