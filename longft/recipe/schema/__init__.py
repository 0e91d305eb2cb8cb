"""The recipe schema, one module per section (model, position, attention, adapter, data, train,
search, eval) and the Recipe that holds them. Each section checks its own fields' types and ranges;
`checks.py` holds the checks they share."""
from .adapter import AdapterConfig
from .attention import AttentionConfig
from .data import SPLIT_POLICIES, DataConfig
from .eval import EVAL_SUITES, MIN_PASSKEY_LENGTH, MIN_RULER_LENGTH, PASSKEY_TEMPLATES, EvalConfig
from .model import ModelConfig
from .position import PositionConfig
from .recipe import Recipe
from .search import START_TOKEN_CHOICES, SearchConfig, check_search_fits
from .train import LOSS_KERNELS, PRECISIONS, TrainConfig
from .checks import NAME_PATTERN, RUN_FOLDER_NAMES, check_choice, check_name
