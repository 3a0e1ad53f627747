from mcm.config.load import config_to_yaml, load_config, preset_names, save_config
from mcm.config.schema import MCMConfig

__all__ = ["MCMConfig", "load_config", "config_to_yaml", "preset_names", "save_config"]
