"""Clothing-SCALE synthetic benchmark (Table 2). Arg: method[,preset][,tiny].

The preset ships in the package: idw_jax/configs/clothing_scale.py (its docstring says more).
"""

from idw_jax import configs

get_config = configs.getter("clothing_scale")
