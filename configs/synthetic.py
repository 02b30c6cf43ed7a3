"""Synthetic HMM benchmark (paper Appendix A). Arg: method[,preset][,tiny], e.g. `:mur_idw` or
`:sur`.

  python launch.py --config=configs/synthetic.py:mur --config.data.synthetic.cluster_exponent=2
"""

from idw_jax import config as config_lib


def get_config(arg=None):
  return config_lib.get_config_for({"data.name": "synthetic", "data.source": "synthetic"}, arg)
