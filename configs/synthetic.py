"""Synthetic HMM benchmark (paper Appendix A). Arg: method[,preset][,tiny].

The preset ships in the package: idw_jax/configs/synthetic.py (its docstring says more).
"""

from idw_jax import configs

get_config = configs.getter("synthetic")
