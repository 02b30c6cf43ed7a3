"""Your own interaction file. Arg: method[,preset][,tiny], e.g. `:mur_idw`.

  python launch.py --config=configs/custom.py:mur_idw --config.data.path=/abs/my.csv

The preset ships in the package: idw_jax/configs/custom.py (its docstring says more).
"""

from idw_jax import configs

get_config = configs.getter("custom")
