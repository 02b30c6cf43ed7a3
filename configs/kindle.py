"""Amazon 2018 Kindle Store (Table 1). Arg: method[,preset][,tiny].

The preset ships in the package: idw_jax/configs/kindle.py (its docstring says more).
"""

from idw_jax import configs

get_config = configs.getter("kindle")
