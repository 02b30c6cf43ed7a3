"""Amazon 2014 Clothing 5-core STAND-IN (not the paper's 2018 data). Arg: method[,preset][,tiny].

The preset ships in the package: idw_jax/configs/clothing_standin.py (its docstring says more).
"""

from idw_jax import configs

get_config = configs.getter("clothing_standin")
