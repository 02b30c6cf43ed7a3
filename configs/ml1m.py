"""MovieLens-1M (Table 1, 2, 4). Arg: method[,preset][,tiny].

The preset ships in the package: idw_jax/configs/ml1m.py (its docstring says more).
"""

from idw_jax import configs

get_config = configs.getter("ml1m")
