"""Synthetic HMM benchmark (paper Appendix A). Arg: method[,preset][,tiny], e.g. `:mur_idw` or
`:sur`.

  python launch.py --config=configs/synthetic.py:mur --config.data.synthetic.cluster_exponent=2
"""

from __future__ import annotations

from idw_jax.configs.dataset import Dataset

DATASET = Dataset({"data.name": "synthetic", "data.source": "synthetic"})
