"""MovieLens-1M under SASRec's leave-one-out protocol. Arg: method[,preset][,sasrec][,tiny].

The preset ships in the package: idw_jax/configs/ml1m_loo.py (its docstring says more).
"""

from idw_jax import configs

get_config = configs.getter("ml1m_loo")
